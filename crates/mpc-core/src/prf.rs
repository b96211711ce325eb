//! Pairwise PRF: AES-128 in counter mode (AES-NI detected at run time by the
//! `aes` crate), domain-separated by session id, purpose and operation counter.
//!
//! Key `k_j` is known to the two parties that hold share component `j`
//! (parties `j-1` and `j`). Party `i` therefore holds `k_i` (shared with its
//! previous neighbour) and `k_{i+1}` (shared with its next neighbour), which
//! mirrors its share components `(x_i, x_{i+1})` (Araki et al. CCS'16,
//! ePrint 2016/768, Sec. 2.2 "correlated randomness").

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};

use crate::SessionId;

/// What a PRF stream is used for. Every stream is keyed by
/// `(pair key, session id)` and addressed by `(purpose, counter)`, so two
/// different uses never share key stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Purpose {
    /// Zero sharings for multiplications (Araki et al., Sec. 2.2).
    Zero = 1,
    /// Random sharings (both components).
    Random = 2,
    /// DZKP: prover's share of a proof message towards its previous neighbour.
    ProofShare = 3,
    /// DZKP: challenges known to the two verifiers only.
    Challenge = 4,
    /// DZKP: prover's zero-knowledge pads.
    Pad = 5,
    /// Deterministic test sharings of the harness (never secret-bearing).
    Test = 6,
    /// Shuffle: pair-known permutations, masks and output components
    /// (`crate::shuffle`).
    Shuffle = 0x51,
}

/// A PRF instance for one pair key within one session: AES-128 keyed with
/// `AES_{k_pair}(session_id)`, evaluated in counter mode on blocks
/// `purpose (4 B) || counter (8 B) || block index (4 B)`. The blocks are
/// encrypted in batches with `encrypt_blocks`, which uses the pipelined
/// AES-NI / VAES back end of the `aes` crate (detected at run time).
#[derive(Clone)]
pub(crate) struct Prf {
    cipher: Aes128,
}

impl std::fmt::Debug for Prf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prf(..)")
    }
}

/// Blocks per batch (2 KiB of key stream): the batch stays in L1 between
/// the encryption and the copy-out (64 KiB batches made `words` four times
/// slower than the encryption itself).
const BATCH: usize = 128;

impl Prf {
    /// Derive the per-session key from a long-term pair key.
    pub(crate) fn new(pair_key: &[u8; 16], session: &SessionId) -> Self {
        let base = Aes128::new(&(*pair_key).into());
        let mut block: aes::Block = session.0.into();
        base.encrypt_block(&mut block);
        let mut key: [u8; 16] = block.into();
        let prf = Prf { cipher: Aes128::new(&key.into()) };
        // `base` and `cipher` wipe their key schedules on drop (the `aes`
        // crate's `zeroize` feature); the derived key bytes are wiped here.
        zeroize::Zeroize::zeroize(&mut key);
        zeroize::Zeroize::zeroize(block.as_mut_slice());
        prf
    }

    /// Key stream blocks `0..nblocks` of stream `(purpose, counter)`, handed
    /// to `sink` in order, `BATCH` at a time.
    fn blocks(&self, purpose: Purpose, counter: u64, nblocks: usize, mut sink: impl FnMut(&[aes::Block])) {
        let mut buf = [aes::Block::default(); BATCH];
        let mut head = [0u8; 16];
        head[..4].copy_from_slice(&(purpose as u32).to_be_bytes());
        head[4..12].copy_from_slice(&counter.to_be_bytes());
        let mut i: u32 = 0;
        let mut left = nblocks;
        while left > 0 {
            let n = left.min(BATCH);
            for b in &mut buf[..n] {
                head[12..].copy_from_slice(&i.to_be_bytes());
                *b = head.into();
                i = i.wrapping_add(1);
            }
            self.cipher.encrypt_blocks(&mut buf[..n]);
            sink(&buf[..n]);
            left -= n;
        }
    }

    /// Fill `out` with pseudo-random bytes.
    pub(crate) fn fill_bytes(&self, purpose: Purpose, counter: u64, out: &mut [u8]) {
        let mut rest = out;
        self.blocks(purpose, counter, rest.len().div_ceil(16), |bs| {
            for b in bs {
                let n = rest.len().min(16);
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
                head.copy_from_slice(&b[..n]);
                rest = tail;
            }
        });
    }

    /// `n` pseudo-random 64-bit words.
    pub(crate) fn words(&self, purpose: Purpose, counter: u64, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        self.words_into(purpose, counter, n, &mut out);
        out
    }

    /// Append `n` pseudo-random 64-bit words to `out`.
    pub(crate) fn words_into(&self, purpose: Purpose, counter: u64, n: usize, out: &mut Vec<u64>) {
        let end = out.len() + n;
        out.reserve(n + 1);
        let mut w = [0u64; 2 * BATCH];
        self.blocks(purpose, counter, n.div_ceil(2), |bs| {
            for (pair, b) in w.chunks_exact_mut(2).zip(bs) {
                let x = u128::from_le_bytes((*b).into());
                pair[0] = x as u64;
                pair[1] = (x >> 64) as u64;
            }
            out.extend_from_slice(&w[..2 * bs.len()]);
        });
        out.truncate(end);
    }

    /// `n` pseudo-random 128-bit words.
    pub(crate) fn wide(&self, purpose: Purpose, counter: u64, n: usize) -> Vec<u128> {
        let mut out = Vec::with_capacity(n);
        self.blocks(purpose, counter, n, |bs| {
            out.extend(bs.iter().map(|b| u128::from_le_bytes((*b).into())));
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_domain_separated() {
        let s = SessionId([7; 16]);
        let p = Prf::new(&[1; 16], &s);
        assert_eq!(p.words(Purpose::Zero, 3, 4), p.words(Purpose::Zero, 3, 4));
        assert_ne!(p.words(Purpose::Zero, 3, 4), p.words(Purpose::Zero, 4, 4));
        assert_ne!(p.words(Purpose::Zero, 3, 4), p.words(Purpose::Random, 3, 4));
        let q = Prf::new(&[1; 16], &SessionId([8; 16]));
        assert_ne!(p.words(Purpose::Zero, 3, 4), q.words(Purpose::Zero, 3, 4));
    }
}
