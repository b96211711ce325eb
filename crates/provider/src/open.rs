//! HPKE (RFC 9180) single-shot open in base mode for the one suite the bundles use,
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20Poly1305: the parties' side of sealing.
//!
//! Written here, not taken from the `hpke` crate (which seals, and which the tests hold this
//! to), because opening is a party's costliest step per contribution at intake and the crate
//! spends twice what it needs:
//! - it re-derives the recipient's public key (a base-point multiplication) on every open, for
//!   the KEM context; an [`Opener`] derives it once;
//! - its X25519 is curve25519-dalek's Montgomery ladder on serial field arithmetic. Here the
//!   same product is taken on the Edwards form, whose constant-time variable-base
//!   multiplication uses the vector (AVX2) backend. X25519 is `u([k]P)` for the clamped `k = 8m`; `[8]P` lies in the prime-order
//!   subgroup, so `[k]P = [m mod l]([8]P)` exactly, for every point of the curve.
//!   An encapsulated key on the twist has no Edwards image and is refused, where the ladder
//!   would compute a secret the sender cannot know (its ciphertext fails the AEAD either way).
//!
//! - An open takes three field exponentiations besides the product (the inversion and the
//!   square root of the Edwards conversion, the inversion back to Montgomery form); a party
//!   opens an intake session's bundles together ([`Opener::open_many`]), which inverts all the
//!   products' denominators at once (Montgomery's trick), saving one of the three per bundle.
//!
//! HKDF and the AEAD are ring's (HMAC-SHA256 and ChaCha20-Poly1305). One open of a 600-byte
//! bundle: 45.9 µs here against 72.7 µs with the crate (release, this project's 2-core machine).

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use ring::{aead, hmac};
use zeroize::Zeroizing;

/// One message to open: `Open(enc, skR, info, aad, ciphertext)`.
pub(crate) struct Sealed<'a> {
    pub(crate) enc: &'a [u8; 32],
    pub(crate) info: &'a [u8],
    pub(crate) aad: &'a [u8],
    pub(crate) ciphertext: &'a [u8],
}

/// RFC 9180 identifiers of the suite.
pub(crate) const KEM_ID: u16 = 0x0020;
pub(crate) const KDF_ID: u16 = 0x0001;
pub(crate) const AEAD_ID: u16 = 0x0003;
const VERSION_LABEL: &[u8] = b"HPKE-v1";
/// `Nk` and `Nn` of ChaCha20Poly1305, `Nsecret` of the KEM.
const KEY_LEN: u16 = 32;
const NONCE_LEN: u16 = 12;
const SECRET_LEN: u16 = 32;

/// A recipient's secret key ready to open: `m = k / 8 mod l` for the clamped scalar `k`, and
/// the public key `X25519(k, 9)`. `Debug` is opaque; the scalar is wiped when dropped.
#[derive(Clone)]
pub(crate) struct Opener {
    m: Zeroizing<Scalar>,
    public: [u8; 32],
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener(..)")
    }
}

impl Opener {
    /// From the 32 bytes of an X25519 secret key (as RFC 7748 reads them: clamped).
    pub(crate) fn new(secret: &[u8; 32]) -> Opener {
        let mut k = Zeroizing::new(*secret);
        k[0] &= 248;
        k[31] &= 127;
        k[31] |= 64;
        let public = MontgomeryPoint::mul_base_clamped(*k).to_bytes();
        // k / 8 (k is a multiple of 8), little-endian.
        let mut m = Zeroizing::new([0u8; 32]);
        for i in 0..32 {
            let next = if i + 1 < 32 { k[i + 1] } else { 0 };
            m[i] = (k[i] >> 3) | (next << 5);
        }
        Opener { m: Zeroizing::new(Scalar::from_bytes_mod_order(*m)), public }
    }

    /// `pkR` in the KEM context.
    #[cfg(test)]
    pub(crate) fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// `Open(enc, skR, info, aad, ciphertext)`; `None` on any failure (a refused encapsulated
    /// key, an all-zero shared secret, or a ciphertext that does not authenticate). The tests'
    /// reference for [`Opener::open_many`], which the crate uses.
    #[cfg(test)]
    pub(crate) fn open(&self, enc: &[u8; 32], info: &[u8], aad: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        self.open_many(&[Sealed { enc, info, aad, ciphertext }]).pop().flatten()
    }

