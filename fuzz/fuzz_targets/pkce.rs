//! PKCE (`authorize::pkce`, RFC 7636 with S256 only): a verifier is valid exactly when it
//! is 43–128 unreserved characters (§4.1); S256 of a valid verifier is a valid challenge
//! that verifies it; a challenge verifies only the verifier it was made from.
#![no_main]

use arbitrary::Arbitrary;
use latch::authorize::pkce::{s256, valid_s256_challenge, valid_verifier, verify};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    verifier: &'a str,
    challenge: &'a str,
}

fuzz_target!(|i: Input<'_>| {
    let v = i.verifier;
    let rule = (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    assert_eq!(valid_verifier(v), rule);
    let c = s256(v);
    assert!(valid_s256_challenge(&c));
    assert_eq!(verify(v, &c), rule);
    if verify(v, i.challenge) {
        assert_eq!(i.challenge, c);
    }
    if valid_s256_challenge(i.challenge) {
        assert_eq!(i.challenge.len(), 43);
    }
});
