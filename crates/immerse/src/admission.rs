//! `immerse admission`: the Kubernetes admission webhook.
//!
//! ```text
//! immerse admission serve --tls-cert F --tls-key F (--policy DIR | --cluster-policies) ...
//! immerse admission check --policy DIR [--offline] MANIFEST.yaml...
//! immerse admission crd
//! ```
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use immerse_policy::http::{WebhookState, router};
use immerse_policy::{
    Admission, AdmissionConfig, DockerConfig, Engine, EngineConfig, ImagePolicy, Namespaces,
    PolicySet, PullCredentials, Unmatched,
};
use immerse_sigstore::TrustedRoot;
use kube::Api;
use kube::api::ListParams;

use crate::CliError;
use crate::serve::{registry_client, shutdown_signal};

#[derive(Debug, Subcommand)]
pub enum AdmissionCommand {
    /// Serve /validate, /mutate, /metrics, /healthz and /readyz over TLS.
    Serve(ServeArgs),
    /// Judge manifests as the webhook would, without a cluster; exits 1 if any is denied.
    Check(CheckArgs),
    /// Print the ImagePolicy CustomResourceDefinition (deploy/admission/imagepolicy-crd.yaml).
    Crd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum UnmatchedArg {
    Deny,
    Warn,
    Allow,
}

/// What both `serve` and `check` judge with.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// A Sigstore `trusted_root.json`, for keyless authorities and transparency-log checks.
    #[arg(long)]
    trusted_root: Option<PathBuf>,
    /// A docker `config.json` with registry credentials (after the pod's imagePullSecrets).
    #[arg(long, env = "IMMERSE_DOCKER_CONFIG")]
    docker_config: Option<PathBuf>,
    /// Runtime classes that run pods in SEV-SNP guests (repeatable).
    #[arg(long = "snp-runtime-class", default_value = "kata-qemu-snp")]
    snp_runtime_classes: Vec<String>,
    /// The namespace label that marks confidential namespaces (value "true").
    #[arg(long, default_value = "immerse.dev/confidential")]
    confidential_label: String,
    /// Images no policy governs.
    #[arg(long, value_enum, default_value = "deny")]
    unmatched_images: UnmatchedArg,
    /// Key Registry, for `registryEntity` authorities: its URL, identifier and JWK file.
    #[arg(long, requires_all = ["registry_id", "registry_jwk"])]
    registry_url: Option<String>,
    #[arg(long, requires = "registry_url")]
    registry_id: Option<String>,
    #[arg(long, requires = "registry_url")]
    registry_jwk: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: String,
    #[arg(long)]
    tls_cert: PathBuf,
    #[arg(long)]
    tls_key: PathBuf,
    /// A directory of ImagePolicy YAML files, re-read every --reload-seconds.
    #[arg(long, conflicts_with = "cluster_policies")]
    policy: Option<PathBuf>,
    /// Read ImagePolicy resources from the cluster (in-cluster credentials).
    #[arg(long)]
    cluster_policies: bool,
    /// Namespace documents (YAML) instead of reading namespaces from the cluster.
    #[arg(long)]
    namespaces: Option<PathBuf>,
    /// Deny when a review is not decided by then; keep it below the webhook's timeoutSeconds.
    #[arg(long, default_value_t = 8000)]
    deadline_ms: u64,
    #[arg(long, default_value_t = 300)]
    success_ttl_seconds: u64,
    #[arg(long, default_value_t = 10)]
    failure_ttl_seconds: u64,
    #[arg(long, default_value_t = 30)]
    reload_seconds: u64,
    /// A host besides a registry's own that may serve its Bearer tokens (repeatable): the
    /// pull credentials are sent there.
    #[arg(long = "token-realm-host")]
    token_realm_hosts: Vec<String>,
    #[command(flatten)]
    judge: JudgeArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A directory of ImagePolicy YAML files.
    #[arg(long)]
    policy: PathBuf,
    /// Do not reach registries: judge pinning, runtime classes and which policy governs each
    /// image, not signatures.
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    judge: JudgeArgs,
    /// Manifest files (multi-document YAML, e.g. `kubectl kustomize` output).
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
}

pub async fn run(command: AdmissionCommand) -> Result<(), CliError> {
    match command {
        AdmissionCommand::Serve(args) => serve(args).await,
        AdmissionCommand::Check(args) => check(args).await,
        AdmissionCommand::Crd => {
            print!("{}", immerse_policy::crd_yaml().map_err(io)?);
            Ok(())
        }
    }
}

fn io(e: impl std::fmt::Display) -> CliError {
    CliError::Io(e.to_string())
}

