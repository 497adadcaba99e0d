//! The AMD certificate chain: pinned roots, ARK -> ASK/ASVK -> VCEK/VLEK, and the VCEK's
//! AMD extensions.
//!
//! References: "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface
//! Specification" (AMD #57230) s2 (the chain, RSASSA-PSS SHA-384 signatures), s3 (VCEK
//! certificate: EC P-384 key, extensions under 1.3.6.1.4.1.3704.1); RFC 5280 s4.1 (validity,
//! extensions). OpenSSL parses and verifies; [`super::der`] reads the extensions.

use std::cmp::Ordering;

use openssl::{
    asn1::Asn1Time,
    ec::EcKey,
    error::ErrorStack,
    nid::Nid,
    pkey::{PKey, Public},
    sha::sha256,
    x509::{X509, X509Ref},
};

use immerse_der::{self as der, DerError};

use super::{
    CertRole, Product, SnpError, TcbComponent,
    report::{AttestationReport, TcbVersion},
};

const MILAN_ARK_PEM: &[u8] = include_bytes!("../../roots/ark-milan.pem");
const GENOA_ARK_PEM: &[u8] = include_bytes!("../../roots/ark-genoa.pem");
const TURIN_ARK_PEM: &[u8] = include_bytes!("../../roots/ark-turin.pem");

/// SHA-256 of the DER of each pinned ARK (roots/README.md). Checked by
/// [`TrustAnchors::amd`], so an edited PEM cannot move the trust anchor unnoticed.
const PINNED_ARK_SHA256: [(Product, &str); 3] = [
    (
        Product::Milan,
        "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    ),
    (
        Product::Genoa,
        "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    ),
    (
        Product::Turin,
        "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
    ),
];

/// The ARKs a verifier trusts, each for one product line.
#[derive(Clone)]
pub struct TrustAnchors {
    roots: Vec<(Product, X509)>,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.roots.iter().map(|(product, _)| product))
            .finish()
    }
}

impl TrustAnchors {
    /// The pinned AMD roots for Milan, Genoa and Turin: the only default.
    pub fn amd() -> Result<Self, SnpError> {
        let mut roots = Vec::with_capacity(3);
        for (product, pem) in [
            (Product::Milan, MILAN_ARK_PEM),
            (Product::Genoa, GENOA_ARK_PEM),
            (Product::Turin, TURIN_ARK_PEM),
        ] {
            let ark = X509::from_pem(pem)?;
            let digest = hex::encode(sha256(&ark.to_der()?));
            let pinned = PINNED_ARK_SHA256
                .iter()
                .any(|(p, expected)| *p == product && *expected == digest);
            if !pinned {
                return Err(SnpError::Crypto(format!(
                    "embedded {product} ARK does not match its pinned digest"
                )));
            }
            roots.push((product, ark));
        }
        Ok(Self { roots })
    }

    /// Trusts exactly one root, for `product`. For development and tests (the simulated
    /// device's root); production code uses [`Self::amd`].
    pub fn with_root(product: Product, ark: X509) -> Self {
        Self {
            roots: vec![(product, ark)],
        }
    }

    /// Adds a root.
    pub fn add(&mut self, product: Product, ark: X509) {
        self.roots.push((product, ark));
    }

    fn products(&self) -> Vec<Product> {
        let mut products: Vec<Product> = self.roots.iter().map(|(p, _)| *p).collect();
        products.sort();
        products.dedup();
        products
    }

    fn roots_for(&self, product: Product) -> impl Iterator<Item = &X509> {
        self.roots
            .iter()
            .filter(move |(p, _)| *p == product)
            .map(|(_, ark)| ark)
    }
}

/// The CA certificates that came with the evidence (from the host's certificate table or the
/// KDS). Untrusted: the ARK must equal a trust anchor, the rest must chain to it.
#[derive(Debug, Clone, Default)]
pub struct CertChain {
    /// Optional: when absent, the pinned ARK for the product is used.
    pub ark: Option<X509>,
    /// Signs VCEKs.
    pub ask: Option<X509>,
    /// Signs VLEKs.
    pub asvk: Option<X509>,
}

