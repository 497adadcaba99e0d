//! Bundle verification: the one place that turns a parsed [`Bundle`] into a
//! [`VerifiedBundle`]. Order: signer material against the policy, the signature over the
//! content, RFC 3161 timestamps, transparency log entries (SET, inclusion proof, checkpoint,
//! body), then for certificates the chain and validity at every verified time, the SCTs and
//! the identity policy.
use openssl::x509::X509;

use crate::body::{self, Expected};
use crate::bundle::{Bundle, Content, VerificationMaterial};
use crate::certs::verify_fulcio_chain;
use crate::dsse::IN_TOTO_PAYLOAD_TYPE;
use crate::error::{Error, Result};
use crate::identity::{FulcioIdentity, IdentityPolicy};
use crate::keys::{HashAlgorithm, VerificationKey};
use crate::sct::verify_embedded_scts;
use crate::tlog::{VerifiedEntry, verify_entry};
use crate::trust_root::TrustedRoot;
use crate::tsa::verify_timestamp;

/// The artifact the bundle is supposed to sign.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    Bytes(&'a [u8]),
    /// Only the digest is known (`sha256:<hex>` on the command line).
    Digest(HashAlgorithm, &'a [u8]),
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum SignerPolicy {
    /// A Fulcio certificate whose identity matches.
    Identity(IdentityPolicy),
    /// A known key (PEM, or a JWK from the Key Registry).
    Key(VerificationKey),
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub signer: SignerPolicy,
    /// Accept a key-signed bundle with no transparency log entry. Off by default; only for
    /// keys (a certificate without a log entry has no trustworthy signing time).
    pub allow_missing_tlog: bool,
    /// For DSSE bundles: the payload type that must be signed (None: any).
    pub payload_type: Option<String>,
}

impl Policy {
    pub fn identity(policy: IdentityPolicy) -> Self {
        Self {
            signer: SignerPolicy::Identity(policy),
            allow_missing_tlog: false,
            payload_type: None,
        }
    }

    pub fn key(key: VerificationKey) -> Self {
        Self {
            signer: SignerPolicy::Key(key),
            allow_missing_tlog: false,
            payload_type: None,
        }
    }

    pub fn allowing_missing_tlog(mut self) -> Self {
        self.allow_missing_tlog = true;
        self
    }

    pub fn with_payload_type(mut self, payload_type: impl Into<String>) -> Self {
        self.payload_type = Some(payload_type.into());
        self
    }
}

/// Who signed, as verified.
#[derive(Debug, Clone)]
pub enum VerifiedSigner {
    Certificate {
        certificate: X509,
        identity: Box<FulcioIdentity>,
    },
    Key(VerificationKey),
}

/// Only [`Verifier::verify`] makes one of these (`non_exhaustive`: no other crate can).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedBundle {
    pub signer: VerifiedSigner,
    /// Every verified signing time: SET integrated times and TSA genTimes.
    pub signing_times: Vec<i64>,
    pub log_entries: Vec<VerifiedEntry>,
    /// For DSSE bundles, the verified payload type and payload.
    pub dsse: Option<(String, Vec<u8>)>,
}

/// Verifies bundles against one trusted root.
#[derive(Debug, Clone)]
pub struct Verifier {
    root: TrustedRoot,
}

impl Verifier {
    pub fn new(root: TrustedRoot) -> Self {
        Self { root }
    }

    pub fn trusted_root(&self) -> &TrustedRoot {
        &self.root
    }

    /// Parses and verifies a bundle in one call.
    pub fn verify_json(
        &self,
        bundle_json: &str,
        artifact: Option<Artifact<'_>>,
        policy: &Policy,
    ) -> Result<VerifiedBundle> {
        self.verify(&Bundle::from_json(bundle_json)?, artifact, policy)
    }

