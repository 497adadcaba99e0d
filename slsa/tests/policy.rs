//! The provenance policy, one row per rule: a provenance, the certificate that signed it, the
//! caller's options, and the exact outcome. Rows read like slsa-verifier's rules.

mod common;

use common::*;
use immerse_slsa::{
    Digest, ProvenanceOptions, SignerIdentity, SlsaError, SourceRefPolicy, subject_from_bytes,
    verify_provenance,
};

struct Case {
    name: &'static str,
    prov: Prov,
    signer: SignerIdentity,
    options: ProvenanceOptions,
    expect: Result<(), SlsaError>,
}

fn case(
    name: &'static str,
    edit: impl FnOnce(&mut Prov, &mut SignerIdentity, &mut ProvenanceOptions),
    expect: Result<(), SlsaError>,
) -> Case {
    let (mut prov, mut signer, mut options) = (Prov::default(), signer(), options());
    edit(&mut prov, &mut signer, &mut options);
    Case {
        name,
        prov,
        signer,
        options,
        expect,
    }
}

fn set_signer(s: &mut SignerIdentity, uri: &str) {
    s.san = uri.into();
    s.build_signer_uri = Some(uri.into());
}

fn run(cases: Vec<Case>) {
    for c in cases {
        let got = verify_provenance(&c.prov.statement(), &c.signer, &c.options).map(|_| ());
        assert_eq!(got, c.expect, "case: {}", c.name);
    }
}

const EVIL: &str = "https://github.com/attacker/repo/.github/workflows/build.yml@refs/tags/v1.0.0";

#[test]
fn subject_digest_rules() {
    let other = subject_from_bytes("artifact.tar.gz", b"another artifact");
    let other_hex = other.digest.get("sha256").unwrap_or_default().to_owned();
    let want = artifact_sha256().hex().to_owned();
    run(vec![
        case("matching sha256 subject is accepted", |_, _, _| {}, Ok(())),
        case(
            "no subject with the artifact's digest is refused",
            |p, _, _| p.subject = other.clone(),
            Err(SlsaError::SubjectMismatch {
                expected: vec![format!("sha256:{want}")],
                found: vec![format!("sha256:{other_hex}")],
            }),
        ),
        case(
            "a sha512 the subject does not carry is ignored when sha256 matches",
            |_, _, o| {
                o.expected_digests
                    .push(Digest::sha512(&"ab".repeat(64)).expect("hex"))
            },
            Ok(()),
        ),
        case(
            "no expected digest at all is refused",
            |_, _, o| o.expected_digests.clear(),
            Err(SlsaError::NoExpectedDigest),
        ),
    ]);
}

