//! JWS compact serialization (RFC 7515) with explicit typing (RFC 8725 s3.11).
//!
//! Verification order: structure, header (algorithm allowlist, `typ`, `crit`), key from the
//! caller's [`KeySource`], key/algorithm fit, signature. `jku` and `x5u` are never fetched.
use serde_json::{Map, Value};

use crate::{Algorithm, Error, PublicJwk, PublicJwkSet, Signer, Verified, base64url, json};

/// Header parameters registered by RFC 7515/7516/7518; never acceptable inside `crit`.
const REGISTERED_HEADERS: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc",
    "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c",
];

/// A parsed protected header. Only the members the checks need are typed; the rest stay in
/// `members` for protocol code (for example `x5c`).
#[derive(Debug, Clone)]
pub struct Header {
    pub alg: Algorithm,
    pub typ: Option<String>,
    pub kid: Option<String>,
    /// An embedded public key, already refused if it holds a private member.
    pub jwk: Option<PublicJwk>,
    pub members: Map<String, Value>,
}

/// The `typ` a verifier demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedType<'a> {
    /// This media type, compared as RFC 7515 s4.1.9 says (case-insensitive, `application/`
    /// optional). A JWS without `typ` is refused.
    Named(&'a str),
    /// No `typ`, or the generic `JWT`: only for tokens whose issuers predate explicit typing
    /// (RFC 8725 s3.11), such as Kubernetes service-account tokens. The caller must then tell
    /// tokens apart by `iss` and `aud`, and must name a key source that signs nothing else.
    Untyped,
}

impl ExpectedType<'_> {
    fn accepts(self, found: Option<&str>) -> bool {
        match (self, found) {
            (Self::Named(expected), Some(found)) => same_media_type(found, expected),
            (Self::Named(_), None) => false,
            (Self::Untyped, None) => true,
            (Self::Untyped, Some(found)) => same_media_type(found, "JWT"),
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Named(expected) => expected.to_owned(),
            Self::Untyped => "none, or JWT".to_owned(),
        }
    }
}

/// What a verifier demands of a JWS.
#[derive(Debug, Clone)]
pub struct Validation<'a> {
    pub typ: ExpectedType<'a>,
    pub algorithms: &'a [Algorithm],
    /// Extension names the caller implements; any other `crit` entry is refused.
    pub understood_critical: &'a [&'a str],
}

impl<'a> Validation<'a> {
    /// Expects `typ`, allows ES256 only, understands no critical extension.
    pub fn new(typ: &'a str) -> Self {
        Self {
            typ: ExpectedType::Named(typ),
            algorithms: Algorithm::DEFAULT_ALLOWED,
            understood_critical: &[],
        }
    }

    /// For tokens without explicit typing; see [`ExpectedType::Untyped`].
    pub fn untyped() -> Self {
        Self {
            typ: ExpectedType::Untyped,
            ..Self::new("")
        }
    }

    pub fn with_algorithms(mut self, algorithms: &'a [Algorithm]) -> Self {
        self.algorithms = algorithms;
        self
    }
}

/// Where the verification key comes from. An implementation returns the key the header points
/// at, or an error: it never falls back to some other key.
pub trait KeySource {
    fn resolve(&self, header: &Header) -> Result<PublicJwk, Error>;
}

/// Keys looked up by `kid`; a header without `kid` is refused even if the set has one key.
impl KeySource for PublicJwkSet {
    fn resolve(&self, header: &Header) -> Result<PublicJwk, Error> {
        let kid = header.kid.as_deref().ok_or(Error::MissingKid)?;
        self.find(kid)
            .cloned()
            .ok_or_else(|| Error::UnknownKey(kid.to_owned()))
    }
}

/// One pinned key. A header `kid` that names another key is refused.
impl KeySource for PublicJwk {
    fn resolve(&self, header: &Header) -> Result<PublicJwk, Error> {
        match (header.kid.as_deref(), self.kid()) {
            (Some(wanted), Some(own)) if wanted != own => Err(Error::UnknownKey(wanted.to_owned())),
            _ => Ok(self.clone()),
        }
    }
}

