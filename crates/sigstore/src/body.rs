//! Rekor entry bodies (`canonicalizedBody`): hashedrekord 0.0.1/0.0.2, dsse 0.0.1/0.0.2,
//! intoto 0.0.2. A body binds the log entry to the bundle: it must name the same artifact
//! digest (or DSSE payload hash), the same signature and the same certificate or key.
use serde_json::Value;

use crate::error::{Error, Result};
use crate::keys::HashAlgorithm;
use crate::util::{b64_decode, sha256};

/// What the bundle says was signed, for comparison with the body.
pub(crate) struct Expected<'a> {
    /// hashedrekord: the artifact digest; DSSE kinds: SHA-256 of the payload.
    pub digest: Option<(HashAlgorithm, Vec<u8>)>,
    /// The DSSE payload, when the bundle is a DSSE bundle.
    pub dsse_payload: Option<&'a [u8]>,
    /// The signatures the bundle carries (one for a message signature).
    pub signatures: Vec<&'a [u8]>,
    /// DER of the leaf certificate, or DER SPKI of the key.
    pub verifier_der: &'a [u8],
}

fn malformed(what: &str) -> Error {
    Error::BodyMalformed(what.into())
}

fn get<'v>(value: &'v Value, path: &[&str]) -> Result<&'v Value> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .ok_or_else(|| malformed(&path.join(".")))
}

fn text<'v>(value: &'v Value, path: &[&str]) -> Result<&'v str> {
    get(value, path)?
        .as_str()
        .ok_or_else(|| malformed(&path.join(".")))
}

fn b64_at(value: &Value, path: &[&str]) -> Result<Vec<u8>> {
    b64_decode(text(value, path)?).ok_or_else(|| malformed(&path.join(".")))
}

/// DER of the single PEM block in `pem` (certificate or public key).
fn pem_der(pem: &[u8]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(pem).map_err(|_| malformed("PEM"))?;
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    b64_decode(body.trim()).ok_or_else(|| malformed("PEM base64"))
}

/// Rekor v1 embeds the verifier as base64 of a PEM.
fn v1_verifier(value: &Value, path: &[&str]) -> Result<Vec<u8>> {
    pem_der(&b64_at(value, path)?)
}

/// Rekor v2 `Verifier`: `publicKey.rawBytes` (DER SPKI) or `x509Certificate.rawBytes`.
fn v2_verifier(verifier: &Value) -> Result<Vec<u8>> {
    if let Ok(raw) = b64_at(verifier, &["publicKey", "rawBytes"]) {
        return Ok(raw);
    }
    b64_at(verifier, &["x509Certificate", "rawBytes"])
}

fn check_digest(
    expected: &Expected<'_>,
    algorithm: Option<HashAlgorithm>,
    digest: &[u8],
) -> Result<()> {
    match (&expected.digest, algorithm) {
        (Some((alg, want)), Some(got)) if *alg == got && want == digest => Ok(()),
        _ => Err(Error::BodyDigestMismatch),
    }
}

fn check_payload_hash(
    expected: &Expected<'_>,
    alg: Option<HashAlgorithm>,
    hash: &[u8],
) -> Result<()> {
    let payload = expected.dsse_payload.ok_or(Error::BodyKindMismatch)?;
    if alg == Some(HashAlgorithm::Sha256) && hash == sha256(payload) {
        Ok(())
    } else {
        Err(Error::BodyDigestMismatch)
    }
}

/// Every signature in the body must be one the bundle carries, by the bundle's verifier, and
/// every bundle signature must be in the body.
fn check_signatures(expected: &Expected<'_>, body: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
    if body.is_empty() || body.len() != expected.signatures.len() {
        return Err(Error::BodySignatureMismatch);
    }
    for (sig, verifier) in body {
        if !expected.signatures.iter().any(|s| s == sig) {
            return Err(Error::BodySignatureMismatch);
        }
        if verifier != expected.verifier_der {
            return Err(Error::BodyKeyMismatch);
        }
    }
    Ok(())
}

