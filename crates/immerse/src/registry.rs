//! `immerse registry`: serve the Key Registry, bootstrap admin tokens, and drive its API.
use std::path::PathBuf;

use clap::{Args, Subcommand};
use immerse_jose::jws::SigningHeader;
use immerse_jose::{base64url, jwt};
use immerse_registry::auth::{Scope, create_admin_token};
use immerse_registry::model::{Allowances, RevocationReason, Role};
use immerse_registry::{COUNTERSIGNATURE_TYP, Config, ConfigFile, KEY_PROOF_TYP, Registry};
use immerse_store::Store;
use serde_json::{Value, json};

use crate::CliError;
use crate::keys::KeyLocation;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve the registry over HTTP.
    Serve(ServeArgs),
    /// Admin tokens, created directly on the database (the bootstrap path).
    #[command(subcommand)]
    AdminToken(AdminTokenCommand),
    /// Entities, through the admin API.
    #[command(subcommand)]
    Entity(EntityCommand),
    /// Keys: submit (as the entity), retire and revoke (as an admin).
    #[command(subcommand)]
    Key(KeyCommand),
    /// The transparency log.
    #[command(subcommand)]
    Log(LogCommand),
}

/// Where the registry's state lives and which key signs for it.
#[derive(Debug, Args)]
pub struct Local {
    /// Registry settings (TOML); flags and IMMERSE_* variables override it.
    #[arg(long, env = "IMMERSE_REGISTRY_CONFIG")]
    config: Option<PathBuf>,
    /// The registry's entity identifier (https URL).
    #[arg(long, env = "IMMERSE_REGISTRY_ID")]
    registry_id: Option<String>,
    #[arg(
        long,
        env = "IMMERSE_DATABASE_URL",
        default_value = "sqlite://immerse-registry.db"
    )]
    database_url: String,
    /// The registry root key.
    #[command(flatten)]
    key: KeyLocation,
}

impl Local {
    fn config(&self) -> Result<Config, CliError> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?;
                Some(
                    toml::from_str::<ConfigFile>(&text)
                        .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?,
                )
            }
            None => None,
        };
        let mut config = match file {
            Some(file) => Config::try_from(file).map_err(CliError::Io)?,
            None => Config::new(String::new()),
        };
        if let Some(id) = &self.registry_id {
            config.registry_id = id.clone();
        }
        if config.registry_id.is_empty() {
            return Err(CliError::Io(
                "set the registry id (--registry-id, IMMERSE_REGISTRY_ID or the config file)"
                    .into(),
            ));
        }
        Ok(config)
    }

    async fn open(&self) -> Result<Registry, CliError> {
        let config = self.config()?;
        let store = Store::connect(&self.database_url).await?;
        Ok(Registry::new(store, self.key.open_signer().await?, config))
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    local: Local,
    #[arg(
        long,
        env = "IMMERSE_REGISTRY_LISTEN",
        default_value = "127.0.0.1:8700"
    )]
    listen: String,
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Create a token and print it once.
    Create {
        #[command(flatten)]
        local: Local,
        /// Scopes: registry:admin, registry:audit (repeat or comma-separate).
        #[arg(long, value_delimiter = ',', default_value = "registry:admin")]
        scope: Vec<String>,
        #[arg(long, default_value = "operator")]
        description: String,
        /// Lifetime in seconds; none means until revoked in the database.
        #[arg(long)]
        ttl: Option<i64>,
    },
}

