//! `immerse demo`: the whole credential lifecycle on one machine, on embedded defaults.
//!
//! It starts the Key Registry, the Attestation Service (simulated SEV-SNP evidence, its test
//! root configured explicitly; the A-Key in SoftHSM2 when installed), the Issuer and the
//! Verifier on loopback ports over SQLite in a temporary directory, enrols every entity, then
//! drives a wallet through issuance, selective disclosure and revocation. Each step states
//! what must hold and fails the demo when it does not, so the demo doubles as a smoke test of
//! a fresh installation.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use immerse_jose::pkcs11::{DEFAULT_MODULE, PinSource, Pkcs11Config, init_softhsm_token};
use immerse_sandbox::{Sandbox, SandboxOptions, Service};
use immerse_wallet::{Presenter, VerifierDirectory, Wallet, WalletConfig, WalletError};
use serde_json::{Value, json};

use crate::CliError;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the services up after the run and print the URLs of the wallet's consent page and
    /// the verifier's page, so a person can click through the same flow (Ctrl-C ends it).
    #[arg(long)]
    keep_running: bool,
    /// Put the databases here instead of a temporary directory (kept after the run).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Set in the re-executed demo: the directory of its own SoftHSM2 token.
const TOKEN_DIR_VARIABLE: &str = "IMMERSE_DEMO_TOKEN_DIR";
const TOKEN_LABEL: &str = "immerse-demo";
const A_KEY_LABEL: &str = "attestation-a-key";

pub async fn run(args: DemoArgs) -> Result<(), CliError> {
    match a_key_token()? {
        AKeyToken::ReExecuted(result) => result,
        AKeyToken::Ready(pkcs11) => demonstrate(args, pkcs11).await,
    }
}

enum AKeyToken {
    /// The demo ran in a child process that could see its own token; this is its outcome.
    ReExecuted(Result<(), CliError>),
    /// Run here, with the A-Key in this token (or a software A-Key when `None`).
    Ready(Option<Pkcs11Config>),
}

/// SoftHSM2 reads its configuration from `SOFTHSM2_CONF` when the module loads, and this
/// binary sets no environment variables on itself (that is unsafe once threads run): with
/// SoftHSM2 installed, the demo initialises a token in a temporary directory and runs again as
/// a child whose environment names it.
fn a_key_token() -> Result<AKeyToken, CliError> {
    if let Some(dir) = std::env::var_os(TOKEN_DIR_VARIABLE) {
        let dir = PathBuf::from(dir);
        return Ok(AKeyToken::Ready(Some(Pkcs11Config::softhsm(
            TOKEN_LABEL,
            A_KEY_LABEL,
            PinSource::File(dir.join("pin")),
        ))));
    }
    if !std::path::Path::new(DEFAULT_MODULE).exists() {
        println!(
            "note SoftHSM2 is not installed ({DEFAULT_MODULE}): the A-Key is a software key in memory"
        );
        return Ok(AKeyToken::Ready(None));
    }
    let dir = tempfile::tempdir().map_err(|err| CliError::Io(err.to_string()))?;
    let pin = immerse_jose::base64url::random(16)?;
    let conf = init_softhsm_token(dir.path(), TOKEN_LABEL, &pin)?;
    crate::keys::write_private_file(&dir.path().join("pin"), pin.as_bytes())?;
    let exe = std::env::current_exe().map_err(|err| CliError::Io(err.to_string()))?;
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("SOFTHSM2_CONF", conf)
        .env(TOKEN_DIR_VARIABLE, dir.path())
        .status()
        .map_err(|err| CliError::Io(format!("re-running the demo: {err}")))?;
    Ok(AKeyToken::ReExecuted(if status.success() {
        Ok(())
    } else {
        Err(CliError::Demo(format!("the demo failed ({status})")))
    }))
}

