//! Arbitrary text as a compact JWE, decrypted with a fixed key.
#![no_main]
use std::sync::LazyLock;

use immerse_jose::Curve;
use immerse_jose::jwe::{DecryptionKey, Policy};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<DecryptionKey> =
    LazyLock::new(|| DecryptionKey::generate(Curve::P256).expect("P-256 key generation"));

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = KEY.decrypt(token, &Policy::default());
    }
});
