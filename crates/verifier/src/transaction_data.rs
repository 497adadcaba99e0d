//! Transaction data (OpenID4VP 1.0 s5.1, s8.4, appendix B.3.3): typed parameter sets the
//! relying party asks the End-User to authorize, sent base64url-encoded in the request and
//! bound by the wallet in the KB-JWT as `transaction_data_hashes`.
//!
//! Only `sha-256` is offered and checked: a relying party naming any other hash algorithm is
//! refused when the request is made, so the request never offers what the verifier could not
//! check.
use std::collections::HashSet;

use immerse_jose::base64url;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::VerifierError;
use crate::dcql::DcqlQuery;

/// The hash algorithm of `transaction_data_hashes` (OpenID4VP 1.0 appendix B.3.3 default; the
/// IANA "Named Information Hash Algorithm" name).
pub const SHA_256: &str = "sha-256";
/// The most transaction data items one request may carry (ours).
const MAX_ITEMS: usize = 16;

/// Why the transaction data binding of a KB-JWT is refused (OpenID4VP 1.0 s8.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionDataMismatch {
    #[error("transaction data was requested and the KB-JWT has no transaction_data_hashes")]
    MissingHashes,
    #[error("transaction_data_hashes is not a non-empty array of strings")]
    InvalidHashes,
    #[error("transaction_data_hashes do not match the requested transaction data")]
    HashMismatch,
    #[error("the request named transaction_data_hashes_alg and the KB-JWT names none")]
    MissingAlgorithm,
    #[error("transaction_data_hashes_alg {0:?} was not offered in the request")]
    UnsupportedAlgorithm(String),
    #[error("the KB-JWT binds transaction data, and none was requested for this credential")]
    Unexpected,
}

/// One item of `transaction_data` as sent: its base64url text (what the wallet hashes) and
/// what the verifier needs to check the binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionData {
    encoded: String,
    credential_ids: Vec<String>,
    /// Whether the item named `transaction_data_hashes_alg`: then the KB-JWT must name it too.
    explicit_algorithm: bool,
}

impl TransactionData {
    /// Checks the relying party's items against OpenID4VP 1.0 s5.1 and `query`, and encodes
    /// them.
    pub(crate) fn parse_all(
        items: Vec<Value>,
        query: &DcqlQuery,
    ) -> Result<Vec<Self>, VerifierError> {
        if items.len() > MAX_ITEMS {
            return Err(invalid(format!("at most {MAX_ITEMS} items")));
        }
        items
            .into_iter()
            .map(|item| Self::parse(item, query))
            .collect()
    }

    fn parse(item: Value, query: &DcqlQuery) -> Result<Self, VerifierError> {
        let Value::Object(object) = &item else {
            return Err(invalid("an item is not an object".into()));
        };
        // s5.1: `type` REQUIRED, a string identifying the type of transaction data.
        if object
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(invalid("type must be a non-empty string".into()));
        }
        // s5.1: `credential_ids` REQUIRED, a non-empty array of Credential Query ids.
        let credential_ids = non_empty_strings(object.get("credential_ids"))
            .ok_or_else(|| invalid("credential_ids must be a non-empty array of strings".into()))?;
        if let Some(unknown) = credential_ids
            .iter()
            .find(|id| query.credential(id).is_none())
        {
            return Err(invalid(format!(
                "credential_ids names {unknown:?}, which is not a credential query id"
            )));
        }
        // s5.1: `transaction_data_hashes_alg` OPTIONAL, non-empty; we offer sha-256 only.
        let explicit_algorithm = match object.get("transaction_data_hashes_alg") {
            None => false,
            Some(algorithms) => {
                let algorithms = non_empty_strings(Some(algorithms)).ok_or_else(|| {
                    invalid("transaction_data_hashes_alg must be a non-empty array".into())
                })?;
                if algorithms.iter().any(|alg| alg != SHA_256) {
                    return Err(invalid(format!(
                        "transaction_data_hashes_alg: only {SHA_256} is supported"
                    )));
                }
                true
            }
        };
        let text = serde_json::to_vec(&item).map_err(|err| invalid(err.to_string()))?;
        Ok(Self {
            encoded: base64url::encode(text),
            credential_ids,
            explicit_algorithm,
        })
    }

    /// The base64url-encoded JSON object, as carried in the request's `transaction_data`.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// base64url(SHA-256) over the encoded string, as the wallet computes it (appendix B.3.3).
    pub fn hash(&self) -> String {
        base64url::encode(Sha256::digest(self.encoded.as_bytes()))
    }
}

/// OpenID4VP 1.0 s8.4 and appendix B.3.3: the KB-JWT of the presentation answering
/// `credential_id` hashes exactly the transaction data items naming that credential, with
/// an algorithm the request offered.
pub(crate) fn check_binding(
    items: &[TransactionData],
    credential_id: &str,
    kb_claims: &Map<String, Value>,
) -> Result<(), TransactionDataMismatch> {
    let relevant: Vec<&TransactionData> = items
        .iter()
        .filter(|item| item.credential_ids.iter().any(|id| id == credential_id))
        .collect();
    let hashes = kb_claims.get("transaction_data_hashes");
    if relevant.is_empty() {
        return match hashes {
            None => Ok(()),
            Some(_) => Err(TransactionDataMismatch::Unexpected),
        };
    }
    let hashes = hashes.ok_or(TransactionDataMismatch::MissingHashes)?;
    let hashes = non_empty_strings(Some(hashes)).ok_or(TransactionDataMismatch::InvalidHashes)?;
    match kb_claims.get("transaction_data_hashes_alg") {
        // B.3.3: REQUIRED when the request named it; sha-256 by default otherwise.
        None if relevant.iter().any(|item| item.explicit_algorithm) => {
            return Err(TransactionDataMismatch::MissingAlgorithm);
        }
        None => {}
        Some(Value::String(alg)) if alg == SHA_256 => {}
        Some(other) => {
            let name = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            return Err(TransactionDataMismatch::UnsupportedAlgorithm(name));
        }
    }
    let expected: HashSet<String> = relevant.iter().map(|item| item.hash()).collect();
    let given: HashSet<&str> = hashes.iter().map(String::as_str).collect();
    // Every requested item hashed, nothing else, and no hash twice.
    if given.len() != hashes.len()
        || given.len() != expected.len()
        || !expected.iter().all(|hash| given.contains(hash.as_str()))
    {
        return Err(TransactionDataMismatch::HashMismatch);
    }
    Ok(())
}

