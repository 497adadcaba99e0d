//! `immerse attestation`: serve the Attestation Service, create its A-Key, check SEV-SNP
//! evidence offline.
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use immerse_attestation::identity::{ClusterIssuer, ServiceAccountVerifier, TokenReviewer};
use immerse_attestation::snp::{CertChain, Product, SnpPolicy, SnpVerifier, TrustAnchors, judge};
use immerse_attestation::{Attester, AttesterConfig, TeeMode};
use immerse_jose::pkcs11::Pkcs11Signer;
use immerse_jose::{Signer, jwt};
use immerse_store::Store;
use serde_json::json;

use crate::CliError;
use crate::keys::KeyLocation;

#[derive(Debug, Subcommand)]
pub enum AttestationCommand {
    /// Serve `/v1/challenge`, `/v1/attest` and the A-Key's JWKS.
    Serve(ServeArgs),
    /// Create the A-Key in the PKCS#11 token (sign-only, non-exportable, checked after
    /// generation) and register it with the Key Registry under the attester's entity.
    InitKey(InitKeyArgs),
    /// Verify an SEV-SNP report offline; prints the claims and the verdict, fails on refusal.
    VerifySnp(VerifySnpArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The attester's identifier: `iss` of its JWTs and the audience of wallets' tokens.
    #[arg(long, env = "IMMERSE_ATTESTER_ID")]
    attester_id: String,
    #[arg(
        long,
        env = "IMMERSE_ATTESTATION_LISTEN",
        default_value = "127.0.0.1:5000"
    )]
    listen: String,
    #[arg(
        long,
        env = "IMMERSE_DATABASE_URL",
        default_value = "sqlite://immerse-attestation.db"
    )]
    database_url: String,
    /// SEV-SNP policy (TOML).
    #[arg(long, env = "IMMERSE_ATTESTATION_POLICY")]
    policy: Option<PathBuf>,
    /// `PRODUCT=FILE`: the ASK (and ARK) PEM of a product line (Milan, Genoa, Turin).
    #[arg(long = "chain", value_parser = parse_chain_arg)]
    chains: Vec<(Product, PathBuf)>,
    /// `sev-snp` (default), or `none` to attest the Kubernetes identity alone.
    #[arg(long, env = "IMMERSE_ATTESTATION_TEE", default_value = "sev-snp", value_parser = parse_tee)]
    tee: TeeMode,
    /// `namespace/service-account=client_id`, one per wallet deployment.
    #[arg(long = "client-id", value_parser = parse_client_id)]
    client_ids: Vec<(String, String)>,
    /// Namespaces whose service accounts may be attested.
    #[arg(long, value_delimiter = ',', default_value = "cvm-wallets")]
    namespaces: Vec<String>,
    /// API server for TokenReview; in-cluster configuration when absent.
    #[arg(long, env = "IMMERSE_KUBE_API", conflicts_with = "sa_issuer")]
    kube_api: Option<String>,
    /// Check service-account tokens offline: the cluster's `--service-account-issuer`.
    #[arg(long, env = "IMMERSE_SA_ISSUER", requires = "sa_jwks")]
    sa_issuer: Option<String>,
    /// The issuer's JWKS document (as served at `/openid/v1/jwks`).
    #[arg(long, env = "IMMERSE_SA_JWKS", requires = "sa_issuer")]
    sa_jwks: Option<PathBuf>,
    /// `PRODUCT=FILE`: also trust this ARK (PEM), e.g. a simulated platform's test root.
    /// Development only; the pinned AMD roots are always trusted.
    #[arg(long = "test-root", value_parser = parse_chain_arg)]
    test_roots: Vec<(Product, PathBuf)>,
    /// The A-Key.
    #[command(flatten)]
    key: KeyLocation,
    /// Accept a software key file as the A-Key (development only: it is exportable).
    #[arg(long)]
    allow_software_key: bool,
}

#[derive(Debug, Args)]
pub struct InitKeyArgs {
    /// The A-Key's place on the token.
    #[command(flatten)]
    key: KeyLocation,
    /// The attester's entity in the registry.
    #[arg(long, env = "IMMERSE_ATTESTER_ID")]
    attester_id: String,
    #[arg(
        long,
        env = "IMMERSE_REGISTRY_URL",
        default_value = "http://127.0.0.1:8700"
    )]
    registry_url: String,
    #[arg(long, env = "IMMERSE_REGISTRY_TOKEN", hide_env_values = true)]
    admin_token: String,
}

