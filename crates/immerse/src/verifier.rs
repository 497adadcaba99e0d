//! `immerse verifier serve`: the OpenID4VP Verifier and its relying-party API.
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use immerse_registry::RegistryError;
use immerse_store::Store;
use immerse_verifier::{ClientIdPrefix, ClientIdentity, Config, ConfigFile, Verifier};

use crate::CliError;
use crate::keys::KeyLocation;
use crate::serve::RegistryTrust;

#[derive(Debug, Subcommand)]
pub enum VerifierCommand {
    /// Serve request objects, the response endpoint and the relying-party API.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Verifier configuration (TOML): `public_url`, relying-party API token hashes, policy.
    #[arg(long, env = "IMMERSE_VERIFIER_CONFIG")]
    config: PathBuf,
    #[arg(
        long,
        env = "IMMERSE_VERIFIER_LISTEN",
        default_value = "127.0.0.1:8702"
    )]
    listen: String,
    #[arg(
        long,
        env = "IMMERSE_DATABASE_URL",
        default_value = "sqlite://immerse-verifier.db"
    )]
    database_url: String,
    /// Client Identifier prefix (OpenID4VP 1.0 s5.9.3): `x509_hash`, or
    /// `openid_federation:<entity id>` with the verifier's Key Registry entity, whose registered
    /// key signs the request objects (named by `kid`, no certificate).
    #[arg(
        long,
        env = "IMMERSE_VERIFIER_CLIENT_ID_PREFIX",
        default_value = "x509_hash"
    )]
    client_id_prefix: ClientIdPrefix,
    /// PEM certificate chain, leaf first: the leaf names the request-signing key, and its
    /// SHA-256 is the `x509_hash` Client Identifier. Needed for `x509_hash` only.
    #[arg(long, env = "IMMERSE_VERIFIER_CERTIFICATES")]
    certificates: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryTrust,
    /// The request-signing key.
    #[command(flatten)]
    key: KeyLocation,
    /// Accept a software key file (development only: it is exportable).
    #[arg(long)]
    allow_software_key: bool,
}

pub async fn run(command: VerifierCommand) -> Result<(), CliError> {
    match command {
        VerifierCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    if !args.key.is_pkcs11() && !args.allow_software_key {
        return Err(CliError::Io(
            "the request-signing key must be a PKCS#11 key (--pkcs11); --allow-software-key is for development".into(),
        ));
    }
    let text = std::fs::read_to_string(&args.config)
        .map_err(|err| CliError::Io(format!("{}: {err}", args.config.display())))?;
    let file: ConfigFile = toml::from_str(&text)
        .map_err(|err| CliError::Io(format!("{}: {err}", args.config.display())))?;
    let config = Config::try_from(file)
        .map_err(|err| CliError::Io(format!("{}: {err}", args.config.display())))?;
    if config.api_token_hashes.is_empty() {
        return Err(CliError::Io(format!(
            "{}: api_token_hashes is empty: no relying party could create a request",
            args.config.display()
        )));
    }
    let chain = match (&args.client_id_prefix, &args.certificates) {
        (ClientIdPrefix::X509Hash, None) => {
            return Err(CliError::Io(
                "--certificates is required with the x509_hash client identifier prefix".into(),
            ));
        }
        (_, Some(path)) => Some(certificate_chain(path)?),
        (ClientIdPrefix::OpenIdFederation(_), None) => None,
    };
    let signer = args.key.open_signer().await?;
    let identity = ClientIdentity::new(&args.client_id_prefix, signer, chain)
        .map_err(|err| CliError::Io(err.to_string()))?;
    let registry = args.registry.client()?;
    let store = Store::connect(&args.database_url).await?;
    tracing::info!(client_id = %identity.client_id(), public_url = %config.public_url, "verifier");
    let verifier = Verifier::new(config, identity, store.clone(), registry)
        .map_err(|err| CliError::Io(err.to_string()))?;
    // A verifier whose key the registry does not list would be refused by every wallet; while
    // the registry cannot be reached at start, serving (and saying so) beats not serving.
    match verifier.check_registration().await {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => return Err(CliError::Io(reason)),
        Err(err @ RegistryError::Unavailable(_)) => {
            tracing::warn!(error = %err, "registration of the verifier not checked");
        }
        Err(err) => return Err(CliError::Io(format!("verifier registration: {err}"))),
    }
    crate::serve::serve(
        "verifier",
        &args.listen,
        immerse_verifier::http::router(Arc::new(verifier)),
        store,
    )
    .await
}

/// DER certificates of a PEM file, in file order.
fn certificate_chain(path: &PathBuf) -> Result<Vec<Vec<u8>>, CliError> {
    let pem =
        std::fs::read(path).map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?;
    let chain = openssl::x509::X509::stack_from_pem(&pem)
        .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?;
    if chain.is_empty() {
        return Err(CliError::Io(format!("{}: no certificate", path.display())));
    }
    chain
        .iter()
        .map(|certificate| {
            certificate
                .to_der()
                .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: VerifierCommand,
    }

    fn serve_args(extra: &[&str]) -> Result<ServeArgs, clap::Error> {
        let mut argv = vec![
            "verifier",
            "serve",
            "--config",
            "v.toml",
            "--key-file",
            "k.pem",
            "--registry-id",
            "https://registry.test",
            "--registry-jwk",
            "r.jwk",
        ];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            VerifierCommand::Serve(args) => args,
        })
    }

    #[test]
    fn client_id_prefix_defaults_to_x509_hash_and_takes_an_entity_for_federation() {
        let args = serve_args(&["--certificates", "c.pem"]).unwrap();
        assert_eq!(args.client_id_prefix, ClientIdPrefix::X509Hash);
        let args = serve_args(&[
            "--client-id-prefix",
            "openid_federation:https://verifier.test",
        ])
        .unwrap();
        assert_eq!(
            args.client_id_prefix,
            ClientIdPrefix::OpenIdFederation("https://verifier.test".into())
        );
        assert!(args.certificates.is_none());
        assert!(serve_args(&["--client-id-prefix", "x509_san_dns"]).is_err());
        assert!(serve_args(&["--client-id-prefix", "openid_federation:verifier.test"]).is_err());
    }
}
