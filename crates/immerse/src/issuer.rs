//! `immerse issuer serve`: the OpenID4VCI Credential Issuer.
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use std::sync::Arc;

use immerse_issuer::{
    AdminToken, CertificateChain, Config, CredentialConfiguration, Issuer, IssuerError, KeyFactory,
    KeyFuture, KeyRotation,
};
use immerse_jose::Signer;
use immerse_jose::pkcs11::{Pkcs11Config, Pkcs11Signer};
use immerse_registry::client::RegistryClient;
use immerse_registry::model::Role;
use immerse_store::Store;
use serde::Deserialize;

use crate::CliError;
use crate::keys::KeyLocation;
use crate::serve::RegistryTrust;

#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Serve the issuer's metadata, token, nonce, credential, status list and admin endpoints.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Issuer configuration (TOML): identifier, credential configurations, trusted attesters,
    /// admin token hashes.
    #[arg(long, env = "IMMERSE_ISSUER_CONFIG")]
    config: PathBuf,
    #[arg(long, env = "IMMERSE_ISSUER_LISTEN", default_value = "127.0.0.1:8701")]
    listen: String,
    #[arg(
        long,
        env = "IMMERSE_DATABASE_URL",
        default_value = "sqlite://immerse-issuer.db"
    )]
    database_url: String,
    #[command(flatten)]
    registry: RegistryTrust,
    /// The credential-signing key; it must be an active key of the issuer's registry entity.
    #[command(flatten)]
    key: KeyLocation,
    /// Accept a software key file (development only: it is exportable).
    #[arg(long)]
    allow_software_key: bool,
}

/// The TOML form of [`Config`]: what an operator sets; every lifetime has the profile's
/// default. Admin tokens are given by SHA-256 hash, so the file holds no secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    issuer: String,
    #[serde(default)]
    trusted_attesters: Vec<String>,
    accepted_tee: Option<Vec<String>>,
    require_attestation_challenge: Option<bool>,
    batch_size: Option<usize>,
    status_list_ttl_seconds: Option<u64>,
    #[serde(default)]
    admin_tokens: Vec<AdminTokenFile>,
    #[serde(default)]
    credential_configurations: Vec<ConfigurationFile>,
    /// PEM file, leaf first: the certificate chain of the signing key, sent as `x5c` on
    /// signed metadata.
    x5c_chain_file: Option<PathBuf>,
    key_rotation: Option<KeyRotationFile>,
}

