//! One trait per kind of evidence, in the spirit of Trustee's verifiers: evidence and the
//! expected report data go in, typed claims come out, and a separate policy step decides.
//! A second TEE (TDX) would be a second [`EvidenceVerifier`] and a second [`Evidence`] variant.

use serde::Serialize;

use crate::{
    AttestationError,
    snp::{CertChain, PolicyRefusal, Product, SnpClaims, SnpVerifier},
};

/// A trusted execution environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tee {
    /// AMD SEV-SNP.
    SevSnp,
}

/// SEV-SNP evidence as the wallet and its host supply it.
#[derive(Debug, Clone)]
pub struct SnpEvidence {
    /// The 1184-byte attestation report.
    pub report: Vec<u8>,
    /// The VCEK or VLEK certificate (DER); `None` to rely on the verifier's cache.
    pub vcek: Option<Vec<u8>>,
    /// ASK/ASVK and optionally ARK from the host's certificate table.
    pub chain: CertChain,
    /// The product line, when known; needed only for version 2 reports.
    pub product: Option<Product>,
}

/// Evidence of some TEE.
#[derive(Debug, Clone)]
pub enum Evidence {
    SevSnp(SnpEvidence),
}

/// Security patch levels of the TCB the endorsement key certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TcbClaims {
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
}

/// The TEE-specific verified claims, for the policy step.
#[derive(Debug, Clone)]
pub enum TeeClaims {
    SevSnp(SnpClaims),
}

/// Claims from verified evidence; the serialisable part goes into the attestation JWT.
#[derive(Debug, Clone, Serialize)]
pub struct Claims {
    pub tee: Tee,
    /// Product line, e.g. "Genoa".
    pub platform: String,
    /// Launch measurement, lowercase hex.
    pub measurement: String,
    pub report_version: u32,
    pub vmpl: u32,
    /// Guest policy DEBUG bit.
    pub debug: bool,
    /// Guest policy MIGRATE_MA bit.
    pub migrate_ma: bool,
    /// REPORTED_TCB.
    pub tcb: TcbClaims,
    /// HOST_DATA, lowercase hex.
    pub host_data: String,
    /// CHIP_ID, lowercase hex (all zeros when the platform masks it).
    pub chip_id: String,
    /// REPORT_DATA, lowercase hex.
    pub report_data: String,
    /// Everything the verifier knows, for the policy step.
    #[serde(skip)]
    pub detail: TeeClaims,
}

impl From<&SnpClaims> for Claims {
    fn from(claims: &SnpClaims) -> Self {
        let report = claims.report();
        let tcb = report.reported_tcb;
        Self {
            tee: Tee::SevSnp,
            platform: claims.product().name().to_owned(),
            measurement: hex::encode(report.measurement),
            report_version: report.version,
            vmpl: report.vmpl,
            debug: report.policy.debug_allowed,
            migrate_ma: report.policy.migrate_ma_allowed,
            tcb: TcbClaims {
                bootloader: tcb.bootloader,
                tee: tcb.tee,
                snp: tcb.snp,
                microcode: tcb.microcode,
                fmc: tcb.fmc,
            },
            host_data: hex::encode(report.host_data),
            chip_id: hex::encode(report.chip_id),
            report_data: hex::encode(report.report_data),
            detail: TeeClaims::SevSnp(claims.clone()),
        }
    }
}

/// A verifier for one kind of evidence.
pub trait EvidenceVerifier {
    /// The TEE this verifier understands.
    fn tee(&self) -> Tee;

    /// Verifies `evidence` at `at` (seconds since the epoch) and checks that its report data
    /// is `expected_report_data`. Policy is a separate step.
    fn verify(
        &self,
        evidence: &Evidence,
        expected_report_data: &[u8; 64],
        at: i64,
    ) -> Result<Claims, AttestationError>;
}

impl EvidenceVerifier for SnpVerifier {
    fn tee(&self) -> Tee {
        Tee::SevSnp
    }

    fn verify(
        &self,
        evidence: &Evidence,
        expected_report_data: &[u8; 64],
        at: i64,
    ) -> Result<Claims, AttestationError> {
        let Evidence::SevSnp(evidence) = evidence;
        let claims = self.verify_evidence_for(
            &evidence.report,
            evidence.vcek.as_deref(),
            &evidence.chain,
            evidence.product,
            at,
        )?;
        if !openssl::memcmp::eq(&claims.report().report_data, expected_report_data) {
            return Err(PolicyRefusal::ReportDataMismatch.into());
        }
        Ok(Claims::from(&claims))
    }
}