    pub fn verify(
        &self,
        bundle: &Bundle,
        artifact: Option<Artifact<'_>>,
        policy: &Policy,
    ) -> Result<VerifiedBundle> {
        // 1. The signing key, and that its kind is the one the policy expects.
        let (key, leaf) = match (&bundle.material, &policy.signer) {
            (VerificationMaterial::PublicKey { .. }, SignerPolicy::Key(key)) => (key.clone(), None),
            (material, SignerPolicy::Identity(_)) if material.leaf().is_some() => {
                let leaf = material.leaf().cloned().ok_or(Error::MaterialMismatch)?;
                let pkey = leaf
                    .public_key()
                    .map_err(|e| Error::CertificateMalformed(e.to_string()))?;
                (VerificationKey::from_pkey(pkey)?, Some(leaf))
            }
            (material, SignerPolicy::Key(key)) if material.leaf().is_some() => {
                // A certificate whose key is the policy's key: cosign's `--key` with a cert.
                let leaf = material.leaf().cloned().ok_or(Error::MaterialMismatch)?;
                let pkey = leaf
                    .public_key()
                    .map_err(|e| Error::CertificateMalformed(e.to_string()))?;
                let cert_key = VerificationKey::from_pkey(pkey)?;
                if &cert_key != key {
                    return Err(Error::KeyMismatch);
                }
                (cert_key, None)
            }
            _ => return Err(Error::MaterialMismatch),
        };

        // 2. The signature over the content.
        let (signatures, dsse, artifact_digest) = verify_content(bundle, artifact, &key, policy)?;
        let signature_for_tsa: &[u8] = signatures.first().copied().unwrap_or_default();

        // 3. RFC 3161 timestamps over the signature.
        let mut signing_times = Vec::new();
        for token in &bundle.timestamps {
            signing_times.push(verify_timestamp(token, signature_for_tsa, &self.root)?);
        }
        let timestamp_count = signing_times.len();

        // 4. Transparency log entries.
        if bundle.tlog_entries.is_empty() {
            let key_policy = matches!(policy.signer, SignerPolicy::Key(_)) && leaf.is_none();
            if !(key_policy && policy.allow_missing_tlog) {
                return Err(Error::TransparencyLogRequired);
            }
        }
        let verifier_der = match &leaf {
            Some(cert) => cert
                .to_der()
                .map_err(|e| Error::CertificateMalformed(e.to_string()))?,
            None => match &bundle.material {
                VerificationMaterial::PublicKey { .. } => key.spki_der().to_vec(),
                _ => bundle
                    .material
                    .leaf()
                    .and_then(|c| c.to_der().ok())
                    .unwrap_or_default(),
            },
        };
        let expected = Expected {
            digest: artifact_digest,
            dsse_payload: dsse.as_ref().map(|(_, payload)| payload.as_slice()),
            signatures: signatures.clone(),
            verifier_der: &verifier_der,
        };
        let mut log_entries = Vec::new();
        for entry in &bundle.tlog_entries {
            body::check(
                &entry.canonicalized_body,
                &entry.kind,
                &entry.version,
                &expected,
            )?;
            let verified = verify_entry(&self.root, entry, &signing_times[..timestamp_count])?;
            if verified.rekor_v2 && timestamp_count == 0 {
                return Err(Error::RekorV2NeedsTimestamp);
            }
            if let Some(t) = verified.integrated_time {
                signing_times.push(t);
            }
            log_entries.push(verified);
        }

        // 5. Certificates: chain and validity at each verified time, SCTs, identity.
        let signer = match (leaf, &policy.signer) {
            (Some(leaf), SignerPolicy::Identity(identity_policy)) => {
                let issuer =
                    verify_fulcio_chain(&leaf, &self.root.certificate_authorities, &signing_times)?;
                verify_embedded_scts(&leaf, &issuer, &self.root)?;
                let identity = FulcioIdentity::from_certificate(&leaf)?;
                identity_policy.check(&identity)?;
                VerifiedSigner::Certificate {
                    certificate: leaf,
                    identity: Box::new(identity),
                }
            }
            _ => VerifiedSigner::Key(key),
        };
        Ok(VerifiedBundle {
            signer,
            signing_times,
            log_entries,
            dsse,
        })
    }
}

