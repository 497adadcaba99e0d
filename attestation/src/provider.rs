//! The wallet's side: where evidence comes from. A wallet in an SEV-SNP guest asks the firmware
//! through `/dev/sev-guest`; in development a simulated guest signs reports with a locally
//! generated AMD-like chain, which an attester trusts only when its configuration names that
//! test root.
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use immerse_sev_guest::SevGuestError;

use crate::snp::SnpError;
use crate::snp::simulated::{EndorsementSpec, ReportFields, SimulatedAmd, SimulatedVcek, Validity};
use crate::{EvidenceRequest, Tee};

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Device(#[from] SevGuestError),
    #[error("the VCEK file {path}: {source}")]
    Vcek {
        path: String,
        source: std::io::Error,
    },
    #[error("simulated SEV-SNP: {0}")]
    Simulated(#[from] SnpError),
}

/// A source of evidence that binds caller-chosen report data (for the Attestation Service:
/// SHA-512 of its challenge and the instance key's thumbprint).
pub trait EvidenceProvider: Send + Sync {
    fn tee(&self) -> Tee;

    /// Evidence carrying `report_data`, in the form `POST /v1/attest` takes.
    fn evidence(&self, report_data: &[u8; 64]) -> Result<EvidenceRequest, ProviderError>;
}

/// The Linux sev-guest driver of a real SEV-SNP guest.
#[derive(Debug, Clone)]
pub struct SevGuestDevice {
    pub device: PathBuf,
    /// The VMPL the report is requested at; the attester's policy decides which it accepts.
    pub vmpl: u32,
    /// The VCEK (DER) the host provisioned for this guest, when it did; otherwise the attester
    /// must already hold it.
    pub vcek: Option<PathBuf>,
}

impl Default for SevGuestDevice {
    fn default() -> Self {
        Self {
            device: PathBuf::from(immerse_sev_guest::DEVICE),
            vmpl: 0,
            vcek: None,
        }
    }
}

impl EvidenceProvider for SevGuestDevice {
    fn tee(&self) -> Tee {
        Tee::SevSnp
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<EvidenceRequest, ProviderError> {
        let report = immerse_sev_guest::get_report(&self.device, report_data, self.vmpl)?;
        let vcek = self
            .vcek
            .as_ref()
            .map(|path| {
                std::fs::read(path).map_err(|source| ProviderError::Vcek {
                    path: path.display().to_string(),
                    source,
                })
            })
            .transpose()?;
        Ok(EvidenceRequest::SevSnp {
            report: STANDARD.encode(report),
            vcek: vcek.map(|der| STANDARD.encode(der)),
        })
    }
}

/// A simulated SEV-SNP guest: reports from `template` with the caller's report data, signed by
/// a VCEK of a [`SimulatedAmd`] platform.
pub struct SimulatedSevGuest {
    vcek: Arc<SimulatedVcek>,
    template: ReportFields,
}

impl SimulatedSevGuest {
    /// Issues a VCEK for the template's REPORTED_TCB and CHIP_ID on `amd`'s platform.
    pub fn new(
        amd: &SimulatedAmd,
        template: ReportFields,
        validity: Validity,
    ) -> Result<Self, ProviderError> {
        let vcek = amd.issue_vcek(&EndorsementSpec {
            tcb: template.reported_tcb,
            hw_id: Some(template.chip_id),
            validity,
            curve: openssl::nid::Nid::SECP384R1,
        })?;
        Ok(Self::with_vcek(Arc::new(vcek), template))
    }

    /// Reports from `template` signed by an existing simulated VCEK.
    pub fn with_vcek(vcek: Arc<SimulatedVcek>, template: ReportFields) -> Self {
        Self { vcek, template }
    }

    /// The VCEK certificate (DER).
    pub fn vcek_der(&self) -> &[u8] {
        &self.vcek.der
    }
}

impl EvidenceProvider for SimulatedSevGuest {
    fn tee(&self) -> Tee {
        Tee::SevSnp
    }

    fn evidence(&self, report_data: &[u8; 64]) -> Result<EvidenceRequest, ProviderError> {
        let mut fields = self.template.clone();
        fields.report_data = *report_data;
        let report = self.vcek.sign_report(&fields)?;
        Ok(EvidenceRequest::SevSnp {
            report: STANDARD.encode(report),
            vcek: Some(STANDARD.encode(&self.vcek.der)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snp::{Product, SnpVerifier, TcbVersion};

    const NOW: i64 = 1_800_000_000;

    fn decode(evidence: &EvidenceRequest) -> (Vec<u8>, Vec<u8>) {
        let EvidenceRequest::SevSnp { report, vcek } = evidence;
        (
            STANDARD.decode(report).unwrap(),
            STANDARD.decode(vcek.as_deref().unwrap()).unwrap(),
        )
    }

    #[test]
    fn simulated_evidence_verifies_only_against_the_named_test_root() {
        let amd = SimulatedAmd::generate(Product::Milan, 2048).unwrap();
        let template = ReportFields::new(
            Product::Milan,
            TcbVersion::new(Product::Milan, 3, 0, 8, 115, 0),
        );
        let guest = SimulatedSevGuest::new(&amd, template, Validity::LONG).unwrap();
        let (report, vcek) = decode(&guest.evidence(&[0x42; 64]).unwrap());

        let claims = SnpVerifier::new(amd.trust_anchors())
            .verify_evidence(&report, Some(&vcek), &amd.chain(), NOW)
            .unwrap();
        assert_eq!(claims.report().report_data, [0x42; 64]);

        // The default verifier trusts AMD's pinned roots only.
        let refused =
            SnpVerifier::amd()
                .unwrap()
                .verify_evidence(&report, Some(&vcek), &amd.chain(), NOW);
        assert!(
            matches!(refused, Err(SnpError::ArkNotPinned)),
            "a simulated platform passed as AMD: {refused:?}"
        );
    }

    #[test]
    fn a_machine_without_the_sev_guest_device_says_so() {
        let device = SevGuestDevice {
            device: PathBuf::from("/nonexistent/sev-guest"),
            ..SevGuestDevice::default()
        };
        let err = device.evidence(&[0; 64]).unwrap_err();
        assert!(
            matches!(
                err,
                ProviderError::Device(SevGuestError::DeviceUnavailable { .. })
            ),
            "{err}"
        );
    }
}