/// A running registry and the credentials to call it.
#[derive(Debug, Args)]
pub struct Remote {
    /// Base URL of the registry's HTTP API.
    #[arg(
        long,
        env = "IMMERSE_REGISTRY_URL",
        default_value = "http://127.0.0.1:8700"
    )]
    registry_url: String,
    /// Admin bearer token.
    #[arg(long, env = "IMMERSE_REGISTRY_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum EntityCommand {
    /// Create an entity; prints it with its one-time enrolment secret.
    Create {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        id: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        display_name: String,
        /// JSON: {"credential_types": [...]} or {"claims": [{"path": [...], "purpose": "..."}]}.
        #[arg(long, default_value = "{}")]
        allowances: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Register a key as the entity: proof of possession by the key, plus the enrolment
    /// secret (first key) or a countersignature by an active key.
    Submit {
        #[command(flatten)]
        remote: Remote,
        /// The entity the key belongs to (also the registry's audience must be known).
        #[arg(long)]
        entity: String,
        /// The registry's identifier, the proof's audience.
        #[arg(long, env = "IMMERSE_REGISTRY_ID")]
        registry_id: String,
        /// The new key.
        #[command(flatten)]
        key: KeyLocation,
        #[arg(
            long,
            env = "IMMERSE_ENROLMENT_SECRET",
            hide_env_values = true,
            conflicts_with = "countersign_key_file"
        )]
        enrolment_secret: Option<String>,
        /// An already registered key (PKCS#8 PEM) that vouches for the new one.
        #[arg(long)]
        countersign_key_file: Option<PathBuf>,
    },
    /// Retire a key: it verifies for the retention period, then leaves.
    Retire {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        entity: String,
        #[arg(long)]
        kid: String,
    },
    /// Revoke a key: it leaves the valid set at once.
    Revoke {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        entity: String,
        #[arg(long)]
        kid: String,
        #[arg(long, value_parser = parse_reason, default_value = "unspecified")]
        reason: RevocationReason,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Recompute the log, check it against the signed checkpoint and the stored state.
    Verify {
        #[command(flatten)]
        local: Local,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    serde_json::from_value(Value::String(text.into()))
        .map_err(|_| "issuer, verifier, attester or wallet-provider".into())
}

fn parse_reason(text: &str) -> Result<RevocationReason, String> {
    serde_json::from_value(Value::String(text.into()))
        .map_err(|_| "unspecified, compromised or superseded".into())
}

pub async fn run(command: RegistryCommand) -> Result<(), CliError> {
    match command {
        RegistryCommand::Serve(args) => serve(args).await,
        RegistryCommand::AdminToken(AdminTokenCommand::Create {
            local,
            scope,
            description,
            ttl,
        }) => {
            let scopes = scope
                .iter()
                .map(|name| {
                    Scope::parse(name)
                        .ok_or_else(|| CliError::Io(format!("unknown scope {name:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let store = Store::connect(&local.database_url).await?;
            let now = jwt::now();
            let token =
                create_admin_token(&store, &scopes, &description, ttl.map(|ttl| now + ttl), now)
                    .await?;
            println!("{token}");
            Ok(())
        }
        RegistryCommand::Entity(EntityCommand::Create {
            remote,
            id,
            role,
            display_name,
            allowances,
        }) => {
            let allowances: Allowances = serde_json::from_str(&allowances)
                .map_err(|err| CliError::Io(format!("--allowances: {err}")))?;
            let body = json!({"id": id, "role": role, "display_name": display_name, "allowances": allowances});
            call(&remote, "/admin/v1/entities", body).await
        }
        RegistryCommand::Key(KeyCommand::Submit {
            remote,
            entity,
            registry_id,
            key,
            enrolment_secret,
            countersign_key_file,
        }) => {
            let signer = key.open_signer().await?;
            let now = jwt::now();
            let claims = json!({"iss": entity, "aud": registry_id, "iat": now, "exp": now + 120, "jti": base64url::random(16)?});
            let proof = jwt::sign(
                &*signer,
                &SigningHeader::new(KEY_PROOF_TYP).embed_jwk(),
                &claims,
            )
            .await?;
            let countersignature = match countersign_key_file {
                None => None,
                Some(path) => {
                    let location = KeyLocation::file(path);
                    let vouching = location.open_signer().await?;
                    let proof_hash = base64url::encode(openssl::sha::sha256(proof.as_bytes()));
                    let claims = json!({"iss": entity, "aud": registry_id, "iat": now, "exp": now + 120,
                        "jti": base64url::random(16)?, "proof_hash": proof_hash});
                    Some(
                        jwt::sign(
                            &*vouching,
                            &SigningHeader::new(COUNTERSIGNATURE_TYP),
                            &claims,
                        )
                        .await?,
                    )
                }
            };
            let body = json!({"proof": proof, "enrolment_secret": enrolment_secret, "countersignature": countersignature});
            call(
                &remote,
                &format!("/v1/entities/{}/keys", path_segment(&entity)),
                body,
            )
            .await
        }
        RegistryCommand::Key(KeyCommand::Retire {
            remote,
            entity,
            kid,
        }) => {
            let path = format!(
                "/admin/v1/entities/{}/keys/{}/retire",
                path_segment(&entity),
                path_segment(&kid)
            );
            call(&remote, &path, json!({})).await
        }
        RegistryCommand::Key(KeyCommand::Revoke {
            remote,
            entity,
            kid,
            reason,
        }) => {
            let path = format!(
                "/admin/v1/entities/{}/keys/{}/revoke",
                path_segment(&entity),
                path_segment(&kid)
            );
            call(&remote, &path, json!({"reason": reason})).await
        }
        RegistryCommand::Log(LogCommand::Verify { local }) => {
            let registry = local.open().await?;
            let report = registry.verify_integrity().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report)
                    .map_err(|err| CliError::Io(err.to_string()))?
            );
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let registry = args.local.open().await?;
    registry.verify_integrity().await?;
    tracing::info!(registry_id = %registry.config().registry_id, kid = %registry.root_key().kid().unwrap_or_default(), "key registry");
    let store = registry.store().clone();
    crate::serve::serve_until_stopped(
        "key registry",
        &args.listen,
        immerse_registry::http::router(registry.clone()),
        &store,
    )
    .await?;
    // The refusals tallied in the open window would otherwise be lost with the process.
    if let Err(err) = registry.flush_refusals().await {
        tracing::warn!(%err, "the last window of refusal counts was not written");
    }
    store.close().await;
    Ok(())
}

async fn call(remote: &Remote, path: &str, body: Value) -> Result<(), CliError> {
    post_json(
        &remote.registry_url,
        remote.admin_token.as_deref(),
        path,
        body,
    )
    .await
}

/// POSTs `body` to the registry and prints the JSON answer; a refusal prints the OAuth error
/// and fails.
pub(crate) async fn post_json(
    base_url: &str,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> Result<(), CliError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|err| CliError::Io(err.to_string()))?;
    let mut request = client
        .post(format!("{}{path}", base_url.trim_end_matches('/')))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|err| CliError::Io(format!("registry: {err}")))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .map_err(|err| CliError::Io(format!("registry answer: {err}")))?;
    let text =
        serde_json::to_string_pretty(&answer).map_err(|err| CliError::Io(err.to_string()))?;
    if status.is_success() {
        println!("{text}");
        Ok(())
    } else {
        Err(CliError::Io(format!("registry refused ({status}): {text}")))
    }
}

/// Percent-encodes one path segment (entity ids are URLs).
pub(crate) fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
