//! The decoder and verifier never panic, whatever the input: random byte
//! strings, and random mutations of the fixtures (which must also never be
//! accepted).

mod common;

use common::*;
use proptest::prelude::*;
use triad_notary::{VerifyError, verify, wire};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = wire::decode(&bytes);
        prop_assert!(verify(&bytes, &config()).is_err());
    }

    #[test]
    fn a_random_single_byte_change_of_a_fixture_is_rejected(
        which in 0usize..2,
        pos in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut bytes = if which == 0 { full() } else { hidden() };
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != value);
        bytes[i] = value;
        prop_assert!(verify(&bytes, &config()).is_err());
    }

    #[test]
    fn random_multi_byte_changes_and_cuts_of_a_fixture_are_rejected(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let original = hidden();
        let mut bytes = original.clone();
        for (pos, v) in &edits {
            let i = pos.index(bytes.len());
            bytes[i] = *v;
        }
        if do_cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        prop_assume!(bytes != original);
        prop_assert!(verify(&bytes, &config()).is_err());
    }

    /// Eight bytes anywhere set to a huge number (a length prefix, where
    /// they hit one) are rejected, and nothing is allocated per that number.
    #[test]
    fn huge_values_anywhere_are_rejected_with_bounded_allocation(
        pos in any::<prop::sample::Index>(),
        len in huge(),
    ) {
        let original = full();
        let mut bytes = original.clone();
        let i = pos.index(bytes.len() - 8);
        bytes[i..i + 8].copy_from_slice(&len.to_le_bytes());
        prop_assume!(bytes != original);
        let (result, largest) = alloc::largest_during(|| verify(&bytes, &config()));
        prop_assert!(result.is_err(), "accepted with {len} at offset {i}");
        prop_assert!(largest <= alloc::BOUND, "{largest} bytes at once for {len} at offset {i}");
    }

    /// A length prefix set past the end of the input is a decode error, and
    /// the decoder allocates nothing per the prefix.
    #[test]
    fn huge_length_prefixes_are_rejected(which in any::<prop::sample::Index>(), len in huge()) {
        let mut bytes = full();
        let prefixes = length_prefixes(&bytes);
        let i = prefixes[which.index(prefixes.len())];
        let remaining = (bytes.len() - i - 8) as u64;
        prop_assume!(len > remaining);
        bytes[i..i + 8].copy_from_slice(&len.to_le_bytes());
        let (decoded, largest) = alloc::largest_during(|| wire::decode(&bytes));
        prop_assert!(
            matches!(decoded, Err(VerifyError::Decode(_))),
            "prefix at {i} set to {len}: {decoded:?}"
        );
        prop_assert!(largest <= alloc::BOUND, "{largest} bytes at once for prefix {len} at {i}");
        let (verified, largest) = alloc::largest_during(|| verify(&bytes, &config()));
        prop_assert!(matches!(verified, Err(VerifyError::Decode(_))), "{verified:?}");
        prop_assert!(largest <= alloc::BOUND, "{largest} bytes at once in verify");
    }
}

/// Numbers larger than any allocation the decoder may make: from just past
/// the bound (which a decoder allocating per prefix could still satisfy) up
/// to `u64::MAX`.
fn huge() -> impl Strategy<Value = u64> {
    prop_oneof![(alloc::BOUND as u64 + 1)..(1u64 << 30), any::<u64>()]
}

/// The offsets of the length prefixes in `bytes` (an encoded presentation),
/// found by walking the decoded value the way bincode writes it.
fn length_prefixes(bytes: &[u8]) -> Vec<usize> {
    let mut walk = prefixes::Walk::default();
    serde::Serialize::serialize(&decode(bytes), &mut walk).expect("the walk cannot fail");
    assert_eq!(walk.offset, bytes.len(), "the walk mirrors bincode's layout");
    assert!(!walk.prefixes.is_empty());
    for &(at, len) in &walk.prefixes {
        assert_eq!(bytes[at..at + 8], len.to_le_bytes(), "a prefix at {at}");
    }
    walk.prefixes.into_iter().map(|(at, _)| at).collect()
}

#[test]
fn the_fixture_s_length_prefixes_are_found() {
    // The signature's data length is the u64 at offset 1 (after the alg byte).
    let found = length_prefixes(&full());
    assert_eq!(found[0], 1);
    assert!(found.len() > 10, "{found:?}");
}

#[test]
fn an_input_over_the_size_limit_is_rejected_before_decoding() {
    let big = vec![0u8; triad_notary::MAX_PRESENTATION_SIZE + 1];
    assert!(matches!(verify(&big, &config()), Err(VerifyError::TooLarge { .. })));
}

#[test]
fn a_length_prefix_beyond_the_input_is_a_decode_error() {
    // The signature's data length is the u64 at offset 1.
    let mut bytes = full();
    bytes[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(wire::decode(&bytes), Err(VerifyError::Decode(_))));
    bytes[1..9].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(wire::decode(&bytes), Err(VerifyError::Decode(_))));
}

