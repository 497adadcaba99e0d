//! Merkle consistency proofs (RFC 9162 s2.1.4).
//!
//! RFC 9162 defines `PROOF(m, D_n)` (s2.1.4.1) and its verification
//! (s2.1.4.2) for `0 < m < n` only. Two cases outside that range are still
//! well defined, and a log client meets both, so this module settles them the
//! way transparency-dev/merkle and Sigsum do:
//!
//! - `m == n`: there is nothing to prove; the proof is empty and the two roots
//!   must be equal.
//! - `m == 0`: the empty tree, whose root is `MTH({}) = HASH()` (s2.1.1), is a
//!   prefix of every tree; the proof is empty, and the old root must be
//!   [`empty_root`](crate::empty_root) (a stricter check than
//!   transparency-dev's, which ignores the old root).

use crate::{Hash, MerkleError, bit_len, empty_root, lsb, node_hash, root, split_point, tree_size};

/// The consistency proof `PROOF(old_size, D_n)` (RFC 9162 s2.1.4.1) from the
/// tree of the first `old_size` leaves to the tree over all of `leaf_hashes`.
///
/// The proof is empty when `old_size` is 0 or equals `leaf_hashes.len()` (see
/// the module documentation).
///
/// # Errors
///
/// [`MerkleError::InvalidSizes`] if `old_size > leaf_hashes.len()`.
pub fn consistency_proof(leaf_hashes: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let new_size = tree_size(leaf_hashes);
    if old_size > new_size {
        return Err(MerkleError::InvalidSizes { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // old_size < leaf_hashes.len(), so it fits in usize.
    let m = old_size as usize;
    let mut proof = Vec::with_capacity(consistency_proof_len(old_size, new_size));
    // PROOF(m, D_n) = SUBPROOF(m, D_n, true)
    subproof(m, leaf_hashes, true, &mut proof);
    Ok(proof)
}

/// `SUBPROOF(m, D_n, b)`, appended to `out` (RFC 9162 s2.1.4.1). Requires
/// `0 < m <= n`.
fn subproof(m: usize, d: &[Hash], b: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        // SUBPROOF(m, D[m], true) = {}
        // SUBPROOF(m, D[m], false) = {MTH(D[m])}
        if !b {
            out.push(root(d));
        }
        return;
    }
    // For m < n, let k be the largest power of two smaller than n (n >= 2
    // because 0 < m < n).
    let k = split_point(n);
    let (left, right) = d.split_at(k);
    if m <= k {
        // SUBPROOF(m, D_n, b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
        subproof(m, left, b, out);
        out.push(root(right));
    } else {
        // SUBPROOF(m, D_n, b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
        subproof(m - k, right, false, out);
        out.push(root(left));
    }
}

/// The number of hashes in `PROOF(old_size, D_new_size)`, for
/// `0 < old_size < new_size`.
///
/// Above the largest complete subtree the old tree ends with (of size
/// `2^shift`), the proof follows the inclusion path of leaf `old_size - 1`
/// (see [`inclusion_proof_len`](crate::inclusion::inclusion_proof_len)); it
/// also carries that subtree's hash unless the subtree is the whole old tree,
/// which the verifier already knows (s2.1.4.2 step 2).
pub(crate) fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    let last = old_size - 1;
    let inner = bit_len(last ^ (new_size - 1));
    // `inner` may be 64; `checked_shr` keeps that shift from overflowing.
    let border = last.checked_shr(inner).unwrap_or(0).count_ones();
    // The low `shift` bits of `last` are all ones; as `new_size - 1 > last`,
    // the two differ above them, so `inner > shift`.
    let shift = old_size.trailing_zeros();
    let seed = usize::from(!old_size.is_power_of_two());
    (inner - shift + border) as usize + seed
}

/// Verifies that the tree of size `new_size` with root `new_root` extends the
/// tree of size `old_size` with root `old_root`, following RFC 9162
/// s2.1.4.2.
///
/// # Errors
///
/// - [`MerkleError::InvalidSizes`] if `old_size > new_size`.
/// - [`MerkleError::ProofLength`] if `proof` does not have exactly the number
///   of hashes `(old_size, new_size)` requires (none when `old_size` is 0 or
///   equals `new_size`).
/// - [`MerkleError::OldRootMismatch`] if the proof does not reproduce
///   `old_root`, or `old_size` is 0 and `old_root` is not the empty root.
/// - [`MerkleError::NewRootMismatch`] if the proof does not reproduce
///   `new_root`, or the sizes are equal and the roots differ.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::InvalidSizes { old_size, new_size });
    }
    let expected = if old_size == 0 || old_size == new_size {
        0
    } else {
        consistency_proof_len(old_size, new_size)
    };
    let wrong_length = MerkleError::ProofLength {
        expected,
        found: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::NewRootMismatch)
        };
    }
    if old_size == 0 {
        return if *old_root == empty_root() {
            Ok(())
        } else {
            Err(MerkleError::OldRootMismatch)
        };
    }

    // From here 0 < first < second, the precondition of s2.1.4.2. Steps 6a
    // and 7 (sn) cannot fire after the length check, but stay as written.
    // 1. If consistency_path is an empty array, stop and fail the proof
    //    verification.
    let Some((head, tail)) = proof.split_first() else {
        return Err(wrong_length);
    };
    // 2. If first is an exact power of 2, then prepend first_hash to the
    //    consistency_path array.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (head, tail)
    };
    // 3. Set fn to first - 1 and sn to second - 1.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    // 4. If LSB(fn) is set, then right-shift both fn and sn equally until
    //    LSB(fn) is not set.
    while lsb(f_n) {
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5. Set both fr and sr to the first value in the consistency_path array.
    let mut f_r = *seed;
    let mut s_r = *seed;
    // 6. For each subsequent value c in the consistency_path array:
    for c in rest {
        // a. If sn is 0, then stop the iteration and fail the proof
        //    verification.
        if s_n == 0 {
            return Err(wrong_length);
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if lsb(f_n) || f_n == s_n {
            // i. Set fr to HASH(0x01 || c || fr).
            //    Set sr to HASH(0x01 || c || sr).
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn
            //     equally until either LSB(fn) is set or fn is 0.
            while !lsb(f_n) && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            // Otherwise: i. Set sr to HASH(0x01 || sr || c).
            s_r = node_hash(&s_r, c);
        }
        // c. Finally, right-shift both fn and sn one time.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 7. Verify that fr equals first_hash, that sr equals second_hash, and
    //    that sn is 0.
    if s_n != 0 {
        return Err(wrong_length);
    }
    if f_r != *old_root {
        return Err(MerkleError::OldRootMismatch);
    }
    if s_r != *new_root {
        return Err(MerkleError::NewRootMismatch);
    }
    Ok(())
}
