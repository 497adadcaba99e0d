//! Verify an image's Cosign signatures and SLSA provenance, from a registry or an OCI layout,
//! through both of cosign's storage schemes (legacy `.sig`/`.att` tags and Sigstore bundle
//! referrers). Every candidate is checked by `immerse-sigstore`; at least one must pass, and
//! when none does the error lists each candidate's own reason (fail closed).
//!
//! What counts as a signature of image `D`:
//! - a `.sig` layer (or a cosign signature referrer): the signature annotation verifies over
//!   the layer, a simple-signing payload whose `docker-manifest-digest` is exactly `D`;
//! - a bundle referrer with a DSSE envelope holding an in-toto statement with predicate
//!   `https://sigstore.dev/cosign/sign/v1` and subject `D` (what `cosign sign` 3.x writes);
//! - a bundle referrer with a message signature over the manifest itself (digest `D`).
//!
//! A key-signed candidate without a transparency-log entry passes only when the caller's
//! [`Policy`] allows it (`allow_missing_tlog`); the sigstore crate enforces that.

use immerse_oci::cosign::{
    self, ANNOTATION_BUNDLE_PREDICATE_TYPE, ANNOTATION_PREDICATE_TYPE, ANNOTATION_SIGNATURE,
    DSSE_MEDIA_TYPE, SIMPLE_SIGNING_MEDIA_TYPE, Scheme, SimpleSigning, StoredSignature,
};
use immerse_oci::{ArtifactSource, Digest as OciDigest};
use immerse_sigstore::dsse::Envelope;
use immerse_sigstore::{
    Artifact, Bundle, Content, HashAlgorithm, Policy, VerifiedBundle, VerifiedSigner, Verifier,
};
use serde::Deserialize;

use crate::chain_error::{RejectReason, Rejection, SupplyChainError};
use crate::legacy::bundle_from_layer;
use crate::statement::{
    IN_TOTO_PAYLOAD_TYPE, SLSA_PROVENANCE_V0_2, SLSA_PROVENANCE_V1, VerifiedStatement,
};
use crate::verify::{
    Digest, ProvenanceOptions, SignerIdentity, VerifiedProvenance, verify_provenance,
};

/// The predicate type of the statement `cosign sign` 3.x signs for an image
/// (sigstore/cosign `pkg/types` `CosignSignPredicateType`).
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

/// One signature of the image that verified.
#[derive(Debug, Clone)]
pub struct VerifiedImageSignature {
    pub scheme: Scheme,
    /// The manifest that held it (the `.sig` manifest or the referrer).
    pub manifest_digest: OciDigest,
    pub signer: VerifiedSigner,
    /// The simple-signing payload's `docker-reference`, for legacy signatures.
    pub docker_reference: Option<String>,
    /// Verified signing times (SET integrated times, TSA times).
    pub signing_times: Vec<i64>,
}

/// Provenance of the image that verified and satisfied the policy.
#[derive(Debug, Clone)]
pub struct VerifiedImageProvenance {
    pub scheme: Scheme,
    pub manifest_digest: OciDigest,
    pub signer: VerifiedSigner,
    pub provenance: VerifiedProvenance,
}

fn origin(stored: &StoredSignature) -> String {
    match &stored.scheme {
        Scheme::LegacyTag(tag) => format!("tag {tag} ({})", stored.manifest_digest),
        Scheme::Referrer => format!("referrer {}", stored.manifest_digest),
    }
}

fn reject(stored: &StoredSignature, reason: RejectReason) -> Rejection {
    Rejection {
        origin: origin(stored),
        reason,
    }
}

fn is_bundle(stored: &StoredSignature) -> bool {
    stored
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
}

/// Verifies the image's signatures; returns every one that verified (at least one).
pub async fn verify_image_signatures<S: ArtifactSource>(
    source: &S,
    image: &OciDigest,
    verifier: &Verifier,
    policy: &Policy,
) -> Result<Vec<VerifiedImageSignature>, SupplyChainError> {
    let mut candidates = cosign::read_signatures(source, image).await?;
    // cosign 3.x signs images as DSSE bundles, which the reader files under attestations.
    for bundle in cosign::read_bundles(source, image).await? {
        // Message-signature bundles were read already; a layer is the same when its manifest
        // and bytes are.
        if !candidates
            .iter()
            .any(|c| c.manifest_digest == bundle.manifest_digest && c.payload == bundle.payload)
        {
            candidates.push(bundle);
        }
    }
    let mut verified = Vec::new();
    let mut rejections = Vec::new();
    for stored in &candidates {
        let outcome = if is_bundle(stored) {
            let Some(outcome) = bundle_signature(stored, image, verifier, policy).transpose()
            else {
                continue;
            };
            outcome
        } else if stored.media_type == SIMPLE_SIGNING_MEDIA_TYPE {
            legacy_signature(stored, image, verifier, policy)
        } else {
            Err(RejectReason::Malformed(format!(
                "media type {:?} is not a signature",
                stored.media_type
            )))
        };
        match outcome {
            Ok(v) => verified.push(v),
            Err(reason) => rejections.push(reject(stored, reason)),
        }
    }
    if verified.is_empty() {
        return Err(SupplyChainError::NoValidSignature {
            image: image.to_string(),
            rejections,
        });
    }
    for r in &rejections {
        tracing::debug!(%image, rejection = %r, "signature not accepted");
    }
    Ok(verified)
}

