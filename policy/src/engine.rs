//! Image verification under one policy, with the caches that keep admission fast under load:
//! a success cache keyed by image digest, policy hash and the Key Registry's current keys for
//! the policy's `registryEntity` authorities (so a revoked key stops admitting as soon as the
//! registry client sees the revocation, within its `refresh_after`), a short negative cache for verdicts
//! (never for registry errors, so a registry that comes back is used at once), and one
//! verification in flight per key however many reviews ask. Verifications run as their own
//! tasks: a review that gives up at its deadline leaves the result for the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use immerse_oci::{Credentials, Digest, ImageRef, OciError, RegistryClient, Repository};
use immerse_registry::client::RegistryClient as KeyRegistryClient;
use immerse_sigstore::{Policy, TrustedRoot, VerificationKey, Verifier};
use immerse_slsa::{ProvenanceOptions, verify_image_provenance, verify_image_signatures};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use crate::policy::{CompiledAttestation, CompiledAuthority, CompiledPolicy, Signer};

/// Why an image does not satisfy a policy. `Unavailable` is a failure to decide (registry or
/// Key Registry unreachable, time limit): it denies, but is never cached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailure {
    #[error("signed by {satisfied} of the {threshold} required authorities ({details})")]
    Signatures {
        satisfied: usize,
        threshold: usize,
        details: String,
    },
    #[error("attestation {attestation:?} not satisfied ({details})")]
    Attestation {
        attestation: String,
        details: String,
    },
    #[error("could not be verified: {0}")]
    Unavailable(String),
}

impl CheckFailure {
    /// The `reason` label of the denial metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Signatures { .. } => "signature",
            Self::Attestation { .. } => "attestation",
            Self::Unavailable(_) => "unavailable",
        }
    }

    fn cacheable(&self) -> bool {
        !matches!(self, Self::Unavailable(_))
    }
}

/// What verified: the authorities whose signatures passed and, per attestation, the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub authorities: Vec<String>,
    pub attestations: Vec<(String, String)>,
}

pub type Outcome = Result<Verified, CheckFailure>;

/// How a lookup was answered, for the cache metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    Hit,
    /// Another review's verification of the same key was already running.
    Joined,
    Miss,
}

impl CacheUse {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Joined => "joined",
            Self::Miss => "miss",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// For keyless authorities and for keys whose signatures must be in a transparency log.
    pub trusted_root: Option<Arc<TrustedRoot>>,
    /// For `registryEntity` authorities.
    pub key_registry: Option<KeyRegistryClient>,
    pub success_ttl: Duration,
    /// Short, so that an image signed after a denial is admitted soon.
    pub failure_ttl: Duration,
    /// The most one verification may take before it is abandoned as unavailable.
    pub verification_limit: Duration,
    pub max_entries: usize,
    /// Hosts besides each registry's own that may serve its Bearer tokens (the pull
    /// credentials go there).
    pub token_realm_hosts: Vec<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            trusted_root: None,
            key_registry: None,
            success_ttl: Duration::from_secs(300),
            failure_ttl: Duration::from_secs(10),
            verification_limit: Duration::from_secs(60),
            max_entries: 10_000,
            token_realm_hosts: Vec::new(),
        }
    }
}

/// `registry/repository@digest`, the policy hash and the Key Registry state it was judged under.
type CacheKey = (String, String, String);

pub struct Engine {
    config: EngineConfig,
    /// Over the configured trusted root (empty without one: enough for keys that may lack a
    /// log entry); built once, it holds the parsed certificates and log keys.
    verifier: Verifier,
    verified: Mutex<HashMap<CacheKey, (Instant, Outcome)>>,
    in_flight: Mutex<HashMap<CacheKey, watch::Receiver<Option<Outcome>>>>,
    clients: Mutex<HashMap<(String, String), Arc<RegistryClient>>>,
}

/// A verification started (or found): wait for it with [`Pending::outcome`].
pub struct Pending {
    pub cache: CacheUse,
    receiver: watch::Receiver<Option<Outcome>>,
}

