//! Sigstore bundles v0.1, v0.2 and v0.3 (protobuf-specs `dev.sigstore.bundle.v1.Bundle`, JSON
//! form), parsed strictly into typed values, with the version-specific rules applied here so
//! that verification only ever sees a well-formed bundle.
use openssl::x509::X509;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::dsse::{Envelope, RawEnvelope};
use crate::error::{Error, Result};
use crate::keys::HashAlgorithm;
use crate::trust_root::{RawCert, certificate};
use crate::util::{b64, b64_decode};

pub const MEDIA_TYPE_V01: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
pub const MEDIA_TYPE_V02: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
pub const MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The form of the v0.3 media type some clients wrote before the name was settled.
const MEDIA_TYPE_V03_LEGACY: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleVersion {
    V01,
    V02,
    V03,
}

impl BundleVersion {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::V01 => MEDIA_TYPE_V01,
            Self::V02 => MEDIA_TYPE_V02,
            Self::V03 => MEDIA_TYPE_V03,
        }
    }
}

/// What the signature is verified with.
#[derive(Debug, Clone)]
pub enum VerificationMaterial {
    /// v0.3: the leaf certificate only.
    Certificate(X509),
    /// v0.1 and v0.2: the leaf first, then (optionally, ignored for trust) the chain.
    Chain(Vec<X509>),
    /// A key-signed bundle; the hint only names the key, the verifier brings the key.
    PublicKey { hint: String },
}

impl VerificationMaterial {
    pub fn leaf(&self) -> Option<&X509> {
        match self {
            Self::Certificate(leaf) => Some(leaf),
            Self::Chain(chain) => chain.first(),
            Self::PublicKey { .. } => None,
        }
    }
}

/// A Merkle inclusion proof with the checkpoint (signed note) it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub log_index: u64,
    pub root_hash: [u8; 32],
    pub tree_size: u64,
    pub hashes: Vec<[u8; 32]>,
    pub checkpoint: String,
}

/// `TransparencyLogEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    pub log_index: u64,
    pub log_id: Vec<u8>,
    pub kind: String,
    pub version: String,
    /// 0 when absent (Rekor v2 has no integrated time).
    pub integrated_time: i64,
    pub signed_entry_timestamp: Option<Vec<u8>>,
    pub inclusion_proof: Option<InclusionProof>,
    pub canonicalized_body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    MessageSignature {
        digest: Option<(HashAlgorithm, Vec<u8>)>,
        signature: Vec<u8>,
    },
    Dsse(Envelope),
}

