//! A simulated SEV-SNP platform for development and tests.
//!
//! It builds a certificate chain with AMD's algorithms (ARK, ASK and ASVK with RSA keys and
//! RSASSA-PSS SHA-384 signatures, a VCEK or VLEK with an ECDSA P-384 key and the AMD TCB and
//! hwID extensions, VCEK spec #57230 s2-s3) and signs 1184-byte reports with chosen fields
//! (ABI Table 23). Its root is trusted only where a caller passes it explicitly as a trust
//! anchor ([`SimulatedAmd::trust_anchors`]); [`super::TrustAnchors::amd`] never includes it.
//!
//! OpenSSL's certificate builder cannot sign with PSS, so the TBSCertificate is encoded here
//! with [`immerse_der`] and signed with an explicitly configured PSS signer.

use openssl::{
    bn::BigNum,
    ec::{EcGroup, EcKey},
    ecdsa::EcdsaSig,
    hash::MessageDigest,
    nid::Nid,
    pkey::{HasPublic, PKey, PKeyRef, Private},
    rsa::{Padding, Rsa},
    sha::sha384,
    sign::{RsaPssSaltlen, Signer},
    x509::{X509, X509Name},
};

use immerse_der as der;

use super::{
    CertChain, Product, SnpError, TrustAnchors,
    report::{self, Cpuid, TcbVersion},
};

/// A validity period in seconds since the epoch (RFC 5280 s4.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

impl Validity {
    /// 2020-01-01 to 2049-12-31, like AMD's 25-year roots.
    pub const LONG: Self = Self {
        not_before: 1_577_836_800,
        not_after: 2_524_607_999,
    };
}

/// The AMD side of a simulated platform: ARK, ASK and ASVK with their keys.
pub struct SimulatedAmd {
    pub product: Product,
    pub ark: X509,
    pub ask: X509,
    pub asvk: X509,
    ask_key: PKey<Private>,
    asvk_key: PKey<Private>,
}

/// What a simulated VCEK or VLEK certificate says.
#[derive(Debug, Clone)]
pub struct EndorsementSpec {
    /// Becomes blSPL, teeSPL, snpSPL, ucodeSPL (and fmcSPL on Turin).
    pub tcb: TcbVersion,
    /// hwID; `None` for a VLEK.
    pub hw_id: Option<[u8; 64]>,
    pub validity: Validity,
    /// The key's curve: AMD uses secp384r1; another curve tests the verifier's refusal.
    pub curve: Nid,
}

/// A simulated chip endorsement key (VCEK or VLEK) and its certificate.
pub struct SimulatedVcek {
    pub cert: X509,
    pub der: Vec<u8>,
    key: EcKey<Private>,
}

/// The fields of a simulated report. Start from [`ReportFields::new`] and change what a test
/// needs.
#[derive(Debug, Clone)]
pub struct ReportFields {
    pub version: u32,
    pub guest_svn: u32,
    /// Guest POLICY; 0x30000 (SMT allowed, reserved bit 17 set) is what real guests use.
    pub policy: u64,
    pub family_id: [u8; 16],
    pub image_id: [u8; 16],
    pub vmpl: u32,
    pub signature_algo: u32,
    pub author_key_en: bool,
    /// When set the firmware does not sign: the simulated signature is zeros.
    pub mask_chip_key: bool,
    /// 0 VCEK, 1 VLEK, 7 none.
    pub signing_key: u8,
    pub report_data: [u8; 64],
    pub measurement: [u8; 48],
    pub host_data: [u8; 32],
    pub current_tcb: TcbVersion,
    pub reported_tcb: TcbVersion,
    pub committed_tcb: TcbVersion,
    pub launch_tcb: TcbVersion,
    /// Written for version 3 and later.
    pub cpuid: Cpuid,
    pub chip_id: [u8; 64],
}

impl ReportFields {
    /// A version 3 report from `product` with the given TCB everywhere, a fixed chip id,
    /// debug off and VMPL 0.
    pub fn new(product: Product, tcb: TcbVersion) -> Self {
        let (family, model) = match product {
            Product::Milan => (0x19, 0x01),
            Product::Genoa => (0x19, 0x11),
            Product::Turin => (0x1A, 0x02),
        };
        Self {
            version: 3,
            guest_svn: 1,
            policy: 0x30000,
            family_id: [0; 16],
            image_id: [0; 16],
            vmpl: 0,
            signature_algo: 1,
            author_key_en: false,
            mask_chip_key: false,
            signing_key: 0,
            report_data: [0; 64],
            measurement: [0x11; 48],
            host_data: [0; 32],
            current_tcb: tcb,
            reported_tcb: tcb,
            committed_tcb: tcb,
            launch_tcb: tcb,
            cpuid: Cpuid {
                family,
                model,
                stepping: 1,
            },
            chip_id: [0x5A; 64],
        }
    }
}