#[test]
fn builder_identity_rules() {
    let v2 = format!("{GENERIC}@refs/tags/v2.0.0");
    run(vec![
        case(
            "builder without version matches any version",
            |_, _, _| {},
            Ok(()),
        ),
        case(
            "builder with the same version (short form) matches",
            |_, _, o| o.builder_id = Some(format!("{GENERIC}@v2.0.0")),
            Ok(()),
        ),
        case(
            "builder with the same version (refs/tags form) matches",
            |_, _, o| o.builder_id = Some(v2.clone()),
            Ok(()),
        ),
        case(
            "builder at another version is refused",
            |_, _, o| o.builder_id = Some(format!("{GENERIC}@v1.9.0")),
            Err(SlsaError::BuilderVersionMismatch {
                expected: format!("{GENERIC}@v1.9.0"),
                found: v2.clone(),
            }),
        ),
        case(
            "another builder, signing its own provenance, is refused",
            |p, s, _| {
                p.builder = EVIL.into();
                set_signer(s, EVIL);
            },
            Err(SlsaError::BuilderMismatch {
                expected: GENERIC.into(),
                found: EVIL.into(),
            }),
        ),
        case(
            "a predicate naming the trusted builder but signed by another workflow is refused",
            |_, s, _| set_signer(s, EVIL),
            Err(SlsaError::SignerBuilderMismatch {
                signer: EVIL.into(),
                predicate: v2.clone(),
            }),
        ),
        case(
            "the signer at another version than the predicate is refused",
            |_, s, _| set_signer(s, &format!("{GENERIC}@refs/tags/v2.0.1")),
            Err(SlsaError::SignerBuilderMismatch {
                signer: format!("{GENERIC}@refs/tags/v2.0.1"),
                predicate: v2.clone(),
            }),
        ),
        case(
            "a predicate builder without version does not bind to a versioned signer",
            |p, _, _| p.builder = GENERIC.into(),
            Err(SlsaError::SignerBuilderMismatch {
                signer: v2.clone(),
                predicate: GENERIC.into(),
            }),
        ),
        case(
            "SAN and Build Signer URI must name the same workflow",
            |_, s, _| s.san = EVIL.into(),
            Err(SlsaError::SignerIdentityInconsistent {
                san: EVIL.into(),
                build_signer_uri: v2.clone(),
            }),
        ),
        case(
            "the SAN alone identifies the signer when there is no Build Signer URI",
            |_, s, _| s.build_signer_uri = None,
            Ok(()),
        ),
        case(
            "a builder at a branch is refused when a release tag is required",
            |p, s, _| {
                p.builder = format!("{GENERIC}@refs/heads/main");
                set_signer(s, &format!("{GENERIC}@refs/heads/main"));
            },
            Err(SlsaError::BuilderRefNotRelease {
                builder: format!("{GENERIC}@refs/heads/main"),
            }),
        ),
        case(
            "a builder at a prerelease tag is refused when a release tag is required",
            |p, s, _| {
                p.builder = format!("{GENERIC}@refs/tags/v2.0.0-rc.1");
                set_signer(s, &format!("{GENERIC}@refs/tags/v2.0.0-rc.1"));
            },
            Err(SlsaError::BuilderRefNotRelease {
                builder: format!("{GENERIC}@refs/tags/v2.0.0-rc.1"),
            }),
        ),
        case(
            "a builder at a branch is accepted when no release tag is required",
            |p, s, o| {
                p.builder = format!("{GENERIC}@refs/heads/main");
                set_signer(s, &format!("{GENERIC}@refs/heads/main"));
                o.require_builder_release_tag = false;
            },
            Ok(()),
        ),
        case(
            "a trusted delegator may sign for the trusted builder",
            |p, s, o| {
                p.builder = "https://github.com/actions/runner/github-hosted".into();
                set_signer(s, EVIL);
                o.trusted_delegators = vec![EVIL.into()];
                o.builder_id = Some("https://github.com/actions/runner/github-hosted".into());
                o.require_builder_release_tag = false;
            },
            Ok(()),
        ),
        case(
            "a delegator at a branch is refused when a release tag is required",
            |p, s, o| {
                p.builder = format!("{GENERIC}@refs/tags/v2.0.0");
                set_signer(
                    s,
                    "https://github.com/org/repo/.github/workflows/d.yml@refs/heads/main",
                );
                o.trusted_delegators =
                    vec!["https://github.com/org/repo/.github/workflows/d.yml".into()];
            },
            Err(SlsaError::BuilderRefNotRelease {
                builder: "https://github.com/org/repo/.github/workflows/d.yml@refs/heads/main"
                    .into(),
            }),
        ),
        case(
            "a delegated builder without release tag is refused when one is required",
            |p, s, o| {
                p.builder = "https://github.com/actions/runner/github-hosted".into();
                set_signer(s, EVIL);
                o.trusted_delegators = vec![EVIL.into()];
                o.builder_id = Some("https://github.com/actions/runner/github-hosted".into());
            },
            // EVIL is pinned at refs/tags/v1.0.0; the runner has no version.
            Err(SlsaError::BuilderRefNotRelease {
                builder: "https://github.com/actions/runner/github-hosted".into(),
            }),
        ),
        case(
            "a trusted delegator signing for an untrusted builder is refused",
            |p, s, o| {
                p.builder = "https://github.com/actions/runner/self-hosted".into();
                set_signer(s, EVIL);
                o.trusted_delegators = vec![EVIL.into()];
                o.builder_id = Some("https://github.com/actions/runner/github-hosted".into());
            },
            Err(SlsaError::BuilderMismatch {
                expected: "https://github.com/actions/runner/github-hosted".into(),
                found: "https://github.com/actions/runner/self-hosted".into(),
            }),
        ),
        case(
            "a delegated build without a trusted builder id is refused",
            |p, s, o| {
                p.builder = "https://github.com/actions/runner/github-hosted".into();
                set_signer(s, EVIL);
                o.trusted_delegators = vec![EVIL.into()];
                o.builder_id = None;
            },
            Err(SlsaError::BuilderIdRequired {
                signer: EVIL.into(),
                predicate: "https://github.com/actions/runner/github-hosted".into(),
            }),
        ),
        case(
            "a malformed trusted builder id is refused",
            |_, _, o| o.builder_id = Some("a@b@c".into()),
            Err(SlsaError::InvalidBuilderId {
                id: "a@b@c".into(),
                reason: "more than one '@'",
            }),
        ),
    ]);
}

