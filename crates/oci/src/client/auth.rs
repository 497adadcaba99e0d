//! Registry authentication: anonymous, HTTP Basic, and the Bearer token challenge flow of the
//! Docker token specification (`WWW-Authenticate: Bearer realm=...,service=...,scope=...`,
//! then `GET realm?service=...&scope=...` for `{"token": ...}` or `{"access_token": ...}`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{OciError, Result};

/// What we present to a registry when it asks.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    // Never print a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
        }
    }
}

/// The parsed `WWW-Authenticate` challenge (RFC 7235 s4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// An authorization we can attach to a request.
#[derive(Clone)]
pub(crate) enum Authorization {
    Basic { username: String, password: String },
    Bearer { token: String, expires: Instant },
}

impl Authorization {
    pub(crate) fn is_fresh(&self) -> bool {
        match self {
            Authorization::Basic { .. } => true,
            Authorization::Bearer { expires, .. } => Instant::now() < *expires,
        }
    }

    pub(crate) fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Authorization::Basic { username, password } => req.basic_auth(username, Some(password)),
            Authorization::Bearer { token, .. } => req.bearer_auth(token),
        }
    }
}

/// Parses one challenge: `scheme param=value, param="quoted value", ...`. Only Basic and
/// Bearer are recognised; a header with several challenges is not split (registries send one).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest)?;
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// auth-param list: `token "=" ( token / quoted-string )`, comma separated (RFC 7235 s2.1).
fn parse_params(s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        chars.next()?; // '='
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Token responses are small; a larger one is refused.
const MAX_TOKEN_RESPONSE: u64 = 64 * 1024;
/// Docker token spec: when `expires_in` is absent the token lasts 60 seconds.
const DEFAULT_TOKEN_LIFETIME: u64 = 60;

/// Fetches a Bearer token from `realm` (already checked for an allowed scheme by the caller).
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    realm: reqwest::Url,
    service: Option<&str>,
    scope: &str,
    credentials: &Credentials,
) -> Result<Authorization> {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = service {
        query.push(("service", service));
    }
    if !scope.is_empty() {
        query.push(("scope", scope));
    }
    let mut req = http.get(realm).query(&query);
    if let Credentials::Basic { username, password } = credentials {
        req = req.basic_auth(username, Some(password));
    }
    let resp = req.send().await?;
    let status = resp.status();
    if !status.is_success() {
        return Err(OciError::Auth(format!("token endpoint answered {status}")));
    }
    let body = super::read_bounded(resp, MAX_TOKEN_RESPONSE, "token response").await?;
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(OciError::json("token response"))?;
    let token = parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OciError::Auth("token response without a token".into()))?;
    // Renew a little early so a token does not expire in flight.
    let lifetime = parsed.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME).max(10) - 5;
    Ok(Authorization::Bearer {
        token,
        expires: Instant::now() + Duration::from_secs(lifetime),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_parses_quoted_params() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge("Bearer service=x"),
            None,
            "realm is required"
        );
        assert_eq!(parse_challenge(r#"Bearer realm="unterminated"#), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
