//! Statement parsing: each rule of the in-toto Statement layer and the SLSA predicates with an
//! accepted and a refused input, and the exact error.

use immerse_slsa::{
    IN_TOTO_PAYLOAD_TYPE, MAX_PAYLOAD_BYTES, Predicate, SlsaError, VerifiedStatement,
};
use serde_json::{Value, json};

fn v1() -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a", "digest": {"sha256": "ab".repeat(32)}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://example.com/build@v1",
                "externalParameters": {}
            },
            "runDetails": {"builder": {"id": "https://example.com/builder"}}
        }
    })
}

fn v02() -> Value {
    json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [{"name": "a", "digest": {"sha256": "ab".repeat(32)}}],
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "predicate": {"builder": {"id": "https://example.com/builder"}, "buildType": "https://example.com/t"}
    })
}

fn parse(v: &Value) -> Result<VerifiedStatement, SlsaError> {
    VerifiedStatement::parse(IN_TOTO_PAYLOAD_TYPE, v.to_string().as_bytes())
}

/// Set the member at `pointer` (creating it in its parent object if absent).
fn with(mut v: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(key.to_owned(), new);
        }
        Some(Value::Array(a)) => {
            let i: usize = key.parse().expect("an index");
            a[i] = new;
        }
        _ => panic!("no parent at {parent}"),
    }
    v
}

fn without(mut v: Value, parent: &str, key: &str) -> Value {
    if let Some(Value::Object(m)) = v.pointer_mut(parent) {
        m.remove(key);
    }
    v
}

fn is_malformed_statement(r: &Result<VerifiedStatement, SlsaError>) -> bool {
    matches!(r, Err(SlsaError::MalformedStatement(_)))
}

fn is_malformed_predicate(r: &Result<VerifiedStatement, SlsaError>) -> bool {
    matches!(r, Err(SlsaError::MalformedPredicate(_)))
}

#[test]
fn minimal_v1_and_v02_statements_parse() {
    assert!(matches!(
        parse(&v1()).map(|s| s.predicate().clone()),
        Ok(Predicate::SlsaV1(_))
    ));
    assert!(matches!(
        parse(&v02()).map(|s| s.predicate().clone()),
        Ok(Predicate::SlsaV02(_))
    ));
}

#[test]
fn payload_type_must_be_in_toto_json() {
    for wrong in [
        "application/json",
        "application/vnd.in-toto.provenance+json",
        "",
        "APPLICATION/VND.IN-TOTO+JSON",
    ] {
        assert_eq!(
            VerifiedStatement::parse(wrong, v1().to_string().as_bytes()),
            Err(SlsaError::PayloadType {
                expected: IN_TOTO_PAYLOAD_TYPE,
                found: wrong.into()
            })
        );
    }
}

#[test]
fn statement_type_must_be_known() {
    for wrong in [
        "https://in-toto.io/Statement/v2",
        "https://in-toto.io/Statement/v1.0",
        "https://in-toto.io/Statement/v1/",
    ] {
        assert_eq!(
            parse(&with(v1(), "/_type", json!(wrong))),
            Err(SlsaError::UnknownStatementType(wrong.into()))
        );
    }
    assert!(is_malformed_statement(&parse(&with(
        v1(),
        "/_type",
        json!(1)
    ))));
    assert!(is_malformed_statement(&parse(&without(v1(), "", "_type"))));
}

#[test]
fn predicate_type_must_be_slsa_provenance() {
    for wrong in [
        "https://slsa.dev/provenance/v1.0?draft",
        "https://slsa.dev/provenance/v0.1",
        "https://spdx.dev/Document",
    ] {
        assert_eq!(
            parse(&with(v1(), "/predicateType", json!(wrong))),
            Err(SlsaError::UnknownPredicateType(wrong.into()))
        );
    }
}

#[test]
fn subjects_are_required_and_need_digests() {
    assert!(is_malformed_statement(&parse(&with(
        v1(),
        "/subject",
        json!([])
    ))));
    assert!(is_malformed_statement(&parse(&without(
        v1(),
        "",
        "subject"
    ))));
    assert_eq!(
        parse(&with(
            v1(),
            "/subject",
            json!([{"name": "a", "uri": "https://x"}])
        )),
        Err(SlsaError::InvalidResourceDescriptor {
            field: "subject[0].digest".into(),
            reason: "a subject MUST have a digest".into()
        })
    );
    // Known algorithms are lowercase hex of their length; unknown ones are kept, not checked.
    for bad in [
        json!({"sha256": "AB".repeat(32)}),
        json!({"sha256": "ab"}),
        json!({"sha1": 5}),
        json!({"": "x"}),
    ] {
        assert!(
            is_malformed_statement(&parse(&with(v1(), "/subject/0/digest", bad.clone()))),
            "{bad}"
        );
    }
    assert!(
        parse(&with(
            v1(),
            "/subject/0/digest",
            json!({"somecoolhash": "xyz"})
        ))
        .is_ok()
    );
}

