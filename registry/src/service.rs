//! Registry operations as plain functions over typed input; the HTTP layer only adapts them.
use std::sync::Arc;

use immerse_jose::jws::EmbeddedJwk;
use immerse_jose::{
    Algorithm, Error as JoseError, PublicJwk, PublicJwkSet, Signer, base64url, jwt,
};
use immerse_store::{AuditRow, Store, WriteTx};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{random_secret, secret_hash};
use crate::log::{self, LogEntry, LogEvent};
use crate::model::{
    Allowances, Entity, EntityStatus, KeyInvalid, KeyRecord, KeyStatus, KeyUseName, Retention,
    RevocationReason, Role, key_valid_at,
};
use crate::refusals::{MAX_AUDIT_DETAIL, Peer, RefusalTally, bounded};
use crate::{Config, RegistryError};

/// JOSE `typ` of a key registration (the proof of possession, signed by the new key).
pub const KEY_PROOF_TYP: &str = "key-registration+jwt";
/// JOSE `typ` of the countersignature of a registration by an active key of the same entity.
pub const COUNTERSIGNATURE_TYP: &str = "key-countersignature+jwt";
/// JOSE `typ` of an entity's request to retire one of its own keys (`kid` claim), signed by one
/// of its valid keys.
pub const KEY_RETIREMENT_TYP: &str = "key-retirement+jwt";

/// How often a conflicting append (another replica took the index) is retried.
const MAX_WRITE_ATTEMPTS: usize = 8;
/// Longest entity id accepted.
const MAX_ENTITY_ID_LEN: usize = 256;
/// Longest kid accepted. The registry's kids are base64url SHA-256 thumbprints (43 bytes); this
/// leaves room for longer digests and refuses anything else before it reaches the database.
const MAX_KID_LEN: usize = 128;

/// Runs `$body` in a write transaction bound to `$tx` and commits; when another replica
/// appended first (a conflict on the log index), the whole body runs again on the new state.
/// A macro rather than a function over an async closure: the futures of async closures are not
/// yet provably `Send`, and axum handlers must be.
macro_rules! write_retrying {
    ($registry:expr, |$tx:ident| $body:block) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut $tx = $registry.store.begin_write().await?;
            let outcome: Result<_, RegistryError> = async { $body }.await;
            let outcome = match outcome {
                Ok(value) => $tx
                    .commit()
                    .await
                    .map(|()| value)
                    .map_err(RegistryError::from),
                Err(err) => Err(err),
            };
            match outcome {
                Err(RegistryError::Store(err))
                    if err.is_conflict() && attempt < MAX_WRITE_ATTEMPTS =>
                {
                    tracing::debug!(
                        attempt,
                        "registry write conflicted with another writer; retrying"
                    );
                }
                other => break other,
            }
        }
    }};
}

/// The source of "now", injectable so that retention and expiry can be tested.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The Key Registry over its store and signing key.
#[derive(Clone)]
pub struct Registry {
    pub(crate) store: Store,
    pub(crate) signer: Arc<dyn Signer>,
    pub(crate) config: Arc<Config>,
    pub(crate) clock: Clock,
    pub(crate) cache: Arc<crate::publish::SignedCache>,
    /// Refusals of callers that never authenticated, counted rather than written per request.
    pub(crate) refusals: Arc<RefusalTally>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEntity {
    pub id: String,
    pub role: Role,
    pub display_name: String,
    #[serde(default)]
    pub allowances: Allowances,
}

/// An entity and the one-time secret with which it registers its first key.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    pub entity: Entity,
    pub enrolment_secret: String,
    pub expires_at: i64,
}

/// A key registration sent by the entity itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySubmission {
    /// JWT `key-registration+jwt` signed by the new key, which travels in its `jwk` header.
    pub proof: String,
    /// For the first key: the enrolment secret.
    #[serde(default)]
    pub enrolment_secret: Option<String>,
    /// For later keys: JWT `key-countersignature+jwt` by an active key of the entity over the
    /// proof's SHA-256 (`proof_hash`).
    #[serde(default)]
    pub countersignature: Option<String>,
}

/// Lifetime of a registered key, from the proof's `key` claim or the admin request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyWindow {
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub exp: Option<i64>,
}

