//! User codes (RFC 8628 §6.1): 8 characters from an alphabet of 20 consonants (no vowels,
//! so no words; no look-alike digits), about 34.5 bits, shown as `XXXX-XXXX`. What a person
//! types is accepted in any case, with or without the dash and spaces.

/// RFC 8628 §6.1's example alphabet: base-20 consonants.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const LEN: usize = 8;

/// A fresh code (stored form: 8 letters, no dash).
pub fn generate() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `BCDFGHJK` → `BCDF-GHJK`.
pub fn display(code: &str) -> String {
    match (code.get(..LEN / 2), code.get(LEN / 2..)) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

/// What a person typed, as stored: upper-cased, dashes and white space dropped; `None`
/// unless that is exactly 8 letters of the alphabet (so nothing else reaches a query).
pub fn normalize(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes_are_eight_letters_of_the_alphabet_shown_with_a_dash() {
        for _ in 0..100 {
            let c = generate();
            assert_eq!(normalize(&c).as_deref(), Some(c.as_str()));
            let shown = display(&c);
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(normalize(&shown).as_deref(), Some(c.as_str()));
        }
    }

    #[test]
    fn typing_is_forgiving_but_strict_about_the_alphabet() {
        assert_eq!(normalize("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize(" BCDF GHJK ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize("BCDFGHJK").as_deref(), Some("BCDFGHJK"));
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "BCDF_GHJK",
            "ＢCDF-GHJK",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Any input: no panic; an accepted code is 8 letters of the alphabet and stable.
        #[test]
        fn prop_normalized_codes_are_in_the_alphabet(typed in any::<String>()) {
            if let Some(c) = normalize(&typed) {
                prop_assert_eq!(c.len(), LEN);
                prop_assert!(c.bytes().all(|b| ALPHABET.contains(&b)));
                prop_assert_eq!(normalize(&display(&c)), Some(c.clone()));
            }
        }
    }
}
