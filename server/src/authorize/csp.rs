//! The Content-Security-Policy of pages whose form submission ends in a redirect to the
//! client: the consent page (its form posts to `/oauth/authorize`, answered by a 303 to the
//! redirect URI) and the sign-in page of an authorization request (`/login` → 303 to
//! `/oauth/authorize` → 303 to the redirect URI). Chrome applies `form-action` to every
//! redirect that follows a form submission (CSP Level 3 §6.2.1, "form-action"; other
//! browsers are discussing it), so `form-action 'self'` alone would block the response to
//! the client. These pages carry the site's policy with `form-action 'self' <origin of the
//! redirect URI>`; the security middleware keeps a policy the handler set.

use url::{Host, Url};

/// The site's page policy (`middleware::CSP`) with `form-action` allowing this site and the
/// redirect URI's origin (only the origin: `form-action` sources with a path would be
/// matched against every redirect hop too). A `form-action` already in the site's policy is
/// replaced, since browsers obey only the first directive of a name.
pub fn with_redirect(redirect_uri: &str) -> String {
    let mut directives: Vec<String> = crate::middleware::CSP
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !directive_is(d, "form-action"))
        .map(str::to_owned)
        .collect();
    let mut form_action = "form-action 'self'".to_owned();
    match source_of(redirect_uri) {
        Some(src) => {
            form_action.push(' ');
            form_action.push_str(&src);
        }
        None => tracing::warn!(
            "redirect URI has no CSP source form; the consent form's redirect may be blocked"
        ),
    }
    directives.push(form_action);
    directives.join("; ")
}

fn directive_is(directive: &str, name: &str) -> bool {
    directive
        .split_ascii_whitespace()
        .next()
        .is_some_and(|n| n.eq_ignore_ascii_case(name))
}

/// The redirect URI's origin as a CSP source expression (CSP Level 3 §2.3.1): for http(s)
/// `scheme://host[:port]`; for an app's private-use scheme (RFC 8252 §7.1) the scheme-source
/// `com.example.app:`. `None` when it cannot be written in that grammar. An IPv6 literal has
/// no host-source form, so it gets the scheme-source `http:` (loopback redirects of native
/// apps, RFC 8252 §7.3, are http only).
pub fn source_of(redirect_uri: &str) -> Option<String> {
    let u = Url::parse(redirect_uri).ok()?;
    let scheme = u.scheme();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    if !matches!(scheme, "http" | "https") {
        return Some(format!("{scheme}:"));
    }
    let host = match u.host()? {
        Host::Domain(d) => {
            // host-char = ALPHA / DIGIT / "-", labels joined by "." (IDNs are punycode here).
            if d.is_empty()
                || !d
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
            {
                return None;
            }
            d.to_owned()
        }
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(_) => return Some(format!("{scheme}:")),
    };
    Some(match u.port() {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_origins_in_csp_grammar() {
        for (uri, src) in [
            (
                "https://app.example.com/cb",
                Some("https://app.example.com"),
            ),
            (
                "https://App.Example.com:8443/cb?x=1",
                Some("https://app.example.com:8443"),
            ),
            (
                "https://app.example.com:443/cb",
                Some("https://app.example.com"),
            ),
            ("http://127.0.0.1:51004/cb", Some("http://127.0.0.1:51004")),
            ("http://[::1]:9/cb", Some("http:")),
            ("com.example.app:/oauth", Some("com.example.app:")),
            (
                "https://bücher.example/cb",
                Some("https://xn--bcher-kva.example"),
            ),
            ("https://a;b.example/cb", None),
            ("not a url", None),
        ] {
            assert_eq!(source_of(uri).as_deref(), src, "{uri}");
        }
    }

    #[test]
    fn policy_has_one_form_action_with_self_and_the_redirect_origin() {
        let p = with_redirect("https://app.example.com/callback");
        assert_eq!(p.matches("form-action").count(), 1, "{p}");
        assert!(
            p.ends_with("form-action 'self' https://app.example.com"),
            "{p}"
        );
        assert!(p.contains("frame-ancestors 'none'"), "{p}");
        assert!(p.contains("default-src 'none'"), "{p}");
    }
}