fn rsa_key(bits: u32) -> Result<PKey<Private>, SnpError> {
    Ok(PKey::from_rsa(Rsa::generate(bits)?)?)
}

fn name(common_name: &str) -> Result<X509Name, SnpError> {
    let mut builder = X509Name::builder()?;
    builder.append_entry_by_nid(Nid::ORGANIZATIONALUNITNAME, "Engineering")?;
    builder.append_entry_by_nid(Nid::ORGANIZATIONNAME, "Simulated Micro Devices")?;
    builder.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
    Ok(builder.build())
}

/// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48, as AMD signs (VCEK spec #57230 s2).
fn pss_algorithm() -> Vec<u8> {
    let sha384 = der::sequence(&[
        &der::tlv(der::TAG_OID, &der::oid(&[2, 16, 840, 1, 101, 3, 4, 2, 2])),
        &der::tlv(der::TAG_NULL, &[]),
    ]);
    let mgf1 = der::sequence(&[
        &der::tlv(der::TAG_OID, &der::oid(&[1, 2, 840, 113_549, 1, 1, 8])),
        &sha384,
    ]);
    let params = der::sequence(&[
        &der::tlv(0xA0, &sha384),
        &der::tlv(0xA1, &mgf1),
        &der::tlv(0xA2, &der::unsigned(&[48])),
    ]);
    der::sequence(&[
        &der::tlv(der::TAG_OID, &der::oid(&[1, 2, 840, 113_549, 1, 1, 10])),
        &params,
    ])
}

/// UTCTime through 2049, GeneralizedTime after (RFC 5280 s4.1.2.5).
fn asn1_time(t: i64) -> Result<Vec<u8>, SnpError> {
    let time = jiff::Timestamp::from_second(t)
        .map_err(|err| SnpError::Crypto(format!("simulated validity time {t}: {err}")))?;
    let year = time.to_zoned(jiff::tz::TimeZone::UTC).year();
    Ok(if (1950..2050).contains(&year) {
        der::tlv(
            der::TAG_UTC_TIME,
            time.strftime("%y%m%d%H%M%SZ").to_string().as_bytes(),
        )
    } else {
        der::tlv(
            der::TAG_GENERALIZED_TIME,
            time.strftime("%Y%m%d%H%M%SZ").to_string().as_bytes(),
        )
    })
}

fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let oid = der::tlv(der::TAG_OID, &der::oid(oid));
    let value = der::tlv(der::TAG_OCTET_STRING, value);
    if critical {
        der::sequence(&[&oid, &der::tlv(der::TAG_BOOLEAN, &[0xFF]), &value])
    } else {
        der::sequence(&[&oid, &value])
    }
}

fn ca_extensions() -> Vec<Vec<u8>> {
    // basicConstraints: CA, critical (RFC 5280 s4.2.1.9).
    let ca = der::sequence(&[&der::tlv(der::TAG_BOOLEAN, &[0xFF])]);
    vec![extension(&[2, 5, 29, 19], true, &ca)]
}

fn amd(tail: &[u64]) -> Vec<u64> {
    [&[1, 3, 6, 1, 4, 1, 3704, 1][..], tail].concat()
}

fn endorsement_extensions(product: Product, spec: &EndorsementSpec) -> Vec<Vec<u8>> {
    let spl = |value: u8| der::unsigned(&[value]);
    let tcb = &spec.tcb;
    let mut out = vec![
        extension(&amd(&[1]), false, &spl(0)),
        extension(
            &amd(&[2]),
            false,
            &der::tlv(der::TAG_IA5_STRING, product.name().as_bytes()),
        ),
        extension(&amd(&[3, 1]), false, &spl(tcb.bootloader)),
        extension(&amd(&[3, 2]), false, &spl(tcb.tee)),
        extension(&amd(&[3, 3]), false, &spl(tcb.snp)),
        extension(&amd(&[3, 8]), false, &spl(tcb.microcode)),
    ];
    if let Some(fmc) = tcb.fmc {
        out.push(extension(&amd(&[3, 9]), false, &spl(fmc)));
    }
    if let Some(hw_id) = spec.hw_id {
        // Raw 64 bytes, as in the Milan and Genoa VCEKs in the test data.
        out.push(extension(&amd(&[4]), false, &hw_id));
    }
    out
}

