//! The SEV-SNP ATTESTATION_REPORT, parsed into typed fields.
//!
//! Layout: SEV Secure Nested Paging Firmware ABI Specification (AMD #56860), s7.3 Table 23
//! "ATTESTATION_REPORT Structure" (table numbers are those of revision 1.57; earlier revisions
//! number them lower); TCB_VERSION s2.2 Table 3; guest policy s4.3. Every offset below is the
//! one the table gives. The parser never panics: it checks the length once and
//! then reads fixed offsets from a fixed-size array.

use super::{Product, SnpError};

/// Size of an attestation report (Table 23: 0x000-0x49F).
pub const REPORT_LEN: usize = 0x4A0;
/// Bytes covered by the signature (Table 23: SIGNATURE is "over bytes 0h to 29Fh").
pub const SIGNED_LEN: usize = 0x2A0;
/// Report versions whose layout this parser knows. Policy decides which are acceptable.
pub const PARSED_VERSIONS: std::ops::RangeInclusive<u32> = 2..=5;

// Table 23 offsets.
pub(crate) const OFF_VERSION: usize = 0x00;
pub(crate) const OFF_GUEST_SVN: usize = 0x04;
pub(crate) const OFF_POLICY: usize = 0x08;
pub(crate) const OFF_FAMILY_ID: usize = 0x10;
pub(crate) const OFF_IMAGE_ID: usize = 0x20;
pub(crate) const OFF_VMPL: usize = 0x30;
pub(crate) const OFF_SIGNATURE_ALGO: usize = 0x34;
pub(crate) const OFF_CURRENT_TCB: usize = 0x38;
pub(crate) const OFF_PLATFORM_INFO: usize = 0x40;
pub(crate) const OFF_KEY_INFO: usize = 0x48;
pub(crate) const OFF_REPORT_DATA: usize = 0x50;
pub(crate) const OFF_MEASUREMENT: usize = 0x90;
pub(crate) const OFF_HOST_DATA: usize = 0xC0;
pub(crate) const OFF_ID_KEY_DIGEST: usize = 0xE0;
pub(crate) const OFF_AUTHOR_KEY_DIGEST: usize = 0x110;
pub(crate) const OFF_REPORT_ID: usize = 0x140;
pub(crate) const OFF_REPORT_ID_MA: usize = 0x160;
pub(crate) const OFF_REPORTED_TCB: usize = 0x180;
pub(crate) const OFF_CPUID_FAM_ID: usize = 0x188;
pub(crate) const OFF_CPUID_MOD_ID: usize = 0x189;
pub(crate) const OFF_CPUID_STEP: usize = 0x18A;
pub(crate) const OFF_CHIP_ID: usize = 0x1A0;
pub(crate) const OFF_COMMITTED_TCB: usize = 0x1E0;
pub(crate) const OFF_CURRENT_VERSION: usize = 0x1E8;
pub(crate) const OFF_COMMITTED_VERSION: usize = 0x1EC;
pub(crate) const OFF_LAUNCH_TCB: usize = 0x1F0;
pub(crate) const OFF_LAUNCH_MIT_VECTOR: usize = 0x1F8;
pub(crate) const OFF_CURRENT_MIT_VECTOR: usize = 0x200;
pub(crate) const OFF_SIGNATURE_R: usize = 0x2A0;
pub(crate) const OFF_SIGNATURE_S: usize = 0x2E8;
/// ECDSA signature format (ABI appendix "Digital Signatures"): R and S are 72-byte
/// little-endian integers, zero-extended from 48 bytes for P-384.
pub(crate) const SIG_COMPONENT_LEN: usize = 72;

