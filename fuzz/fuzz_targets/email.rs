//! Email addresses (`email`): any input never panics; an address accepted for a new account
//! is stored well formed, normalises to itself, holds nothing invisible, has one script per
//! part and is accepted again as stored (with the same lookup key).
#![no_main]

use latch::email::{check_new, is_invisible, lookup_key, normalize, well_formed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let _ = lookup_key(s);
    let _ = well_formed(s);
    if let Ok(stored) = check_new(s) {
        assert!(well_formed(&stored), "{stored:?}");
        assert_eq!(normalize(&stored), stored);
        assert!(!stored.chars().any(is_invisible), "{stored:?}");
        assert!(!s.chars().any(is_invisible), "{s:?}");
        assert_eq!(check_new(&stored).as_ref(), Ok(&stored));
        assert_eq!(lookup_key(&stored), lookup_key(s));
        assert!(stored.len() <= 254 && stored.matches('@').count() == 1);
    }
});
