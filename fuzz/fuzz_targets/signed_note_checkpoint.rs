//! Arbitrary text as a transparency log checkpoint in a C2SP signed note, as a Sigstore bundle's
//! inclusion proof carries it: the note and the checkpoint body parsed, every signature line
//! checked with the staging Rekor key, and the whole verified as that log's checkpoint. The bytes
//! are also applied as a patch (an offset, then bytes XORed in) to the real staging Rekor v2
//! checkpoint, which verifies as it is (any input under two bytes). An error or a checkpoint, never
//! a panic; a parsed checkpoint prints back to exactly the text that was signed.
#![no_main]
use std::sync::LazyLock;

use immerse_fuzz::patched;
use immerse_sigstore::checkpoint::{Checkpoint, SignedNote, verify_checkpoint};
use immerse_sigstore::trust_root::LogInstance;
use immerse_sigstore::{Bundle, TrustedRoot};
use libfuzzer_sys::fuzz_target;

struct Staging {
    log: LogInstance,
    /// The signed note of the staging bundle's inclusion proof.
    checkpoint: String,
}

static STAGING: LazyLock<Staging> = LazyLock::new(|| {
    let root = include_str!("../../crates/sigstore/tests/data/staging_trusted_root.json");
    let bundle =
        include_str!("../../crates/sigstore/tests/data/staging-rekor-v2.txt.sigstore.json");
    let root = TrustedRoot::from_json(root).expect("staging trusted root parses");
    let bundle = Bundle::from_json(bundle).expect("staging bundle parses");
    let entry = bundle.tlog_entries.first().expect("one tlog entry");
    let proof = entry.inclusion_proof.as_ref().expect("an inclusion proof");
    Staging {
        log: root.tlog(&entry.log_id).expect("the entry's log").clone(),
        checkpoint: proof.checkpoint.clone(),
    }
});

fn exercise(staging: &Staging, text: &str) {
    if let Ok(note) = SignedNote::parse(text) {
        if let Ok(checkpoint) = Checkpoint::parse(&note.text) {
            assert_eq!(checkpoint.to_text(), note.text);
        }
        for signature in &note.signatures {
            let _ = note.verify(&staging.log.key, &signature.name);
        }
    }
    let _ = Checkpoint::parse(text);
    let _ = verify_checkpoint(text, &staging.log.key, &staging.log.base_url);
}

fuzz_target!(|data: &[u8]| {
    let staging = &*STAGING;
    if let Ok(text) = std::str::from_utf8(data) {
        exercise(staging, text);
    }
    if let Ok(text) = String::from_utf8(patched(staging.checkpoint.as_bytes(), data)) {
        exercise(staging, &text);
    }
});