/// Guest policy (ABI s4.3), decoded from the 64-bit POLICY field at 0x08.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestPolicy {
    /// The raw 64-bit value.
    pub raw: u64,
    /// Bits 7:0, minimum ABI minor version.
    pub abi_minor: u8,
    /// Bits 15:8, minimum ABI major version.
    pub abi_major: u8,
    /// Bit 16 SMT: host SMT may be enabled.
    pub smt_allowed: bool,
    /// Bit 18 MIGRATE_MA: the guest may be associated with a migration agent.
    pub migrate_ma_allowed: bool,
    /// Bit 19 DEBUG: the hypervisor may debug (decrypt) the guest.
    pub debug_allowed: bool,
    /// Bit 20 SINGLE_SOCKET: the guest may only be activated on one socket.
    pub single_socket_required: bool,
}

impl GuestPolicy {
    /// Decodes the POLICY bit field.
    pub fn from_raw(raw: u64) -> Self {
        let bit = |n: u32| raw & (1u64 << n) != 0;
        Self {
            raw,
            abi_minor: (raw & 0xFF) as u8,
            abi_major: ((raw >> 8) & 0xFF) as u8,
            smt_allowed: bit(16),
            migrate_ma_allowed: bit(18),
            debug_allowed: bit(19),
            single_socket_required: bit(20),
        }
    }
}

/// A TCB_VERSION: the security patch levels of the firmware components.
///
/// The byte layout depends on the product (ABI s2.2 Table 3): Milan and Genoa put the boot
/// loader in byte 0, TEE in byte 1, SNP in byte 6 and microcode in byte 7; Turin puts FMC in
/// byte 0, boot loader in 1, TEE in 2, SNP in 3 and microcode in 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcbVersion {
    /// Turin and later only.
    pub fmc: Option<u8>,
    pub bootloader: u8,
    pub tee: u8,
    pub snp: u8,
    pub microcode: u8,
    /// The eight bytes as they stand in the report.
    pub raw: [u8; 8],
}

impl TcbVersion {
    /// Decodes eight TCB bytes with the layout of `product`. Without a product (a version 2
    /// report not yet matched to a root) the Milan/Genoa layout is assumed.
    pub fn decode(raw: [u8; 8], product: Option<Product>) -> Self {
        match product {
            Some(Product::Turin) => Self {
                fmc: Some(raw[0]),
                bootloader: raw[1],
                tee: raw[2],
                snp: raw[3],
                microcode: raw[7],
                raw,
            },
            _ => Self {
                fmc: None,
                bootloader: raw[0],
                tee: raw[1],
                snp: raw[6],
                microcode: raw[7],
                raw,
            },
        }
    }

    /// Builds the TCB of `product` from its components (reserved bytes zero); `fmc` is used
    /// only for Turin.
    pub fn new(product: Product, fmc: u8, bootloader: u8, tee: u8, snp: u8, microcode: u8) -> Self {
        let raw = match product {
            Product::Turin => [fmc, bootloader, tee, snp, 0, 0, 0, microcode],
            Product::Milan | Product::Genoa => [bootloader, tee, 0, 0, 0, 0, snp, microcode],
        };
        Self::decode(raw, Some(product))
    }

    /// The SPL of one component; `None` for FMC before Turin.
    pub fn component(&self, component: super::TcbComponent) -> Option<u8> {
        use super::TcbComponent as C;
        match component {
            C::Bootloader => Some(self.bootloader),
            C::Tee => Some(self.tee),
            C::Snp => Some(self.snp),
            C::Microcode => Some(self.microcode),
            C::Fmc => self.fmc,
        }
    }
}

/// SIGNATURE_ALGO (Table 23 offset 0x34).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// 1: ECDSA P-384 with SHA-384, the only algorithm the ABI defines.
    EcdsaP384Sha384,
    /// Anything else; the verifier refuses it.
    Other(u32),
}

/// SIGNING_KEY (Table 23 offset 0x48 bits 4:2): which key signed the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKey {
    /// 0: the Versioned Chip Endorsement Key.
    Vcek,
    /// 1: the Versioned Loaded Endorsement Key.
    Vlek,
    /// 7: no key; the report is not signed.
    None,
    /// 2-6: reserved.
    Reserved(u8),
}

