//! A real registry for tests: Debian's `docker-registry` (distribution 2.8) with filesystem
//! storage in a temporary directory, on a free 127.0.0.1 port, killed on drop. It has no
//! referrers API, so tests against it exercise the referrers tag-schema fallback.
//!
//! Without the binary, [`TestRegistry::start`] announces `*** SKIPPED ... ***` and returns
//! `None`, unless `IMMERSE_REQUIRE_REGISTRY=1` (CI), in which case it panics.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::RegistryClient;
use crate::digest::Digest;

pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";
pub const REQUIRE_VAR: &str = "IMMERSE_REQUIRE_REGISTRY";
const START_ATTEMPTS: usize = 5;
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `docker-registry`, stopped when dropped.
#[derive(Debug)]
pub struct TestRegistry {
    child: Child,
    port: u16,
    storage: PathBuf,
    // Held for its Drop (removes the storage and config).
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts a registry, or returns `None` (after announcing the skip) when the binary is
    /// missing and `IMMERSE_REQUIRE_REGISTRY` is not `1`. Panics when it cannot start.
    pub async fn start() -> Option<Self> {
        if !Path::new(REGISTRY_BINARY).exists() {
            let test = std::thread::current()
                .name()
                .unwrap_or("oci test")
                .to_owned();
            // Straight to the process's stderr, past libtest's capture, so the CI script sees it.
            let required = std::env::var(REQUIRE_VAR).as_deref() == Ok("1");
            announce_missing(&test, required, &mut std::io::stderr());
            return None;
        }
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start().await {
                Ok(registry) => return Some(registry),
                // Most likely another process took the port between our probe and the bind.
                Err(e) => last_error = e,
            }
        }
        panic!("docker-registry did not start after {START_ATTEMPTS} attempts: {last_error}");
    }

    async fn try_start() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let storage = dir.path().join("storage");
        // Probe a free port, then release it for the registry (a race we retry on).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("probe port: {e}"))?
            .port();
        let config = dir.path().join("config.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: immerse-test-registry\n",
            storage.display()
        );
        std::fs::write(&config, yaml).map_err(|e| format!("write config: {e}"))?;
        let log = std::fs::File::create(dir.path().join("registry.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let mut registry = TestRegistry {
            child,
            port,
            storage,
            _dir: dir,
        };
        let client = registry.client();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = registry.child.try_wait() {
                let log = std::fs::read_to_string(registry._dir.path().join("registry.log"))
                    .unwrap_or_default();
                return Err(format!("exited with {status}: {log}"));
            }
            if client.ping().await.is_ok() {
                return Ok(registry);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "/v2/ not ready on port {port} after {READY_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `127.0.0.1:<port>`, as used in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// An anonymous plain-http client for this registry.
    pub fn client(&self) -> RegistryClient {
        // Cannot fail: the host is loopback and well formed.
        RegistryClient::builder(&self.host())
            .plain_http(true)
            .build()
            .unwrap_or_else(|e| panic!("client for the test registry: {e}"))
    }

    /// The registry's storage root (distribution's filesystem driver layout below it).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// Where distribution's filesystem driver keeps a blob's bytes, for tests that corrupt it.
    pub fn blob_data_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.storage.join(format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

/// Without the binary: panic when required (CI), else print the line the CI script greps.
fn announce_missing(test: &str, required: bool, out: &mut dyn std::io::Write) {
    if required {
        panic!(
            "{test}: {REGISTRY_BINARY} is missing and {REQUIRE_VAR}=1 (apt-get install docker-registry)"
        );
    }
    let _ = writeln!(
        out,
        "*** SKIPPED: {test}: docker-registry not installed ***"
    );
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_registry_is_announced_as_skipped() {
        // Into a buffer: the real stderr would trip the CI script's grep for skips.
        let mut out = Vec::new();
        announce_missing("a test", false, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "*** SKIPPED: a test: docker-registry not installed ***\n"
        );
    }

    #[test]
    #[should_panic(expected = "IMMERSE_REQUIRE_REGISTRY=1")]
    fn missing_registry_fails_when_required() {
        announce_missing("a test", true, &mut Vec::new());
    }

    #[tokio::test]
    async fn registry_starts_answers_and_stops() {
        let Some(registry) = TestRegistry::start().await else {
            return;
        };
        let client = registry.client();
        client.ping().await.unwrap();
        let host = registry.host();
        drop(registry);
        // Killed on drop: the port no longer answers.
        let gone = RegistryClient::builder(&host)
            .plain_http(true)
            .build()
            .unwrap();
        assert!(gone.ping().await.is_err());
    }
}
