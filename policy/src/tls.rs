//! HTTPS with rustls. The certificate and key are re-read when their files change (cert-manager
//! rotates the secret in place), so a rotation needs no restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;

/// How often the files are checked for a new certificate.
const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    Load { path: String, reason: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn load_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::Load {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| load_error(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| load_error(cert, e))?;
    if chain.is_empty() {
        return Err(load_error(cert, "no certificate"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| load_error(key, e))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| load_error(key, e))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| load_error(key, format!("does not match the certificate: {e}")))?;
    Ok(Arc::new(certified))
}

/// Serves the current certificate; a background task swaps in a new one when the files change.
#[derive(Debug)]
struct ReloadingResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn modified(paths: &[&Path]) -> Option<Vec<SystemTime>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// A TLS configuration from PEM files (TLS 1.3 and 1.2, HTTP/1.1), reloaded on change.
pub fn server_config(cert: PathBuf, key: PathBuf) -> Result<Arc<ServerConfig>, TlsError> {
    let resolver = Arc::new(ReloadingResolver {
        current: RwLock::new(load_certified_key(&cert, &key)?),
    });
    let watched = resolver.clone();
    tokio::spawn(async move {
        let mut seen = modified(&[&cert, &key]);
        loop {
            tokio::time::sleep(RELOAD_EVERY).await;
            let now = modified(&[&cert, &key]);
            if now == seen {
                continue;
            }
            match load_certified_key(&cert, &key) {
                Ok(fresh) => {
                    *watched.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                    seen = now;
                    tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
                }
                // A half-written pair during rotation: keep serving the old one, try again.
                Err(e) => tracing::warn!(error = %e, "TLS certificate not reloaded"),
            }
        }
    });
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Load {
                path: String::new(),
                reason: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts TLS connections on `listener` and serves `app` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), TlsError> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
