//! `immerse slsa`: verify SLSA provenance with slsa-verifier's flags and semantics, and
//! generate (and sign) SLSA v1 provenance. The protocol is `immerse-slsa`'s; this module
//! parses arguments, reads files and maps the outcome to an exit status.
//!
//! ```text
//! immerse slsa verify-artifact --provenance-path F --source-uri S [--builder-id B]
//!     [--source-branch B | --source-tag T | --source-versioned-tag V]
//!     (--trusted-root FILE | --key PEM [--allow-missing-tlog]) ARTIFACT...
//! immerse slsa verify-image IMAGE@sha256:... | LAYOUT_DIR --digest sha256:... --source-uri S ...
//! immerse slsa generate --builder-id B [--build-type T] [--source-uri S --source-ref R
//!     --source-commit C] --output F [--key-file F | --pkcs11 ...] ARTIFACT...
//! ```
//!
//! Keyless provenance is trusted through `--trusted-root` (offline; no TUF) with the signing
//! certificate's OIDC issuer checked (GitHub Actions by default); the builder is then the
//! workflow the certificate names, cross-checked with the predicate. Key-signed provenance
//! names no workflow: `--builder-id` is required and the predicate must name that builder.
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use immerse_oci::{Digest, ImageRef, OciLayout};
use immerse_sigstore::{
    IdentityPolicy, Matcher, Policy, TrustedRoot, VerificationKey, VerifiedSigner, Verifier,
};
use immerse_slsa::{
    BuildDescription, GITHUB_WORKFLOW_BUILD_TYPES, ProvenanceOptions, ResourceDescriptor,
    SourceRefPolicy, Timestamp, VerifiedProvenance, generate, subject_from_reader,
    verify_artifact_provenance, verify_image_provenance,
};
use serde_json::{Map, Value, json};

use crate::CliError;
use crate::cosign::{RegistryArgs, oci};
use crate::keys::KeyLocation;

/// Largest trusted root, key or provenance file read.
const MAX_FILE: u64 = 16 * 1024 * 1024;
/// Largest artifact hashed in memory by `verify-artifact`.
const MAX_ARTIFACT: u64 = 4 * 1024 * 1024 * 1024;
const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

#[derive(Debug, Subcommand)]
pub enum SlsaCommand {
    /// Verify provenance for files (slsa-verifier verify-artifact).
    VerifyArtifact(VerifyArtifactArgs),
    /// Verify provenance attached to an image (slsa-verifier verify-image).
    VerifyImage(VerifyImageArgs),
    /// Write SLSA v1 provenance for files, signed as DSSE when a key is given.
    Generate(GenerateArgs),
}

/// What the provenance must say (slsa-verifier's flags).
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Expected source repository, e.g. `github.com/org/repo`.
    #[arg(long)]
    source_uri: String,
    /// Trusted builder: `<builder>`, `<builder>@vX.Y.Z` or `<builder>@refs/tags/vX.Y.Z`.
    #[arg(long)]
    builder_id: Option<String>,
    /// Expected source branch.
    #[arg(long, conflicts_with_all = ["source_tag", "source_versioned_tag"])]
    source_branch: Option<String>,
    /// Expected source tag.
    #[arg(long, conflicts_with = "source_versioned_tag")]
    source_tag: Option<String>,
    /// Expected semantic-version tag: `v14` accepts `v14.2.0`, refuses `v15.0.0`.
    #[arg(long)]
    source_versioned_tag: Option<String>,
    /// Signing workflows trusted to sign for another builder (BYOB delegators).
    #[arg(long = "trusted-delegator")]
    trusted_delegators: Vec<String>,
    /// Require the builder at a release tag `refs/tags/vX.Y.Z`.
    #[arg(long)]
    require_builder_release_tag: bool,
}

