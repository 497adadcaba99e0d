//! RFC 3161 timestamps: a `TimeStampToken` is CMS `SignedData` (RFC 5652) whose content is a
//! `TSTInfo` (RFC 3161 s2.4.2). OpenSSL checks the CMS signature (and the signed
//! messageDigest attribute) against the trusted TSA's certificate; the TSTInfo is read here.
use immerse_der as der;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::stack::Stack;

use crate::certs::{TIME_STAMPING, chains_to, has_extended_key_usage, valid_at};
use crate::error::{Error, Result};
use crate::keys::HashAlgorithm;
use crate::trust_root::TrustedRoot;
use crate::util::parse_generalized_time;

/// What a TSTInfo says (the fields verification uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfo {
    pub policy: Vec<u8>,
    pub hash_algorithm: Option<HashAlgorithm>,
    pub hashed_message: Vec<u8>,
    pub serial_number: Vec<u8>,
    /// Unix seconds.
    pub gen_time: i64,
}

fn malformed(what: &str) -> Error {
    Error::TimestampMalformed(what.into())
}

/// id-signedData 1.2.840.113549.1.7.2
fn oid_signed_data() -> Vec<u8> {
    der::oid(&[1, 2, 840, 113_549, 1, 7, 2])
}

/// id-ct-TSTInfo 1.2.840.113549.1.9.16.1.4
pub(crate) fn oid_tst_info() -> Vec<u8> {
    der::oid(&[1, 2, 840, 113_549, 1, 9, 16, 1, 4])
}

pub(crate) fn oid_hash(alg: HashAlgorithm) -> Vec<u8> {
    match alg {
        HashAlgorithm::Sha256 => der::oid(&[2, 16, 840, 1, 101, 3, 4, 2, 1]),
        HashAlgorithm::Sha384 => der::oid(&[2, 16, 840, 1, 101, 3, 4, 2, 2]),
    }
}

/// The DER TSTInfo inside a TimeStampToken (`ContentInfo` -> `SignedData` ->
/// `encapContentInfo` -> `[0] EXPLICIT OCTET STRING`).
pub fn encapsulated_tst_info(token: &[u8]) -> Result<Vec<u8>> {
    let bad = |_| malformed("CMS structure");
    let content_info = der::exactly(token, der::TAG_SEQUENCE).map_err(bad)?;
    let (content_type, rest) = der::expect(content_info, der::TAG_OID).map_err(bad)?;
    if content_type != oid_signed_data().as_slice() {
        return Err(malformed("not SignedData"));
    }
    let explicit = der::exactly(rest, 0xA0).map_err(bad)?;
    let signed_data = der::exactly(explicit, der::TAG_SEQUENCE).map_err(bad)?;
    let (_version, rest) = der::expect(signed_data, der::TAG_INTEGER).map_err(bad)?;
    let (_digest_algs, rest) = der::expect(rest, 0x31).map_err(bad)?;
    let (encap, _) = der::expect(rest, der::TAG_SEQUENCE).map_err(bad)?;
    let (e_type, rest) = der::expect(encap, der::TAG_OID).map_err(bad)?;
    if e_type != oid_tst_info().as_slice() {
        return Err(malformed("eContentType is not id-ct-TSTInfo"));
    }
    let content = der::exactly(rest, 0xA0).map_err(bad)?;
    let octets = der::exactly(content, der::TAG_OCTET_STRING).map_err(bad)?;
    Ok(octets.to_vec())
}

/// Parses a DER TSTInfo (RFC 3161 s2.4.2).
pub fn parse_tst_info(bytes: &[u8]) -> Result<TstInfo> {
    let bad = |_| malformed("TSTInfo");
    let tst = der::exactly(bytes, der::TAG_SEQUENCE).map_err(bad)?;
    let (version, rest) = der::expect(tst, der::TAG_INTEGER).map_err(bad)?;
    if version != [1] {
        return Err(malformed("TSTInfo version"));
    }
    let (policy, rest) = der::expect(rest, der::TAG_OID).map_err(bad)?;
    let (imprint, rest) = der::expect(rest, der::TAG_SEQUENCE).map_err(bad)?;
    let (alg_id, imprint_rest) = der::expect(imprint, der::TAG_SEQUENCE).map_err(bad)?;
    let (alg_oid, _params) = der::expect(alg_id, der::TAG_OID).map_err(bad)?;
    let hashed_message = der::exactly(imprint_rest, der::TAG_OCTET_STRING).map_err(bad)?;
    let (serial, rest) = der::expect(rest, der::TAG_INTEGER).map_err(bad)?;
    let (gen_time, _optional_fields) = der::expect(rest, der::TAG_GENERALIZED_TIME).map_err(bad)?;
    let gen_time = std::str::from_utf8(gen_time)
        .ok()
        .and_then(parse_generalized_time)
        .ok_or_else(|| malformed("genTime"))?;
    let hash_algorithm = [HashAlgorithm::Sha256, HashAlgorithm::Sha384]
        .into_iter()
        .find(|alg| oid_hash(*alg) == alg_oid);
    Ok(TstInfo {
        policy: policy.to_vec(),
        hash_algorithm,
        hashed_message: hashed_message.to_vec(),
        serial_number: serial.to_vec(),
        gen_time,
    })
}