impl JudgeArgs {
    fn engine(&self) -> Result<EngineConfig, CliError> {
        let trusted_root = match &self.trusted_root {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
                Some(Arc::new(TrustedRoot::from_json(&text).map_err(|e| {
                    CliError::Io(format!("trusted root refused: {e}"))
                })?))
            }
            None => None,
        };
        let key_registry = match (&self.registry_url, &self.registry_id, &self.registry_jwk) {
            (Some(url), Some(id), Some(jwk)) => Some(registry_client(url, id, jwk)?),
            _ => None,
        };
        Ok(EngineConfig {
            trusted_root,
            key_registry,
            ..EngineConfig::default()
        })
    }

    fn docker_config(&self) -> Result<DockerConfig, CliError> {
        self.docker_config
            .as_deref()
            .map(DockerConfig::load)
            .transpose()
            .map(Option::unwrap_or_default)
            .map_err(io)
    }

    fn admission(&self) -> AdmissionConfig {
        AdmissionConfig {
            confidential_label: self.confidential_label.clone(),
            snp_runtime_classes: self.snp_runtime_classes.clone(),
            unmatched: match self.unmatched_images {
                UnmatchedArg::Deny => Unmatched::Deny,
                UnmatchedArg::Warn => Unmatched::Warn,
                UnmatchedArg::Allow => Unmatched::Allow,
            },
            ..AdmissionConfig::default()
        }
    }
}

async fn check(args: CheckArgs) -> Result<(), CliError> {
    let policies = PolicySet::load_dir(&args.policy).map_err(io)?;
    let mut documents = Vec::new();
    for path in &args.manifests {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
        documents.extend(
            immerse_policy::check::parse_manifests(&text)
                .map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?,
        );
    }
    let config = AdmissionConfig {
        verify_signatures: !args.offline,
        ..args.judge.admission()
    };
    let judged = immerse_policy::check::check_manifests(
        policies,
        &documents,
        config,
        args.judge.engine()?,
        args.judge.docker_config()?,
    )
    .await
    .map_err(io)?;
    let mut denied = 0;
    for j in &judged {
        if j.decision.allowed() {
            println!("ALLOWED {}", j.object);
        } else {
            denied += 1;
            println!("DENIED  {}: {}", j.object, j.decision.message());
        }
        for w in &j.decision.warnings {
            println!("  warning: {w}");
        }
    }
    println!(
        "{} workloads judged, {denied} denied{}",
        judged.len(),
        if args.offline {
            " (offline: signatures not verified)"
        } else {
            ""
        }
    );
    if denied > 0 {
        return Err(CliError::Io(format!("{denied} workloads denied")));
    }
    Ok(())
}

enum PolicySource {
    Dir(PathBuf),
    Cluster(kube::Client),
}

impl PolicySource {
    async fn load(&self) -> Result<PolicySet, CliError> {
        match self {
            Self::Dir(dir) => PolicySet::load_dir(dir).map_err(io),
            Self::Cluster(client) => {
                let list = Api::<ImagePolicy>::all(client.clone())
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| CliError::Io(format!("listing ImagePolicies: {e}")))?;
                PolicySet::compile(&list.items).map_err(io)
            }
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let needs_cluster = args.cluster_policies || args.namespaces.is_none();
    let cluster = if needs_cluster {
        Some(kube::Client::try_default().await.map_err(|e| {
            CliError::Io(format!(
                "no cluster configuration ({e}); give --policy and --namespaces to run without one"
            ))
        })?)
    } else {
        None
    };
    let source = match (&args.policy, &cluster) {
        (Some(dir), _) => PolicySource::Dir(dir.clone()),
        (None, Some(client)) if args.cluster_policies => PolicySource::Cluster(client.clone()),
        _ => {
            return Err(CliError::Io(
                "give --policy DIR or --cluster-policies".into(),
            ));
        }
    };
    let policies = source.load().await?;
    let namespaces = match (&args.namespaces, &cluster) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
            Namespaces::from_manifests(&immerse_policy::check::parse_manifests(&text).map_err(io)?)
        }
        (None, Some(client)) => Namespaces::cluster(client.clone()),
        (None, None) => {
            return Err(CliError::Io(
                "give --namespaces FILE, or run where a cluster configuration is found".into(),
            ));
        }
    };
    let engine = EngineConfig {
        success_ttl: Duration::from_secs(args.success_ttl_seconds),
        failure_ttl: Duration::from_secs(args.failure_ttl_seconds),
        token_realm_hosts: args.token_realm_hosts.clone(),
        ..args.judge.engine()?
    };
    let config = AdmissionConfig {
        deadline: Duration::from_millis(args.deadline_ms),
        ..args.judge.admission()
    };
    let state = Arc::new(WebhookState {
        admission: Admission::new(
            policies,
            Engine::new(engine),
            namespaces,
            PullCredentials {
                configured: args.judge.docker_config()?,
                cluster,
            },
            config,
        ),
        metrics: Default::default(),
    });
    let reload = Duration::from_secs(args.reload_seconds.max(1));
    let reloading = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(reload).await;
            match source.load().await {
                Ok(policies) => reloading.admission.replace_policies(policies),
                // The policies in force stay; an unreadable update never loosens anything.
                Err(e) => tracing::warn!(error = %e, "policies not reloaded"),
            }
        }
    });
    let tls = immerse_policy::tls::server_config(args.tls_cert.clone(), args.tls_key.clone())
        .map_err(io)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| CliError::Io(format!("{}: {e}", args.listen)))?;
    let address = listener.local_addr().map_err(io)?;
    tracing::info!(service = "admission", %address, "listening (TLS)");
    println!("admission webhook listening on https://{address}");
    immerse_policy::tls::serve(listener, tls, router(state), shutdown_signal())
        .await
        .map_err(io)?;
    tracing::info!(service = "admission", "stopped");
    Ok(())
}