    /// [`Opener::open`] of each, in order, their DH outputs computed together
    /// ([`Opener::dh_many`]).
    pub(crate) fn open_many(&self, items: &[Sealed<'_>]) -> Vec<Option<Vec<u8>>> {
        let encs: Vec<[u8; 32]> = items.iter().map(|s| *s.enc).collect();
        let dhs = self.dh_many(&encs);
        items.iter().zip(&dhs).map(|(s, dh)| self.open_with(dh.as_ref()?, s)).collect()
    }

    /// The rest of an open once the DH output is known: key schedule, then the AEAD.
    fn open_with(&self, dh: &[u8; 32], s: &Sealed<'_>) -> Option<Vec<u8>> {
        let shared_secret = self.shared_secret(dh, s.enc);
        let (key, nonce) = key_schedule(&shared_secret, s.info);
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &key[..]).ok()?);
        let nonce = aead::Nonce::try_assume_unique_for_key(&nonce[..]).ok()?;
        let mut in_out = s.ciphertext.to_vec();
        let len = key.open_in_place(nonce, aead::Aad::from(s.aad), &mut in_out).ok()?.len();
        in_out.truncate(len);
        Some(in_out)
    }

    /// `DH(skR, pkE)` = X25519(k, enc) for each encapsulated key, on the Edwards form (see the
    /// module's notes); `None` for a key refused or an all-zero output. The products go back
    /// to the Montgomery form together: one field inversion for all of them (Montgomery's
    /// trick, three multiplications each), where each alone takes one of an open's three field
    /// exponentiations.
    fn dh_many(&self, encs: &[[u8; 32]]) -> Vec<Option<Zeroizing<[u8; 32]>>> {
        let mut products: Zeroizing<Vec<EdwardsPoint>> = Zeroizing::new(Vec::with_capacity(encs.len()));
        let index: Vec<Option<usize>> = encs
            .iter()
            .map(|enc| {
                let point = MontgomeryPoint(*enc).to_edwards(0)?;
                products.push(point.mul_by_cofactor() * *self.m);
                Some(products.len() - 1)
            })
            .collect();
        let shared: Zeroizing<Vec<MontgomeryPoint>> = Zeroizing::new(EdwardsPoint::to_montgomery_batch(&products));
        index
            .into_iter()
            .map(|i| {
                let dh = Zeroizing::new(shared.get(i?)?.to_bytes());
                // RFC 9180 §7.1.4: an all-zero DH output is an error (small-order keys).
                (dh.iter().fold(0u8, |acc, b| acc | b) != 0).then_some(dh)
            })
            .collect()
    }

    /// [`Opener::dh_many`] of one key.
    #[cfg(test)]
    fn dh(&self, enc: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        self.dh_many(&[*enc]).pop().flatten()
    }

    /// `ExtractAndExpand(dh, enc || pkR)` with the KEM's suite id.
    fn shared_secret(&self, dh: &[u8; 32], enc: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        let suite = kem_suite_id();
        let eae_prk = labeled_extract(&suite, &[], b"eae_prk", dh);
        let mut context = [0u8; 64];
        context[..32].copy_from_slice(enc);
        context[32..].copy_from_slice(&self.public);
        Zeroizing::new(labeled_expand::<32>(&suite, &eae_prk, b"shared_secret", &context, SECRET_LEN))
    }
}

/// Base mode's `KeySchedule` (no PSK): the AEAD key and base nonce (sequence 0 for a
/// single-shot open).
fn key_schedule(shared_secret: &[u8; 32], info: &[u8]) -> (Zeroizing<[u8; 32]>, [u8; 12]) {
    let suite = hpke_suite_id();
    let psk_id_hash = labeled_extract(&suite, &[], b"psk_id_hash", &[]);
    let info_hash = labeled_extract(&suite, &[], b"info_hash", info);
    let mut context = [0u8; 65];
    context[0] = 0x00; // mode_base
    context[1..33].copy_from_slice(psk_id_hash.as_ref());
    context[33..].copy_from_slice(info_hash.as_ref());
    let secret = labeled_extract(&suite, shared_secret, b"secret", &[]);
    let key = Zeroizing::new(labeled_expand::<32>(&suite, &secret, b"key", &context, KEY_LEN));
    let nonce = labeled_expand::<12>(&suite, &secret, b"base_nonce", &context, NONCE_LEN);
    (key, nonce)
}

