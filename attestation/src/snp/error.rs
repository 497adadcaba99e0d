//! Why SEV-SNP evidence was refused, precisely enough to assert on.

use std::fmt;

use super::Product;

/// A certificate's place in the AMD chain (VCEK spec #57230 s2: ARK -> ASK -> VCEK,
/// ARK -> ASVK -> VLEK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// AMD Root Key, self-signed, one per product line.
    Ark,
    /// AMD SEV Key, signs VCEKs.
    Ask,
    /// AMD SEV VLEK Key, signs VLEKs.
    Asvk,
    /// Versioned Chip Endorsement Key certificate.
    Vcek,
    /// Versioned Loaded Endorsement Key certificate.
    Vlek,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ark => "ARK",
            Self::Ask => "ASK",
            Self::Asvk => "ASVK",
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
        })
    }
}

/// One security patch level of a TCB_VERSION (SEV-SNP ABI #56860 s2.2 Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcbComponent {
    /// PSP boot loader SPL (`blSPL`).
    Bootloader,
    /// PSP operating system SPL (`teeSPL`).
    Tee,
    /// SNP firmware SPL (`snpSPL`).
    Snp,
    /// Lowest microcode patch level of all cores (`ucodeSPL`).
    Microcode,
    /// Turin and later: firmware microcontroller SPL (`fmcSPL`).
    Fmc,
}

impl fmt::Display for TcbComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bootloader => "boot loader",
            Self::Tee => "TEE",
            Self::Snp => "SNP",
            Self::Microcode => "microcode",
            Self::Fmc => "FMC",
        })
    }
}

/// Every way SEV-SNP evidence can fail verification. Policy refusals are separate
/// ([`crate::snp::PolicyRefusal`]): these say the evidence is not authentic or not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnpError {
    /// An attestation report is exactly 1184 (0x4A0) bytes (ABI Table 23).
    #[error("attestation report is {len} bytes, expected 1184")]
    BadLength { len: usize },
    /// Only report versions 2 to 5 have a layout this parser knows.
    #[error("attestation report version {0} is not supported")]
    UnsupportedVersion(u32),
    /// SIGNATURE_ALGO must be 1, ECDSA P-384 with SHA-384 (ABI Table 23 offset 0x34).
    #[error("signature algorithm {0} is not ECDSA P-384 with SHA-384")]
    UnsupportedSignatureAlgorithm(u32),
    /// MASK_CHIP_KEY = 1 or SIGNING_KEY = 7: the firmware wrote zeros instead of signing.
    #[error("the report is not signed (MASK_CHIP_KEY set or SIGNING_KEY = none)")]
    ReportNotSigned,
    /// SIGNING_KEY holds a reserved value (ABI Table 23 offset 0x48, bits 4:2).
    #[error("SIGNING_KEY {0} is reserved")]
    UnsupportedSigningKey(u8),
    /// CPUID family/model name no product line with a pinned root.
    #[error("CPUID family {family:#04x} model {model:#04x} is not a known SEV-SNP product")]
    UnknownProduct { family: u8, model: u8 },
    /// The product named by the caller or the VCEK disagrees with the report.
    #[error("product mismatch: expected {expected}, found {found}")]
    ProductMismatch { expected: Product, found: String },
    /// The chain's ARK is not one of the trust anchors (for this product).
    #[error("the ARK is not a pinned AMD root for this product")]
    ArkNotPinned,
    /// A certificate the chain needs was not supplied.
    #[error("the certificate chain has no {0}")]
    MissingCertificate(CertRole),
    /// A certificate could not be parsed.
    #[error("{which} certificate is malformed: {reason}")]
    CertificateParse { which: CertRole, reason: String },
    /// A certificate's signature does not verify under its issuer's key.
    #[error("{which} certificate signature does not verify")]
    ChainSignature { which: CertRole },
    /// AMD signs ARK, ASK/ASVK and VCEK/VLEK with RSASSA-PSS (VCEK spec #57230 s2).
    #[error("{which} certificate is not signed with RSASSA-PSS")]
    UnexpectedSignatureAlgorithm { which: CertRole },
    /// The verification time is after a certificate's notAfter.
    #[error("{which} certificate has expired")]
    CertificateExpired { which: CertRole },
    /// The verification time is before a certificate's notBefore.
    #[error("{which} certificate is not yet valid")]
    CertificateNotYetValid { which: CertRole },
    /// The VCEK/VLEK public key must be ECDSA on P-384 (VCEK spec #57230 s3).
    #[error("the endorsement key is not an EC P-384 key")]
    VcekKeyNotP384,
    /// A VCEK/VLEK extension the check needs is absent.
    #[error("the endorsement certificate has no {name} extension")]
    ExtensionMissing { name: &'static str },
    /// A VCEK/VLEK extension is present but not in the form the KDS spec gives.
    #[error("the endorsement certificate's {name} extension is malformed")]
    ExtensionMalformed { name: &'static str },
    /// The certificate carries a critical extension the verifier does not understand
    /// (RFC 5280 s4.2).
    #[error("the endorsement certificate has an unrecognised critical extension")]
    UnsupportedCriticalExtension,
    /// A TCB SPL in the VCEK differs from the report's REPORTED_TCB.
    #[error("{component} SPL mismatch: report {report}, certificate {certificate}")]
    TcbMismatch {
        component: TcbComponent,
        report: u8,
        certificate: u8,
    },
    /// The VCEK's hwID is not the report's CHIP_ID.
    #[error("the VCEK hwID does not match the report's CHIP_ID")]
    ChipIdMismatch,
    /// No VCEK was supplied and none is cached for this chip and TCB.
    #[error("no VCEK supplied and none cached for this chip and reported TCB")]
    VcekNotAvailable,
    /// The report signature does not verify under the VCEK/VLEK key.
    #[error("the report signature does not verify")]
    ReportSignature,
    /// OpenSSL failed in a way that says nothing about the evidence (allocation and such).
    #[error("crypto backend failure: {0}")]
    Crypto(String),
}

impl From<openssl::error::ErrorStack> for SnpError {
    fn from(err: openssl::error::ErrorStack) -> Self {
        Self::Crypto(err.to_string())
    }
}