fn arb_ranges() -> impl Strategy<Value = wire::RangeSet> {
    proptest::collection::vec(prop_oneof![(0u64..200, 0u64..200), (any::<u64>(), any::<u64>())], 0..4)
        .prop_map(|v| wire::RangeSet { ranges: v.into_iter().map(|(start, end)| wire::Range { start, end }).collect() })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The transcript proof is not signed: a prover controls all of it.
    /// Arbitrary ranges, lengths and openings must be rejected, not panic.
    #[test]
    fn arbitrary_transcript_proofs_are_rejected_without_panic(
        sent_idx in arb_ranges(),
        recv_idx in arb_ranges(),
        secret_idx in arb_ranges(),
        sent_total in prop_oneof![Just(35u64), any::<u64>()],
        recv_total in prop_oneof![Just(145u64), any::<u64>()],
        extra in 0usize..300,
        which_secret in 0usize..3,
        alg in 0u8..5,
    ) {
        let mut p = decode(&hidden());
        let t = p.transcript.as_mut().expect("transcript");
        t.transcript.sent_idx = sent_idx;
        t.transcript.recv_idx = recv_idx;
        t.transcript.sent_total = sent_total;
        t.transcript.recv_total = recv_total;
        t.transcript.received_authed.resize(extra, b'a');
        t.hash_secrets[which_secret].idx = secret_idx;
        t.hash_secrets[which_secret].alg = alg;
        prop_assert!(verify(&wire::encode(&p), &config()).is_err());
    }

    /// Even a pinned notary that signs nonsense (commitments over arbitrary
    /// ranges, absurd lengths) does not make the verifier panic.
    #[test]
    fn a_notary_signing_arbitrary_commitments_causes_no_panic(
        idx in arb_ranges(),
        sent in any::<u32>(),
        received in prop_oneof![Just(145u32), any::<u32>()],
        alg in 0u8..5,
        tree_alg in prop_oneof![Just(2u8), 0u8..5],
    ) {
        let mut p = decode(&hidden());
        let body = &mut p.attestation.body.body;
        let wire::TranscriptCommitment::Hash(h) = &mut body.transcript_commitments[2].data;
        h.idx = idx;
        h.hash.alg = alg;
        body.connection_info.data.transcript_length.received = received;
        body.connection_info.data.transcript_length.sent = sent % 64;
        p.attestation.header.root.alg = tree_alg;
        let _ = triad_notary::attestation::reseal_secp256k1(&mut p.attestation, &NOTARY_SECRET);
        let _ = verify(&wire::encode(&p), &config());
        p.transcript = None;
        let mut lax = config();
        lax.require_transcript = false;
        let _ = triad_notary::verify_decoded(&p, &lax);
    }
}

/// Counts the largest single allocation made on the current thread while a
/// closure runs (other tests of this binary run on other threads).
// A counting allocator, this test binary's only `unsafe` (wrapping the system allocator).
#[allow(unsafe_code)]
mod alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// The most the decoder may allocate at once, whatever a length prefix
    /// says: serde preallocates at most 1 MiB for a sequence of announced
    /// length, and reads byte strings only after checking the length
    /// against the input that is left.
    pub const BOUND: usize = 1 << 20;

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static LARGEST: Cell<usize> = const { Cell::new(0) };
    }

    fn note(size: usize) {
        // `try_with`: no panic in the allocator while a thread is torn down.
        let _ = COUNTING.try_with(|counting| {
            if counting.get() {
                let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
            }
        });
    }

    /// Runs `f`; returns its result and the largest allocation it made.
    pub fn largest_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
        LARGEST.with(|largest| largest.set(0));
        COUNTING.with(|counting| counting.set(true));
        let result = f();
        COUNTING.with(|counting| counting.set(false));
        (result, LARGEST.with(Cell::get))
    }

    struct Counting;

    // SAFETY: every call is passed on unchanged to the system allocator; the
    // bookkeeping touches only const-initialised thread-locals of `Copy`
    // types, which neither allocate nor register destructors.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            // SAFETY: the caller's contract for `alloc` is passed on.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            // SAFETY: the caller's contract for `alloc_zeroed` is passed on.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            // SAFETY: the caller's contract for `realloc` is passed on.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract for `dealloc` is passed on.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static COUNTING_ALLOCATOR: Counting = Counting;

    #[test]
    fn the_counter_sees_an_allocation_past_the_bound() {
        let (v, largest) = largest_during(|| Vec::<u8>::with_capacity(BOUND + 1));
        assert!(v.capacity() > BOUND);
        assert!(largest > BOUND, "{largest}");
    }
}

/// A serde serializer that writes nothing and follows bincode's fixed-width
/// little-endian layout (as `wire::encode` uses) to note where each length
/// prefix (of a sequence, string or byte string) stands, and what it says.
mod prefixes {
    use serde::ser::{self, Serialize};

