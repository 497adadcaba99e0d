//! Configuration and the verifier's client identity.
use immerse_jose::{PublicJwk, Signer, base64url};
use immerse_net::{Origins, OutboundPolicy};
use openssl::x509::X509;
use sha2::{Digest, Sha256};

use crate::VerifierError;

/// How the wallet returns the response (OpenID4VP 1.0 s8.2, s8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ResponseMode {
    /// `direct_post.jwt`: the response is a JWE to a fresh per-request key (HAIP s5).
    #[serde(rename = "direct_post.jwt")]
    DirectPostJwt,
    /// `direct_post`: form-encoded in clear; only when configured.
    #[serde(rename = "direct_post")]
    DirectPost,
}

impl ResponseMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::DirectPostJwt => "direct_post.jwt",
            Self::DirectPost => "direct_post",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where wallets reach this verifier (`request_uri`, `response_uri`), without a trailing `/`.
    pub public_url: String,
    /// SHA-256 hex of every relying-party API token accepted.
    pub api_token_hashes: Vec<String>,
    /// How long a request may be answered, in seconds.
    pub request_ttl_seconds: i64,
    /// `direct_post` is refused unless allowed here.
    pub allow_direct_post: bool,
    pub skew_seconds: i64,
    /// The oldest a KB-JWT `iat` may be (OpenID4VP 1.0 s14.1.2, RFC 9901 s7.3).
    pub kb_max_age_seconds: i64,
    /// For same-device flows: the relying party's page the wallet is sent back to, with a
    /// `response_code` (OpenID4VP 1.0 s8.2).
    pub redirect_url: Option<String>,
    /// Refuse credentials without a `status.status_list` reference.
    pub require_status: bool,
    /// The largest status list token fetched, in bytes, and the most its list may inflate to.
    pub status_max_bytes: usize,
    /// How long a status list is reused when its token names no `ttl`, in seconds.
    pub status_default_ttl: u64,
    /// Request bodies are capped (SYSTEM.md s5).
    pub max_body_bytes: usize,
    /// Where status list URIs are fetched from: empty in production; on one development
    /// machine, issuers' public origins routed to their loopback ports.
    pub origins: Origins,
    /// Where status list fetches may go: the URIs come from presented credentials.
    pub outbound: OutboundPolicy,
}

impl Config {
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            api_token_hashes: Vec::new(),
            request_ttl_seconds: 300,
            allow_direct_post: false,
            skew_seconds: immerse_jose::jwt::DEFAULT_SKEW_SECONDS,
            kb_max_age_seconds: 300,
            redirect_url: None,
            require_status: true,
            status_max_bytes: 1024 * 1024,
            status_default_ttl: 300,
            max_body_bytes: 64 * 1024,
            origins: Origins::default(),
            outbound: OutboundPolicy::default(),
        }
    }

    /// Accepts `token` on the relying-party API (only its hash is kept).
    pub fn with_api_token(mut self, token: &str) -> Self {
        self.api_token_hashes.push(token_hash(token));
        self
    }
}

/// SHA-256 hex of an API token or response code: what is stored and compared.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The Client Identifier prefix prepended to an OpenID Federation Entity Identifier
/// (OpenID4VP 1.0 s5.9.3).
pub const OPENID_FEDERATION_PREFIX: &str = "openid_federation:";
/// The prefix of a Client Identifier that hashes the request-signing certificate (OpenID4VP 1.0
/// s5.9.3, HAIP s5).
pub const X509_HASH_PREFIX: &str = "x509_hash:";

/// Which Client Identifier prefix the verifier speaks (OpenID4VP 1.0 s5.9.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIdPrefix {
    /// `x509_hash`: the identifier hashes the `x5c` leaf that signs each request object.
    X509Hash,
    /// `openid_federation:<entity id>`: the identifier is the verifier's Key Registry entity,
    /// and request objects are signed with a key the registry lists for it, named by `kid`.
    OpenIdFederation(String),
}

impl std::str::FromStr for ClientIdPrefix {
    type Err = String;
    /// `x509_hash`, or `openid_federation:<entity id>`.
    fn from_str(text: &str) -> Result<Self, String> {
        if text == "x509_hash" {
            return Ok(Self::X509Hash);
        }
        match text.strip_prefix(OPENID_FEDERATION_PREFIX) {
            Some(entity) => {
                check_entity_identifier(entity)?;
                Ok(Self::OpenIdFederation(entity.to_owned()))
            }
            None => Err(format!(
                "client identifier prefix {text:?} is neither x509_hash nor openid_federation:<entity id>"
            )),
        }
    }
}

/// OpenID Federation 1.0 s1.2: an Entity Identifier is an https URL with a host and no query or
/// fragment (the registry's entity ids are the same shape).
fn check_entity_identifier(entity: &str) -> Result<(), String> {
    let valid = reqwest::Url::parse(entity).is_ok_and(|url| {
        url.scheme() == "https"
            && url.host_str().is_some_and(|host| !host.is_empty())
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none()
    });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{entity:?} is not an Entity Identifier (an https URL without query or fragment)"
        ))
    }
}