async fn demonstrate(args: DemoArgs, pkcs11: Option<Pkcs11Config>) -> Result<(), CliError> {
    let demo = Instant::now();
    let started = Instant::now();
    let uses_pkcs11 = pkcs11.is_some();
    let sandbox = Sandbox::start_with(SandboxOptions {
        dir: args.dir.clone(),
        pkcs11_a_key: pkcs11,
    })
    .await
    .map_err(demo_error)?;
    step(
        "registry, attestation service, issuer and verifier started on loopback; entities enrolled",
        Service::ALL
            .iter()
            .all(|service| sandbox.is_running(*service)),
        started,
    )?;
    for service in Service::ALL {
        println!("       {service:?}: {}", sandbox.url(service));
    }
    println!("       databases in {}", sandbox.dir().display());
    if uses_pkcs11 {
        println!("       the attestation service's A-Key is non-exportable in SoftHSM2 (PKCS#11)");
    } else {
        println!("       WARNING: the A-Key is a software key (install softhsm2 for PKCS#11)");
    }

    let started = Instant::now();
    let wallet =
        Wallet::new(wallet_config(&sandbox, sandbox.evidence_provider())?).map_err(demo_error)?;
    let offer = sandbox
        .create_offer(employee(), true, true)
        .await
        .map_err(demo_error)?;
    let issued = wallet
        .accept_offer(&offer.offer_uri, offer.tx_code.as_deref())
        .await
        .map_err(demo_error)?;
    let credential = issued
        .first()
        .ok_or_else(|| CliError::Demo("no credential issued".into()))?;
    step(
        "credential issued: SEV-SNP attested wallet, DPoP-bound token, tx_code, key proof, encrypted response, verified against the registry",
        issued.len() == 1 && credential.claims["given_name"] == "Ada",
        started,
    )?;
    println!(
        "       {} from {}, expires at {}",
        credential.vct,
        credential.issuer,
        credential.expires_at.unwrap_or_default()
    );

    let started = Instant::now();
    let impostor = Wallet::new(wallet_config(
        &sandbox,
        sandbox
            .evidence_provider_measuring([0xBA; 48])
            .map_err(demo_error)?,
    )?)
    .map_err(demo_error)?;
    let second_offer = sandbox
        .create_offer(employee(), false, false)
        .await
        .map_err(demo_error)?;
    let refusal = impostor.accept_offer(&second_offer.offer_uri, None).await;
    step(
        "a wallet whose CVM runs an unlisted measurement gets no client attestation and no credential",
        matches!(refusal, Err(WalletError::Attestation { .. }))
            && impostor.credentials().is_empty(),
        started,
    )?;

    let verifier = RelyingParty::new(&sandbox);
    let presenter = Arc::new(Presenter::new(
        wallet.clone(),
        VerifierDirectory::default().with(
            sandbox.verifier_client_id().map_err(demo_error)?,
            immerse_sandbox::VERIFIER_ID,
        ),
    ));

    let started = Instant::now();
    let request = verifier.create_request().await?;
    let pending = presenter
        .resolve(&request.authorization_request)
        .await
        .map_err(demo_error)?;
    // The holder leaves out the optional department.
    presenter
        .approve(&pending.id, &[])
        .await
        .map_err(demo_error)?;
    let result = verifier.result(&request.id).await?;
    let disclosed = &result["credentials"]["employee"][0];
    step(
        "presented with selective disclosure: the verifier saw given and family name only",
        result["status"] == "verified"
            && disclosed["given_name"] == "Ada"
            && disclosed["family_name"] == "Lovelace"
            && disclosed.get("department").is_none()
            && disclosed.get("email").is_none()
            && disclosed.get("employee_id").is_none(),
        started,
    )?;
    println!("       verified claims: {disclosed}");

    let started = Instant::now();
    sandbox
        .set_credential_status(&offer.offer_id, "revoked")
        .await
        .map_err(demo_error)?;
    let request = verifier.create_request().await?;
    let after_revocation = presenter.resolve(&request.authorization_request).await;
    let result = verifier.result(&request.id).await?;
    step(
        "revoked by the issuer: the wallet sees it in the status list and presents nothing; the verifier gets nothing",
        after_revocation.is_err() && result["status"] == "pending",
        started,
    )?;
    if let Err(err) = after_revocation {
        println!("       wallet: {err}");
    }

    println!(
        "demo finished: every step held ({} ms)",
        demo.elapsed().as_millis()
    );
    if args.keep_running {
        keep_running(&sandbox, presenter, &verifier).await?;
    }
    sandbox.shutdown().await;
    Ok(())
}