fn kem_suite_id() -> [u8; 5] {
    let [a, b] = KEM_ID.to_be_bytes();
    [b'K', b'E', b'M', a, b]
}

fn hpke_suite_id() -> [u8; 10] {
    let ([a, b], [c, d], [e, f]) = (KEM_ID.to_be_bytes(), KDF_ID.to_be_bytes(), AEAD_ID.to_be_bytes());
    [b'H', b'P', b'K', b'E', a, b, c, d, e, f]
}

/// `LabeledExtract(salt, label, ikm)` = HMAC-SHA256(salt, "HPKE-v1" || suite_id || label || ikm).
fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, salt));
    for part in [VERSION_LABEL, suite, label, ikm] {
        ctx.update(part);
    }
    ctx.sign()
}

/// `LabeledExpand(prk, label, info, L)` for `L` <= 32: HKDF-Expand's first block,
/// HMAC-SHA256(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info || 0x01), cut to `L`.
fn labeled_expand<const N: usize>(suite: &[u8], prk: &hmac::Tag, label: &[u8], info: &[u8], len: u16) -> [u8; N] {
    debug_assert!(usize::from(len) == N && N <= 32);
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()));
    for part in [&len.to_be_bytes()[..], VERSION_LABEL, suite, label, info, &[1u8]] {
        ctx.update(part);
    }
    let block = ctx.sign();
    let mut out = [0u8; N];
    out.copy_from_slice(&block.as_ref()[..N]);
    out
}

#[cfg(test)]
mod tests {
    use hpke::aead::ChaCha20Poly1305;
    use hpke::kdf::HkdfSha256;
    use hpke::kem::X25519HkdfSha256;
    use hpke::{Deserializable as _, Kem as _, OpModeS, Serializable as _};

    use super::Opener;

