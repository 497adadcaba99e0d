//! The crate's one error type.

use crate::snp::{PolicyRefusal, SnpError};

/// Why the Attestation Service refused evidence or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// SEV-SNP evidence is malformed or not authentic.
    #[error("SEV-SNP evidence refused: {0}")]
    Snp(#[from] SnpError),
    /// The evidence is authentic but the policy does not accept it.
    #[error("policy refused the evidence: {0}")]
    Policy(#[from] PolicyRefusal),
    /// A policy file could not be read or would accept nothing.
    #[error("invalid attestation policy: {0}")]
    InvalidPolicy(String),
}
