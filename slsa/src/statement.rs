//! The in-toto Statement layer (in-toto attestation framework, spec/v1/statement.md) and its
//! field types: ResourceDescriptor (spec/v1/resource_descriptor.md) and DigestSet
//! (spec/v1/digest_set.md). Untrusted payload bytes become a [`VerifiedStatement`] here, or an
//! error; nothing else in the crate reads raw JSON.

use crate::error::SlsaError;
use crate::json::parse_strict;
use crate::provenance::{ProvenanceV1, ProvenanceV02};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The DSSE payloadType of an in-toto statement (spec/v1/envelope.md). The predicate-specific
/// form `application/vnd.in-toto.<predicate>+json` is refused: Cosign and Sigstore sign this one,
/// and accepting a second spelling buys nothing but a wider surface.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `_type` of Statement v0.1, still produced by slsa-github-generator and npm.
pub const STATEMENT_V0_1: &str = "https://in-toto.io/Statement/v0.1";
/// `predicateType` of SLSA Provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// `predicateType` of SLSA Provenance v0.2.
pub const SLSA_PROVENANCE_V0_2: &str = "https://slsa.dev/provenance/v0.2";
/// Largest payload parsed. Real provenance (with a full GitHub event payload) is tens of KiB.
pub const MAX_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;

/// Which Statement schema the payload declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementType {
    V1,
    V0_1,
}

impl StatementType {
    pub fn as_str(self) -> &'static str {
        match self {
            StatementType::V1 => STATEMENT_V1,
            StatementType::V0_1 => STATEMENT_V0_1,
        }
    }
}

/// The predicate, typed by its `predicateType`.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    SlsaV1(ProvenanceV1),
    SlsaV02(ProvenanceV02),
}

impl Predicate {
    pub fn predicate_type(&self) -> &'static str {
        match self {
            Predicate::SlsaV1(_) => SLSA_PROVENANCE_V1,
            Predicate::SlsaV02(_) => SLSA_PROVENANCE_V0_2,
        }
    }

    /// `runDetails.builder.id` (v1) or `builder.id` (v0.2).
    pub fn builder_id(&self) -> &str {
        match self {
            Predicate::SlsaV1(p) => &p.run_details.builder.id,
            Predicate::SlsaV02(p) => &p.builder.id,
        }
    }

    /// `buildDefinition.buildType` (v1) or `buildType` (v0.2).
    pub fn build_type(&self) -> &str {
        match self {
            Predicate::SlsaV1(p) => &p.build_definition.build_type,
            Predicate::SlsaV02(p) => &p.build_type,
        }
    }
}

/// A statement parsed from the payload of a DSSE envelope whose signature the caller (the
/// sigstore crate) has already verified. Only SLSA provenance predicates are accepted, because
/// judging provenance is all this crate does.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedStatement {
    statement_type: StatementType,
    subject: Vec<ResourceDescriptor>,
    predicate: Predicate,
}

impl VerifiedStatement {
    /// Parse the verified DSSE payload. Order of checks: payloadType, size, strict JSON (no
    /// duplicate members), `_type`, `predicateType`, `subject`, `predicate`. Unrecognised
    /// members are ignored (spec/v1/README.md, parsing rules: consumers MUST ignore them).
    pub fn parse(payload_type: &str, payload: &[u8]) -> Result<Self, SlsaError> {
        if payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(SlsaError::PayloadType {
                expected: IN_TOTO_PAYLOAD_TYPE,
                found: payload_type.to_owned(),
            });
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(SlsaError::PayloadTooLarge {
                size: payload.len(),
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let value =
            parse_strict(payload).map_err(|e| SlsaError::MalformedStatement(e.to_string()))?;
        let Value::Object(mut object) = value else {
            return Err(SlsaError::MalformedStatement("not a JSON object".into()));
        };

        let statement_type = match take_string(&mut object, "_type")?.as_str() {
            STATEMENT_V1 => StatementType::V1,
            STATEMENT_V0_1 => StatementType::V0_1,
            other => return Err(SlsaError::UnknownStatementType(other.to_owned())),
        };
        let predicate_type = take_string(&mut object, "predicateType")?;
        if predicate_type != SLSA_PROVENANCE_V1 && predicate_type != SLSA_PROVENANCE_V0_2 {
            return Err(SlsaError::UnknownPredicateType(predicate_type));
        }

        // Statement v1: `subject` is required and each element MUST have `digest` set.
        let subject_value = object
            .remove("subject")
            .ok_or_else(|| SlsaError::MalformedStatement("missing subject".into()))?;
        let subject: Vec<ResourceDescriptor> = serde_json::from_value(subject_value)
            .map_err(|e| SlsaError::MalformedStatement(format!("subject: {e}")))?;
        if subject.is_empty() {
            return Err(SlsaError::MalformedStatement("subject is empty".into()));
        }
        for (i, s) in subject.iter().enumerate() {
            if s.digest.is_empty() {
                return Err(SlsaError::InvalidResourceDescriptor {
                    field: format!("subject[{i}].digest"),
                    reason: "a subject MUST have a digest".into(),
                });
            }
        }

        // `predicate` is optional in the Statement, but both SLSA predicates have required
        // members, so an absent or null predicate fails their parse below.
        let predicate_value = object.remove("predicate").unwrap_or(Value::Null);
        let predicate = if predicate_type == SLSA_PROVENANCE_V1 {
            let p: ProvenanceV1 = serde_json::from_value(predicate_value)
                .map_err(|e| SlsaError::MalformedPredicate(e.to_string()))?;
            p.validate()?;
            Predicate::SlsaV1(p)
        } else {
            let p: ProvenanceV02 = serde_json::from_value(predicate_value)
                .map_err(|e| SlsaError::MalformedPredicate(e.to_string()))?;
            p.validate()?;
            Predicate::SlsaV02(p)
        };

        Ok(VerifiedStatement {
            statement_type,
            subject,
            predicate,
        })
    }

    pub fn statement_type(&self) -> StatementType {
        self.statement_type
    }
    pub fn subject(&self) -> &[ResourceDescriptor] {
        &self.subject
    }
    pub fn predicate(&self) -> &Predicate {
        &self.predicate
    }
}

fn take_string(object: &mut Map<String, Value>, key: &str) -> Result<String, SlsaError> {
    match object.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(SlsaError::MalformedStatement(format!(
            "{key} is not a string"
        ))),
        None => Err(SlsaError::MalformedStatement(format!("missing {key}"))),
    }
}

/// ResourceDescriptor (spec/v1/resource_descriptor.md). Also used for v0.2 materials-like
/// references when generating. At least one of `uri`, `digest`, `content` MUST be set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawDescriptor")]
pub struct ResourceDescriptor {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "DigestSet::is_empty")]
    pub digest: DigestSet,
    /// Base64 of the resource's bytes (validated as base64 when parsed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    digest: Option<DigestSet>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    download_location: Option<String>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    annotations: Option<Map<String, Value>>,
}

