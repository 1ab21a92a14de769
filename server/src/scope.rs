//! Scopes (RFC 6749 §3.3): the catalog Latch knows ([`SUPPORTED`]) and [`ScopeSet`], the one
//! type that parses, checks, narrows and prints a scope list.
//!
//! The authorize request, the token grants and client registration all go through
//! `ScopeSet`; "what Latch knows" is the permission catalog (`catalog::Snapshot::knows`):
//! the APIs' scopes and the OpenID Connect ones ([`OPENID`]). Imports nothing of ours.

use std::fmt;

/// The OpenID Connect scopes Latch supports (OIDC Core §5.4). They belong to no API: they
/// make no audience, make no sense without a user (client_credentials) and are not given to
/// a request that names no scope.
pub const OPENID: &[&str] = &["openid", "profile", "email"];

/// An ordered list of distinct scope tokens, borrowed from the string it was parsed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet<'a>(Vec<&'a str>);

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl<'a> ScopeSet<'a> {
    /// Parse a request's `scope` parameter: space-separated tokens (runs of spaces are
    /// tolerated), duplicates dropped keeping the first. `Err` names the first token that
    /// breaks the §3.3 syntax.
    pub fn parse(s: &'a str) -> Result<Self, &'a str> {
        Self::from_tokens(s.split(' ').filter(|p| !p.is_empty()))
    }

    /// A list of tokens given one by one (the `/v1` and dashboard forms). `Err` names the
    /// first token that breaks the §3.3 syntax (a token containing a space among them).
    pub fn from_tokens(tokens: impl IntoIterator<Item = &'a str>) -> Result<Self, &'a str> {
        let mut out = Vec::new();
        for t in tokens {
            if !is_scope_token(t) {
                return Err(t);
            }
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(Self(out))
    }

    /// A stored, space-separated column (validated when it was written).
    pub fn stored(s: &'a str) -> Self {
        let mut out = Vec::new();
        for t in s.split(' ').filter(|p| !p.is_empty()) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Self(out)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.0.iter().copied()
    }

    /// `Err` names the first scope not in `allowed`.
    pub fn within(&self, allowed: &ScopeSet<'_>) -> Result<(), &'a str> {
        match self.iter().find(|s| !allowed.contains(s)) {
            Some(s) => Err(s),
            None => Ok(()),
        }
    }

    /// The scopes of `self` that are also in `other`, in `self`'s order (in place).
    pub fn narrow(mut self, other: &ScopeSet<'_>) -> Self {
        self.0.retain(|s| other.contains(s));
        self
    }

    /// The scopes of `self` that are also in `names`, in `self`'s order (in place).
    pub fn only(mut self, names: &[&str]) -> Self {
        self.0.retain(|s| names.contains(s));
        self
    }

    /// The scopes of `self` that are not in `names` (in place).
    pub fn without(mut self, names: &[&str]) -> Self {
        self.0.retain(|s| !names.contains(s));
        self
    }

    /// The scopes of `self` for which `keep` holds (in place).
    pub fn filter(mut self, keep: impl Fn(&str) -> bool) -> Self {
        self.0.retain(|s| keep(s));
        self
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

/// Space-separated, the wire and column form.
impl fmt::Display for ScopeSet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_dedupes_and_keeps_order() {
        let s = ScopeSet::parse("  write read  write openid ").unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), ["write", "read", "openid"]);
        assert_eq!(s.to_string(), "write read openid");
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn parse_refuses_what_rfc6749_section_3_3_forbids() {
        assert_eq!(ScopeSet::parse("read wr\"ite"), Err("wr\"ite"));
        assert_eq!(ScopeSet::parse("a\\b"), Err("a\\b"));
        assert_eq!(ScopeSet::parse("caf\u{e9}"), Err("caf\u{e9}"));
        assert_eq!(ScopeSet::parse("tab\there"), Err("tab\there"));
        assert!(ScopeSet::parse("urn:x:y!#[]~").is_ok());
        assert_eq!(
            ScopeSet::from_tokens(["read", "read write"]),
            Err("read write")
        );
    }

    #[test]
    fn within_names_the_first_scope_outside() {
        let allowed = ScopeSet::stored("read write");
        assert_eq!(ScopeSet::parse("read").unwrap().within(&allowed), Ok(()));
        assert_eq!(
            ScopeSet::parse("read email openid")
                .unwrap()
                .within(&allowed),
            Err("email")
        );
    }

    #[test]
    fn narrow_and_only_keep_self_order() {
        let granted = ScopeSet::stored("openid write read");
        let client = ScopeSet::stored("read openid");
        assert_eq!(granted.clone().narrow(&client).to_string(), "openid read");
        assert_eq!(
            granted.clone().only(&["read", "write"]).to_string(),
            "write read"
        );
        assert_eq!(granted.clone().without(OPENID).to_string(), "write read");
        assert_eq!(
            granted.clone().filter(|s| s != "write").to_string(),
            "openid read"
        );
        assert!(granted.narrow(&ScopeSet::default()).is_empty());
    }

    #[test]
    fn stored_tolerates_duplicates_and_spaces() {
        assert_eq!(
            ScopeSet::stored(" read  read write").to_string(),
            "read write"
        );
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        fn token_byte(b: u8) -> bool {
            b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
        }

        proptest! {
            #![proptest_config(hostile_config!())]

            /// RFC 6749 §3.3: accepted exactly when every space-separated token is
            /// `1*( %x21 / %x23-5B / %x5D-7E )`; the refused token is named.
            #[test]
            fn prop_parse_follows_section_3_3(s in "\\PC{0,40}|[ !-~]{0,40}|[ a-c\"\\\\]{0,20}") {
                let all_ok = s.split(' ').filter(|t| !t.is_empty()).all(|t| t.bytes().all(token_byte));
                match ScopeSet::parse(&s) {
                    Ok(set) => {
                        prop_assert!(all_ok);
                        for t in set.iter() {
                            prop_assert!(s.split(' ').any(|x| x == t));
                        }
                    }
                    Err(bad) => {
                        prop_assert!(!all_ok);
                        prop_assert!(!bad.bytes().all(token_byte) || bad.is_empty());
                    }
                }
            }

            /// Display then parse gives the same set; the display is single-spaced with
            /// no repeats.
            #[test]
            fn prop_display_round_trips(s in "[ !#-\\[\\]-~]{0,60}") {
                let set = ScopeSet::parse(&s).unwrap();
                let shown = set.to_string();
                prop_assert!(!shown.contains("  ") && !shown.starts_with(' ') && !shown.ends_with(' '));
                let again = ScopeSet::parse(&shown).unwrap();
                prop_assert_eq!(&again, &set);
                prop_assert_eq!(ScopeSet::stored(&shown), set.clone());
                let mut seen = std::collections::HashSet::new();
                prop_assert!(set.iter().all(|t| seen.insert(t)));
            }
        }
    }
}