/// The key travels in the header's `jwk` (key proofs, holder keys). The caller must then bind
/// that key to something it trusts; the signature alone only proves possession.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedJwk;

impl KeySource for EmbeddedJwk {
    fn resolve(&self, header: &Header) -> Result<PublicJwk, Error> {
        header.jwk.clone().ok_or(Error::MissingEmbeddedKey)
    }
}

/// A JWS whose signature verified.
#[derive(Debug, Clone)]
pub struct Jws {
    pub header: Header,
    pub payload: Vec<u8>,
    /// The key that verified the signature.
    pub key: PublicJwk,
}

/// Verifies a compact JWS against `validation`, with the key `keys` returns.
pub fn verify_compact(
    token: &str,
    validation: &Validation<'_>,
    keys: &dyn KeySource,
) -> Result<Verified<Jws>, Error> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::MalformedJws("a compact JWS has three parts"));
    };
    let header_object =
        json::parse_object(&base64url::decode(header_b64, "JWS header")?, "JWS header")?;
    let header = parse_header(header_object, validation)?;
    let payload = base64url::decode(payload_b64, "JWS payload")?;
    let signature = base64url::decode(signature_b64, "JWS signature")?;

    let key = keys.resolve(&header)?;
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    verify_signature(
        header.alg,
        &key,
        &token.as_bytes()[..signing_input_len],
        &signature,
    )?;
    Ok(Verified::new(Jws {
        header,
        payload,
        key,
    }))
}

/// Checks a JOSE signature over `message` with `key` (RFC 7518 s3), on OpenSSL.
pub fn verify_signature(
    alg: Algorithm,
    key: &PublicJwk,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    use openssl::hash::MessageDigest;
    use openssl::rsa::Padding;
    use openssl::sign::{RsaPssSaltlen, Verifier};
    key.check_algorithm(alg)?;
    let public = key.to_openssl()?;
    let valid = match alg {
        Algorithm::Es256 | Algorithm::Es384 => {
            // RFC 7518 s3.4: the signature is R || S, each exactly the field size.
            let (digest, half) = match alg {
                Algorithm::Es256 => (openssl::sha::sha256(message).to_vec(), 32),
                _ => (openssl::sha::sha384(message).to_vec(), 48),
            };
            if signature.len() != 2 * half {
                return Err(Error::InvalidSignature);
            }
            let (r, s) = signature.split_at(half);
            let ecdsa = openssl::bn::BigNum::from_slice(r)
                .and_then(|r| Ok((r, openssl::bn::BigNum::from_slice(s)?)))
                .and_then(|(r, s)| openssl::ecdsa::EcdsaSig::from_private_components(r, s))
                .map_err(|_| Error::InvalidSignature)?;
            let ec = public.ec_key().map_err(|err| Error::Key(err.to_string()))?;
            ecdsa.verify(&digest, &ec).unwrap_or(false)
        }
        Algorithm::EdDsa => Verifier::new_without_digest(&public)
            .and_then(|mut verifier| verifier.verify_oneshot(signature, message))
            .unwrap_or(false),
        Algorithm::Rs256 | Algorithm::Ps256 => Verifier::new(MessageDigest::sha256(), &public)
            .and_then(|mut verifier| {
                if alg == Algorithm::Ps256 {
                    verifier.set_rsa_padding(Padding::PKCS1_PSS)?;
                    verifier.set_rsa_mgf1_md(MessageDigest::sha256())?;
                    verifier.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
                }
                verifier.verify_oneshot(signature, message)
            })
            .unwrap_or(false),
    };
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidSignature)
    }
}

