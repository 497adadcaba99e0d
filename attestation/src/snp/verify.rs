//! Verifying SEV-SNP evidence: report signature, chain, TCB and chip binding, VCEK cache.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use openssl::{bn::BigNum, ec::EcKey, ecdsa::EcdsaSig, error::ErrorStack, pkey::Public};

use super::{
    CertChain, CertRole, Product, SnpError, TrustAnchors,
    certs::{self, VerifiedEndorsement},
    report::{AttestationReport, SignatureAlgorithm, SigningKey},
};

/// Verified SEV-SNP evidence. Only [`SnpVerifier`] makes one, after the chain, the report
/// signature, the TCB and the chip binding all checked out; a policy then judges it.
#[derive(Debug, Clone)]
pub struct SnpClaims {
    product: Product,
    signed_by: CertRole,
    report: AttestationReport,
}

impl SnpClaims {
    /// The product line whose root the chain ended in.
    pub fn product(&self) -> Product {
        self.product
    }

    /// [`CertRole::Vcek`] or [`CertRole::Vlek`].
    pub fn signed_by(&self) -> CertRole {
        self.signed_by
    }

    /// The verified report, its TCBs decoded with the product's layout.
    pub fn report(&self) -> &AttestationReport {
        &self.report
    }
}

/// ECDSA P-384 over SHA-384 of bytes 0x000-0x29F (ABI Table 23 SIGNATURE; R and S already
/// converted from little-endian by the parser).
pub fn verify_report_signature(
    report: &AttestationReport,
    key: &EcKey<Public>,
) -> Result<(), SnpError> {
    let signature = EcdsaSig::from_private_components(
        BigNum::from_slice(&report.signature.r)?,
        BigNum::from_slice(&report.signature.s)?,
    )?;
    let digest = openssl::sha::sha384(report.signed_bytes());
    if matches!(signature.verify(&digest, key), Ok(true)) {
        Ok(())
    } else {
        let _ = ErrorStack::get();
        Err(SnpError::ReportSignature)
    }
}

type CacheKey = ([u8; 64], [u8; 8]);

/// Verified VCEKs keyed by (CHIP_ID, REPORTED_TCB), so a platform that sends only its report
/// need not fetch its VCEK again. Bounded: past `capacity` the oldest entry goes first. Entries
/// are inserted only after a report verified under them, and their chain's validity is checked
/// again at every use. Reports with a masked (all-zero) CHIP_ID and VLEKs are never cached,
/// because their key would not name one chip.
pub struct VcekCache {
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    entries: HashMap<CacheKey, VerifiedEndorsement>,
    order: VecDeque<CacheKey>,
}

impl VcekCache {
    /// A cache of at most `capacity` VCEKs (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // A panic elsewhere cannot leave the map inconsistent (each operation is one step).
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached VCEK for this chip and TCB.
    pub fn get(&self, chip_id: &[u8; 64], reported_tcb: &[u8; 8]) -> Option<VerifiedEndorsement> {
        self.lock().entries.get(&(*chip_id, *reported_tcb)).cloned()
    }