fn sigstore(e: immerse_sigstore::Error) -> RejectReason {
    RejectReason::Sigstore(e)
}

fn legacy_signature(
    stored: &StoredSignature,
    image: &OciDigest,
    verifier: &Verifier,
    policy: &Policy,
) -> Result<VerifiedImageSignature, RejectReason> {
    let signature_b64 = stored
        .annotation(ANNOTATION_SIGNATURE)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| RejectReason::Malformed("no signature annotation".into()))?;
    let signature =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, signature_b64)
            .map_err(|_| RejectReason::Malformed("signature annotation is not base64".into()))?;
    let bundle = bundle_from_layer(
        stored,
        Content::MessageSignature {
            digest: None,
            signature,
        },
    )?;
    let verified = verifier
        .verify(&bundle, Some(Artifact::Bytes(&stored.payload)), policy)
        .map_err(sigstore)?;
    // Only now are the payload's bytes vouched for; they must name exactly this image.
    let payload = SimpleSigning::parse(&stored.payload)
        .map_err(|e| RejectReason::Malformed(e.to_string()))?;
    if payload.manifest_digest != *image {
        return Err(RejectReason::OtherImage {
            found: payload.manifest_digest.to_string(),
        });
    }
    Ok(VerifiedImageSignature {
        scheme: stored.scheme.clone(),
        manifest_digest: stored.manifest_digest,
        signer: verified.signer,
        docker_reference: Some(payload.docker_reference),
        signing_times: verified.signing_times,
    })
}

/// `Ok(None)`: an attestation of another kind, not a signature (skipped, not refused).
fn bundle_signature(
    stored: &StoredSignature,
    image: &OciDigest,
    verifier: &Verifier,
    policy: &Policy,
) -> Result<Option<VerifiedImageSignature>, RejectReason> {
    if stored
        .manifest_annotations
        .get(ANNOTATION_BUNDLE_PREDICATE_TYPE)
        .is_some_and(|p| p != COSIGN_SIGN_PREDICATE_TYPE)
    {
        return Ok(None);
    }
    let bundle = parse_bundle(&stored.payload)?;
    let digest = image.as_bytes();
    let verified = match &bundle.content {
        // A message signature over the manifest bytes, whose digest is the image digest.
        Content::MessageSignature { .. } => verifier.verify(
            &bundle,
            Some(Artifact::Digest(HashAlgorithm::Sha256, digest)),
            policy,
        ),
        // The sigstore crate checks that the statement's subjects include the image.
        Content::Dsse(_) => verifier.verify(
            &bundle,
            Some(Artifact::Digest(HashAlgorithm::Sha256, digest)),
            &policy.clone().with_payload_type(IN_TOTO_PAYLOAD_TYPE),
        ),
    }
    .map_err(sigstore)?;
    if let Some((_, payload)) = &verified.dsse {
        let predicate_type = statement_predicate_type(payload)?;
        if predicate_type != COSIGN_SIGN_PREDICATE_TYPE {
            return Err(RejectReason::NotASignature(predicate_type));
        }
    }
    Ok(Some(VerifiedImageSignature {
        scheme: stored.scheme.clone(),
        manifest_digest: stored.manifest_digest,
        signer: verified.signer,
        docker_reference: None,
        signing_times: verified.signing_times,
    }))
}

pub(crate) fn parse_bundle(bytes: &[u8]) -> Result<Bundle, RejectReason> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| RejectReason::Malformed("bundle is not UTF-8".into()))?;
    Bundle::from_json(text).map_err(sigstore)
}

fn statement_predicate_type(payload: &[u8]) -> Result<String, RejectReason> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "predicateType")]
        predicate_type: String,
    }
    serde_json::from_slice::<Head>(payload)
        .map(|h| h.predicate_type)
        .map_err(|e| RejectReason::Malformed(format!("in-toto statement: {e}")))
}

