//! Real provenance, decoded from signed DSSE envelopes (see tests/data/README.md), parsed and
//! judged with the identity of the certificate that signed it.

mod common;

use common::fixture;
use immerse_slsa::{
    Digest, IN_TOTO_PAYLOAD_TYPE, Predicate, ProvenanceOptions, SignerIdentity, SlsaError,
    SourceRefPolicy, StatementType, VerifiedStatement, verify_provenance,
};
use sha2::Digest as _;

const V1_FIXTURE: &str = "v1-delegator-generic-v14.2.intoto.json";
const V02_FIXTURE: &str = "v02-npm-sigstore-js-1.3.0.intoto.json";

const DELEGATOR: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/delegator_generic_slsa3.yml";
const TRW: &str =
    "https://github.com/slsa-framework/example-trw/.github/workflows/builder_high-perms_slsa3.yml";
const V1_SUBJECT: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
const V02_SUBJECT: &str = "76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751";

/// The Fulcio certificate in slsa-verifier's gha_delegator/v2.1.0 bundle.
fn v1_signer() -> SignerIdentity {
    let uri = format!("{DELEGATOR}@refs/tags/v2.1.0");
    SignerIdentity {
        build_signer_uri: Some(uri.clone()),
        san: uri,
        source_repository_uri: Some("https://github.com/slsa-framework/example-package".into()),
        source_repository_ref: Some("refs/tags/v14.2".into()),
        source_repository_digest: Some("4d329c75e7ec1725f7c9ce917a8799d408d06be3".into()),
    }
}

fn v1_options() -> ProvenanceOptions {
    ProvenanceOptions {
        expected_digests: vec![Digest::sha256(V1_SUBJECT).expect("hex")],
        source_uri: "github.com/slsa-framework/example-package".into(),
        builder_id: Some(format!("{TRW}@v2.1.0")),
        trusted_delegators: vec![DELEGATOR.into()],
        require_builder_release_tag: true,
        source_ref: Some(SourceRefPolicy::VersionedTag("v14".into())),
    }
}

fn v1_statement() -> VerifiedStatement {
    VerifiedStatement::parse(IN_TOTO_PAYLOAD_TYPE, &fixture(V1_FIXTURE))
        .expect("real v1 provenance parses")
}

#[test]
fn v1_fixture_is_the_payload_rekor_logged() {
    // Rekor entry 174298159 records the payload hash of this envelope.
    let hash = hex::encode(sha2::Sha256::digest(fixture(V1_FIXTURE)));
    assert_eq!(
        hash,
        "b8c2e4b4a7bf34b820aa5ca36b324384bc978be4e6bd4e262c9d93973bd99813"
    );
}

#[test]
fn real_v1_provenance_parses_into_typed_values() {
    let statement = v1_statement();
    assert_eq!(statement.statement_type(), StatementType::V0_1);
    assert_eq!(statement.subject().len(), 1);
    assert_eq!(
        statement.subject()[0].name.as_deref(),
        Some("gha_delegator-binary-linux-amd64-v14.2")
    );
    let Predicate::SlsaV1(p) = statement.predicate() else {
        panic!("expected a v1 predicate");
    };
    assert_eq!(
        p.build_definition.build_type,
        "https://github.com/slsa-framework/slsa-github-generator/delegator-generic@v0"
    );
    assert_eq!(p.run_details.builder.id, format!("{TRW}@refs/tags/v2.1.0"));
    assert_eq!(
        p.build_definition.resolved_dependencies[0].uri.as_deref(),
        Some("git+https://github.com/slsa-framework/example-package@refs/tags/v14.2")
    );
    assert!(
        p.build_definition
            .external_parameters
            .contains_key("inputs")
    );
}

#[test]
fn real_v1_provenance_passes_the_policy_as_slsa_verifier_would() {
    let verified =
        verify_provenance(&v1_statement(), &v1_signer(), &v1_options()).expect("accepted");
    assert!(verified.delegated());
    assert_eq!(verified.builder_id(), format!("{TRW}@refs/tags/v2.1.0"));
    assert_eq!(
        verified.source_repository(),
        "git+https://github.com/slsa-framework/example-package"
    );
    assert_eq!(verified.source_ref(), "refs/tags/v14.2");
    assert_eq!(
        verified.source_commit(),
        Some("4d329c75e7ec1725f7c9ce917a8799d408d06be3")
    );
    assert_eq!(
        verified.invocation_id(),
        Some(
            "https://github.com/slsa-framework/example-package/actions/runs/13530999644/attempts/1"
        )
    );
}

