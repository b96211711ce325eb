//! Merkle multi-proofs as upstream builds them (the rs_merkle layout).
//!
//! The tree: leaves are the field hashes at their field ids; a parent is
//! `H(left || right)`; a layer with an odd number of nodes carries its last
//! node up unchanged (no duplication). A proof lists the sibling hashes the
//! verifier cannot compute, layer by layer from the leaves, in index order
//! within a layer.

use crate::error::VerifyError;
use crate::hash::{HASH_LEN, HashAlg};

type Node = [u8; HASH_LEN];

/// Computes the root from known leaves (`(index, hash)`, any order) and the
/// proof's sibling hashes. Every proof hash must be used.
pub(crate) fn root_from_proof(
    alg: HashAlg,
    tree_len: u64,
    leaves: &[(u64, Node)],
    proof: &[Node],
) -> Result<Node, VerifyError> {
    if leaves.is_empty() {
        return Err(VerifyError::MalformedMerkleProof("no leaves"));
    }
    let mut layer: Vec<(u64, Node)> = leaves.to_vec();
    layer.sort_by_key(|(i, _)| *i);
    if layer.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
        return Err(VerifyError::MalformedMerkleProof("duplicate leaf index"));
    }
    if layer.iter().any(|(i, _)| *i >= tree_len) {
        return Err(VerifyError::MalformedMerkleProof("leaf index beyond the tree"));
    }

    let mut proof = proof.iter();
    let mut width = tree_len;
    while width > 1 {
        let mut parents = Vec::with_capacity(layer.len() / 2 + 1);
        let mut k = 0;
        while let Some(&(idx, node)) = layer.get(k) {
            let sibling = idx ^ 1;
            let next_known = layer.get(k + 1).filter(|(j, _)| *j == sibling);
            let parent = if sibling >= width {
                // Last node of an odd layer: carried up unchanged.
                k += 1;
                node
            } else if let Some((_, sib)) = next_known {
                // Both children known (idx is even here: layer is sorted).
                k += 2;
                alg.hash_parts(&[&node, sib])
            } else {
                let sib = proof.next().ok_or(VerifyError::MalformedMerkleProof("missing sibling hash"))?;
                k += 1;
                if idx % 2 == 0 { alg.hash_parts(&[&node, sib]) } else { alg.hash_parts(&[sib, &node]) }
            };
            parents.push((idx / 2, parent));
        }
        layer = parents;
        width = width.div_ceil(2);
    }
    if proof.next().is_some() {
        return Err(VerifyError::MalformedMerkleProof("unused proof hashes"));
    }
    match layer.as_slice() {
        [(0, root)] => Ok(*root),
        _ => Err(VerifyError::MalformedMerkleProof("proof does not reach one root")),
    }
}

/// Root of a full tree over `leaves` (index = position).
pub(crate) fn root_of(alg: HashAlg, leaves: &[Node]) -> Option<Node> {
    let mut layer: Vec<Node> = leaves.to_vec();
    if layer.is_empty() {
        return None;
    }
    while layer.len() > 1 {
        // A pair hashes to H(left || right); a lone last node moves up.
        layer =
            layer.chunks(2).filter_map(|pair| pair.iter().copied().reduce(|l, r| alg.hash_parts(&[&l, &r]))).collect();
    }
    layer.first().copied()
}

#[cfg(test)]
mod tests;
