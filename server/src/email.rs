//! Email addresses as people type them, and look-alikes.
//!
//! One form is stored and compared: the address trimmed and in Unicode Normalization Form
//! KC (UAX #15), so compatibility forms such as fullwidth `ＡＬＩＣＥ@ｅｘａｍｐｌｅ.com` are
//! the same address as `ALICE@example.com`; lookups also ignore case. A new address (sign-up,
//! `latch user create`, the admin API) must moreover not be made to look like another
//! (UTS #39 §4-5): no invisible characters (zero-width, soft hyphen, other default-ignorable
//! code points) or bidirectional controls, and no part that mixes scripts, such as a Latin
//! address with one Cyrillic `а`. Existing accounts are only looked up, never refused.

use unicode_normalization::UnicodeNormalization;
use unicode_script::{Script, UnicodeScript};

/// Why a new address is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailProblem {
    /// Not shaped like an address.
    Invalid,
    /// Contains invisible or text-direction characters.
    Invisible,
    /// A part mixes letters of different scripts.
    MixedScript,
}

impl EmailProblem {
    /// What the person should do, in plain words (shown on the sign-up page).
    pub fn message(self) -> &'static str {
        match self {
            EmailProblem::Invalid => "Enter a valid email address, such as ann@example.com.",
            EmailProblem::Invisible => {
                "Your email address contains invisible or text-direction characters (such as a \
                 zero-width space). Type it again without them."
            }
            EmailProblem::MixedScript => {
                "Your email address mixes letters from different alphabets (for example Latin \
                 and Cyrillic), so it could pass for another address. Type it using one alphabet."
            }
        }
    }
}

impl std::fmt::Display for EmailProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// The stored form: trimmed, NFKC.
pub fn normalize(email: &str) -> String {
    email.trim().nfkc().collect::<String>().trim().to_owned()
}

/// The form addresses are compared in (unique per account): [`normalize`]d, lower case.
pub fn lookup_key(email: &str) -> String {
    normalize(email).to_lowercase()
}

/// Invisible characters: the Default_Ignorable_Code_Point set (Unicode DerivedCoreProperties,
/// which includes the zero-width characters, soft hyphen, word joiner, variation selectors
/// and tags) and the bidirectional controls (UAX #9: LRM, RLM, ALM, embeddings, overrides
/// and isolates), which reorder how an address is displayed.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{034F}'
        | '\u{061C}'
        | '\u{115F}'..='\u{1160}'
        | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Whether `part` uses one script, as UTS #39 §5.2 "Highly Restrictive" allows: characters
/// of the Common and Inherited scripts (digits, `.`, `-`, `+`, combining marks) go with any;
/// otherwise all from one script, or all within Latin + Han + Hiragana + Katakana (Japanese),
/// Latin + Han + Bopomofo (Chinese) or Latin + Han + Hangul (Korean).
pub fn single_script(part: &str) -> bool {
    let mut scripts: Vec<Script> = Vec::new();
    for c in part.chars() {
        let s = c.script();
        if !matches!(s, Script::Common | Script::Inherited) && !scripts.contains(&s) {
            scripts.push(s);
        }
    }
    if scripts.len() <= 1 {
        return true;
    }
    const ALLOWED: [&[Script]; 3] = [
        &[
            Script::Latin,
            Script::Han,
            Script::Hiragana,
            Script::Katakana,
        ],
        &[Script::Latin, Script::Han, Script::Bopomofo],
        &[Script::Latin, Script::Han, Script::Hangul],
    ];
    ALLOWED
        .iter()
        .any(|set| scripts.iter().all(|s| set.contains(s)))
}

