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

/// A URI from parts the rules distinguish (scheme, loopback or not, port, path, query,
/// fragment, userinfo), so the fuzzer reaches the loopback port rule (RFC 8252 §7.3)
/// without having to spell `http://127.0.0.1` first; or any text.
#[derive(Arbitrary, Debug)]
enum Uri<'a> {
    Raw(&'a str),
    Built {
        scheme: u8,
        userinfo: Option<&'a str>,
        host: u8,
        port: Option<u16>,
        /// A port written as text (leading zeros, too many digits, empty).
        raw_port: Option<&'a str>,
        path: &'a str,
        query: Option<&'a str>,
        fragment: Option<&'a str>,
    },
}

const SCHEMES: &[&str] = &[
    "http",
    "https",
    "com.example.app",
    "HTTP",
    "javascript",
    "data",
];
const HOSTS: &[&str] = &[
    "127.0.0.1",
    "[::1]",
    "localhost",
    "app.example",
    "127.0.0.2",
    "0x7f.1",
    "[::ffff:127.0.0.1]",
    "LOCALHOST",
    "",
];

impl Uri<'_> {
    fn text(&self) -> String {
        match self {
            Uri::Raw(s) => (*s).to_owned(),
            Uri::Built {
                scheme,
                userinfo,
                host,
                port,
                raw_port,
                path,
                query,
                fragment,
            } => {
                let mut s = format!("{}://", SCHEMES[usize::from(*scheme) % SCHEMES.len()]);
                if let Some(u) = userinfo {
                    s += &format!("{u}@");
                }
                s += HOSTS[usize::from(*host) % HOSTS.len()];
                match (port, raw_port) {
                    (Some(p), _) => s += &format!(":{p}"),
                    (None, Some(p)) => s += &format!(":{p}"),
                    (None, None) => {}
                }
                s += path;
                if let Some(q) = query {
                    s += &format!("?{q}");
                }
                if let Some(f) = fragment {
                    s += &format!("#{f}");
                }
                s
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    registered: Uri<'a>,
    presented: Uri<'a>,
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
    let registered = i.registered.text();
    let presented = i.presented.text();
    let r = registered.as_str();
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
    for (reg, p) in [(r, presented.as_str()), (presented.as_str(), r)] {
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
    // Any port of a registered loopback IP literal matches it (RFC 8252 §7.3): the
    // registered text with its port replaced, or added, and nothing else changed.
    if let (Some(port), Ok(u)) = (i.port, url::Url::parse(r))
        && u.scheme() == "http"
        && loopback_ip(&u)
        && validate_redirect_uri(r).is_ok()
    {
        let after = r
            .strip_prefix("http://")
            .expect("a loopback URI spelled http://");
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let host = match authority.rfind(':') {
            Some(at) if !authority[at..].contains(']') => &authority[..at],
            _ => authority,
        };
        let other = format!("http://{host}:{port}{rest}");
        assert!(redirect_uri_matches(r, &other), "{r:?} !~ {other:?}");
    }
    if plausible_client_id(&presented) {
        let s = presented.as_str();
        assert!((1..=64).contains(&s.len()));
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        );
    }
});