/// A change to the accepted certificate identity and policy.
type Edit = Box<dyn Fn(&mut SignerIdentity, &mut ProvenanceOptions)>;

#[test]
fn real_v1_provenance_refusals() {
    let statement = v1_statement();
    let cases: Vec<(&str, Edit, SlsaError)> = vec![
        (
            "versioned tag v15",
            Box::new(|_, o| o.source_ref = Some(SourceRefPolicy::VersionedTag("v15".into()))),
            SlsaError::VersionedTagMismatch {
                expected: "v15".into(),
                found: "v14.2".into(),
            },
        ),
        (
            "delegator not trusted",
            Box::new(|_, o| o.trusted_delegators.clear()),
            SlsaError::SignerBuilderMismatch {
                signer: format!("{DELEGATOR}@refs/tags/v2.1.0"),
                predicate: format!("{TRW}@refs/tags/v2.1.0"),
            },
        ),
        (
            "TRW at another version",
            Box::new(|_, o| o.builder_id = Some(format!("{TRW}@v2.0.0"))),
            SlsaError::BuilderVersionMismatch {
                expected: format!("{TRW}@v2.0.0"),
                found: format!("{TRW}@refs/tags/v2.1.0"),
            },
        ),
        (
            "repository prefix attack",
            Box::new(|_, o| o.source_uri = "github.com/slsa-framework/example".into()),
            SlsaError::SourceMismatch {
                expected: "git+https://github.com/slsa-framework/example".into(),
                found: "git+https://github.com/slsa-framework/example-package".into(),
            },
        ),
        (
            "certificate at another ref",
            Box::new(|s, _| s.source_repository_ref = Some("refs/tags/v14.3".into())),
            SlsaError::CertificateRefMismatch {
                certificate: "refs/tags/v14.3".into(),
                provenance: "refs/tags/v14.2".into(),
            },
        ),
    ];
    for (name, edit, expected) in cases {
        let (mut signer, mut options) = (v1_signer(), v1_options());
        edit(&mut signer, &mut options);
        assert_eq!(
            verify_provenance(&statement, &signer, &options),
            Err(expected),
            "{name}"
        );
    }
}

#[test]
fn real_v02_npm_provenance_with_sha512_subject_and_branch() {
    let statement = VerifiedStatement::parse(IN_TOTO_PAYLOAD_TYPE, &fixture(V02_FIXTURE))
        .expect("real v0.2 provenance parses");
    let Predicate::SlsaV02(p) = statement.predicate() else {
        panic!("expected a v0.2 predicate");
    };
    assert_eq!(p.build_type, "https://github.com/npm/cli/gha/v2");
    assert_eq!(
        p.metadata
            .as_ref()
            .and_then(|m| m.build_invocation_id.as_deref()),
        Some("4735384265-1")
    );
    // npm provenance names GitHub's runner as builder; the repository's release workflow
    // (GITHUB_WORKFLOW_REF) is what Fulcio certifies, so it is the trusted delegator.
    let workflow = "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml";
    let signer = SignerIdentity {
        build_signer_uri: None,
        san: format!("{workflow}@refs/heads/main"),
        source_repository_uri: Some("https://github.com/sigstore/sigstore-js".into()),
        source_repository_ref: Some("refs/heads/main".into()),
        source_repository_digest: Some("dae8bd8eb433a4147b4655c00fe73e0f22bc0fb1".into()),
    };
    let mut options = ProvenanceOptions {
        expected_digests: vec![Digest::sha512(V02_SUBJECT).expect("hex")],
        source_uri: "github.com/sigstore/sigstore-js".into(),
        builder_id: Some("https://github.com/actions/runner".into()),
        trusted_delegators: vec![workflow.into()],
        // npm's builder (GitHub's runner) has no version at all.
        require_builder_release_tag: false,
        source_ref: Some(SourceRefPolicy::Branch("main".into())),
    };
    let verified = verify_provenance(&statement, &signer, &options).expect("accepted");
    assert_eq!(
        verified.source_commit(),
        Some("dae8bd8eb433a4147b4655c00fe73e0f22bc0fb1")
    );

    options.source_ref = Some(SourceRefPolicy::Tag("v1.3.0".into()));
    assert_eq!(
        verify_provenance(&statement, &signer, &options),
        Err(SlsaError::UnexpectedRefType {
            expected: "tag (refs/tags/...)",
            found: "refs/heads/main".into()
        })
    );
    options.source_ref = None;
    options.expected_digests = vec![Digest::sha256(V1_SUBJECT).expect("hex")];
    assert!(matches!(
        verify_provenance(&statement, &signer, &options),
        Err(SlsaError::SubjectMismatch { .. })
    ));
}
