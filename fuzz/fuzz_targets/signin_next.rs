//! The sign-in page's `next` (`account::safe_next`): always a local path, never `//host`,
//! `/\host` or anything with a control character (an open redirect otherwise); a safe path
//! comes back as sent.
#![no_main]

use latch::account::safe_next;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (bool, &str)| {
    let (present, s) = data;
    let next = safe_next(present.then_some(s));
    assert!(next.starts_with('/'));
    assert!(
        !next.starts_with("//") && !next.starts_with("/\\"),
        "{next:?}"
    );
    assert!(!next.chars().any(char::is_control), "{next:?}");
    // As a browser resolves it against our origin, it stays on our origin.
    let base = url::Url::parse("https://latch.example/login").expect("a URL");
    if let Ok(u) = base.join(&next) {
        assert_eq!(u.host_str(), Some("latch.example"), "{next:?}");
        assert_eq!(u.scheme(), "https", "{next:?}");
    }
    if next != "/" {
        assert_eq!(next, s);
    }
});
