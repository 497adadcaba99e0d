use immerse_jose::Algorithm;
use serde::Deserialize;

use crate::model::Retention;

/// Registry settings. Loaded from TOML by the binary; every field has a production default
/// except the registry's own identifier.
#[derive(Debug, Clone)]
pub struct Config {
    /// The registry's entity identifier (an https URL): `iss` of everything it signs and the
    /// `aud` of every proof sent to it.
    pub registry_id: String,
    /// How long a retired key stays valid for verification.
    pub retention: Retention,
    /// Lifetime of signed entity statements and historical-key sets.
    pub statement_lifetime: i64,
    /// How long signed documents are reused (and may be cached by clients).
    pub publication_window: i64,
    /// Lifetime of an enrolment secret.
    pub enrolment_secret_lifetime: i64,
    /// Oldest acceptable `iat` of a proof of possession, in seconds.
    pub proof_max_age: i64,
    pub skew_seconds: i64,
    /// Algorithms a registered signing key may use.
    pub key_algorithms: Vec<Algorithm>,
}

impl Config {
    pub fn new(registry_id: impl Into<String>) -> Self {
        Self {
            registry_id: registry_id.into(),
            retention: Retention::default(),
            statement_lifetime: 24 * 3600,
            publication_window: 60,
            enrolment_secret_lifetime: 24 * 3600,
            proof_max_age: 300,
            skew_seconds: immerse_jose::jwt::DEFAULT_SKEW_SECONDS,
            key_algorithms: vec![Algorithm::Es256],
        }
    }
}

/// The TOML form of [`Config`] (all optional but `registry_id`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub registry_id: String,
    pub retention_seconds: Option<i64>,
    pub statement_lifetime_seconds: Option<i64>,
    pub enrolment_secret_lifetime_seconds: Option<i64>,
    pub proof_max_age_seconds: Option<i64>,
    pub skew_seconds: Option<i64>,
    /// Names such as "ES256", "ES384", "EdDSA".
    pub key_algorithms: Option<Vec<String>>,
}

impl TryFrom<ConfigFile> for Config {
    type Error = String;
    fn try_from(file: ConfigFile) -> Result<Self, String> {
        let mut config = Config::new(file.registry_id);
        if let Some(seconds) = file.retention_seconds {
            config.retention = Retention(seconds);
        }
        config.statement_lifetime = file
            .statement_lifetime_seconds
            .unwrap_or(config.statement_lifetime);
        config.enrolment_secret_lifetime = file
            .enrolment_secret_lifetime_seconds
            .unwrap_or(config.enrolment_secret_lifetime);
        config.proof_max_age = file.proof_max_age_seconds.unwrap_or(config.proof_max_age);
        config.skew_seconds = file.skew_seconds.unwrap_or(config.skew_seconds);
        if let Some(names) = file.key_algorithms {
            config.key_algorithms = names
                .iter()
                .map(|name| match name.parse::<Algorithm>() {
                    Ok(alg @ (Algorithm::Es256 | Algorithm::Es384 | Algorithm::EdDsa)) => Ok(alg),
                    _ => Err(format!(
                        "key algorithm {name:?} is not supported (ES256, ES384, EdDSA)"
                    )),
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(config)
    }
}
