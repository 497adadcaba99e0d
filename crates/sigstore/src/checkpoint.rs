//! Checkpoints (C2SP tlog-checkpoint) inside signed notes (C2SP signed-note).
//!
//! A note is text ending in a newline, a blank line, then signature lines
//! `— <key name> base64(key ID[4] || signature)`. The key ID is the first four bytes of
//! SHA-256 over, for Ed25519, `name || 0x0A || 0x01 || key` (signed-note s"Ed25519
//! signatures"), and for ECDSA the SHA-256 of the DER SPKI (type 0x02, as Rekor v1 and
//! transparency-dev witnesses compute it). Signatures from unknown keys are ignored; a known
//! key's signature that fails rejects the note; at least one known signature must verify.
use crate::error::{Error, Result};
use crate::keys::{KeyKind, VerificationKey};
use crate::util::{b64_decode, sha256};

/// Notes larger than this are refused before any parsing (signed-note: verifiers SHOULD
/// bound the size; 16 signatures of a few hundred bytes fit easily).
const MAX_NOTE_LEN: usize = 64 * 1024;
const MAX_SIGNATURES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    pub signature: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, including its final newline.
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// The body of a checkpoint (C2SP tlog-checkpoint): origin, size, root hash, extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    pub extensions: Vec<String>,
}

fn malformed(what: &str) -> Error {
    Error::CheckpointMalformed(what.into())
}

impl SignedNote {
    pub fn parse(note: &str) -> Result<Self> {
        if note.len() > MAX_NOTE_LEN {
            return Err(malformed("note too large"));
        }
        // signed-note: valid UTF-8 (guaranteed by &str) and no control characters but newline.
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(malformed("control character"));
        }
        // The text is separated from the signatures by the last blank line.
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| malformed("no blank line"))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        let lines = sigs
            .strip_suffix('\n')
            .ok_or_else(|| malformed("signature block must end in a newline"))?;
        let mut signatures = Vec::new();
        for line in lines.split('\n') {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| malformed("signature line"))?;
            let (name, sig) = rest
                .split_once(' ')
                .ok_or_else(|| malformed("signature line"))?;
            if name.is_empty() || name.contains('+') || sig.contains(' ') {
                return Err(malformed("key name"));
            }
            let bytes = b64_decode(sig).ok_or_else(|| malformed("signature base64"))?;
            if bytes.len() < 5 {
                return Err(malformed("signature too short"));
            }
            let (id, signature) = bytes.split_at(4);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: [id[0], id[1], id[2], id[3]],
                signature: signature.to_vec(),
            });
            if signatures.len() > MAX_SIGNATURES {
                return Err(malformed("too many signatures"));
            }
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Verifies that `key`, known under the key name `name`, signed this note. The name is
    /// not covered by an ECDSA key ID, so it is compared here: signed-note identifies a key
    /// by the pair (name, key ID), and a line naming another key is not this key's.
    pub fn verify(&self, key: &VerificationKey, name: &str) -> Result<()> {
        let mut verified = false;
        for sig in &self.signatures {
            if sig.name != name || sig.key_id != note_key_id(key, name) {
                continue; // a signature from another key: ignored (signed-note s"Signatures")
            }
            if !key.verify(self.text.as_bytes(), &sig.signature) {
                return Err(Error::CheckpointSignature);
            }
            verified = true;
        }
        if verified {
            Ok(())
        } else {
            Err(Error::CheckpointSignature)
        }
    }
}

/// The signed-note key ID of `key` under the key name `name`.
pub fn note_key_id(key: &VerificationKey, name: &str) -> [u8; 4] {
    let hash = note_key_hash(key, name);
    [hash[0], hash[1], hash[2], hash[3]]
}

/// The full hash the key ID is cut from: for Ed25519 SHA-256(name || 0x0A || 0x01 || key),
/// otherwise SHA-256 of the DER SPKI.
pub fn note_key_hash(key: &VerificationKey, name: &str) -> [u8; 32] {
    match key.kind() {
        KeyKind::Ed25519 => {
            let raw = key.pkey().raw_public_key().unwrap_or_default();
            let mut input = name.as_bytes().to_vec();
            input.extend_from_slice(&[0x0A, 0x01]);
            input.extend_from_slice(&raw);
            sha256(&input)
        }
        _ => key.key_id(),
    }
}

impl Checkpoint {
    pub fn parse(text: &str) -> Result<Self> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("text must end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty());
        let origin = origin.ok_or_else(|| malformed("origin"))?.to_owned();
        let size = lines.next().ok_or_else(|| malformed("tree size"))?;
        // tlog-checkpoint: ASCII decimal, no leading zeros.
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(malformed("tree size"));
        }
        let tree_size = size.parse().map_err(|_| malformed("tree size"))?;
        let root_hash = lines
            .next()
            .and_then(b64_decode)
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| malformed("root hash"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(malformed("empty extension line"));
        }
        Ok(Self {
            origin,
            tree_size,
            root_hash,
            extensions,
        })
    }

    /// The checkpoint text (what the log signs).
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            crate::util::b64(&self.root_hash)
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }
}

/// Parses and verifies a checkpoint signed by `key` under the log's name (the host of
/// `base_url`, as Rekor v1 and v2 sign), checks that it is that log's checkpoint (the
/// origin's first word is the host) and returns it.
pub fn verify_checkpoint(
    envelope: &str,
    key: &VerificationKey,
    base_url: &str,
) -> Result<Checkpoint> {
    let host = crate::trust_root::url_host(base_url);
    let note = SignedNote::parse(envelope)?;
    let checkpoint = Checkpoint::parse(&note.text)?;
    note.verify(key, host)?;
    let origin_host = checkpoint.origin.split(' ').next().unwrap_or_default();
    if !host.is_empty() && origin_host != host {
        return Err(malformed("origin is not this log's"));
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rekor_v1_checkpoint_shape() {
        let note = "rekor.sigstage.dev - 8050909264565447525\n25901179\nq0g3yMEVgKep9vgSfpTBZYld9mlsniTqXHzBAorxMtE=\n\n\u{2014} rekor.sigstage.dev 0y8wozBFAiAt/kYsQHQLeEo7R5UmNw7n7Mhn07ihpmFDC0zF1OfHSAIhAPCVUCdlUxnW7tz9Ob3IsX7e3St7pMwz32414GQZ6woa\n";
        let parsed = SignedNote::parse(note).unwrap();
        assert_eq!(parsed.signatures.len(), 1);
        assert_eq!(parsed.signatures[0].name, "rekor.sigstage.dev");
        let cp = Checkpoint::parse(&parsed.text).unwrap();
        assert_eq!(cp.tree_size, 25_901_179);
        assert_eq!(cp.to_text(), parsed.text);
    }

    #[test]
    fn malformed_notes_are_refused() {
        for bad in [
            "",
            "a\n1\nAAAA\n",
            "o\n1\nq0g3yMEVgKep9vgSfpTBZYld9mlsniTqXHzBAorxMtE=\n\n- x AAAAAAA=\n",
            "o\n1\nq0g3yMEVgKep9vgSfpTBZYld9mlsniTqXHzBAorxMtE=\n\n\u{2014} x AAAAAAA=",
            "o\n1\nq0g3\x07\n\n\u{2014} x AAAAAAA=\n",
        ] {
            assert!(SignedNote::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Checkpoint::parse("o\n01\nq0g3yMEVgKep9vgSfpTBZYld9mlsniTqXHzBAorxMtE=\n").is_err()
        );
    }
}