/// Encodes and PSS-signs a certificate.
#[allow(clippy::too_many_arguments)]
fn certificate<T: HasPublic>(
    serial: u32,
    issuer: &X509Name,
    subject: &X509Name,
    subject_key: &PKeyRef<T>,
    signer: &PKey<Private>,
    validity: Validity,
    extensions: &[Vec<u8>],
) -> Result<X509, SnpError> {
    let algorithm = pss_algorithm();
    let extension_refs: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
    let tbs = der::sequence(&[
        &der::tlv(0xA0, &der::unsigned(&[2])), // v3
        &der::unsigned(&serial.to_be_bytes()),
        &algorithm,
        &issuer.to_der()?,
        &der::sequence(&[
            &asn1_time(validity.not_before)?,
            &asn1_time(validity.not_after)?,
        ]),
        &subject.to_der()?,
        &subject_key.public_key_to_der()?,
        &der::tlv(der::TAG_EXTENSIONS, &der::sequence(&extension_refs)),
    ]);
    let mut pss = Signer::new(MessageDigest::sha384(), signer)?;
    pss.set_rsa_padding(Padding::PKCS1_PSS)?;
    pss.set_rsa_mgf1_md(MessageDigest::sha384())?;
    pss.set_rsa_pss_saltlen(RsaPssSaltlen::custom(48))?;
    let signature = pss.sign_oneshot_to_vec(&tbs)?;
    let bits = [&[0u8][..], &signature].concat();
    let der = der::sequence(&[&tbs, &algorithm, &der::tlv(der::TAG_BIT_STRING, &bits)]);
    Ok(X509::from_der(&der)?)
}

impl SimulatedAmd {
    /// Generates ARK, ASK and ASVK with `rsa_bits`-bit keys (AMD uses 4096; key generation
    /// takes seconds, so tests share one instance).
    pub fn generate(product: Product, rsa_bits: u32) -> Result<Self, SnpError> {
        let ark_key = rsa_key(rsa_bits)?;
        let ask_key = rsa_key(rsa_bits)?;
        let asvk_key = rsa_key(rsa_bits)?;
        let p = product.name();
        let ark_name = name(&format!("ARK-{p}"))?;
        let ark = certificate(
            0x01_0000,
            &ark_name,
            &ark_name,
            &ark_key,
            &ark_key,
            Validity::LONG,
            &ca_extensions(),
        )?;
        let ask = certificate(
            0x01_0001,
            &ark_name,
            &name(&format!("SEV-{p}"))?,
            &ask_key,
            &ark_key,
            Validity::LONG,
            &ca_extensions(),
        )?;
        let asvk = certificate(
            0x01_0101,
            &ark_name,
            &name(&format!("SEV-VLEK-{p}"))?,
            &asvk_key,
            &ark_key,
            Validity::LONG,
            &ca_extensions(),
        )?;
        Ok(Self {
            product,
            ark,
            ask,
            asvk,
            ask_key,
            asvk_key,
        })
    }

    /// A trust store holding only this simulated root.
    pub fn trust_anchors(&self) -> TrustAnchors {
        TrustAnchors::with_root(self.product, self.ark.clone())
    }

    /// ARK, ASK and ASVK as evidence would carry them.
    pub fn chain(&self) -> CertChain {
        CertChain {
            ark: Some(self.ark.clone()),
            ask: Some(self.ask.clone()),
            asvk: Some(self.asvk.clone()),
        }
    }

    /// Issues a VCEK signed by the ASK. Its serial number is 0, like AMD's.
    pub fn issue_vcek(&self, spec: &EndorsementSpec) -> Result<SimulatedVcek, SnpError> {
        self.issue(spec, "SEV-VCEK", &self.ask, &self.ask_key)
    }

    /// Issues a VLEK signed by the ASVK (give `hw_id: None`).
    pub fn issue_vlek(&self, spec: &EndorsementSpec) -> Result<SimulatedVcek, SnpError> {
        self.issue(spec, "SEV-VLEK", &self.asvk, &self.asvk_key)
    }