/// The 32-bit field at 0x48: AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    pub raw: u32,
    /// Bit 0: AUTHOR_KEY_DIGEST holds the digest of an author key.
    pub author_key_en: bool,
    /// Bit 1: the value of MaskChipKey; when set the firmware writes zeros into SIGNATURE
    /// instead of signing.
    pub mask_chip_key: bool,
    /// Bits 4:2.
    pub signing_key: SigningKey,
}

impl KeyInfo {
    fn from_raw(raw: u32) -> Self {
        let signing_key = match ((raw >> 2) & 0b111) as u8 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => SigningKey::None,
            other => SigningKey::Reserved(other),
        };
        Self {
            raw,
            author_key_en: raw & 1 != 0,
            mask_chip_key: raw & 0b10 != 0,
            signing_key,
        }
    }
}

/// PLATFORM_INFO (Table 23 offset 0x40).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformInfo {
    pub raw: u64,
    /// Bit 0: SMT is enabled on the host.
    pub smt_enabled: bool,
    /// Bit 1: TSME is enabled.
    pub tsme_enabled: bool,
}

/// CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (Table 23 0x188-0x18A, report version 3 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpuid {
    /// Combined extended family and family.
    pub family: u8,
    /// Combined extended model and model.
    pub model: u8,
    pub stepping: u8,
}

/// A firmware version, major.minor.build (CURRENT_* and COMMITTED_* at 0x1E8 and 0x1EC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FirmwareVersion {
    pub major: u8,
    pub minor: u8,
    pub build: u8,
}

/// The report signature with R and S converted to big-endian (72 bytes each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSignature {
    pub r: [u8; SIG_COMPONENT_LEN],
    pub s: [u8; SIG_COMPONENT_LEN],
}

/// A parsed, not yet verified, attestation report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationReport {
    bytes: Box<[u8; REPORT_LEN]>,
    /// Product line from CPUID (version 3+) or assigned with [`Self::with_product`].
    pub product: Option<Product>,
    pub version: u32,
    pub guest_svn: u32,
    pub policy: GuestPolicy,
    pub family_id: [u8; 16],
    pub image_id: [u8; 16],
    pub vmpl: u32,
    pub signature_algo: SignatureAlgorithm,
    pub current_tcb: TcbVersion,
    pub platform_info: PlatformInfo,
    pub key_info: KeyInfo,
    pub report_data: [u8; 64],
    pub measurement: [u8; 48],
    pub host_data: [u8; 32],
    pub id_key_digest: [u8; 48],
    pub author_key_digest: [u8; 48],
    pub report_id: [u8; 32],
    pub report_id_ma: [u8; 32],
    /// The TCB the VCEK that signed this report was derived from.
    pub reported_tcb: TcbVersion,
    /// Version 3 and later.
    pub cpuid: Option<Cpuid>,
    /// All zeros when the platform sets MaskChipId.
    pub chip_id: [u8; 64],
    pub committed_tcb: TcbVersion,
    pub current_version: FirmwareVersion,
    pub committed_version: FirmwareVersion,
    pub launch_tcb: TcbVersion,
    /// Version 5 and later.
    pub launch_mit_vector: Option<u64>,
    /// Version 5 and later.
    pub current_mit_vector: Option<u64>,
    pub signature: ReportSignature,
}

fn array<const N: usize>(bytes: &[u8; REPORT_LEN], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    // Offsets are the constants above, all inside REPORT_LEN (tested), never input.
    out.copy_from_slice(&bytes[offset..offset + N]);
    out
}

fn u32_at(bytes: &[u8; REPORT_LEN], offset: usize) -> u32 {
    u32::from_le_bytes(array(bytes, offset))
}

fn u64_at(bytes: &[u8; REPORT_LEN], offset: usize) -> u64 {
    u64::from_le_bytes(array(bytes, offset))
}

