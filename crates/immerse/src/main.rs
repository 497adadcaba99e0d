//! `immerse`: one binary for every IMMERSE service, the demo, and admin commands.
#![forbid(unsafe_code)]

mod admission;
mod attestation;
mod cosign;
mod demo;
mod issuer;
mod keys;
mod registry;
mod serve;
mod sigstore;
mod slsa;
mod verifier;
mod wallet;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "immerse",
    version,
    about = "Verifiable identity and supply chain for confidential workloads"
)]
struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "IMMERSE_LOG_FORMAT")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version.
    Version,
    /// Generate or show signing keys (software or PKCS#11).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The Key Registry: serve it, bootstrap admin tokens, manage entities and keys.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// The Attestation Service: serve it, create its A-Key, verify SEV-SNP evidence offline.
    #[command(subcommand)]
    Attestation(attestation::AttestationCommand),
    /// The OpenID4VCI Credential Issuer.
    #[command(subcommand)]
    Issuer(issuer::IssuerCommand),
    /// The OpenID4VP Verifier.
    #[command(subcommand)]
    Verifier(verifier::VerifierCommand),
    /// The wallet (holder agent): serve it, accept offers, present, list.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Verify Sigstore bundles offline (sigstore-conformance client protocol).
    #[command(subcommand)]
    Sigstore(sigstore::SigstoreCommand),
    /// Sign images and attach attestations in a registry (both of cosign's schemes).
    #[command(subcommand)]
    Cosign(cosign::CosignCommand),
    /// Verify SLSA provenance (slsa-verifier's flags) and generate it.
    #[command(subcommand)]
    Slsa(slsa::SlsaCommand),
    /// The Kubernetes admission webhook: serve it, judge manifests offline, print its CRD.
    #[command(subcommand)]
    Admission(admission::AdmissionCommand),
    /// The whole credential lifecycle on one machine, on embedded defaults (SQLite, loopback,
    /// no cluster): issuance to an attested wallet, selective disclosure, revocation.
    Demo(demo::DemoArgs),
}

/// Errors that end the process with a message and a non-zero status.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Jose(#[from] immerse_jose::Error),
    #[error(transparent)]
    Store(#[from] immerse_store::StoreError),
    #[error(transparent)]
    Registry(#[from] immerse_registry::RegistryError),
    #[error(transparent)]
    Slsa(#[from] immerse_slsa::SlsaError),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Demo(String),
}

fn init_logging(format: LogFormat) {
    // IMMERSE_LOG takes tracing's filter syntax, for example `info,immerse_store=debug`.
    let filter = EnvFilter::try_from_env("IMMERSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("immerse: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Version => {
                println!("immerse {}", env!("CARGO_PKG_VERSION"));
                Ok(())
            }
            Command::Keys(command) => keys::run(command).await,
            Command::Registry(command) => registry::run(command).await,
            Command::Attestation(command) => attestation::run(command).await,
            Command::Issuer(command) => issuer::run(command).await,
            Command::Verifier(command) => verifier::run(command).await,
            Command::Wallet(command) => wallet::run(command).await,
            Command::Sigstore(command) => sigstore::run(command).await,
            Command::Cosign(command) => cosign::run(command).await,
            Command::Slsa(command) => slsa::run(command).await,
            Command::Admission(command) => admission::run(command).await,
            Command::Demo(args) => demo::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("immerse: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