impl Pending {
    pub async fn outcome(mut self) -> Outcome {
        match self.receiver.wait_for(Option::is_some).await {
            Ok(value) => value.clone().unwrap_or_else(|| {
                Err(CheckFailure::Unavailable(
                    "verification produced nothing".into(),
                ))
            }),
            Err(_) => Err(CheckFailure::Unavailable(
                "verification task ended without a result".into(),
            )),
        }
    }
}

fn credentials_fingerprint(credentials: &Credentials) -> String {
    match credentials {
        Credentials::Anonymous => String::new(),
        Credentials::Basic { username, password } => {
            let mut h = Sha256::new();
            h.update(username.as_bytes());
            h.update([0]);
            h.update(password.as_bytes());
            hex::encode(h.finalize())
        }
    }
}

impl Engine {
    pub fn new(config: EngineConfig) -> Arc<Self> {
        let root = config.trusted_root.as_deref().cloned().unwrap_or_default();
        Arc::new(Self {
            verifier: Verifier::new(root),
            config,
            verified: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// One client per registry and credentials, so Bearer tokens and connections are reused.
    pub fn client(
        &self,
        image: &ImageRef,
        credentials: &Credentials,
    ) -> Result<Arc<RegistryClient>, OciError> {
        let host = image.api_host().to_owned();
        let key = (host.clone(), credentials_fingerprint(credentials));
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        // Plain http is for a registry on this host only (the oci crate refuses it elsewhere).
        let builder = RegistryClient::builder(&host)
            .credentials(credentials.clone())
            .plain_http(immerse_oci::client::is_loopback_host(
                host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h),
            ));
        let builder = self
            .config
            .token_realm_hosts
            .iter()
            .fold(builder, |builder, realm| {
                builder.token_realm_host(realm.clone())
            });
        let client = Arc::new(builder.build()?);
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// The digest a tag names now (tags move; the digest is what gets verified and run).
    pub async fn resolve(
        &self,
        image: &ImageRef,
        credentials: &Credentials,
    ) -> Result<Digest, CheckFailure> {
        if let Some(digest) = image.digest() {
            return Ok(*digest);
        }
        let unavailable = |e: OciError| CheckFailure::Unavailable(format!("registry: {e}"));
        let client = self.client(image, credentials).map_err(unavailable)?;
        let repo = client.repository(image.repository()).map_err(unavailable)?;
        let tag = image.tag_or_default().unwrap_or("latest");
        let resolved =
            tokio::time::timeout(self.config.verification_limit, repo.head_manifest(tag))
                .await
                .map_err(|_| CheckFailure::Unavailable("registry did not answer in time".into()))?
                .map_err(unavailable)?;
        resolved
            .map(|d| d.digest)
            .ok_or_else(|| CheckFailure::Unavailable(format!("{image}: tag {tag} not found")))
    }

    /// Starts verifying `image` (pinned by digest) under `policy`, or joins the verification
    /// already running, or answers from the cache.
    pub async fn verify(
        self: &Arc<Self>,
        image: ImageRef,
        digest: Digest,
        policy: Arc<CompiledPolicy>,
        credentials: Credentials,
    ) -> Pending {
        let registry_state = self.registry_state(&policy).await;
        let cacheable = registry_state.is_some();
        let key: CacheKey = (
            format!("{}@{digest}", image.name()),
            policy.hash.clone(),
            registry_state.unwrap_or_default(),
        );
        if cacheable {
            let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((expires, outcome)) = verified.get(&key)
                && Instant::now() < *expires
            {
                let (_, receiver) = watch::channel(Some(outcome.clone()));
                return Pending {
                    cache: CacheUse::Hit,
                    receiver,
                };
            }
        }
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(receiver) = in_flight.get(&key) {
            return Pending {
                cache: CacheUse::Joined,
                receiver: receiver.clone(),
            };
        }
        let (sender, receiver) = watch::channel(None);
        in_flight.insert(key.clone(), receiver.clone());
        drop(in_flight);
        let engine = self.clone();
        tokio::spawn(async move {
            let limit = engine.config.verification_limit;
            let outcome = tokio::time::timeout(
                limit,
                engine.verify_now(&image, &digest, &policy, &credentials),
            )
            .await
            .unwrap_or_else(|_| {
                Err(CheckFailure::Unavailable(format!(
                    "verification took longer than {}s",
                    limit.as_secs()
                )))
            });
            if cacheable {
                engine.remember(key.clone(), &outcome);
            }
            engine
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            let _ = sender.send(Some(outcome));
        });
        Pending {
            cache: CacheUse::Miss,
            receiver,
        }
    }

    /// What the Key Registry client holds now for the policy's `registryEntity` authorities: a
    /// hash over each entity's key thumbprints, or its refusal. `None` when the Key Registry
    /// cannot answer: nothing is then cached, and the verification says why it failed.
    async fn registry_state(&self, policy: &CompiledPolicy) -> Option<String> {
        let mut state = Sha256::new();
        for authority in &policy.authorities {
            let Signer::RegistryEntity { entity, role, .. } = &authority.signer else {
                continue;
            };
            let registry = self.config.key_registry.as_ref()?;
            state.update(entity.as_bytes());
            state.update([0]);
            match registry.verification_keys(entity, *role).await {
                Ok(keys) => {
                    for key in &keys.keys {
                        state.update(key.thumbprint());
                    }
                }
                Err(e) if e.is_refusal() => state.update(format!("refused: {e}").as_bytes()),
                Err(_) => return None,
            }
            state.update([0]);
        }
        Some(hex::encode(state.finalize()))
    }

    fn remember(&self, key: CacheKey, outcome: &Outcome) {
        let ttl = match outcome {
            Ok(_) => self.config.success_ttl,
            Err(failure) if failure.cacheable() => self.config.failure_ttl,
            Err(_) => return,
        };
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= self.config.max_entries {
            let now = Instant::now();
            verified.retain(|_, (expires, _)| *expires > now);
            if verified.len() >= self.config.max_entries {
                verified.clear();
            }
        }
        verified.insert(key, (Instant::now() + ttl, outcome.clone()));
    }

    async fn verify_now(
        &self,
        image: &ImageRef,
        digest: &Digest,
        policy: &CompiledPolicy,
        credentials: &Credentials,
    ) -> Outcome {
        let unavailable = |e: OciError| CheckFailure::Unavailable(format!("registry: {e}"));
        let client = self.client(image, credentials).map_err(unavailable)?;
        let repo = client.repository(image.repository()).map_err(unavailable)?;
        let mut signers = Vec::with_capacity(policy.authorities.len());
        let mut details = Vec::new();
        for authority in &policy.authorities {
            match self.policies(authority).await? {
                Ok(policies) => signers.push((authority, policies)),
                // The Key Registry's verified "no" (another role, suspended, unknown): this
                // authority signs nothing, the others may still meet the threshold.
                Err(refusal) => details.push(format!("{}: {refusal}", authority.name)),
            }
        }

        let mut satisfied = Vec::new();
        for (authority, policies) in &signers {
            match signed_by(&repo, digest, &self.verifier, policies).await {
                Ok(()) => satisfied.push(authority.name.clone()),
                Err(SignerFailure::Unavailable(e)) => return Err(CheckFailure::Unavailable(e)),
                Err(SignerFailure::Refused(e)) => details.push(format!("{}: {e}", authority.name)),
            }
        }
        if satisfied.len() < policy.threshold {
            return Err(CheckFailure::Signatures {
                satisfied: satisfied.len(),
                threshold: policy.threshold,
                details: details.join("; "),
            });
        }

        let mut attestations = Vec::new();
        for requirement in &policy.attestations {
            let builder = attested(&repo, digest, &self.verifier, &signers, requirement).await?;
            attestations.push((requirement.name.clone(), builder));
        }
        Ok(Verified {
            authorities: satisfied,
            attestations,
        })
    }

    /// The Sigstore policy for each key (or identity) the authority stands for; `Ok(Err(why))`
    /// when the Key Registry refuses the authority's entity.
    async fn policies(
        &self,
        authority: &CompiledAuthority,
    ) -> Result<Result<Vec<Policy>, String>, CheckFailure> {
        let key_policy = |key: VerificationKey, allow_missing_tlog: bool| {
            let policy = Policy::key(key);
            if allow_missing_tlog {
                policy.allowing_missing_tlog()
            } else {
                policy
            }
        };
        match &authority.signer {
            Signer::Key {
                key,
                allow_missing_tlog,
            } => Ok(Ok(vec![key_policy(key.clone(), *allow_missing_tlog)])),
            Signer::Keyless(identity) => {
                if self.config.trusted_root.is_none() {
                    return Err(CheckFailure::Unavailable(format!(
                        "authority {}: keyless signatures need a Sigstore trusted root (--trusted-root)",
                        authority.name
                    )));
                }
                Ok(Ok(vec![Policy::identity(identity.clone())]))
            }
            Signer::RegistryEntity {
                entity,
                role,
                allow_missing_tlog,
            } => {
                let registry = self.config.key_registry.as_ref().ok_or_else(|| {
                    CheckFailure::Unavailable(format!(
                        "authority {}: no Key Registry configured (--registry-url)",
                        authority.name
                    ))
                })?;
                let keys = match registry.verification_keys(entity, *role).await {
                    Ok(keys) => keys,
                    Err(e) if e.is_refusal() => {
                        return Ok(Err(format!("Key Registry, entity {entity}: {e}")));
                    }
                    Err(e) => {
                        return Err(CheckFailure::Unavailable(format!(
                            "Key Registry, entity {entity}: {e}"
                        )));
                    }
                };
                Ok(Ok(keys
                    .keys
                    .iter()
                    .filter_map(|jwk| VerificationKey::from_jwk(jwk).ok())
                    .map(|key| key_policy(key, *allow_missing_tlog))
                    .collect()))
            }
        }
    }
}

enum SignerFailure {
    Refused(String),
    Unavailable(String),
}

fn classify(e: immerse_slsa::SupplyChainError) -> SignerFailure {
    match e {
        immerse_slsa::SupplyChainError::Oci(e) => {
            SignerFailure::Unavailable(format!("registry: {e}"))
        }
        other => SignerFailure::Refused(other.to_string()),
    }
}

async fn signed_by(
    repo: &Repository<'_>,
    digest: &Digest,
    verifier: &Verifier,
    policies: &[Policy],
) -> Result<(), SignerFailure> {
    let mut last = SignerFailure::Refused("the authority has no usable key".into());
    for policy in policies {
        match verify_image_signatures(repo, digest, verifier, policy).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                last = classify(e);
                if matches!(last, SignerFailure::Unavailable(_)) {
                    return Err(last);
                }
            }
        }
    }
    Err(last)
}

/// The provenance must be signed by one of the policy's authorities and name one of the
/// trusted builders; returns that builder.
async fn attested(
    repo: &Repository<'_>,
    digest: &Digest,
    verifier: &Verifier,
    signers: &[(&CompiledAuthority, Vec<Policy>)],
    requirement: &CompiledAttestation,
) -> Result<String, CheckFailure> {
    let mut details = Vec::new();
    for builder in &requirement.builder_ids {
        let options = ProvenanceOptions {
            expected_digests: Vec::new(),
            source_uri: requirement.source_uri.clone(),
            builder_id: Some(builder.clone()),
            trusted_delegators: Vec::new(),
            require_builder_release_tag: false,
            source_ref: requirement.source_ref.clone(),
        };
        for (authority, policies) in signers {
            for policy in policies {
                match verify_image_provenance(repo, digest, verifier, policy, &options).await {
                    Ok(_) => return Ok(builder.clone()),
                    Err(e) => match classify(e) {
                        SignerFailure::Unavailable(e) => {
                            return Err(CheckFailure::Unavailable(e));
                        }
                        SignerFailure::Refused(e) => {
                            details.push(format!("{} / builder {builder}: {e}", authority.name));
                        }
                    },
                }
            }
        }
    }
    details.dedup();
    Err(CheckFailure::Attestation {
        attestation: requirement.name.clone(),
        details: details.join("; "),
    })
}
