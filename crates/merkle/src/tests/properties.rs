//! Properties over many tree shapes: generated proofs verify, tampered ones
//! do not, and no input makes verification panic.

use proptest::prelude::*;

use super::synthetic_leaf_hashes;
use crate::consistency::consistency_proof_len;
use crate::inclusion::inclusion_proof_len;
use crate::{
    Hash, MerkleError, consistency_proof, inclusion_proof, root, verify_consistency,
    verify_inclusion,
};

#[test]
fn every_proof_in_trees_up_to_64_leaves_verifies() {
    // Exhaustive over small shapes, where the edge cases (powers of two,
    // one-off sizes, first and last leaf) all occur.
    let leaves = synthetic_leaf_hashes(64);
    for new in 1..=64u64 {
        let tree = &leaves[..new as usize];
        let new_root = root(tree);
        for index in 0..new {
            let proof = inclusion_proof(tree, index).expect("index in range");
            assert_eq!(proof.len(), inclusion_proof_len(index, new));
            let verdict = verify_inclusion(&tree[index as usize], index, new, &proof, &new_root);
            assert_eq!(verdict, Ok(()), "inclusion of {index} in {new}");
        }
        for old in 0..=new {
            let proof = consistency_proof(tree, old).expect("old <= new");
            let old_root = root(&tree[..old as usize]);
            let verdict = verify_consistency(old, new, &old_root, &new_root, &proof);
            assert_eq!(verdict, Ok(()), "consistency {old} -> {new}");
        }
    }
}

#[test]
fn verification_handles_the_largest_tree_sizes() {
    // Sizes at the top of u64 exercise every shift bound; the proofs are
    // random, so they must fail, and cleanly.
    let junk = |n: usize| vec![[0x5a; 32]; n];
    let max = u64::MAX;
    for (index, size) in [(0, max), (max - 1, max), (1 << 63, max), (0, 1 << 63)] {
        let expected = inclusion_proof_len(index, size);
        assert!(expected <= 64);
        assert_eq!(
            verify_inclusion(&[1; 32], index, size, &junk(expected), &[2; 32]),
            Err(MerkleError::RootMismatch),
            "inclusion {index} in {size}"
        );
    }
    for (old, new) in [(1, max), (max - 1, max), (1 << 63, max), (3, 1 << 63)] {
        let expected = consistency_proof_len(old, new);
        assert!(expected <= 65);
        assert!(
            verify_consistency(old, new, &[1; 32], &[2; 32], &junk(expected)).is_err(),
            "consistency {old} -> {new}"
        );
    }
}

/// A tree size of 1..=300 and a leaf index in it.
fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=300u64).prop_flat_map(|size| (Just(size), 0..size))
}

/// New size 2..=300 and an old size strictly between 0 and it: the range where
/// consistency proofs are non-empty.
fn strict_sizes() -> impl Strategy<Value = (u64, u64)> {
    (2..=300u64).prop_flat_map(|new| (1..new, Just(new)))
}

/// Any u64, biased towards small sizes and the edges of the range.
fn any_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..300u64,
        any::<u64>(),
        (0..64u32).prop_map(|b| 1u64 << b),
        (0..64u32).prop_map(|b| u64::MAX >> b),
    ]
}

fn any_proof() -> impl Strategy<Value = Vec<Hash>> {
    prop::collection::vec(any::<Hash>(), 0..70)
}

proptest! {
    #[test]
    fn generated_inclusion_proofs_verify((size, index) in size_and_index()) {
        let leaves = synthetic_leaf_hashes(size);
        let proof = inclusion_proof(&leaves, index).expect("index in range");
        prop_assert_eq!(proof.len(), inclusion_proof_len(index, size));
        prop_assert_eq!(
            verify_inclusion(&leaves[index as usize], index, size, &proof, &root(&leaves)),
            Ok(())
        );
    }

    #[test]
    fn generated_consistency_proofs_verify(
        (new, old) in (1..=300u64).prop_flat_map(|new| (Just(new), 0..=new)),
    ) {
        let leaves = synthetic_leaf_hashes(new);
        let old_leaves = &leaves[..old as usize];
        let proof = consistency_proof(&leaves, old).expect("old <= new");
        if 0 < old && old < new {
            prop_assert_eq!(proof.len(), consistency_proof_len(old, new));
        } else {
            prop_assert!(proof.is_empty());
        }
        prop_assert_eq!(
            verify_consistency(old, new, &root(old_leaves), &root(&leaves), &proof),
            Ok(())
        );
    }

    #[test]
    fn a_flipped_bit_in_an_inclusion_proof_is_rejected(
        (size, index) in (2..=300u64).prop_flat_map(|size| (Just(size), 0..size)),
        at in any::<prop::sample::Index>(),
        bit in 0..256usize,
    ) {
        let leaves = synthetic_leaf_hashes(size);
        let mut proof = inclusion_proof(&leaves, index).expect("index in range");
        let i = at.index(proof.len());
        proof[i][bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(
            verify_inclusion(&leaves[index as usize], index, size, &proof, &root(&leaves)),
            Err(MerkleError::RootMismatch)
        );
    }

    #[test]
    fn a_flipped_bit_in_a_consistency_proof_is_rejected(
        (old, new) in strict_sizes(),
        at in any::<prop::sample::Index>(),
        bit in 0..256usize,
    ) {
        let leaves = synthetic_leaf_hashes(new);
        let mut proof = consistency_proof(&leaves, old).expect("old <= new");
        let i = at.index(proof.len());
        proof[i][bit / 8] ^= 1 << (bit % 8);
        let result = verify_consistency(
            old, new, &root(&leaves[..old as usize]), &root(&leaves), &proof,
        );
        prop_assert!(
            matches!(result, Err(MerkleError::OldRootMismatch | MerkleError::NewRootMismatch)),
            "{:?}", result
        );
    }

    #[test]
    fn verify_inclusion_never_panics(
        leaf in any::<Hash>(),
        index in any_size(),
        size in any_size(),
        proof in any_proof(),
        root in any::<Hash>(),
    ) {
        let _ = verify_inclusion(&leaf, index, size, &proof, &root);
        // Again with a proof of the right length, so the hashing walk runs.
        if index < size {
            let fitted = vec![leaf; inclusion_proof_len(index, size)];
            let _ = verify_inclusion(&leaf, index, size, &fitted, &root);
        }
    }

    #[test]
    fn verify_consistency_never_panics(
        old in any_size(),
        new in any_size(),
        old_root in any::<Hash>(),
        new_root in any::<Hash>(),
        proof in any_proof(),
    ) {
        let _ = verify_consistency(old, new, &old_root, &new_root, &proof);
        if 0 < old && old < new {
            let fitted = vec![old_root; consistency_proof_len(old, new)];
            let _ = verify_consistency(old, new, &old_root, &new_root, &fitted);
        }
    }
}