#[derive(Debug, Args)]
pub struct VerifySnpArgs {
    /// The 1184-byte report, binary or hex text.
    #[arg(long)]
    report: PathBuf,
    /// The VCEK or VLEK certificate (DER).
    #[arg(long)]
    vcek: PathBuf,
    /// ASK/ASVK (and ARK) PEM bundle.
    #[arg(long)]
    chain: Option<PathBuf>,
    /// SEV-SNP policy (TOML); without it only authenticity is checked.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Expected REPORT_DATA (hex), when the policy should check it.
    #[arg(long)]
    report_data: Option<String>,
    /// Verification time, RFC 3339 (`2026-01-01T00:00:00Z`) or Unix seconds; now by default.
    #[arg(long)]
    at: Option<String>,
}

fn parse_chain_arg(text: &str) -> Result<(Product, PathBuf), String> {
    let (product, path) = text.split_once('=').ok_or("expected PRODUCT=FILE")?;
    let product = Product::ALL
        .into_iter()
        .find(|candidate| candidate.name().eq_ignore_ascii_case(product))
        .ok_or("product is Milan, Genoa or Turin")?;
    Ok((product, PathBuf::from(path)))
}

fn parse_tee(text: &str) -> Result<TeeMode, String> {
    match text {
        "sev-snp" => Ok(TeeMode::SevSnp),
        "none" => Ok(TeeMode::None),
        _ => Err("sev-snp or none".into()),
    }
}

fn parse_client_id(text: &str) -> Result<(String, String), String> {
    let (account, client_id) = text
        .split_once('=')
        .ok_or("expected namespace/service-account=client_id")?;
    if !account.contains('/') || client_id.is_empty() {
        return Err("expected namespace/service-account=client_id".into());
    }
    Ok((account.to_owned(), client_id.to_owned()))
}

pub async fn run(command: AttestationCommand) -> Result<(), CliError> {
    match command {
        AttestationCommand::Serve(args) => serve(args).await,
        AttestationCommand::InitKey(args) => init_key(args).await,
        AttestationCommand::VerifySnp(args) => verify_snp(args),
    }
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    if !args.key.is_pkcs11() && !args.allow_software_key {
        return Err(CliError::Io(
            "the A-Key must be a non-exportable PKCS#11 key (--pkcs11); --allow-software-key is for development".into(),
        ));
    }
    let signer = args.key.open_signer().await?;
    let policy = match (&args.policy, args.tee) {
        (Some(path), _) => {
            Some(SnpPolicy::load(path).map_err(|err| CliError::Io(err.to_string()))?)
        }
        (None, TeeMode::None) => None,
        (None, TeeMode::SevSnp) => {
            return Err(CliError::Io(
                "--policy is required with --tee sev-snp".into(),
            ));
        }
    };
    let mut chains = HashMap::new();
    for (product, path) in &args.chains {
        chains.insert(
            *product,
            CertChain::from_pem(&read(path)?).map_err(|err| CliError::Io(err.to_string()))?,
        );
    }
    let accounts = service_account_verifier(&args).await?;
    let mut config = AttesterConfig::new(args.attester_id.clone());
    config.tee = args.tee;
    config.allowed_namespaces = args.namespaces.clone();
    config.client_ids = args.client_ids.iter().cloned().collect::<BTreeMap<_, _>>();
    let mut anchors = TrustAnchors::amd().map_err(|err| CliError::Io(err.to_string()))?;
    for (product, path) in &args.test_roots {
        let ark = openssl::x509::X509::from_pem(&read(path)?)
            .map_err(|err| CliError::Io(format!("{}: {err}", path.display())))?;
        tracing::warn!(%product, path = %path.display(), "trusting a test root beside AMD's: development only");
        anchors.add(*product, ark);
    }
    let verifier = SnpVerifier::new(anchors);
    let store = Store::connect(&args.database_url).await?;
    let attester = Attester::new(
        store.clone(),
        signer,
        config,
        verifier,
        chains,
        policy,
        accounts,
        Arc::new(jwt::now),
    );
    tracing::info!(tee = ?args.tee, kid = %attester.public_key().kid().unwrap_or_default(), "attestation service");
    crate::serve::serve(
        "attestation service",
        &args.listen,
        immerse_attestation::http::router(attester),
        store,
    )
    .await
}

