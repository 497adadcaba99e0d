//! A Rekor-like log: keeps leaf hashes (immerse-merkle), signs SETs and checkpoints as
//! signed notes. A v1 log signs with ECDSA P-256; a v2 log (Rekor v2) with Ed25519.
use immerse_merkle::{Hash, inclusion_proof, leaf_hash, root};
use openssl::pkey::{PKey, Private};

use super::pki::{p256, public, sign};
use crate::bundle::{InclusionProof, TlogEntry};
use crate::checkpoint::{Checkpoint, note_key_id};
use crate::keys::VerificationKey;
use crate::tlog::set_payload;
use crate::util::b64;

pub(crate) struct TestLog {
    key: PKey<Private>,
    pub verification_key: VerificationKey,
    pub base_url: String,
    pub host: String,
    pub origin: String,
    pub log_id: [u8; 32],
    leaves: Vec<Hash>,
}

impl TestLog {
    pub fn new(host: &str, v2: bool) -> Self {
        let key = if v2 {
            PKey::generate_ed25519().expect("Ed25519 key")
        } else {
            p256()
        };
        let verification_key = VerificationKey::from_pkey(public(&key)).expect("log key");
        let log_id = if v2 {
            crate::checkpoint::note_key_hash(&verification_key, host)
        } else {
            verification_key.key_id()
        };
        Self {
            key,
            verification_key,
            base_url: format!("https://{host}"),
            host: host.to_owned(),
            // Rekor v1 origins are "<host> - <tree id>"; Rekor v2 origins are the host.
            origin: if v2 {
                host.to_owned()
            } else {
                format!("{host} - 4242")
            },
            log_id,
            leaves: Vec::new(),
        }
    }

    pub fn append(&mut self, body: &[u8]) -> u64 {
        self.leaves.push(leaf_hash(body));
        self.leaves.len() as u64 - 1
    }

    /// A signed note over `checkpoint`, signed by `key` (the log's unless tampering).
    pub fn sign_note(&self, checkpoint: &Checkpoint, key: Option<&PKey<Private>>) -> String {
        let text = checkpoint.to_text();
        let signature = sign(key.unwrap_or(&self.key), text.as_bytes());
        let mut blob = note_key_id(&self.verification_key, &self.host).to_vec();
        blob.extend(signature);
        format!("{text}\n\u{2014} {} {}\n", self.host, b64(&blob))
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            origin: self.origin.clone(),
            tree_size: self.leaves.len() as u64,
            root_hash: root(&self.leaves),
            extensions: Vec::new(),
        }
    }

    /// The inclusion proof of leaf `index` in the current tree, with its checkpoint (or the
    /// given one, for tampering).
    pub fn proof(&self, index: u64, checkpoint_note: Option<String>) -> InclusionProof {
        let checkpoint = self.checkpoint();
        InclusionProof {
            log_index: index,
            root_hash: checkpoint.root_hash,
            tree_size: checkpoint.tree_size,
            hashes: inclusion_proof(&self.leaves, index).expect("index in tree"),
            checkpoint: checkpoint_note.unwrap_or_else(|| self.sign_note(&checkpoint, None)),
        }
    }

    pub fn sign_set(&self, entry: &TlogEntry) -> Vec<u8> {
        sign(&self.key, &set_payload(entry))
    }
}
