//! The SEV-SNP appraisal policy: which verified evidence the Attestation Service accepts.
//!
//! Verification ([`super::SnpVerifier`]) says the evidence is authentic; this says whether
//! what it reports is acceptable (Trustee's split). Loaded from the service's TOML or JSON.

use std::{collections::BTreeMap, path::Path};

use immerse_jose::PublicJwk;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha512};

use super::{Product, SnpClaims, TcbComponent, report::PARSED_VERSIONS};
use crate::AttestationError;

/// A fixed-size byte string written as hex in policy files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexBytes<const N: usize>(pub [u8; N]);

impl<const N: usize> Serialize for HexBytes<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}

impl<'de, const N: usize> Deserialize<'de> for HexBytes<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = hex::decode(text.trim()).map_err(serde::de::Error::custom)?;
        let array: [u8; N] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            serde::de::Error::custom(format!("expected {N} bytes of hex, got {}", bytes.len()))
        })?;
        Ok(Self(array))
    }
}

/// Minimum security patch levels (ABI s2.2 Table 3). Zero accepts anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MinimumTcb {
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
    /// Applies only where the TCB has an FMC component (Turin and later).
    pub fmc: u8,
}

fn default_versions() -> Vec<u32> {
    PARSED_VERSIONS.collect()
}

/// What verified SEV-SNP evidence must show. Defaults are the strict ones: debug and
/// migration agents refused, VMPL 0, every report version the parser knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpPolicy {
    #[serde(default = "default_versions")]
    pub accepted_report_versions: Vec<u32>,
    /// POLICY bit 19 (ABI s4.3): a debuggable guest's memory is readable by the host.
    #[serde(default)]
    pub allow_debug: bool,
    /// POLICY bit 18: a migration agent could move the guest's state elsewhere.
    #[serde(default)]
    pub allow_migrate_ma: bool,
    /// The VMPL the report must have been requested from (ABI Table 23 offset 0x30).
    #[serde(default)]
    pub vmpl: u32,
    /// Launch measurements (48-byte hex) of the images admitted to run.
    pub reference_measurements: Vec<HexBytes<48>>,
    /// HOST_DATA the hypervisor must have supplied at launch, if any.
    #[serde(default)]
    pub host_data: Option<HexBytes<32>>,
    /// Minimum REPORTED_TCB for every product line.
    #[serde(default)]
    pub minimum_tcb: MinimumTcb,
    /// Per-product minimums replacing `minimum_tcb` (SPL numbering differs between lines).
    #[serde(default)]
    pub minimum_tcb_by_product: BTreeMap<Product, MinimumTcb>,
}

/// Why a policy refused verified evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error("report_data is not bound to this challenge and instance key")]
    ReportDataMismatch,
    #[error("report version {version} is not accepted")]
    VersionNotAccepted { version: u32 },
    #[error("the guest policy allows debugging")]
    Debug,
    #[error("the guest policy allows a migration agent")]
    MigrateMa,
    #[error("report requested at VMPL {actual}, policy requires {expected}")]
    Vmpl { expected: u32, actual: u32 },
    #[error("measurement {measurement} is not a reference measurement")]
    MeasurementNotListed { measurement: String },
    #[error("HOST_DATA differs from the policy's")]
    HostDataMismatch,
    #[error("{component} SPL {actual} is below the minimum {minimum}")]
    TcbTooLow {
        component: TcbComponent,
        minimum: u8,
        actual: u8,
    },
}

impl SnpPolicy {
    /// Parses a TOML policy.
    pub fn from_toml(text: &str) -> Result<Self, AttestationError> {
        let policy: Self =
            toml::from_str(text).map_err(|err| AttestationError::InvalidPolicy(err.to_string()))?;
        policy.validated()
    }

    /// Parses a JSON policy.
    pub fn from_json(text: &str) -> Result<Self, AttestationError> {
        let policy: Self = serde_json::from_str(text)
            .map_err(|err| AttestationError::InvalidPolicy(err.to_string()))?;
        policy.validated()
    }

    /// Reads a policy file, TOML or JSON by extension.
    pub fn load(path: &Path) -> Result<Self, AttestationError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| AttestationError::InvalidPolicy(format!("{}: {err}", path.display())))?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json(&text),
            _ => Self::from_toml(&text),
        }
    }

    /// Refuses policies that could never accept anything, so a typo fails at start-up
    /// rather than at the first wallet.
    fn validated(self) -> Result<Self, AttestationError> {
        let invalid = |why: &str| Err(AttestationError::InvalidPolicy(why.to_owned()));
        if self.reference_measurements.is_empty() {
            return invalid("reference_measurements must list at least one measurement");
        }
        if self.accepted_report_versions.is_empty()
            || !self
                .accepted_report_versions
                .iter()
                .all(|v| PARSED_VERSIONS.contains(v))
        {
            return invalid("accepted_report_versions must be a non-empty subset of 2..=5");
        }
        if self.vmpl > 3 {
            return invalid("vmpl must be 0 to 3");
        }
        Ok(self)
    }

    fn minimum_for(&self, product: Product) -> MinimumTcb {
        self.minimum_tcb_by_product
            .get(&product)
            .copied()
            .unwrap_or(self.minimum_tcb)
    }
}

