//! Which held credentials answer a DCQL query (OpenID4VP 1.0 s6.4), which of the requested
//! claims the holder must disclose and which they may leave out.
//!
//! DCQL has no per-claim "optional": a query without `claim_sets` requires every claim it
//! lists (s6.4.1), and `claim_sets` lists the combinations the verifier accepts, in order of
//! preference. A claim in every combination the credential can satisfy is required; a claim in
//! some of them only is optional; the holder's final choice must still satisfy one whole
//! combination. Credential queries are answered as `credential_sets` demand (s6.4.2): each
//! required set by its first option the wallet can answer whole, optional sets not at all, so
//! that nothing is disclosed that the verifier can do without.
use std::collections::HashSet;

use immerse_verifier::dcql::{ClaimsQuery, CredentialQuery, DcqlQuery, PathSegment};
use serde::Serialize;
use serde_json::Value;

use immerse_sd_jwt::{Limits, SdJwt, reveal};

use super::PresentationError;
use super::policy::{allowance_for, display_path, is_correlating};
use super::response::claim_path;
use crate::StoredCredential;
use immerse_registry::model::Allowances;

/// One requested claim, as the holder is asked about it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestedClaim {
    /// Names the claim in an approval: `<credential query id>/<index in its claims>`.
    pub key: String,
    /// The claims path as the holder reads it (`address.locality`).
    pub path: String,
    /// Required claims are always disclosed; optional ones only when the holder chooses.
    pub required: bool,
    /// Why the verifier says it needs the claim (its registry allowance).
    pub purpose: String,
    /// A unique identifier: disclosing it lets verifiers link presentations.
    pub correlating: bool,
    /// What the verifier will receive for this claim, from the disclosures the presentation
    /// sends (never from the query): the value at `disclosed_path`, as the verifier will see it.
    pub value: Value,
    /// Where `value` sits: the claim's own path, or an enclosing one when the issuer made only
    /// the enclosing object disclosable (asked for `address.locality`, all of `address` goes).
    pub disclosed_path: String,
    #[serde(skip)]
    pub(crate) segments: Vec<PathSegment>,
}

/// A credential query and the held credential that answers it.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialMatch {
    pub query_id: String,
    pub credential_id: String,
    pub issuer: String,
    pub vct: String,
    pub claims: Vec<RequestedClaim>,
    /// The claim combinations (as claim keys) the verifier accepts and the credential
    /// satisfies; empty when the query lists its claims without `claim_sets`.
    #[serde(skip)]
    pub(crate) claim_sets: Vec<HashSet<String>>,
}

impl CredentialMatch {
    /// The claims to disclose given the optional keys the holder chose; refused when the
    /// result satisfies none of the accepted combinations.
    pub(crate) fn selection(
        &self,
        chosen: &HashSet<&str>,
    ) -> Result<Vec<&RequestedClaim>, PresentationError> {
        let selected: Vec<&RequestedClaim> = self
            .claims
            .iter()
            .filter(|claim| claim.required || chosen.contains(claim.key.as_str()))
            .collect();
        let keys: HashSet<&str> = selected.iter().map(|claim| claim.key.as_str()).collect();
        if !self.claim_sets.is_empty()
            && !self
                .claim_sets
                .iter()
                .any(|set| set.iter().all(|key| keys.contains(key.as_str())))
        {
            return Err(PresentationError::SelectionIncomplete(
                self.query_id.clone(),
            ));
        }
        Ok(selected)
    }
}

/// Does `credential` answer `query` (vct and every claim s6.4.1 demands)?
pub(crate) fn answers(query: &CredentialQuery, credential: &StoredCredential) -> bool {
    query.meta.vct_values.contains(&credential.vct)
        && query.matches_claims(&credential.claims).is_ok()
}

