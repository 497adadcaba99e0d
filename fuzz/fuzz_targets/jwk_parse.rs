//! Arbitrary bytes as a JWK and a JWK Set: an error or a key, never a panic.
#![no_main]
use immerse_jose::{PublicJwk, PublicJwkSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(jwk) = PublicJwk::from_json(text) {
            let _ = jwk.thumbprint();
            let _ = jwk.to_spki_pem();
        }
        let _ = PublicJwkSet::from_json(text);
    }
});