/// The report_data a wallet's report must carry (SYSTEM.md s6):
/// SHA-512(challenge UTF-8 bytes || 32-byte RFC 7638 SHA-256 thumbprint of the CI-Key).
pub fn expected_report_data(challenge: &str, instance_key: &PublicJwk) -> [u8; 64] {
    let mut hasher = Sha512::new();
    hasher.update(challenge.as_bytes());
    hasher.update(instance_key.thumbprint());
    hasher.finalize().into()
}

/// Judges verified claims. The first failed rule is the refusal.
pub fn judge(
    policy: &SnpPolicy,
    claims: &SnpClaims,
    expected_report_data: &[u8; 64],
) -> Result<(), PolicyRefusal> {
    let report = claims.report();
    // Freshness and key binding first; constant time, as the expected value is a secret-ish
    // function of the challenge.
    if !openssl::memcmp::eq(&report.report_data, expected_report_data) {
        return Err(PolicyRefusal::ReportDataMismatch);
    }
    if !policy.accepted_report_versions.contains(&report.version) {
        return Err(PolicyRefusal::VersionNotAccepted {
            version: report.version,
        });
    }
    if report.policy.debug_allowed && !policy.allow_debug {
        return Err(PolicyRefusal::Debug);
    }
    if report.policy.migrate_ma_allowed && !policy.allow_migrate_ma {
        return Err(PolicyRefusal::MigrateMa);
    }
    if report.vmpl != policy.vmpl {
        return Err(PolicyRefusal::Vmpl {
            expected: policy.vmpl,
            actual: report.vmpl,
        });
    }
    if !policy
        .reference_measurements
        .iter()
        .any(|m| m.0 == report.measurement)
    {
        return Err(PolicyRefusal::MeasurementNotListed {
            measurement: hex::encode(report.measurement),
        });
    }
    if let Some(host_data) = &policy.host_data
        && host_data.0 != report.host_data
    {
        return Err(PolicyRefusal::HostDataMismatch);
    }
    // REPORTED_TCB: the TCB the VCEK certifies, never above the installed one.
    let minimum = policy.minimum_for(claims.product());
    let tcb = &report.reported_tcb;
    for (component, minimum, actual) in [
        (
            TcbComponent::Bootloader,
            minimum.bootloader,
            Some(tcb.bootloader),
        ),
        (TcbComponent::Tee, minimum.tee, Some(tcb.tee)),
        (TcbComponent::Snp, minimum.snp, Some(tcb.snp)),
        (
            TcbComponent::Microcode,
            minimum.microcode,
            Some(tcb.microcode),
        ),
        (TcbComponent::Fmc, minimum.fmc, tcb.fmc),
    ] {
        if let Some(actual) = actual
            && actual < minimum
        {
            return Err(PolicyRefusal::TcbTooLow {
                component,
                minimum,
                actual,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEASUREMENT: &str = "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn toml_policy_defaults_are_strict() {
        let policy =
            SnpPolicy::from_toml(&format!("reference_measurements = [\"{MEASUREMENT}\"]")).unwrap();
        assert!(!policy.allow_debug && !policy.allow_migrate_ma);
        assert_eq!(policy.vmpl, 0);
        assert_eq!(policy.accepted_report_versions, vec![2, 3, 4, 5]);
        assert_eq!(policy.minimum_tcb, MinimumTcb::default());
        assert_eq!(policy.reference_measurements[0].0, [0x11; 48]);
    }

    #[test]
    fn full_toml_and_json_policies_parse() {
        let toml = format!(
            r#"
            accepted_report_versions = [3, 5]
            vmpl = 1
            reference_measurements = ["{MEASUREMENT}"]
            host_data = "{}"
            [minimum_tcb]
            snp = 8
            [minimum_tcb_by_product.Turin]
            fmc = 1
            "#,
            "00".repeat(32)
        );
        let policy = SnpPolicy::from_toml(&toml).unwrap();
        assert_eq!(policy.minimum_tcb.snp, 8);
        assert_eq!(policy.minimum_for(Product::Turin).fmc, 1);
        assert_eq!(policy.minimum_for(Product::Milan).snp, 8);
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(SnpPolicy::from_json(&json).unwrap(), policy);
    }

    #[test]
    fn unusable_policies_are_refused_at_load() {
        for bad in [
            "reference_measurements = []".to_owned(),
            "reference_measurements = [\"abcd\"]".to_owned(),
            format!("reference_measurements = [\"{MEASUREMENT}\"]\nvmpl = 4"),
            format!("reference_measurements = [\"{MEASUREMENT}\"]\naccepted_report_versions = [1]"),
            format!("reference_measurements = [\"{MEASUREMENT}\"]\nallow_debugging = true"),
        ] {
            assert!(
                matches!(
                    SnpPolicy::from_toml(&bad),
                    Err(AttestationError::InvalidPolicy(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn report_data_binds_challenge_and_thumbprint() {
        let jwk = PublicJwk::from_json(
            r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        )
        .unwrap();
        let mut hasher = Sha512::new();
        hasher.update(b"challenge-1");
        hasher.update(jwk.thumbprint());
        let expected: [u8; 64] = hasher.finalize().into();
        assert_eq!(expected_report_data("challenge-1", &jwk), expected);
        assert_ne!(expected_report_data("challenge-2", &jwk), expected);
    }
}
