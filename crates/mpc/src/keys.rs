//! Agreeing the PRF pair keys over the authenticated links.
//!
//! The core needs, at party `i`, the key `k_i` it shares with `P_{i-1}` and `k_{i+1}` it
//! shares with `P_{i+1}` (`docs/protocols/mpc-core.md` §1); the third key must stay unknown to
//! it. Each party draws a fresh 32-byte contribution *per peer* and sends it on that peer's
//! link; the pair `{a, b}` (`a < b`) takes
//! `k = SHA-256("triad-mpc/v1/pair-key" || sid || a || b || c_{a->b} || c_{b->a})[..16]`.
//!
//! Why this suffices: the links are TLS 1.3 with pinned keys on both ends, so a contribution
//! is read only by the peer it was sent to, and the third party sees neither half (which is
//! why the contributions differ per peer: with one contribution per party the third party
//! would see both halves of the other pair's key). An honest member's half is uniform, so the
//! key is unpredictable to the third party. A corrupt member of a pair knows the pair's key
//! anyway (that is the protocol's design); it could pick its half after seeing the honest one,
//! but through the hash that buys no control over the key. The session id in the hash and in
//! every link's hello binds the keys to this session.

//!
//! Wiped from memory (`zeroize`): our contributions, the derived keys and the hash output
//! they come from. Not wiped: the peers' contributions as received (`Bytes` owned by the
//! mesh, immutable and possibly shared); they are half of a key and the other half is wiped.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use triad_mpc_core::{PairKeys, SessionId};
use triad_mpc_net::{BlockingMesh, PartyId};
use zeroize::{Zeroize, Zeroizing};

use crate::{Error, Result};

const CONTRIBUTION: usize = 32;

fn random_contribution() -> Result<Zeroizing<[u8; CONTRIBUTION]>> {
    let mut c = Zeroizing::new([0u8; CONTRIBUTION]);
    getrandom::fill(c.as_mut_slice())
        .map_err(|_| Error::Engine(triad_mpc_core::Error::InvalidArgument("the OS random source failed")))?;
    Ok(c)
}

fn pair_key(sid: SessionId, (a, ca): (PartyId, &[u8]), (b, cb): (PartyId, &[u8])) -> Zeroizing<[u8; 16]> {
    let ((lo, clo), (hi, chi)) = if a < b { ((a, ca), (b, cb)) } else { ((b, cb), (a, ca)) };
    let mut h = Sha256::new();
    h.update(b"triad-mpc/v1/pair-key");
    h.update(sid.0);
    h.update([lo.get(), hi.get()]);
    h.update(clo);
    h.update(chi);
    let mut d = h.finalize();
    let mut k = Zeroizing::new([0u8; 16]);
    k.copy_from_slice(&d[..16]);
    AsMut::<[u8]>::as_mut(&mut d).zeroize();
    k
}

/// One round: send a contribution to each peer, receive theirs, derive the two pair keys.
pub(crate) fn agree(mesh: &BlockingMesh, sid: SessionId) -> Result<PairKeys> {
    let me = mesh.party();
    let (prev, next) = (me.prev(), me.next());
    let mine_prev = random_contribution()?;
    let mine_next = random_contribution()?;
    mesh.send(prev, Bytes::copy_from_slice(mine_prev.as_slice()))?;
    mesh.send(next, Bytes::copy_from_slice(mine_next.as_slice()))?;
    let recv = |peer: PartyId| -> Result<Bytes> {
        let b = mesh.recv(peer)?;
        if b.len() != CONTRIBUTION {
            return Err(Error::KeyAgreement { peer, reason: "contribution of the wrong length" });
        }
        Ok(b)
    };
    // Read both before failing: when a peer deviates, the other honest peer may
    // abort and close its link first, and the deviator should still be the one named.
    let (theirs_prev, theirs_next) = match (recv(prev), recv(next)) {
        (Ok(p), Ok(n)) => (p, n),
        (_, Err(e @ Error::KeyAgreement { .. })) | (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    mesh.mark_round();
    let k_prev = pair_key(sid, (me, mine_prev.as_slice()), (prev, &theirs_prev));
    let k_next = pair_key(sid, (me, mine_next.as_slice()), (next, &theirs_next));
    // `PairKeys` has no public constructor from (prev, next) (its fields are crate-private);
    // `deal` gives party i `(k[i], k[i+1])`, so the unused third slot is a placeholder.
    let i = me.index();
    let mut k = Zeroizing::new([[0u8; 16]; 3]);
    k[i] = *k_prev;
    k[(i + 1) % 3] = *k_next;
    // The other two dealt `PairKeys` wipe themselves when dropped below.
    let [p0, p1, p2] = PairKeys::deal(*k);
    Ok(match i {
        0 => p0,
        1 => p1,
        _ => p2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_members_of_a_pair_derive_the_same_key_and_pairs_differ() {
        let sid = SessionId([9; 16]);
        let [p0, p1, p2] = PartyId::ALL;
        let (c01, c10, c02) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let at0 = pair_key(sid, (p0, &c01), (p1, &c10));
        let at1 = pair_key(sid, (p1, &c10), (p0, &c01));
        assert_eq!(at0, at1);
        assert_ne!(at0, pair_key(sid, (p0, &c02), (p2, &c10)));
        assert_ne!(at0, pair_key(SessionId([8; 16]), (p0, &c01), (p1, &c10)));
    }
}
