//! Credential offers (OpenID4VCI 1.0 s4.1): by value or by reference, pre-authorized code.
use serde_json::Value;

use crate::{Wallet, WalletError};

/// s4.1.1: the grant type of the pre-authorized code flow.
pub(crate) const PRE_AUTHORIZED_GRANT: &str =
    "urn:ietf:params:oauth:grant-type:pre-authorized_code";

/// A credential offer the wallet can act on: pre-authorized code, one or more configurations.
#[derive(Debug, Clone)]
pub struct CredentialOffer {
    pub credential_issuer: String,
    pub credential_configuration_ids: Vec<String>,
    pub(crate) pre_authorized_code: String,
    /// Present when the holder must type a transaction code sent out of band.
    pub tx_code: Option<TxCode>,
}

/// s4.1.1 `tx_code`: what to ask the holder for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxCode {
    pub length: Option<u64>,
    /// `numeric` (default) or `text`.
    pub input_mode: String,
    pub description: Option<String>,
}

impl Wallet {
    /// Reads an offer URI: `openid-credential-offer://?credential_offer=...` (by value) or
    /// `...?credential_offer_uri=...` (by reference, fetched here: the issuer serves it once).
    pub async fn resolve_offer(&self, uri: &str) -> Result<CredentialOffer, WalletError> {
        let invalid = |reason: &str| WalletError::InvalidOffer(reason.to_owned());
        let parsed = reqwest::Url::parse(uri).map_err(|_| invalid("not a URI"))?;
        let mut by_value = None;
        let mut by_reference = None;
        for (name, value) in parsed.query_pairs() {
            let slot = match name.as_ref() {
                "credential_offer" => &mut by_value,
                "credential_offer_uri" => &mut by_reference,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(invalid("a parameter appears twice"));
            }
        }
        // s4.1: exactly one of the two.
        let offer = match (by_value, by_reference) {
            (Some(text), None) => {
                serde_json::from_str(&text).map_err(|_| invalid("credential_offer is not JSON"))?
            }
            (None, Some(reference)) => self.fetch_offer(&reference).await?,
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "both credential_offer and credential_offer_uri are present",
                ));
            }
            (None, None) => {
                return Err(invalid("neither credential_offer nor credential_offer_uri"));
            }
        };
        parse_offer(&offer)
    }

    async fn fetch_offer(&self, reference: &str) -> Result<Value, WalletError> {
        check_url(reference).map_err(WalletError::InvalidOffer)?;
        let request = self
            .http()
            .get(self.locate(reference))
            .header(reqwest::header::ACCEPT, "application/json");
        self.exchange(reference, request).await?.success()?.json()
    }
}

/// The credential offer object of s4.1.1, keeping what the pre-authorized flow needs.
fn parse_offer(offer: &Value) -> Result<CredentialOffer, WalletError> {
    let invalid = |reason: &str| WalletError::InvalidOffer(reason.to_owned());
    let issuer = offer
        .get("credential_issuer")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("credential_issuer is missing"))?;
    check_url(issuer).map_err(WalletError::InvalidOffer)?;
    let ids: Vec<String> = offer
        .get("credential_configuration_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(invalid("credential_configuration_ids is missing or empty"));
    }
    let grant = offer
        .get("grants")
        .and_then(|grants| grants.get(PRE_AUTHORIZED_GRANT))
        .ok_or_else(|| invalid("no pre-authorized code grant: the only flow this wallet runs"))?;
    let code = grant
        .get("pre-authorized_code")
        .and_then(Value::as_str)
        .filter(|code| !code.is_empty())
        .ok_or_else(|| invalid("pre-authorized_code is missing"))?;
    let tx_code = match grant.get("tx_code") {
        None => None,
        Some(Value::Object(object)) => Some(TxCode {
            length: object.get("length").and_then(Value::as_u64),
            input_mode: object
                .get("input_mode")
                .and_then(Value::as_str)
                .unwrap_or("numeric")
                .to_owned(),
            description: object
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }),
        Some(_) => return Err(invalid("tx_code is not an object")),
    };
    Ok(CredentialOffer {
        credential_issuer: issuer.trim_end_matches('/').to_owned(),
        credential_configuration_ids: ids,
        pre_authorized_code: code.to_owned(),
        tx_code,
    })
}

/// s12.2.1: an https URL without query or fragment (plain http is left to loopback routes,
/// which only development configures).
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| format!("{url} is not a URL"))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if !(parsed.scheme() == "https" || parsed.scheme() == "http" && loopback) {
        return Err(format!("{url} is not https"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url} has a query or fragment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn offer(grants: Value) -> Value {
        json!({"credential_issuer": "https://issuer.test",
               "credential_configuration_ids": ["pid"], "grants": grants})
    }

    #[test]
    fn an_offer_without_a_pre_authorized_grant_is_refused() {
        let err = parse_offer(&offer(json!({"authorization_code": {}}))).unwrap_err();
        assert!(matches!(err, WalletError::InvalidOffer(_)), "{err}");
    }

    #[test]
    fn tx_code_defaults_to_numeric() {
        let parsed = parse_offer(&offer(json!({PRE_AUTHORIZED_GRANT:
            {"pre-authorized_code": "c", "tx_code": {"length": 6}}})))
        .unwrap();
        assert_eq!(
            parsed.tx_code,
            Some(TxCode {
                length: Some(6),
                input_mode: "numeric".into(),
                description: None
            })
        );
    }

    #[test]
    fn issuer_identifiers_must_be_https_outside_loopback() {
        assert!(check_url("https://issuer.test/tenant").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("http://issuer.test").is_err());
        assert!(check_url("https://issuer.test?x=1").is_err());
    }
}
