//! Every way a proof can be wrong is refused with its own error.

use super::{
    CONSISTENCY_VECTORS, INCLUSION_VECTORS, LEAF_HASHES, h, hashes, reference_leaf_hashes,
    reference_root,
};
use crate::{
    Hash, MerkleError, consistency_proof, empty_root, inclusion_proof, leaf_hash,
    verify_consistency, verify_inclusion,
};

/// The reference proof for leaf 5 of the 8-leaf tree, with its leaf and root.
fn index5_of_8() -> (Hash, Vec<Hash>, Hash) {
    let (_, _, proof) = INCLUSION_VECTORS[1];
    (h(LEAF_HASHES[5]), hashes(proof), reference_root(8))
}

#[test]
fn inclusion_with_tampered_leaf_is_rejected() {
    let (_, proof, root) = index5_of_8();
    let tampered = leaf_hash(b"\x40\x41\x42\x44");
    assert_eq!(
        verify_inclusion(&tampered, 5, 8, &proof, &root),
        Err(MerkleError::RootMismatch)
    );
}

#[test]
fn inclusion_with_wrong_index_is_rejected() {
    let (leaf, proof, root) = index5_of_8();
    for index in [4, 6, 7] {
        assert_eq!(
            verify_inclusion(&leaf, index, 8, &proof, &root),
            Err(MerkleError::RootMismatch),
            "index {index}"
        );
    }
    assert_eq!(
        verify_inclusion(&leaf, 8, 8, &proof, &root),
        Err(MerkleError::IndexOutOfRange {
            index: 8,
            tree_size: 8
        })
    );
}

#[test]
fn inclusion_with_wrong_tree_size_is_rejected() {
    let (leaf, proof, root) = index5_of_8();
    // A tree of 7 has the same proof shape for leaf 5, so the size alone
    // cannot tell: checked against the root of the 7-leaf tree (the tree head
    // a client holding size 7 has), the size-8 proof fails.
    assert_eq!(
        verify_inclusion(&leaf, 5, 7, &proof, &reference_root(7)),
        Err(MerkleError::RootMismatch)
    );
    // Trees of 16 and 6 need 4 and 2 hashes.
    assert_eq!(
        verify_inclusion(&leaf, 5, 16, &proof, &root),
        Err(MerkleError::ProofLength {
            expected: 4,
            found: 3
        })
    );
    assert_eq!(
        verify_inclusion(&leaf, 5, 6, &proof, &root),
        Err(MerkleError::ProofLength {
            expected: 2,
            found: 3
        })
    );
    assert_eq!(
        verify_inclusion(&leaf, 5, 5, &proof, &root),
        Err(MerkleError::IndexOutOfRange {
            index: 5,
            tree_size: 5
        })
    );
}

#[test]
fn inclusion_with_truncated_proof_is_rejected() {
    let (leaf, proof, root) = index5_of_8();
    for cut in 0..proof.len() {
        assert_eq!(
            verify_inclusion(&leaf, 5, 8, &proof[..cut], &root),
            Err(MerkleError::ProofLength {
                expected: 3,
                found: cut
            })
        );
    }
}

#[test]
fn inclusion_with_extended_proof_is_rejected() {
    let (leaf, proof, root) = index5_of_8();
    let mut appended = proof.clone();
    appended.push(root);
    let mut prepended = vec![leaf];
    prepended.extend_from_slice(&proof);
    for extended in [appended, prepended] {
        assert_eq!(
            verify_inclusion(&leaf, 5, 8, &extended, &root),
            Err(MerkleError::ProofLength {
                expected: 3,
                found: 4
            })
        );
    }
}

#[test]
fn inclusion_against_wrong_root_is_rejected() {
    let (leaf, proof, _) = index5_of_8();
    for wrong in [reference_root(7), empty_root(), leaf] {
        assert_eq!(
            verify_inclusion(&leaf, 5, 8, &proof, &wrong),
            Err(MerkleError::RootMismatch)
        );
    }
}

#[test]
fn inclusion_in_empty_tree_is_rejected() {
    assert_eq!(
        verify_inclusion(&empty_root(), 0, 0, &[], &empty_root()),
        Err(MerkleError::IndexOutOfRange {
            index: 0,
            tree_size: 0
        })
    );
    assert_eq!(
        inclusion_proof(&[], 0),
        Err(MerkleError::IndexOutOfRange {
            index: 0,
            tree_size: 0
        })
    );
}

#[test]
fn inclusion_proof_for_index_past_the_tree_is_refused() {
    let leaves = reference_leaf_hashes();
    for index in [8, u64::MAX] {
        assert_eq!(
            inclusion_proof(&leaves, index),
            Err(MerkleError::IndexOutOfRange {
                index,
                tree_size: 8
            })
        );
    }
}

