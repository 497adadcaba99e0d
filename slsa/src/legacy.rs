//! cosign's legacy annotations (`.sig`/`.att` layers) to and from a Sigstore [`Bundle`], so
//! that one verifier (`immerse-sigstore`) checks both storage schemes the same way.
//!
//! The annotations (sigstore/cosign `pkg/oci/static`, `pkg/cosign/bundle`):
//! - `dev.cosignproject.cosign/signature`: base64 of the signature over the layer (for `.att`
//!   it is empty, the signature lives in the DSSE envelope);
//! - `dev.sigstore.cosign/certificate` / `chain`: PEM leaf and PEM chain;
//! - `dev.sigstore.cosign/bundle`: the "Rekor bundle", `{"SignedEntryTimestamp": b64,
//!   "Payload": {"body": b64, "integratedTime", "logIndex", "logID": hex}}`, which is exactly
//!   a v0.1 bundle's log entry with its inclusion promise and no proof;
//! - `dev.sigstore.cosign/rfc3161timestamp`: `{"SignedRFC3161Timestamp": b64}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use immerse_oci::cosign::{
    ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN, ANNOTATION_RFC3161_TIMESTAMP,
    StoredSignature,
};
use immerse_sigstore::{Bundle, BundleVersion, Content, TlogEntry, VerificationMaterial};
use openssl::x509::X509;
use serde::{Deserialize, Serialize};

use crate::chain_error::RejectReason;

#[derive(Serialize, Deserialize)]
struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: RekorPayload,
}

// Field order is cosign's (`bundle.RekorPayload`), so what we write reads like what it writes.
#[derive(Serialize, Deserialize)]
struct RekorPayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: u64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
struct Rfc3161 {
    #[serde(rename = "SignedRFC3161Timestamp")]
    signed: String,
}

#[derive(Deserialize)]
struct BodyKind {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
}

fn malformed(what: impl Into<String>) -> RejectReason {
    RejectReason::Malformed(what.into())
}

fn b64(text: &str, what: &str) -> Result<Vec<u8>, RejectReason> {
    STANDARD
        .decode(text)
        .map_err(|_| malformed(format!("{what} is not base64")))
}

/// The bundle a legacy layer amounts to: its certificate (or none: a key signature), its
/// Rekor entry and timestamp when present, and `content` (the signature over the layer).
pub(crate) fn bundle_from_layer(
    stored: &StoredSignature,
    content: Content,
) -> Result<Bundle, RejectReason> {
    let material = match stored.annotation(ANNOTATION_CERTIFICATE) {
        Some(pem) if !pem.trim().is_empty() => {
            let leaf = X509::from_pem(pem.as_bytes())
                .map_err(|_| malformed("certificate annotation is not a PEM certificate"))?;
            let mut chain = vec![leaf];
            if let Some(pem) = stored.annotation(ANNOTATION_CHAIN)
                && !pem.trim().is_empty()
            {
                // Only the leaf is trusted for anything; the chain is checked against the
                // trusted root's CAs, never taken from here.
                chain.extend(
                    X509::stack_from_pem(pem.as_bytes())
                        .map_err(|_| malformed("chain annotation is not PEM certificates"))?,
                );
            }
            VerificationMaterial::Chain(chain)
        }
        // No certificate: a key signature; the verifier brings the key.
        _ => VerificationMaterial::PublicKey {
            hint: String::new(),
        },
    };
    let mut tlog_entries = Vec::new();
    if let Some(text) = stored.annotation(ANNOTATION_BUNDLE) {
        tlog_entries.push(tlog_entry(text)?);
    }
    let mut timestamps = Vec::new();
    if let Some(text) = stored.annotation(ANNOTATION_RFC3161_TIMESTAMP) {
        let ts: Rfc3161 = serde_json::from_str(text)
            .map_err(|e| malformed(format!("rfc3161timestamp annotation: {e}")))?;
        timestamps.push(b64(&ts.signed, "SignedRFC3161Timestamp")?);
    }
    Ok(Bundle {
        // A legacy entry carries a promise (SET) and no proof: the v0.1 rules.
        version: BundleVersion::V01,
        material,
        tlog_entries,
        timestamps,
        content,
    })
}

fn tlog_entry(text: &str) -> Result<TlogEntry, RejectReason> {
    let rekor: RekorBundle =
        serde_json::from_str(text).map_err(|e| malformed(format!("bundle annotation: {e}")))?;
    let body = b64(&rekor.payload.body, "Rekor body")?;
    // The kind and version the body declares; the sigstore crate checks the body against the
    // signature, and the SET covers the body, so nothing here is taken on trust.
    let kind: BodyKind =
        serde_json::from_slice(&body).map_err(|e| malformed(format!("Rekor body: {e}")))?;
    Ok(TlogEntry {
        log_index: rekor.payload.log_index,
        log_id: hex::decode(&rekor.payload.log_id)
            .map_err(|_| malformed("Rekor logID is not hex"))?,
        kind: kind.kind,
        version: kind.api_version,
        integrated_time: rekor.payload.integrated_time,
        signed_entry_timestamp: Some(b64(&rekor.signed_entry_timestamp, "SignedEntryTimestamp")?),
        inclusion_proof: None,
        canonicalized_body: body,
    })
}

