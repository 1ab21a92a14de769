//! Randomness, digests and credential formats.
//!
//! Every secret Latch mints is `prefix + 32 base62 random chars (≈190 bits) + 6-char base62
//! CRC32 of the random part` (DESIGN.md; GitHub's 2021 token format). The checksum lets us
//! refuse garbage without a database read; the prefix lets secret scanners find leaks.
//! Secrets are stored only as SHA-256 hex digests (RFC 6749 §10.10 entropy makes a fast hash
//! right; argon2id is for passwords).

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random base62 characters in a minted secret: 32 × log2(62) ≈ 190 bits.
pub const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill(&mut v[..]);
    v
}

/// `n` uniformly random base62 characters from the OS-seeded CSPRNG.
pub fn random_base62(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| BASE62[rng.random_range(0..62)] as char)
        .collect()
}

fn base62_fixed(mut v: u32, len: usize) -> String {
    let mut out = vec![b'0'; len];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(v % 62) as usize];
        v /= 62;
    }
    String::from_utf8(out).expect("base62 alphabet is ASCII")
}

fn checksum(random: &str) -> String {
    base62_fixed(crc32fast::hash(random.as_bytes()), CHECKSUM_LEN)
}

/// Mint a checksummed secret with the given prefix (`sk_live_`, `cs_`, `rt_`, …).
pub fn mint_secret(prefix: &str) -> String {
    let random = random_base62(RANDOM_LEN);
    let sum = checksum(&random);
    format!("{prefix}{random}{sum}")
}

/// Whether `s` has the shape of a secret minted with `prefix` and a correct checksum.
/// Costs a CRC32 over 32 bytes, no I/O.
pub fn check_secret(s: &str, prefix: &str) -> bool {
    let Some(body) = s.strip_prefix(prefix) else {
        return false;
    };
    if body.len() != RANDOM_LEN + CHECKSUM_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, sum) = body.split_at(RANDOM_LEN);
    checksum(random).as_bytes().ct_eq(sum.as_bytes()).into()
}

pub fn sha256_hex(s: &str) -> String {
    sha256_hex_bytes(s.as_bytes())
}

