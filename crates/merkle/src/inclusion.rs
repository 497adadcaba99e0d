//! Merkle inclusion proofs (RFC 9162 s2.1.3).

use crate::{Hash, MerkleError, bit_len, lsb, node_hash, root, split_point, tree_size};

/// The inclusion proof `PATH(m, D_n)` (RFC 9162 s2.1.3.1) for the leaf at
/// `index` of the tree over `leaf_hashes`, ordered from the leaf's sibling up
/// to the child of the root.
///
/// # Errors
///
/// [`MerkleError::IndexOutOfRange`] if `index >= leaf_hashes.len()`.
pub fn inclusion_proof(leaf_hashes: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let m = usize::try_from(index)
        .ok()
        .filter(|&m| m < leaf_hashes.len())
        .ok_or(MerkleError::IndexOutOfRange {
            index,
            tree_size: tree_size(leaf_hashes),
        })?;
    let mut proof = Vec::with_capacity(inclusion_proof_len(index, tree_size(leaf_hashes)));
    path(m, leaf_hashes, &mut proof);
    Ok(proof)
}

/// `PATH(m, D_n)`, appended to `out` (RFC 9162 s2.1.3.1). Requires `m < n`.
fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    // PATH(0, {d(0)}) = {}
    if d.len() <= 1 {
        return;
    }
    let k = split_point(d.len());
    let (left, right) = d.split_at(k);
    if m < k {
        // PATH(m, D_n) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k
        path(m, left, out);
        out.push(root(right));
    } else {
        // PATH(m, D_n) = PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k
        path(m - k, right, out);
        out.push(root(left));
    }
}

/// The number of hashes in `PATH(index, D_tree_size)`, for `index < tree_size`.
///
/// The path first climbs the levels where `index` and `tree_size - 1` still
/// differ (`inner`: every such level has a sibling), then the levels of the
/// right border where `index` is a right child (`border`: the set bits left
/// above `inner`). This is the number of values the s2.1.3.2 walk consumes
/// before `sn` reaches 0.
pub(crate) fn inclusion_proof_len(index: u64, tree_size: u64) -> usize {
    let inner = bit_len(index ^ (tree_size - 1));
    // `inner` may be 64; `checked_shr` keeps that shift from overflowing.
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Verifies that `leaf_hash` is the leaf at `index` of the tree of size
/// `tree_size` whose root is `root`, following RFC 9162 s2.1.3.2.
///
/// # Errors
///
/// - [`MerkleError::IndexOutOfRange`] if `index >= tree_size` (step 1; this
///   includes every index in the empty tree).
/// - [`MerkleError::ProofLength`] if `proof` does not have exactly the number
///   of hashes `(index, tree_size)` requires.
/// - [`MerkleError::RootMismatch`] if the proof leads to another root.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    // 1. If leaf_index is greater than or equal to tree_size, fail.
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange { index, tree_size });
    }
    // Refuse a proof of the wrong length up front rather than by a root
    // mismatch at the end; steps 4a and 5 below then never fire, but stay as
    // the RFC writes them.
    let expected = inclusion_proof_len(index, tree_size);
    let wrong_length = MerkleError::ProofLength {
        expected,
        found: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }

    // 2. Set fn to leaf_index and sn to tree_size - 1.
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    // 3. Set r to hash.
    let mut r = *leaf_hash;
    // 4. For each value p in the inclusion_path array:
    for p in proof {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if s_n == 0 {
            return Err(wrong_length);
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if lsb(f_n) || f_n == s_n {
            // i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, &r);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn
            //     equally until either LSB(fn) is set or fn is 0.
            while !lsb(f_n) && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            // Otherwise: i. Set r to HASH(0x01 || r || p).
            r = node_hash(&r, p);
        }
        // c. Finally, right-shift both fn and sn one time.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5. Compare sn to 0. Compare r against the root_hash.
    if s_n != 0 {
        return Err(wrong_length);
    }
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}
