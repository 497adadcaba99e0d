//! RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing and proofs.
//!
//! The tree is the one of RFC 9162 s2.1 (identical to RFC 6962 s2.1, so the
//! same code checks Sigstore/Rekor proofs): SHA-256, a leaf hashed as
//! `HASH(0x00 || leaf)`, an interior node as `HASH(0x01 || left || right)`,
//! and a tree of `n > 1` leaves split at `k`, the largest power of two
//! smaller than `n`.
//!
//! - [`leaf_hash`], [`node_hash`], [`empty_root`], [`root`]: the Merkle Tree
//!   Hash `MTH` (s2.1.1).
//! - [`inclusion_proof`] / [`verify_inclusion`]: `PATH(m, D_n)` (s2.1.3.1) and
//!   the verification algorithm of s2.1.3.2.
//! - [`consistency_proof`] / [`verify_consistency`]: `PROOF(m, D_n)` /
//!   `SUBPROOF` (s2.1.4.1) and the verification algorithm of s2.1.4.2.
//!
//! Generation works over a slice of leaf hashes already in memory (O(n) hashes
//! per proof); it is meant for the log server and for tests. Verification is
//! O(log n), needs no tree, and is what clients run offline.
//!
//! Architecture invariant: this crate is pure. No I/O, no allocation beyond
//! the returned proof, and no panic on any input: every size and index
//! arrives from outside and is checked, shifts are bounded, and a proof of
//! the wrong length is refused before any hashing.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use sha2::{Digest, Sha256};

mod consistency;
mod inclusion;
#[cfg(test)]
mod tests;

pub use consistency::{consistency_proof, verify_consistency};
pub use inclusion::{inclusion_proof, verify_inclusion};

/// A SHA-256 output: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Why a proof could not be generated or did not verify.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MerkleError {
    /// The leaf index is not below the tree size (RFC 9162 s2.1.3.2 step 1).
    #[error("leaf index {index} is out of range for a tree of size {tree_size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The size of the tree it was requested in.
        tree_size: u64,
    },
    /// The old tree is larger than the new one: a log never shrinks.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    InvalidSizes {
        /// Size of the earlier tree.
        old_size: u64,
        /// Size of the later tree.
        new_size: u64,
    },
    /// The proof does not have the number of hashes the sizes and index
    /// determine; it is refused before any hashing.
    #[error("proof has {found} hashes, but {expected} are required")]
    ProofLength {
        /// The number of hashes the tree shape requires.
        expected: usize,
        /// The number of hashes supplied.
        found: usize,
    },
    /// An inclusion proof leads to a root other than the expected one
    /// (RFC 9162 s2.1.3.2 step 5).
    #[error("inclusion proof does not lead to the expected root")]
    RootMismatch,
    /// A consistency proof does not reproduce the old root (RFC 9162
    /// s2.1.4.2 step 7, `fr`), or an old tree of size 0 was given a root other
    /// than [`empty_root`].
    #[error("consistency proof does not reproduce the old root")]
    OldRootMismatch,
    /// A consistency proof does not reproduce the new root (RFC 9162
    /// s2.1.4.2 step 7, `sr`), or two trees of equal size have different
    /// roots.
    #[error("consistency proof does not reproduce the new root")]
    NewRootMismatch,
}

/// The hash of a leaf: `HASH(0x00 || leaf)` (RFC 9162 s2.1.1).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(leaf);
    hasher.finalize().into()
}

/// The hash of an interior node: `HASH(0x01 || left || right)`
/// (RFC 9162 s2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: `MTH({}) = HASH()`, the SHA-256 of the empty
/// string (RFC 9162 s2.1.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The Merkle Tree Hash `MTH(D_n)` (RFC 9162 s2.1.1) over leaves that are
/// already hashed with [`leaf_hash`].
///
/// `MTH({}) = HASH()`, `MTH({d0}) = leaf hash of d0`, and for `n > 1`
/// `MTH(D_n) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))` with `k` the largest
/// power of two smaller than `n`. Each leaf and node is hashed once (O(n));
/// the recursion is at most 64 deep.
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let (left, right) = leaf_hashes.split_at(split_point(leaf_hashes.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// `k`, the largest power of two smaller than `n` (RFC 9162 s2.1.1); callers
/// guarantee `n > 1`, so `n - 1 >= 1` and `ilog2` cannot panic.
fn split_point(n: usize) -> usize {
    1 << (n - 1).ilog2()
}

/// The size of the tree over `leaf_hashes`. `usize` is at most 64 bits on
/// every target Rust supports, so the conversion is lossless.
fn tree_size(leaf_hashes: &[Hash]) -> u64 {
    leaf_hashes.len() as u64
}

/// `LSB(x)` of RFC 9162 s2.1.3.2 and s2.1.4.2: whether the least significant
/// bit is set.
fn lsb(x: u64) -> bool {
    x & 1 == 1
}

/// Bit length of `x` (0 for 0): the position of the highest set bit plus one.
fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}