/// A key added by an admin (encryption keys, or keys of entities that cannot sign a proof).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminKey {
    /// The public JWK, parsed strictly here so that the refusal can be audited.
    pub jwk: Value,
    #[serde(rename = "use", default = "default_use")]
    pub key_use: KeyUseName,
    /// Required for signing keys; for encryption keys the JWE algorithm family is implied.
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(flatten)]
    pub window: KeyWindow,
}

fn default_use() -> KeyUseName {
    KeyUseName::Sig
}

impl Registry {
    pub fn new(store: Store, signer: Arc<dyn Signer>, config: Config) -> Self {
        Self::with_clock(store, signer, config, Arc::new(jwt::now))
    }

    pub fn with_clock(store: Store, signer: Arc<dyn Signer>, config: Config, clock: Clock) -> Self {
        Self {
            store,
            signer,
            config: Arc::new(config),
            clock,
            cache: Arc::default(),
            refusals: Arc::default(),
        }
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The registry's root public key, the one trust anchor of every other party.
    pub fn root_key(&self) -> &PublicJwk {
        self.signer.public_jwk()
    }

    pub async fn create_entity(
        &self,
        actor: &str,
        new: NewEntity,
    ) -> Result<Enrolment, RegistryError> {
        let entity_id = new.id.clone();
        let result = async {
            check_entity_id(&new.id)?;
            if new.display_name.trim().is_empty() || new.display_name.len() > 200 {
                return Err(RegistryError::InvalidRequest(
                    "display_name must be 1 to 200 characters".into(),
                ));
            }
            let now = self.now();
            let entity = Entity {
                id: new.id,
                role: new.role,
                display_name: new.display_name,
                allowances: new.allowances,
                status: EntityStatus::Active,
                created_at: now,
            };
            let secret = random_secret("ime_")?;
            let expires_at = now + self.config.enrolment_secret_lifetime;
            write_retrying!(self, |tx| {
                if tx.entity(&entity.id).await?.is_some() {
                    return Err(RegistryError::AlreadyExists(format!(
                        "entity {}",
                        entity.id
                    )));
                }
                tx.insert_entity(&entity.to_row(now)).await?;
                tx.insert_enrolment_secret(&secret_hash(&secret), &entity.id, expires_at)
                    .await?;
                let event = LogEvent::EntityCreated {
                    entity: entity.id.clone(),
                    role: entity.role,
                    display_name: entity.display_name.clone(),
                    allowances: entity.allowances.clone(),
                };
                self.append(&mut tx, now, event).await?;
                Ok(())
            })?;
            Ok(Enrolment {
                entity,
                enrolment_secret: secret,
                expires_at,
            })
        }
        .await;
        self.audit(actor, "entity.create", Some(&entity_id), None, result)
            .await
    }

    /// A fresh enrolment secret for an existing entity (the first one expired or was lost).
    pub async fn new_enrolment_secret(
        &self,
        actor: &str,
        entity_id: &str,
    ) -> Result<Enrolment, RegistryError> {
        let result = async {
            let now = self.now();
            let secret = random_secret("ime_")?;
            let expires_at = now + self.config.enrolment_secret_lifetime;
            let entity = write_retrying!(self, |tx| {
                let entity = load_entity(&mut tx, entity_id).await?;
                tx.insert_enrolment_secret(&secret_hash(&secret), entity_id, expires_at)
                    .await?;
                Ok(entity)
            })?;
            Ok(Enrolment {
                entity,
                enrolment_secret: secret,
                expires_at,
            })
        }
        .await;
        self.audit(
            actor,
            "entity.enrolment_secret",
            Some(entity_id),
            None,
            result,
        )
        .await
    }

    pub async fn set_suspended(
        &self,
        actor: &str,
        entity_id: &str,
        suspended: bool,
    ) -> Result<Entity, RegistryError> {
        let action = if suspended {
            "entity.suspend"
        } else {
            "entity.reactivate"
        };
        let result = async {
            let now = self.now();
            let status = if suspended {
                EntityStatus::Suspended
            } else {
                EntityStatus::Active
            };
            write_retrying!(self, |tx| {
                let mut entity = load_entity(&mut tx, entity_id).await?;
                if entity.status == status {
                    return Ok(entity);
                }
                entity.status = status;
                tx.set_entity_status(entity_id, &crate::model::enum_text(&status), now)
                    .await?;
                let entity_name = entity_id.to_owned();
                let event = if suspended {
                    LogEvent::EntitySuspended {
                        entity: entity_name,
                    }
                } else {
                    LogEvent::EntityReactivated {
                        entity: entity_name,
                    }
                };
                self.append(&mut tx, now, event).await?;
                Ok(entity)
            })
        }
        .await;
        self.audit(actor, action, Some(entity_id), None, result)
            .await
    }

    /// Registers a key sent by the entity: proof of possession by the new key, plus either the
    /// enrolment secret (first key) or a countersignature by one of its valid keys.
    ///
    /// The caller is authenticated as the entity once the secret or the countersignature was
    /// accepted and every `jti` was fresh; a refusal before that is counted under `peer` (see
    /// `refusals.rs`), one after it is audited under the entity.
    pub async fn submit_key(
        &self,
        peer: Peer,
        entity_id: &str,
        submission: KeySubmission,
    ) -> Result<KeyRecord, RegistryError> {
        let mut kid = None;
        let mut authenticated = false;
        let result = async {
            check_entity_id(entity_id)?;
            let now = self.now();
            let algorithms = &self.config.key_algorithms;
            let validation = self.proof_validation(KEY_PROOF_TYP, entity_id, algorithms, now);
            let proof = jwt::verify(&submission.proof, &validation, &EmbeddedJwk)
                .map_err(refusal_of_submitted_key)?
                .into_inner();
            let jwk = proof.key;
            kid = Some(jwk.thumbprint_b64());
            let (jti, proof_exp) = self.proof_claims(&proof.claims, now)?;
            let window: KeyWindow = match proof.claims.get("key") {
                None => KeyWindow::default(),
                Some(value) => serde_json::from_value(value.clone())
                    .map_err(|err| RegistryError::InvalidRequest(format!("key claim: {err}")))?,
            };
            let countersignature =
                match (&submission.enrolment_secret, &submission.countersignature) {
                    (Some(_), Some(_)) => {
                        return Err(RegistryError::InvalidRequest(
                            "send an enrolment secret or a countersignature, not both".into(),
                        ));
                    }
                    (None, None) => return Err(RegistryError::CountersignatureRequired),
                    (None, Some(countersignature)) => Some(countersignature.as_str()),
                    (Some(_), None) => None,
                };
            let record = KeyRecord {
                kid: jwk.thumbprint_b64(),
                entity_id: entity_id.to_owned(),
                jwk: jwk.clone(),
                key_use: KeyUseName::Sig,
                alg: proof.header.alg.name().to_owned(),
                nbf: window.nbf,
                exp: window.exp,
                status: KeyStatus::Active,
                created_at: now,
                retired_at: None,
                revoked_at: None,
                revocation_reason: None,
                log_index: 0,
            };
            write_retrying!(self, |tx| {
                authenticated = false;
                let entity = load_entity(&mut tx, entity_id).await?;
                if entity.status == EntityStatus::Suspended {
                    return Err(RegistryError::EntitySuspended(entity_id.to_owned()));
                }
                match (countersignature, &submission.enrolment_secret) {
                    (Some(countersignature), _) => {
                        let keys =
                            valid_key_set(&mut tx, &entity, now, self.config.retention).await?;
                        let validation =
                            self.proof_validation(COUNTERSIGNATURE_TYP, entity_id, algorithms, now);
                        let verified = jwt::verify(countersignature, &validation, &keys)
                            .map_err(RegistryError::InvalidProof)?
                            .into_inner();
                        let expected =
                            base64url::encode(openssl::sha::sha256(submission.proof.as_bytes()));
                        if verified.claims.get("proof_hash").and_then(Value::as_str)
                            != Some(expected.as_str())
                        {
                            return Err(RegistryError::InvalidProof(JoseError::InvalidClaim(
                                "proof_hash",
                            )));
                        }
                        let (counter_jti, counter_exp) =
                            self.proof_claims(&verified.claims, now)?;
                        self.record_jti(&mut tx, entity_id, &counter_jti, counter_exp, now)
                            .await?;
                    }
                    (None, Some(secret)) => {
                        let outcome = tx
                            .use_enrolment_secret(&secret_hash(secret), entity_id, now)
                            .await?;
                        if let Some(refusal) = RegistryError::from_secret_use(outcome) {
                            return Err(refusal);
                        }
                    }
                    (None, None) => return Err(RegistryError::CountersignatureRequired),
                }
                self.record_jti(&mut tx, entity_id, &jti, proof_exp, now)
                    .await?;
                authenticated = true;
                self.insert_key(&mut tx, record.clone(), now).await
            })
        }
        .await;
        if !authenticated {
            return self.refused_anonymously(peer, "key.submit", result).await;
        }
        self.audit(
            entity_id,
            "key.submit",
            Some(entity_id),
            kid.as_deref(),
            result,
        )
        .await
    }

    /// Adds a key on an admin's word: no proof of possession, so only for keys the admin vouches
    /// for (encryption keys, hardware keys provisioned out of band).
    pub async fn add_key(
        &self,
        actor: &str,
        entity_id: &str,
        request: AdminKey,
    ) -> Result<KeyRecord, RegistryError> {
        let mut kid = None;
        let result = async {
            let now = self.now();
            let jwk = PublicJwk::try_from(request.jwk).map_err(RegistryError::InvalidKey)?;
            kid = Some(jwk.thumbprint_b64());
            let alg = match (request.key_use, request.alg.as_deref()) {
                (KeyUseName::Sig, Some(name)) => {
                    let alg: Algorithm = name
                        .parse()
                        .map_err(|_| RegistryError::UnsupportedAlgorithm(name.to_owned()))?;
                    if !self.config.key_algorithms.contains(&alg) {
                        return Err(RegistryError::UnsupportedAlgorithm(name.to_owned()));
                    }
                    jwk.check_algorithm(alg)
                        .map_err(RegistryError::InvalidKey)?;
                    alg.name().to_owned()
                }
                (KeyUseName::Sig, None) => {
                    return Err(RegistryError::InvalidRequest(
                        "a signing key needs alg".into(),
                    ));
                }
                (KeyUseName::Enc, _) => "ECDH-ES".to_owned(),
            };
            let record = KeyRecord {
                kid: jwk.thumbprint_b64(),
                entity_id: entity_id.to_owned(),
                jwk,
                key_use: request.key_use,
                alg,
                nbf: request.window.nbf,
                exp: request.window.exp,
                status: KeyStatus::Active,
                created_at: now,
                retired_at: None,
                revoked_at: None,
                revocation_reason: None,
                log_index: 0,
            };
            write_retrying!(self, |tx| {
                let entity = load_entity(&mut tx, entity_id).await?;
                if entity.status == EntityStatus::Suspended {
                    return Err(RegistryError::EntitySuspended(entity_id.to_owned()));
                }
                self.insert_key(&mut tx, record.clone(), now).await
            })
        }
        .await;
        self.audit(actor, "key.add", Some(entity_id), kid.as_deref(), result)
            .await
    }

    pub async fn retire_key(
        &self,
        actor: &str,
        entity_id: &str,
        kid: &str,
    ) -> Result<KeyRecord, RegistryError> {
        let result = self.change_key(entity_id, kid, None).await;
        self.audit(actor, "key.retire", Some(entity_id), Some(kid), result)
            .await
    }

    /// Retires a key at the entity's own request: a `key-retirement+jwt` (`iss` = entity, `aud`
    /// = registry, `iat`, `exp`, `jti`, `kid` = the key to retire) signed by one of its valid
    /// keys. Key rotation uses it, so a service needs no admin token to retire the key it
    /// replaced. Retiring only narrows what an entity's keys can do (the key stays valid for the
    /// retention), so any valid key of the entity may ask; revocation stays an admin's act.
    /// Authenticated once the request verified and its `jti` was fresh; refusals before that are
    /// counted under `peer`, as in [`Self::submit_key`].
    pub async fn retire_own_key(
        &self,
        peer: Peer,
        entity_id: &str,
        kid: &str,
        proof: &str,
    ) -> Result<KeyRecord, RegistryError> {
        if let Err(err) = check_entity_id(entity_id).and_then(|()| check_kid(kid)) {
            return self.refused_anonymously(peer, "key.retire", Err(err)).await;
        }
        let now = self.now();
        let algorithms = &self.config.key_algorithms;
        let mut authenticated = false;
        let result = write_retrying!(self, |tx| {
            authenticated = false;
            let entity = load_entity(&mut tx, entity_id).await?;
            if entity.status == EntityStatus::Suspended {
                return Err(RegistryError::EntitySuspended(entity_id.to_owned()));
            }
            let keys = valid_key_set(&mut tx, &entity, now, self.config.retention).await?;
            let validation = self.proof_validation(KEY_RETIREMENT_TYP, entity_id, algorithms, now);
            let verified = jwt::verify(proof, &validation, &keys)
                .map_err(RegistryError::InvalidProof)?
                .into_inner();
            if verified.claims.get("kid").and_then(Value::as_str) != Some(kid) {
                return Err(RegistryError::InvalidProof(JoseError::InvalidClaim("kid")));
            }
            let (jti, exp) = self.proof_claims(&verified.claims, now)?;
            self.record_jti(&mut tx, entity_id, &jti, exp, now).await?;
            authenticated = true;
            self.change_key_in(&mut tx, entity_id, kid, None, now).await
        });
        if !authenticated {
            return self.refused_anonymously(peer, "key.retire", result).await;
        }
        self.audit(entity_id, "key.retire", Some(entity_id), Some(kid), result)
            .await
    }

    pub async fn revoke_key(
        &self,
        actor: &str,
        entity_id: &str,
        kid: &str,
        reason: RevocationReason,
    ) -> Result<KeyRecord, RegistryError> {
        let result = self.change_key(entity_id, kid, Some(reason)).await;
        self.audit(actor, "key.revoke", Some(entity_id), Some(kid), result)
            .await
    }

    /// Retires (`reason` None) or revokes a key. Retiring a revoked key is refused; revoking a
    /// retired key is allowed (a retired key can still be found compromised).
    async fn change_key(
        &self,
        entity_id: &str,
        kid: &str,
        reason: Option<RevocationReason>,
    ) -> Result<KeyRecord, RegistryError> {
        let now = self.now();
        write_retrying!(self, |tx| {
            self.change_key_in(&mut tx, entity_id, kid, reason, now)
                .await
        })
    }

    async fn change_key_in(
        &self,
        tx: &mut WriteTx,
        entity_id: &str,
        kid: &str,
        reason: Option<RevocationReason>,
        now: i64,
    ) -> Result<KeyRecord, RegistryError> {
        {
            let mut key: KeyRecord = tx
                .key(kid)
                .await?
                .filter(|row| row.entity_id == entity_id)
                .ok_or_else(|| RegistryError::NotFound(format!("key {kid} of {entity_id}")))?
                .try_into()?;
            let event = match (reason, key.status) {
                (_, KeyStatus::Revoked) => {
                    return Err(RegistryError::InvalidTransition {
                        kid: kid.to_owned(),
                        status: "revoked",
                        action: if reason.is_some() {
                            "revoked"
                        } else {
                            "retired"
                        },
                    });
                }
                (None, KeyStatus::Retired) => {
                    return Err(RegistryError::InvalidTransition {
                        kid: kid.to_owned(),
                        status: "retired",
                        action: "retired",
                    });
                }
                (None, KeyStatus::Active) => {
                    key.status = KeyStatus::Retired;
                    key.retired_at = Some(now);
                    LogEvent::KeyRetired {
                        entity: entity_id.to_owned(),
                        kid: kid.to_owned(),
                    }
                }
                (Some(reason), _) => {
                    key.status = KeyStatus::Revoked;
                    key.revoked_at = Some(now);
                    key.revocation_reason = Some(reason);
                    LogEvent::KeyRevoked {
                        entity: entity_id.to_owned(),
                        kid: kid.to_owned(),
                        reason,
                    }
                }
            };
            tx.update_key_lifecycle(&key.to_row()).await?;
            self.append(tx, now, event).await?;
            Ok(key)
        }
    }

    pub async fn entity(&self, entity_id: &str) -> Result<Entity, RegistryError> {
        self.store
            .registry_entity(entity_id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("entity {entity_id}")))?
            .try_into()
    }