/// The request-signing key and what names it: for `x509_hash`, the certificate chain whose leaf
/// hashes to the Client Identifier; for `openid_federation`, the verifier's Key Registry entity.
pub struct ClientIdentity {
    client_id: String,
    signer: std::sync::Arc<dyn Signer>,
    /// DER certificates, leaf first, for `x5c` (standard base64, RFC 7515 s4.1.6); empty for
    /// `openid_federation`, where the key is found by `kid` in the entity's registered keys.
    x5c: Vec<String>,
    /// The registry entity behind an `openid_federation` identifier.
    entity_id: Option<String>,
}

impl ClientIdentity {
    /// Checks that the leaf certificate holds the signer's public key.
    pub fn x509_hash(
        signer: std::sync::Arc<dyn Signer>,
        chain_der: Vec<Vec<u8>>,
    ) -> Result<Self, VerifierError> {
        use base64::Engine;
        let leaf = chain_der
            .first()
            .ok_or_else(|| VerifierError::Config("empty certificate chain".into()))?;
        let certificate = X509::from_der(leaf)
            .map_err(|err| VerifierError::Config(format!("leaf certificate: {err}")))?;
        let leaf_key = certificate
            .public_key()
            .and_then(|key| key.public_key_to_pem())
            .map_err(|err| VerifierError::Config(format!("leaf key: {err}")))?;
        let leaf_key = PublicJwk::from_spki_pem(&String::from_utf8_lossy(&leaf_key))
            .map_err(|err| VerifierError::Config(format!("leaf key: {err}")))?;
        if leaf_key.thumbprint() != signer.public_jwk().thumbprint() {
            return Err(VerifierError::Config(
                "the leaf certificate does not hold the request-signing key".into(),
            ));
        }
        // OpenID4VP 1.0 s5.9.3: base64url SHA-256 of the DER-encoded leaf certificate.
        let client_id = format!(
            "{X509_HASH_PREFIX}{}",
            base64url::encode(Sha256::digest(leaf))
        );
        let x5c = chain_der
            .iter()
            .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
            .collect();
        Ok(Self {
            client_id,
            signer,
            x5c,
            entity_id: None,
        })
    }

    /// OpenID4VP 1.0 s5.9.3 `openid_federation`: the Client Identifier is the prefix and the
    /// verifier's Entity Identifier, here its Key Registry entity; the registry's signed entity
    /// statement stands in for the Trust Chain (the registry is the Trust Anchor and the only
    /// superior). Wallets find the signing key by `kid` among the entity's registered keys,
    /// whose `kid` is the RFC 7638 thumbprint, so the signer's `kid` must be that thumbprint.
    pub fn openid_federation(
        signer: std::sync::Arc<dyn Signer>,
        entity_id: &str,
    ) -> Result<Self, VerifierError> {
        check_entity_identifier(entity_id).map_err(VerifierError::Config)?;
        if signer.kid() != signer.public_jwk().thumbprint_b64() {
            return Err(VerifierError::Config(
                "the request-signing key's kid is not its RFC 7638 thumbprint, the kid the registry lists".into(),
            ));
        }
        Ok(Self {
            client_id: format!("{OPENID_FEDERATION_PREFIX}{entity_id}"),
            signer,
            x5c: Vec::new(),
            entity_id: Some(entity_id.to_owned()),
        })
    }

    /// Builds the identity `prefix` names; `chain_der` is needed for `x509_hash` only.
    pub fn new(
        prefix: &ClientIdPrefix,
        signer: std::sync::Arc<dyn Signer>,
        chain_der: Option<Vec<Vec<u8>>>,
    ) -> Result<Self, VerifierError> {
        match prefix {
            ClientIdPrefix::X509Hash => {
                let chain = chain_der.ok_or_else(|| {
                    VerifierError::Config("x509_hash needs the certificate chain".into())
                })?;
                Self::x509_hash(signer, chain)
            }
            ClientIdPrefix::OpenIdFederation(entity_id) => {
                Self::openid_federation(signer, entity_id)
            }
        }
    }

    /// The full Client Identifier, prefix included: what the KB-JWT `aud` must equal.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn signer(&self) -> &dyn Signer {
        &*self.signer
    }

    /// The `x5c` chain; empty for `openid_federation`.
    pub fn x5c(&self) -> &[String] {
        &self.x5c
    }

    /// The registry entity of an `openid_federation` identifier.
    pub fn entity_id(&self) -> Option<&str> {
        self.entity_id.as_deref()
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The TOML form of [`Config`] (all optional but `public_url`). API tokens are given as their
/// SHA-256 hex, so that the file holds no secret.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub public_url: String,
    #[serde(default)]
    pub api_token_hashes: Vec<String>,
    pub request_ttl_seconds: Option<i64>,
    pub allow_direct_post: Option<bool>,
    pub skew_seconds: Option<i64>,
    pub kb_max_age_seconds: Option<i64>,
    pub redirect_url: Option<String>,
    pub require_status: Option<bool>,
    pub status_max_bytes: Option<usize>,
    pub status_default_ttl_seconds: Option<u64>,
    pub max_body_bytes: Option<usize>,
    /// Status list fetches may reach loopback (default true, for one-machine development;
    /// turn it off in production).
    pub status_fetch_loopback: Option<bool>,
    /// Status list fetches may reach private networks (default false).
    pub status_fetch_private_networks: Option<bool>,
}