type ContentResult<'b> = (
    Vec<&'b [u8]>,
    Option<(String, Vec<u8>)>,
    Option<(HashAlgorithm, Vec<u8>)>,
);

/// Verifies the message signature or the DSSE envelope; returns the signatures, the DSSE
/// payload and the artifact digest the log body must name.
fn verify_content<'b>(
    bundle: &'b Bundle,
    artifact: Option<Artifact<'_>>,
    key: &VerificationKey,
    policy: &Policy,
) -> Result<ContentResult<'b>> {
    match &bundle.content {
        Content::MessageSignature { digest, signature } => {
            let alg = key.hash_algorithm();
            let (artifact_digest, ok) = match artifact {
                Some(Artifact::Bytes(bytes)) => (alg.digest(bytes), key.verify(bytes, signature)),
                Some(Artifact::Digest(given_alg, given)) => {
                    if given_alg != alg {
                        return Err(Error::ArtifactDigestMismatch);
                    }
                    let ok = key.verify_digest(alg, given, signature).ok_or_else(|| {
                        Error::UnsupportedKey("Ed25519 needs the artifact, not its digest".into())
                    })?;
                    (given.to_vec(), ok)
                }
                // Without the artifact only the bundle's digest can be used.
                None => {
                    let (d_alg, d) = digest.as_ref().ok_or(Error::ArtifactDigestMismatch)?;
                    let ok = key.verify_digest(*d_alg, d, signature).ok_or_else(|| {
                        Error::UnsupportedKey("Ed25519 needs the artifact".into())
                    })?;
                    (d.clone(), ok)
                }
            };
            if let Some((d_alg, d)) = digest
                && *d_alg == alg
                && *d != artifact_digest
            {
                return Err(Error::ArtifactDigestMismatch);
            }
            if !ok {
                return Err(Error::ArtifactSignature);
            }
            Ok((
                vec![signature.as_slice()],
                None,
                Some((alg, artifact_digest)),
            ))
        }
        Content::Dsse(envelope) => {
            if let Some(expected) = &policy.payload_type
                && &envelope.payload_type != expected
            {
                return Err(Error::DssePayloadType(envelope.payload_type.clone()));
            }
            let pae = envelope.pae();
            // Every signature must verify: the log body lists them all, and a bundle that
            // carries a bad signature next to a good one is malformed.
            if envelope
                .signatures
                .iter()
                .any(|s| !key.verify(&pae, &s.sig))
            {
                return Err(Error::DsseSignature);
            }
            if let Some(artifact) = artifact {
                check_in_toto_subject(&envelope.payload_type, &envelope.payload, artifact)?;
            }
            let sigs = envelope
                .signatures
                .iter()
                .map(|s| s.sig.as_slice())
                .collect();
            Ok((
                sigs,
                Some((envelope.payload_type.clone(), envelope.payload.clone())),
                None,
            ))
        }
    }
}

/// An in-toto statement must name the artifact among its subjects (by SHA-256).
fn check_in_toto_subject(payload_type: &str, payload: &[u8], artifact: Artifact<'_>) -> Result<()> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::DssePayloadDigestMismatch);
    }
    let digest = match artifact {
        Artifact::Bytes(bytes) => HashAlgorithm::Sha256.digest(bytes),
        Artifact::Digest(HashAlgorithm::Sha256, d) => d.to_vec(),
        Artifact::Digest(..) => return Err(Error::DssePayloadDigestMismatch),
    };
    let want = hex::encode(digest);
    let statement: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| Error::DsseMalformed(format!("in-toto statement: {e}")))?;
    let found = statement
        .get("subject")
        .and_then(|s| s.as_array())
        .is_some_and(|subjects| {
            subjects.iter().any(|s| {
                s.get("digest")
                    .and_then(|d| d.get("sha256"))
                    .and_then(|d| d.as_str())
                    .is_some_and(|d| d.eq_ignore_ascii_case(&want))
            })
        });
    if found {
        Ok(())
    } else {
        Err(Error::DssePayloadDigestMismatch)
    }
}