    /// Every key the entity ever had, in registration order.
    pub async fn keys(&self, entity_id: &str) -> Result<Vec<KeyRecord>, RegistryError> {
        self.store
            .registry_keys_of(entity_id)
            .await?
            .into_iter()
            .map(KeyRecord::try_from)
            .collect()
    }

    /// Was key `kid` of `entity_id` valid at `at`? One answer, from [`key_valid_at`].
    pub async fn key_valid_at(
        &self,
        entity_id: &str,
        kid: &str,
        at: i64,
    ) -> Result<Result<(), KeyInvalid>, RegistryError> {
        let entity = self.entity(entity_id).await?;
        let key: KeyRecord = self
            .store
            .registry_key(kid)
            .await?
            .filter(|row| row.entity_id == entity_id)
            .ok_or_else(|| RegistryError::NotFound(format!("key {kid} of {entity_id}")))?
            .try_into()?;
        Ok(key_valid_at(&key, entity.status, at, self.config.retention))
    }

    pub async fn audit_records(&self, limit: i64) -> Result<Vec<AuditRow>, RegistryError> {
        Ok(self.store.audit_records(limit.clamp(1, 1000)).await?)
    }

    fn proof_validation<'a>(
        &'a self,
        typ: &'a str,
        entity_id: &'a str,
        algorithms: &'a [Algorithm],
        now: i64,
    ) -> jwt::Validation<'a> {
        let mut validation = jwt::Validation::new(typ)
            .audience(&self.config.registry_id)
            .issuer(entity_id)
            .at(now);
        validation.jws = validation.jws.with_algorithms(algorithms);
        validation.skew_seconds = self.config.skew_seconds;
        validation
    }

    async fn record_jti(
        &self,
        tx: &mut WriteTx,
        entity_id: &str,
        jti: &str,
        exp: i64,
        now: i64,
    ) -> Result<(), RegistryError> {
        // Remember the jti past the proof's own expiry plus skew, so it cannot come back.
        let remember_until = exp.max(now) + self.config.skew_seconds + 1;
        let scope = format!(
            "registry-jti:{}",
            openssl::sha::sha256(entity_id.as_bytes())
                .map(|b| format!("{b:02x}"))
                .concat()
        );
        match tx
            .check_and_record_at(&scope, jti, remember_until, now)
            .await?
        {
            immerse_store::Replay::Fresh => Ok(()),
            immerse_store::Replay::Replayed => Err(RegistryError::Replayed(jti.to_owned())),
        }
    }

    async fn insert_key(
        &self,
        tx: &mut WriteTx,
        mut record: KeyRecord,
        now: i64,
    ) -> Result<KeyRecord, RegistryError> {
        if let Some(existing) = tx.key(&record.kid).await? {
            return Err(if existing.entity_id == record.entity_id {
                RegistryError::AlreadyExists(format!("key {}", record.kid))
            } else {
                RegistryError::KidBoundElsewhere(record.kid.clone())
            });
        }
        let event = LogEvent::KeyAdded {
            entity: record.entity_id.clone(),
            kid: record.kid.clone(),
            jwk: record.jwk.clone(),
            key_use: record.key_use,
            alg: record.alg.clone(),
            nbf: record.nbf,
            exp: record.exp,
        };
        record.log_index = self.append(tx, now, event).await?;
        tx.insert_key(&record.to_row()).await?;
        Ok(record)
    }

    async fn append(
        &self,
        tx: &mut WriteTx,
        now: i64,
        event: LogEvent,
    ) -> Result<u64, RegistryError> {
        log::append(
            tx,
            &*self.signer,
            &self.config.registry_id,
            &LogEntry { time: now, event },
        )
        .await
    }

    /// Records the decision in the audit trail and passes the result through. A failure to
    /// write the audit record fails the request: an unaudited change is not acceptable. Server
    /// errors are not decisions; the HTTP layer logs them. `actor` is always an authenticated
    /// principal; a caller that did not authenticate goes through [`Self::refused_anonymously`].
    async fn audit<T>(
        &self,
        actor: &str,
        action: &str,
        entity_id: Option<&str>,
        kid: Option<&str>,
        result: Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let (outcome, error_code, detail) = match &result {
            Ok(_) => ("accepted", None, String::new()),
            Err(err) if err.is_refusal() => (
                "refused",
                Some(err.code_and_status().0.to_owned()),
                bounded(&err.to_string(), MAX_AUDIT_DETAIL),
            ),
            Err(_) => return result,
        };
        self.store
            .insert_audit(&AuditRow {
                at: self.now(),
                actor: actor.to_owned(),
                action: action.to_owned(),
                entity_id: entity_id.map(str::to_owned),
                kid: kid.map(str::to_owned),
                outcome: outcome.to_owned(),
                error_code,
                detail,
            })
            .await?;
        result
    }
}

