//! Arbitrary bytes as a DCQL query (OpenID4VP 1.0 s6), as a relying party sends it to the
//! verifier and a request object brings it to the wallet, then, if it parses, the claims after
//! the first newline (a processed SD-JWT payload) matched against each Credential Query and
//! selected by each claims path pointer. An error or a query, never a panic; a parsed query
//! serialises and parses again to itself.
#![no_main]
use std::collections::HashSet;

use immerse_verifier::dcql::DcqlQuery;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let (query, claims) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(value) = serde_json::from_slice::<Value>(query) else {
        return;
    };
    let Ok(query) = DcqlQuery::parse(value) else {
        return;
    };
    let json = serde_json::to_value(&query).expect("a parsed query serialises");
    assert_eq!(
        DcqlQuery::parse(json).as_ref(),
        Ok(&query),
        "a parsed query parses again to itself"
    );
    let claims: Map<String, Value> = serde_json::from_slice(claims).unwrap_or_default();
    let mut answered = HashSet::new();
    for credential in &query.credentials {
        if credential.matches_claims(&claims).is_ok() {
            answered.insert(credential.id.as_str());
        }
        for claim in credential.claims.iter().flatten() {
            let _ = claim.matches(&claims);
            let _ = claim.selected(&claims);
        }
        assert!(query.credential(&credential.id).is_some());
    }
    let _ = query.check_answered(&answered);
});
