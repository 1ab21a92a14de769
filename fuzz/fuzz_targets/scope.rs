//! Scopes (`scope::ScopeSet`, RFC 6749 §3.3): a `scope` value is accepted exactly when every
//! space-separated token is a `scope-token` (`%x21 / %x23-5B / %x5D-7E`); then printing and
//! parsing again gives the same set, single-spaced, without repeats.
#![no_main]

use latch::scope::ScopeSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let token = |t: &str| {
        t.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    };
    let rule = s.split(' ').filter(|t| !t.is_empty()).all(token);
    let parsed = ScopeSet::parse(s);
    assert_eq!(parsed.is_ok(), rule);
    match parsed {
        Ok(set) => {
            let shown = set.to_string();
            assert!(!shown.contains("  ") && !shown.starts_with(' ') && !shown.ends_with(' '));
            let again = ScopeSet::parse(&shown).expect("a printed set parses");
            assert_eq!(again, set);
            let v = set.to_vec();
            let mut dedup = v.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(dedup.len(), v.len());
            for t in &v {
                assert!(s.split(' ').any(|x| x == t) && set.contains(t));
            }
        }
        Err(bad) => assert!(!bad.is_empty() && !token(bad)),
    }
});