impl PolicyArgs {
    fn options(&self) -> ProvenanceOptions {
        let source_ref = match (
            &self.source_branch,
            &self.source_tag,
            &self.source_versioned_tag,
        ) {
            (Some(b), _, _) => Some(SourceRefPolicy::Branch(b.clone())),
            (_, Some(t), _) => Some(SourceRefPolicy::Tag(t.clone())),
            (_, _, Some(v)) => Some(SourceRefPolicy::VersionedTag(v.clone())),
            _ => None,
        };
        ProvenanceOptions {
            expected_digests: Vec::new(),
            source_uri: self.source_uri.clone(),
            builder_id: self.builder_id.clone(),
            trusted_delegators: self.trusted_delegators.clone(),
            require_builder_release_tag: self.require_builder_release_tag,
            source_ref,
        }
    }
}

/// Who may have signed.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// `trusted_root.json` (Sigstore protobuf-specs TrustedRoot) for certificate-signed
    /// provenance; this command is offline and never fetches one.
    #[arg(long)]
    trusted_root: Option<PathBuf>,
    /// A PEM public key (ECDSA P-256/P-384, Ed25519, RSA >= 2048) that signed the provenance.
    #[arg(long)]
    key: Option<PathBuf>,
    /// With `--key`: accept provenance that has no transparency-log entry.
    #[arg(long, requires = "key")]
    allow_missing_tlog: bool,
    /// The signing certificate's OIDC issuer.
    #[arg(long, default_value = GITHUB_ACTIONS_ISSUER, conflicts_with = "key")]
    certificate_oidc_issuer: String,
}

impl TrustArgs {
    fn verifier_and_policy(&self) -> Result<(Verifier, Policy), CliError> {
        let root = match &self.trusted_root {
            Some(path) => {
                let text = String::from_utf8(read_bounded(path, MAX_FILE, "trusted root")?)
                    .map_err(|_| CliError::Io("trusted root is not UTF-8".into()))?;
                TrustedRoot::from_json(&text)
                    .map_err(|e| CliError::Io(format!("trusted root refused: {e}")))?
            }
            // A key needs no roots unless its policy asks for a log entry.
            None if self.key.is_some() => TrustedRoot::default(),
            None => {
                return Err(CliError::Io(
                    "give --trusted-root (certificate-signed provenance) or --key".into(),
                ));
            }
        };
        let policy = match &self.key {
            Some(path) => {
                let key = VerificationKey::from_pem(&read_bounded(path, MAX_FILE, "key")?)
                    .map_err(|e| CliError::Io(format!("key refused: {e}")))?;
                let policy = Policy::key(key);
                if self.allow_missing_tlog {
                    policy.allowing_missing_tlog()
                } else {
                    policy
                }
            }
            // Any identity of the issuer: the provenance policy judges the workflow itself.
            None => Policy::identity(IdentityPolicy {
                identity: Matcher::regex(".*").map_err(|e| CliError::Io(e.to_string()))?,
                issuer: Matcher::exact(self.certificate_oidc_issuer.clone()),
            }),
        };
        Ok((Verifier::new(root), policy))
    }
}

#[derive(Debug, Args)]
pub struct VerifyArtifactArgs {
    /// The provenance: a DSSE envelope, a Sigstore bundle, or `.intoto.jsonl`.
    #[arg(long)]
    provenance_path: PathBuf,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// The artifacts the provenance must name.
    #[arg(required = true)]
    artifacts: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyImageArgs {
    /// `registry/repository@sha256:...`, or an OCI image layout directory (with --digest).
    image: String,
    /// The image digest, for an OCI layout directory.
    #[arg(long)]
    digest: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Debug, Args)]
// The key is optional here: without one the statement is written unsigned.
#[command(mut_arg("key_file", |a| a.required_unless_present(clap::builder::Resettable::<clap::Id>::Reset)))]
pub struct GenerateArgs {
    /// `runDetails.builder.id`, e.g. the release workflow at its ref.
    #[arg(long)]
    builder_id: String,
    /// `buildDefinition.buildType`.
    #[arg(long, default_value = GITHUB_WORKFLOW_BUILD_TYPES[0])]
    build_type: String,
    /// The built repository (`https://github.com/org/repo`).
    #[arg(long, requires = "source_ref")]
    source_uri: Option<String>,
    /// The built ref (`refs/heads/main`, `refs/tags/v1.2.3`).
    #[arg(long, requires = "source_uri")]
    source_ref: Option<String>,
    /// The built commit.
    #[arg(long, requires = "source_uri")]
    source_commit: Option<String>,
    /// The workflow file, for GitHub workflow build types.
    #[arg(long, default_value = ".github/workflows/release.yml")]
    workflow_path: String,
    /// `runDetails.metadata.invocationId`, e.g. the CI run URL.
    #[arg(long)]
    invocation_id: Option<String>,
    /// Build start and end times (RFC 3339 UTC).
    #[arg(long)]
    started_on: Option<String>,
    #[arg(long)]
    finished_on: Option<String>,
    /// Where to write the provenance.
    #[arg(long)]
    output: PathBuf,
    #[command(flatten)]
    key: Option<KeyLocation>,
    /// The build's outputs (subjects, named by file name).
    #[arg(required = true)]
    artifacts: Vec<PathBuf>,
}