/// The reference proof from 6 to 8 leaves.
fn six_to_eight() -> Vec<Hash> {
    let (_, _, proof) = CONSISTENCY_VECTORS[2];
    hashes(proof)
}

#[test]
fn consistency_with_swapped_roots_is_rejected() {
    let (r6, r8) = (reference_root(6), reference_root(8));
    // Old size 6 is not a power of two: the proof rebuilds the old root first.
    assert_eq!(
        verify_consistency(6, 8, &r8, &r6, &six_to_eight()),
        Err(MerkleError::OldRootMismatch)
    );
    // Old size 1 is: the verifier starts from the given old root, so only the
    // new root can disagree.
    let (_, _, one_to_eight) = CONSISTENCY_VECTORS[1];
    assert_eq!(
        verify_consistency(1, 8, &r8, &reference_root(1), &hashes(one_to_eight)),
        Err(MerkleError::NewRootMismatch)
    );
}

#[test]
fn consistency_with_wrong_roots_is_rejected() {
    let proof = six_to_eight();
    let (r6, r8) = (reference_root(6), reference_root(8));
    assert_eq!(
        verify_consistency(6, 8, &reference_root(5), &r8, &proof),
        Err(MerkleError::OldRootMismatch)
    );
    assert_eq!(
        verify_consistency(6, 8, &r6, &reference_root(7), &proof),
        Err(MerkleError::NewRootMismatch)
    );
}

#[test]
fn consistency_with_old_size_greater_than_new_size_is_rejected() {
    let (r6, r8) = (reference_root(6), reference_root(8));
    assert_eq!(
        verify_consistency(8, 6, &r8, &r6, &six_to_eight()),
        Err(MerkleError::InvalidSizes {
            old_size: 8,
            new_size: 6
        })
    );
    assert_eq!(
        consistency_proof(&reference_leaf_hashes(), 9),
        Err(MerkleError::InvalidSizes {
            old_size: 9,
            new_size: 8
        })
    );
}

#[test]
fn consistency_with_wrong_sizes_is_rejected() {
    let proof = six_to_eight();
    let (r6, r8) = (reference_root(6), reference_root(8));
    for (old, new, expected) in [(5, 8, 4), (7, 8, 4), (6, 16, 4), (2, 8, 2)] {
        assert_eq!(
            verify_consistency(old, new, &r6, &r8, &proof),
            Err(MerkleError::ProofLength { expected, found: 3 }),
            "{old} -> {new}"
        );
    }
}

#[test]
fn consistency_with_truncated_proof_is_rejected() {
    let proof = six_to_eight();
    let (r6, r8) = (reference_root(6), reference_root(8));
    for cut in 0..proof.len() {
        assert_eq!(
            verify_consistency(6, 8, &r6, &r8, &proof[..cut]),
            Err(MerkleError::ProofLength {
                expected: 3,
                found: cut
            })
        );
    }
}

#[test]
fn consistency_with_extended_proof_is_rejected() {
    let proof = six_to_eight();
    let (r6, r8) = (reference_root(6), reference_root(8));
    let mut appended = proof.clone();
    appended.push(r8);
    let mut prepended = vec![r6];
    prepended.extend_from_slice(&proof);
    for extended in [appended, prepended] {
        assert_eq!(
            verify_consistency(6, 8, &r6, &r8, &extended),
            Err(MerkleError::ProofLength {
                expected: 3,
                found: 4
            })
        );
    }
}

#[test]
fn consistency_between_equal_sizes_needs_equal_roots_and_no_proof() {
    let r8 = reference_root(8);
    assert_eq!(verify_consistency(8, 8, &r8, &r8, &[]), Ok(()));
    assert_eq!(
        verify_consistency(8, 8, &r8, &reference_root(7), &[]),
        Err(MerkleError::NewRootMismatch)
    );
    assert_eq!(
        verify_consistency(8, 8, &r8, &r8, &[r8]),
        Err(MerkleError::ProofLength {
            expected: 0,
            found: 1
        })
    );
    assert_eq!(consistency_proof(&reference_leaf_hashes(), 8), Ok(vec![]));
}

#[test]
fn consistency_from_the_empty_tree_needs_the_empty_root_and_no_proof() {
    let r8 = reference_root(8);
    assert_eq!(verify_consistency(0, 8, &empty_root(), &r8, &[]), Ok(()));
    assert_eq!(
        verify_consistency(0, 0, &empty_root(), &empty_root(), &[]),
        Ok(())
    );
    assert_eq!(
        verify_consistency(0, 8, &reference_root(1), &r8, &[]),
        Err(MerkleError::OldRootMismatch)
    );
    assert_eq!(
        verify_consistency(0, 8, &empty_root(), &r8, &[r8]),
        Err(MerkleError::ProofLength {
            expected: 0,
            found: 1
        })
    );
    assert_eq!(consistency_proof(&reference_leaf_hashes(), 0), Ok(vec![]));
}
