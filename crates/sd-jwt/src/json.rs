//! JSON from untrusted bytes: duplicate object members are refused at every level (a signed
//! payload must not mean two things) and nesting is bounded before serde_json's own recursion
//! limit, so deep input is an error and never a stack overflow.
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::Error;

/// Parses `bytes` as JSON with unique members and at most `max_depth` nested containers.
pub(crate) fn parse(bytes: &[u8], part: &'static str, max_depth: usize) -> Result<Value, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let seed = Strict {
        remaining: max_depth,
    };
    let value = seed.deserialize(&mut deserializer).map_err(|err| {
        if err.to_string().starts_with(DEPTH_MESSAGE) {
            Error::TooDeep(max_depth)
        } else {
            Error::Json {
                part,
                reason: err.to_string(),
            }
        }
    })?;
    deserializer.end().map_err(|err| Error::Json {
        part,
        reason: err.to_string(),
    })?;
    Ok(value)
}

/// Parses `bytes` as one JSON object (a JWT payload).
pub(crate) fn parse_object(
    bytes: &[u8],
    part: &'static str,
    max_depth: usize,
) -> Result<Map<String, Value>, Error> {
    match parse(bytes, part, max_depth)? {
        Value::Object(object) => Ok(object),
        _ => Err(Error::Json {
            part,
            reason: "not a JSON object".into(),
        }),
    }
}

/// The depth of the deepest container in `value`, computed without recursion.
pub(crate) fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(members) => Box::new(members.values()),
            _ => continue,
        };
        deepest = deepest.max(level + 1);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

const DEPTH_MESSAGE: &str = "nesting too deep";

struct Strict {
    remaining: usize,
}

impl Strict {
    fn nested<E: serde::de::Error>(&self) -> Result<Strict, E> {
        match self.remaining.checked_sub(1) {
            Some(remaining) => Ok(Strict { remaining }),
            None => Err(E::custom(DEPTH_MESSAGE)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }
    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let child = self.nested()?;
            match access.next_element_seed(child)? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let value = access.next_value_seed(self.nested()?)?;
            if members.insert(name.clone(), value).is_some() {
                return Err(A::Error::custom(format!("duplicate member {name:?}")));
            }
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_refused_at_any_level() {
        assert!(matches!(
            parse(br#"{"a":{"b":1,"b":2}}"#, "test", 8),
            Err(Error::Json { .. })
        ));
        assert!(parse(br#"{"a":{"b":1,"c":2}}"#, "test", 8).is_ok());
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_without_overflow() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse(deep.as_bytes(), "test", 16), Err(Error::TooDeep(16)));
        assert!(parse(b"[[[1]]]", "test", 3).is_ok());
        assert_eq!(parse(b"[[[[1]]]]", "test", 3), Err(Error::TooDeep(3)));
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&serde_json::json!(1)), 0);
        assert_eq!(depth(&serde_json::json!({"a": [1, {"b": []}]})), 4);
    }
}
