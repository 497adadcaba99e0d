//! Presentation (RFC 9901 s4.3, s6.2): the holder picks disclosures by claim path and may bind
//! the presentation to its key with a KB-JWT.
use immerse_jose::jws::SigningHeader;
use immerse_jose::{Signer, base64url, jwt};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::compact::compact;
use crate::process::process;
use crate::{ClaimPath, Error, Limits, PathElement, SdJwt};

/// The `typ` of a Key Binding JWT (RFC 9901 s4.3).
pub const KB_TYP: &str = "kb+jwt";

/// What the verifier asked the holder to bind the presentation to (RFC 9901 s4.3).
#[derive(Debug, Clone)]
pub struct KeyBindingInput<'a> {
    pub audience: &'a str,
    pub nonce: &'a str,
    /// `iat`; `None` reads the clock.
    pub issued_at: Option<i64>,
}

/// Builds a presentation of `sd_jwt` that reveals the claims at `selection`, with a KB-JWT signed
/// by `holder` when `key_binding` is given.
///
/// Selecting a path reveals the claim there completely: the disclosures on the way to it (a
/// nested claim needs its parents), the disclosure of the claim itself if it has one, and every
/// disclosure inside its value. A path that is neither disclosable nor present is refused.
pub async fn present(
    sd_jwt: &SdJwt,
    selection: &[ClaimPath],
    key_binding: Option<(&dyn Signer, KeyBindingInput<'_>)>,
    limits: &Limits,
) -> Result<String, Error> {
    let payload = sd_jwt.unverified_payload(limits.max_depth)?;
    let processed = process(payload, sd_jwt.disclosures(), limits.max_depth)?;
    let mut reveal = vec![false; sd_jwt.disclosures().len()];
    for selected in selection {
        let mut related = false;
        for (path, index) in &processed.disclosed {
            if path.is_prefix_of(selected) || selected.is_prefix_of(path) {
                reveal[*index] = true;
                related = true;
            }
        }
        if !related && !resolves(&processed.claims, selected) {
            return Err(Error::SelectionNotDisclosable(selected.clone()));
        }
    }
    let revealed = sd_jwt
        .disclosures()
        .iter()
        .zip(&reveal)
        .filter_map(|(disclosure, keep)| keep.then_some(disclosure));
    let mut presentation = compact(sd_jwt.jwt(), revealed);
    if let Some((holder, input)) = key_binding {
        presentation.push_str(&key_binding_jwt(holder, &input, &presentation).await?);
    }
    Ok(presentation)
}

/// RFC 9901 s4.3.1: `sd_hash` is base64url(SHA-256) over the presented SD-JWT, everything up to
/// and including the last `~`.
pub fn sd_hash(sd_jwt: &str) -> String {
    base64url::encode(Sha256::digest(sd_jwt.as_bytes()))
}

/// Signs the KB-JWT of RFC 9901 s4.3: header `typ: kb+jwt`; claims `iat`, `aud`, `nonce`,
/// `sd_hash`.
pub async fn key_binding_jwt(
    holder: &dyn Signer,
    input: &KeyBindingInput<'_>,
    sd_jwt: &str,
) -> Result<String, Error> {
    let claims = Map::from_iter([
        (
            "iat".to_owned(),
            Value::from(input.issued_at.unwrap_or_else(jwt::now)),
        ),
        ("aud".to_owned(), Value::from(input.audience)),
        ("nonce".to_owned(), Value::from(input.nonce)),
        ("sd_hash".to_owned(), Value::from(sd_hash(sd_jwt))),
    ]);
    jwt::sign(holder, &SigningHeader::new(KB_TYP), &claims)
        .await
        .map_err(Error::Signing)
}

/// Whether `path` names a claim that is always visible (no disclosure involved).
fn resolves(claims: &Map<String, Value>, path: &ClaimPath) -> bool {
    let mut elements = path.elements().iter();
    let mut current = match elements.next() {
        Some(PathElement::Name(name)) => claims.get(name),
        _ => None,
    };
    for element in elements {
        current = match (current, element) {
            (Some(Value::Object(members)), PathElement::Name(name)) => members.get(name),
            (Some(Value::Array(items)), PathElement::Index(index)) => items.get(*index),
            _ => None,
        };
    }
    current.is_some()
}
