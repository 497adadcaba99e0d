//! Arbitrary bytes as an RFC 3161 `TimeStampResp` or bare `TimeStampToken` (CMS SignedData around a
//! TSTInfo), as a Sigstore bundle carries them: unwrapped, its TSTInfo read, and verified against
//! the real staging trusted root over the signature it should stamp. The bytes are also applied as
//! a patch (an offset, then bytes XORed in) to the staging TSA's real response, which verifies as
//! it is (any input under two bytes), so that the fuzzer mutates a token OpenSSL accepts. An error
//! or a genTime, never a panic.
#![no_main]
use std::sync::LazyLock;

use immerse_fuzz::patched;
use immerse_sigstore::tsa::{
    encapsulated_tst_info, parse_tst_info, token_from_response, verify_timestamp,
};
use immerse_sigstore::{Bundle, Content, TrustedRoot};
use libfuzzer_sys::fuzz_target;

struct Staging {
    root: TrustedRoot,
    /// The staging TSA's TimeStampResp from sigstore-python's Rekor v2 asset.
    response: Vec<u8>,
    /// The message signature it stamps.
    signature: Vec<u8>,
}

static STAGING: LazyLock<Staging> = LazyLock::new(|| {
    let root = include_str!("../../crates/sigstore/tests/data/staging_trusted_root.json");
    let bundle =
        include_str!("../../crates/sigstore/tests/data/staging-rekor-v2.txt.sigstore.json");
    let bundle = Bundle::from_json(bundle).expect("staging bundle parses");
    let Content::MessageSignature { signature, .. } = bundle.content else {
        panic!("the staging bundle is a message signature");
    };
    Staging {
        root: TrustedRoot::from_json(root).expect("staging trusted root parses"),
        response: bundle.timestamps.first().cloned().expect("one timestamp"),
        signature,
    }
});

fn exercise(staging: &Staging, bytes: &[u8]) {
    if let Ok(token) = token_from_response(bytes)
        && let Ok(info) = encapsulated_tst_info(token)
    {
        let _ = parse_tst_info(&info);
    }
    let _ = parse_tst_info(bytes);
    let _ = verify_timestamp(bytes, &staging.signature, &staging.root);
}

fuzz_target!(|data: &[u8]| {
    let staging = &*STAGING;
    exercise(staging, data);
    exercise(staging, &patched(&staging.response, data));
});