/// The claims of `query` for `credential`, each marked required or optional.
pub(crate) fn credential_match(
    query: &CredentialQuery,
    credential: &StoredCredential,
    allowances: &Allowances,
) -> Result<CredentialMatch, PresentationError> {
    let sd_jwt = SdJwt::parse(&credential.sd_jwt, &Limits::default())?;
    let claims_queries = query.claims.as_deref().unwrap_or_default();
    let key = |index: usize| format!("{}/{index}", query.id);
    // s6.4.1: with claim_sets, the combinations this credential satisfies, as claim indices.
    let satisfied: Vec<HashSet<usize>> = match &query.claim_sets {
        None => Vec::new(),
        Some(sets) => sets
            .iter()
            .map(|set| {
                set.iter()
                    .flat_map(|id| {
                        claims_queries
                            .iter()
                            .enumerate()
                            .filter(move |(_, claim)| claim.id.as_deref() == Some(id.as_str()))
                            .map(|(index, _)| index)
                    })
                    .collect::<HashSet<usize>>()
            })
            .filter(|set| {
                set.iter()
                    .all(|&index| claims_queries[index].matches(&credential.claims).is_ok())
            })
            .collect(),
    };
    let claims = claims_queries
        .iter()
        .enumerate()
        .filter(|(index, _)| {
            satisfied.is_empty() || satisfied.iter().any(|set| set.contains(index))
        })
        .map(|(index, claim)| {
            let (disclosed_path, value) = disclosed(&sd_jwt, claim)?;
            Ok(RequestedClaim {
                key: key(index),
                path: display_path(&claim.path),
                required: satisfied.is_empty() || satisfied.iter().all(|set| set.contains(&index)),
                purpose: allowance_for(allowances, &claim.path)
                    .map(|allowed| allowed.purpose.clone())
                    .unwrap_or_default(),
                correlating: is_correlating(&claim.path),
                value,
                disclosed_path,
                segments: claim.path.clone(),
            })
        })
        .collect::<Result<Vec<_>, PresentationError>>()?;
    Ok(CredentialMatch {
        query_id: query.id.clone(),
        credential_id: credential.id.clone(),
        issuer: credential.issuer.clone(),
        vct: credential.vct.clone(),
        claims,
        claim_sets: satisfied
            .iter()
            .map(|set| set.iter().map(|&index| key(index)).collect())
            .collect(),
    })
}

/// What presenting `claim` sends, as the verifier will process it: the outermost disclosure
/// on the way to the claim, or the claim with whatever is disclosed inside it.
fn disclosed(sd_jwt: &SdJwt, claim: &ClaimsQuery) -> Result<(String, Value), PresentationError> {
    let selected = claim_path(&claim.path);
    let revealed = reveal(sd_jwt, std::slice::from_ref(&selected), &Limits::default())?;
    let shown = revealed
        .disclosure_containing(&selected)
        .unwrap_or(&selected);
    let value = shown
        .value_in(&revealed.claims)
        .cloned()
        .unwrap_or(Value::Null);
    Ok((shown.to_string(), value))
}

