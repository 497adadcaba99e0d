//! `immerse wallet`: serve the wallet (holder agent) with its consent page, and drive a running
//! wallet from the command line.
//!
//! The wallet's keys live in its process memory only, so the other commands do not open any
//! state of their own: they call the running wallet's loopback API with the per-process secret
//! it wrote, readable by its owner only.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use immerse_attestation::provider::SevGuestDevice;
use immerse_wallet::http::{ConsentPage, bind_loopback};
use immerse_wallet::{
    Presenter, ProjectedServiceAccountToken, VerifierDirectory, Wallet, WalletConfig,
};
use serde_json::{Value, json};

use crate::CliError;
use crate::serve::RegistryTrust;

#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Serve the wallet: its consent page and API on loopback, keys in memory only.
    Serve(ServeArgs),
    /// Ask the running wallet to accept a credential offer (`openid-credential-offer://...`).
    AcceptOffer {
        #[command(flatten)]
        client: Client,
        uri: String,
        /// The transaction code the issuer sent out of band, when the offer asks for one.
        #[arg(long, env = "IMMERSE_TX_CODE", hide_env_values = true)]
        tx_code: Option<String>,
    },
    /// Show what a presentation request asks; with --approve, send the presentation.
    Present {
        #[command(flatten)]
        client: Client,
        uri: String,
        /// Consent: present the required claims (and the optional ones named by --claim).
        #[arg(long)]
        approve: bool,
        /// An optional claim to disclose too (its key as `present` prints it); repeatable.
        #[arg(long = "claim", requires = "approve")]
        claims: Vec<String>,
    },
    /// List the credentials the running wallet holds.
    List {
        #[command(flatten)]
        client: Client,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    registry: RegistryTrust,
    /// The Attestation Service (in cluster `http://attestation.cvm-security.svc:5000`).
    #[arg(long, env = "IMMERSE_ATTESTATION_URL")]
    attestation_url: String,
    /// The projected service-account token whose audience is the Attestation Service.
    #[arg(
        long,
        env = "IMMERSE_SERVICE_ACCOUNT_TOKEN",
        default_value = "/var/run/secrets/tokens/attestation"
    )]
    service_account_token: PathBuf,
    /// The SEV-SNP guest device.
    #[arg(long, env = "IMMERSE_SEV_GUEST", default_value = "/dev/sev-guest")]
    sev_guest: PathBuf,
    /// The VCEK (DER) the host provisioned, when the Attestation Service does not hold it.
    #[arg(long, env = "IMMERSE_VCEK")]
    vcek: Option<PathBuf>,
    /// `CLIENT_ID=ENTITY_ID`: the registry entity behind a verifier's Client Identifier, whose
    /// registered name and allowances the consent page shows and enforces; repeatable.
    #[arg(long = "verifier", value_parser = parse_verifier)]
    verifiers: Vec<(String, String)>,
    /// The consent page and API; loopback addresses only.
    #[arg(long, env = "IMMERSE_WALLET_LISTEN", default_value = "127.0.0.1:8703")]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    secret: SecretFile,
}

#[derive(Debug, Args)]
pub struct SecretFile {
    /// Where `serve` writes the per-process API secret (mode 0600) and the other commands
    /// read it.
    #[arg(
        long,
        env = "IMMERSE_WALLET_SECRET_FILE",
        default_value = "immerse-wallet.secret"
    )]
    secret_file: PathBuf,
}

/// A running wallet's API.
#[derive(Debug, Args)]
pub struct Client {
    #[arg(
        long,
        env = "IMMERSE_WALLET_URL",
        default_value = "http://127.0.0.1:8703"
    )]
    wallet_url: String,
    #[command(flatten)]
    secret: SecretFile,
}

fn parse_verifier(text: &str) -> Result<(String, String), String> {
    // Client Identifiers contain ':' but never '='; entity ids are https URLs.
    let (client_id, entity) = text
        .rsplit_once('=')
        .ok_or("expected CLIENT_ID=ENTITY_ID")?;
    if client_id.is_empty() || !entity.starts_with("https://") {
        return Err("expected CLIENT_ID=ENTITY_ID with an https entity id".into());
    }
    Ok((client_id.to_owned(), entity.to_owned()))
}