pub async fn run(command: SlsaCommand) -> Result<(), CliError> {
    match command {
        SlsaCommand::VerifyArtifact(args) => verify_artifact(args),
        SlsaCommand::VerifyImage(args) => verify_image(args).await,
        SlsaCommand::Generate(args) => generate_provenance(args).await,
    }
}

pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, CliError> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::Io(format!("{what} {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Io(format!("{what} {}: {e}", path.display())))?;
    if bytes.len() as u64 > limit {
        return Err(CliError::Io(format!(
            "{what} {} is larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

fn passed(subject: &str, provenance: &VerifiedProvenance, signer: Option<&VerifiedSigner>) {
    // A key names no workflow; the signer is then the builder the key was trusted for.
    let signed_by = match signer {
        Some(VerifiedSigner::Key(key)) => json!({"key_id": hex::encode(key.key_id())}),
        Some(VerifiedSigner::Certificate { .. }) => json!({"workflow": provenance.signer()}),
        None => json!({"signer": provenance.signer()}),
    };
    println!(
        "{}",
        json!({
            "verdict": "PASSED",
            "subject": subject,
            "builder_id": provenance.builder_id(),
            "build_type": provenance.build_type(),
            "source": provenance.source_repository(),
            "source_ref": provenance.source_ref(),
            "source_commit": provenance.source_commit(),
            "signed_by": signed_by,
        })
    );
}

fn verify_artifact(args: VerifyArtifactArgs) -> Result<(), CliError> {
    let (verifier, policy) = args.trust.verifier_and_policy()?;
    let provenance = read_bounded(&args.provenance_path, MAX_FILE, "provenance")?;
    let artifacts = args
        .artifacts
        .iter()
        .map(|p| read_bounded(p, MAX_ARTIFACT, "artifact"))
        .collect::<Result<Vec<_>, _>>()?;
    let views: Vec<&[u8]> = artifacts.iter().map(Vec::as_slice).collect();
    let verified = verify_artifact_provenance(
        &provenance,
        &views,
        &verifier,
        &policy,
        &args.policy.options(),
    )
    .map_err(|e| CliError::Io(format!("FAILED: SLSA verification failed: {e}")))?;
    for (path, p) in args.artifacts.iter().zip(&verified) {
        passed(&path.display().to_string(), p, None);
    }
    eprintln!("PASSED: SLSA verification passed");
    Ok(())
}

async fn verify_image(args: VerifyImageArgs) -> Result<(), CliError> {
    let (verifier, policy) = args.trust.verifier_and_policy()?;
    let options = args.policy.options();
    let fail = |e: immerse_slsa::SupplyChainError| {
        CliError::Io(format!("FAILED: SLSA verification failed: {e}"))
    };
    let layout_dir = Path::new(&args.image);
    let (subject, verified) = if layout_dir.join("oci-layout").is_file() {
        let digest = args
            .digest
            .as_deref()
            .ok_or_else(|| CliError::Io("an OCI layout needs --digest sha256:...".into()))?;
        let digest = Digest::parse(digest).map_err(oci)?;
        let layout = OciLayout::open(layout_dir).map_err(oci)?;
        let v = verify_image_provenance(&layout, &digest, &verifier, &policy, &options)
            .await
            .map_err(fail)?;
        (format!("{}@{digest}", args.image), v)
    } else {
        if args.digest.is_some() {
            return Err(CliError::Io(
                "--digest is for OCI layouts; pin a registry image as IMAGE@sha256:...".into(),
            ));
        }
        let image = ImageRef::parse(&args.image).map_err(oci)?;
        // As slsa-verifier: a tag can move between verification and deployment.
        let digest = *image.digest().ok_or_else(|| {
            CliError::Io("the image must be pinned by digest: IMAGE@sha256:...".into())
        })?;
        let client = args.registry.client(&image)?;
        let repo = client.repository(image.repository()).map_err(oci)?;
        let v = verify_image_provenance(&repo, &digest, &verifier, &policy, &options)
            .await
            .map_err(fail)?;
        (image.reference(), v)
    };
    passed(&subject, &verified.provenance, Some(&verified.signer));
    eprintln!("PASSED: SLSA verification passed");
    Ok(())
}

async fn generate_provenance(args: GenerateArgs) -> Result<(), CliError> {
    let mut subjects = Vec::with_capacity(args.artifacts.len());
    for path in &args.artifacts {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| CliError::Io(format!("{}: no file name", path.display())))?;
        let file = std::fs::File::open(path)
            .map_err(|e| CliError::Io(format!("artifact {}: {e}", path.display())))?;
        subjects.push(
            subject_from_reader(name, file)
                .map_err(|e| CliError::Io(format!("artifact {}: {e}", path.display())))?,
        );
    }
    let mut build = BuildDescription {
        subjects,
        builder_id: args.builder_id.clone(),
        build_type: args.build_type.clone(),
        invocation_id: args.invocation_id.clone(),
        started_on: args
            .started_on
            .as_deref()
            .map(Timestamp::parse)
            .transpose()?,
        finished_on: args
            .finished_on
            .as_deref()
            .map(Timestamp::parse)
            .transpose()?,
        ..BuildDescription::default()
    };
    if let (Some(uri), Some(reference)) = (&args.source_uri, &args.source_ref) {
        let repository = uri.strip_prefix("git+").unwrap_or(uri);
        if GITHUB_WORKFLOW_BUILD_TYPES.contains(&args.build_type.as_str()) {
            let mut workflow = Map::new();
            workflow.insert("repository".into(), Value::from(repository));
            workflow.insert("ref".into(), Value::from(reference.as_str()));
            workflow.insert("path".into(), Value::from(args.workflow_path.as_str()));
            build
                .external_parameters
                .insert("workflow".into(), Value::Object(workflow));
        }
        let mut source = ResourceDescriptor {
            uri: Some(format!("git+{repository}@{reference}")),
            ..ResourceDescriptor::default()
        };
        if let Some(commit) = &args.source_commit {
            source.digest.insert("gitCommit", commit)?;
        }
        build.resolved_dependencies.push(source);
    }
    let statement = generate(&build)?;
    let output = match &args.key {
        Some(key) => {
            let signer = key.open_signer().await?;
            let bundle = immerse_sigstore::sign::sign_dsse(
                signer.as_ref(),
                statement.payload_type,
                &statement.payload,
            )
            .await
            .map_err(|e| CliError::Io(format!("signing failed: {e}")))?;
            let immerse_sigstore::Content::Dsse(envelope) = &bundle.content else {
                return Err(CliError::Io("the signer made no DSSE envelope".into()));
            };
            let mut bytes = immerse_slsa::sign::envelope_json(envelope);
            bytes.push(b'\n');
            bytes
        }
        None => statement.payload,
    };
    std::fs::write(&args.output, &output)
        .map_err(|e| CliError::Io(format!("{}: {e}", args.output.display())))?;
    eprintln!(
        "wrote {} provenance to {}",
        if args.key.is_some() {
            "signed (DSSE)"
        } else {
            "unsigned"
        },
        args.output.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_ref_policy_at_most() {
        let args = PolicyArgs {
            source_uri: "github.com/org/repo".into(),
            builder_id: None,
            source_branch: None,
            source_tag: None,
            source_versioned_tag: Some("v14".into()),
            trusted_delegators: Vec::new(),
            require_builder_release_tag: false,
        };
        assert_eq!(
            args.options().source_ref,
            Some(SourceRefPolicy::VersionedTag("v14".into()))
        );
    }
}
