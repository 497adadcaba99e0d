//! Signing-key rotation through the Key Registry.
//!
//! A rotation: make a new key; register it with the registry's self-service path (a
//! `key-registration+jwt` signed by the new key, countersigned by the current key with a
//! `key-countersignature+jwt` over the proof's SHA-256); let the key factory keep it (e.g.
//! persist it); only then switch signing to it, in one write of the signer; then retire the old
//! key, which the registry keeps valid for its retention (`retired_at` + retention). A failure
//! before the switch leaves the old key in use and nothing switched.
//!
//! The old key is retired through the registry's self-service path too (a `key-retirement+jwt`
//! naming it, signed by the new key), so rotation needs no admin token; a retirement that fails
//! is retried at the next tick, the new key already signing.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use immerse_jose::jws::SigningHeader;
use immerse_jose::{Signer, SoftwareSigner, base64url, jwt};
use immerse_registry::{COUNTERSIGNATURE_TYP, KEY_PROOF_TYP, KEY_RETIREMENT_TYP};
use serde_json::json;

use crate::{ConfigError, Issuer, IssuerError, random_token};

/// Lifetime of a registration proof and its countersignature: made for one submission.
const PROOF_LIFETIME: i64 = 120;
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(10);

pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, IssuerError>> + Send + 'a>>;

/// Where new signing keys come from: software keys, or a PKCS#11 token (the binary provides
/// that one, as it opens the first key).
pub trait KeyFactory: Send + Sync {
    fn generate(&self) -> KeyFuture<'_, Arc<dyn Signer>>;

    /// Called after the key is registered and before it signs anything (e.g. to persist it);
    /// an error here leaves the old key in use.
    fn activate<'a>(&'a self, _signer: &'a Arc<dyn Signer>) -> KeyFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// In-memory ES256 keys: development and tests.
pub struct SoftwareKeys;

impl KeyFactory for SoftwareKeys {
    fn generate(&self) -> KeyFuture<'_, Arc<dyn Signer>> {
        Box::pin(async {
            let signer: Arc<dyn Signer> = Arc::new(SoftwareSigner::generate()?);
            Ok(signer)
        })
    }
}

/// How the issuer rotates: the registry it registers with and the key factory.
pub struct KeyRotation {
    /// Base URL of the Key Registry (the one the registry client reads).
    pub registry_url: String,
    pub keys: Arc<dyn KeyFactory>,
}

pub(crate) struct RotationSetup {
    rotation: KeyRotation,
    http: reqwest::Client,
}

pub(crate) struct RotationState {
    last_rotation: i64,
    /// Keys no longer signing whose retirement the registry has not confirmed yet.
    unretired: Vec<String>,
}

impl RotationState {
    pub(crate) fn new(now: i64) -> Self {
        Self {
            last_rotation: now,
            unretired: Vec::new(),
        }
    }
}

/// The outcome of a rotation that switched keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub old_kid: String,
    pub new_kid: String,
    /// Whether the registry confirmed the old key's retirement (else retried later).
    pub retired: bool,
}

fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