/// Entity ids are https URLs (OpenID Federation entity identifiers) without query or fragment.
/// The one check of an entity id: `create_entity` and every route that names an entity use it.
pub(crate) fn check_entity_id(id: &str) -> Result<(), RegistryError> {
    let host = id.strip_prefix("https://").unwrap_or_default();
    let valid = id.len() <= MAX_ENTITY_ID_LEN
        && !host.is_empty()
        && !host.starts_with('/')
        && id.chars().all(|c| c.is_ascii_graphic())
        && !id.contains(['?', '#', '"', '\\']);
    if valid {
        Ok(())
    } else {
        Err(RegistryError::InvalidRequest(format!(
            "entity id must be an https URL without query or fragment, at most {MAX_ENTITY_ID_LEN} bytes"
        )))
    }
}

/// Kids are base64url thumbprints: anything else names no key and is refused unread.
pub(crate) fn check_kid(kid: &str) -> Result<(), RegistryError> {
    let valid = !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(RegistryError::InvalidRequest(format!(
            "kid must be 1 to {MAX_KID_LEN} base64url characters"
        )))
    }
}

async fn load_entity(tx: &mut WriteTx, entity_id: &str) -> Result<Entity, RegistryError> {
    tx.entity(entity_id)
        .await?
        .ok_or_else(|| RegistryError::NotFound(format!("entity {entity_id}")))?
        .try_into()
}