pub async fn run(command: WalletCommand) -> Result<(), CliError> {
    match command {
        WalletCommand::Serve(args) => serve(args).await,
        WalletCommand::AcceptOffer {
            client,
            uri,
            tx_code,
        } => {
            let issued = client
                .post(
                    "/api/v1/offers",
                    json!({"offer_uri": uri, "tx_code": tx_code}),
                )
                .await?;
            print_json(&issued)
        }
        WalletCommand::Present {
            client,
            uri,
            approve,
            claims,
        } => {
            let pending = client.post("/api/v1/requests", json!({"uri": uri})).await?;
            print_json(&pending)?;
            if !approve {
                return Ok(());
            }
            let id = pending["id"].as_str().ok_or_else(|| {
                CliError::Io(format!("the wallet answered without an id: {pending}"))
            })?;
            let outcome = client
                .post(
                    &format!("/api/v1/requests/{id}/approve"),
                    json!({"claims": claims}),
                )
                .await?;
            print_json(&outcome)
        }
        WalletCommand::List { client } => print_json(&client.get("/api/v1/credentials").await?),
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let evidence = Arc::new(SevGuestDevice {
        device: args.sev_guest.clone(),
        vmpl: 0,
        vcek: args.vcek.clone(),
    });
    let config = WalletConfig::new(
        args.registry.client()?,
        args.attestation_url.clone(),
        Arc::new(ProjectedServiceAccountToken(
            args.service_account_token.clone(),
        )),
        evidence,
    );
    let wallet = Wallet::new(config).map_err(|err| CliError::Io(err.to_string()))?;
    let expiry = wallet.spawn_expiry_task(Duration::from_secs(60));
    let directory = args.verifiers.iter().fold(
        VerifierDirectory::default(),
        |directory, (client, entity)| directory.with(client.clone(), entity.clone()),
    );
    let presenter = Arc::new(Presenter::new(wallet, directory));
    let listener = bind_loopback(args.listen)
        .await
        .map_err(|err| CliError::Io(format!("{}: {err}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|err| CliError::Io(err.to_string()))?;
    let page = Arc::new(
        ConsentPage::new(presenter, address).map_err(|err| CliError::Io(err.to_string()))?,
    );
    write_secret(&args.secret.secret_file, page.secret())?;
    tracing::info!(%address, secret_file = %args.secret.secret_file.display(), "wallet serving");
    println!("consent page: {}", page.login_url());
    let served = tokio::select! {
        served = immerse_wallet::http::serve(listener, page) => served.map_err(|err| CliError::Io(err.to_string())),
        () = crate::serve::shutdown_signal() => Ok(()),
    };
    expiry.abort();
    // The secret names a process that is gone.
    let _ = std::fs::remove_file(&args.secret.secret_file);
    served
}

/// Replaces `path` with `secret`, readable by its owner only.
fn write_secret(path: &Path, secret: &str) -> Result<(), CliError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(CliError::Io(format!("{}: {err}", path.display()))),
    }
    crate::keys::write_private_file(path, secret.as_bytes())
}

impl Client {
    fn secret(&self) -> Result<String, CliError> {
        let path = &self.secret.secret_file;
        std::fs::read_to_string(path)
            .map(|text| text.trim().to_owned())
            .map_err(|err| {
                CliError::Io(format!(
                    "{}: {err} (is `immerse wallet serve` running?)",
                    path.display()
                ))
            })
    }

    async fn get(&self, path: &str) -> Result<Value, CliError> {
        let http = reqwest::Client::new();
        self.send(http.get(self.url(path))).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, CliError> {
        let http = reqwest::Client::new();
        self.send(http.post(self.url(path)).json(&body)).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.wallet_url.trim_end_matches('/'))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, CliError> {
        let response = request
            .bearer_auth(self.secret()?)
            // Issuance runs attestation, token and credential requests: allow for all three.
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|err| CliError::Io(format!("wallet: {err}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|err| CliError::Io(format!("wallet answer: {err}")))?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|err| CliError::Io(format!("wallet answer: {err}")))?
        };
        if status.is_success() {
            Ok(body)
        } else {
            Err(CliError::Io(format!(
                "the wallet refused ({status}): {body}"
            )))
        }
    }
}

fn print_json(value: &Value) -> Result<(), CliError> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|err| CliError::Io(err.to_string()))?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn verifier_directory_entries_name_an_https_entity() {
        let (client, entity) =
            super::parse_verifier("x509_hash:abc=https://verifier.example").unwrap();
        assert_eq!(client, "x509_hash:abc");
        assert_eq!(entity, "https://verifier.example");
        assert!(super::parse_verifier("x509_hash:abc").is_err());
        assert!(super::parse_verifier("x509_hash:abc=http://verifier.example").is_err());
        assert!(super::parse_verifier("=https://verifier.example").is_err());
    }
}
