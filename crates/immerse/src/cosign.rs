//! `immerse cosign`: sign an image and attach attestations in a registry, in both of cosign's
//! storage schemes (legacy `.sig`/`.att` tags and Sigstore bundle v0.3 referrers), with a
//! software or PKCS#11 key. The formats and the signing are `immerse-slsa`'s; this module
//! parses arguments and wires the registry client.
//!
//! ```text
//! immerse cosign sign IMAGE (--key-file F | --pkcs11 ...) [--allow-http]
//! immerse cosign attest IMAGE --predicate FILE --type slsaprovenance1|URI (--key-file | --pkcs11)
//! ```
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use immerse_oci::{Credentials, Digest, ImageRef, RegistryClient, Repository};
use immerse_slsa::sign::{attest_image, image_statement, sign_image};
use serde_json::{Value, json};

use crate::CliError;
use crate::keys::KeyLocation;

/// Largest predicate file read.
const MAX_PREDICATE: u64 = 16 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum CosignCommand {
    /// Sign an image: a `.sig` layer and a Sigstore bundle referrer.
    Sign(SignArgs),
    /// Attach a signed in-toto attestation: a `.att` layer and a Sigstore bundle referrer.
    Attest(AttestArgs),
}

/// How to reach the registry.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Plain http instead of https; refused unless the registry is on loopback.
    #[arg(long)]
    pub allow_http: bool,
    /// Registry user name (Basic or token authentication).
    #[arg(long, env = "IMMERSE_REGISTRY_USERNAME", requires = "password_env")]
    pub username: Option<String>,
    /// Environment variable that holds the registry password.
    #[arg(long, requires = "username")]
    pub password_env: Option<String>,
}

impl RegistryArgs {
    pub fn client(&self, image: &ImageRef) -> Result<RegistryClient, CliError> {
        let credentials = match (&self.username, &self.password_env) {
            (Some(username), Some(var)) => Credentials::Basic {
                username: username.clone(),
                password: std::env::var(var)
                    .map_err(|_| CliError::Io(format!("registry password: ${var} is not set")))?,
            },
            _ => Credentials::Anonymous,
        };
        RegistryClient::builder(image.api_host())
            .credentials(credentials)
            .plain_http(self.allow_http)
            .build()
            .map_err(oci)
    }
}

pub fn oci(err: immerse_oci::OciError) -> CliError {
    CliError::Io(format!("registry: {err}"))
}

pub fn chain(err: immerse_slsa::SupplyChainError) -> CliError {
    CliError::Io(err.to_string())
}

/// The image's digest: from the reference, or by resolving its tag (the digest is what gets
/// signed; a tag can move).
pub async fn resolve_digest(repo: &Repository<'_>, image: &ImageRef) -> Result<Digest, CliError> {
    if let Some(digest) = image.digest() {
        return Ok(*digest);
    }
    let tag = image.tag_or_default().unwrap_or("latest");
    let descriptor = repo
        .head_manifest(tag)
        .await
        .map_err(oci)?
        .ok_or_else(|| CliError::Io(format!("{} not found", image.reference())))?;
    tracing::info!(tag, digest = %descriptor.digest, "resolved the tag to a digest");
    Ok(descriptor.digest)
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The image: `registry/repository[:tag][@sha256:...]`.
    image: String,
    #[command(flatten)]
    key: KeyLocation,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The image: `registry/repository[:tag][@sha256:...]`.
    image: String,
    /// The predicate (JSON). An in-toto statement is accepted too: its predicate is used and
    /// the subject becomes the image, as `slsa generate` output is for files.
    #[arg(long)]
    predicate: PathBuf,
    /// cosign's predicate type names (`slsaprovenance1`, `slsaprovenance`, `spdxjson`,
    /// `cyclonedx`, `vuln`, `openvex`, `custom`) or a predicate type URI.
    #[arg(long = "type", default_value = "custom")]
    predicate_type: String,
    #[command(flatten)]
    key: KeyLocation,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// cosign's `--type` names (cmd/cosign/cli/options/predicate.go).
pub fn predicate_type_uri(name: &str) -> Result<String, CliError> {
    let uri = match name {
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "openvex" => "https://openvex.dev/ns",
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        uri if uri.contains("://") => uri,
        other => {
            return Err(CliError::Io(format!(
                "--type {other:?} is neither a known predicate type name nor a URI"
            )));
        }
    };
    Ok(uri.to_owned())
}

pub async fn run(command: CosignCommand) -> Result<(), CliError> {
    match command {
        CosignCommand::Sign(args) => sign(args).await,
        CosignCommand::Attest(args) => attest(args).await,
    }
}

async fn sign(args: SignArgs) -> Result<(), CliError> {
    let image = ImageRef::parse(&args.image).map_err(oci)?;
    let client = args.registry.client(&image)?;
    let repo = client.repository(image.repository()).map_err(oci)?;
    let digest = resolve_digest(&repo, &image).await?;
    let signer = args.key.open_signer().await?;
    // cosign names the repository (`registry/repo`) in the simple-signing payload.
    let docker_reference = image.name();
    let written = sign_image(&repo, &digest, &docker_reference, signer.as_ref())
        .await
        .map_err(chain)?;
    print_written(&image, &digest, &written);
    Ok(())
}

async fn attest(args: AttestArgs) -> Result<(), CliError> {
    let image = ImageRef::parse(&args.image).map_err(oci)?;
    let predicate_type = predicate_type_uri(&args.predicate_type)?;
    let predicate = read_predicate(&args.predicate, &predicate_type)?;
    let client = args.registry.client(&image)?;
    let repo = client.repository(image.repository()).map_err(oci)?;
    let digest = resolve_digest(&repo, &image).await?;
    let name = image.name();
    let statement = image_statement(&name, &digest, &predicate_type, &predicate).map_err(chain)?;
    let signer = args.key.open_signer().await?;
    let written = attest_image(&repo, &digest, &statement, signer.as_ref())
        .await
        .map_err(chain)?;
    print_written(&image, &digest, &written);
    Ok(())
}

fn read_predicate(path: &Path, predicate_type: &str) -> Result<Value, CliError> {
    let bytes = crate::slsa::read_bounded(path, MAX_PREDICATE, "predicate")?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| CliError::Io(format!("predicate {}: {e}", path.display())))?;
    let is_statement = value
        .get("_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.starts_with("https://in-toto.io/Statement/"));
    if !is_statement {
        return Ok(value);
    }
    let inner_type = value.get("predicateType").and_then(Value::as_str);
    if inner_type != Some(predicate_type) {
        return Err(CliError::Io(format!(
            "the statement's predicateType {inner_type:?} is not --type {predicate_type:?}"
        )));
    }
    value
        .get("predicate")
        .cloned()
        .ok_or_else(|| CliError::Io("the statement has no predicate".into()))
}

fn print_written(image: &ImageRef, digest: &Digest, written: &immerse_slsa::sign::Written) {
    println!(
        "{}",
        json!({
            "image": format!("{}@{digest}", image.name()),
            "legacy_manifest": written.legacy.digest.to_string(),
            "referrer_manifest": written.referrer.digest.to_string(),
        })
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicate_type_names_follow_cosign() {
        assert_eq!(
            predicate_type_uri("slsaprovenance1").unwrap(),
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(
            predicate_type_uri("slsaprovenance").unwrap(),
            "https://slsa.dev/provenance/v0.2"
        );
        assert_eq!(
            predicate_type_uri("https://example.com/p/v1").unwrap(),
            "https://example.com/p/v1"
        );
        assert!(predicate_type_uri("slsa").is_err());
    }
}