/// The credential query ids to answer (s6.4.2), given those the wallet can answer.
pub(crate) fn queries_to_answer(
    query: &DcqlQuery,
    answerable: &HashSet<&str>,
) -> Result<Vec<String>, PresentationError> {
    query
        .check_answered(answerable)
        .map_err(|mismatch| PresentationError::NoMatchingCredential(mismatch.to_string()))?;
    let Some(sets) = &query.credential_sets else {
        return Ok(query.credentials.iter().map(|q| q.id.clone()).collect());
    };
    let mut chosen: Vec<String> = Vec::new();
    for set in sets.iter().filter(|set| set.required) {
        if let Some(option) = set
            .options
            .iter()
            .find(|option| option.iter().all(|id| answerable.contains(id.as_str())))
        {
            for id in option {
                if !chosen.contains(id) {
                    chosen.push(id.clone());
                }
            }
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use immerse_jose::SoftwareSigner;
    use immerse_sd_jwt::{ClaimPath, DisclosurePolicy, IssueOptions, issue};
    use serde_json::json;

    use super::*;

    /// A held credential whose issuer made each top-level claim disclosable as a whole.
    async fn credential(claims: Value) -> StoredCredential {
        let issuer = SoftwareSigner::generate().unwrap();
        let policy = claims
            .as_object()
            .unwrap()
            .keys()
            .fold(DisclosurePolicy::new(), |policy, name| {
                policy.disclose(ClaimPath::claim(name.clone()))
            });
        let sd_jwt = issue(&issuer, claims.clone(), &policy, &IssueOptions::default())
            .await
            .unwrap();
        StoredCredential {
            id: "c1".into(),
            issuer: "https://issuer.test".into(),
            vct: "urn:pid".into(),
            configuration_id: "pid".into(),
            sd_jwt: sd_jwt.to_compact(),
            claims: claims.as_object().cloned().unwrap(),
            issued_at: 0,
            expires_at: None,
            status: None,
            holder_key: Arc::new(SoftwareSigner::generate().unwrap()),
        }
    }

    fn query(value: Value) -> DcqlQuery {
        DcqlQuery::parse(value).unwrap()
    }

    #[tokio::test]
    async fn claim_sets_make_claims_outside_some_combination_optional() {
        let query = query(json!({"credentials": [{
            "id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:pid"]},
            "claims": [
                {"id": "g", "path": ["given_name"]},
                {"id": "f", "path": ["family_name"]},
                {"id": "l", "path": ["address", "locality"]},
                {"id": "e", "path": ["email"]}
            ],
            "claim_sets": [["g", "f", "l", "e"], ["g", "f", "l"], ["g", "f"]]
        }]}));
        let held = credential(json!({"given_name": "Erika", "family_name": "M",
            "address": {"locality": "Berlin", "postal_code": "10115"}}))
        .await;
        let matched =
            credential_match(&query.credentials[0], &held, &Allowances::default()).unwrap();
        let summary: Vec<(&str, bool)> = matched
            .claims
            .iter()
            .map(|claim| (claim.path.as_str(), claim.required))
            .collect();
        // The email is in no combination this credential satisfies: not offered at all.
        assert_eq!(
            summary,
            [
                ("given_name", true),
                ("family_name", true),
                ("address.locality", false)
            ]
        );
        // Only the whole address is disclosable: the holder is shown that all of it goes.
        assert_eq!(matched.claims[2].disclosed_path, "address");
        assert_eq!(
            matched.claims[2].value,
            json!({"locality": "Berlin", "postal_code": "10115"})
        );
        assert_eq!(matched.claims[0].disclosed_path, "given_name");
        let none = HashSet::new();
        assert_eq!(matched.selection(&none).unwrap().len(), 2);
        let with_locality = HashSet::from(["pid/2"]);
        assert_eq!(matched.selection(&with_locality).unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_choice_that_satisfies_no_combination_is_refused() {
        let query = query(json!({"credentials": [{
            "id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:pid"]},
            "claims": [{"id": "a", "path": ["a"]}, {"id": "b", "path": ["b"]}],
            "claim_sets": [["a"], ["b"]]
        }]}));
        let held = credential(json!({"a": 1, "b": 2})).await;
        let matched =
            credential_match(&query.credentials[0], &held, &Allowances::default()).unwrap();
        assert!(matched.claims.iter().all(|claim| !claim.required));
        let error = matched.selection(&HashSet::new()).unwrap_err();
        assert_eq!(error.code(), "selection_incomplete");
        assert_eq!(
            matched.selection(&HashSet::from(["pid/1"])).unwrap().len(),
            1
        );
    }

    #[test]
    fn required_credential_sets_are_answered_by_their_first_answerable_option() {
        let query = query(json!({
            "credentials": [
                {"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:pid"]}},
                {"id": "other", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:o"]}},
                {"id": "extra", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:e"]}}
            ],
            "credential_sets": [
                {"options": [["other"], ["pid"]]},
                {"options": [["extra"]], "required": false}
            ]
        }));
        let answerable = HashSet::from(["pid", "extra"]);
        assert_eq!(queries_to_answer(&query, &answerable).unwrap(), ["pid"]);
        let error = queries_to_answer(&query, &HashSet::from(["extra"])).unwrap_err();
        assert_eq!(error.code(), "no_matching_credential");
    }
}