    fn issue(
        &self,
        spec: &EndorsementSpec,
        common_name: &str,
        issuer: &X509,
        issuer_key: &PKey<Private>,
    ) -> Result<SimulatedVcek, SnpError> {
        let group = EcGroup::from_curve_name(spec.curve)?;
        let key = EcKey::generate(&group)?;
        let public = PKey::from_ec_key(key.clone())?;
        let issuer_name = issuer.subject_name().to_owned()?;
        let cert = certificate(
            0,
            &issuer_name,
            &name(common_name)?,
            &public,
            issuer_key,
            spec.validity,
            &endorsement_extensions(self.product, spec),
        )?;
        Ok(SimulatedVcek {
            der: cert.to_der()?,
            cert,
            key,
        })
    }
}

impl SimulatedVcek {
    /// Produces a signed report: ECDSA P-384 over SHA-384 of bytes 0x000-0x29F, R and S
    /// little-endian at 0x2A0 and 0x2E8 (ABI Table 23). With MASK_CHIP_KEY the signature
    /// stays zero, as the firmware leaves it.
    pub fn sign_report(&self, fields: &ReportFields) -> Result<Vec<u8>, SnpError> {
        use report::*;
        let mut bytes = vec![0u8; REPORT_LEN];
        let mut put = |offset: usize, value: &[u8]| {
            bytes[offset..offset + value.len()].copy_from_slice(value);
        };
        put(OFF_VERSION, &fields.version.to_le_bytes());
        put(OFF_GUEST_SVN, &fields.guest_svn.to_le_bytes());
        put(OFF_POLICY, &fields.policy.to_le_bytes());
        put(OFF_FAMILY_ID, &fields.family_id);
        put(OFF_IMAGE_ID, &fields.image_id);
        put(OFF_VMPL, &fields.vmpl.to_le_bytes());
        put(OFF_SIGNATURE_ALGO, &fields.signature_algo.to_le_bytes());
        put(OFF_CURRENT_TCB, &fields.current_tcb.raw);
        let key_info = u32::from(fields.author_key_en)
            | (u32::from(fields.mask_chip_key) << 1)
            | (u32::from(fields.signing_key & 0b111) << 2);
        put(OFF_KEY_INFO, &key_info.to_le_bytes());
        put(OFF_REPORT_DATA, &fields.report_data);
        put(OFF_MEASUREMENT, &fields.measurement);
        put(OFF_HOST_DATA, &fields.host_data);
        put(OFF_REPORTED_TCB, &fields.reported_tcb.raw);
        if fields.version >= 3 {
            put(OFF_CPUID_FAM_ID, &[fields.cpuid.family]);
            put(OFF_CPUID_MOD_ID, &[fields.cpuid.model]);
            put(OFF_CPUID_STEP, &[fields.cpuid.stepping]);
        }
        put(OFF_CHIP_ID, &fields.chip_id);
        put(OFF_COMMITTED_TCB, &fields.committed_tcb.raw);
        put(OFF_LAUNCH_TCB, &fields.launch_tcb.raw);
        if !fields.mask_chip_key {
            let signature = EcdsaSig::sign(&sha384(&bytes[..SIGNED_LEN]), &self.key)?;
            for (offset, component) in [
                (OFF_SIGNATURE_R, signature.r()),
                (OFF_SIGNATURE_S, signature.s()),
            ] {
                let mut le = component.to_vec_padded(48)?;
                le.reverse();
                bytes[offset..offset + le.len()].copy_from_slice(&le);
            }
        }
        Ok(bytes)
    }

    /// The certificate's serial number as a big number (AMD's VCEKs use 0).
    pub fn serial(&self) -> Result<BigNum, SnpError> {
        Ok(self.cert.serial_number().to_bn()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn1_times_switch_to_generalized_time_in_2050() {
        assert_eq!(
            asn1_time(1_577_836_800).unwrap(),
            der::tlv(0x17, b"200101000000Z")
        );
        assert_eq!(
            asn1_time(2_524_607_999).unwrap(),
            der::tlv(0x17, b"491231235959Z")
        );
        assert_eq!(
            asn1_time(2_524_608_000).unwrap(),
            der::tlv(0x18, b"20500101000000Z")
        );
    }
}