fn parse_header(members: Map<String, Value>, validation: &Validation<'_>) -> Result<Header, Error> {
    let alg_name = match members.get("alg") {
        Some(Value::String(name)) => name.as_str(),
        _ => return Err(Error::MalformedJws("alg is missing or not a string")),
    };
    let alg: Algorithm = alg_name.parse()?;
    if !validation.algorithms.contains(&alg) {
        return Err(Error::AlgorithmNotAllowed(alg_name.to_owned()));
    }
    let typ = optional_string(&members, "typ")?;
    if !validation.typ.accepts(typ.as_deref()) {
        return Err(Error::UnexpectedType {
            expected: validation.typ.describe(),
            found: typ,
        });
    }
    check_critical(&members, validation.understood_critical)?;
    let jwk = match members.get("jwk") {
        None => None,
        Some(value) => Some(PublicJwk::try_from(value.clone())?),
    };
    Ok(Header {
        alg,
        typ,
        kid: optional_string(&members, "kid")?,
        jwk,
        members,
    })
}

fn optional_string(
    members: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, Error> {
    match members.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(Error::MalformedJws("a header member has the wrong type")),
    }
}

/// RFC 7515 s4.1.11: `crit` is a non-empty list of extension names, each present in the header,
/// none registered, and every one understood by the caller.
pub(crate) fn check_critical(
    members: &Map<String, Value>,
    understood: &[&str],
) -> Result<(), Error> {
    let Some(crit) = members.get("crit") else {
        return Ok(());
    };
    let names = match crit {
        Value::Array(names) if !names.is_empty() => names,
        _ => return Err(Error::MalformedJws("crit must be a non-empty array")),
    };
    for name in names {
        let Value::String(name) = name else {
            return Err(Error::MalformedJws("crit entries must be strings"));
        };
        if REGISTERED_HEADERS.contains(&name.as_str())
            || !members.contains_key(name)
            || !understood.contains(&name.as_str())
        {
            return Err(Error::UnknownCritical(name.clone()));
        }
    }
    Ok(())
}

/// RFC 7515 s4.1.9: media types compare case-insensitively and `application/` may be left out.
fn same_media_type(found: &str, expected: &str) -> bool {
    fn short(media_type: &str) -> &str {
        let lower_prefix = media_type
            .get(..12)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("application/"));
        if lower_prefix {
            &media_type[12..]
        } else {
            media_type
        }
    }
    short(found).eq_ignore_ascii_case(short(expected))
}

/// The protected header of a JWS we produce.
#[derive(Debug, Clone)]
pub struct SigningHeader {
    typ: String,
    embed_jwk: bool,
    extra: Map<String, Value>,
}

impl SigningHeader {
    /// A header with `alg`, this `typ` and the signer's `kid`.
    pub fn new(typ: impl Into<String>) -> Self {
        Self {
            typ: typ.into(),
            embed_jwk: false,
            extra: Map::new(),
        }
    }

    /// Puts the signer's public key in `jwk` instead of naming it by `kid`.
    pub fn embed_jwk(mut self) -> Self {
        self.embed_jwk = true;
        self
    }

    /// Adds a protocol-specific member (for example `x5c` or `trust_chain`).
    pub fn with(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }
}

/// Signs `payload` as a compact JWS with `signer`.
pub async fn sign_compact(
    signer: &dyn Signer,
    header: &SigningHeader,
    payload: &[u8],
) -> Result<String, Error> {
    let mut members = header.extra.clone();
    members.insert(
        "alg".into(),
        Value::String(signer.algorithm().name().into()),
    );
    members.insert("typ".into(), Value::String(header.typ.clone()));
    if header.embed_jwk {
        let mut jwk = signer.public_jwk().to_object();
        jwk.remove("kid");
        members.insert("jwk".into(), Value::Object(jwk));
    } else {
        members.insert("kid".into(), Value::String(signer.kid().to_owned()));
    }
    let header_json =
        serde_json::to_vec(&members).map_err(|err| Error::Signing(err.to_string()))?;
    let mut token = base64url::encode(header_json);
    token.push('.');
    token.push_str(&base64url::encode(payload));
    let signature = signer.sign(token.as_bytes()).await?;
    token.push('.');
    token.push_str(&base64url::encode(signature));
    Ok(token)
}

#[cfg(test)]
mod tests;
