//! The compact serialization (RFC 9901 s4): `<JWT>~<D.1>~...~<D.N>~[<KB-JWT>]`.
use immerse_jose::base64url;
use serde_json::{Map, Value};

use crate::{Disclosure, Error, json};

/// Bounds on untrusted input, checked before any expensive work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total length of the presentation in bytes.
    pub max_len: usize,
    pub max_disclosures: usize,
    /// Nesting of objects and arrays in the processed payload, disclosures included. Kept under
    /// serde_json's own recursion limit (128).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_len: 256 * 1024,
            max_disclosures: 512,
            max_depth: 32,
        }
    }
}

/// An SD-JWT as issued: the issuer-signed JWT and every disclosure. The holder keeps this and
/// presents a subset of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdJwt {
    jwt: String,
    disclosures: Vec<Disclosure>,
}

impl SdJwt {
    pub(crate) fn from_parts(jwt: String, disclosures: Vec<Disclosure>) -> Self {
        Self { jwt, disclosures }
    }

    /// Parses an issued SD-JWT. RFC 9901 s7.2: one that carries a KB-JWT is refused. The
    /// signature is not checked here: the holder checks a credential with [`crate::verify`] when
    /// it receives it.
    pub fn parse(text: &str, limits: &Limits) -> Result<Self, Error> {
        let parts = split(text, limits)?;
        if parts.key_binding.is_some() {
            return Err(Error::IssuanceWithKeyBinding);
        }
        let disclosures = parts
            .disclosures
            .iter()
            .map(|encoded| Disclosure::parse(encoded, limits.max_depth))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            jwt: parts.jwt.to_owned(),
            disclosures,
        })
    }

    /// The issuer-signed JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    pub fn disclosures(&self) -> &[Disclosure] {
        &self.disclosures
    }

    /// `<JWT>~<D.1>~...~<D.N>~`, the disclosures in the text they were issued in.
    pub fn to_compact(&self) -> String {
        compact(&self.jwt, self.disclosures.iter())
    }

    /// The JWT payload, decoded but not verified.
    pub(crate) fn unverified_payload(&self, max_depth: usize) -> Result<Map<String, Value>, Error> {
        let payload = self.jwt.split('.').nth(1).ok_or(Error::Json {
            part: "JWT payload",
            reason: "not a compact JWS".into(),
        })?;
        let bytes =
            base64url::decode(payload, "JWT payload").map_err(|_| Error::Base64("JWT payload"))?;
        json::parse_object(&bytes, "JWT payload", max_depth)
    }
}

/// Joins a JWT and disclosures with `~`, ending with `~` (RFC 9901 s4).
pub(crate) fn compact<'a>(jwt: &str, disclosures: impl Iterator<Item = &'a Disclosure>) -> String {
    let mut text = String::from(jwt);
    text.push('~');
    for disclosure in disclosures {
        text.push_str(disclosure.encoded());
        text.push('~');
    }
    text
}

/// The components of a presentation, still as text.
pub(crate) struct Parts<'a> {
    pub jwt: &'a str,
    pub disclosures: Vec<&'a str>,
    pub key_binding: Option<&'a str>,
    /// Everything up to and including the last `~`: the input of `sd_hash` (RFC 9901 s4.3.1).
    pub sd_jwt: &'a str,
}

/// Splits a presentation (RFC 9901 s4, s7.1 step 1), bounded by `limits`.
pub(crate) fn split<'a>(text: &'a str, limits: &Limits) -> Result<Parts<'a>, Error> {
    if text.len() > limits.max_len {
        return Err(Error::TooLarge(text.len()));
    }
    let last = text.rfind('~').ok_or(Error::MissingSeparator)?;
    let (sd_jwt, tail) = text.split_at(last + 1);
    let key_binding = match tail {
        "" => None,
        // A JWT has two dots; a disclosure has none. A trailing component without them is a
        // disclosure with the final `~` missing.
        kb if kb.contains('.') => Some(kb),
        _ => return Err(Error::MissingTrailingSeparator),
    };
    let mut components = sd_jwt[..last].split('~');
    let jwt = components.next().unwrap_or_default();
    if jwt.is_empty() {
        return Err(Error::EmptyComponent);
    }
    let mut disclosures = Vec::new();
    for component in components {
        if component.is_empty() {
            return Err(Error::EmptyComponent);
        }
        if disclosures.len() == limits.max_disclosures {
            return Err(Error::TooManyDisclosures(limits.max_disclosures));
        }
        disclosures.push(component);
    }
    Ok(Parts {
        jwt,
        disclosures,
        key_binding,
        sd_jwt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_jwt_disclosures_and_key_binding() {
        let limits = Limits::default();
        let parts = split("a.b.c~d1~d2~", &limits).expect("splits");
        assert_eq!(parts.jwt, "a.b.c");
        assert_eq!(parts.disclosures, ["d1", "d2"]);
        assert_eq!(parts.key_binding, None);
        assert_eq!(parts.sd_jwt, "a.b.c~d1~d2~");

        let parts = split("a.b.c~d1~x.y.z", &limits).expect("splits");
        assert_eq!(parts.key_binding, Some("x.y.z"));
        assert_eq!(parts.sd_jwt, "a.b.c~d1~");

        let parts = split("a.b.c~", &limits).expect("splits");
        assert!(parts.disclosures.is_empty());
    }

    #[test]
    fn malformed_separators_are_refused() {
        let limits = Limits::default();
        assert!(matches!(
            split("a.b.c", &limits),
            Err(Error::MissingSeparator)
        ));
        assert!(matches!(
            split("a.b.c~d1", &limits),
            Err(Error::MissingTrailingSeparator)
        ));
        assert!(matches!(
            split("a.b.c~~d1~", &limits),
            Err(Error::EmptyComponent)
        ));
        assert!(matches!(split("~d1~", &limits), Err(Error::EmptyComponent)));
    }

    #[test]
    fn bounds_are_checked_first() {
        let limits = Limits {
            max_len: 10,
            ..Limits::default()
        };
        assert!(matches!(
            split("a.b.c~d1~d2~d3~", &limits),
            Err(Error::TooLarge(15))
        ));
        let limits = Limits {
            max_disclosures: 2,
            ..Limits::default()
        };
        assert!(matches!(
            split("a.b.c~d1~d2~d3~", &limits),
            Err(Error::TooManyDisclosures(2))
        ));
    }
}
