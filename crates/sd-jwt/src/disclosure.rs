//! Disclosures (RFC 9901 s4.2.1, s4.2.2) and their digests (s4.2.3).
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Error, json};
use immerse_jose::base64url;

/// The only `_sd_alg` this crate issues and accepts (RFC 9901 s4.1.1: the default, and the one
/// every implementation supports).
pub const SD_ALG: &str = "sha-256";

/// Claim names a disclosure may never carry (RFC 9901 s4.2.1).
pub(crate) const FORBIDDEN_NAMES: &[&str] = &["_sd", "..."];

/// One disclosure, kept in the exact base64url text it was issued or received in: the digest is
/// over that text (RFC 9901 s4.2.3), so it is never re-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    encoded: String,
    salt: String,
    name: Option<String>,
    value: Value,
    digest: String,
}

impl Disclosure {
    /// Makes a disclosure for an object property (`name` given) or an array element, with a fresh
    /// 128-bit salt (RFC 9901 s4.2.1, s9.3).
    pub(crate) fn new(name: Option<&str>, value: Value) -> Result<Self, Error> {
        let salt = random_salt()?;
        let array = match name {
            Some(name) => Value::Array(vec![salt.clone().into(), name.into(), value.clone()]),
            None => Value::Array(vec![salt.clone().into(), value.clone()]),
        };
        let text = serde_json::to_string(&array).map_err(|err| Error::Json {
            part: "disclosure",
            reason: err.to_string(),
        })?;
        let encoded = base64url::encode(text);
        Ok(Self {
            digest: digest(&encoded),
            encoded,
            salt,
            name: name.map(str::to_owned),
            value,
        })
    }

    /// Parses a received disclosure. RFC 9901 s7.1 step 3: a JSON array of two elements
    /// (array element) or three (object property), the salt a string, the name a string other
    /// than `_sd` and `...`.
    pub fn parse(encoded: &str, max_depth: usize) -> Result<Self, Error> {
        let bytes =
            base64url::decode(encoded, "disclosure").map_err(|_| Error::Base64("disclosure"))?;
        let Value::Array(mut items) = json::parse(&bytes, "disclosure", max_depth)? else {
            return Err(Error::DisclosureNotArray);
        };
        let (salt, name, value) = match items.len() {
            2 => {
                let value = items.pop().unwrap_or(Value::Null);
                (items.pop(), None, value)
            }
            3 => {
                let value = items.pop().unwrap_or(Value::Null);
                let name = match items.pop() {
                    Some(Value::String(name)) => name,
                    _ => return Err(Error::DisclosureNameNotString),
                };
                (items.pop(), Some(name), value)
            }
            _ => return Err(Error::DisclosureNotArray),
        };
        let Some(Value::String(salt)) = salt else {
            return Err(Error::DisclosureSaltNotString);
        };
        if let Some(name) = &name
            && FORBIDDEN_NAMES.contains(&name.as_str())
        {
            return Err(Error::ForbiddenClaimName(name.clone()));
        }
        Ok(Self {
            digest: digest(encoded),
            encoded: encoded.to_owned(),
            salt,
            name,
            value,
        })
    }

    /// The base64url text, exactly as issued.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// The claim name, for an object property; `None` for an array element.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// base64url(SHA-256(ASCII(encoded))), the value `_sd` and `...` refer to it by.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// RFC 9901 s4.2.3: the digest is over the US-ASCII bytes of the base64url text.
pub(crate) fn digest(encoded: &str) -> String {
    base64url::encode(Sha256::digest(encoded.as_bytes()))
}

/// 128 bits from OpenSSL's CSPRNG, base64url-encoded (RFC 9901 s9.3 recommends 128 bits).
pub(crate) fn random_salt() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).map_err(|_| Error::Random)?;
    Ok(base64url::encode(bytes))
}

