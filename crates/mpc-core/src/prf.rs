//! Pairwise PRF: AES-128 in counter mode (AES-NI detected at run time by the
//! `aes` crate), domain-separated by session id, purpose and operation counter.
//!
//! Key `k_j` is known to the two parties that hold share component `j`
//! (parties `j-1` and `j`). Party `i` therefore holds `k_i` (shared with its
//! previous neighbour) and `k_{i+1}` (shared with its next neighbour), which
//! mirrors its share components `(x_i, x_{i+1})` (Araki et al. CCS'16,
//! ePrint 2016/768, Sec. 2.2 "correlated randomness").

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};

use crate::SessionId;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;

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
    /// Party-local randomness for tests of the harness (never secret-bearing).
    Test = 6,
}

/// A PRF instance for one pair key within one session.
#[derive(Clone)]
pub(crate) struct Prf {
    /// Session key: `AES_{k_pair}(session_id)`.
    key: [u8; 16],
}

impl std::fmt::Debug for Prf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prf(..)")
    }
}

impl Prf {
    /// Derive the per-session key from a long-term pair key.
    pub(crate) fn new(pair_key: &[u8; 16], session: &SessionId) -> Self {
        let cipher = Aes128::new(&(*pair_key).into());
        let mut block: aes::Block = session.0.into();
        cipher.encrypt_block(&mut block);
        let mut key = [0u8; 16];
        key.copy_from_slice(&block);
        Prf { key }
    }

    fn stream(&self, purpose: Purpose, counter: u64) -> Aes128Ctr {
        // IV = purpose (4 B) || counter (8 B) || block counter (4 B, starts at 0).
        let mut iv = [0u8; 16];
        iv[..4].copy_from_slice(&(purpose as u32).to_be_bytes());
        iv[4..12].copy_from_slice(&counter.to_be_bytes());
        Aes128Ctr::new(&self.key.into(), &iv.into())
    }

    /// Fill `out` with pseudo-random bytes.
    pub(crate) fn fill_bytes(&self, purpose: Purpose, counter: u64, out: &mut [u8]) {
        out.fill(0);
        self.stream(purpose, counter).apply_keystream(out);
    }

    /// `n` pseudo-random 64-bit words.
    pub(crate) fn words(&self, purpose: Purpose, counter: u64, n: usize) -> Vec<u64> {
        let mut bytes = vec![0u8; n * 8];
        self.fill_bytes(purpose, counter, &mut bytes);
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    }

    /// `n` pseudo-random 128-bit words.
    pub(crate) fn wide(&self, purpose: Purpose, counter: u64, n: usize) -> Vec<u128> {
        let mut bytes = vec![0u8; n * 16];
        self.fill_bytes(purpose, counter, &mut bytes);
        bytes
            .chunks_exact(16)
            .map(|c| {
                let mut a = [0u8; 16];
                a.copy_from_slice(c);
                u128::from_le_bytes(a)
            })
            .collect()
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