/// `[key_rotation]`: how the PKCS#11 signing key rotates through the registry (on by default
/// for token keys, every 24 h; a software key never rotates).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRotationFile {
    /// `false` turns rotation off.
    enabled: Option<bool>,
    /// The registry the new keys are registered with; `--registry-url` when absent.
    registry_url: Option<String>,
    interval_seconds: Option<i64>,
    /// Must equal the registry's retention (48 h by default).
    retention_seconds: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminTokenFile {
    sha256: String,
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigurationFile {
    id: String,
    vct: String,
    scope: String,
    claims: Vec<String>,
    lifetime_seconds: i64,
    display_name: String,
    /// Paths (member names) of the claims made selectively disclosable; absent, every leaf.
    selectively_disclosable: Option<Vec<Vec<String>>>,
    /// Members of the SD-JWT VC type metadata document replacing the defaults
    /// (`description`, `display`, `claims`, ...).
    type_metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

fn load_config(path: &Path) -> Result<(Config, Option<KeyRotationFile>), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?;
    let mut file: ConfigFile =
        toml::from_str(&text).map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?;
    // Relative paths are taken from the configuration file's directory.
    let chain = file
        .x5c_chain_file
        .take()
        .map(|chain| path.parent().map_or(chain.clone(), |dir| dir.join(&chain)));
    let mut config = config_from_file(&mut file)
        .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?;
    if let Some(chain) = chain {
        let pem = std::fs::read(&chain)
            .map_err(|err| CliError::Io(format!("{}: {err}", chain.display())))?;
        config.x5c_chain = Some(
            CertificateChain::from_pem(&pem)
                .map_err(|err| CliError::Io(format!("{}: {err}", chain.display())))?,
        );
    }
    Ok((config, file.key_rotation))
}

fn config_from_file(file: &mut ConfigFile) -> Result<Config, String> {
    let mut config = Config::new(file.issuer.clone());
    if let Some(rotation) = &file.key_rotation {
        if let Some(interval) = rotation.interval_seconds {
            config.key_rotation_interval = interval;
        }
        if let Some(retention) = rotation.retention_seconds {
            config.key_retention = retention;
        }
        if config.key_rotation_interval <= 0 || config.key_retention <= 0 {
            return Err("key_rotation: interval and retention must be positive".into());
        }
    }
    if file.credential_configurations.is_empty() {
        return Err("at least one [[credential_configurations]] is needed".into());
    }
    if file.trusted_attesters.is_empty() {
        return Err("trusted_attesters is empty: no wallet could authenticate".into());
    }
    config.trusted_attesters = std::mem::take(&mut file.trusted_attesters);
    if let Some(tee) = file.accepted_tee.take() {
        config.accepted_tee = tee;
    }
    if let Some(required) = file.require_attestation_challenge {
        config.require_attestation_challenge = required;
    }
    if let Some(size) = file.batch_size {
        if size == 0 {
            return Err("batch_size must be at least 1".into());
        }
        config.batch_size = size;
    }
    if let Some(ttl) = file.status_list_ttl_seconds {
        config.status_list_ttl = ttl;
    }
    for token in std::mem::take(&mut file.admin_tokens) {
        if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("admin_tokens[].sha256 is SHA-256 hex (64 characters)".into());
        }
        if let Some(scope) = token.scopes.iter().find(|scope| {
            ![immerse_issuer::SCOPE_OFFERS, immerse_issuer::SCOPE_STATUS].contains(&scope.as_str())
        }) {
            return Err(format!("unknown admin scope {scope:?}"));
        }
        config.admin_tokens.push(AdminToken {
            sha256_hex: token.sha256.to_ascii_lowercase(),
            scopes: token.scopes,
        });
    }
    for conf in &file.credential_configurations {
        if let Some(members) = &conf.type_metadata {
            config
                .type_metadata
                .insert(conf.id.clone(), members.clone());
        }
    }
    config.configurations = std::mem::take(&mut file.credential_configurations)
        .into_iter()
        .map(|conf| CredentialConfiguration {
            id: conf.id,
            vct: conf.vct,
            scope: conf.scope,
            claims: conf.claims,
            lifetime_seconds: conf.lifetime_seconds,
            display_name: conf.display_name,
            selectively_disclosable: conf.selectively_disclosable,
        })
        .collect();
    if config
        .configurations
        .iter()
        .any(|conf| conf.lifetime_seconds <= 0)
    {
        return Err("lifetime_seconds must be positive".into());
    }
    for conf in &config.configurations {
        if let Some(path) = conf
            .selectively_disclosable
            .iter()
            .flatten()
            .find(|path| path.first().is_none_or(|name| !conf.claims.contains(name)))
        {
            return Err(format!(
                "{}: selectively_disclosable path {path:?} does not start with one of its claims",
                conf.id
            ));
        }
    }
    Ok(config)
}

pub async fn run(command: IssuerCommand) -> Result<(), CliError> {
    match command {
        IssuerCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    if !args.key.is_pkcs11() && !args.allow_software_key {
        return Err(CliError::Io(
            "the credential-signing key must be a PKCS#11 key (--pkcs11); --allow-software-key is for development".into(),
        ));
    }
    let (config, rotation) = load_config(&args.config)?;
    let rotation_enabled = rotation.as_ref().is_none_or(|r| r.enabled.unwrap_or(true));
    let registry = args.registry.client()?;
    // Rotation makes keys `<label>-<time>` on the token: a restart takes the newest the registry
    // lists, so it never comes back to a retired key.
    let signer = match args.key.pkcs11_only() {
        Some(pkcs11) if rotation_enabled => {
            newest_registered_key(pkcs11, &registry, &config.issuer).await?
        }
        _ => args.key.open_signer().await?,
    };
    require_registered(&registry, &config.issuer, &*signer).await?;
    let store = Store::connect(&args.database_url).await?;
    tracing::info!(issuer = %config.issuer, kid = %signer.public_jwk().kid().unwrap_or_default(), "credential issuer");
    let issuer = Issuer::new(config, store.clone(), signer, registry)
        .map_err(|err| CliError::Io(err.to_string()))?;
    // A rotated software key would live only in memory and the next start would load a
    // retired one: rotation is for token keys, which stay on the token.
    let rotated_key = match (args.key.pkcs11_only(), &rotation) {
        (Some(pkcs11), _) if rotation_enabled => Some(pkcs11),
        (None, Some(r)) if r.enabled.unwrap_or(true) => {
            return Err(CliError::Io(
                "[key_rotation] needs a PKCS#11 signing key (--pkcs11); a software key does not rotate".into(),
            ));
        }
        (None, _) => {
            tracing::warn!("software signing key: not rotated (development only)");
            None
        }
        (Some(_), _) => None,
    };
    if let Some(pkcs11) = rotated_key {
        let registry_url = rotation
            .and_then(|r| r.registry_url)
            .unwrap_or_else(|| args.registry.url().to_owned());
        issuer
            .enable_key_rotation(KeyRotation {
                registry_url,
                keys: Arc::new(Pkcs11Keys(pkcs11)),
            })
            .map_err(|err| CliError::Io(err.to_string()))?;
        let rotating = issuer.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(ROTATION_CHECK);
            loop {
                ticks.tick().await;
                // A failed rotation leaves the old key signing; the next tick tries again.
                if let Err(err) = rotating.rotate_if_due().await {
                    tracing::error!(%err, "signing key rotation failed; the old key stays in use");
                }
            }
        });
    }
    crate::serve::serve(
        "credential issuer",
        &args.listen,
        immerse_issuer::http::router(issuer),
        store,
    )
    .await
}

