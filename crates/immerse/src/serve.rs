//! What every `immerse <service> serve` shares: the health probes, the listener, graceful
//! shutdown on SIGTERM (what Kubernetes sends) and Ctrl-C, and the registry a service trusts.
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::Args;
use immerse_jose::PublicJwk;
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_store::Store;

use crate::CliError;

/// The Key Registry a service learns other entities' keys from, and the one key it trusts for
/// the registry's signed documents (distributed out of band, as SYSTEM.md's trust anchor).
#[derive(Debug, Args)]
pub struct RegistryTrust {
    #[arg(
        long,
        env = "IMMERSE_REGISTRY_URL",
        default_value = "http://127.0.0.1:8700"
    )]
    registry_url: String,
    /// The registry's identifier (`iss` of its statements).
    #[arg(long, env = "IMMERSE_REGISTRY_ID")]
    registry_id: String,
    /// The registry's public signing key, a JWK file (`immerse keys show` prints it).
    #[arg(long, env = "IMMERSE_REGISTRY_JWK")]
    registry_jwk: PathBuf,
}

impl RegistryTrust {
    pub fn client(&self) -> Result<RegistryClient, CliError> {
        registry_client(&self.registry_url, &self.registry_id, &self.registry_jwk)
    }

    pub fn url(&self) -> &str {
        &self.registry_url
    }
}

/// A Key Registry client trusting the JWK in `jwk_file` for documents issued as `id`.
pub fn registry_client(url: &str, id: &str, jwk_file: &Path) -> Result<RegistryClient, CliError> {
    let text = std::fs::read_to_string(jwk_file)
        .map_err(|err| CliError::Io(format!("{}: {err}", jwk_file.display())))?;
    let key: PublicJwk = serde_json::from_str(&text)
        .map_err(|err| CliError::Io(format!("{}: {err}", jwk_file.display())))?;
    Ok(RegistryClient::new(
        url.to_owned(),
        id.to_owned(),
        key,
        ClientOptions::default(),
    )?)
}

/// `router` plus `/healthz` (the process answers) and `/readyz` (its database answers too).
pub fn with_probes(router: Router, store: Store) -> Router {
    router.merge(
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(ready))
            .with_state(store),
    )
}

async fn ready(State(store): State<Store>) -> (StatusCode, &'static str) {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Serves `router` (with the probes) on `listen` until SIGTERM or Ctrl-C, then drains open
/// requests and closes the store.
pub async fn serve(
    service: &str,
    listen: &str,
    router: Router,
    store: Store,
) -> Result<(), CliError> {
    serve_until_stopped(service, listen, router, &store).await?;
    store.close().await;
    Ok(())
}

/// [`serve`] without closing the store, for a service with something to write at shutdown.
/// Handlers see the peer's address (`ConnectInfo<SocketAddr>`), for audit and rate limits.
pub async fn serve_until_stopped(
    service: &str,
    listen: &str,
    router: Router,
    store: &Store,
) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|err| CliError::Io(format!("{listen}: {err}")))?;
    let address = listener
        .local_addr()
        .map_err(|err| CliError::Io(err.to_string()))?;
    tracing::info!(%service, %address, "serving");
    let app = with_probes(router, store.clone())
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|err| CliError::Io(err.to_string()))?;
    tracing::info!(%service, "stopped");
    Ok(())
}

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; Ctrl-C only");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminated = std::future::pending::<()>();
    tokio::select! {
        () = interrupted => {}
        () = terminated => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probes_answer_and_readiness_follows_the_database() {
        let store = Store::connect_in_memory().await.unwrap();
        let router = with_probes(Router::new(), store.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let http = reqwest::Client::new();
        let status = |path: &'static str| {
            let http = http.clone();
            async move {
                http.get(format!("http://{address}{path}"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        assert_eq!(status("/healthz").await, 200);
        assert_eq!(status("/readyz").await, 200);
        store.close().await;
        assert_eq!(status("/healthz").await, 200, "liveness needs no database");
        assert_eq!(status("/readyz").await, 503, "not ready without a database");
    }
}
