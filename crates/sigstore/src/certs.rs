//! Fulcio chains: the leaf must chain to a trusted CA and be valid at every verified signing
//! time (a log's integrated time or a TSA's genTime), never at "now": Fulcio leaves live ten
//! minutes.
use immerse_der as der;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509Ref, X509StoreContext};

use crate::error::{Error, Result};
use crate::trust_root::CertificateAuthority;
use crate::util::asn1_time_to_unix;

/// id-kp-codeSigning (RFC 5280 s4.2.1.12): Fulcio issues every leaf with it.
pub(crate) const CODE_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 3];
/// id-kp-timeStamping: RFC 3161 s2.3 requires it (critical) on TSA certificates.
pub(crate) const TIME_STAMPING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 8];

/// Whether `cert` has an extendedKeyUsage extension (2.5.29.37) listing `purpose`.
pub(crate) fn has_extended_key_usage(cert: &X509Ref, purpose: &[u64]) -> bool {
    let Ok(der_bytes) = cert.to_der() else {
        return false;
    };
    let Ok(extensions) = der::certificate_extensions(&der_bytes) else {
        return false;
    };
    let (eku, wanted) = (der::oid(&[2, 5, 29, 37]), der::oid(purpose));
    extensions
        .iter()
        .filter(|e| e.oid == eku.as_slice())
        .any(|e| {
            let Ok(mut list) = der::exactly(e.value, der::TAG_SEQUENCE) else {
                return false;
            };
            while let Ok((oid, rest)) = der::expect(list, der::TAG_OID) {
                if oid == wanted.as_slice() {
                    return true;
                }
                list = rest;
            }
            false
        })
}

/// Whether `cert`'s own validity window contains `time`.
pub(crate) fn valid_at(cert: &X509Ref, time: i64) -> bool {
    match (
        asn1_time_to_unix(cert.not_before()),
        asn1_time_to_unix(cert.not_after()),
    ) {
        (Some(start), Some(end)) => start <= time && time <= end,
        _ => false,
    }
}

/// Chains `leaf` to `ca` with OpenSSL, checking every certificate at `time`.
pub(crate) fn chains_to(leaf: &X509Ref, ca: &CertificateAuthority, time: i64) -> bool {
    verified_issuer(leaf, ca, time).is_some()
}

/// Like [`chains_to`], returning the certificate that issued `leaf` in the verified chain.
fn verified_issuer(leaf: &X509Ref, ca: &CertificateAuthority, time: i64) -> Option<X509> {
    let (Some(root), intermediates) = (
        ca.chain.last(),
        &ca.chain[..ca.chain.len().saturating_sub(1)],
    ) else {
        return None;
    };
    let result = (|| -> Result<Option<X509>, openssl::error::ErrorStack> {
        let mut store = X509StoreBuilder::new()?;
        store.add_cert(root.clone())?;
        let mut param = X509VerifyParam::new()?;
        param.set_time(time as _);
        store.set_param(&param)?;
        let store = store.build();
        let mut chain = Stack::new()?;
        for cert in intermediates {
            chain.push(cert.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        ctx.init(&store, leaf, &chain, |c| {
            if !c.verify_cert()? {
                return Ok(None);
            }
            // The verified chain runs leaf first; a self-signed leaf is its own issuer.
            let issuer = c.chain().and_then(|ch| ch.get(1).or_else(|| ch.get(0)));
            Ok(issuer.map(|c| c.to_owned()))
        })
    })();
    result.ok().flatten()
}

/// Verifies `leaf` against the trusted Fulcio CAs at each time in `times`; returns the issuer
/// of the leaf (for the SCT issuer key hash).
pub(crate) fn verify_fulcio_chain(
    leaf: &X509Ref,
    cas: &[CertificateAuthority],
    times: &[i64],
) -> Result<X509> {
    let Some(&first) = times.first() else {
        return Err(Error::NoVerifiedTime);
    };
    if !has_extended_key_usage(leaf, CODE_SIGNING) {
        return Err(Error::CertificateUsage("codeSigning"));
    }
    if let Some(&bad) = times.iter().find(|t| !valid_at(leaf, **t)) {
        return Err(Error::CertificateNotValidAtTime { time: bad });
    }
    for ca in cas {
        if !times.iter().all(|t| ca.validity.contains(*t)) {
            continue;
        }
        let issuers: Option<Vec<X509>> = times
            .iter()
            .map(|t| verified_issuer(leaf, ca, *t))
            .collect();
        if let Some(issuer) = issuers.and_then(|mut all| all.pop()) {
            return Ok(issuer);
        }
    }
    Err(Error::CertificateUntrusted(format!(
        "no trusted CA issues this certificate at {first}"
    )))
}