#[test]
fn source_repository_rules() {
    let expected = "git+https://github.com/org/repo".to_owned();
    run(vec![
        case(
            "https:// form of the source is accepted",
            |_, _, o| o.source_uri = REPO.into(),
            Ok(()),
        ),
        case(
            "a repository whose name extends the expected one is refused (prefix attack)",
            |p, s, _| {
                p.workflow_repo = "https://github.com/org/repo-evil".into();
                p.source_uri = "git+https://github.com/org/repo-evil@refs/tags/v14.2.0".into();
                s.source_repository_uri = Some("https://github.com/org/repo-evil".into());
            },
            Err(SlsaError::SourceMismatch {
                expected: expected.clone(),
                found: "git+https://github.com/org/repo-evil".into(),
            }),
        ),
        case(
            "the built source must be the expected repository too",
            |p, _, _| {
                p.source_uri = "git+https://github.com/org/repo-evil@refs/tags/v14.2.0".into()
            },
            Err(SlsaError::SourceMismatch {
                expected: expected.clone(),
                found: "git+https://github.com/org/repo-evil".into(),
            }),
        ),
        case(
            "trigger and built source at different refs are refused",
            |p, _, _| p.source_uri = format!("git+{REPO}@refs/heads/main"),
            Err(SlsaError::SourceInconsistent {
                trigger: format!("git+{REPO}@refs/tags/v14.2.0"),
                source_uri: format!("git+{REPO}@refs/heads/main"),
            }),
        ),
        case(
            "a source without ref is refused",
            |p, _, _| p.source_uri = format!("git+{REPO}"),
            Err(SlsaError::MalformedGitUri {
                uri: format!("git+{REPO}"),
                reason: "the source has no ref",
            }),
        ),
        case(
            "an expected source with a ref is refused",
            |_, _, o| o.source_uri = "github.com/org/repo@refs/heads/main".into(),
            Err(SlsaError::InvalidSourceUri(
                "github.com/org/repo@refs/heads/main".into(),
            )),
        ),
    ]);
}

#[test]
fn certificate_source_rules() {
    run(vec![
        case(
            "certificate extensions absent: nothing to compare",
            |_, s, _| {
                s.source_repository_uri = None;
                s.source_repository_ref = None;
                s.source_repository_digest = None;
            },
            Ok(()),
        ),
        case(
            "certificate from another repository is refused",
            |_, s, _| s.source_repository_uri = Some("https://github.com/org/repo-evil".into()),
            Err(SlsaError::CertificateSourceMismatch {
                certificate: "https://github.com/org/repo-evil".into(),
                provenance: "git+https://github.com/org/repo".into(),
            }),
        ),
        case(
            "certificate from another ref is refused",
            |_, s, _| s.source_repository_ref = Some("refs/heads/main".into()),
            Err(SlsaError::CertificateRefMismatch {
                certificate: "refs/heads/main".into(),
                provenance: "refs/tags/v14.2.0".into(),
            }),
        ),
        case(
            "certificate from another commit is refused",
            |_, s, _| s.source_repository_digest = Some("0".repeat(40)),
            Err(SlsaError::CertificateDigestMismatch {
                certificate: "0".repeat(40),
                provenance: Some(COMMIT.into()),
            }),
        ),
    ]);
}

#[test]
fn branch_and_tag_rules() {
    let main = |p: &mut Prov, s: &mut SignerIdentity| {
        *p = p.clone().at_ref("refs/heads/main");
        s.source_repository_ref = Some("refs/heads/main".into());
    };
    let tag = |t: &str| SourceRefPolicy::Tag(t.into());
    run(vec![
        case(
            "branch main is accepted",
            |p, s, o| {
                main(p, s);
                o.source_ref = Some(SourceRefPolicy::Branch("main".into()));
            },
            Ok(()),
        ),
        case(
            "another branch is refused",
            |p, s, o| {
                main(p, s);
                o.source_ref = Some(SourceRefPolicy::Branch("release".into()));
            },
            Err(SlsaError::BranchMismatch {
                expected: "release".into(),
                found: "main".into(),
            }),
        ),
        case(
            "a branch policy refuses a tag build",
            |_, _, o| o.source_ref = Some(SourceRefPolicy::Branch("main".into())),
            Err(SlsaError::UnexpectedRefType {
                expected: "branch (refs/heads/...)",
                found: "refs/tags/v14.2.0".into(),
            }),
        ),
        case(
            "the exact tag is accepted",
            |_, _, o| o.source_ref = Some(tag("v14.2.0")),
            Ok(()),
        ),
        case(
            "another tag is refused",
            |_, _, o| o.source_ref = Some(tag("v14.2.1")),
            Err(SlsaError::TagMismatch {
                expected: "v14.2.1".into(),
                found: "v14.2.0".into(),
            }),
        ),
        case(
            "a tag policy refuses a branch build",
            |p, s, o| {
                main(p, s);
                o.source_ref = Some(tag("v14.2.0"));
            },
            Err(SlsaError::UnexpectedRefType {
                expected: "tag (refs/tags/...)",
                found: "refs/heads/main".into(),
            }),
        ),
    ]);
}

