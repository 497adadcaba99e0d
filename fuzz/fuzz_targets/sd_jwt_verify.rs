//! Arbitrary text as an SD-JWT presentation: verified (with and without Key Binding) against a
//! fixed issuer key, and parsed as the holder's stored SD-JWT.
#![no_main]
use std::sync::LazyLock;

use immerse_jose::{Algorithm, PublicJwk, Signer, SoftwareSigner};
use immerse_sd_jwt::{KeyBindingPolicy, Limits, SdJwt, Validation, verify};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<PublicJwk> = LazyLock::new(|| {
    SoftwareSigner::generate()
        .expect("P-256 key generation")
        .public_jwk()
        .clone()
});
const TYPES: &[&str] = &["dc+sd-jwt", "example+sd-jwt"];
const ALL: &[Algorithm] = &[
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::EdDsa,
    Algorithm::Rs256,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut validation = Validation::new(TYPES);
        validation.algorithms = ALL;
        let _ = verify(text, &validation, &*KEY);
        let validation = validation.key_binding(KeyBindingPolicy::new("aud", "nonce"));
        let _ = verify(text, &validation, &*KEY);
        let _ = SdJwt::parse(text, &Limits::default());
    }
});
