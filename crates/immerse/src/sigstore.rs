//! `immerse sigstore`: offline Sigstore bundle verification, following the
//! sigstore-conformance client protocol:
//!
//! ```text
//! immerse sigstore verify-bundle [--staging] --bundle FILE
//!     (--certificate-identity ID --certificate-oidc-issuer URL | --key PEM)
//!     [--trusted-root FILE] FILE_OR_DIGEST
//! ```
//!
//! `FILE_OR_DIGEST` is a path or `sha256:<hex>`. Exit status 0 means the bundle verified.
//!
//! Trust root: this command never goes to the network, so it cannot run Sigstore's TUF
//! client. `--trusted-root` is therefore required; without it (with or without `--staging`)
//! the command refuses with a message saying where to get one, instead of trusting an
//! embedded copy that would silently go stale as Sigstore rotates keys.
use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use immerse_sigstore::{
    Artifact, HashAlgorithm, IdentityPolicy, Policy, TrustedRoot, VerificationKey, VerifiedSigner,
    Verifier,
};
use serde_json::json;

use crate::CliError;

/// Largest bundle or trusted root read (real ones are a few KiB).
const MAX_JSON: u64 = 4 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum SigstoreCommand {
    /// Verify a Sigstore bundle (v0.1 to v0.3) offline against a trusted root.
    VerifyBundle(VerifyBundleArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("signer").required(true).args(["certificate_identity", "key"])))]
pub struct VerifyBundleArgs {
    /// Use Sigstore's staging instance. Offline, this only changes the message shown when
    /// `--trusted-root` is missing.
    #[arg(long)]
    staging: bool,
    /// The bundle (`.sigstore.json`).
    #[arg(long)]
    bundle: PathBuf,
    /// The expected certificate SAN (email or URI), matched exactly.
    #[arg(long, requires = "certificate_oidc_issuer", conflicts_with = "key")]
    certificate_identity: Option<String>,
    /// The expected OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8 or .1.1), exactly.
    #[arg(long, requires = "certificate_identity", conflicts_with = "key")]
    certificate_oidc_issuer: Option<String>,
    /// A PEM public key (ECDSA P-256/P-384, Ed25519, RSA >= 2048) instead of an identity.
    #[arg(long)]
    key: Option<PathBuf>,
    /// With `--key` only: accept a bundle that has no transparency log entry.
    #[arg(long, requires = "key")]
    allow_missing_tlog: bool,
    /// `trusted_root.json` (protobuf-specs TrustedRoot), e.g. from `sigstore/root-signing`
    /// (targets/trusted_root.json) or `cosign trusted-root create`.
    #[arg(long)]
    trusted_root: Option<PathBuf>,
    /// The artifact: a file path, or `sha256:<64 hex digits>`.
    file_or_digest: String,
}

pub async fn run(command: SigstoreCommand) -> Result<(), CliError> {
    match command {
        SigstoreCommand::VerifyBundle(args) => verify_bundle(args),
    }
}

fn read_bounded(path: &PathBuf, what: &str) -> Result<String, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|err| CliError::Io(format!("{what} {}: {err}", path.display())))?;
    if meta.len() > MAX_JSON {
        return Err(CliError::Io(format!(
            "{what} {} is larger than {MAX_JSON} bytes",
            path.display()
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|err| CliError::Io(format!("{what} {}: {err}", path.display())))
}

fn parse_digest(text: &str) -> Option<Vec<u8>> {
    let hex_digits = text.strip_prefix("sha256:")?;
    let bytes = hex::decode(hex_digits).ok()?;
    (bytes.len() == 32).then_some(bytes)
}

fn verify_bundle(args: VerifyBundleArgs) -> Result<(), CliError> {
    let Some(root_path) = &args.trusted_root else {
        let instance = if args.staging {
            "staging"
        } else {
            "public-good"
        };
        return Err(CliError::Io(format!(
            "--trusted-root is required: this verifier is offline and does not fetch the \
             Sigstore {instance} trusted root over TUF; pass the trusted_root.json you trust"
        )));
    };
    let root = TrustedRoot::from_json(&read_bounded(root_path, "trusted root")?)
        .map_err(|err| CliError::Io(format!("trusted root refused: {err}")))?;
    let bundle_json = read_bounded(&args.bundle, "bundle")?;

    let policy = match (
        &args.key,
        &args.certificate_identity,
        &args.certificate_oidc_issuer,
    ) {
        (Some(path), None, None) => {
            let pem = std::fs::read(path)
                .map_err(|err| CliError::Io(format!("key {}: {err}", path.display())))?;
            let key = VerificationKey::from_pem(&pem)
                .map_err(|err| CliError::Io(format!("key refused: {err}")))?;
            let policy = Policy::key(key);
            if args.allow_missing_tlog {
                policy.allowing_missing_tlog()
            } else {
                policy
            }
        }
        (None, Some(identity), Some(issuer)) => {
            Policy::identity(IdentityPolicy::exact(identity.clone(), issuer.clone()))
        }
        _ => {
            return Err(CliError::Io(
                "give --certificate-identity with --certificate-oidc-issuer, or --key".into(),
            ));
        }
    };

    let contents;
    let digest;
    let artifact = if args.file_or_digest.starts_with("sha256:") {
        digest = parse_digest(&args.file_or_digest).ok_or_else(|| {
            CliError::Io("digest must be sha256: followed by 64 hex digits".into())
        })?;
        Artifact::Digest(HashAlgorithm::Sha256, &digest)
    } else {
        contents = std::fs::read(&args.file_or_digest)
            .map_err(|err| CliError::Io(format!("artifact {}: {err}", args.file_or_digest)))?;
        Artifact::Bytes(&contents)
    };

    let verifier = Verifier::new(root);
    match verifier.verify_json(&bundle_json, Some(artifact), &policy) {
        Ok(verified) => {
            let signer = match &verified.signer {
                VerifiedSigner::Certificate { identity, .. } => json!({
                    "identities": identity.subject_alternative_names(),
                    "issuer": identity.issuer,
                }),
                VerifiedSigner::Key(key) => json!({ "key_id": hex::encode(key.key_id()) }),
            };
            println!(
                "{}",
                json!({
                    "verdict": "verified",
                    "signer": signer,
                    "signing_times": verified.signing_times,
                    "log_entries": verified.log_entries.len(),
                })
            );
            Ok(())
        }
        Err(err) => {
            println!(
                "{}",
                json!({"verdict": "refused", "reason": err.to_string()})
            );
            Err(CliError::Io(format!("bundle refused: {err}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_must_be_sha256_of_full_length() {
        assert!(parse_digest(&format!("sha256:{}", "ab".repeat(32))).is_some());
        assert!(parse_digest(&format!("sha256:{}", "ab".repeat(31))).is_none());
        assert!(parse_digest(&format!("sha512:{}", "ab".repeat(32))).is_none());
        assert!(parse_digest("sha256:zz").is_none());
    }
}