impl TryFrom<ConfigFile> for Config {
    type Error = String;
    fn try_from(file: ConfigFile) -> Result<Self, String> {
        let mut config = Config::new(file.public_url);
        if file
            .api_token_hashes
            .iter()
            .any(|hash| hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()))
        {
            return Err("api_token_hashes are SHA-256 hex (64 characters)".into());
        }
        config.api_token_hashes = file
            .api_token_hashes
            .iter()
            .map(|hash| hash.to_ascii_lowercase())
            .collect();
        let positive = |name: &str, value: Option<i64>, default: i64| match value {
            Some(value) if value <= 0 => Err(format!("{name} must be positive")),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        config.request_ttl_seconds = positive(
            "request_ttl_seconds",
            file.request_ttl_seconds,
            config.request_ttl_seconds,
        )?;
        config.kb_max_age_seconds = positive(
            "kb_max_age_seconds",
            file.kb_max_age_seconds,
            config.kb_max_age_seconds,
        )?;
        config.skew_seconds = file.skew_seconds.unwrap_or(config.skew_seconds).max(0);
        config.allow_direct_post = file.allow_direct_post.unwrap_or(false);
        config.redirect_url = file.redirect_url;
        config.require_status = file.require_status.unwrap_or(true);
        config.status_max_bytes = file.status_max_bytes.unwrap_or(config.status_max_bytes);
        config.status_default_ttl = file
            .status_default_ttl_seconds
            .unwrap_or(config.status_default_ttl);
        config.max_body_bytes = file.max_body_bytes.unwrap_or(config.max_body_bytes);
        config.outbound = OutboundPolicy {
            allow_loopback: file
                .status_fetch_loopback
                .unwrap_or(config.outbound.allow_loopback),
            allow_private_networks: file
                .status_fetch_private_networks
                .unwrap_or(config.outbound.allow_private_networks),
        };
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_defaults_and_refusals() {
        let file: ConfigFile = serde_json::from_value(serde_json::json!({
            "public_url": "https://verifier.test/",
            "api_token_hashes": [token_hash("t")]
        }))
        .unwrap();
        let config = Config::try_from(file).unwrap();
        assert_eq!(config.public_url, "https://verifier.test");
        assert!(!config.allow_direct_post, "encrypted responses by default");
        assert!(config.require_status);
        assert_eq!(config.api_token_hashes, vec![token_hash("t")]);
        assert_eq!(config.outbound, OutboundPolicy::default());
        let production: ConfigFile = serde_json::from_value(serde_json::json!({
            "public_url": "https://verifier.test", "status_fetch_loopback": false
        }))
        .unwrap();
        let production = Config::try_from(production).unwrap();
        assert!(!production.outbound.allow_loopback);
        assert!(!production.outbound.allow_private_networks);
        let bad: ConfigFile = serde_json::from_value(serde_json::json!({
            "public_url": "https://verifier.test", "api_token_hashes": ["secret"]
        }))
        .unwrap();
        assert!(Config::try_from(bad).is_err());
        assert!(
            serde_json::from_value::<ConfigFile>(serde_json::json!({
                "public_url": "https://verifier.test", "unknown": 1
            }))
            .is_err()
        );
    }

    /// A signer that names itself by a `kid` other than its thumbprint.
    struct MisnamedSigner(immerse_jose::SoftwareSigner);

    impl Signer for MisnamedSigner {
        fn algorithm(&self) -> immerse_jose::Algorithm {
            self.0.algorithm()
        }
        fn public_jwk(&self) -> &PublicJwk {
            self.0.public_jwk()
        }
        fn kid(&self) -> &str {
            "verifier-key-1"
        }
        fn sign<'a>(&'a self, message: &'a [u8]) -> immerse_jose::SignFuture<'a> {
            self.0.sign(message)
        }
    }

    #[test]
    fn a_federation_signer_whose_kid_is_not_its_thumbprint_is_refused() {
        let entity = "https://verifier.example";
        let named = std::sync::Arc::new(immerse_jose::SoftwareSigner::generate().unwrap());
        assert!(ClientIdentity::openid_federation(named, entity).is_ok());
        let misnamed = std::sync::Arc::new(MisnamedSigner(
            immerse_jose::SoftwareSigner::generate().unwrap(),
        ));
        assert!(matches!(
            ClientIdentity::openid_federation(misnamed, entity),
            Err(VerifierError::Config(reason)) if reason.contains("thumbprint")
        ));
    }
}
