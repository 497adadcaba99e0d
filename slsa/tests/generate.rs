//! Generation: canonical, deterministic bytes that our own verifier accepts.

mod common;

use common::*;
use immerse_slsa::{
    BuildDescription, IN_TOTO_PAYLOAD_TYPE, Predicate, ResourceDescriptor, SlsaError, Timestamp,
    VerifiedStatement, generate, subject_from_bytes, subject_from_reader, verify_provenance,
};
use serde_json::{Map, Value, json};

fn build() -> BuildDescription {
    let Value::Object(external) = json!({
        "workflow": {"repository": REPO, "ref": "refs/tags/v14.2.0", "path": ".github/workflows/release.yml"}
    }) else {
        unreachable!("a JSON object literal");
    };
    let mut source = ResourceDescriptor {
        uri: Some(format!("git+{REPO}@refs/tags/v14.2.0")),
        ..ResourceDescriptor::default()
    };
    source.digest.insert("gitCommit", COMMIT).expect("commit");
    BuildDescription {
        subjects: vec![
            subject_from_bytes("b.bin", b"bbb"),
            subject_from_bytes("a.bin", b"aaa"),
        ],
        builder_id: format!("{GENERIC}@refs/tags/v2.0.0"),
        build_type: "https://actions.github.io/buildtypes/workflow/v1".into(),
        external_parameters: external,
        resolved_dependencies: vec![source],
        invocation_id: Some("https://github.com/org/repo/actions/runs/7/attempts/1".into()),
        started_on: Some(Timestamp::parse("2026-01-02T03:04:05Z").expect("time")),
        finished_on: Some(Timestamp::from_unix(1_767_323_100).expect("time")),
        ..BuildDescription::default()
    }
}

#[test]
fn generated_statement_is_canonical_json_with_sorted_members_and_subjects() {
    let out = generate(&build()).expect("generates");
    assert_eq!(out.payload_type, IN_TOTO_PAYLOAD_TYPE);
    let text = String::from_utf8(out.payload.clone()).expect("UTF-8");
    assert!(text.starts_with(
        r#"{"_type":"https://in-toto.io/Statement/v1","predicate":{"buildDefinition":{"buildType""#
    ));
    assert!(!text.contains(['\n', ' ']), "no insignificant whitespace");
    let a = text.find("\"a.bin\"").expect("a.bin");
    let b = text.find("\"b.bin\"").expect("b.bin");
    assert!(a < b, "subjects sorted by name");
    // Re-encoding through serde_json's sorted Map gives the same bytes.
    let value: Value = serde_json::from_slice(&out.payload).expect("JSON");
    assert_eq!(serde_json::to_vec(&value).expect("JSON"), out.payload);
}

#[test]
fn identical_builds_give_identical_bytes_whatever_the_subject_order() {
    let first = generate(&build()).expect("generates");
    let mut reordered = build();
    reordered.subjects.reverse();
    let mut fields = Map::new();
    fields.insert("z".into(), json!(1));
    fields.insert("a".into(), json!(2));
    let mut with_params = build();
    with_params
        .external_parameters
        .insert("extra".into(), Value::Object(fields.clone()));
    let mut with_params_reordered = build();
    let rev: Map<String, Value> = fields.into_iter().rev().collect();
    with_params_reordered
        .external_parameters
        .insert("extra".into(), Value::Object(rev));
    assert_eq!(generate(&reordered).expect("generates"), first);
    assert_eq!(
        generate(&with_params).expect("generates"),
        generate(&with_params_reordered).expect("generates")
    );
}

#[test]
fn generated_provenance_round_trips_and_passes_the_policy() {
    let out = generate(&build()).expect("generates");
    let statement = VerifiedStatement::parse(out.payload_type, &out.payload).expect("parses");
    let Predicate::SlsaV1(p) = statement.predicate() else {
        panic!("v1 predicate");
    };
    let metadata = p.run_details.metadata.as_ref().expect("metadata");
    assert_eq!(
        metadata.finished_on.as_ref().map(Timestamp::as_str),
        Some("2026-01-02T03:05:00Z")
    );
    let mut options = options();
    options.expected_digests = vec![
        immerse_slsa::Digest::sha256(statement.subject()[0].digest.get("sha256").expect("sha256"))
            .expect("hex"),
    ];
    assert!(verify_provenance(&statement, &signer(), &options).is_ok());
}

#[test]
fn reader_and_bytes_give_the_same_subject() {
    let data = vec![7u8; 200_000];
    assert_eq!(
        subject_from_reader("x", &data[..]).expect("read"),
        subject_from_bytes("x", &data)
    );
    assert_eq!(
        subject_from_bytes("empty", b"").digest.get("sha256"),
        Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
}

/// A change to the good build description.
type Edit = Box<dyn Fn(&mut BuildDescription)>;

#[test]
fn generation_refuses_what_verification_would_refuse() {
    let cases: Vec<(&str, Edit, SlsaError)> = vec![
        (
            "no subjects",
            Box::new(|b| b.subjects.clear()),
            SlsaError::Generate("no subjects".into()),
        ),
        (
            "unnamed subject",
            Box::new(|b| b.subjects[0].name = None),
            SlsaError::Generate("a subject has no name".into()),
        ),
        (
            "two subjects, one name",
            Box::new(|b| b.subjects.push(subject_from_bytes("a.bin", b"other"))),
            SlsaError::Generate("two subjects named Some(\"a.bin\") with different content".into()),
        ),
        (
            "empty build type",
            Box::new(|b| b.build_type.clear()),
            SlsaError::Generate("empty buildType".into()),
        ),
        (
            "malformed builder id",
            Box::new(|b| b.builder_id = "x@".into()),
            SlsaError::InvalidBuilderId {
                id: "x@".into(),
                reason: "empty version after '@'",
            },
        ),
    ];
    for (name, edit, expected) in cases {
        let mut b = build();
        edit(&mut b);
        assert_eq!(generate(&b), Err(expected), "{name}");
    }
    // The same subject twice is one subject.
    let mut b = build();
    b.subjects.push(subject_from_bytes("a.bin", b"aaa"));
    assert_eq!(generate(&b), generate(&build()));
}