fn version_at(bytes: &[u8; REPORT_LEN], offset: usize) -> FirmwareVersion {
    // Table 23: byte 0 build, byte 1 minor, byte 2 major, byte 3 reserved.
    let [build, minor, major, _] = array(bytes, offset);
    FirmwareVersion {
        major,
        minor,
        build,
    }
}

fn signature_component(bytes: &[u8; REPORT_LEN], offset: usize) -> [u8; SIG_COMPONENT_LEN] {
    let mut component: [u8; SIG_COMPONENT_LEN] = array(bytes, offset);
    component.reverse();
    component
}

impl AttestationReport {
    /// Parses a report. Exactly [`REPORT_LEN`] bytes, a version in [`PARSED_VERSIONS`].
    pub fn parse(input: &[u8]) -> Result<Self, SnpError> {
        let bytes: Box<[u8; REPORT_LEN]> = <&[u8; REPORT_LEN]>::try_from(input)
            .map(|exact| Box::new(*exact))
            .map_err(|_| SnpError::BadLength { len: input.len() })?;
        let version = u32_at(&bytes, OFF_VERSION);
        if !PARSED_VERSIONS.contains(&version) {
            return Err(SnpError::UnsupportedVersion(version));
        }
        let cpuid = (version >= 3).then(|| Cpuid {
            family: bytes[OFF_CPUID_FAM_ID],
            model: bytes[OFF_CPUID_MOD_ID],
            stepping: bytes[OFF_CPUID_STEP],
        });
        let product = cpuid.and_then(|c| Product::from_cpuid(c.family, c.model));
        let tcb = |offset| TcbVersion::decode(array(&bytes, offset), product);
        let signature_algo = match u32_at(&bytes, OFF_SIGNATURE_ALGO) {
            1 => SignatureAlgorithm::EcdsaP384Sha384,
            other => SignatureAlgorithm::Other(other),
        };
        let platform_info = u64_at(&bytes, OFF_PLATFORM_INFO);
        Ok(Self {
            product,
            version,
            guest_svn: u32_at(&bytes, OFF_GUEST_SVN),
            policy: GuestPolicy::from_raw(u64_at(&bytes, OFF_POLICY)),
            family_id: array(&bytes, OFF_FAMILY_ID),
            image_id: array(&bytes, OFF_IMAGE_ID),
            vmpl: u32_at(&bytes, OFF_VMPL),
            signature_algo,
            current_tcb: tcb(OFF_CURRENT_TCB),
            platform_info: PlatformInfo {
                raw: platform_info,
                smt_enabled: platform_info & 1 != 0,
                tsme_enabled: platform_info & 0b10 != 0,
            },
            key_info: KeyInfo::from_raw(u32_at(&bytes, OFF_KEY_INFO)),
            report_data: array(&bytes, OFF_REPORT_DATA),
            measurement: array(&bytes, OFF_MEASUREMENT),
            host_data: array(&bytes, OFF_HOST_DATA),
            id_key_digest: array(&bytes, OFF_ID_KEY_DIGEST),
            author_key_digest: array(&bytes, OFF_AUTHOR_KEY_DIGEST),
            report_id: array(&bytes, OFF_REPORT_ID),
            report_id_ma: array(&bytes, OFF_REPORT_ID_MA),
            reported_tcb: tcb(OFF_REPORTED_TCB),
            cpuid,
            chip_id: array(&bytes, OFF_CHIP_ID),
            committed_tcb: tcb(OFF_COMMITTED_TCB),
            current_version: version_at(&bytes, OFF_CURRENT_VERSION),
            committed_version: version_at(&bytes, OFF_COMMITTED_VERSION),
            launch_tcb: tcb(OFF_LAUNCH_TCB),
            launch_mit_vector: (version >= 5).then(|| u64_at(&bytes, OFF_LAUNCH_MIT_VECTOR)),
            current_mit_vector: (version >= 5).then(|| u64_at(&bytes, OFF_CURRENT_MIT_VECTOR)),
            signature: ReportSignature {
                r: signature_component(&bytes, OFF_SIGNATURE_R),
                s: signature_component(&bytes, OFF_SIGNATURE_S),
            },
            bytes,
        })
    }

