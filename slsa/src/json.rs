//! JSON in and out: a strict reader that refuses duplicate object members anywhere in the
//! document, and a canonical writer with a stable key order.
//!
//! Why refuse duplicates: JSON (RFC 8259 s4) leaves their meaning open, and parsers disagree
//! (Go's encoding/json keeps the last, others the first). A signed statement read one way by
//! the signer's tooling and another way here is a classic parser-differential attack, so a
//! member that appears twice makes the whole payload malformed.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parse bytes into a [`Value`], refusing duplicate members and trailing data. Nesting depth is
/// bounded by serde_json's recursion limit (128), so deep input is an error, not a stack overflow.
pub(crate) fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate member {key:?}")));
            }
            let value = map.next_value_seed(StrictValue)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// `null` and absent are the same as empty for optional arrays (SLSA provenance v1, "Parsing
/// rules": optional fields MAY be unset or null, equivalent to empty for objects and arrays).
pub(crate) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Serialize to canonical JSON: object members sorted by their UTF-16 code units (RFC 8785
/// s3.2.3), no insignificant whitespace, strings escaped as serde_json does (the RFC 8785 set for
/// the characters that must be escaped). Integers print exactly; the statements we generate hold
/// no floating-point numbers unless a caller puts one in a parameter. The order never depends on
/// how serde_json's `Map` is configured elsewhere in the build (`preserve_order`), so identical
/// inputs give identical bytes.
pub(crate) fn to_canonical_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = Vec::new();
    write_canonical(&value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                write_canonical(member, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_strict(br#"{"x":[{"b":1,"b":1}]}"#).is_err());
        assert!(parse_strict(br#"{"a":1,"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn trailing_data_and_bad_utf8_are_refused() {
        assert!(parse_strict(br#"{"a":1} {}"#).is_err());
        assert!(parse_strict(b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse_strict(deep.as_bytes()).is_err());
    }

    #[test]
    fn canonical_output_sorts_members_by_utf16() {
        let v: Value = serde_json::from_str(
            r#"{"b":1,"a":{"d":[true,null],"c":"\u0001é"},"\uffff":0,"\ud83d\ude00":0}"#,
        )
        .expect("test JSON");
        let out = to_canonical_vec(&v).expect("serializable");
        // U+FFFF sorts before U+1F600 in UTF-8 but after it in UTF-16 (lead surrogate D83D).
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "{\"a\":{\"c\":\"\\u0001é\",\"d\":[true,null]},\"b\":1,\"😀\":0,\"\u{ffff}\":0}"
        );
    }
}