fn hex_digest(value: &Value, path: &[&str]) -> Result<(Option<HashAlgorithm>, Vec<u8>)> {
    let mut alg_path = path.to_vec();
    alg_path.push("algorithm");
    let mut value_path = path.to_vec();
    value_path.push("value");
    let alg = HashAlgorithm::from_rekor_name(text(value, &alg_path)?);
    let digest = hex::decode(text(value, &value_path)?).map_err(|_| malformed("digest hex"))?;
    Ok((alg, digest))
}

fn proto_digest(value: &Value) -> Result<(Option<HashAlgorithm>, Vec<u8>)> {
    let alg = HashAlgorithm::from_proto_name(text(value, &["algorithm"])?);
    Ok((alg, b64_at(value, &["digest"])?))
}

/// Checks that `body` (with the bundle's `kind`/`version`) matches what the bundle says.
pub(crate) fn check(body: &[u8], kind: &str, version: &str, expected: &Expected<'_>) -> Result<()> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(&e.to_string()))?;
    let body_kind = text(&value, &["kind"])?;
    let body_version = text(&value, &["apiVersion"])?;
    if body_kind != kind || body_version != version {
        return Err(Error::BodyKindMismatch);
    }
    let spec = get(&value, &["spec"])?;
    match (kind, version) {
        ("hashedrekord", "0.0.1") => {
            if expected.dsse_payload.is_some() {
                return Err(Error::BodyKindMismatch);
            }
            let (alg, digest) = hex_digest(spec, &["data", "hash"])?;
            check_digest(expected, alg, &digest)?;
            let sig = b64_at(spec, &["signature", "content"])?;
            let verifier = v1_verifier(spec, &["signature", "publicKey", "content"])?;
            check_signatures(expected, &[(sig, verifier)])
        }
        ("hashedrekord", "0.0.2") => {
            if expected.dsse_payload.is_some() {
                return Err(Error::BodyKindMismatch);
            }
            let inner = get(spec, &["hashedRekordV002"])?;
            let (alg, digest) = proto_digest(get(inner, &["data"])?)?;
            check_digest(expected, alg, &digest)?;
            let sig = b64_at(inner, &["signature", "content"])?;
            let verifier = v2_verifier(get(inner, &["signature", "verifier"])?)?;
            check_signatures(expected, &[(sig, verifier)])
        }
        ("dsse", "0.0.1") => {
            let (alg, hash) = hex_digest(spec, &["payloadHash"])?;
            check_payload_hash(expected, alg, &hash)?;
            let sigs = get(spec, &["signatures"])?
                .as_array()
                .ok_or_else(|| malformed("signatures"))?
                .iter()
                .map(|s| Ok((b64_at(s, &["signature"])?, v1_verifier(s, &["verifier"])?)))
                .collect::<Result<Vec<_>>>()?;
            check_signatures(expected, &sigs)
        }
        ("dsse", "0.0.2") => {
            let inner = get(spec, &["dsseV002"])?;
            let (alg, hash) = proto_digest(get(inner, &["payloadHash"])?)?;
            check_payload_hash(expected, alg, &hash)?;
            let sigs = get(inner, &["signatures"])?
                .as_array()
                .ok_or_else(|| malformed("signatures"))?
                .iter()
                .map(|s| {
                    Ok((
                        b64_at(s, &["content"])?,
                        v2_verifier(get(s, &["verifier"])?)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            check_signatures(expected, &sigs)
        }
        ("intoto", "0.0.2") => {
            let (alg, hash) = hex_digest(spec, &["content", "payloadHash"])?;
            check_payload_hash(expected, alg, &hash)?;
            // intoto 0.0.2 stores each signature base64-encoded twice.
            let sigs = get(spec, &["content", "envelope", "signatures"])?
                .as_array()
                .ok_or_else(|| malformed("signatures"))?
                .iter()
                .map(|s| {
                    let once = b64_at(s, &["sig"])?;
                    let sig = std::str::from_utf8(&once)
                        .ok()
                        .and_then(b64_decode)
                        .ok_or_else(|| malformed("sig"))?;
                    Ok((sig, v1_verifier(s, &["publicKey"])?))
                })
                .collect::<Result<Vec<_>>>()?;
            check_signatures(expected, &sigs)
        }
        _ => Err(malformed(&format!("unsupported kind {kind} {version}"))),
    }
}
