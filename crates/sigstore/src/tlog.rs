//! Rekor log entries: the signed entry timestamp (inclusion promise), the Merkle inclusion
//! proof (RFC 6962 s2.1.1 / RFC 9162 s2.1.3.2, via immerse-merkle) with its checkpoint, and
//! Rekor v2 entries (no SET, no integrated time).
use crate::bundle::TlogEntry;
use crate::checkpoint::verify_checkpoint;
use crate::error::{Error, Result};
use crate::trust_root::{LogInstance, TrustedRoot};
use crate::util::b64;

/// What a verified entry proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    pub log_index: u64,
    pub log_url: String,
    /// The integrated time, when a verified SET vouches for it (Rekor v1).
    pub integrated_time: Option<i64>,
    /// Whether an inclusion proof against a signed checkpoint was verified.
    pub inclusion_proven: bool,
    /// Rekor v2 entry (kind version 0.0.2).
    pub rekor_v2: bool,
}

/// The payload Rekor signs for a SET: canonical JSON (RFC 8785: sorted keys, no whitespace)
/// of `{body, integratedTime, logID, logIndex}`, with `logID` in hex.
pub fn set_payload(entry: &TlogEntry) -> Vec<u8> {
    format!(
        "{{\"body\":\"{}\",\"integratedTime\":{},\"logID\":\"{}\",\"logIndex\":{}}}",
        b64(&entry.canonicalized_body),
        entry.integrated_time,
        hex::encode(&entry.log_id),
        entry.log_index
    )
    .into_bytes()
}

/// Rekor v2 entries are the 0.0.2 versions of hashedrekord and dsse.
pub(crate) fn is_rekor_v2(entry: &TlogEntry) -> bool {
    entry.version == "0.0.2" && matches!(entry.kind.as_str(), "hashedrekord" | "dsse")
}

pub(crate) fn find_log<'r>(root: &'r TrustedRoot, entry: &TlogEntry) -> Result<&'r LogInstance> {
    root.tlog(&entry.log_id)
        .ok_or_else(|| Error::UnknownLog(hex::encode(&entry.log_id)))
}

/// Verifies the SET and/or inclusion proof of `entry` (the body is checked elsewhere).
/// `timestamps` are the verified TSA times: a Rekor v2 entry has no time of its own, so its
/// log key must be valid at those.
pub(crate) fn verify_entry(
    root: &TrustedRoot,
    entry: &TlogEntry,
    timestamps: &[i64],
) -> Result<VerifiedEntry> {
    let log = find_log(root, entry)?;
    let rekor_v2 = is_rekor_v2(entry);
    if rekor_v2 && !timestamps.iter().all(|t| log.validity.contains(*t)) {
        return Err(Error::LogKeyNotValid);
    }
    let mut integrated_time = None;
    if let Some(set) = &entry.signed_entry_timestamp {
        if rekor_v2 {
            return Err(Error::BundleField("Rekor v2 entries carry no SET".into()));
        }
        if !log.validity.contains(entry.integrated_time) {
            return Err(Error::LogKeyNotValid);
        }
        if !log.key.verify(&set_payload(entry), set) {
            return Err(Error::SetSignature);
        }
        integrated_time = Some(entry.integrated_time);
    }
    let mut inclusion_proven = false;
    if let Some(proof) = &entry.inclusion_proof {
        let leaf = immerse_merkle::leaf_hash(&entry.canonicalized_body);
        immerse_merkle::verify_inclusion(
            &leaf,
            proof.log_index,
            proof.tree_size,
            &proof.hashes,
            &proof.root_hash,
        )?;
        let checkpoint = verify_checkpoint(&proof.checkpoint, &log.key, &log.base_url)?;
        if checkpoint.root_hash != proof.root_hash || checkpoint.tree_size != proof.tree_size {
            return Err(Error::CheckpointMismatch);
        }
        inclusion_proven = true;
    }
    if rekor_v2 && !inclusion_proven {
        return Err(Error::MissingInclusionProof);
    }
    if !inclusion_proven && integrated_time.is_none() {
        return Err(Error::MissingInclusionPromise);
    }
    Ok(VerifiedEntry {
        log_index: entry.log_index,
        log_url: log.base_url.clone(),
        integrated_time,
        inclusion_proven,
        rekor_v2,
    })
}
