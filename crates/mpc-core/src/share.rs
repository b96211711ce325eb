//! Replicated shares and local (communication-free) linear operations.

use crate::{Error, PartyId, Result};

/// A vector of arithmetic RSS shares over Z_2^64 held by party `i`:
/// components `(x_i, x_{i+1})` of `x = x_0 + x_1 + x_2 mod 2^64`.
#[derive(Clone, PartialEq, Eq)]
pub struct ArithShare {
    pub(crate) s0: Vec<u64>,
    pub(crate) s1: Vec<u64>,
}

impl std::fmt::Debug for ArithShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArithShare(len={})", self.len())
    }
}

fn same_len(a: usize, b: usize) -> Result<()> {
    if a == b { Ok(()) } else { Err(Error::InvalidArgument("vector lengths differ")) }
}

impl ArithShare {
    /// From the two components `(x_i, x_{i+1})` (equal lengths).
    pub fn from_components(s0: Vec<u64>, s1: Vec<u64>) -> Result<ArithShare> {
        same_len(s0.len(), s1.len())?;
        Ok(ArithShare { s0, s1 })
    }

    /// The two components `(x_i, x_{i+1})`.
    pub fn components(&self) -> (&[u64], &[u64]) {
        (&self.s0, &self.s1)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.s0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.s0.is_empty()
    }

    /// The sharing of a public vector: component 0 carries the value.
    pub fn public(me: PartyId, c: &[u64]) -> ArithShare {
        let z = vec![0; c.len()];
        match me.index() {
            0 => ArithShare { s0: c.to_vec(), s1: z },
            2 => ArithShare { s0: z, s1: c.to_vec() },
            _ => ArithShare { s0: z.clone(), s1: z },
        }
    }

    fn zip(&self, o: &ArithShare, f: impl Fn(u64, u64) -> u64) -> Result<ArithShare> {
        same_len(self.len(), o.len())?;
        Ok(ArithShare {
            s0: self.s0.iter().zip(&o.s0).map(|(a, b)| f(*a, *b)).collect(),
            s1: self.s1.iter().zip(&o.s1).map(|(a, b)| f(*a, *b)).collect(),
        })
    }

    /// `x + y`.
    pub fn add(&self, o: &ArithShare) -> Result<ArithShare> {
        self.zip(o, u64::wrapping_add)
    }

    /// `x - y`.
    pub fn sub(&self, o: &ArithShare) -> Result<ArithShare> {
        self.zip(o, u64::wrapping_sub)
    }

    /// `-x`.
    pub fn neg(&self) -> ArithShare {
        ArithShare {
            s0: self.s0.iter().map(|a| a.wrapping_neg()).collect(),
            s1: self.s1.iter().map(|a| a.wrapping_neg()).collect(),
        }
    }

    /// `x + c` for a public vector `c`.
    pub fn add_public(&self, me: PartyId, c: &[u64]) -> Result<ArithShare> {
        self.add(&ArithShare::public(me, c))
    }

    /// `c * x` elementwise for a public vector `c`.
    pub fn mul_public(&self, c: &[u64]) -> Result<ArithShare> {
        same_len(self.len(), c.len())?;
        Ok(ArithShare {
            s0: self.s0.iter().zip(c).map(|(a, b)| a.wrapping_mul(*b)).collect(),
            s1: self.s1.iter().zip(c).map(|(a, b)| a.wrapping_mul(*b)).collect(),
        })
    }

    /// `c * x` for a public scalar `c`.
    pub fn scale(&self, c: u64) -> ArithShare {
        ArithShare {
            s0: self.s0.iter().map(|a| a.wrapping_mul(c)).collect(),
            s1: self.s1.iter().map(|a| a.wrapping_mul(c)).collect(),
        }
    }

    /// The sharing without the elements at the (sorted or not) indices
    /// `drop`, e.g. rejected client inputs.
    pub fn without(&self, drop: &[usize]) -> ArithShare {
        let keep = |j: &usize| !drop.contains(j);
        let idx: Vec<usize> = (0..self.len()).filter(keep).collect();
        ArithShare { s0: idx.iter().map(|&j| self.s0[j]).collect(), s1: idx.iter().map(|&j| self.s1[j]).collect() }
    }

    /// Reinterpret the two component vectors as a bit-sliced boolean sharing
    /// of `lanes` bits (for XOR-shared inputs checked by the input check).
    pub fn into_bool(self, lanes: usize) -> Result<BoolShare> {
        BoolShare::from_components(self.s0, self.s1, lanes)
    }

    /// Sum of all elements (a sharing of length 1).
    pub fn sum(&self) -> ArithShare {
        ArithShare {
            s0: vec![self.s0.iter().fold(0u64, |a, b| a.wrapping_add(*b))],
            s1: vec![self.s1.iter().fold(0u64, |a, b| a.wrapping_add(*b))],
        }
    }
}

