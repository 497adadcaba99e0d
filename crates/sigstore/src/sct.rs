//! Embedded SCTs (RFC 6962 s3.3): the `SignedCertificateTimestampList` extension
//! (1.3.6.1.4.1.11129.2.4.2) of a Fulcio leaf, each SCT verified over the precertificate
//! `digitally-signed` structure of RFC 6962 s3.2, whose TBSCertificate is the leaf's with
//! the SCT extension removed.
use immerse_der as der;
use openssl::x509::X509Ref;

use crate::error::{Error, Result};
use crate::trust_root::TrustedRoot;
use crate::util::sha256;

/// 1.3.6.1.4.1.11129.2.4.2 as DER content octets.
fn sct_list_oid() -> Vec<u8> {
    der::oid(&[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2])
}

/// One SCT (RFC 6962 s3.2 `SignedCertificateTimestamp`, v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    pub log_id: [u8; 32],
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    pub extensions: Vec<u8>,
    pub hash_algorithm: u8,
    pub signature_algorithm: u8,
    pub signature: Vec<u8>,
}

fn malformed(what: &str) -> Error {
    Error::SctMalformed(what.into())
}

/// A TLS reader over bytes, refusing any read past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn vec16(&mut self) -> Result<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// Parses a TLS-encoded `SignedCertificateTimestampList` (RFC 6962 s3.3).
pub fn parse_sct_list(bytes: &[u8]) -> Result<Vec<Sct>> {
    let mut outer = Reader(bytes);
    let mut list = Reader(outer.vec16()?);
    if !outer.0.is_empty() {
        return Err(malformed("trailing bytes"));
    }
    let mut scts = Vec::new();
    while !list.0.is_empty() {
        let mut r = Reader(list.vec16()?);
        if r.u8()? != 0 {
            return Err(malformed("SCT version is not v1"));
        }
        let log_id: [u8; 32] = r.take(32)?.try_into().map_err(|_| malformed("log id"))?;
        let ts = r.take(8)?;
        let timestamp = u64::from_be_bytes(ts.try_into().map_err(|_| malformed("timestamp"))?);
        let extensions = r.vec16()?.to_vec();
        let hash_algorithm = r.u8()?;
        let signature_algorithm = r.u8()?;
        let signature = r.vec16()?.to_vec();
        if !r.0.is_empty() {
            return Err(malformed("trailing bytes in SCT"));
        }
        scts.push(Sct {
            log_id,
            timestamp,
            extensions,
            hash_algorithm,
            signature_algorithm,
            signature,
        });
    }
    if scts.is_empty() {
        return Err(malformed("empty list"));
    }
    Ok(scts)
}

/// Splits a DER cert into (SCT list extension value, precert TBSCertificate DER).
pub fn precert_parts(cert_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let (list, tbs) = strip_sct(cert_der)?;
    Ok((list.ok_or(Error::SctMissing)?, tbs))
}

/// The TBSCertificate of `cert_der` without its SCT list extension (RFC 6962 s3.2: what the
/// log signed), and the list if there was one.
pub fn strip_sct(cert_der: &[u8]) -> Result<(Option<Vec<u8>>, Vec<u8>)> {
    let bad = |_| Error::CertificateMalformed("DER".into());
    let cert = der::exactly(cert_der, der::TAG_SEQUENCE).map_err(bad)?;
    let (tbs, _) = der::expect(cert, der::TAG_SEQUENCE).map_err(bad)?;
    let oid = sct_list_oid();
    let mut out = Vec::with_capacity(tbs.len());
    let mut found = None;
    let mut rest = tbs;
    while !rest.is_empty() {
        let (field, after) = der::read(rest).map_err(bad)?;
        let raw = &rest[..rest.len() - after.len()];
        rest = after;
        if field.tag != der::TAG_EXTENSIONS {
            out.extend_from_slice(raw);
            continue;
        }
        let mut list = der::exactly(field.value, der::TAG_SEQUENCE).map_err(bad)?;
        let mut kept = Vec::new();
        while !list.is_empty() {
            let (ext, after) = der::read(list).map_err(bad)?;
            let raw_ext = &list[..list.len() - after.len()];
            list = after;
            let (ext_oid, fields) = der::expect(ext.value, der::TAG_OID).map_err(bad)?;
            if ext_oid == oid.as_slice() {
                if found.is_some() {
                    return Err(malformed("two SCT list extensions"));
                }
                // Skip an optional `critical` BOOLEAN, then the OCTET STRING value, whose
                // content is itself an OCTET STRING holding the TLS list (RFC 6962 s3.3).
                let fields = match der::expect(fields, der::TAG_BOOLEAN) {
                    Ok((_, rest)) => rest,
                    Err(_) => fields,
                };
                let value = der::exactly(fields, der::TAG_OCTET_STRING).map_err(bad)?;
                let inner = der::exactly(value, der::TAG_OCTET_STRING)
                    .map_err(|_| malformed("not an OCTET STRING"))?;
                found = Some(inner.to_vec());
            } else {
                kept.extend_from_slice(raw_ext);
            }
        }
        if !kept.is_empty() {
            out.extend(der::tlv(
                der::TAG_EXTENSIONS,
                &der::tlv(der::TAG_SEQUENCE, &kept),
            ));
        }
    }
    Ok((found, der::tlv(der::TAG_SEQUENCE, &out)))
}

/// The RFC 6962 s3.2 signed structure for a precert entry.
pub fn signed_data(sct: &Sct, issuer_key_hash: &[u8; 32], tbs: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8, 0u8]; // sct_version v1, signature_type certificate_timestamp
    out.extend_from_slice(&sct.timestamp.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    out.extend_from_slice(issuer_key_hash);
    let len = tbs.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]); // opaque TBSCertificate<1..2^24-1>
    out.extend_from_slice(tbs);
    out.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
    out.extend_from_slice(&sct.extensions);
    out
}

/// Verifies that at least one embedded SCT is from a trusted CT log and verifies.
pub fn verify_embedded_scts(leaf: &X509Ref, issuer: &X509Ref, root: &TrustedRoot) -> Result<()> {
    let der_bytes = leaf
        .to_der()
        .map_err(|_| Error::CertificateMalformed("DER".into()))?;
    let (list, tbs) = precert_parts(&der_bytes)?;
    let scts = parse_sct_list(&list)?;
    let issuer_spki = issuer
        .public_key()
        .and_then(|k| k.public_key_to_der())
        .map_err(|_| Error::CertificateMalformed("issuer key".into()))?;
    let issuer_key_hash = sha256(&issuer_spki);
    let mut known_failed = false;
    for sct in &scts {
        let Some(log) = root.ctlog(&sct.log_id) else {
            continue;
        };
        let at = i64::try_from(sct.timestamp / 1000).unwrap_or(i64::MAX);
        if !log.validity.contains(at) {
            continue;
        }
        if log
            .key
            .verify(&signed_data(sct, &issuer_key_hash, &tbs), &sct.signature)
        {
            return Ok(());
        }
        known_failed = true;
    }
    Err(if known_failed {
        Error::SctSignature
    } else {
        Error::SctUnknownLog
    })
}