#[test]
fn versioned_tag_rules() {
    let versioned = |v: &str| Some(SourceRefPolicy::VersionedTag(v.into()));
    let at = |p: &mut Prov, s: &mut SignerIdentity, t: &str| {
        *p = p.clone().at_ref(&format!("refs/tags/{t}"));
        s.source_repository_ref = Some(format!("refs/tags/{t}"));
    };
    run(vec![
        case(
            "v14 accepts v14.2.0",
            |_, _, o| o.source_ref = versioned("v14"),
            Ok(()),
        ),
        case(
            "14 (no v) accepts v14.2.0",
            |_, _, o| o.source_ref = versioned("14"),
            Ok(()),
        ),
        case(
            "v14 refuses v15.0.0",
            |p, s, o| {
                at(p, s, "v15.0.0");
                o.source_ref = versioned("v14");
            },
            Err(SlsaError::VersionedTagMismatch {
                expected: "v14".into(),
                found: "v15.0.0".into(),
            }),
        ),
        case(
            "v14.2 accepts v14.2.0",
            |_, _, o| o.source_ref = versioned("v14.2"),
            Ok(()),
        ),
        case(
            "v1.2 accepts v1.2.7",
            |p, s, o| {
                at(p, s, "v1.2.7");
                o.source_ref = versioned("v1.2");
            },
            Ok(()),
        ),
        case(
            "v1.2 refuses v1.3.0",
            |p, s, o| {
                at(p, s, "v1.3.0");
                o.source_ref = versioned("v1.2");
            },
            Err(SlsaError::VersionedTagMismatch {
                expected: "v1.2".into(),
                found: "v1.3.0".into(),
            }),
        ),
        case(
            "v14.2.0 refuses v14.2.0-rc.1",
            |p, s, o| {
                at(p, s, "v14.2.0-rc.1");
                o.source_ref = versioned("v14.2.0");
            },
            Err(SlsaError::VersionedTagMismatch {
                expected: "v14.2.0".into(),
                found: "v14.2.0-rc.1".into(),
            }),
        ),
        case(
            "a tag that is not a version is refused",
            |p, s, o| {
                at(p, s, "release-14");
                o.source_ref = versioned("v14");
            },
            Err(SlsaError::ProvenanceTagNotSemver("release-14".into())),
        ),
        case(
            "an expected versioned tag that is not a version is refused",
            |_, _, o| o.source_ref = versioned("vslsa1"),
            Err(SlsaError::InvalidExpectedSemver("vslsa1".into())),
        ),
    ]);
}

#[test]
fn provenance_without_source_is_refused() {
    use immerse_slsa::{IN_TOTO_PAYLOAD_TYPE, VerifiedStatement};
    use serde_json::json;
    let subject = json!([{"name": "a", "digest": {"sha256": artifact_sha256().hex()}}]);
    let builder = format!("{GENERIC}@refs/tags/v2.0.0");
    let v1 = |external: serde_json::Value, deps: serde_json::Value| {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": subject,
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {"buildType": "https://actions.github.io/buildtypes/workflow/v1",
                    "externalParameters": external, "resolvedDependencies": deps},
                "runDetails": {"builder": {"id": builder}}
            }
        })
    };
    let workflow = json!({"workflow": {"repository": REPO, "ref": "refs/tags/v14.2.0"}});
    let v02 = |materials: serde_json::Value| {
        json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "subject": subject,
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "predicate": {"builder": {"id": builder}, "buildType": "https://example.com/t",
                "invocation": {"configSource": {"uri": format!("git+{REPO}@refs/tags/v14.2.0")}},
                "materials": materials}
        })
    };
    let cases = [
        (
            v1(json!({}), json!([])),
            SlsaError::MissingSource("externalParameters.workflow".into()),
        ),
        (
            v1(json!({"workflow": {"repository": REPO}}), json!([])),
            SlsaError::MissingSource("externalParameters.workflow.ref".into()),
        ),
        (
            v1(workflow.clone(), json!([])),
            SlsaError::MissingSource("buildDefinition.resolvedDependencies is empty".into()),
        ),
        (
            v1(workflow, json!([{"digest": {"gitCommit": COMMIT}}])),
            SlsaError::MissingSource("resolvedDependencies[0].uri".into()),
        ),
        (
            v02(json!([])),
            SlsaError::MissingSource("materials is empty".into()),
        ),
        (
            v02(json!([{"uri": format!("{REPO}@refs/tags/v14.2.0")}])),
            SlsaError::MalformedGitUri {
                uri: format!("{REPO}@refs/tags/v14.2.0"),
                reason: "not a git+ URI",
            },
        ),
    ];
    for (statement, expected) in cases {
        let parsed =
            VerifiedStatement::parse(IN_TOTO_PAYLOAD_TYPE, statement.to_string().as_bytes())
                .expect("parses");
        assert_eq!(
            verify_provenance(&parsed, &signer(), &options()).map(|_| ()),
            Err(expected)
        );
    }
}
