//! Arbitrary bytes as a DSSE in-toto payload: an error or a statement, never a panic; whatever
//! parses is judged by the provenance policy (also never a panic), with each source-ref policy
//! kind chosen by the first byte.
#![no_main]
use immerse_slsa::{
    Digest, IN_TOTO_PAYLOAD_TYPE, ProvenanceOptions, SignerIdentity, SourceRefPolicy,
    VerifiedStatement, verify_provenance,
};
use libfuzzer_sys::fuzz_target;

const SIGNER: &str = "https://github.com/o/r/.github/workflows/b.yml@refs/tags/v1.0.0";

fuzz_target!(|data: &[u8]| {
    let (selector, body) = match data.split_first() {
        Some((s, rest)) => (*s, rest),
        None => (0, data),
    };
    let Ok(statement) = VerifiedStatement::parse(IN_TOTO_PAYLOAD_TYPE, body) else {
        return;
    };
    let source_ref = match selector % 4 {
        0 => None,
        1 => Some(SourceRefPolicy::Branch("main".into())),
        2 => Some(SourceRefPolicy::Tag("v1.0.0".into())),
        _ => Some(SourceRefPolicy::VersionedTag("v1".into())),
    };
    let digests = statement
        .subject()
        .iter()
        .filter_map(|s| s.digest.get("sha256"))
        .filter_map(|hex| Digest::sha256(hex).ok())
        .take(1)
        .collect();
    let options = ProvenanceOptions {
        expected_digests: digests,
        source_uri: "github.com/o/r".into(),
        builder_id: (selector & 4 != 0)
            .then(|| "https://github.com/o/r/.github/workflows/b.yml".into()),
        trusted_delegators: if selector & 8 != 0 {
            vec![SIGNER.into()]
        } else {
            Vec::new()
        },
        require_builder_release_tag: selector & 64 != 0,
        source_ref,
    };
    let signer = SignerIdentity {
        san: SIGNER.into(),
        source_repository_uri: (selector & 16 != 0).then(|| "https://github.com/o/r".into()),
        source_repository_ref: (selector & 32 != 0).then(|| "refs/tags/v1.0.0".into()),
        ..SignerIdentity::default()
    };
    let _ = verify_provenance(&statement, &signer, &options);
});
