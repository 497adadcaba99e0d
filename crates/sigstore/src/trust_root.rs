//! `trusted_root.json` (protobuf-specs `dev.sigstore.trustroot.v1.TrustedRoot`, JSON form):
//! Rekor logs, Fulcio CAs, CT logs and TSAs, each with a validity window. Parsed strictly
//! into typed values; nothing here is trusted until verification uses it.
use openssl::x509::X509;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::keys::VerificationKey;
use crate::util::{b64_decode, parse_rfc3339};

pub const TRUSTED_ROOT_MEDIA_TYPE: &str =
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

/// `TimeRange`: start inclusive, end inclusive and optional (open-ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub start: i64,
    pub end: Option<i64>,
}

impl Validity {
    pub fn contains(&self, time: i64) -> bool {
        self.start <= time && self.end.is_none_or(|end| time <= end)
    }
}

/// A Rekor log or a CT log: a key, its id, and when it may be used.
#[derive(Debug, Clone)]
pub struct LogInstance {
    pub base_url: String,
    /// SHA-256 of the DER SPKI (RFC 6962 s3.2 `LogID`).
    pub log_id: [u8; 32],
    pub key: VerificationKey,
    pub validity: Validity,
}

/// A Fulcio CA or a TSA: its chain (leaf-most first, root last) and validity window.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    pub uri: String,
    pub chain: Vec<X509>,
    pub validity: Validity,
}

#[derive(Debug, Clone, Default)]
pub struct TrustedRoot {
    pub tlogs: Vec<LogInstance>,
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub ctlogs: Vec<LogInstance>,
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    hash_algorithm: String,
    public_key: RawPublicKey,
    log_id: RawLogId,
    /// protobuf-specs field, informational (Rekor v2 checkpoint key id); not used here.
    #[serde(default)]
    #[allow(dead_code)]
    checkpoint_key_id: Option<RawLogId>,
    #[serde(default)]
    #[allow(dead_code)]
    operator: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: String,
    key_details: String,
    valid_for: RawValidity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawValidity {
    start: String,
    #[serde(default)]
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    #[allow(dead_code)]
    subject: Option<serde_json::Value>,
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: RawValidity,
    #[serde(default)]
    #[allow(dead_code)]
    operator: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawCert {
    pub(crate) raw_bytes: String,
}

fn entry(msg: impl Into<String>) -> Error {
    Error::TrustRootEntry(msg.into())
}

fn validity(raw: &RawValidity) -> Result<Validity> {
    let start = parse_rfc3339(&raw.start).ok_or_else(|| entry("validFor.start"))?;
    let end = match &raw.end {
        Some(end) => Some(parse_rfc3339(end).ok_or_else(|| entry("validFor.end"))?),
        None => None,
    };
    if end.is_some_and(|end| end < start) {
        return Err(entry("validFor ends before it starts"));
    }
    Ok(Validity { start, end })
}

fn log(raw: &RawLog) -> Result<LogInstance> {
    if raw.hash_algorithm != "SHA2_256" {
        return Err(entry(format!("log hash algorithm {}", raw.hash_algorithm)));
    }
    let bytes = b64_decode(&raw.public_key.raw_bytes).ok_or_else(|| entry("publicKey.rawBytes"))?;
    let details = raw.public_key.key_details.as_str();
    let key = if details.starts_with("PKCS1_") {
        VerificationKey::from_pkcs1_rsa_der(&bytes)?
    } else if details.starts_with("PKIX_") {
        VerificationKey::from_spki_der(&bytes)?
    } else {
        return Err(entry(format!("key details {details}")));
    };
    let log_id: [u8; 32] = b64_decode(&raw.log_id.key_id)
        .and_then(|id| id.try_into().ok())
        .ok_or_else(|| entry("logId.keyId"))?;
    // RFC 6962 s3.2: the log id is the SHA-256 of the key; a root that says otherwise is
    // inconsistent and would let one key answer for another id.
    // Rekor v2 Ed25519 logs use the full C2SP signed-note key hash over their origin (the
    // host of the base URL) instead: SHA-256(origin || 0x0A || 0x01 || key).
    let note_id = crate::checkpoint::note_key_hash(&key, url_host(&raw.base_url));
    if log_id != key.key_id() && log_id != note_id {
        return Err(entry(format!(
            "logId of {} is not its key's hash",
            raw.base_url
        )));
    }
    Ok(LogInstance {
        base_url: raw.base_url.clone(),
        log_id,
        key,
        validity: validity(&raw.public_key.valid_for)?,
    })
}

pub(crate) fn certificate(raw: &RawCert) -> Result<X509> {
    let der = b64_decode(&raw.raw_bytes).ok_or_else(|| entry("certificate rawBytes"))?;
    let cert = X509::from_der(&der).map_err(|err| entry(format!("certificate: {err}")))?;
    // OpenSSL's parser ignores trailing bytes; the certificate must fill rawBytes exactly, so
    // that the bytes compared with a log body are the bytes that were signed.
    if cert.to_der().ok().as_deref() != Some(der.as_slice()) {
        return Err(entry(
            "certificate rawBytes is not exactly one DER certificate",
        ));
    }
    Ok(cert)
}

fn authority(raw: &RawCa) -> Result<CertificateAuthority> {
    if raw.cert_chain.certificates.is_empty() {
        return Err(entry(format!("{}: empty certificate chain", raw.uri)));
    }
    let chain = raw
        .cert_chain
        .certificates
        .iter()
        .map(certificate)
        .collect::<Result<Vec<_>>>()?;
    Ok(CertificateAuthority {
        uri: raw.uri.clone(),
        chain,
        validity: validity(&raw.valid_for)?,
    })
}

impl TrustedRoot {
    pub fn from_json(text: &str) -> Result<Self> {
        let raw: RawRoot =
            serde_json::from_str(text).map_err(|err| Error::TrustRootJson(err.to_string()))?;
        if raw.media_type != TRUSTED_ROOT_MEDIA_TYPE {
            return Err(Error::TrustRootMediaType(raw.media_type));
        }
        Ok(Self {
            tlogs: raw.tlogs.iter().map(log).collect::<Result<_>>()?,
            certificate_authorities: raw
                .certificate_authorities
                .iter()
                .map(authority)
                .collect::<Result<_>>()?,
            ctlogs: raw.ctlogs.iter().map(log).collect::<Result<_>>()?,
            timestamp_authorities: raw
                .timestamp_authorities
                .iter()
                .map(authority)
                .collect::<Result<_>>()?,
        })
    }

    pub fn tlog(&self, log_id: &[u8]) -> Option<&LogInstance> {
        self.tlogs.iter().find(|log| log.log_id == log_id)
    }

    pub fn ctlog(&self, log_id: &[u8]) -> Option<&LogInstance> {
        self.ctlogs.iter().find(|log| log.log_id == log_id)
    }
}

/// The host of a log's base URL (`https://rekor.sigstore.dev` -> `rekor.sigstore.dev`): the
/// name its checkpoints carry.
pub(crate) fn url_host(url: &str) -> &str {
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
}