/// A decoy digest (RFC 9901 s4.2.5): the digest of random bytes, indistinguishable from a real
/// one.
pub(crate) fn decoy_digest() -> Result<String, Error> {
    Ok(digest(&random_salt()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 9901 s4.2.3: the known-answer digest of the family_name disclosure.
    #[test]
    fn rfc9901_disclosure_digest_known_answer() {
        let encoded = "WyI2cU1RdlJMNWhhaiIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0";
        let disclosure = Disclosure::parse(encoded, 16).expect("RFC example parses");
        assert_eq!(disclosure.salt(), "6qMQvRL5haj");
        assert_eq!(disclosure.name(), Some("family_name"));
        assert_eq!(disclosure.value(), &json!("Möbius"));
        assert_eq!(
            disclosure.digest(),
            "uutlBuYeMDyjLLTpf6Jxi7yNkEF35jdyWMn9U7b_RYY"
        );
    }

    /// RFC 9901 s4.2.2: an array-element disclosure and its digest.
    #[test]
    fn rfc9901_array_element_known_answer() {
        let disclosure =
            Disclosure::parse("WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0", 16).expect("parses");
        assert_eq!(disclosure.name(), None);
        assert_eq!(disclosure.value(), &json!("FR"));
        assert_eq!(
            disclosure.digest(),
            "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"
        );
    }

    /// RFC 9901 s4.2.1: the same content encoded differently has a different digest, because the
    /// digest is over the text as issued.
    #[test]
    fn digest_is_over_the_text_as_issued() {
        let escaped = Disclosure::parse(
            "WyI2cU1RdlJMNWhhaiIsICJmYW1pbHlfbmFtZSIsICJNXHUwMGY2Yml1cyJd",
            16,
        )
        .expect("parses");
        assert_eq!(escaped.value(), &json!("Möbius"));
        assert_ne!(
            escaped.digest(),
            "uutlBuYeMDyjLLTpf6Jxi7yNkEF35jdyWMn9U7b_RYY"
        );
    }

    #[test]
    fn malformed_disclosures_are_refused() {
        let enc = |value: Value| base64url::encode(value.to_string());
        assert_eq!(
            Disclosure::parse(&enc(json!(["salt"])), 16),
            Err(Error::DisclosureNotArray)
        );
        assert_eq!(
            Disclosure::parse(&enc(json!(["s", "n", 1, 2])), 16),
            Err(Error::DisclosureNotArray)
        );
        assert_eq!(
            Disclosure::parse(&enc(json!({"salt": "s"})), 16),
            Err(Error::DisclosureNotArray)
        );
        assert_eq!(
            Disclosure::parse(&enc(json!([1, "n", 1])), 16),
            Err(Error::DisclosureSaltNotString)
        );
        assert_eq!(
            Disclosure::parse(&enc(json!([1, 1])), 16),
            Err(Error::DisclosureSaltNotString)
        );
        assert_eq!(
            Disclosure::parse(&enc(json!(["s", 7, 1])), 16),
            Err(Error::DisclosureNameNotString)
        );
        for name in ["_sd", "..."] {
            assert_eq!(
                Disclosure::parse(&enc(json!(["s", name, 1])), 16),
                Err(Error::ForbiddenClaimName(name.into()))
            );
        }
        assert_eq!(
            Disclosure::parse("not base64!", 16),
            Err(Error::Base64("disclosure"))
        );
    }

    #[test]
    fn new_disclosures_round_trip_and_salts_differ() {
        let a = Disclosure::new(Some("given_name"), json!("Erika")).expect("new");
        let b = Disclosure::new(Some("given_name"), json!("Erika")).expect("new");
        assert_ne!(a.salt(), b.salt());
        assert_eq!(base64url::decode(a.salt(), "salt").map(|s| s.len()), Ok(16));
        let parsed = Disclosure::parse(a.encoded(), 16).expect("parses");
        assert_eq!(parsed, a);
    }
}
