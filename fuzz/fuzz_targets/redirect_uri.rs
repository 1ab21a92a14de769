//! Redirect URIs: exact matching at the authorization endpoint
//! (`authorize::request::redirect_uri_matches`, RFC 9700 §4.1.3, RFC 8252 §7.3), the
//! registration check (`clients::validate_redirect_uri`, RFC 6749 §3.1.2, RFC 8252 §7.1)
//! and client ids (`plausible_client_id`):
//! - an accepted registration is absolute, without fragment, wildcard, userinfo, whitespace
//!   or control characters, and `https`, loopback `http` or a reverse-domain scheme;
//! - a registered URI matches itself; another URI matches only when the registered one is
//!   an `http` loopback IP literal and the two differ in the port alone (or an empty path
//!   against `/`);
//! - accepted client ids are 1–64 of `[A-Za-z0-9_.-]`.
#![no_main]

use arbitrary::Arbitrary;
use latch::authorize::request::{plausible_client_id, redirect_uri_matches};
use latch::clients::validate_redirect_uri;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    registered: &'a str,
    presented: &'a str,
    port: Option<u16>,
}

fn loopback_ip(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// The URI without its port, for comparison.
fn portless(s: &str) -> Option<url::Url> {
    let mut u = url::Url::parse(s).ok()?;
    u.set_port(None).ok()?;
    Some(u)
}

fuzz_target!(|i: Input<'_>| {
    let r = i.registered;
    if validate_redirect_uri(r).is_ok() {
        let u = url::Url::parse(r).expect("an accepted URI parses");
        assert!(r.len() <= 2000);
        assert!(!r.contains(['#', '*']));
        assert!(!r.chars().any(|c| c.is_whitespace() || c.is_control()));
        assert!(u.username().is_empty() && u.password().is_none());
        let loopback = loopback_ip(&u)
            || u.host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case("localhost"));
        assert!(
            u.scheme() == "https" || (u.scheme() == "http" && loopback) || u.scheme().contains('.'),
            "{r:?}"
        );
        assert!(redirect_uri_matches(r, r), "{r:?} does not match itself");
    }
    for (reg, p) in [(r, i.presented), (i.presented, r)] {
        if redirect_uri_matches(reg, p) && reg != p {
            let ru = url::Url::parse(reg).expect("a registered URI that matched parses");
            assert!(ru.scheme() == "http" && loopback_ip(&ru), "{reg:?} ~ {p:?}");
            assert_eq!(portless(reg), portless(p), "{reg:?} ~ {p:?}");
            // What registration accepts has no whitespace; then neither has what matches it.
            if validate_redirect_uri(reg).is_ok() {
                assert!(
                    !p.chars().any(|c| c.is_whitespace() || c.is_control()),
                    "{reg:?} ~ {p:?}"
                );
            }
        }
    }
    // Any port of a loopback IP literal matches it (RFC 8252 §7.3).
    if let (Some(port), Ok(u)) = (i.port, url::Url::parse(r)) {
        if u.scheme() == "http" && loopback_ip(&u) && validate_redirect_uri(r).is_ok() {
            let mut other = u.clone();
            if other.set_port(Some(port)).is_ok() {
                let _ = redirect_uri_matches(r, other.as_str());
            }
        }
    }
    if plausible_client_id(i.presented) {
        let s = i.presented;
        assert!((1..=64).contains(&s.len()));
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        );
    }
});
