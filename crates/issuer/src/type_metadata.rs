//! SD-JWT VC Type Metadata (draft-ietf-oauth-sd-jwt-vc, "SD-JWT VC Type Metadata"): one JSON
//! document per credential configuration, serialised once at start so that the bytes served
//! and the `vct#integrity` in every credential ("Document Integrity": W3C SRI over the exact
//! bytes) always agree.
//!
//! Where it is served: the draft's "Retrieving Type Metadata" has a wallet fetch the document
//! from the `vct` itself when it is an https URL. So a `vct` under the issuer identifier is
//! served at exactly that URL; any other `vct` (a URN, another host) is served at
//! `{issuer}/type-metadata/{configuration id}`, which only a wallet told about it finds, and
//! `vct#integrity` still pins its bytes.
use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::{Config, ConfigError, CredentialConfiguration};

/// Path segment, under the issuer, of type metadata whose `vct` is not an URL under the issuer.
pub const TYPE_METADATA_PREFIX: &str = "type-metadata";

/// Paths the issuer's own endpoints take: a `vct` may not shadow them.
const RESERVED: &[&str] = &[
    "challenge",
    "par",
    "authorize",
    "token",
    "nonce",
    "credential",
    "notification",
    "deferred_credential",
    "admin",
    "offers",
    "statuslists",
];

/// One served type metadata document.
#[derive(Debug, Clone)]
pub struct TypeMetadataDocument {
    /// The absolute URL it is served at.
    pub url: String,
    /// The route path (under the listener, not the issuer identifier's host).
    pub(crate) path: String,
    pub bytes: Vec<u8>,
    /// `sha256-<base64 of SHA-256 of bytes>` (W3C SRI s3.1, standard base64 with padding).
    pub integrity: String,
}

pub(crate) fn sri_sha256(bytes: &[u8]) -> String {
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha256(bytes))
    )
}

