//! One service on a loopback port: started, stopped, and restarted on the same port.
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::SandboxError;

/// How long a stop waits for in-flight requests before cutting connections.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub(crate) struct Server {
    address: SocketAddr,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Server {
    /// Binds `127.0.0.1:0`: the port is chosen once and kept for restarts.
    pub async fn bind() -> Result<(Self, tokio::net::TcpListener), SandboxError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        Ok((
            Self {
                address,
                running: None,
            },
            listener,
        ))
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Serves `router` on `listener` (from [`Server::bind`] or [`Server::rebind`]).
    pub fn serve(&mut self, listener: tokio::net::TcpListener, router: axum::Router) {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(err) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %err, "sandbox service stopped with an error");
            }
        });
        self.running = Some((stop, task));
    }

    /// The same port again (SO_REUSEADDR, which tokio sets, lets it through TIME_WAIT).
    pub async fn rebind(&self) -> Result<tokio::net::TcpListener, SandboxError> {
        Ok(tokio::net::TcpListener::bind(self.address).await?)
    }

    /// Stops accepting, lets in-flight requests finish (up to a grace period), and returns
    /// when the port is free.
    pub async fn stop(&mut self) {
        if let Some((stop, mut task)) = self.running.take() {
            let _ = stop.send(());
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
    }
}
