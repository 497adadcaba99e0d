//! The reference a Referenced Token carries: `status.status_list {idx, uri}` (draft s6.1, s6.2).
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::StatusListError;
use crate::error::json_kind;

/// Where a Referenced Token's status lives: entry `idx` of the Status List Token at `uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReference {
    pub idx: u64,
    pub uri: String,
}

impl StatusReference {
    pub fn new(idx: u64, uri: impl Into<String>) -> Self {
        Self {
            idx,
            uri: uri.into(),
        }
    }

    /// The `status` claim value to put in a Referenced Token (draft s6.2).
    pub fn to_status_claim(&self) -> Value {
        serde_json::json!({ "status_list": { "idx": self.idx, "uri": self.uri } })
    }

    /// Reads `status.status_list` from a Referenced Token's claims (draft s8.3 step 1). Other
    /// members of `status` (other status mechanisms, s6.1) and of `status_list` are ignored.
    pub fn from_claims(claims: &Map<String, Value>) -> Result<Self, StatusListError> {
        let status = claims
            .get("status")
            .ok_or(StatusListError::MissingReference("status"))?;
        let status = status
            .as_object()
            .ok_or(StatusListError::InvalidReference {
                member: "status",
                expected: "an object",
                found: json_kind(status),
            })?;
        let list = status
            .get("status_list")
            .ok_or(StatusListError::MissingReference("status.status_list"))?;
        let list = list.as_object().ok_or(StatusListError::InvalidReference {
            member: "status.status_list",
            expected: "an object",
            found: json_kind(list),
        })?;
        // s6.2: idx is a non-negative integer.
        let idx = match list.get("idx") {
            None => return Err(StatusListError::MissingReference("status.status_list.idx")),
            Some(Value::Number(n)) if n.is_u64() => n.as_u64().unwrap_or_default(),
            Some(other) => {
                return Err(StatusListError::InvalidReference {
                    member: "status.status_list.idx",
                    expected: "a non-negative integer",
                    found: match other {
                        Value::Number(n) if n.is_i64() => "a negative integer",
                        _ => json_kind(other),
                    },
                });
            }
        };
        // s6.2: uri is a string holding a URI (RFC 3986); it is compared, never parsed, here.
        let uri = match list.get("uri") {
            None => return Err(StatusListError::MissingReference("status.status_list.uri")),
            Some(Value::String(uri)) if !uri.is_empty() => uri.clone(),
            Some(other) => {
                return Err(StatusListError::InvalidReference {
                    member: "status.status_list.uri",
                    expected: "a non-empty string",
                    found: match other {
                        Value::String(_) => "an empty string",
                        _ => json_kind(other),
                    },
                });
            }
        };
        Ok(Self { idx, uri })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    /// The decoded Referenced Token of draft s6.2.
    #[test]
    fn draft_example_parses() {
        let payload = claims(json!({
            "status": {"status_list": {"idx": 0, "uri": "https://example.com/statuslists/1"}}
        }));
        assert_eq!(
            StatusReference::from_claims(&payload).unwrap(),
            StatusReference::new(0, "https://example.com/statuslists/1")
        );
    }

    #[test]
    fn status_claim_round_trips() {
        let reference = StatusReference::new(42, "https://issuer.example/status/7");
        let mut payload = Map::new();
        payload.insert("status".into(), reference.to_status_claim());
        assert_eq!(StatusReference::from_claims(&payload).unwrap(), reference);
    }

    #[test]
    fn malformed_references_are_refused() {
        let uri = "https://example.com/statuslists/1";
        let cases = [
            (json!({}), StatusListError::MissingReference("status")),
            (
                json!({"status": []}),
                StatusListError::InvalidReference {
                    member: "status",
                    expected: "an object",
                    found: "an array",
                },
            ),
            (
                json!({"status": {"other": {}}}),
                StatusListError::MissingReference("status.status_list"),
            ),
            (
                json!({"status": {"status_list": "x"}}),
                StatusListError::InvalidReference {
                    member: "status.status_list",
                    expected: "an object",
                    found: "a string",
                },
            ),
            (
                json!({"status": {"status_list": {"uri": uri}}}),
                StatusListError::MissingReference("status.status_list.idx"),
            ),
            (
                json!({"status": {"status_list": {"idx": -1, "uri": uri}}}),
                StatusListError::InvalidReference {
                    member: "status.status_list.idx",
                    expected: "a non-negative integer",
                    found: "a negative integer",
                },
            ),
            (
                json!({"status": {"status_list": {"idx": 1.5, "uri": uri}}}),
                StatusListError::InvalidReference {
                    member: "status.status_list.idx",
                    expected: "a non-negative integer",
                    found: "a fractional number",
                },
            ),
            (
                json!({"status": {"status_list": {"idx": "1", "uri": uri}}}),
                StatusListError::InvalidReference {
                    member: "status.status_list.idx",
                    expected: "a non-negative integer",
                    found: "a string",
                },
            ),
            (
                json!({"status": {"status_list": {"idx": 1}}}),
                StatusListError::MissingReference("status.status_list.uri"),
            ),
            (
                json!({"status": {"status_list": {"idx": 1, "uri": ""}}}),
                StatusListError::InvalidReference {
                    member: "status.status_list.uri",
                    expected: "a non-empty string",
                    found: "an empty string",
                },
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                StatusReference::from_claims(&claims(value.clone())),
                Err(expected),
                "{value}"
            );
        }
    }
}