    fn opener(sk: &<X25519HkdfSha256 as hpke::Kem>::PrivateKey) -> Opener {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&sk.to_bytes());
        Opener::new(&bytes)
    }

    /// What the `hpke` crate seals, this opens, for many keys, lengths and contexts; and the
    /// public key it derives is the crate's.
    #[test]
    fn opens_what_the_hpke_crate_seals() {
        let mut rng = crate::os_rng();
        for i in 0..64usize {
            let (sk, pk) = X25519HkdfSha256::gen_keypair_with_rng(&mut rng);
            let o = opener(&sk);
            assert_eq!(o.public_key()[..], pk.to_bytes()[..]);
            let info = vec![i as u8; i % 7 * 13];
            let aad = vec![0xa5; i % 3 * 5];
            let msg: Vec<u8> = (0..i * 37).map(|b| b as u8).collect();
            let (enc, ct) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &OpModeS::Base,
                &pk,
                &info,
                &msg,
                &aad,
                &mut rng,
            )
            .expect("seal");
            let mut e = [0u8; 32];
            e.copy_from_slice(&enc.to_bytes());
            assert_eq!(o.open(&e, &info, &aad, &ct).as_deref(), Some(&msg[..]), "case {i}");
        }
    }

    /// Anything altered (the ciphertext, the context, the key) does not open; nor do the
    /// encapsulated keys the crate also refuses or cannot use (small order, the twist).
    #[test]
    fn refuses_what_does_not_authenticate() {
        let mut rng = crate::os_rng();
        let (sk, pk) = X25519HkdfSha256::gen_keypair_with_rng(&mut rng);
        let o = opener(&sk);
        let (enc, ct) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeS::Base,
            &pk,
            b"info",
            b"the shares",
            b"aad",
            &mut rng,
        )
        .expect("seal");
        let mut e = [0u8; 32];
        e.copy_from_slice(&enc.to_bytes());
        assert!(o.open(&e, b"info", b"aad", &ct).is_some());
        assert!(o.open(&e, b"info!", b"aad", &ct).is_none(), "another info");
        assert!(o.open(&e, b"info", b"aad!", &ct).is_none(), "another aad");
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(o.open(&e, b"info", b"aad", &bad).is_none(), "a flipped bit");
        assert!(o.open(&e, b"info", b"aad", &ct[..ct.len() - 1]).is_none(), "a cut tag");
        let mut other = e;
        other[5] ^= 1;
        assert!(o.open(&other, b"info", b"aad", &ct).is_none(), "another encapsulated key");
        let (sk2, _) = X25519HkdfSha256::gen_keypair_with_rng(&mut rng);
        assert!(opener(&sk2).open(&e, b"info", b"aad", &ct).is_none(), "another recipient");
        // u = 0 and u = 1 have small order: an all-zero DH output, refused (as the crate does).
        let mut one = [0u8; 32];
        one[0] = 1;
        for small in [[0u8; 32], one] {
            assert!(o.open(&small, b"info", b"aad", &ct).is_none());
            let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&small).expect("32 bytes");
            let crate_open = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &hpke::OpModeR::Base,
                &sk,
                &enc,
                b"info",
                &ct,
                b"aad",
            );
            assert!(crate_open.is_err());
        }
        // u = 2 is on the twist: no Edwards image.
        let mut twist = [0u8; 32];
        twist[0] = 2;
        assert!(o.open(&twist, b"info", b"aad", &ct).is_none());
    }

    /// A batch opens what each open alone opens, and refuses what each refuses, whatever sits
    /// beside it (keys of the twist, of small order, another recipient's, altered messages).
    #[test]
    fn a_batch_opens_as_each_alone() {
        let mut rng = crate::os_rng();
        let (sk, pk) = X25519HkdfSha256::gen_keypair_with_rng(&mut rng);
        let (_, other_pk) = X25519HkdfSha256::gen_keypair_with_rng(&mut rng);
        let o = opener(&sk);
        let mut sealed: Vec<([u8; 32], Vec<u8>, Vec<u8>)> = Vec::new();
        for i in 0..24usize {
            let to = if i % 5 == 3 { &other_pk } else { &pk };
            let info = vec![i as u8; 9];
            let msg = vec![0x5a ^ i as u8; 40 + i];
            let (enc, mut ct) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &OpModeS::Base,
                to,
                &info,
                &msg,
                b"aad",
                &mut rng,
            )
            .expect("seal");
            let mut e = [0u8; 32];
            e.copy_from_slice(&enc.to_bytes());
            match i % 6 {
                1 => e = [0u8; 32],                                     // small order
                2 => e = std::array::from_fn(|k| u8::from(k == 0) * 2), // the twist
                4 => ct[3] ^= 1,
                _ => {}
            }
            sealed.push((e, info, ct));
        }
        let items: Vec<super::Sealed<'_>> =
            sealed.iter().map(|(enc, info, ct)| super::Sealed { enc, info, aad: b"aad", ciphertext: ct }).collect();
        let alone: Vec<Option<Vec<u8>>> = sealed.iter().map(|(e, info, ct)| o.open(e, info, b"aad", ct)).collect();
        let opened = alone.iter().filter(|x| x.is_some()).count();
        assert!(opened > 5 && opened < 24, "{opened} of 24 open alone");
        assert_eq!(o.open_many(&items), alone);
        assert_eq!(o.open_many(&items[..0]), Vec::<Option<Vec<u8>>>::new());
    }

    /// The Edwards-form product equals the ladder's for every point of the curve (pseudorandom
    /// ones: most have a small-order component), also with the top bit of u set (which X25519
    /// masks); points of the twist are refused.
    #[test]
    fn the_edwards_product_is_x25519() {
        use curve25519_dalek::montgomery::MontgomeryPoint;
        use sha2::{Digest as _, Sha256};
        let mut rng = crate::os_rng();
        let (mut curve, mut twist) = (0, 0);
        for i in 0..200u32 {
            let (sk, _) = X25519HkdfSha256::gen_keypair_with_rng(&mut rng);
            let mut k = [0u8; 32];
            k.copy_from_slice(&sk.to_bytes());
            let u: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
            let ladder = MontgomeryPoint(u).mul_clamped(k).to_bytes();
            let on_curve = MontgomeryPoint(u).to_edwards(0).is_some();
            match opener(&sk).dh(&u) {
                Some(d) => {
                    assert!(on_curve);
                    assert_eq!(*d, ladder, "case {i}");
                    curve += 1;
                }
                None => {
                    assert!(!on_curve, "case {i}: a point of the curve refused");
                    twist += 1;
                }
            }
        }
        assert!(curve > 50 && twist > 50, "{curve} on the curve, {twist} on the twist");
    }
}
