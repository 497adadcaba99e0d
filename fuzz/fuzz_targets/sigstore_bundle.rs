//! Arbitrary text as a Sigstore bundle: parsed, then verified against the real staging
//! trusted root with an identity policy. Nothing may panic.
#![no_main]
use std::sync::LazyLock;

use immerse_sigstore::{Artifact, Bundle, IdentityPolicy, Policy, TrustedRoot, Verifier};
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let root = include_str!("../../crates/sigstore/tests/data/staging_trusted_root.json");
    Verifier::new(TrustedRoot::from_json(root).expect("staging trusted root parses"))
});

static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    Policy::identity(IdentityPolicy::exact(
        "william@yossarian.net",
        "https://github.com/login/oauth",
    ))
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bundle) = Bundle::from_json(text) {
        let _ = bundle.to_json();
        let _ = VERIFIER.verify(&bundle, Some(Artifact::Bytes(b"artifact")), &POLICY);
        let _ = VERIFIER.verify(&bundle, None, &POLICY);
    }
});
