//! Properties: the parsers never panic on arbitrary (JSON-ish) input, verification never panics
//! on whatever parses, versioned-tag comparison behaves like version ranges, and generation is
//! deterministic.

mod common;

use immerse_slsa::{
    BuilderId, Digest, IN_TOTO_PAYLOAD_TYPE, ProvenanceOptions, SignerIdentity, SourceRefPolicy,
    Timestamp, VerifiedStatement, VersionedTagMatch, generate, verify_provenance,
    versioned_tag_matches,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        // Strings that look like what the parser looks for, and arbitrary ones.
        prop_oneof![
            Just("https://in-toto.io/Statement/v1".to_owned()),
            Just("https://slsa.dev/provenance/v1".to_owned()),
            Just("https://slsa.dev/provenance/v0.2".to_owned()),
            Just("git+https://github.com/o/r@refs/tags/v1.2.3".to_owned()),
            Just("ab".repeat(32)),
            "[a-z@/:.+-]{0,12}",
            any::<String>(),
        ]
        .prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("_type".to_owned()),
        Just("subject".to_owned()),
        Just("predicateType".to_owned()),
        Just("predicate".to_owned()),
        Just("digest".to_owned()),
        Just("sha256".to_owned()),
        Just("buildDefinition".to_owned()),
        Just("runDetails".to_owned()),
        Just("builder".to_owned()),
        Just("id".to_owned()),
        "[a-zA-Z]{1,8}",
    ];
    json_leaf().prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A statement skeleton with arbitrary values dropped into its slots, so the fuzzing reaches
/// past the first checks.
fn statement_like() -> impl Strategy<Value = Value> {
    (json_value(), json_value(), json_value(), json_value(), any::<bool>()).prop_map(|(a, b, c, d, v1)| {
        if v1 {
            json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "x", "digest": {"sha256": "ab".repeat(32)}}, a],
                "predicateType": "https://slsa.dev/provenance/v1",
                "predicate": {
                    "buildDefinition": {"buildType": "t", "externalParameters": {"workflow": b},
                        "internalParameters": {"GITHUB_WORKFLOW_REF": c}, "resolvedDependencies": [d]},
                    "runDetails": {"builder": {"id": "https://github.com/o/r/.github/workflows/b.yml@refs/tags/v1.0.0"}}
                }
            })
        } else {
            json!({
                "_type": "https://in-toto.io/Statement/v0.1",
                "subject": [{"digest": {"sha256": "ab".repeat(32)}}],
                "predicateType": "https://slsa.dev/provenance/v0.2",
                "predicate": {"builder": {"id": a}, "buildType": "t", "invocation": {"configSource": b},
                    "materials": [c], "metadata": d}
            })
        }
    })
}

fn options() -> ProvenanceOptions {
    ProvenanceOptions {
        expected_digests: vec![Digest::sha256(&"ab".repeat(32)).expect("hex")],
        source_uri: "github.com/o/r".into(),
        builder_id: Some("https://github.com/o/r/.github/workflows/b.yml".into()),
        trusted_delegators: vec![],
        require_builder_release_tag: true,
        source_ref: Some(SourceRefPolicy::VersionedTag("v1".into())),
    }
}

fn signer() -> SignerIdentity {
    SignerIdentity {
        san: "https://github.com/o/r/.github/workflows/b.yml@refs/tags/v1.0.0".into(),
        ..SignerIdentity::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = VerifiedStatement::parse(IN_TOTO_PAYLOAD_TYPE, &bytes);
    }

    #[test]
    fn parsing_and_verifying_json_ish_input_never_panics(v in prop_oneof![json_value(), statement_like()]) {
        let bytes = v.to_string();
        if let Ok(statement) = VerifiedStatement::parse(IN_TOTO_PAYLOAD_TYPE, bytes.as_bytes()) {
            let _ = verify_provenance(&statement, &signer(), &options());
        }
    }

    #[test]
    fn small_parsers_never_panic(s in any::<String>()) {
        let _ = versioned_tag_matches(&s, &s);
        let _ = versioned_tag_matches(&s, "v1");
        let _ = BuilderId::parse(&s);
        let _ = Timestamp::parse(&s);
        let _ = immerse_slsa::normalize_source_uri(&s);
        let _ = immerse_slsa::parse_git_uri_and_ref(&s);
    }

    #[test]
    fn a_release_is_within_its_own_major_minor_and_patch(
        major in 0u64..1000, minor in 0u64..1000, patch in 0u64..1000, v in any::<bool>()
    ) {
        let prefix = if v { "v" } else { "" };
        let tag = format!("{prefix}{major}.{minor}.{patch}");
        for expected in [
            format!("v{major}"),
            format!("{major}"),
            format!("v{major}.{minor}"),
            format!("v{major}.{minor}.{patch}"),
            format!("v{major}.{minor}.{patch}+build.5"),
        ] {
            prop_assert_eq!(versioned_tag_matches(&tag, &expected), VersionedTagMatch::Match, "{} in {}", tag, expected);
        }
        // Build metadata on the tag is ignored.
        prop_assert_eq!(versioned_tag_matches(&format!("{tag}+ci.9"), &format!("v{major}.{minor}.{patch}")), VersionedTagMatch::Match);
    }

    #[test]
    fn a_release_is_outside_any_other_major_minor_or_patch(
        major in 0u64..1000, minor in 0u64..1000, patch in 0u64..1000, other in 0u64..1000
    ) {
        let tag = format!("v{major}.{minor}.{patch}");
        if other != major {
            prop_assert_eq!(versioned_tag_matches(&tag, &format!("v{other}")), VersionedTagMatch::Mismatch);
        }
        if other != minor {
            prop_assert_eq!(versioned_tag_matches(&tag, &format!("v{major}.{other}")), VersionedTagMatch::Mismatch);
        }
        if other != patch {
            prop_assert_eq!(versioned_tag_matches(&tag, &format!("v{major}.{minor}.{other}")), VersionedTagMatch::Mismatch);
        }
        // A prerelease is not the release.
        prop_assert_eq!(versioned_tag_matches(&format!("{tag}-rc.1"), &tag), VersionedTagMatch::Mismatch);
    }

    #[test]
    fn generation_is_deterministic_and_canonical(
        params in prop::collection::btree_map("[a-z]{1,6}", json_leaf(), 0..8),
        names in prop::collection::btree_set("[a-z]{1,6}", 1..5),
    ) {
        let mut subjects: Vec<_> = names.iter().map(|n| immerse_slsa::subject_from_bytes(n, n.as_bytes())).collect();
        let build = |subjects: Vec<_>| immerse_slsa::BuildDescription {
            subjects,
            builder_id: "https://example.com/builder@v1".into(),
            build_type: "https://example.com/type@v1".into(),
            external_parameters: params.clone().into_iter().collect(),
            ..Default::default()
        };
        let first = generate(&build(subjects.clone())).expect("generates");
        subjects.reverse();
        let second = generate(&build(subjects)).expect("generates");
        prop_assert_eq!(&first, &second);
        let value: Value = serde_json::from_slice(&first.payload).expect("JSON");
        prop_assert_eq!(serde_json::to_vec(&value).expect("JSON"), first.payload);
    }
}
