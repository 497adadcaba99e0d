//! Verify SLSA provenance for artifacts (files), as `slsa-verifier verify-artifact` does, from
//! a provenance file in any of the forms builders publish:
//! - a Sigstore bundle (`.sigstore.json`, `.intoto.sigstore`);
//! - a bare DSSE envelope (key-signed; verifiable only with a key policy that accepts a
//!   missing log entry);
//! - `.intoto.jsonl`: one bundle or envelope per line (slsa-github-generator).
//!
//! Each envelope is verified once; each artifact must then be a subject of some verified
//! statement that satisfies the policy.

use immerse_sigstore::dsse::Envelope;
use immerse_sigstore::{Bundle, BundleVersion, Content, Policy, VerificationMaterial, Verifier};
use sha2::{Digest as _, Sha256};

use crate::chain_error::{RejectReason, Rejection, SupplyChainError};
use crate::image::{judge_statement, parse_bundle, statement_of};
use crate::statement::{IN_TOTO_PAYLOAD_TYPE, VerifiedStatement};
use crate::verify::{Digest, ProvenanceOptions, VerifiedProvenance};
use immerse_sigstore::VerifiedSigner;

/// Largest provenance file read (real ones are tens of KiB).
pub const MAX_PROVENANCE_FILE: usize = 16 * 1024 * 1024;

/// One envelope or bundle of a provenance file, or why it could not be read.
#[derive(Debug, Clone)]
pub struct ProvenanceEntry {
    /// `entry <n>`: the line (or the whole file) it came from.
    pub origin: String,
    pub bundle: Result<Bundle, RejectReason>,
}

/// A verified entry: its statement and signer, or why it was refused.
type Checked = Result<(VerifiedStatement, VerifiedSigner), RejectReason>;

/// Splits a provenance file into the bundles it holds, keeping a per-entry parse error.
pub fn parse_provenance_file(bytes: &[u8]) -> Result<Vec<ProvenanceEntry>, SupplyChainError> {
    if bytes.len() > MAX_PROVENANCE_FILE {
        return Err(SupplyChainError::ProvenanceFormat(format!(
            "larger than {MAX_PROVENANCE_FILE} bytes"
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| SupplyChainError::ProvenanceFormat("not UTF-8".into()))?;
    // A whole-file JSON document first (pretty-printed bundles span lines), else JSON lines.
    let entries: Vec<&str> = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        vec![text]
    } else {
        text.lines().filter(|l| !l.trim().is_empty()).collect()
    };
    if entries.is_empty() {
        return Err(SupplyChainError::ProvenanceFormat("empty".into()));
    }
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| ProvenanceEntry {
            origin: format!("entry {i}"),
            bundle: parse_entry(entry),
        })
        .collect())
}

fn parse_entry(text: &str) -> Result<Bundle, RejectReason> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| RejectReason::Malformed(format!("not JSON: {e}")))?;
    if value.get("mediaType").is_some() {
        return parse_bundle(text.as_bytes());
    }
    if value.get("payloadType").is_some() {
        let envelope = Envelope::from_json(text).map_err(RejectReason::Sigstore)?;
        // A bare envelope carries no certificate and no log entry: only a key can vouch.
        return Ok(Bundle {
            version: BundleVersion::V03,
            material: VerificationMaterial::PublicKey {
                hint: String::new(),
            },
            tlog_entries: Vec::new(),
            timestamps: Vec::new(),
            content: Content::Dsse(envelope),
        });
    }
    Err(RejectReason::Malformed(
        "neither a Sigstore bundle nor a DSSE envelope".into(),
    ))
}

/// Verifies `provenance` (file bytes) for every artifact; returns one verified provenance per
/// artifact, in order. `options.expected_digests` is replaced by each artifact's SHA-256.
pub fn verify_artifact_provenance(
    provenance: &[u8],
    artifacts: &[&[u8]],
    verifier: &Verifier,
    policy: &Policy,
    options: &ProvenanceOptions,
) -> Result<Vec<VerifiedProvenance>, SupplyChainError> {
    if artifacts.is_empty() {
        return Err(SupplyChainError::Input("no artifact to verify".into()));
    }
    let policy = policy.clone().with_payload_type(IN_TOTO_PAYLOAD_TYPE);
    // Verify every envelope once, whatever the number of artifacts.
    let verified: Vec<(String, Checked)> = parse_provenance_file(provenance)?
        .into_iter()
        .map(|ProvenanceEntry { origin, bundle }| {
            let checked = bundle.and_then(|b| {
                let v = verifier
                    .verify(&b, None, &policy)
                    .map_err(RejectReason::Sigstore)?;
                Ok((statement_of(&v)?, v.signer))
            });
            (origin, checked)
        })
        .collect();
    let mut out = Vec::with_capacity(artifacts.len());
    for artifact in artifacts {
        let hex = hex::encode(Sha256::digest(artifact));
        let mut options = options.clone();
        options.expected_digests = vec![Digest::sha256(&hex)?];
        let mut rejections = Vec::new();
        let mut found = None;
        for (origin, checked) in &verified {
            let judged = checked
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|(statement, signer)| judge_statement(statement, signer, &options));
            match judged {
                Ok(p) => {
                    found = Some(p);
                    break;
                }
                Err(reason) => rejections.push(Rejection {
                    origin: origin.clone(),
                    reason,
                }),
            }
        }
        match found {
            Some(p) => out.push(p),
            None => {
                return Err(SupplyChainError::NoValidProvenance {
                    subject: format!("sha256:{hex}"),
                    rejections,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENVELOPE: &str = r#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AAAA"}]}"#;

    #[test]
    fn provenance_files_in_each_form_are_split_into_entries() {
        // One envelope (the whole file), then the same as JSON lines with a bad line.
        let one = parse_provenance_file(ENVELOPE.as_bytes()).expect("envelope");
        assert_eq!(one.len(), 1);
        assert!(matches!(
            &one[0].bundle,
            Ok(Bundle {
                material: VerificationMaterial::PublicKey { .. },
                content: Content::Dsse(_),
                ..
            })
        ));
        let lines = format!("{ENVELOPE}\n\nnot json\n{{\"x\":1}}\n");
        let entries = parse_provenance_file(lines.as_bytes()).expect("jsonl");
        assert_eq!(entries.len(), 3, "blank lines are skipped");
        assert!(entries[0].bundle.is_ok());
        assert!(matches!(entries[1].bundle, Err(RejectReason::Malformed(_))));
        assert!(matches!(entries[2].bundle, Err(RejectReason::Malformed(_))));
        // A bundle is recognised by its media type and parsed strictly.
        let bundle = parse_provenance_file(br#"{"mediaType":"text/plain"}"#).expect("file");
        assert!(matches!(bundle[0].bundle, Err(RejectReason::Sigstore(_))));
    }

    #[test]
    fn empty_binary_and_oversized_files_are_refused() {
        for bad in [&b""[..], b"\n\n", b"\xff\xfe"] {
            assert!(
                matches!(
                    parse_provenance_file(bad),
                    Err(SupplyChainError::ProvenanceFormat(_))
                ),
                "{bad:?}"
            );
        }
        let huge = vec![b' '; MAX_PROVENANCE_FILE + 1];
        assert!(matches!(
            parse_provenance_file(&huge),
            Err(SupplyChainError::ProvenanceFormat(_))
        ));
    }
}