fn non_empty_strings(value: Option<&Value>) -> Option<Vec<String>> {
    let items = value?.as_array().filter(|items| !items.is_empty())?;
    items
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}

fn invalid(reason: String) -> VerifierError {
    VerifierError::InvalidRequest(format!("transaction_data: {reason}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn query() -> DcqlQuery {
        DcqlQuery::parse(json!({"credentials": [
            {"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:pid"]}},
            {"id": "card", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:card"]}}
        ]}))
        .unwrap()
    }

    fn items(values: Value) -> Result<Vec<TransactionData>, VerifierError> {
        let Value::Array(values) = values else {
            unreachable!()
        };
        TransactionData::parse_all(values, &query())
    }

    fn kb(claims: Value) -> Map<String, Value> {
        let Value::Object(claims) = claims else {
            unreachable!()
        };
        claims
    }

    #[test]
    fn requests_with_malformed_transaction_data_are_refused() {
        for bad in [
            json!([1]),
            json!([{"credential_ids": ["pid"]}]),
            json!([{"type": "", "credential_ids": ["pid"]}]),
            json!([{"type": "payment"}]),
            json!([{"type": "payment", "credential_ids": []}]),
            json!([{"type": "payment", "credential_ids": ["other"]}]),
            json!([{"type": "payment", "credential_ids": ["pid"], "transaction_data_hashes_alg": []}]),
            json!([{"type": "payment", "credential_ids": ["pid"],
                "transaction_data_hashes_alg": ["sha-256", "sha-384"]}]),
        ] {
            assert!(
                matches!(items(bad.clone()), Err(VerifierError::InvalidRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_item_is_sent_as_base64url_json_and_hashed_over_that_text() {
        let parsed =
            items(json!([{"type": "payment", "credential_ids": ["pid"], "amount": 5}])).unwrap();
        let text = base64url::decode(parsed[0].encoded(), "item").unwrap();
        let object: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(object["amount"], 5);
        assert_eq!(
            parsed[0].hash(),
            base64url::encode(Sha256::digest(parsed[0].encoded().as_bytes()))
        );
    }

    #[test]
    fn hashes_must_cover_exactly_the_items_of_that_credential() {
        let parsed = items(json!([
            {"type": "payment", "credential_ids": ["pid"]},
            {"type": "consent", "credential_ids": ["pid", "card"]},
            {"type": "sign", "credential_ids": ["card"], "transaction_data_hashes_alg": ["sha-256"]}
        ]))
        .unwrap();
        let (payment, consent, sign) = (parsed[0].hash(), parsed[1].hash(), parsed[2].hash());
        let check = |id: &str, claims: Value| check_binding(&parsed, id, &kb(claims));
        use TransactionDataMismatch as M;
        assert_eq!(
            check(
                "pid",
                json!({"transaction_data_hashes": [consent, payment]})
            ),
            Ok(())
        );
        assert_eq!(
            check(
                "pid",
                json!({"transaction_data_hashes": [payment, consent],
                "transaction_data_hashes_alg": "sha-256"})
            ),
            Ok(())
        );
        assert_eq!(check("pid", json!({})), Err(M::MissingHashes));
        assert_eq!(
            check("pid", json!({"transaction_data_hashes": "x"})),
            Err(M::InvalidHashes)
        );
        assert_eq!(
            check("pid", json!({"transaction_data_hashes": []})),
            Err(M::InvalidHashes)
        );
        assert_eq!(
            check("pid", json!({"transaction_data_hashes": [payment]})),
            Err(M::HashMismatch)
        );
        assert_eq!(
            check(
                "pid",
                json!({"transaction_data_hashes": [payment, consent, sign]})
            ),
            Err(M::HashMismatch)
        );
        assert_eq!(
            check(
                "pid",
                json!({"transaction_data_hashes": [payment, payment, consent]})
            ),
            Err(M::HashMismatch)
        );
        assert_eq!(
            check(
                "pid",
                json!({"transaction_data_hashes": [payment, consent],
                "transaction_data_hashes_alg": "sha-384"})
            ),
            Err(M::UnsupportedAlgorithm("sha-384".into()))
        );
        // The request named the algorithm for `sign`, so the KB-JWT must name it too.
        assert_eq!(
            check("card", json!({"transaction_data_hashes": [consent, sign]})),
            Err(M::MissingAlgorithm)
        );
        assert_eq!(
            check(
                "card",
                json!({"transaction_data_hashes": [consent, sign],
                "transaction_data_hashes_alg": "sha-256"})
            ),
            Ok(())
        );
        // Without transaction data for a credential, a KB-JWT binding some is refused.
        let none = items(json!([])).unwrap();
        assert_eq!(check_binding(&none, "pid", &kb(json!({}))), Ok(()));
        assert_eq!(
            check_binding(
                &none,
                "pid",
                &kb(json!({"transaction_data_hashes": [payment]}))
            ),
            Err(M::Unexpected)
        );
    }
}
