//! Discovery: the Credential Issuer Metadata and the Authorization Server Metadata, each taken
//! only in its signed form and verified against the issuer's keys in the registry.
use immerse_jose::jwt;
use immerse_registry::model::Role;
use serde_json::{Map, Value};

use crate::{Wallet, WalletError};

/// OpenID4VCI 1.0 s12.2.3.
const ISSUER_METADATA_TYP: &str = "openidvci-issuer-metadata+jwt";
/// RFC 8414 s2.1 signed metadata, typed as this profile types it.
const AS_METADATA_TYP: &str = "oauth-authorization-server-metadata+jwt";
const JWT_MEDIA_TYPE: &str = "application/jwt";

/// Verified metadata claims of one issuer (and its authorization server).
pub(crate) struct IssuerMetadata {
    pub issuer: Map<String, Value>,
    pub authorization_server: Map<String, Value>,
}

impl IssuerMetadata {
    /// A URL member of the issuer metadata.
    pub fn endpoint(&self, name: &str) -> Option<&str> {
        self.issuer.get(name).and_then(Value::as_str)
    }

    pub fn as_endpoint(&self, name: &str) -> Option<&str> {
        self.authorization_server.get(name).and_then(Value::as_str)
    }
}

impl Wallet {
    /// Fetches and verifies both metadata documents of `issuer`.
    pub(crate) async fn issuer_metadata(
        &self,
        issuer: &str,
    ) -> Result<IssuerMetadata, WalletError> {
        let metadata = self
            .signed_metadata(
                &well_known(issuer, "openid-credential-issuer"),
                ISSUER_METADATA_TYP,
                issuer,
            )
            .await?;
        // s12.2.4: the issuer metadata itself must name the issuer we asked.
        same_issuer(issuer, metadata.get("credential_issuer"))?;
        // s12.2.4 `authorization_servers`: absent means the issuer is its own AS; this wallet
        // trusts no other (it could not tell which registry entity signs its metadata).
        if let Some(servers) = metadata.get("authorization_servers")
            && servers
                .as_array()
                .is_none_or(|servers| servers.iter().any(|server| server.as_str() != Some(issuer)))
        {
            return Err(WalletError::UnsupportedConfiguration(
                issuer.to_owned(),
                "a separate authorization server",
            ));
        }
        let authorization_server = self
            .signed_metadata(
                &well_known(issuer, "oauth-authorization-server"),
                AS_METADATA_TYP,
                issuer,
            )
            .await?;
        // RFC 8414 s3.3: `issuer` must be identical to the one the metadata was asked for.
        same_issuer(issuer, authorization_server.get("issuer"))?;
        Ok(IssuerMetadata {
            issuer: metadata,
            authorization_server,
        })
    }

    /// GET with `Accept: application/jwt`; anything but a JWT of `typ`, signed by a key the
    /// registry lists for `issuer` now, with `sub` = `issuer`, is refused (s12.2.3).
    async fn signed_metadata(
        &self,
        url: &str,
        typ: &str,
        issuer: &str,
    ) -> Result<Map<String, Value>, WalletError> {
        let request = self
            .http()
            .get(self.locate(url))
            .header(reqwest::header::ACCEPT, JWT_MEDIA_TYPE);
        let fetched = self.exchange(url, request).await?.success()?;
        if fetched.media_type() != JWT_MEDIA_TYPE {
            return Err(WalletError::UnsignedMetadata(url.to_owned()));
        }
        let token = fetched.text()?;
        let keys = self
            .registry()
            .verification_keys(issuer, Role::Issuer)
            .await?;
        let validation = jwt::Validation::new(typ).at(self.now());
        let verified = jwt::verify(token.trim(), &validation, &keys)
            .map_err(WalletError::MetadataSignature)?
            .into_inner();
        same_issuer(issuer, verified.claims.get("sub"))?;
        if !verified.claims.get("iat").is_some_and(Value::is_i64) {
            return Err(WalletError::MetadataSignature(
                immerse_jose::Error::MissingClaim("iat"),
            ));
        }
        Ok(verified.claims)
    }
}

fn same_issuer(expected: &str, found: Option<&Value>) -> Result<(), WalletError> {
    match found.and_then(Value::as_str) {
        Some(found) if found == expected => Ok(()),
        found => Err(WalletError::MetadataSubject {
            expected: expected.to_owned(),
            found: found.unwrap_or("nothing").to_owned(),
        }),
    }
}

/// s12.2.2 / RFC 8414 s3.1: the well-known segment goes between the host and the path.
fn well_known(issuer: &str, name: &str) -> String {
    let (scheme, rest) = issuer.split_once("://").unwrap_or(("https", issuer));
    let (host, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    format!("{scheme}://{host}/.well-known/{name}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_is_inserted_before_the_path() {
        assert_eq!(
            well_known("https://issuer.test/tenant", "openid-credential-issuer"),
            "https://issuer.test/.well-known/openid-credential-issuer/tenant"
        );
        assert_eq!(
            well_known("https://issuer.test", "oauth-authorization-server"),
            "https://issuer.test/.well-known/oauth-authorization-server"
        );
    }
}