async fn service_account_verifier(args: &ServeArgs) -> Result<ServiceAccountVerifier, CliError> {
    if let (Some(issuer), Some(jwks)) = (&args.sa_issuer, &args.sa_jwks) {
        let text = String::from_utf8(read(jwks)?)
            .map_err(|_| CliError::Io(format!("{}: not UTF-8", jwks.display())))?;
        return ClusterIssuer::from_jwks_json(issuer.clone(), &text)
            .map(ServiceAccountVerifier::Issuer)
            .map_err(|err| CliError::Io(err.to_string()));
    }
    let reviewer = match &args.kube_api {
        Some(url) => {
            let uri = url
                .parse()
                .map_err(|err| CliError::Io(format!("--kube-api: {err}")))?;
            TokenReviewer::from_config(kube::Config::new(uri))
        }
        None => TokenReviewer::in_cluster().await,
    };
    reviewer
        .map(ServiceAccountVerifier::TokenReview)
        .map_err(|err| CliError::Io(err.to_string()))
}

async fn init_key(args: InitKeyArgs) -> Result<(), CliError> {
    let config = args.key.pkcs11_only().ok_or_else(|| {
        CliError::Io("init-key creates the A-Key in a PKCS#11 token: pass --pkcs11".into())
    })?;
    let signer = tokio::task::spawn_blocking(move || Pkcs11Signer::generate(&config))
        .await
        .map_err(|err| CliError::Io(err.to_string()))??;
    let body = json!({"jwk": signer.public_jwk(), "use": "sig", "alg": "ES256"});
    let path = format!(
        "/admin/v1/entities/{}/keys",
        crate::registry::path_segment(&args.attester_id)
    );
    crate::registry::post_json(&args.registry_url, Some(&args.admin_token), &path, body).await
}

fn verify_snp(args: VerifySnpArgs) -> Result<(), CliError> {
    let raw = read(&args.report)?;
    let report = match std::str::from_utf8(&raw)
        .ok()
        .map(str::trim)
        .and_then(|text| hex::decode(text).ok())
    {
        Some(bytes) => bytes,
        None => raw,
    };
    let vcek = read(&args.vcek)?;
    let chain = match &args.chain {
        Some(path) => {
            CertChain::from_pem(&read(path)?).map_err(|err| CliError::Io(err.to_string()))?
        }
        None => CertChain::default(),
    };
    let at = match &args.at {
        Some(text) => parse_time(text)
            .ok_or_else(|| CliError::Io(format!("--at {text:?}: RFC 3339 or Unix seconds")))?,
        None => jwt::now(),
    };
    let verifier =
        SnpVerifier::new(TrustAnchors::amd().map_err(|err| CliError::Io(err.to_string()))?);
    let claims = verifier.verify_evidence(&report, Some(&vcek), &chain, at);
    let claims = match claims {
        Ok(claims) => claims,
        Err(err) => {
            println!(
                "{}",
                json!({"verdict": "refused", "reason": err.to_string()})
            );
            return Err(CliError::Io(format!("evidence refused: {err}")));
        }
    };
    let summary =
        serde_json::to_value(immerse_attestation::Claims::from(&claims)).unwrap_or_default();
    if let Some(path) = &args.policy {
        let policy = SnpPolicy::load(path).map_err(|err| CliError::Io(err.to_string()))?;
        let expected = match &args.report_data {
            Some(text) => hex::decode(text)
                .ok()
                .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
                .ok_or_else(|| CliError::Io("--report-data is 64 bytes of hex".into()))?,
            None => claims.report().report_data,
        };
        if let Err(refusal) = judge(&policy, &claims, &expected) {
            println!(
                "{}",
                json!({"verdict": "refused", "reason": refusal.to_string(), "claims": summary})
            );
            return Err(CliError::Io(format!("policy refused: {refusal}")));
        }
    }
    println!("{}", json!({"verdict": "accepted", "claims": summary}));
    Ok(())
}

fn read(path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|err| CliError::Io(format!("{}: {err}", path.display())))
}

/// Unix seconds, or RFC 3339 in UTC (`YYYY-MM-DDTHH:MM:SSZ`).
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|time| time.as_second())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_times_parse() {
        assert_eq!(super::parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            super::parse_time("2026-01-01T00:00:00Z"),
            Some(1_767_225_600)
        );
        assert_eq!(super::parse_time("1767225600"), Some(1_767_225_600));
        assert_eq!(super::parse_time("2026-13-01T00:00:00Z"), None);
        assert_eq!(super::parse_time("yesterday"), None);
    }
}
