use immerse_jose::{Signer, SoftwareSigner};
use immerse_sd_jwt::{
    ClaimPath, Credential, DisclosurePolicy, IssueOptions, VcValidation, issue_vc, verify_vc,
};
use serde_json::json;

use super::*;

fn pid_query() -> Value {
    json!({
        "credentials": [{
            "id": "pid",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": ["https://credentials.example.com/identity_credential"]},
            "claims": [
                {"path": ["last_name"]},
                {"path": ["first_name"]},
                {"path": ["address", "street_address"]}
            ]
        }]
    })
}

fn claims() -> Map<String, Value> {
    let Value::Object(claims) = json!({
        "vct": "https://credentials.example.com/identity_credential",
        "last_name": "Doe",
        "first_name": "John",
        "age_over_18": true,
        "address": {"street_address": "42 Market Street", "postal_code": "12345"},
        "nationalities": ["DE", "FR"],
        "degrees": [{"type": "Bachelor"}, {"type": "Master"}]
    }) else {
        unreachable!()
    };
    claims
}

fn parse(value: Value) -> Result<DcqlQuery, DcqlError> {
    DcqlQuery::parse(value)
}

#[test]
fn spec_example_query_parses_and_round_trips() {
    // OpenID4VP 1.0 s6.4.1 / appendix B.3 example shape.
    let query = parse(pid_query()).expect("valid query");
    assert_eq!(query.credentials[0].id, "pid");
    assert!(query.credentials[0].require_cryptographic_holder_binding);
    assert_eq!(serde_json::to_value(&query).unwrap(), pid_query());
}

#[test]
fn query_with_claim_sets_and_credential_sets_parses() {
    let query = parse(json!({
        "credentials": [
            {"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["pid"]},
             "claims": [
                {"id": "a", "path": ["last_name"]},
                {"id": "b", "path": ["postal_code"]},
                {"id": "c", "path": ["address", "postal_code"]}
             ],
             "claim_sets": [["a", "c"], ["a", "b"]]},
            {"id": "other_pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["pid2"]}}
        ],
        "credential_sets": [{"options": [["pid"], ["other_pid"]]}]
    }))
    .expect("valid query");
    assert!(query.credential_sets.as_ref().unwrap()[0].required);
}

#[test]
fn malformed_queries_are_refused_each_with_its_reason() {
    let cases: Vec<(Value, DcqlError)> = vec![
        (json!({"credentials": []}), DcqlError::NoCredentials),
        (
            json!({"credentials": [{"id": "a b", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}}]}),
            DcqlError::InvalidId("a b".into()),
        ),
        (
            json!({"credentials": [
                {"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}},
                {"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}}]}),
            DcqlError::DuplicateId("a".into()),
        ),
        (
            json!({"credentials": [{"id": "a", "format": "mso_mdoc", "meta": {"vct_values": ["x"]}}]}),
            DcqlError::UnsupportedFormat("mso_mdoc".into()),
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": []}}]}),
            DcqlError::MissingVctValues,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claims": []}]}),
            DcqlError::EmptyClaims,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claims": [{"path": []}]}]}),
            DcqlError::InvalidPath,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claims": [{"path": [0]}]}]}),
            DcqlError::InvalidPath,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claims": [{"path": ["x"], "values": [1.5]}]}]}),
            DcqlError::InvalidValues,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claims": [{"path": ["x"], "values": []}]}]}),
            DcqlError::InvalidValues,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claims": [{"path": ["x"]}], "claim_sets": [["c"]]}]}),
            DcqlError::ClaimSetsWithoutIds,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claim_sets": [["c"]]}]}),
            DcqlError::ClaimSetsWithoutIds,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claims": [{"id": "c", "path": ["x"]}], "claim_sets": [["d"]]}]}),
            DcqlError::UnknownClaimId("d".into()),
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claims": [{"id": "c", "path": ["x"]}], "claim_sets": []}]}),
            DcqlError::EmptyClaimSets,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}}], "credential_sets": [{"options": [["b"]]}]}),
            DcqlError::UnknownCredentialId("b".into()),
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}}], "credential_sets": []}),
            DcqlError::EmptyCredentialSets,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "trusted_authorities": [{"type": "aki", "values": ["x"]}]}]}),
            DcqlError::TrustedAuthoritiesUnsupported,
        ),
        (
            json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "require_cryptographic_holder_binding": false}]}),
            DcqlError::HolderBindingRequired,
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(parse(query.clone()), Err(expected), "{query}");
    }
}

