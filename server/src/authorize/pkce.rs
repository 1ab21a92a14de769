//! PKCE (RFC 7636) with S256 only (RFC 9700 §2.1.1).

use crate::crypto::{b64url, constant_time_eq, sha256};

/// RFC 7636 §4.1: 43–128 characters of `[A-Z] [a-z] [0-9] - . _ ~`.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 challenge is BASE64URL(SHA256(verifier)) without padding: exactly 43 characters.
pub fn valid_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn s256(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

/// RFC 7636 §4.6: the verifier must hash to the stored challenge.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    valid_verifier(verifier) && constant_time_eq(s256(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verify(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!verify(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    #[test]
    fn verifier_length_and_charset() {
        assert!(!valid_verifier(&"a".repeat(42)));
        assert!(valid_verifier(&"a".repeat(43)));
        assert!(valid_verifier(&"a".repeat(128)));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn challenge_shape() {
        assert!(valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
        ));
        assert!(!valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="
        ));
        assert!(!valid_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        fn unreserved(b: u8) -> bool {
            b.is_ascii_alphanumeric() || b"-._~".contains(&b)
        }

        proptest! {
            #![proptest_config(hostile_config!())]

            /// RFC 7636 §4.1: a verifier is valid exactly when it is 43–128 unreserved
            /// characters; nothing else ever verifies.
            #[test]
            fn prop_verifier_rule_is_length_and_charset(v in "\\PC{0,140}|[A-Za-z0-9._~-]{30,140}") {
                let expected = (43..=128).contains(&v.len()) && v.bytes().all(unreserved);
                prop_assert_eq!(valid_verifier(&v), expected);
                if !expected {
                    prop_assert!(!verify(&v, &s256(&v)));
                }
            }

            /// RFC 7636 §4.2: S256 of a valid verifier is a valid challenge it verifies
            /// against; another verifier and a changed challenge do not.
            #[test]
            fn prop_s256_verifies_only_its_own_verifier(
                v in "[A-Za-z0-9._~-]{43,128}",
                w in "[A-Za-z0-9._~-]{43,128}",
                i in 0..43usize,
            ) {
                let c = s256(&v);
                prop_assert!(valid_s256_challenge(&c));
                prop_assert!(verify(&v, &c));
                if v != w {
                    prop_assert!(!verify(&w, &c));
                }
                let mut bad = c.clone().into_bytes();
                bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
                prop_assert!(!verify(&v, std::str::from_utf8(&bad).unwrap()));
            }

            #[test]
            fn prop_arbitrary_challenges_never_panic(v in any::<String>(), c in any::<String>()) {
                let _ = valid_s256_challenge(&c);
                if verify(&v, &c) {
                    prop_assert!(valid_verifier(&v));
                }
            }
        }
    }
}