/// How often the rotation task asks whether a rotation is due.
const ROTATION_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// New signing keys on the PKCS#11 token of the first one, labelled `<label>-<unix time>`
/// (a label is never reused); a restart must name the newest label, which is logged.
struct Pkcs11Keys(Pkcs11Config);

impl KeyFactory for Pkcs11Keys {
    fn generate(&self) -> KeyFuture<'_, Arc<dyn Signer>> {
        let mut config = self.0.clone();
        config.key_label = format!("{}-{}", config.key_label, immerse_jose::jwt::now());
        Box::pin(async move {
            let label = config.key_label.clone();
            let signer = tokio::task::spawn_blocking(move || Pkcs11Signer::generate(&config))
                .await
                .map_err(|err| IssuerError::Internal(format!("PKCS#11 task: {err}")))??;
            tracing::info!(%label, kid = signer.kid(), "new signing key generated on the token");
            let signer: Arc<dyn Signer> = Arc::new(signer);
            Ok(signer)
        })
    }
}

/// Of the configured key (`<label>`) and the keys rotation made from it (`<label>-<time>`),
/// the newest the registry lists for `entity_id`; the configured one when none is listed (and
/// `require_registered` then refuses to start).
async fn newest_registered_key(
    pkcs11: Pkcs11Config,
    registry: &RegistryClient,
    entity_id: &str,
) -> Result<Arc<dyn Signer>, CliError> {
    let base = pkcs11.key_label.clone();
    let listing = pkcs11.clone();
    let labels = tokio::task::spawn_blocking(move || Pkcs11Signer::key_labels(&listing))
        .await
        .map_err(|err| CliError::Io(format!("PKCS#11 task: {err}")))??;
    let registered = registry.verification_keys(entity_id, Role::Issuer).await?;
    for label in newest_first(labels, &base) {
        let config = Pkcs11Config {
            key_label: label.clone(),
            ..pkcs11.clone()
        };
        let signer = tokio::task::spawn_blocking(move || Pkcs11Signer::open(&config))
            .await
            .map_err(|err| CliError::Io(format!("PKCS#11 task: {err}")))??;
        let thumbprint = signer.public_jwk().thumbprint();
        if registered.keys.iter().any(|k| k.thumbprint() == thumbprint) {
            if label != base {
                tracing::info!(%label, "signing with the newest rotated key on the token");
            }
            return Ok(Arc::new(signer));
        }
    }
    let signer = tokio::task::spawn_blocking(move || Pkcs11Signer::open(&pkcs11))
        .await
        .map_err(|err| CliError::Io(format!("PKCS#11 task: {err}")))??;
    Ok(Arc::new(signer))
}

/// `base` and the `<base>-<time>` labels rotation made from it, newest first; other labels are
/// not this issuer's keys.
fn newest_first(labels: Vec<String>, base: &str) -> Vec<String> {
    let prefix = format!("{base}-");
    let mut generations: Vec<(u64, String)> = labels
        .into_iter()
        .filter_map(|label| {
            let generation = if label == base {
                0
            } else {
                label.strip_prefix(&prefix)?.parse().ok()?
            };
            Some((generation, label))
        })
        .collect();
    generations.sort();
    generations
        .into_iter()
        .rev()
        .map(|(_, label)| label)
        .collect()
}