#[test]
fn unknown_members_and_wrong_types_are_refused() {
    for query in [
        json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}}], "extra": 1}),
        json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"], "doctype_value": "y"}}]}),
        json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": "x"}}]}),
        json!({"credentials": [{"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}, "claims": [{"path": ["x", -1]}]}]}),
        json!({"credentials": [{"id": "a", "format": "dc+sd-jwt"}]}),
        json!({"credentials": "a"}),
    ] {
        assert!(
            matches!(parse(query.clone()), Err(DcqlError::Malformed(_))),
            "{query}"
        );
    }
}

#[test]
fn all_requested_claims_present_matches() {
    let query = parse(pid_query()).unwrap();
    assert_eq!(query.credentials[0].matches_claims(&claims()), Ok(()));
}

#[test]
fn missing_required_claim_is_refused() {
    let query = parse(pid_query()).unwrap();
    let mut claims = claims();
    claims.remove("first_name");
    assert_eq!(
        query.credentials[0].matches_claims(&claims),
        Err(DcqlMismatch::MissingClaim(r#"["first_name"]"#.into()))
    );
}

#[test]
fn path_through_arrays_with_null_and_index() {
    let query = |path: Value, values: Option<Value>| {
        let mut claim = json!({"path": path});
        if let Some(values) = values {
            claim["values"] = values;
        }
        parse(json!({"credentials": [{"id": "a", "format": "dc+sd-jwt",
            "meta": {"vct_values": ["x"]}, "claims": [claim]}]}))
        .unwrap()
        .credentials
        .remove(0)
    };
    let claims = claims();
    assert_eq!(
        query(json!(["degrees", null, "type"]), None).matches_claims(&claims),
        Ok(())
    );
    assert_eq!(
        query(json!(["degrees", null, "type"]), Some(json!(["Master"]))).matches_claims(&claims),
        Ok(())
    );
    assert_eq!(
        query(json!(["nationalities", 1]), Some(json!(["FR"]))).matches_claims(&claims),
        Ok(())
    );
    assert!(matches!(
        query(json!(["nationalities", 2]), None).matches_claims(&claims),
        Err(DcqlMismatch::MissingClaim(_))
    ));
    // A name segment over an array selects nothing (s7.1).
    assert!(matches!(
        query(json!(["nationalities", "x"]), None).matches_claims(&claims),
        Err(DcqlMismatch::MissingClaim(_))
    ));
    // Values compare type and value exactly: true is not "true".
    assert_eq!(
        query(json!(["age_over_18"]), Some(json!(["true"]))).matches_claims(&claims),
        Err(DcqlMismatch::ValueNotAccepted(r#"["age_over_18"]"#.into()))
    );
    assert_eq!(
        query(json!(["age_over_18"]), Some(json!([true]))).matches_claims(&claims),
        Ok(())
    );
}

#[test]
fn claim_sets_are_alternatives() {
    let query = parse(json!({"credentials": [{"id": "pid", "format": "dc+sd-jwt",
        "meta": {"vct_values": ["x"]},
        "claims": [
            {"id": "name", "path": ["last_name"]},
            {"id": "zip", "path": ["postal_code"]},
            {"id": "street", "path": ["address", "street_address"]}
        ],
        "claim_sets": [["name", "zip"], ["name", "street"]]}]}))
    .unwrap();
    let credential = &query.credentials[0];
    // The first set fails (no top-level postal_code), the second holds.
    assert_eq!(credential.matches_claims(&claims()), Ok(()));
    let mut without_street = claims();
    without_street.insert("address".into(), json!({}));
    assert_eq!(
        credential.matches_claims(&without_street),
        Err(DcqlMismatch::NoClaimSetSatisfied)
    );
}

#[test]
fn credential_sets_decide_which_queries_must_be_answered() {
    let query = parse(json!({
        "credentials": [
            {"id": "a", "format": "dc+sd-jwt", "meta": {"vct_values": ["x"]}},
            {"id": "b", "format": "dc+sd-jwt", "meta": {"vct_values": ["y"]}},
            {"id": "c", "format": "dc+sd-jwt", "meta": {"vct_values": ["z"]}}
        ],
        "credential_sets": [
            {"options": [["a"], ["b"]]},
            {"options": [["c"]], "required": false}
        ]
    }))
    .unwrap();
    assert_eq!(query.check_answered(&HashSet::from(["b"])), Ok(()));
    assert_eq!(
        query.check_answered(&HashSet::from(["c"])),
        Err(DcqlMismatch::CredentialSetNotSatisfied)
    );
    let all = parse(pid_query()).unwrap();
    assert_eq!(
        all.check_answered(&HashSet::new()),
        Err(DcqlMismatch::MissingCredential("pid".into()))
    );
}

#[tokio::test]
async fn verified_credential_with_wrong_vct_is_refused() {
    let issuer = SoftwareSigner::generate().unwrap();
    let credential = Credential {
        vct: "https://credentials.example.com/other".into(),
        iss: "https://issuer.test".into(),
        iat: immerse_jose::jwt::now(),
        exp: Some(immerse_jose::jwt::now() + 3600),
        status: None,
        holder_key: None,
        claims: claims()
            .into_iter()
            .filter(|(name, _)| name != "vct")
            .collect(),
    };
    let policy = DisclosurePolicy::new().disclose(ClaimPath::claim("first_name"));
    let sd_jwt = issue_vc(&issuer, &credential, &policy, &IssueOptions::default())
        .await
        .unwrap();
    let all = immerse_sd_jwt::present(
        &sd_jwt,
        &[ClaimPath::claim("first_name")],
        None,
        &Default::default(),
    )
    .await
    .unwrap();
    let verified = verify_vc(&all, &VcValidation::new(), &issuer.public_jwk().clone()).unwrap();
    let query = parse(pid_query()).unwrap();
    assert_eq!(
        query.credentials[0].matches(&verified),
        Err(DcqlMismatch::VctNotAccepted(
            "https://credentials.example.com/other".into()
        ))
    );
}