impl TryFrom<RawDescriptor> for ResourceDescriptor {
    type Error = String;
    fn try_from(raw: RawDescriptor) -> Result<Self, String> {
        let digest = raw.digest.unwrap_or_default();
        if raw.uri.is_none() && digest.is_empty() && raw.content.is_none() {
            return Err("resource descriptor needs one of uri, digest, content".into());
        }
        if let Some(content) = &raw.content {
            base64::engine::general_purpose::STANDARD
                .decode(content)
                .map_err(|e| format!("content is not base64: {e}"))?;
        }
        Ok(ResourceDescriptor {
            name: raw.name,
            uri: raw.uri,
            digest,
            content: raw.content,
            download_location: raw.download_location,
            media_type: raw.media_type,
            annotations: raw.annotations,
        })
    }
}

/// DigestSet (spec/v1/digest_set.md): algorithm name to digest. Values of the standard
/// algorithms this crate knows must be lowercase hex of the algorithm's length; other
/// algorithms are kept but never used for matching (consumers MUST ignore unaccepted ones).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct DigestSet(BTreeMap<String, String>);

impl DigestSet {
    pub fn new() -> Self {
        DigestSet(BTreeMap::new())
    }
    /// Insert after the same validation the parser applies.
    pub fn insert(&mut self, algorithm: &str, value: &str) -> Result<(), SlsaError> {
        check_digest_value(algorithm, value).map_err(|reason| {
            SlsaError::InvalidExpectedDigest {
                algorithm: algorithm.to_owned(),
                value: value.to_owned(),
                reason,
            }
        })?;
        self.0.insert(algorithm.to_owned(), value.to_owned());
        Ok(())
    }
    pub fn get(&self, algorithm: &str) -> Option<&str> {
        self.0.get(algorithm).map(String::as_str)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl TryFrom<BTreeMap<String, String>> for DigestSet {
    type Error = String;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, String> {
        for (algorithm, value) in &map {
            check_digest_value(algorithm, value)
                .map_err(|reason| format!("digest {algorithm}: {reason}"))?;
        }
        Ok(DigestSet(map))
    }
}

impl From<DigestSet> for BTreeMap<String, String> {
    fn from(set: DigestSet) -> Self {
        set.0
    }
}

/// Hex length of the standard algorithms we check (spec/v1/digest_set.md: lowercase hex).
fn expected_hex_len(algorithm: &str) -> Option<&'static [usize]> {
    match algorithm {
        "sha256" | "sha512_256" | "sha3_256" => Some(&[64]),
        "sha384" | "sha3_384" => Some(&[96]),
        "sha512" | "sha3_512" => Some(&[128]),
        "sha1" => Some(&[40]),
        // Git object ids are SHA-1 or SHA-256.
        "gitCommit" | "gitTree" | "gitBlob" | "gitTag" => Some(&[40, 64]),
        _ => None,
    }
}

pub(crate) fn check_digest_value(algorithm: &str, value: &str) -> Result<(), &'static str> {
    if algorithm.is_empty() {
        return Err("empty algorithm name");
    }
    if value.is_empty() {
        return Err("empty digest");
    }
    if let Some(lengths) = expected_hex_len(algorithm) {
        if !lengths.contains(&value.len()) {
            return Err("wrong length for the algorithm");
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("not lowercase hex");
        }
    }
    Ok(())
}