/// Verifies the image's attestations and judges their SLSA provenance; returns the first
/// that passes. `options.expected_digests` is replaced by the image digest: the image is the
/// subject the provenance must name.
pub async fn verify_image_provenance<S: ArtifactSource>(
    source: &S,
    image: &OciDigest,
    verifier: &Verifier,
    policy: &Policy,
    options: &ProvenanceOptions,
) -> Result<VerifiedImageProvenance, SupplyChainError> {
    let mut options = options.clone();
    options.expected_digests = vec![Digest::sha256(&image.hex())?];
    let policy = policy.clone().with_payload_type(IN_TOTO_PAYLOAD_TYPE);
    let mut rejections = Vec::new();
    for stored in cosign::read_attestations(source, image).await? {
        // Attestations that declare another predicate (SBOMs, cosign signatures) are not
        // provenance. The declaration is unsigned, so it may only narrow the candidates; what
        // is judged is always the verified statement itself.
        let declared = stored
            .manifest_annotations
            .get(ANNOTATION_BUNDLE_PREDICATE_TYPE)
            .or(stored.annotations.get(ANNOTATION_PREDICATE_TYPE));
        if declared.is_some_and(|p| p != SLSA_PROVENANCE_V1 && p != SLSA_PROVENANCE_V0_2) {
            continue;
        }
        let bundle = if is_bundle(&stored) {
            parse_bundle(&stored.payload)
        } else if stored.media_type == DSSE_MEDIA_TYPE {
            std::str::from_utf8(&stored.payload)
                .map_err(|_| RejectReason::Malformed("envelope is not UTF-8".into()))
                .and_then(|t| Envelope::from_json(t).map_err(sigstore))
                .and_then(|e| bundle_from_layer(&stored, Content::Dsse(e)))
        } else {
            Err(RejectReason::Malformed(format!(
                "media type {:?} is not an attestation",
                stored.media_type
            )))
        };
        let judged = bundle.and_then(|b| {
            let verified = verifier.verify(&b, None, &policy).map_err(sigstore)?;
            judge(&verified, &options).map(|p| (verified.signer, p))
        });
        match judged {
            Ok((signer, provenance)) => {
                return Ok(VerifiedImageProvenance {
                    scheme: stored.scheme.clone(),
                    manifest_digest: stored.manifest_digest,
                    signer,
                    provenance,
                });
            }
            Err(reason) => rejections.push(reject(&stored, reason)),
        }
    }
    Err(SupplyChainError::NoValidProvenance {
        subject: image.to_string(),
        rejections,
    })
}

/// Parses a verified DSSE payload as SLSA provenance and applies the policy, with the signer
/// taken from what the sigstore crate verified.
pub(crate) fn judge(
    verified: &VerifiedBundle,
    options: &ProvenanceOptions,
) -> Result<VerifiedProvenance, RejectReason> {
    let statement = statement_of(verified)?;
    judge_statement(&statement, &verified.signer, options)
}

pub(crate) fn statement_of(verified: &VerifiedBundle) -> Result<VerifiedStatement, RejectReason> {
    let (payload_type, payload) = verified
        .dsse
        .as_ref()
        .ok_or_else(|| RejectReason::Malformed("not a DSSE envelope".into()))?;
    VerifiedStatement::parse(payload_type, payload).map_err(RejectReason::Slsa)
}

pub(crate) fn judge_statement(
    statement: &VerifiedStatement,
    signer: &VerifiedSigner,
    options: &ProvenanceOptions,
) -> Result<VerifiedProvenance, RejectReason> {
    let identity = signer_identity(signer, statement, options)?;
    verify_provenance(statement, &identity, options).map_err(RejectReason::Slsa)
}

/// The signer as the provenance policy sees it.
///
/// A Fulcio certificate names the workflow that signed (Build Signer URI, URI SAN) and the
/// source it built (Source Repository URI/Ref/Digest); the policy cross-checks them with the
/// predicate. A key names no workflow: the key is trusted to sign for exactly the builder the
/// policy pins, so the predicate's builder stands for the signer and `builder_id` is required
/// (`verify_provenance` then checks the predicate's builder against it).
pub fn signer_identity(
    signer: &VerifiedSigner,
    statement: &VerifiedStatement,
    options: &ProvenanceOptions,
) -> Result<SignerIdentity, RejectReason> {
    match signer {
        VerifiedSigner::Certificate { identity, .. } => {
            let ext = &identity.extensions;
            Ok(SignerIdentity {
                build_signer_uri: ext.build_signer_uri.clone(),
                san: identity
                    .uris
                    .first()
                    .or(identity.emails.first())
                    .cloned()
                    .unwrap_or_default(),
                source_repository_uri: ext.source_repository_uri.clone(),
                source_repository_ref: ext.source_repository_ref.clone(),
                source_repository_digest: ext.source_repository_digest.clone(),
            })
        }
        VerifiedSigner::Key(_) => {
            if options.builder_id.is_none() {
                return Err(RejectReason::KeyNeedsBuilderId);
            }
            Ok(SignerIdentity {
                san: statement.predicate().builder_id().to_owned(),
                ..SignerIdentity::default()
            })
        }
    }
}