impl Issuer {
    /// Enables rotation every `key_rotation_interval`. Refused when the configured retention
    /// differs from the one the registry client applies (it must equal the registry's), or
    /// the interval or retention is not positive.
    pub fn enable_key_rotation(&self, rotation: KeyRotation) -> Result<(), IssuerError> {
        let config = self.config();
        let refuse = |text: &str| IssuerError::Config(ConfigError::KeyRotation(text.into()));
        if config.key_rotation_interval <= 0 || config.key_retention <= 0 {
            return Err(refuse("the interval and the retention must be positive"));
        }
        if config.key_retention != self.inner.registry.options().retention.0 {
            return Err(refuse(
                "key_retention differs from the registry client's retention",
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(REGISTRY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| refuse(&err.to_string()))?;
        self.inner
            .rotation
            .set(RotationSetup { rotation, http })
            .map_err(|_| refuse("already enabled"))
    }

    /// Rotates when `key_rotation_interval` has passed since the last rotation (or the start),
    /// else retries pending retirements. For a periodic task.
    pub async fn rotate_if_due(&self) -> Result<Option<Rotated>, IssuerError> {
        let Some(setup) = self.inner.rotation.get() else {
            return Ok(None);
        };
        let due = {
            let mut state = self.inner.rotation_state.lock().await;
            let due = self.now() - state.last_rotation >= self.config().key_rotation_interval;
            if !due {
                self.retire_pending(setup, &mut state).await;
            }
            due
        };
        if due {
            self.rotate_now().await.map(Some)
        } else {
            Ok(None)
        }
    }

    /// Rotates now: register the new key (countersigned by the current one), activate it,
    /// switch, retire the old one. An error means nothing was switched.
    pub async fn rotate_now(&self) -> Result<Rotated, IssuerError> {
        let setup = self.inner.rotation.get().ok_or_else(|| {
            IssuerError::Config(ConfigError::KeyRotation("rotation is not enabled".into()))
        })?;
        let started = std::time::Instant::now();
        // One rotation at a time: two would both countersign with the same current key.
        let mut state = self.inner.rotation_state.lock().await;
        let current = self.signer();
        let next = setup.rotation.keys.generate().await?;
        self.register(setup, &*current, &*next).await?;
        setup.rotation.keys.activate(&next).await.map_err(|err| {
            tracing::error!(kid = next.kid(), %err, "registered key not activated; old key stays");
            err
        })?;
        {
            let mut signer = self
                .inner
                .signer
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *signer = next.clone();
        }
        state.last_rotation = self.now();
        state.unretired.push(current.kid().to_owned());
        let retired = self.retire_pending(setup, &mut state).await;
        tracing::info!(
            old_kid = current.kid(),
            new_kid = next.kid(),
            retired,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "issuer signing key rotated"
        );
        Ok(Rotated {
            old_kid: current.kid().to_owned(),
            new_kid: next.kid().to_owned(),
            retired,
        })
    }

    /// A `key-retirement+jwt` for `kid`, signed by the key now signing (registry: enrolment).
    async fn retirement_request(&self, kid: &str) -> Result<String, IssuerError> {
        let now = jwt::now();
        let claims = json!({
            "iss": self.config().issuer,
            "aud": self.inner.registry.anchor().registry_id(),
            "iat": now, "exp": now + PROOF_LIFETIME,
            "jti": random_token(16)?, "kid": kid,
        });
        Ok(jwt::sign(
            &*self.signer(),
            &SigningHeader::new(KEY_RETIREMENT_TYP),
            &claims,
        )
        .await?)
    }

    /// The registry's self-service registration (ARCHITECTURE.md, registry: enrolment).
    async fn register(
        &self,
        setup: &RotationSetup,
        current: &dyn Signer,
        next: &dyn Signer,
    ) -> Result<(), IssuerError> {
        let fail = |text: String| IssuerError::KeyRotation(text);
        let entity = &self.config().issuer;
        let registry_id = self.inner.registry.anchor().registry_id();
        // The registry checks iat against its own clock, so the wall clock, not the
        // (injectable) issuer clock, dates the proofs.
        let now = jwt::now();
        let claims = json!({
            "iss": entity, "aud": registry_id, "iat": now, "exp": now + PROOF_LIFETIME,
            "jti": random_token(16)?,
        });
        let proof = jwt::sign(
            next,
            &SigningHeader::new(KEY_PROOF_TYP).embed_jwk(),
            &claims,
        )
        .await?;
        let claims = json!({
            "iss": entity, "aud": registry_id, "iat": now, "exp": now + PROOF_LIFETIME,
            "jti": random_token(16)?,
            "proof_hash": base64url::encode(openssl::sha::sha256(proof.as_bytes())),
        });
        let countersignature =
            jwt::sign(current, &SigningHeader::new(COUNTERSIGNATURE_TYP), &claims).await?;
        let url = format!(
            "{}/v1/entities/{}/keys",
            setup.rotation.registry_url.trim_end_matches('/'),
            path_segment(entity)
        );
        let response = setup
            .http
            .post(&url)
            .json(&json!({"proof": proof, "countersignature": countersignature}))
            .send()
            .await
            .map_err(|err| fail(format!("registry unreachable: {err}")))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(fail(format!("registration refused ({status}): {body}")));
        }
        Ok(())
    }

    /// Retires every key in `unretired` the registry accepts to retire, each request signed by
    /// the current key; true when none is left.
    async fn retire_pending(&self, setup: &RotationSetup, state: &mut RotationState) -> bool {
        let mut left = Vec::new();
        for kid in std::mem::take(&mut state.unretired) {
            let outcome = match self.retirement_request(&kid).await {
                Ok(proof) => {
                    let url = format!(
                        "{}/v1/entities/{}/keys/{}/retire",
                        setup.rotation.registry_url.trim_end_matches('/'),
                        path_segment(&self.config().issuer),
                        path_segment(&kid)
                    );
                    setup
                        .http
                        .post(&url)
                        .json(&json!({ "proof": proof }))
                        .send()
                        .await
                        .map_err(|err| err.to_string())
                }
                Err(err) => Err(err.to_string()),
            };
            match outcome {
                // 409: already retired or revoked (a retry after a lost answer): nothing left.
                Ok(response)
                    if response.status().is_success()
                        || response.status() == reqwest::StatusCode::CONFLICT => {}
                Ok(response) => {
                    tracing::warn!(%kid, status = %response.status(), "old key not retired; will retry");
                    left.push(kid);
                }
                Err(err) => {
                    tracing::warn!(%kid, %err, "old key not retired; will retry");
                    left.push(kid);
                }
            }
        }
        state.unretired = left;
        state.unretired.is_empty()
    }
}
