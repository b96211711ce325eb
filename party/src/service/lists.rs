//! The intake lists the parties exchange over a session's mesh (docs/protocols/network.md §4):
//! the contributions whose bundle a party could not use, and its accusations with their
//! proofs, then the SHA-256 of the three lists as each holds them (an echo: a party that sent
//! different lists to its two peers is caught before anyone judges).
//!
//! Encoding: little-endian; `u32 count, count × u32 index`, then `u32 count, count ×
//! accusation`; an accusation is `u32 index, u8 column, u8 component, u64 value, u32 n, n × u64 value
//! bytes, u32 m, m × u64 blinder, 16-byte salt, 64-byte signature`.

use triad_provider::{ComponentOpening, EquivocationProof};

/// One party's intake list, indices into the session's contribution list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IntakeList {
    /// Contributions whose bundle this party could not open or check.
    pub(crate) unusable: Vec<u32>,
    /// Copies that do not open their public commitment, with the provider's signature.
    pub(crate) accusations: Vec<(u32, EquivocationProof)>,
}

/// Longest vector a peer may announce (a bundle's words are far fewer).
const MAX_WORDS: usize = 1 << 12;

impl IntakeList {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend((self.unusable.len() as u32).to_le_bytes());
        for i in &self.unusable {
            out.extend(i.to_le_bytes());
        }
        out.extend((self.accusations.len() as u32).to_le_bytes());
        for (i, p) in &self.accusations {
            out.extend(i.to_le_bytes());
            out.push(u8::try_from(p.opening.column).unwrap_or(u8::MAX));
            out.push(p.opening.component as u8);
            out.extend(p.opening.value.to_le_bytes());
            for words in [&p.opening.value_bytes, &p.opening.blinder] {
                out.extend((words.len() as u32).to_le_bytes());
                for w in words {
                    out.extend(w.to_le_bytes());
                }
            }
            out.extend(p.opening.salt);
            out.extend(p.signature);
        }
        out
    }

    /// Decodes a peer's list; `n` is the session's contribution count.
    pub(crate) fn decode(bytes: &[u8], n: usize) -> Result<IntakeList, String> {
        let mut r = Reader(bytes);
        let index = |i: u32| {
            if (i as usize) < n { Ok(i) } else { Err(format!("index {i} beyond the session's {n} contributions")) }
        };
        let count = r.u32()? as usize;
        if count > n {
            return Err(format!("{count} unusable bundles in a session of {n}"));
        }
        let unusable = (0..count).map(|_| index(r.u32()?)).collect::<Result<Vec<_>, _>>()?;
        let count = r.u32()? as usize;
        // A party holds two components of each value of each contribution.
        if count > 2 * triad_provider::MAX_COLUMNS * n {
            return Err(format!("{count} accusations in a session of {n}"));
        }
        let mut accusations = Vec::with_capacity(count);
        for _ in 0..count {
            let i = index(r.u32()?)?;
            let column = usize::from(r.take(1)?[0]);
            let component = usize::from(r.take(1)?[0]);
            let value = r.u64()?;
            let value_bytes = r.words()?;
            let blinder = r.words()?;
            let salt = r.take(16)?.try_into().map_err(|_| "salt".to_owned())?;
            let signature = r.take(64)?.try_into().map_err(|_| "signature".to_owned())?;
            accusations.push((
                i,
                EquivocationProof {
                    opening: ComponentOpening { column, component, value, value_bytes, blinder, salt },
                    signature,
                },
            ));
        }
        if !r.0.is_empty() {
            return Err(format!("{} trailing bytes", r.0.len()));
        }
        Ok(IntakeList { unusable, accusations })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut w = [0u8; 8];
        w.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(w))
    }
    fn words(&mut self) -> Result<Vec<u64>, String> {
        let n = self.u32()? as usize;
        if n > MAX_WORDS {
            return Err(format!("{n} words"));
        }
        (0..n).map(|_| self.u64()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_bad_ones_are_refused() {
        let proof = EquivocationProof {
            opening: ComponentOpening {
                column: 1,
                component: 2,
                value: 7,
                value_bytes: vec![1, 2],
                blinder: vec![3, 4],
                salt: [5; 16],
            },
            signature: [6; 64],
        };
        let l = IntakeList { unusable: vec![0, 3], accusations: vec![(1, proof)] };
        let bytes = l.encode();
        assert_eq!(IntakeList::decode(&bytes, 4), Ok(l));
        assert!(IntakeList::decode(&bytes, 3).is_err_and(|e| e.contains("beyond")));
        assert!(IntakeList::decode(&bytes[..bytes.len() - 1], 4).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(IntakeList::decode(&longer, 4).is_err_and(|e| e.contains("trailing")));
    }
}