    #[derive(Default)]
    pub struct Walk {
        /// Bytes bincode would have written so far.
        pub offset: usize,
        /// Each length prefix: its offset and value.
        pub prefixes: Vec<(usize, u64)>,
    }

    #[derive(Debug)]
    pub struct Error(String);

    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Error {}

    impl ser::Error for Error {
        fn custom<T: std::fmt::Display>(msg: T) -> Self {
            Self(msg.to_string())
        }
    }

    impl Walk {
        fn skip(&mut self, n: usize) -> Result<(), Error> {
            self.offset += n;
            Ok(())
        }

        fn prefix(&mut self, len: usize) -> Result<(), Error> {
            self.prefixes.push((self.offset, len as u64));
            self.skip(8)
        }
    }

    macro_rules! fixed {
        ($($method:ident($ty:ty) = $size:expr;)*) => {
            $(fn $method(self, _: $ty) -> Result<(), Error> {
                self.skip($size)
            })*
        };
    }

    impl ser::Serializer for &mut Walk {
        type Ok = ();
        type Error = Error;
        type SerializeSeq = Self;
        type SerializeTuple = Self;
        type SerializeTupleStruct = Self;
        type SerializeTupleVariant = Self;
        type SerializeMap = Self;
        type SerializeStruct = Self;
        type SerializeStructVariant = Self;

        fixed! {
            serialize_bool(bool) = 1;
            serialize_i8(i8) = 1;
            serialize_i16(i16) = 2;
            serialize_i32(i32) = 4;
            serialize_i64(i64) = 8;
            serialize_u8(u8) = 1;
            serialize_u16(u16) = 2;
            serialize_u32(u32) = 4;
            serialize_u64(u64) = 8;
            serialize_f32(f32) = 4;
            serialize_f64(f64) = 8;
        }

        fn serialize_char(self, c: char) -> Result<(), Error> {
            self.skip(c.len_utf8())
        }

        fn serialize_str(self, s: &str) -> Result<(), Error> {
            self.prefix(s.len())?;
            self.skip(s.len())
        }

        fn serialize_bytes(self, b: &[u8]) -> Result<(), Error> {
            self.prefix(b.len())?;
            self.skip(b.len())
        }

        fn serialize_none(self) -> Result<(), Error> {
            self.skip(1)
        }

        fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
            self.skip(1)?;
            value.serialize(self)
        }

        fn serialize_unit(self) -> Result<(), Error> {
            Ok(())
        }

        fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
            Ok(())
        }

        fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Error> {
            self.skip(4)
        }

        fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Error> {
            value.serialize(self)
        }

        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            value: &T,
        ) -> Result<(), Error> {
            self.skip(4)?;
            value.serialize(self)
        }

        fn serialize_seq(self, len: Option<usize>) -> Result<Self, Error> {
            let len = len.ok_or_else(|| Error("a sequence of unknown length".into()))?;
            self.prefix(len)?;
            Ok(self)
        }

        fn serialize_tuple(self, _: usize) -> Result<Self, Error> {
            Ok(self)
        }

        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
            Ok(self)
        }

        fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self, Error> {
            self.skip(4)?;
            Ok(self)
        }

        fn serialize_map(self, len: Option<usize>) -> Result<Self, Error> {
            let len = len.ok_or_else(|| Error("a map of unknown length".into()))?;
            self.prefix(len)?;
            Ok(self)
        }

        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
            Ok(self)
        }

        fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self, Error> {
            self.skip(4)?;
            Ok(self)
        }
    }

    macro_rules! compound {
        ($($trait:ident :: $method:ident;)*) => {
            $(impl ser::$trait for &mut Walk {
                type Ok = ();
                type Error = Error;

                fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                    value.serialize(&mut **self)
                }

                fn end(self) -> Result<(), Error> {
                    Ok(())
                }
            })*
        };
    }

    compound! {
        SerializeSeq::serialize_element;
        SerializeTuple::serialize_element;
        SerializeTupleStruct::serialize_field;
        SerializeTupleVariant::serialize_field;
    }

    impl ser::SerializeMap for &mut Walk {
        type Ok = ();
        type Error = Error;

        fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
            key.serialize(&mut **self)
        }

        fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
            value.serialize(&mut **self)
        }

        fn end(self) -> Result<(), Error> {
            Ok(())
        }
    }

    impl ser::SerializeStruct for &mut Walk {
        type Ok = ();
        type Error = Error;

        fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), Error> {
            value.serialize(&mut **self)
        }

        fn end(self) -> Result<(), Error> {
            Ok(())
        }
    }

    impl ser::SerializeStructVariant for &mut Walk {
        type Ok = ();
        type Error = Error;

        fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Result<(), Error> {
            value.serialize(&mut **self)
        }

        fn end(self) -> Result<(), Error> {
            Ok(())
        }
    }
}