/// The defaults from the configuration: `vct`, `name`, `display` with the display name, and a
/// `claims` entry per claim, each always selectively disclosable (as we issue them).
fn default_document(conf: &CredentialConfiguration) -> Map<String, Value> {
    let claims: Vec<Value> = conf
        .claims
        .iter()
        .map(|name| json!({"path": [name], "sd": "always"}))
        .collect();
    let value = json!({
        "vct": conf.vct,
        "name": conf.display_name,
        "display": [{"locale": "en", "name": conf.display_name}],
        "claims": claims,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Every configuration's document, URL and integrity; refuses overrides of `vct`, a path that
/// would shadow an endpoint or cannot be a route, and two configurations that would serve
/// different bytes at one URL.
pub(crate) fn documents(
    config: &Config,
) -> Result<HashMap<String, TypeMetadataDocument>, ConfigError> {
    let refuse = |text: String| ConfigError::TypeMetadata(text);
    if let Some(unknown) = config
        .type_metadata
        .keys()
        .find(|id| config.configuration(id).is_none())
    {
        return Err(refuse(format!("no credential configuration {unknown:?}")));
    }
    let mut documents = HashMap::new();
    let mut by_path: HashMap<String, Vec<u8>> = HashMap::new();
    for conf in &config.configurations {
        let mut document = default_document(conf);
        if let Some(overrides) = config.type_metadata.get(&conf.id) {
            if overrides
                .get("vct")
                .is_some_and(|vct| vct.as_str() != Some(conf.vct.as_str()))
            {
                return Err(refuse(format!(
                    "{}: vct must be the configuration's",
                    conf.id
                )));
            }
            document.extend(overrides.clone());
        }
        let bytes =
            serde_json::to_vec(&Value::Object(document)).map_err(|err| refuse(err.to_string()))?;
        let under_issuer = conf
            .vct
            .strip_prefix(&config.issuer)
            .filter(|rest| rest.starts_with('/') && rest.len() > 1);
        let (url, relative) = match under_issuer {
            Some(rest) => (conf.vct.clone(), rest.to_owned()),
            None => {
                let rest = format!("/{TYPE_METADATA_PREFIX}/{}", conf.id);
                (format!("{}{rest}", config.issuer), rest)
            }
        };
        // axum reads `{...}` and `*` as parameters; a query or fragment is not part of a path.
        if relative
            .chars()
            .any(|c| matches!(c, '{' | '}' | '*' | '?' | '#') || c.is_whitespace())
            || relative.contains("//")
        {
            return Err(refuse(format!("{}: {url} cannot be served", conf.id)));
        }
        let first = relative[1..].split('/').next().unwrap_or_default();
        if RESERVED.contains(&first) || first == ".well-known" {
            return Err(refuse(format!(
                "{}: {url} would shadow an issuer endpoint",
                conf.id
            )));
        }
        let path = format!("{}{relative}", config.issuer_path());
        if by_path
            .insert(path.clone(), bytes.clone())
            .is_some_and(|other| other != bytes)
        {
            return Err(refuse(format!(
                "two configurations serve different type metadata at {url}"
            )));
        }
        documents.insert(
            conf.id.clone(),
            TypeMetadataDocument {
                url,
                path,
                integrity: sri_sha256(&bytes),
                bytes,
            },
        );
    }
    Ok(documents)
}

impl crate::Issuer {
    /// The type metadata served for credential configuration `id`.
    pub fn type_metadata(&self, id: &str) -> Option<&TypeMetadataDocument> {
        self.inner.type_metadata.get(id)
    }

    /// Route path and bytes of every distinct document, for the router.
    pub(crate) fn type_metadata_routes(&self) -> HashMap<String, Vec<u8>> {
        self.inner
            .type_metadata
            .values()
            .map(|document| (document.path.clone(), document.bytes.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vct: &str) -> Config {
        let mut config = Config::new("https://issuer.example/tenant");
        config.configurations.push(CredentialConfiguration {
            id: "pid".into(),
            vct: vct.into(),
            scope: "pid".into(),
            claims: vec!["given_name".into()],
            lifetime_seconds: 60,
            display_name: "PID".into(),
            selectively_disclosable: None,
        });
        config
    }

    #[test]
    fn sri_is_standard_base64_of_sha256() {
        // W3C SRI s3.1 example family: sha256 of the empty string.
        assert_eq!(
            sri_sha256(b""),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn a_vct_under_the_issuer_is_served_at_itself_and_others_under_the_prefix() {
        let docs = documents(&config("https://issuer.example/tenant/vct/pid")).unwrap();
        assert_eq!(docs["pid"].url, "https://issuer.example/tenant/vct/pid");
        assert_eq!(docs["pid"].path, "/tenant/vct/pid");
        let doc: Value = serde_json::from_slice(&docs["pid"].bytes).unwrap();
        assert_eq!(doc["vct"], "https://issuer.example/tenant/vct/pid");
        assert_eq!(doc["claims"][0]["path"], json!(["given_name"]));
        assert_eq!(docs["pid"].integrity, sri_sha256(&docs["pid"].bytes));

        let docs = documents(&config("urn:eudi:pid:1")).unwrap();
        assert_eq!(
            docs["pid"].url,
            "https://issuer.example/tenant/type-metadata/pid"
        );
        // Another host's vct is not ours to serve at its URL.
        let docs = documents(&config("https://other.example/tenant/vct/pid")).unwrap();
        assert_eq!(docs["pid"].path, "/tenant/type-metadata/pid");
    }

    #[test]
    fn overrides_replace_defaults_but_not_vct_and_bad_paths_are_refused() {
        let mut with_description = config("urn:x");
        with_description.type_metadata.insert(
            "pid".into(),
            json!({"description": "Person identification"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let docs = documents(&with_description).unwrap();
        let doc: Value = serde_json::from_slice(&docs["pid"].bytes).unwrap();
        assert_eq!(doc["description"], "Person identification");
        assert_eq!(doc["name"], "PID");

        let mut other_vct = config("urn:x");
        other_vct.type_metadata.insert(
            "pid".into(),
            json!({"vct": "urn:y"}).as_object().unwrap().clone(),
        );
        assert!(matches!(
            documents(&other_vct),
            Err(ConfigError::TypeMetadata(_))
        ));
        let mut unknown = config("urn:x");
        unknown.type_metadata.insert("nope".into(), Map::new());
        assert!(documents(&unknown).is_err());
        for vct in [
            "https://issuer.example/tenant/credential",
            "https://issuer.example/tenant/admin/x",
            "https://issuer.example/tenant/vct/{id}",
        ] {
            assert!(documents(&config(vct)).is_err(), "{vct}");
        }
    }
}
