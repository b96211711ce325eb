//! Round 1 of DKG and refresh: each party sends every other party its point of a fresh
//! polynomial (a secret) and keeps its own.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::PartyId;
use crate::session::{decode, encode};

pub(crate) type Scalar = k256_dkls::Scalar;

/// The round-1 body: the recipient's fragment. Wiped on drop.
#[derive(Serialize, Deserialize)]
struct FragmentRound1 {
    fragment: Scalar,
}

impl Drop for FragmentRound1 {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.fragment);
    }
}

/// Splits the library's fragments (one per party, in party order) into `me`'s own and the
/// round-1 bodies for the others.
pub(crate) fn split(
    me: PartyId,
    mut fragments: Zeroizing<Vec<Scalar>>,
) -> (Zeroizing<Scalar>, Vec<(PartyId, Vec<u8>)>) {
    let mut own = Zeroizing::new(Scalar::ZERO);
    let mut bodies = Vec::with_capacity(2);
    for (party, fragment) in PartyId::ALL.into_iter().zip(fragments.iter_mut()) {
        if party == me {
            *own = *fragment;
        } else {
            bodies.push((party, encode(&FragmentRound1 { fragment: *fragment })));
        }
    }
    (own, bodies)
}

/// The fragments `me` received in round 1 and its own, in party order (the library's input).
pub(crate) fn gather(
    me: PartyId,
    own: &Scalar,
    received: &BTreeMap<PartyId, Vec<u8>>,
) -> Result<Zeroizing<Vec<Scalar>>, crate::SigningError> {
    let mut fragments = Zeroizing::new(Vec::with_capacity(3));
    for party in PartyId::ALL {
        if party == me {
            fragments.push(*own);
        } else {
            let body = received.get(&party).ok_or(crate::SigningError::Misrouted("incomplete round"))?;
            fragments.push(decode::<FragmentRound1>(body, party, 1)?.fragment);
        }
    }
    Ok(fragments)
}
