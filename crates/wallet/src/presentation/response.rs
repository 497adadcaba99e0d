//! The Authorization Response (OpenID4VP 1.0 s8): one SD-JWT presentation with a KB-JWT per
//! answered credential query, encrypted to the verifier's per-request key and posted to its
//! `response_uri` (`direct_post.jwt`, s8.3).
use immerse_jose::jwe::{self, KeyManagement};
use immerse_jose::{PublicJwk, jwe::ContentEncryption};
use immerse_sd_jwt::{ClaimPath, KeyBindingInput, Limits, SdJwt, present};
use immerse_verifier::dcql::PathSegment;
use serde_json::{Map, Value, json};

use super::PresentationError;
use super::request::{check_endpoint, printable_prefix, read_bounded};
use crate::{StoredCredential, Wallet};

/// The claims path of DCQL (OpenID4VP 1.0 s7) as an SD-JWT selection: a wildcard selects the
/// whole array, which `present` reveals with every element.
pub(crate) fn claim_path(segments: &[PathSegment]) -> ClaimPath {
    let mut path = ClaimPath::root();
    for segment in segments {
        path = match segment {
            PathSegment::Name(name) => path.name(name.clone()),
            PathSegment::Index(index) => match usize::try_from(*index) {
                Ok(index) => path.index(index),
                Err(_) => return path,
            },
            PathSegment::All(()) => return path,
        };
    }
    path
}

/// The presentation of `credential` revealing `selection`, bound with a KB-JWT to the
/// verifier's full Client Identifier and nonce (RFC 9901 s4.3; OpenID4VP 1.0 appendix B.3.6).
pub(crate) async fn presentation(
    credential: &StoredCredential,
    selection: &[ClaimPath],
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<String, PresentationError> {
    let sd_jwt = SdJwt::parse(&credential.sd_jwt, &Limits::default())?;
    let input = KeyBindingInput {
        audience: client_id,
        nonce,
        issued_at: Some(now),
    };
    Ok(present(
        &sd_jwt,
        selection,
        Some((&*credential.holder_key, input)),
        &Limits::default(),
    )
    .await?)
}

/// Where the response goes and how it is sealed.
pub(crate) struct ResponseTarget<'a> {
    pub response_uri: &'a str,
    pub state: Option<&'a str>,
    pub recipient: &'a PublicJwk,
    pub enc: ContentEncryption,
}

/// Encrypts `{vp_token, state}` (s8.3: an unsigned, encrypted JWT payload) and posts it as the
/// form parameter `response`. The verifier's answer may carry a `redirect_uri` (s8.2), which is
/// returned when it is a URL the holder's browser may be sent to.
pub(crate) async fn post_response(
    wallet: &Wallet,
    target: &ResponseTarget<'_>,
    vp_token: Map<String, Value>,
) -> Result<Option<String>, PresentationError> {
    let mut payload = json!({"vp_token": vp_token});
    if let (Some(state), Some(object)) = (target.state, payload.as_object_mut()) {
        object.insert("state".into(), json!(state));
    }
    let jwe = jwe::encrypt_compact(
        payload.to_string().as_bytes(),
        target.recipient,
        KeyManagement::EcdhEs,
        target.enc,
        &Map::new(),
    )?;
    let url = target.response_uri;
    let response = wallet
        .http()
        .post(wallet.locate(url))
        .form(&[("response", jwe)])
        .send()
        .await
        .map_err(|err| PresentationError::Unreachable {
            url: url.to_owned(),
            reason: err.to_string(),
        })?;
    let status = response.status();
    let body = read_bounded(response, wallet.config().max_response_bytes)
        .await
        .map_err(|reason| PresentationError::Unreachable {
            url: url.to_owned(),
            reason,
        })?;
    if !status.is_success() {
        return Err(PresentationError::VerifierRefused {
            url: url.to_owned(),
            status: status.as_u16(),
            body: printable_prefix(&body),
        });
    }
    // s8.2: the body is JSON; `redirect_uri` is optional. An empty body means none.
    if body.is_empty() {
        return Ok(None);
    }
    let answer: Value =
        serde_json::from_slice(&body).map_err(|_| PresentationError::VerifierRefused {
            url: url.to_owned(),
            status: status.as_u16(),
            body: printable_prefix(&body),
        })?;
    match answer.get("redirect_uri") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(redirect)) => {
            // Only a web URL: a `javascript:` or `data:` redirect would run in the consent
            // page's origin.
            check_endpoint(redirect, "redirect_uri")?;
            Ok(Some(redirect.clone()))
        }
        Some(_) => Err(PresentationError::VerifierRefused {
            url: url.to_owned(),
            status: status.as_u16(),
            body: "redirect_uri is not a string".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dcql_paths_become_sd_jwt_selections() {
        let path: Vec<PathSegment> =
            serde_json::from_value(json!(["address", "locality"])).unwrap();
        assert_eq!(
            claim_path(&path),
            ClaimPath::claim("address").name("locality")
        );
        let path: Vec<PathSegment> = serde_json::from_value(json!(["nationalities", 1])).unwrap();
        assert_eq!(
            claim_path(&path),
            ClaimPath::claim("nationalities").index(1)
        );
        // A wildcard reveals the array whole.
        let path: Vec<PathSegment> =
            serde_json::from_value(json!(["nationalities", null, "x"])).unwrap();
        assert_eq!(claim_path(&path), ClaimPath::claim("nationalities"));
    }
}