/// Leaves everything up for a person: the wallet's consent page and a fresh request of the
/// verifier, until Ctrl-C.
async fn keep_running(
    sandbox: &Sandbox,
    presenter: Arc<Presenter>,
    verifier: &RelyingParty,
) -> Result<(), CliError> {
    let offer = sandbox
        .create_offer(employee(), false, false)
        .await
        .map_err(demo_error)?;
    presenter
        .wallet()
        .accept_offer(&offer.offer_uri, None)
        .await
        .map_err(demo_error)?;
    let listener = immerse_wallet::http::bind_loopback(([127, 0, 0, 1], 0).into())
        .await
        .map_err(|err| CliError::Io(err.to_string()))?;
    let address = listener
        .local_addr()
        .map_err(|err| CliError::Io(err.to_string()))?;
    let page =
        Arc::new(immerse_wallet::http::ConsentPage::new(presenter, address).map_err(demo_error)?);
    let request = verifier.create_request().await?;
    println!("services stay up until Ctrl-C; a fresh credential is in the wallet");
    println!("  wallet consent page: {}", page.login_url());
    println!(
        "  paste this request into the consent page: {}",
        request.authorization_request
    );
    let page_link = verifier
        .call(
            verifier
                .http
                .post(format!("{}/v1/pages", verifier.base))
                .json(&json!({"dcql_query": employee_query()})),
        )
        .await?;
    println!(
        "  verifier page (one-time entry link, open within 60 s): {}",
        page_link["url"].as_str().unwrap_or_default()
    );
    println!(
        "  verifier result (bearer {}): {}/v1/requests/{}",
        sandbox.verifier_api_token(),
        sandbox.url(Service::Verifier),
        request.id
    );
    tokio::select! {
        served = immerse_wallet::http::serve(listener, page) => {
            served.map_err(|err| CliError::Io(err.to_string()))?;
        }
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// The relying party's side: creates requests through the verifier's API and reads results.
struct RelyingParty {
    http: reqwest::Client,
    base: String,
    token: String,
}

struct CreatedRequest {
    id: String,
    authorization_request: String,
}

impl RelyingParty {
    fn new(sandbox: &Sandbox) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: sandbox.url(Service::Verifier),
            token: sandbox.verifier_api_token().to_owned(),
        }
    }

    /// Asks for [`employee_query`].
    async fn create_request(&self) -> Result<CreatedRequest, CliError> {
        let query = employee_query();
        let created: Value = self
            .call(
                self.http
                    .post(format!("{}/v1/requests", self.base))
                    .json(&json!({"dcql_query": query})),
            )
            .await?;
        let text = |name: &str| {
            created[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| CliError::Demo(format!("verifier answer without {name}: {created}")))
        };
        Ok(CreatedRequest {
            id: text("id")?,
            authorization_request: text("authorization_request")?,
        })
    }

    async fn result(&self, id: &str) -> Result<Value, CliError> {
        self.call(self.http.get(format!("{}/v1/requests/{id}", self.base)))
            .await
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, CliError> {
        let response = request
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(|err| CliError::Demo(format!("verifier: {err}")))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|err| CliError::Demo(format!("verifier answer: {err}")))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(CliError::Demo(format!(
                "verifier refused ({status}): {body}"
            )))
        }
    }
}

/// A wallet wired to the sandbox: its registry as trust anchor, its Attestation Service, the
/// simulated CVM's `evidence`, the sandbox cluster's service-account tokens, and the route to
/// the issuer's loopback port.
fn wallet_config(
    sandbox: &Sandbox,
    evidence: Arc<dyn immerse_attestation::provider::EvidenceProvider>,
) -> Result<WalletConfig, CliError> {
    let accounts = sandbox.service_accounts();
    let token = move || {
        let accounts = accounts.clone();
        async move { accounts.token().await.map_err(|err| err.to_string()) }
    };
    let mut config = WalletConfig::new(
        sandbox.registry_client().map_err(demo_error)?,
        sandbox.url(Service::Attestation),
        Arc::new(token),
        evidence,
    );
    config.origins = sandbox.origins();
    Ok(config)
}

/// Given and family name, and the department if the holder agrees.
fn employee_query() -> Value {
    json!({"credentials": [{
        "id": "employee",
        "format": "dc+sd-jwt",
        "meta": {"vct_values": [immerse_sandbox::VCT]},
        "claims": [
            {"id": "given", "path": ["given_name"]},
            {"id": "family", "path": ["family_name"]},
            {"id": "department", "path": ["department"]}
        ],
        "claim_sets": [["given", "family", "department"], ["given", "family"]]
    }]})
}

fn employee() -> Value {
    json!({
        "given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.com",
        "employee_id": "E-1815", "department": "Analytical Engines", "birthdate": "1815-12-10",
    })
}

fn step(what: &str, held: bool, started: Instant) -> Result<(), CliError> {
    let elapsed = started.elapsed().as_millis();
    if held {
        println!("ok   {what} ({elapsed} ms)");
        Ok(())
    } else {
        println!("FAIL {what} ({elapsed} ms)");
        Err(CliError::Demo(format!("demo step failed: {what}")))
    }
}

fn demo_error(err: impl std::fmt::Display) -> CliError {
    CliError::Demo(err.to_string())
}