    fn insert(&self, key: CacheKey, vcek: VerifiedEndorsement) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.entries.insert(key, vcek).is_none() {
            inner.order.push_back(key);
        }
        while inner.entries.len() > self.capacity {
            match inner.order.pop_front() {
                Some(oldest) => {
                    inner.entries.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// How many VCEKs are cached.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Verifies SEV-SNP evidence against a set of trust anchors.
pub struct SnpVerifier {
    anchors: TrustAnchors,
    cache: VcekCache,
}

/// Default number of cached VCEKs: one per chip and TCB of a fair-sized fleet.
pub const DEFAULT_VCEK_CACHE: usize = 1024;

impl SnpVerifier {
    /// A verifier trusting exactly `anchors`.
    pub fn new(anchors: TrustAnchors) -> Self {
        Self::with_cache_capacity(anchors, DEFAULT_VCEK_CACHE)
    }

    /// A verifier trusting exactly `anchors`, caching at most `capacity` VCEKs.
    pub fn with_cache_capacity(anchors: TrustAnchors, capacity: usize) -> Self {
        Self {
            anchors,
            cache: VcekCache::new(capacity),
        }
    }

    /// A verifier trusting the pinned AMD roots.
    pub fn amd() -> Result<Self, SnpError> {
        Ok(Self::new(TrustAnchors::amd()?))
    }

    /// The VCEK cache.
    pub fn cache(&self) -> &VcekCache {
        &self.cache
    }

    /// Verifies a report with its VCEK/VLEK (DER; `None` to use the cache) and chain at `at`
    /// (seconds since the epoch). A version 2 report does not name its product; the root that
    /// signed the chain decides.
    pub fn verify_evidence(
        &self,
        report: &[u8],
        vcek_der: Option<&[u8]>,
        chain: &CertChain,
        at: i64,
    ) -> Result<SnpClaims, SnpError> {
        self.verify_evidence_for(report, vcek_der, chain, None, at)
    }

    /// As [`Self::verify_evidence`], with the product line the caller knows the report comes
    /// from (needed only for version 2 reports; checked against CPUID for later ones).
    pub fn verify_evidence_for(
        &self,
        report: &[u8],
        vcek_der: Option<&[u8]>,
        chain: &CertChain,
        product: Option<Product>,
        at: i64,
    ) -> Result<SnpClaims, SnpError> {
        let report = AttestationReport::parse(report)?;
        // Table 23 offset 0x34: only ECDSA P-384 with SHA-384 is defined.
        if let SignatureAlgorithm::Other(algorithm) = report.signature_algo {
            return Err(SnpError::UnsupportedSignatureAlgorithm(algorithm));
        }
        // Table 23 offset 0x48: with MASK_CHIP_KEY the firmware writes zeros instead of a
        // signature; SIGNING_KEY names VCEK or VLEK.
        if report.key_info.mask_chip_key {
            return Err(SnpError::ReportNotSigned);
        }
        let role = match report.key_info.signing_key {
            SigningKey::Vcek => CertRole::Vcek,
            SigningKey::Vlek => CertRole::Vlek,
            SigningKey::None => return Err(SnpError::ReportNotSigned),
            SigningKey::Reserved(value) => return Err(SnpError::UnsupportedSigningKey(value)),
        };
        // Version 3+: CPUID names the product, which must have a root and agree with the
        // caller.
        let candidate = match (report.cpuid, report.product, product) {
            (Some(cpuid), None, _) => {
                return Err(SnpError::UnknownProduct {
                    family: cpuid.family,
                    model: cpuid.model,
                });
            }
            (_, Some(found), Some(expected)) if found != expected => {
                return Err(SnpError::ProductMismatch {
                    expected,
                    found: found.name().to_owned(),
                });
            }
            (_, found, expected) => found.or(expected),
        };

        let endorsement = match vcek_der {
            Some(der) => {
                let cert = certs::parse_certificate(der, role)?;
                certs::verify_chain(&self.anchors, chain, &cert, role, candidate, at)?
            }
            None if role == CertRole::Vcek => {
                let cached = self
                    .cache
                    .get(&report.chip_id, &report.reported_tcb.raw)
                    .ok_or(SnpError::VcekNotAvailable)?;
                if let Some(expected) = candidate
                    && expected != cached.product
                {
                    return Err(SnpError::ProductMismatch {
                        expected,
                        found: cached.product.name().to_owned(),
                    });
                }
                cached.check_validity(at)?;
                cached
            }
            None => return Err(SnpError::VcekNotAvailable),
        };
        let report = report.with_product(endorsement.product)?;

        // The signature first: until it verifies, nothing in the report is worth comparing.
        verify_report_signature(&report, &endorsement.key)?;
        endorsement
            .extensions
            .check_tcb(&report.reported_tcb, endorsement.product)?;
        if role == CertRole::Vcek {
            endorsement.extensions.check_chip_id(&report)?;
            if vcek_der.is_some() && !report.chip_id_masked() {
                self.cache.insert(
                    (report.chip_id, report.reported_tcb.raw),
                    endorsement.clone(),
                );
            }
        }
        Ok(SnpClaims {
            product: endorsement.product,
            signed_by: role,
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_verifier_can_be_shared_between_request_handlers() {
        fn shareable<T: Send + Sync>() {}
        shareable::<super::SnpVerifier>();
        shareable::<super::SnpClaims>();
    }
}
