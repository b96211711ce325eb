//! Mapping between the core's and the mesh's party and session ids.

use sha2::{Digest, Sha256};
use triad_mpc_core as core;
use triad_mpc_net as net;

/// The mesh's id of a core party (same numbering).
pub fn net_party(p: core::PartyId) -> net::PartyId {
    // `index()` is below 3 by construction of both types.
    net::PartyId::ALL[p.index()]
}

/// The core's id of a mesh party (same numbering).
pub fn core_party(p: net::PartyId) -> core::PartyId {
    core::PartyId::ALL[p.index()]
}

/// The mesh session id for an engine session: `SHA-256("triad-mpc/v1/session" || sid)`.
///
/// Hashed rather than zero-padded so that a mesh id never looks like an engine id (or a test
/// label) of another layer; every link's hello then binds the engine session.
pub fn net_session_id(sid: core::SessionId) -> net::SessionId {
    let mut h = Sha256::new();
    h.update(b"triad-mpc/v1/session");
    h.update(sid.0);
    net::SessionId(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_ids_round_trip_with_the_same_numbering() {
        for p in core::PartyId::ALL {
            assert_eq!(core_party(net_party(p)), p);
            assert_eq!(net_party(p).index(), p.index());
            assert_eq!(net_party(p.next()), net_party(p).next());
        }
    }

    #[test]
    fn session_ids_are_distinct_per_engine_session() {
        let a = net_session_id(core::SessionId([1; 16]));
        let b = net_session_id(core::SessionId([2; 16]));
        assert_ne!(a, b);
        assert_eq!(a, net_session_id(core::SessionId([1; 16])));
    }
}