impl CertChain {
    /// Reads the ARK, ASK and ASVK out of a PEM bundle in any order, as AMD's `cert_chain`
    /// files and the KDS deliver them. Roles are told apart by subject name (ARK self-issued,
    /// "SEV-VLEK-*" the ASVK, the rest the ASK); the signatures checked later decide.
    pub fn from_pem(pem: &[u8]) -> Result<Self, SnpError> {
        let certs = X509::stack_from_pem(pem).map_err(|err| SnpError::CertificateParse {
            which: CertRole::Ask,
            reason: err.to_string(),
        })?;
        let mut chain = Self::default();
        for cert in certs {
            let slot = if cert.subject_name_hash() == cert.issuer_name_hash() {
                &mut chain.ark
            } else if common_name(&cert).is_some_and(|cn| cn.starts_with("SEV-VLEK")) {
                &mut chain.asvk
            } else {
                &mut chain.ask
            };
            *slot = Some(cert);
        }
        Ok(chain)
    }
}

fn common_name(cert: &X509Ref) -> Option<String> {
    let entry = cert.subject_name().entries_by_nid(Nid::COMMONNAME).next()?;
    entry.data().to_string().ok()
}

/// Parses a DER certificate supplied as evidence.
pub fn parse_certificate(der: &[u8], which: CertRole) -> Result<X509, SnpError> {
    X509::from_der(der).map_err(|err| SnpError::CertificateParse {
        which,
        reason: err.to_string(),
    })
}

// VCEK spec #57230 s3, Table "VCEK certificate extensions": 1.3.6.1.4.1.3704.1.*
const AMD_ARC: [u64; 8] = [1, 3, 6, 1, 4, 1, 3704, 1];

fn amd_oid(tail: &[u64]) -> Vec<u8> {
    der::oid(&[&AMD_ARC[..], tail].concat())
}

/// The AMD extensions of a VCEK or VLEK certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VcekExtensions {
    /// 1.3.6.1.4.1.3704.1.2, e.g. "Milan-B0", "Genoa".
    pub product_name: Option<String>,
    /// 1.3.6.1.4.1.3704.1.3.1.
    pub bl_spl: Option<u8>,
    /// 1.3.6.1.4.1.3704.1.3.2.
    pub tee_spl: Option<u8>,
    /// 1.3.6.1.4.1.3704.1.3.3.
    pub snp_spl: Option<u8>,
    /// 1.3.6.1.4.1.3704.1.3.8.
    pub ucode_spl: Option<u8>,
    /// 1.3.6.1.4.1.3704.1.3.9, Turin and later.
    pub fmc_spl: Option<u8>,
    /// 1.3.6.1.4.1.3704.1.4, VCEK only: the CHIP_ID the key belongs to.
    pub hw_id: Option<[u8; 64]>,
}

