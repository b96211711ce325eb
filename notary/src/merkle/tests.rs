use super::*;

/// Builds an rs_merkle-style proof for `indices` (the generator's view).
fn make_proof(alg: HashAlg, leaves: &[Node], indices: &[u64]) -> Vec<Node> {
    let mut layers = vec![leaves.to_vec()];
    while layers.last().map_or(0, Vec::len) > 1 {
        let last = layers.last().cloned().unwrap_or_default();
        layers
            .push(last.chunks(2).map(|p| if p.len() == 2 { alg.hash_parts(&[&p[0], &p[1]]) } else { p[0] }).collect());
    }
    let mut known: Vec<u64> = indices.to_vec();
    known.sort();
    known.dedup();
    let mut proof = Vec::new();
    for layer in &layers[..layers.len() - 1] {
        let mut siblings: Vec<u64> =
            known.iter().map(|i| i ^ 1).filter(|s| !known.contains(s) && (*s as usize) < layer.len()).collect();
        siblings.sort();
        siblings.dedup();
        proof.extend(siblings.iter().map(|s| layer[*s as usize]));
        known = known.iter().map(|i| i / 2).collect();
        known.dedup();
    }
    proof
}

fn leaves(n: usize) -> Vec<Node> {
    (0..n as u64).map(|i| HashAlg::Blake3.hash(&i.to_le_bytes())).collect()
}

#[test]
fn every_subset_of_small_trees_verifies() {
    for alg in [HashAlg::Sha256, HashAlg::Blake3, HashAlg::Keccak256] {
        for n in 1..=9usize {
            let l = leaves(n);
            let root = root_of(alg, &l).unwrap_or_default();
            for mask in 1u32..(1 << n) {
                let idx: Vec<u64> = (0..n as u64).filter(|i| mask & (1 << i) != 0).collect();
                let known: Vec<(u64, Node)> = idx.iter().map(|i| (*i, l[*i as usize])).collect();
                let proof = make_proof(alg, &l, &idx);
                assert_eq!(root_from_proof(alg, n as u64, &known, &proof), Ok(root), "n={n} mask={mask:b}");
            }
        }
    }
}

#[test]
fn a_wrong_leaf_gives_a_different_root() {
    let l = leaves(6);
    let root = root_of(HashAlg::Blake3, &l).unwrap_or_default();
    let mut known: Vec<(u64, Node)> = (0..6).map(|i| (i, l[i as usize])).collect();
    known[3].1[0] ^= 1;
    assert_ne!(root_from_proof(HashAlg::Blake3, 6, &known, &[]), Ok(root));
}

#[test]
fn missing_extra_and_out_of_range_proof_parts_are_errors() {
    let l = leaves(5);
    let known = [(2u64, l[2])];
    let proof = make_proof(HashAlg::Blake3, &l, &[2]);
    assert!(matches!(
        root_from_proof(HashAlg::Blake3, 5, &known, &proof[..proof.len() - 1]),
        Err(VerifyError::MalformedMerkleProof("missing sibling hash"))
    ));
    let mut extra = proof.clone();
    extra.push([0; 32]);
    assert!(matches!(
        root_from_proof(HashAlg::Blake3, 5, &known, &extra),
        Err(VerifyError::MalformedMerkleProof("unused proof hashes"))
    ));
    assert!(root_from_proof(HashAlg::Blake3, 2, &known, &proof).is_err());
    assert!(root_from_proof(HashAlg::Blake3, 0, &known, &proof).is_err());
    assert!(root_from_proof(HashAlg::Blake3, 5, &[], &proof).is_err());
    assert!(root_from_proof(HashAlg::Blake3, 5, &[(2, l[2]), (2, l[2])], &proof).is_err());
}

#[test]
fn a_huge_tree_len_does_not_hang_or_panic() {
    let l = leaves(2);
    let known = [(0u64, l[0]), (1u64, l[1])];
    assert!(root_from_proof(HashAlg::Blake3, u64::MAX, &known, &[]).is_err());
}