#[test]
fn duplicate_members_make_the_payload_malformed() {
    let text = v1().to_string().replacen(
        "\"predicateType\":\"https://slsa.dev/provenance/v1\"",
        "\"predicateType\":\"https://slsa.dev/provenance/v1\",\"predicateType\":\"https://slsa.dev/provenance/v1\"",
        1,
    );
    assert!(is_malformed_statement(&VerifiedStatement::parse(
        IN_TOTO_PAYLOAD_TYPE,
        text.as_bytes()
    )));
    let text = v1()
        .to_string()
        .replacen("{\"sha256\"", "{\"sha256\":\"00\",\"sha256\"", 1);
    assert!(is_malformed_statement(&VerifiedStatement::parse(
        IN_TOTO_PAYLOAD_TYPE,
        text.as_bytes()
    )));
}

#[test]
fn not_json_or_too_large_is_refused() {
    for junk in [&b""[..], b"null", b"[]", b"{", b"\xff\xfe", b"{} {}"] {
        assert!(is_malformed_statement(&VerifiedStatement::parse(
            IN_TOTO_PAYLOAD_TYPE,
            junk
        )));
    }
    let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    assert_eq!(
        VerifiedStatement::parse(IN_TOTO_PAYLOAD_TYPE, &big),
        Err(SlsaError::PayloadTooLarge {
            size: MAX_PAYLOAD_BYTES + 1,
            limit: MAX_PAYLOAD_BYTES
        })
    );
}

#[test]
fn unknown_fields_are_ignored_and_null_optionals_are_empty() {
    let mut v = v1();
    v["extension"] = json!({"x": 1});
    v["predicate"]["runDetails"]["builder"]["version"] = Value::Null;
    v["predicate"]["runDetails"]["byproducts"] = Value::Null;
    v["predicate"]["runDetails"]["metadata"] =
        json!({"startedOn": null, "https://example.com/ext": true});
    v["predicate"]["buildDefinition"]["resolvedDependencies"] = Value::Null;
    assert!(parse(&v).is_ok());
}

#[test]
fn v1_predicate_rules() {
    assert!(is_malformed_predicate(&parse(&without(
        v1(),
        "",
        "predicate"
    ))));
    assert!(is_malformed_predicate(&parse(&without(
        v1(),
        "/predicate",
        "runDetails"
    ))));
    assert!(is_malformed_predicate(&parse(&without(
        v1(),
        "/predicate/buildDefinition",
        "externalParameters"
    ))));
    assert!(is_malformed_predicate(&parse(&with(
        v1(),
        "/predicate/runDetails/builder/id",
        json!("")
    ))));
    assert!(is_malformed_predicate(&parse(&with(
        v1(),
        "/predicate/buildDefinition/externalParameters",
        json!([])
    ))));
    assert!(is_malformed_predicate(&parse(&with(
        v1(),
        "/predicate/runDetails/metadata",
        json!({"startedOn": "2024-01-01T00:00:00+01:00"})
    ))));
    assert!(is_malformed_predicate(&parse(&with(
        v1(),
        "/predicate/buildDefinition/resolvedDependencies",
        json!([{"name": "no uri, digest or content"}])
    ))));
    assert!(is_malformed_predicate(&parse(&with(
        v1(),
        "/predicate/buildDefinition/resolvedDependencies",
        json!([{"content": "not base64!"}])
    ))));
    assert!(parse(&with(
        v1(),
        "/predicate/runDetails/metadata",
        json!({"invocationId": "x", "startedOn": "2024-01-01T00:00:00Z", "finishedOn": "2024-01-01T00:01:00.5Z"})
    ))
    .is_ok());
}

#[test]
fn v02_predicate_rules() {
    assert!(is_malformed_predicate(&parse(&without(
        v02(),
        "/predicate",
        "builder"
    ))));
    assert!(is_malformed_predicate(&parse(&without(
        v02(),
        "/predicate",
        "buildType"
    ))));
    let mut v = v02();
    v["predicate"]["metadata"] = json!({"buildInvocationID": "1-1"});
    assert!(parse(&v).is_ok(), "slsa-github-generator's spelling");
    v["predicate"]["metadata"] = json!({"buildInvocationID": "1-1", "buildInvocationId": "2-2"});
    assert!(
        is_malformed_predicate(&parse(&v)),
        "both spellings are a duplicate"
    );
    v["predicate"]["metadata"] = Value::Null;
    v["predicate"]["materials"] =
        json!([{"uri": "git+https://github.com/o/r@refs/heads/main", "digest": null}]);
    v["predicate"]["invocation"] =
        json!({"configSource": {"uri": "x", "digest": null}, "parameters": null});
    assert!(parse(&v).is_ok());
}
