//! Property tests: no parser of untrusted bytes panics, and no single-byte change to a valid
//! bundle survives verification.
mod common;

use std::sync::LazyLock;

use common::*;
use immerse_sigstore::checkpoint::{Checkpoint, SignedNote};
use immerse_sigstore::testing::{BundleOptions, TestInstance};
use immerse_sigstore::{Artifact, Bundle, Policy, TrustedRoot, sct, tsa};
use proptest::prelude::*;

struct Fixture {
    instance: TestInstance,
    bundle: String,
    timestamped: Vec<u8>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let mut instance = TestInstance::new();
    let bundle = instance
        .sign_blob(ARTIFACT, &BundleOptions::default())
        .to_json()
        .to_string();
    let stamped = instance.sign_blob(
        ARTIFACT,
        &BundleOptions {
            timestamp: true,
            ..BundleOptions::default()
        },
    );
    let timestamped = stamped.timestamps[0].clone();
    Fixture {
        instance,
        bundle,
        timestamped,
    }
});

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bundle_parser_never_panics(text in ".{0,512}") {
        let _ = Bundle::from_json(&text);
    }

    #[test]
    fn trusted_root_parser_never_panics(text in ".{0,512}") {
        let _ = TrustedRoot::from_json(&text);
    }

    #[test]
    fn signed_note_parser_never_panics(text in "(\\PC|\n|\u{2014}| ){0,256}") {
        if let Ok(note) = SignedNote::parse(&text) {
            let _ = Checkpoint::parse(&note.text);
        }
    }

    #[test]
    fn sct_list_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = sct::parse_sct_list(&bytes);
        let _ = sct::strip_sct(&bytes);
    }

    #[test]
    fn tst_info_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = tsa::parse_tst_info(&bytes);
        let _ = tsa::encapsulated_tst_info(&bytes);
        let _ = tsa::token_from_response(&bytes);
    }

    #[test]
    fn timestamp_with_any_byte_changed_never_panics(index in any::<prop::sample::Index>(), xor in 1u8..) {
        let mut token = FIXTURE.timestamped.clone();
        let i = index.index(token.len());
        token[i] ^= xor;
        let _ = tsa::verify_timestamp(&token, b"x", FIXTURE.instance.verifier().trusted_root());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every byte of a bundle is either covered by a signature or checked against one: any
    /// change makes verification fail (and never panic).
    #[test]
    fn any_single_byte_change_to_a_bundle_is_refused(index in any::<prop::sample::Index>(), xor in 1u8..) {
        let mut bytes = FIXTURE.bundle.clone().into_bytes();
        let i = index.index(bytes.len());
        bytes[i] ^= xor;
        if let Ok(text) = String::from_utf8(bytes) {
            let result = FIXTURE.instance.verifier().verify_json(
                &text,
                Some(Artifact::Bytes(ARTIFACT)),
                &Policy::identity(FIXTURE.instance.identity_policy()),
            );
            prop_assert!(result.is_err(), "byte {} changed and still verified", i);
        }
    }
}
