//! SEV-SNP evidence: parse the attestation report, verify it against AMD's certificate chain,
//! and judge the verified claims against a policy.
//!
//! Entry points: [`SnpVerifier::verify_evidence`] (report + VCEK + chain in, [`SnpClaims`] out)
//! and [`judge`] ([`SnpPolicy`] + claims + expected report_data in, accept or
//! [`PolicyRefusal`] out). [`simulated`] builds a test platform with AMD's algorithms.

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod certs;
mod error;
pub mod policy;
pub mod report;
pub mod simulated;
pub mod verify;

pub use certs::{CertChain, TrustAnchors, VcekExtensions};
pub use error::{CertRole, SnpError, TcbComponent};
pub use policy::{PolicyRefusal, SnpPolicy, expected_report_data, judge};
pub use report::{AttestationReport, GuestPolicy, TcbVersion};
pub use verify::{SnpClaims, SnpVerifier, VcekCache};

/// An AMD EPYC product line with SEV-SNP, each with its own ARK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Product {
    /// 3rd generation EPYC (family 19h, models 00h-0Fh).
    Milan,
    /// 4th generation EPYC, including Bergamo and Siena (family 19h, models 10h-1Fh, A0h-AFh).
    Genoa,
    /// 5th generation EPYC (family 1Ah, models 00h-11h).
    Turin,
}

impl Product {
    /// Every product line with a pinned root.
    pub const ALL: [Self; 3] = [Self::Milan, Self::Genoa, Self::Turin];

    /// The name the KDS and the VCEK productName use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// The product line of CPUID_FAM_ID and CPUID_MOD_ID (ABI Table 23 0x188, 0x189; the
    /// model ranges are those AMD's KDS serves, as used by virtee/sev and Trustee).
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Self::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Self::Genoa),
            (0x1A, 0x00..=0x11) => Some(Self::Turin),
            _ => None,
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests;
