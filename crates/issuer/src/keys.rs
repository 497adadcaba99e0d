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

use immerse_jose::jws::SigningHeader;
use immerse_jose::{Signer, SoftwareSigner, base64url, jwt};
use immerse_registry::client::SelfService;
use immerse_registry::{COUNTERSIGNATURE_TYP, KEY_PROOF_TYP, KEY_RETIREMENT_TYP, RegistryError};
use serde_json::{Map, Value};

use crate::{ConfigError, Issuer, IssuerError};

/// Lifetime of a registration proof and its countersignature: made for one submission.
const PROOF_LIFETIME: i64 = 120;

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
    registry: SelfService,
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
        let registry =
            SelfService::new(&rotation.registry_url).map_err(|err| refuse(&err.to_string()))?;
        self.inner
            .rotation
            .set(RotationSetup { rotation, registry })
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
        let mut claims = self.registry_proof_claims()?;
        claims.insert("kid".into(), kid.into());
        Ok(jwt::sign(
            &*self.signer(),
            &SigningHeader::new(KEY_RETIREMENT_TYP),
            &Value::Object(claims),
        )
        .await?)
    }

    /// What every proof to the registry carries: the issuer as `iss`, the registry as `aud`, a
    /// lifetime for one submission and a fresh `jti`. The registry checks `iat` against its own
    /// clock, so the wall clock, not the (injectable) issuer clock, dates them.
    fn registry_proof_claims(&self) -> Result<Map<String, Value>, IssuerError> {
        let now = jwt::now();
        let mut claims = Map::new();
        claims.insert("iss".into(), self.config().issuer.clone().into());
        claims.insert(
            "aud".into(),
            self.inner.registry.anchor().registry_id().into(),
        );
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + PROOF_LIFETIME).into());
        claims.insert("jti".into(), immerse_jose::base64url::random(16)?.into());
        Ok(claims)
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
        let proof = jwt::sign(
            next,
            &SigningHeader::new(KEY_PROOF_TYP).embed_jwk(),
            &Value::Object(self.registry_proof_claims()?),
        )
        .await?;
        let mut claims = self.registry_proof_claims()?;
        claims.insert(
            "proof_hash".into(),
            base64url::encode(openssl::sha::sha256(proof.as_bytes())).into(),
        );
        let claims = Value::Object(claims);
        let countersignature =
            jwt::sign(current, &SigningHeader::new(COUNTERSIGNATURE_TYP), &claims).await?;
        setup
            .registry
            .submit_key(entity, &proof, &countersignature)
            .await
            .map_err(|err| match err {
                RegistryError::Unavailable(_) => fail(format!("registry unreachable: {err}")),
                refused => fail(format!("registration refused: {refused}")),
            })?;
        Ok(())
    }

    /// Retires every key in `unretired` the registry accepts to retire, each request signed by
    /// the current key; true when none is left.
    async fn retire_pending(&self, setup: &RotationSetup, state: &mut RotationState) -> bool {
        let mut left = Vec::new();
        for kid in std::mem::take(&mut state.unretired) {
            let outcome = match self.retirement_request(&kid).await {
                Ok(proof) => match setup
                    .registry
                    .retire_own_key(&self.config().issuer, &kid, &proof)
                    .await
                {
                    // Already retired or revoked (a retry after a lost answer): nothing left.
                    Ok(()) | Err(RegistryError::InvalidTransition { .. }) => Ok(()),
                    Err(err) => Err(err.to_string()),
                },
                Err(err) => Err(err.to_string()),
            };
            if let Err(err) = outcome {
                tracing::warn!(%kid, %err, "old key not retired; will retry");
                left.push(kid);
            }
        }
        state.unretired = left;
        state.unretired.is_empty()
    }
}