/// Wallets and verifiers accept only keys the registry lists for the issuer, so a key that is
/// not there would sign credentials nobody can verify: refuse to start instead.
pub async fn require_registered(
    registry: &RegistryClient,
    entity_id: &str,
    signer: &dyn Signer,
) -> Result<(), CliError> {
    let keys = registry.verification_keys(entity_id, Role::Issuer).await?;
    let thumbprint = signer.public_jwk().thumbprint();
    if keys.keys.iter().any(|key| key.thumbprint() == thumbprint) {
        Ok(())
    } else {
        Err(CliError::Io(format!(
            "the signing key is not an active key of {entity_id} in the registry; register it first (immerse registry key submit)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let mut file: ConfigFile = toml::from_str(text).map_err(|err| err.to_string())?;
        config_from_file(&mut file)
    }

    const MINIMAL: &str = r#"
issuer = "https://issuer.example/"
trusted_attesters = ["https://attester.example"]
admin_tokens = [{ sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", scopes = ["issuer:offers"] }]
[[credential_configurations]]
id = "employee"
vct = "https://issuer.example/vct/employee"
scope = "employee"
claims = ["given_name", "family_name"]
lifetime_seconds = 86400
display_name = "Employee"
"#;

    #[test]
    fn a_minimal_file_takes_the_profile_defaults() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.issuer, "https://issuer.example");
        assert_eq!(config.accepted_tee, vec!["sev-snp".to_owned()]);
        assert!(config.response_encryption_required);
        assert_eq!(config.configurations[0].claims.len(), 2);
        assert_eq!(config.admin_tokens[0].scopes, vec!["issuer:offers"]);
    }

    #[test]
    fn files_that_would_serve_nobody_or_leak_are_refused() {
        assert!(parse(&MINIMAL.replace("\"https://attester.example\"", "")).is_err());
        assert!(parse(&MINIMAL.replace("sha256 = \"9f86", "sha256 = \"plain-secret")).is_err());
        assert!(parse(&MINIMAL.replace("issuer:offers", "issuer:everything")).is_err());
        assert!(parse(&MINIMAL.replace("86400", "0")).is_err());
        assert!(parse(&format!("{MINIMAL}\nunknown = 1")).is_err());
        assert!(parse(&format!("batch_size = 0\n{MINIMAL}")).is_err());
        let rotation = "[key_rotation]\n";
        assert!(parse(&format!("{MINIMAL}\n{rotation}interval_seconds = 0")).is_err());
        assert!(parse(&format!("{MINIMAL}\n{rotation}unknown = 1")).is_err());
    }

    #[test]
    fn a_restart_tries_the_newest_rotated_key_first() {
        let labels = [
            "issuer",
            "issuer-1700000000",
            "issuer-1800000000",
            "issuer-old",
            "other-1900000000",
            "issuer-1750000000",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            newest_first(labels, "issuer"),
            [
                "issuer-1800000000",
                "issuer-1750000000",
                "issuer-1700000000",
                "issuer"
            ]
        );
        assert!(newest_first(vec!["x".into()], "issuer").is_empty());
    }

    #[test]
    fn type_metadata_and_rotation_settings_are_read() {
        let text = format!(
            "{MINIMAL}type_metadata = {{ description = \"An employee\" }}\n[key_rotation]\nregistry_url = \"http://127.0.0.1:8700\"\ninterval_seconds = 3600\nretention_seconds = 7200\n"
        );
        let config = parse(&text).unwrap();
        assert_eq!(
            config.type_metadata["employee"]["description"],
            "An employee"
        );
        assert_eq!(config.key_rotation_interval, 3600);
        assert_eq!(config.key_retention, 7200);
        let defaults = parse(MINIMAL).unwrap();
        assert_eq!(defaults.key_rotation_interval, 24 * 3600);
        assert_eq!(defaults.key_retention, 48 * 3600);
        assert!(defaults.type_metadata.is_empty());
    }

    #[test]
    fn an_unreadable_chain_file_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("issuer.toml");
        std::fs::write(dir.path().join("chain.pem"), "not a certificate").unwrap();
        std::fs::write(
            &config,
            format!("x5c_chain_file = \"chain.pem\"\n{MINIMAL}"),
        )
        .unwrap();
        assert!(load_config(&config).is_err());
        std::fs::write(
            &config,
            format!("x5c_chain_file = \"missing.pem\"\n{MINIMAL}"),
        )
        .unwrap();
        assert!(load_config(&config).is_err());
    }
}