#[derive(Debug, Clone)]
pub struct Bundle {
    pub version: BundleVersion,
    pub material: VerificationMaterial,
    pub tlog_entries: Vec<TlogEntry>,
    /// DER RFC 3161 `TimeStampToken`s.
    pub timestamps: Vec<Vec<u8>>,
    pub content: Content,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: RawMaterial,
    #[serde(default)]
    message_signature: Option<RawMessageSignature>,
    #[serde(default)]
    dsse_envelope: Option<RawEnvelope>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawMaterial {
    #[serde(default)]
    x509_certificate_chain: Option<RawChain>,
    #[serde(default)]
    certificate: Option<RawCert>,
    #[serde(default)]
    public_key: Option<RawHint>,
    #[serde(default)]
    tlog_entries: Vec<RawEntry>,
    #[serde(default)]
    timestamp_verification_data: Option<RawTimestamps>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHint {
    #[serde(default)]
    hint: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTimestamps {
    #[serde(default)]
    rfc3161_timestamps: Vec<RawTimestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTimestamp {
    signed_timestamp: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEntry {
    log_index: Value,
    log_id: RawKeyId,
    kind_version: RawKindVersion,
    #[serde(default)]
    integrated_time: Option<Value>,
    #[serde(default)]
    inclusion_promise: Option<RawPromise>,
    #[serde(default)]
    inclusion_proof: Option<RawProof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawKeyId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProof {
    log_index: Value,
    root_hash: String,
    tree_size: Value,
    #[serde(default)]
    hashes: Vec<String>,
    #[serde(default)]
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheckpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawMessageSignature {
    #[serde(default)]
    message_digest: Option<RawDigest>,
    signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDigest {
    algorithm: String,
    digest: String,
}

fn field(name: &str) -> Error {
    Error::BundleField(name.into())
}

/// protobuf JSON writes int64 as a decimal string; numbers are accepted too.
fn int(value: &Value, name: &str) -> Result<i64> {
    match value {
        Value::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse().map_err(|_| field(name))
        }
        Value::Number(n) => n.as_i64().filter(|n| *n >= 0).ok_or_else(|| field(name)),
        _ => Err(field(name)),
    }
}

fn hash32(text: &str, name: &str) -> Result<[u8; 32]> {
    b64_decode(text)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| field(name))
}

fn entry(raw: RawEntry) -> Result<TlogEntry> {
    let inclusion_proof = match raw.inclusion_proof {
        Some(proof) => Some(InclusionProof {
            log_index: int(&proof.log_index, "inclusionProof.logIndex")? as u64,
            root_hash: hash32(&proof.root_hash, "inclusionProof.rootHash")?,
            tree_size: int(&proof.tree_size, "inclusionProof.treeSize")? as u64,
            hashes: proof
                .hashes
                .iter()
                .map(|h| hash32(h, "inclusionProof.hashes"))
                .collect::<Result<_>>()?,
            checkpoint: proof
                .checkpoint
                .ok_or_else(|| field("inclusionProof.checkpoint"))?
                .envelope,
        }),
        None => None,
    };
    Ok(TlogEntry {
        log_index: int(&raw.log_index, "logIndex")? as u64,
        log_id: b64_decode(&raw.log_id.key_id).ok_or_else(|| field("logId.keyId"))?,
        kind: raw.kind_version.kind,
        version: raw.kind_version.version,
        integrated_time: match &raw.integrated_time {
            Some(value) => int(value, "integratedTime")?,
            None => 0,
        },
        signed_entry_timestamp: match raw.inclusion_promise {
            Some(promise) => Some(
                b64_decode(&promise.signed_entry_timestamp)
                    .ok_or_else(|| field("inclusionPromise.signedEntryTimestamp"))?,
            ),
            None => None,
        },
        inclusion_proof,
        canonicalized_body: b64_decode(&raw.canonicalized_body)
            .ok_or_else(|| field("canonicalizedBody"))?,
    })
}

impl Bundle {
    pub fn from_json(text: &str) -> Result<Self> {
        let raw: RawBundle =
            serde_json::from_str(text).map_err(|err| Error::BundleJson(err.to_string()))?;
        let version = match raw.media_type.as_str() {
            MEDIA_TYPE_V01 => BundleVersion::V01,
            MEDIA_TYPE_V02 => BundleVersion::V02,
            MEDIA_TYPE_V03 | MEDIA_TYPE_V03_LEGACY => BundleVersion::V03,
            _ => return Err(Error::BundleMediaType(raw.media_type)),
        };
        let m = raw.verification_material;
        let material = match (m.x509_certificate_chain, m.certificate, m.public_key) {
            (Some(_), None, None) if version == BundleVersion::V03 => {
                return Err(Error::CertificateChainInV03);
            }
            (Some(chain), None, None) => {
                if chain.certificates.is_empty() {
                    return Err(field("x509CertificateChain is empty"));
                }
                VerificationMaterial::Chain(
                    chain
                        .certificates
                        .iter()
                        .map(|c| certificate(c).map_err(|_| field("certificate")))
                        .collect::<Result<_>>()?,
                )
            }
            // `certificate` was introduced in v0.3 (protobuf-specs bundle.proto).
            (None, Some(cert), None) if version == BundleVersion::V03 => {
                VerificationMaterial::Certificate(
                    certificate(&cert).map_err(|_| field("certificate"))?,
                )
            }
            (None, Some(_), None) => return Err(field("certificate requires bundle v0.3")),
            (None, None, Some(key)) => VerificationMaterial::PublicKey { hint: key.hint },
            _ => return Err(field("exactly one of certificate, chain or public key")),
        };
        let tlog_entries = m
            .tlog_entries
            .into_iter()
            .map(entry)
            .collect::<Result<Vec<_>>>()?;
        for e in &tlog_entries {
            match version {
                BundleVersion::V01 if e.signed_entry_timestamp.is_none() => {
                    return Err(Error::MissingInclusionPromise);
                }
                BundleVersion::V02 | BundleVersion::V03 if e.inclusion_proof.is_none() => {
                    return Err(Error::MissingInclusionProof);
                }
                _ => {}
            }
        }
        let timestamps = m
            .timestamp_verification_data
            .map(|t| t.rfc3161_timestamps)
            .unwrap_or_default()
            .iter()
            .map(|t| b64_decode(&t.signed_timestamp).ok_or_else(|| field("signedTimestamp")))
            .collect::<Result<_>>()?;
        let content = match (raw.message_signature, raw.dsse_envelope) {
            (Some(sig), None) => Content::MessageSignature {
                digest: match sig.message_digest {
                    Some(d) => Some((
                        HashAlgorithm::from_proto_name(&d.algorithm)
                            .ok_or_else(|| field("messageDigest.algorithm"))?,
                        b64_decode(&d.digest).ok_or_else(|| field("messageDigest.digest"))?,
                    )),
                    None => None,
                },
                signature: b64_decode(&sig.signature)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| field("messageSignature.signature"))?,
            },
            (None, Some(envelope)) => Content::Dsse(Envelope::from_raw(envelope)?),
            _ => return Err(field("exactly one of messageSignature or dsseEnvelope")),
        };
        Ok(Self {
            version,
            material,
            tlog_entries,
            timestamps,
            content,
        })
    }

    /// The bundle as protobuf JSON, in the field order cosign and sigstore-go write.
    pub fn to_json(&self) -> Value {
        let der = |c: &X509| json!({ "rawBytes": b64(&c.to_der().unwrap_or_default()) });
        let mut material = serde_json::Map::new();
        match &self.material {
            VerificationMaterial::Certificate(c) => {
                material.insert("certificate".into(), der(c));
            }
            VerificationMaterial::Chain(chain) => {
                let certs: Vec<Value> = chain.iter().map(der).collect();
                material.insert(
                    "x509CertificateChain".into(),
                    json!({ "certificates": certs }),
                );
            }
            VerificationMaterial::PublicKey { hint } => {
                material.insert("publicKey".into(), json!({ "hint": hint }));
            }
        }
        // protojson leaves out empty repeated fields and empty messages; so do we.
        if !self.tlog_entries.is_empty() {
            let entries: Vec<Value> = self.tlog_entries.iter().map(entry_json).collect();
            material.insert("tlogEntries".into(), Value::Array(entries));
        }
        if !self.timestamps.is_empty() {
            let stamps: Vec<Value> = self
                .timestamps
                .iter()
                .map(|t| json!({ "signedTimestamp": b64(t) }))
                .collect();
            material.insert(
                "timestampVerificationData".into(),
                json!({ "rfc3161Timestamps": stamps }),
            );
        }
        let mut out = serde_json::Map::new();
        out.insert("mediaType".into(), json!(self.version.media_type()));
        out.insert("verificationMaterial".into(), Value::Object(material));
        match &self.content {
            Content::MessageSignature { digest, signature } => {
                let mut sig = serde_json::Map::new();
                if let Some((alg, digest)) = digest {
                    sig.insert(
                        "messageDigest".into(),
                        json!({ "algorithm": alg.proto_name(), "digest": b64(digest) }),
                    );
                }
                sig.insert("signature".into(), json!(b64(signature)));
                out.insert("messageSignature".into(), Value::Object(sig));
            }
            Content::Dsse(envelope) => {
                out.insert("dsseEnvelope".into(), envelope.to_json());
            }
        }
        Value::Object(out)
    }
}

fn entry_json(e: &TlogEntry) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("logIndex".into(), json!(e.log_index.to_string()));
    out.insert("logId".into(), json!({ "keyId": b64(&e.log_id) }));
    out.insert(
        "kindVersion".into(),
        json!({ "kind": e.kind, "version": e.version }),
    );
    if e.integrated_time != 0 {
        out.insert(
            "integratedTime".into(),
            json!(e.integrated_time.to_string()),
        );
    }
    if let Some(set) = &e.signed_entry_timestamp {
        out.insert(
            "inclusionPromise".into(),
            json!({ "signedEntryTimestamp": b64(set) }),
        );
    }
    if let Some(p) = &e.inclusion_proof {
        let hashes: Vec<String> = p.hashes.iter().map(|h| b64(h)).collect();
        out.insert(
            "inclusionProof".into(),
            json!({
                "logIndex": p.log_index.to_string(),
                "rootHash": b64(&p.root_hash),
                "treeSize": p.tree_size.to_string(),
                "hashes": hashes,
                "checkpoint": { "envelope": p.checkpoint },
            }),
        );
    }
    out.insert(
        "canonicalizedBody".into(),
        json!(b64(&e.canonicalized_body)),
    );
    Value::Object(out)
}