/// The `TimeStampToken` of a DER `TimeStampResp` (RFC 3161 s2.4.2), which is what
/// protobuf-specs `RFC3161SignedTimestamp.signed_timestamp` holds; a bare token is accepted
/// too. The status must be granted (0) or grantedWithMods (1).
pub fn token_from_response(bytes: &[u8]) -> Result<&[u8]> {
    let bad = |_| malformed("TimeStampResp");
    let resp = der::exactly(bytes, der::TAG_SEQUENCE).map_err(bad)?;
    let (first, rest) = der::read(resp).map_err(bad)?;
    match first.tag {
        der::TAG_OID => Ok(bytes),
        der::TAG_SEQUENCE => {
            let (status, _) = der::expect(first.value, der::TAG_INTEGER).map_err(bad)?;
            if status != [0] && status != [1] {
                return Err(malformed("timestamp request was not granted"));
            }
            der::exactly(rest, der::TAG_SEQUENCE).map_err(bad)?;
            Ok(rest)
        }
        _ => Err(malformed("TimeStampResp")),
    }
}

/// Verifies `response` (a `TimeStampResp` or token) as a timestamp over `signature` by a TSA
/// of `root`; returns genTime.
pub fn verify_timestamp(response: &[u8], signature: &[u8], root: &TrustedRoot) -> Result<i64> {
    let token = token_from_response(response)?;
    let info = parse_tst_info(&encapsulated_tst_info(token)?)?;
    let mut cms = CmsContentInfo::from_der(token).map_err(|_| malformed("CMS"))?;
    for tsa in &root.timestamp_authorities {
        let Some(leaf) = tsa.chain.first() else {
            continue;
        };
        if !has_extended_key_usage(leaf, TIME_STAMPING) {
            continue; // not a TSA certificate (RFC 3161 s2.3), so it cannot vouch for time
        }
        let mut certs = Stack::new().map_err(|_| malformed("stack"))?;
        certs.push(leaf.clone()).map_err(|_| malformed("stack"))?;
        // NOINTERN: the signer must be this trusted TSA certificate, never one the token
        // carries; the chain is checked below at genTime rather than at "now".
        let flags = CMSOptions::NOINTERN | CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY;
        if cms.verify(Some(&certs), None, None, None, flags).is_err() {
            continue;
        }
        // RFC 3161 s2.4.2: messageImprint is the hash of the timestamped data.
        let expected = info
            .hash_algorithm
            .map(|alg| alg.digest(signature))
            .ok_or(Error::TimestampImprintMismatch)?;
        if expected != info.hashed_message {
            return Err(Error::TimestampImprintMismatch);
        }
        if !tsa.validity.contains(info.gen_time)
            || !valid_at(leaf, info.gen_time)
            || !chains_to(leaf, tsa, info.gen_time)
        {
            return Err(Error::TimestampOutsideValidity);
        }
        return Ok(info.gen_time);
    }
    Err(Error::TimestampUntrusted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::b64_decode;

    /// The TimeStampResp of sigstore-python's staging Rekor v2 asset, issued by the staging TSA.
    #[test]
    fn real_staging_timestamp_response_parses() {
        let bundle: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/data/staging-rekor-v2.txt.sigstore.json"
        ))
        .unwrap();
        let response =
            b64_decode(
                bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]
                    ["signedTimestamp"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let token = token_from_response(&response).unwrap();
        let info = parse_tst_info(&encapsulated_tst_info(token).unwrap()).unwrap();
        assert_eq!(info.hash_algorithm, Some(HashAlgorithm::Sha256));
        assert_eq!(info.gen_time, 1_749_470_258); // 2025-06-09T11:57:38Z
        assert_eq!(info.policy, der::oid(&[1, 3, 6, 1, 4, 1, 57264, 2]));
    }

    #[test]
    fn refused_responses_are_malformed() {
        // TimeStampResp { status { rejection(2) } } without a token.
        let rejected = der::sequence(&[&der::sequence(&[&der::tlv(der::TAG_INTEGER, &[2])])]);
        assert!(matches!(
            token_from_response(&rejected),
            Err(Error::TimestampMalformed(_))
        ));
    }
}