    /// Assigns the product line, re-decoding every TCB with its layout. A report that names
    /// its product through CPUID (version 3+) must name the same one.
    pub fn with_product(mut self, product: Product) -> Result<Self, SnpError> {
        if let Some(cpuid) = self.cpuid {
            match Product::from_cpuid(cpuid.family, cpuid.model) {
                Some(found) if found == product => {}
                Some(found) => {
                    return Err(SnpError::ProductMismatch {
                        expected: product,
                        found: found.name().to_owned(),
                    });
                }
                None => {
                    return Err(SnpError::UnknownProduct {
                        family: cpuid.family,
                        model: cpuid.model,
                    });
                }
            }
        }
        self.product = Some(product);
        for tcb in [
            &mut self.current_tcb,
            &mut self.reported_tcb,
            &mut self.committed_tcb,
            &mut self.launch_tcb,
        ] {
            *tcb = TcbVersion::decode(tcb.raw, Some(product));
        }
        Ok(self)
    }

    /// The bytes the signature covers: 0x000-0x29F.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..SIGNED_LEN]
    }

    /// The whole report as it was received.
    pub fn as_bytes(&self) -> &[u8; REPORT_LEN] {
        &self.bytes
    }

    /// True when CHIP_ID is all zeros, which is what the firmware writes when the platform
    /// sets MaskChipId (Table 23 offset 0x1A0).
    pub fn chip_id_masked(&self) -> bool {
        self.chip_id.iter().all(|b| *b == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn blank(version: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; REPORT_LEN];
        bytes[..4].copy_from_slice(&version.to_le_bytes());
        bytes
    }

    #[test]
    fn every_offset_is_inside_the_report() {
        for (offset, len) in [
            (OFF_CURRENT_MIT_VECTOR, 8),
            (OFF_LAUNCH_TCB, 8),
            (OFF_CHIP_ID, 64),
            (OFF_SIGNATURE_S, SIG_COMPONENT_LEN),
        ] {
            assert!(offset + len <= REPORT_LEN);
        }
        assert_eq!(OFF_SIGNATURE_R, SIGNED_LEN);
        assert_eq!(OFF_SIGNATURE_S + SIG_COMPONENT_LEN, 0x330);
    }

    #[test]
    fn wrong_lengths_are_bad_length() {
        for len in [0, 1, REPORT_LEN - 1, REPORT_LEN + 1, 4096] {
            assert_eq!(
                AttestationReport::parse(&vec![0u8; len]),
                Err(SnpError::BadLength { len })
            );
        }
    }

    #[test]
    fn versions_outside_two_to_five_are_unsupported() {
        for version in [0, 1, 6, u32::MAX] {
            assert_eq!(
                AttestationReport::parse(&blank(version)),
                Err(SnpError::UnsupportedVersion(version))
            );
        }
        for version in 2..=5 {
            assert_eq!(
                AttestationReport::parse(&blank(version)).unwrap().version,
                version
            );
        }
    }

    #[test]
    fn policy_bits_decode_per_abi() {
        // 0x30000: bit 16 SMT and bit 17 (reserved, must be one), what real guests use.
        let p = GuestPolicy::from_raw(0x30000);
        assert!(p.smt_allowed && !p.debug_allowed && !p.migrate_ma_allowed);
        let p = GuestPolicy::from_raw((1 << 19) | (1 << 18) | 0x0102);
        assert!(p.debug_allowed && p.migrate_ma_allowed && !p.smt_allowed);
        assert_eq!((p.abi_major, p.abi_minor), (1, 2));
    }

    #[test]
    fn tcb_layout_depends_on_product() {
        let raw = [1, 2, 3, 4, 5, 6, 7, 8];
        let legacy = TcbVersion::decode(raw, Some(Product::Genoa));
        assert_eq!(
            (
                legacy.fmc,
                legacy.bootloader,
                legacy.tee,
                legacy.snp,
                legacy.microcode
            ),
            (None, 1, 2, 7, 8)
        );
        let turin = TcbVersion::decode(raw, Some(Product::Turin));
        assert_eq!(
            (
                turin.fmc,
                turin.bootloader,
                turin.tee,
                turin.snp,
                turin.microcode
            ),
            (Some(1), 2, 3, 4, 8)
        );
        for product in Product::ALL {
            let tcb = TcbVersion::new(product, 9, 10, 11, 12, 13);
            assert_eq!(TcbVersion::decode(tcb.raw, Some(product)), tcb);
        }
    }

    #[test]
    fn key_info_and_signature_are_decoded() {
        let mut bytes = blank(3);
        bytes[OFF_KEY_INFO] = 0b0000_0110; // MASK_CHIP_KEY, SIGNING_KEY = 1 (VLEK)
        bytes[OFF_SIGNATURE_R] = 0xAB; // least significant byte of R
        bytes[OFF_SIGNATURE_S + 47] = 0xCD; // most significant byte of a 48-byte S
        let report = AttestationReport::parse(&bytes).unwrap();
        assert!(report.key_info.mask_chip_key);
        assert_eq!(report.key_info.signing_key, SigningKey::Vlek);
        assert_eq!(report.signature.r[71], 0xAB);
        assert_eq!(report.signature.s[24], 0xCD);
        assert_eq!(report.signed_bytes().len(), 0x2A0);
        assert!(report.chip_id_masked());
    }

    #[test]
    fn version_three_names_its_product() {
        let mut bytes = blank(3);
        bytes[OFF_CPUID_FAM_ID] = 0x1A;
        bytes[OFF_CPUID_MOD_ID] = 0x02;
        bytes[OFF_REPORTED_TCB..OFF_REPORTED_TCB + 8].copy_from_slice(&[4, 1, 2, 3, 0, 0, 0, 9]);
        let report = AttestationReport::parse(&bytes).unwrap();
        assert_eq!(report.product, Some(Product::Turin));
        assert_eq!(report.reported_tcb.fmc, Some(4));
        assert!(matches!(
            report.with_product(Product::Milan),
            Err(SnpError::ProductMismatch {
                expected: Product::Milan,
                ..
            })
        ));
    }

    #[test]
    fn version_two_takes_a_product_from_the_caller() {
        let mut bytes = blank(2);
        bytes[OFF_REPORTED_TCB..OFF_REPORTED_TCB + 8].copy_from_slice(&[4, 1, 2, 3, 0, 0, 5, 9]);
        let report = AttestationReport::parse(&bytes).unwrap();
        assert_eq!((report.product, report.reported_tcb.snp), (None, 5));
        let turin = report.with_product(Product::Turin).unwrap();
        assert_eq!(
            (turin.reported_tcb.fmc, turin.reported_tcb.snp),
            (Some(4), 3)
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = AttestationReport::parse(&bytes);
        }

        #[test]
        fn parser_never_panics_on_full_length_reports(
            mut bytes in proptest::collection::vec(any::<u8>(), REPORT_LEN),
            version in 0u32..8,
        ) {
            // Half the cases get a parseable version so the field decoding runs too.
            if version < 6 {
                bytes[..4].copy_from_slice(&version.to_le_bytes());
            }
            if let Ok(report) = AttestationReport::parse(&bytes) {
                prop_assert_eq!(report.signed_bytes(), &bytes[..SIGNED_LEN]);
                for product in Product::ALL {
                    let _ = report.clone().with_product(product);
                }
            }
        }
    }
}
