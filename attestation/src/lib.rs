//! The IMMERSE Attestation Service.
//!
//! Evidence goes in, typed claims come out ([`evidence::EvidenceVerifier`], one implementation
//! per TEE), and a policy judges the claims ([`snp::judge`]). Architecture invariant: only a
//! verifier makes claims, and it makes them only from evidence whose signature chain ends in a
//! trust anchor the caller chose (by default the pinned AMD roots).
#![forbid(unsafe_code)]

mod error;
pub mod evidence;
pub mod http;
pub mod identity;
pub mod mint;
pub mod provider;
mod service;
pub mod snp;

pub use error::AttestationError;
pub use evidence::{Claims, Evidence, EvidenceVerifier, Tee, TeeClaims};
pub use service::{
    AttestError, AttestRequest, Attester, AttesterConfig, Challenge, Clock, EvidenceRequest,
    TeeMode,
};
