//! Arbitrary text as a compact JWS and as a JWT, verified against a fixed key.
#![no_main]
use std::sync::LazyLock;

use immerse_jose::jws::{self, EmbeddedJwk};
use immerse_jose::{Algorithm, PublicJwk, Signer, SoftwareSigner, jwt};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<PublicJwk> = LazyLock::new(|| {
    SoftwareSigner::generate()
        .expect("P-256 key generation")
        .public_jwk()
        .clone()
});
const ALL: &[Algorithm] = &[
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::EdDsa,
    Algorithm::Rs256,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let validation = jws::Validation::new("example+jwt").with_algorithms(ALL);
        let _ = jws::verify_compact(token, &validation, &*KEY);
        let _ = jws::verify_compact(token, &validation, &EmbeddedJwk);
        let _ = jwt::verify(token, &jwt::Validation::new("example+jwt"), &*KEY);
    }
});
