//! Known-answer tests against the reference vectors and the RFC 9162 example.

use super::{
    CONSISTENCY_VECTORS, INCLUSION_VECTORS, LEAF_HASHES, ROOTS, h, hashes, reference_leaf_hashes,
    reference_root,
};
use crate::{
    Hash, consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root,
    verify_consistency, verify_inclusion,
};

#[test]
fn empty_root_is_sha256_of_the_empty_string() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    assert_eq!(root(&[]), empty_root());
}

#[test]
fn leaf_hashes_match_reference_vectors() {
    assert_eq!(reference_leaf_hashes(), hashes(&LEAF_HASHES));
}

#[test]
fn complete_subtree_hashes_match_reference_vectors() {
    // testonly.NodeHashes() levels 1 to 3.
    let l = reference_leaf_hashes();
    let level1 = [
        node_hash(&l[0], &l[1]),
        node_hash(&l[2], &l[3]),
        node_hash(&l[4], &l[5]),
        node_hash(&l[6], &l[7]),
    ];
    assert_eq!(
        level1.to_vec(),
        hashes(&[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ])
    );
    let level2 = [
        node_hash(&level1[0], &level1[1]),
        node_hash(&level1[2], &level1[3]),
    ];
    assert_eq!(
        level2.to_vec(),
        hashes(&[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ])
    );
    assert_eq!(node_hash(&level2[0], &level2[1]), reference_root(8));
}

#[test]
fn roots_of_every_prefix_match_reference_vectors() {
    let leaves = reference_leaf_hashes();
    for size in 0..=8 {
        assert_eq!(root(&leaves[..size]), h(ROOTS[size]), "tree size {size}");
    }
}

#[test]
fn inclusion_proofs_match_and_verify_reference_vectors() {
    let leaves = reference_leaf_hashes();
    for (index, size, expected) in INCLUSION_VECTORS {
        let tree = &leaves[..size as usize];
        let proof = inclusion_proof(tree, index).expect("index in range");
        assert_eq!(proof, hashes(expected), "PATH({index}, D[{size}])");
        assert_eq!(
            verify_inclusion(
                &leaves[index as usize],
                index,
                size,
                &proof,
                &reference_root(size)
            ),
            Ok(()),
            "PATH({index}, D[{size}])"
        );
    }
}

#[test]
fn consistency_proofs_match_and_verify_reference_vectors() {
    let leaves = reference_leaf_hashes();
    for (old, new, expected) in CONSISTENCY_VECTORS {
        let proof = consistency_proof(&leaves[..new as usize], old).expect("old <= new");
        assert_eq!(proof, hashes(expected), "PROOF({old}, D[{new}])");
        assert_eq!(
            verify_consistency(old, new, &reference_root(old), &reference_root(new), &proof),
            Ok(()),
            "PROOF({old}, D[{new}])"
        );
    }
}

#[test]
fn every_proof_in_the_reference_tree_verifies() {
    let leaves = reference_leaf_hashes();
    for new in 1..=8u64 {
        let tree = &leaves[..new as usize];
        for index in 0..new {
            let proof = inclusion_proof(tree, index).expect("index in range");
            assert_eq!(
                verify_inclusion(
                    &tree[index as usize],
                    index,
                    new,
                    &proof,
                    &reference_root(new)
                ),
                Ok(()),
                "inclusion of {index} in {new}"
            );
        }
        for old in 0..=new {
            let proof = consistency_proof(tree, old).expect("old <= new");
            assert_eq!(
                verify_consistency(old, new, &reference_root(old), &reference_root(new), &proof),
                Ok(()),
                "consistency {old} -> {new}"
            );
        }
    }
}

/// RFC 9162 s2.1.5: the example tree of seven leaves d0..d6, with the node
/// names the RFC uses (a..f leaf hashes, g..j and k, l interior nodes).
#[test]
fn rfc9162_example_proofs_have_the_documented_nodes() {
    let leaves = reference_leaf_hashes();
    let d = &leaves[..7];
    let [a, b, c, dd, e, f, j]: [Hash; 7] = d.try_into().expect("seven leaves");
    let (g, hh, i) = (node_hash(&a, &b), node_hash(&c, &dd), node_hash(&e, &f));
    let (k, l) = (node_hash(&g, &hh), node_hash(&i, &j));
    assert_eq!(node_hash(&k, &l), reference_root(7));

    // "The inclusion proof for d0 is [b, h, l]", d3 [c, g, l], d4 [f, j, k],
    // d6 [i, k].
    assert_eq!(inclusion_proof(d, 0), Ok(vec![b, hh, l]));
    assert_eq!(inclusion_proof(d, 3), Ok(vec![c, g, l]));
    assert_eq!(inclusion_proof(d, 4), Ok(vec![f, j, k]));
    assert_eq!(inclusion_proof(d, 6), Ok(vec![i, k]));
    // "PROOF(3, D[7]) = [c, d, g, l]", "PROOF(4, D[7]) = [l]",
    // "PROOF(6, D[7]) = [i, j, k]".
    assert_eq!(consistency_proof(d, 3), Ok(vec![c, dd, g, l]));
    assert_eq!(consistency_proof(d, 4), Ok(vec![l]));
    assert_eq!(consistency_proof(d, 6), Ok(vec![i, j, k]));
}

#[test]
fn single_leaf_tree_has_the_leaf_as_root_and_an_empty_proof() {
    let leaf = leaf_hash(b"data");
    assert_eq!(root(&[leaf]), leaf);
    assert_eq!(inclusion_proof(&[leaf], 0), Ok(vec![]));
    assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
}
