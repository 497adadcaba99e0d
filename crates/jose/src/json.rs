//! JSON objects from untrusted bytes: an object or an error, and never a silently chosen
//! duplicate member (RFC 7515 s5.2 step 4 allows refusing them; we do).
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::Error;

/// The members of one JSON object in document order, duplicates kept so they can be refused.
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = access.next_entry::<String, Value>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// Parses `bytes` as one JSON object whose top-level members are unique.
pub(crate) fn parse_object(bytes: &[u8], part: &'static str) -> Result<Map<String, Value>, Error> {
    let Members(members) = serde_json::from_slice(bytes).map_err(|err| Error::Json {
        part,
        reason: err.to_string(),
    })?;
    let mut object = Map::new();
    for (name, value) in members {
        if object.contains_key(&name) {
            return Err(Error::DuplicateMember(name));
        }
        object.insert(name, value);
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_member_is_refused() {
        let err = parse_object(br#"{"alg":"ES256","alg":"none"}"#, "header").unwrap_err();
        assert_eq!(err, Error::DuplicateMember("alg".into()));
    }

    #[test]
    fn non_object_is_refused() {
        assert!(matches!(
            parse_object(b"[1]", "header"),
            Err(Error::Json { .. })
        ));
        assert!(matches!(
            parse_object(b"{", "header"),
            Err(Error::Json { .. })
        ));
    }
}
