//! Errors of the supply-chain layer (registry or layout I/O, Sigstore verification, signing).
//!
//! [`SlsaError`] stays the pure policy layer's error (`Clone + Eq`, so its tests compare it);
//! this type wraps it together with what only I/O and cryptography can fail with. When no
//! signature or attestation verifies, every candidate's own reason is kept, so a test (or an
//! operator) can see exactly why each one was refused.

use std::fmt;

use crate::error::SlsaError;

/// Why one stored signature or attestation was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The Sigstore check refused it (signature, log entry, certificate, identity, key...).
    #[error("{0}")]
    Sigstore(immerse_sigstore::Error),
    /// The stored material is not in cosign's format (annotation, payload, envelope).
    #[error("malformed: {0}")]
    Malformed(String),
    /// A verified simple-signing payload or statement signs another image.
    #[error("signs {found}, not this image")]
    OtherImage { found: String },
    /// A verified DSSE bundle attached as a signature carries another predicate type.
    #[error("predicate type {0:?} is not cosign's signature predicate")]
    NotASignature(String),
    /// The verified provenance does not satisfy the policy.
    #[error("{0}")]
    Slsa(SlsaError),
    /// A key-signed provenance carries no workflow identity; the policy must name the builder
    /// the key is trusted to sign for.
    #[error("provenance signed by a key needs a trusted builder id (--builder-id)")]
    KeyNeedsBuilderId,
}

/// One refused candidate: where it came from and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// For example `.sig layer 0 of sha256:...` or `referrer sha256:...`.
    pub origin: String,
    pub reason: RejectReason,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.reason)
    }
}

/// Renders rejections as `; `-separated text, or says there was nothing to check.
pub(crate) struct Rejections<'a>(pub &'a [Rejection]);

impl fmt::Display for Rejections<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none is stored");
        }
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SupplyChainError {
    /// Reading from or writing to the registry or layout failed.
    #[error(transparent)]
    Oci(#[from] immerse_oci::OciError),
    /// No stored signature of the image verified (fail closed).
    #[error("no valid signature for {image}: {}", Rejections(.rejections))]
    NoValidSignature {
        image: String,
        rejections: Vec<Rejection>,
    },
    /// No stored provenance verified and satisfied the policy (fail closed).
    #[error("no acceptable provenance for {subject}: {}", Rejections(.rejections))]
    NoValidProvenance {
        subject: String,
        rejections: Vec<Rejection>,
    },
    /// A provenance file is none of: DSSE envelope, Sigstore bundle, `.intoto.jsonl`.
    #[error("provenance file: {0}")]
    ProvenanceFormat(String),
    /// Signing (key or encoding) failed.
    #[error("signing failed: {0}")]
    Signing(immerse_sigstore::Error),
    /// Our own input to the signer was refused (statement, predicate).
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Slsa(#[from] SlsaError),
}

impl SupplyChainError {
    /// The rejections behind a fail-closed refusal (empty for other errors).
    pub fn rejections(&self) -> &[Rejection] {
        match self {
            Self::NoValidSignature { rejections, .. }
            | Self::NoValidProvenance { rejections, .. } => rejections,
            _ => &[],
        }
    }
}