impl VcekExtensions {
    /// Reads the AMD extensions of a DER certificate. A repeated AMD extension, a malformed
    /// value, or an unrecognised critical extension is refused.
    pub fn from_der(der: &[u8]) -> Result<Self, SnpError> {
        let malformed = |name| move |_: DerError| SnpError::ExtensionMalformed { name };
        let extensions = der::certificate_extensions(der).map_err(malformed("X.509 extensions"))?;
        let spl_oids = [
            ("blSPL", amd_oid(&[3, 1])),
            ("teeSPL", amd_oid(&[3, 2])),
            ("snpSPL", amd_oid(&[3, 3])),
            ("ucodeSPL", amd_oid(&[3, 8])),
            ("fmcSPL", amd_oid(&[3, 9])),
        ];
        let product_name_oid = amd_oid(&[2]);
        let hw_id_oid = amd_oid(&[4]);
        let mut out = Self::default();
        let mut seen: Vec<&[u8]> = Vec::new();
        for extension in &extensions {
            if extension.oid.starts_with(&der::oid(&AMD_ARC)) {
                // RFC 5280 s4.2: a certificate must not carry the same extension twice.
                if seen.contains(&extension.oid) {
                    return Err(SnpError::ExtensionMalformed {
                        name: "duplicate AMD extension",
                    });
                }
                seen.push(extension.oid);
            } else if extension.critical {
                return Err(SnpError::UnsupportedCriticalExtension);
            }
            if let Some((name, _)) = spl_oids.iter().find(|(_, oid)| oid == extension.oid) {
                let value = der::exactly(extension.value, der::TAG_INTEGER)
                    .and_then(der::small_unsigned)
                    .map_err(malformed(name))?;
                let slot = match *name {
                    "blSPL" => &mut out.bl_spl,
                    "teeSPL" => &mut out.tee_spl,
                    "snpSPL" => &mut out.snp_spl,
                    "ucodeSPL" => &mut out.ucode_spl,
                    _ => &mut out.fmc_spl,
                };
                *slot = Some(value);
            } else if extension.oid == product_name_oid {
                let text = der::exactly(extension.value, der::TAG_IA5_STRING)
                    .map_err(malformed("productName"))?;
                out.product_name = Some(
                    std::str::from_utf8(text)
                        .map_err(|_| SnpError::ExtensionMalformed {
                            name: "productName",
                        })?
                        .to_owned(),
                );
            } else if extension.oid == hw_id_oid {
                // The KDS has issued hwID both as the 64 raw bytes and as a DER OCTET STRING
                // wrapping them; the two cannot be confused (64 vs 66 bytes).
                let bytes = match extension.value.len() {
                    64 => extension.value,
                    _ => der::exactly(extension.value, der::TAG_OCTET_STRING)
                        .map_err(malformed("hwID"))?,
                };
                out.hw_id = Some(
                    bytes
                        .try_into()
                        .map_err(|_| SnpError::ExtensionMalformed { name: "hwID" })?,
                );
            }
        }
        Ok(out)
    }

    /// The VCEK's SPLs must equal the report's REPORTED_TCB: the firmware derives the VCEK
    /// from ReportedTcb (ABI Table 23 offset 0x180), and the KDS certifies that TCB.
    pub fn check_tcb(&self, reported: &TcbVersion, product: Product) -> Result<(), SnpError> {
        let mut checks = vec![
            (
                TcbComponent::Bootloader,
                "blSPL",
                self.bl_spl,
                Some(reported.bootloader),
            ),
            (
                TcbComponent::Tee,
                "teeSPL",
                self.tee_spl,
                Some(reported.tee),
            ),
            (
                TcbComponent::Snp,
                "snpSPL",
                self.snp_spl,
                Some(reported.snp),
            ),
            (
                TcbComponent::Microcode,
                "ucodeSPL",
                self.ucode_spl,
                Some(reported.microcode),
            ),
        ];
        if product == Product::Turin {
            checks.push((TcbComponent::Fmc, "fmcSPL", self.fmc_spl, reported.fmc));
        }
        for (component, name, certificate, report) in checks {
            let certificate = certificate.ok_or(SnpError::ExtensionMissing { name })?;
            let report = report.ok_or(SnpError::ExtensionMissing { name })?;
            if certificate != report {
                return Err(SnpError::TcbMismatch {
                    component,
                    report,
                    certificate,
                });
            }
        }
        Ok(())
    }

    /// hwID must equal CHIP_ID. A CHIP_ID of all zeros means the platform set MaskChipId
    /// (ABI Table 23 offset 0x1A0); there is nothing to compare, and the report signature
    /// still ties the report to this chip's key.
    pub fn check_chip_id(&self, report: &AttestationReport) -> Result<(), SnpError> {
        if report.chip_id_masked() {
            return Ok(());
        }
        match self.hw_id {
            None => Err(SnpError::ExtensionMissing { name: "hwID" }),
            Some(hw_id) if hw_id == report.chip_id => Ok(()),
            Some(_) => Err(SnpError::ChipIdMismatch),
        }
    }