/// A vector of boolean RSS shares over GF(2), bit-sliced: lane `l` of the
/// vector is bit `l % 64` of word `l / 64`. Party `i` holds `(b_i, b_{i+1})`
/// with `b = b_0 ^ b_1 ^ b_2`. Lanes past `lanes` in the last word are
/// carried along but meaningless.
#[derive(Clone, PartialEq, Eq)]
pub struct BoolShare {
    pub(crate) s0: Vec<u64>,
    pub(crate) s1: Vec<u64>,
    pub(crate) lanes: usize,
}

impl std::fmt::Debug for BoolShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BoolShare(lanes={})", self.lanes)
    }
}

/// Number of words for `lanes` bits.
pub(crate) fn words_for(lanes: usize) -> usize {
    lanes.div_ceil(64)
}

impl BoolShare {
    /// From the two bit-sliced components; `lanes` bits in
    /// `ceil(lanes / 64)` words each.
    pub fn from_components(s0: Vec<u64>, s1: Vec<u64>, lanes: usize) -> Result<BoolShare> {
        same_len(s0.len(), s1.len())?;
        same_len(s0.len(), words_for(lanes))?;
        Ok(BoolShare { s0, s1, lanes })
    }

    /// The two components.
    pub fn components(&self) -> (&[u64], &[u64]) {
        (&self.s0, &self.s1)
    }

    /// Number of bits (lanes).
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Number of words.
    pub fn words(&self) -> usize {
        self.s0.len()
    }

    /// The sharing of a public bit-sliced vector.
    pub fn public(me: PartyId, c: &[u64], lanes: usize) -> Result<BoolShare> {
        same_len(c.len(), words_for(lanes))?;
        let z = vec![0; c.len()];
        Ok(match me.index() {
            0 => BoolShare { s0: c.to_vec(), s1: z, lanes },
            2 => BoolShare { s0: z, s1: c.to_vec(), lanes },
            _ => BoolShare { s0: z.clone(), s1: z, lanes },
        })
    }

    /// `x ^ y`.
    pub fn xor(&self, o: &BoolShare) -> Result<BoolShare> {
        same_len(self.lanes, o.lanes)?;
        Ok(BoolShare {
            s0: self.s0.iter().zip(&o.s0).map(|(a, b)| a ^ b).collect(),
            s1: self.s1.iter().zip(&o.s1).map(|(a, b)| a ^ b).collect(),
            lanes: self.lanes,
        })
    }

    /// `x ^ c` for public bit-sliced `c`.
    pub fn xor_public(&self, me: PartyId, c: &[u64]) -> Result<BoolShare> {
        self.xor(&BoolShare::public(me, c, self.lanes)?)
    }

    /// `!x`.
    pub fn not(&self, me: PartyId) -> BoolShare {
        let ones = vec![u64::MAX; self.words()];
        // Lengths agree by construction.
        match self.xor_public(me, &ones) {
            Ok(s) => s,
            Err(_) => self.clone(),
        }
    }

    /// Local step of bit injection (B2A): each boolean component `b_j` is
    /// held by two parties, so it is a trivial arithmetic sharing with
    /// `x_j = b_j` and the other components 0. Returns the three sharings
    /// `[b_0], [b_1], [b_2]` of the lanes (one element per lane); then
    /// `b = b_0 ^ b_1 ^ b_2` with `a ^ c = a + c - 2ac` costs two verified
    /// multiplications (ABY3, CCS'18, ePrint 2018/403, Sec. 5.4; the
    /// one-element variant is Keller, ePrint 2025/919, Protocol 22).
    pub fn bit_components(&self, me: PartyId) -> [ArithShare; 3] {
        let bits = |w: &[u64]| -> Vec<u64> { (0..self.lanes).map(|l| (w[l / 64] >> (l % 64)) & 1).collect() };
        let i = me.index();
        let zero = vec![0u64; self.lanes];
        [0usize, 1, 2].map(|j| {
            if j == i {
                ArithShare { s0: bits(&self.s0), s1: zero.clone() }
            } else if j == (i + 1) % 3 {
                ArithShare { s0: zero.clone(), s1: bits(&self.s1) }
            } else {
                ArithShare { s0: zero.clone(), s1: zero.clone() }
            }
        })
    }

    /// `x & c` for public bit-sliced `c` (local).
    pub fn and_public(&self, c: &[u64]) -> Result<BoolShare> {
        same_len(self.words(), c.len())?;
        Ok(BoolShare {
            s0: self.s0.iter().zip(c).map(|(a, b)| a & b).collect(),
            s1: self.s1.iter().zip(c).map(|(a, b)| a & b).collect(),
            lanes: self.lanes,
        })
    }
}