pub fn sha256_hex_bytes(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(d: &[u8]) -> String {
    let mut out = String::with_capacity(d.len() * 2);
    for b in d {
        out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        out.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    out
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

/// A time-ordered identifier with a type prefix (`user_…`, `key_…`): uuid v7 in hex, so
/// ids sort by creation time and serve as pagination cursors.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Derive a purpose-bound 32-byte key from the master secret (HKDF-SHA256, RFC 5869).
pub fn derive_key(master: &[u8], purpose: &str) -> [u8; 32] {
    struct Len32;
    impl hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"latch.v1");
    let prk = salt.extract(master);
    let info = [purpose.as_bytes()];
    let okm = prk
        .expand(&info, Len32)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let mut out = [0u8; 32];
    okm.fill(&mut out)
        .expect("buffer matches the requested length");
    out
}

/// AES-256-GCM with a key derived from the master secret; used to keep private keys
/// encrypted at rest. Output: base64url(nonce ‖ ciphertext ‖ tag).
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
    /// HMAC-SHA-256 under a key derived from the master secret, for short secrets stored as
    /// digests (recovery codes): without the master key, a stolen table cannot be searched.
    mac: std::sync::Arc<aws_lc_rs::hmac::Key>,
}

impl Sealer {
    pub fn new(master: &[u8]) -> Self {
        let k = derive_key(master, "signing-key-encryption");
        let unbound = UnboundKey::new(&aead::AES_256_GCM, &k).expect("32-byte AES-256 key");
        let m = derive_key(master, "keyed-digest");
        Self {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
            mac: std::sync::Arc::new(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &m)),
        }
    }

    /// Hex HMAC-SHA-256 of `data` under the master-derived digest key, with `purpose`
    /// prefixed so one kind of digest cannot stand for another.
    pub fn keyed_digest(&self, purpose: &str, data: &[u8]) -> String {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.mac);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(data);
        hex(ctx.sign().as_ref())
    }

    pub fn seal(&self, plaintext: &[u8], aad: &str) -> String {
        let nonce_bytes: [u8; 12] = rand::rng().random();
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        b64url(&out)
    }

    pub fn open(&self, sealed: &str, aad: &str) -> Option<Vec<u8>> {
        let data = b64url_decode(sealed)?;
        if data.len() < 12 + 16 {
            return None;
        }
        let (nonce, ct) = data.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn minted_secrets_check_and_tampering_fails() {
        let s = mint_secret("sk_test_");
        assert!(s.starts_with("sk_test_"));
        assert_eq!(s.len(), "sk_test_".len() + 38);
        assert!(check_secret(&s, "sk_test_"));
        assert!(!check_secret(&s, "sk_live_"));
        let mut bad = s.clone().into_bytes();
        let i = 10;
        bad[i] = if bad[i] == b'a' { b'b' } else { b'a' };
        assert!(!check_secret(
            std::str::from_utf8(&bad).unwrap(),
            "sk_test_"
        ));
        assert!(!check_secret(&s[..s.len() - 1], "sk_test_"));
        assert!(!check_secret("sk_test_", "sk_test_"));
    }

    #[test]
    fn ten_thousand_secrets_are_unique() {
        let set: HashSet<String> = (0..10_000).map(|_| mint_secret("rt_")).collect();
        assert_eq!(set.len(), 10_000);
    }

    #[test]
    fn sha256_hex_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sealer_round_trips_and_binds_aad() {
        let s = Sealer::new(&[7u8; 32]);
        let sealed = s.seal(b"private", "kid1");
        assert_eq!(s.open(&sealed, "kid1").unwrap(), b"private");
        assert!(s.open(&sealed, "kid2").is_none());
        assert!(Sealer::new(&[8u8; 32]).open(&sealed, "kid1").is_none());
    }

    #[test]
    fn ids_sort_by_time() {
        let a = new_id("user");
        let b = new_id("user");
        assert!(a < b);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        const PREFIXES: &[&str] = &["sk_live_", "sk_test_", "cs_", "rt_"];

        proptest! {
            #![proptest_config(hostile_config!())]

            /// Random strings never pass, also when they carry the right prefix and shape
            /// (a false pass needs the 6-character checksum guessed: 1 in 62^6).
            #[test]
            fn prop_random_strings_never_pass(
                prefix in prop::sample::select(PREFIXES),
                any_str in any::<String>(),
                shaped in "[0-9A-Za-z]{38}",
            ) {
                prop_assert!(!check_secret(&any_str, prefix));
                let prefixed = format!("{prefix}{any_str}");
                prop_assert!(!check_secret(&prefixed, prefix));
                let shaped = format!("{prefix}{shaped}");
                prop_assert!(!check_secret(&shaped, prefix));
            }

            /// A minted secret with any one character changed never passes: CRC32 detects
            /// every single-byte change, and the 6 base62 digits hold all 2^32 sums.
            #[test]
            fn prop_one_changed_character_never_passes(
                prefix in prop::sample::select(PREFIXES),
                i in any::<prop::sample::Index>(),
                c in any::<char>(),
            ) {
                let s = mint_secret(prefix);
                prop_assert!(check_secret(&s, prefix));
                let mut chars: Vec<char> = s.chars().collect();
                let i = i.index(chars.len());
                prop_assume!(chars[i] != c);
                chars[i] = c;
                let bad: String = chars.into_iter().collect();
                prop_assert!(!check_secret(&bad, prefix), "{bad:?}");
            }

            /// Decoders of untrusted text never panic.
            #[test]
            fn prop_decoders_never_panic(s in any::<String>(), aad in "[a-z0-9]{0,8}") {
                let _ = b64url_decode(&s);
                prop_assert!(Sealer::new(&[9u8; 32]).open(&s, &aad).is_none());
            }
        }
    }
}