/// The legacy annotations that carry a bundle's verification material.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyMaterial {
    pub certificate: Option<String>,
    pub chain: Option<String>,
    pub rekor_bundle: Option<String>,
}

/// What cosign would put in a `.sig`/`.att` layer's annotations for `bundle`'s material: the
/// PEM certificate and chain, and the first log entry that has a SET as a Rekor bundle.
pub fn legacy_material(bundle: &Bundle) -> LegacyMaterial {
    let pem = |c: &X509| {
        c.to_pem()
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .unwrap_or_default()
    };
    let (certificate, chain) = match &bundle.material {
        VerificationMaterial::Certificate(leaf) => (Some(pem(leaf)), None),
        VerificationMaterial::Chain(chain) => {
            let rest: String = chain.iter().skip(1).map(pem).collect();
            (chain.first().map(pem), (!rest.is_empty()).then_some(rest))
        }
        VerificationMaterial::PublicKey { .. } => (None, None),
    };
    let rekor_bundle = bundle.tlog_entries.iter().find_map(|e| {
        let set = e.signed_entry_timestamp.as_ref()?;
        serde_json::to_string(&RekorBundle {
            signed_entry_timestamp: STANDARD.encode(set),
            payload: RekorPayload {
                body: STANDARD.encode(&e.canonicalized_body),
                integrated_time: e.integrated_time,
                log_index: e.log_index,
                log_id: hex::encode(&e.log_id),
            },
        })
        .ok()
    });
    LegacyMaterial {
        certificate,
        chain,
        rekor_bundle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use immerse_oci::cosign::{ANNOTATION_SIGNATURE, Scheme};
    use immerse_oci::manifest::Annotations;
    use immerse_sigstore::testing::{BundleOptions, TestInstance};
    use immerse_sigstore::{Artifact, Policy};

    fn stored(payload: &[u8], annotations: &[(&str, String)]) -> StoredSignature {
        let annotations: Annotations = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        StoredSignature {
            scheme: Scheme::LegacyTag("t.sig".into()),
            manifest_digest: immerse_oci::Digest::of(b"m"),
            media_type: immerse_oci::cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
            payload: payload.to_vec(),
            annotations,
            manifest_annotations: Annotations::new(),
        }
    }

    fn signature(bundle: &Bundle) -> Vec<u8> {
        match &bundle.content {
            Content::MessageSignature { signature, .. } => signature.clone(),
            Content::Dsse(_) => panic!("a message signature"),
        }
    }

    #[test]
    fn legacy_annotations_round_trip_into_a_verifiable_bundle() {
        let mut sigstore = TestInstance::new();
        let payload = b"simple signing payload";
        let bundle = sigstore.sign_blob(payload, &BundleOptions::version(BundleVersion::V01));
        let m = legacy_material(&bundle);
        let layer = stored(
            payload,
            &[
                (ANNOTATION_SIGNATURE, STANDARD.encode(signature(&bundle))),
                (ANNOTATION_CERTIFICATE, m.certificate.expect("certificate")),
                (ANNOTATION_BUNDLE, m.rekor_bundle.expect("Rekor bundle")),
            ],
        );
        let rebuilt = bundle_from_layer(
            &layer,
            Content::MessageSignature {
                digest: None,
                signature: signature(&bundle),
            },
        )
        .expect("rebuilt");
        assert_eq!(
            rebuilt.tlog_entries,
            bundle.tlog_entries[..1]
                .iter()
                .map(|e| TlogEntry {
                    inclusion_proof: None,
                    ..e.clone()
                })
                .collect::<Vec<_>>()
        );
        sigstore
            .verifier()
            .verify(
                &rebuilt,
                Some(Artifact::Bytes(payload)),
                &Policy::identity(sigstore.identity_policy()),
            )
            .expect("verifies");
    }

    #[test]
    fn malformed_annotations_are_refused_not_ignored() {
        let content = || Content::MessageSignature {
            digest: None,
            signature: vec![1],
        };
        for (key, value) in [
            (
                ANNOTATION_CERTIFICATE,
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ),
            (ANNOTATION_BUNDLE, r#"{"SignedEntryTimestamp":"MEUC"}"#),
            (
                ANNOTATION_BUNDLE,
                r#"{"SignedEntryTimestamp":"!","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}"#,
            ),
            (
                ANNOTATION_RFC3161_TIMESTAMP,
                r#"{"SignedRFC3161Timestamp":1}"#,
            ),
        ] {
            let layer = stored(b"p", &[(key, value.to_owned())]);
            assert!(
                matches!(
                    bundle_from_layer(&layer, content()),
                    Err(RejectReason::Malformed(_))
                ),
                "{key}: {value}"
            );
        }
        // No certificate: a key signature, the verifier brings the key.
        let bundle = bundle_from_layer(&stored(b"p", &[]), content()).expect("key bundle");
        assert!(matches!(
            bundle.material,
            VerificationMaterial::PublicKey { .. }
        ));
        assert!(bundle.tlog_entries.is_empty());
    }
}