    /// productName, when present, names the product line ("Milan-B0" for Milan).
    pub fn check_product(&self, product: Product) -> Result<(), SnpError> {
        match &self.product_name {
            Some(name) if !name.starts_with(product.name()) => Err(SnpError::ProductMismatch {
                expected: product,
                found: name.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// A VCEK or VLEK whose chain verified to a trust anchor at some time.
#[derive(Clone)]
pub struct VerifiedEndorsement {
    pub product: Product,
    /// [`CertRole::Vcek`] or [`CertRole::Vlek`].
    pub role: CertRole,
    pub key: EcKey<Public>,
    pub extensions: VcekExtensions,
    /// ARK, ASK or ASVK, VCEK or VLEK: kept to re-check validity when served from the cache.
    chain: [(CertRole, X509); 3],
}

impl VerifiedEndorsement {
    /// Every certificate of the chain must be valid at `at` (seconds since the epoch).
    pub fn check_validity(&self, at: i64) -> Result<(), SnpError> {
        let at = Asn1Time::from_unix(at)?;
        self.chain
            .iter()
            .try_for_each(|(role, cert)| check_validity(cert, *role, &at))
    }
}

fn check_validity(cert: &X509Ref, which: CertRole, at: &Asn1Time) -> Result<(), SnpError> {
    // RFC 5280 s4.1.2.5: valid from notBefore to notAfter inclusive. `compare` errors rather
    // than guessing, and an error refuses.
    if cert.not_before().compare(at)? == Ordering::Greater {
        return Err(SnpError::CertificateNotYetValid { which });
    }
    if cert.not_after().compare(at)? == Ordering::Less {
        return Err(SnpError::CertificateExpired { which });
    }
    Ok(())
}

/// True when `issuer`'s key verifies `cert`'s signature. Any failure, including a key of the
/// wrong type, is `false`.
fn signed_by(cert: &X509Ref, issuer: &PKey<Public>) -> bool {
    let ok = matches!(cert.verify(issuer), Ok(true));
    if !ok {
        // Drop whatever OpenSSL queued so it cannot be mistaken for a later call's error.
        let _ = ErrorStack::get();
    }
    ok
}

fn require_pss(cert: &X509Ref, which: CertRole) -> Result<(), SnpError> {
    // VCEK spec #57230 s2: AMD signs every certificate of the chain with RSASSA-PSS
    // (SHA-384, MGF1-SHA-384, salt 48). OpenSSL verifies with the parameters the certificate
    // states; requiring the PSS OID keeps a PKCS#1 v1.5 certificate out.
    if cert.signature_algorithm().object().nid() == Nid::RSASSAPSS {
        Ok(())
    } else {
        Err(SnpError::UnexpectedSignatureAlgorithm { which })
    }
}

/// Verifies ARK -> ASK -> VCEK (or ARK -> ASVK -> VLEK) at time `at`.
///
/// `candidates` are the products the report may come from: one when CPUID or the caller says,
/// otherwise every product with a trust anchor, and the root that signed the issuer decides.
pub fn verify_chain(
    anchors: &TrustAnchors,
    chain: &CertChain,
    endorsement: &X509Ref,
    role: CertRole,
    candidates: Option<Product>,
    at: i64,
) -> Result<VerifiedEndorsement, SnpError> {
    let (issuer_role, issuer) = match role {
        CertRole::Vlek => (CertRole::Asvk, chain.asvk.as_ref()),
        _ => (CertRole::Ask, chain.ask.as_ref()),
    };
    let issuer = issuer.ok_or(SnpError::MissingCertificate(issuer_role))?;
    let supplied_ark = chain.ark.as_ref().map(|ark| ark.to_der()).transpose()?;
    let products = match candidates {
        Some(product) => vec![product],
        None => anchors.products(),
    };

    // The ARK is a trust anchor for the product (byte-equal to it when the chain carries
    // one), and it signed the ASK/ASVK.
    let issuer_key = issuer.public_key()?;
    let mut pinned = false;
    let mut selected = None;
    'products: for product in products {
        for root in anchors.roots_for(product) {
            if let Some(supplied) = &supplied_ark
                && *supplied != root.to_der()?
            {
                continue;
            }
            pinned = true;
            if signed_by(issuer, &root.public_key()?) {
                selected = Some((product, root.clone()));
                break 'products;
            }
        }
    }
    let (product, ark) = match selected {
        Some(found) => found,
        None if !pinned => return Err(SnpError::ArkNotPinned),
        None => return Err(SnpError::ChainSignature { which: issuer_role }),
    };
    require_pss(&ark, CertRole::Ark)?;
    if !signed_by(&ark, &ark.public_key()?) {
        return Err(SnpError::ChainSignature {
            which: CertRole::Ark,
        });
    }
    require_pss(issuer, issuer_role)?;
    require_pss(endorsement, role)?;
    if !signed_by(endorsement, &issuer_key) {
        return Err(SnpError::ChainSignature { which: role });
    }

    // VCEK spec #57230 s3: the endorsement key is ECDSA on secp384r1.
    let key = endorsement
        .public_key()?
        .ec_key()
        .map_err(|_| SnpError::VcekKeyNotP384)?;
    if key.group().curve_name() != Some(Nid::SECP384R1) {
        return Err(SnpError::VcekKeyNotP384);
    }

    let extensions = VcekExtensions::from_der(&endorsement.to_der()?)?;
    extensions.check_product(product)?;
    let verified = VerifiedEndorsement {
        product,
        role,
        key,
        extensions,
        chain: [
            (CertRole::Ark, ark),
            (issuer_role, issuer.clone()),
            (role, endorsement.to_owned()),
        ],
    };
    verified.check_validity(at)?;
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_roots_load_match_their_digests_and_are_self_signed() {
        let anchors = TrustAnchors::amd().unwrap();
        assert_eq!(anchors.products(), Product::ALL.to_vec());
        for (product, ark) in &anchors.roots {
            assert!(signed_by(ark, &ark.public_key().unwrap()), "{product} ARK");
            assert_eq!(common_name(ark).unwrap(), format!("ARK-{}", product.name()));
            require_pss(ark, CertRole::Ark).unwrap();
        }
    }

    #[test]
    fn pkcs1_signed_certificates_are_refused() {
        use openssl::{hash::MessageDigest, rsa::Rsa, x509::X509Builder};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut builder = X509Builder::new().unwrap();
        builder.set_pubkey(&key).unwrap();
        builder.sign(&key, MessageDigest::sha384()).unwrap();
        let cert = builder.build();
        assert!(signed_by(
            &cert,
            &PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap()
        ));
        assert_eq!(
            require_pss(&cert, CertRole::Ask),
            Err(SnpError::UnexpectedSignatureAlgorithm {
                which: CertRole::Ask
            })
        );
    }

    #[test]
    fn hw_id_is_read_raw_and_octet_string_wrapped() {
        let hw_oid = amd_oid(&[4]);
        for value in [vec![0xAB; 64], der::tlv(der::TAG_OCTET_STRING, &[0xAB; 64])] {
            let extension = der::sequence(&[
                &der::tlv(der::TAG_OID, &hw_oid),
                &der::tlv(der::TAG_OCTET_STRING, &value),
            ]);
            let extensions = der::tlv(der::TAG_EXTENSIONS, &der::sequence(&[&extension]));
            let cert = der::sequence(&[&der::sequence(&[&extensions])]);
            assert_eq!(
                VcekExtensions::from_der(&cert).unwrap().hw_id,
                Some([0xAB; 64])
            );
        }
    }

    #[test]
    fn duplicate_and_unknown_critical_extensions_are_refused() {
        let spl = der::sequence(&[
            &der::tlv(der::TAG_OID, &amd_oid(&[3, 1])),
            &der::tlv(der::TAG_OCTET_STRING, &der::unsigned(&[3])),
        ]);
        let critical = der::sequence(&[
            &der::tlv(der::TAG_OID, &der::oid(&[1, 2, 3])),
            &der::tlv(der::TAG_BOOLEAN, &[0xFF]),
            &der::tlv(der::TAG_OCTET_STRING, &[]),
        ]);
        let cert = |exts: &[&[u8]]| {
            let list = der::tlv(der::TAG_EXTENSIONS, &der::sequence(exts));
            der::sequence(&[&der::sequence(&[&list])])
        };
        assert_eq!(
            VcekExtensions::from_der(&cert(&[&spl])).unwrap().bl_spl,
            Some(3)
        );
        assert!(matches!(
            VcekExtensions::from_der(&cert(&[&spl, &spl])),
            Err(SnpError::ExtensionMalformed { .. })
        ));
        assert_eq!(
            VcekExtensions::from_der(&cert(&[&critical])),
            Err(SnpError::UnsupportedCriticalExtension)
        );
    }
}