/// The entity's signing keys valid at `now`, with their kids, for countersignature checks.
async fn valid_key_set(
    tx: &mut WriteTx,
    entity: &Entity,
    now: i64,
    retention: Retention,
) -> Result<PublicJwkSet, RegistryError> {
    let mut keys = Vec::new();
    for row in tx.keys_of(&entity.id).await? {
        let key = KeyRecord::try_from(row)?;
        // A retired key still verifies old signatures but must not vouch for new keys.
        if key.key_use == KeyUseName::Sig
            && key.status == KeyStatus::Active
            && key_valid_at(&key, entity.status, now, retention).is_ok()
        {
            keys.push(key.published_jwk());
        }
    }
    Ok(PublicJwkSet { keys })
}

impl Registry {
    /// `jti` (required, 1..=256 bytes) and `exp` of a verified proof, whose `iat` must be
    /// recent: a proof is made for one submission, not kept for later.
    fn proof_claims(
        &self,
        claims: &serde_json::Map<String, Value>,
        now: i64,
    ) -> Result<(String, i64), RegistryError> {
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(RegistryError::InvalidProof(JoseError::MissingClaim("iat")))?;
        if now - iat > self.config.proof_max_age + self.config.skew_seconds {
            return Err(RegistryError::InvalidProof(JoseError::Expired));
        }
        jti_and_exp(claims)
    }
}

/// `jti` (required, 1..=256 bytes) and `exp` of a verified proof.
fn jti_and_exp(claims: &serde_json::Map<String, Value>) -> Result<(String, i64), RegistryError> {
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|jti| !jti.is_empty() && jti.len() <= 256)
        .ok_or(RegistryError::InvalidProof(JoseError::MissingClaim("jti")))?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(RegistryError::InvalidProof(JoseError::MissingClaim("exp")))?;
    Ok((jti.to_owned(), exp))
}

/// Sorts a failed proof verification into "the key itself is refused" and "the proof is".
fn refusal_of_submitted_key(err: JoseError) -> RegistryError {
    match err {
        JoseError::PrivateKeyMember(_)
        | JoseError::SymmetricKey
        | JoseError::UnsupportedKeyType(_)
        | JoseError::UnsupportedCurve(_)
        | JoseError::PointNotOnCurve
        | JoseError::RsaKeyTooSmall(_)
        | JoseError::MalformedJwk(_) => RegistryError::InvalidKey(err),
        JoseError::AlgorithmNotAllowed(alg) => RegistryError::UnsupportedAlgorithm(alg),
        other => RegistryError::InvalidProof(other),
    }
}