/// Whether `email` is shaped like an address (after [`normalize`]): one `@`, something on
/// each side, a dot in the domain, no spaces or control characters, at most 254 characters
/// (RFC 5321 §4.5.3.1.3).
pub fn well_formed(email: &str) -> bool {
    let e = normalize(email);
    if e.is_empty() || e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// Check an address for a new account; returns the form to store ([`normalize`]d).
/// The local part and each domain label must be single-script ([`single_script`]).
pub fn check_new(email: &str) -> Result<String, EmailProblem> {
    // Checked before and after NFKC: the characters must be refused, not normalised away
    // into something that silently differs from what the person saw.
    if email.chars().any(is_invisible) {
        return Err(EmailProblem::Invisible);
    }
    let e = normalize(email);
    if e.chars().any(is_invisible) {
        return Err(EmailProblem::Invisible);
    }
    if !well_formed(&e) {
        return Err(EmailProblem::Invalid);
    }
    let (local, domain) = e.split_once('@').ok_or(EmailProblem::Invalid)?;
    if !single_script(local) || !domain.split('.').all(single_script) {
        return Err(EmailProblem::MixedScript);
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_forms_and_case_share_one_key() {
        assert_eq!(lookup_key("ＡＬＩＣＥ@example.com"), "alice@example.com");
        assert_eq!(lookup_key(" Alice@Example.COM "), "alice@example.com");
        assert_eq!(
            lookup_key("ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
            "alice@example.com"
        );
        assert_eq!(
            normalize("\u{3000}ＡＬＩＣＥ@example.com\u{3000}"),
            "ALICE@example.com"
        );
        // NFKC composes: e + combining acute is é.
        assert_eq!(normalize("re\u{301}mi@example.com"), "rémi@example.com");
    }

    #[test]
    fn new_addresses_are_stored_normalised() {
        assert_eq!(
            check_new(" ＡＬＩＣＥ@example.com "),
            Ok("ALICE@example.com".to_owned())
        );
        for ok in [
            "ann@example.com",
            "ann.o'neil+tag@example.co.uk",
            "rémi@exemple.fr",
            "иван@пример.рф",
            "γιάννης@example.gr",
            "山田たろう@example.jp",
            "user123@bücher.example",
        ] {
            assert!(check_new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn invisible_and_bidi_characters_are_refused() {
        for bad in [
            "al\u{200B}ice@example.com",      // zero-width space
            "al\u{200C}ice@example.com",      // zero-width non-joiner
            "al\u{200D}ice@example.com",      // zero-width joiner
            "al\u{2060}ice@example.com",      // word joiner
            "\u{FEFF}alice@example.com",      // BOM
            "al\u{00AD}ice@example.com",      // soft hyphen
            "alice\u{202E}moc.elpmaxe@x.com", // right-to-left override
            "alice\u{2066}@example.com",      // left-to-right isolate
            "alice\u{200F}@example.com",      // right-to-left mark
            "alice@exa\u{061C}mple.com",      // Arabic letter mark
            "alice\u{FE0F}@example.com",      // variation selector
            "alice\u{E0041}@example.com",     // tag character
        ] {
            assert_eq!(check_new(bad), Err(EmailProblem::Invisible), "{bad:?}");
        }
    }

    #[test]
    fn mixed_script_parts_are_refused() {
        for bad in [
            "\u{0430}lice@example.com",  // Cyrillic а + Latin
            "p\u{0430}ypal@example.com", // Cyrillic а inside Latin
            "\u{03BF}scar@example.com",  // Greek ο + Latin
            "alice@ex\u{0430}mple.com",  // Cyrillic in a domain label
        ] {
            assert_eq!(check_new(bad), Err(EmailProblem::MixedScript), "{bad:?}");
        }
    }

    #[test]
    fn malformed_addresses_are_invalid() {
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@example.com",
        ] {
            assert_eq!(check_new(bad), Err(EmailProblem::Invalid), "{bad:?}");
        }
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(hostile_config!())]

            /// Any input never panics; an address accepted for a new account is stored in
            /// a form that is well formed, normalises to itself and holds nothing invisible.
            #[test]
            fn prop_accepted_addresses_are_stable_and_visible(
                e in "\\PC{0,40}|[a-zA-Z0-9.+@\u{200b}\u{202e}\u{ff21}\u{430} -]{0,30}|[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,4}"
            ) {
                let _ = lookup_key(&e);
                if let Ok(stored) = check_new(&e) {
                    prop_assert!(well_formed(&stored));
                    prop_assert_eq!(normalize(&stored), stored.clone());
                    prop_assert!(!stored.chars().any(is_invisible));
                    prop_assert!(stored.len() <= 254);
                    prop_assert_eq!(check_new(&stored), Ok(stored.clone()));
                }
            }
        }
    }
}
