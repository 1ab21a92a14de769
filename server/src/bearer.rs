//! Bearer tokens (RFC 6750): reading one from `Authorization` (§2.1) and the one
//! `WWW-Authenticate: Bearer` challenge builder (§3) that userinfo and the `/v1` errors use;
//! and the same for DPoP-bound tokens (RFC 9449 §7.1: `Authorization: DPoP`, the `DPoP`
//! proof header, `WWW-Authenticate: DPoP … algs=…`). Imports nothing of ours, so the error
//! types can build their challenge here.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};

/// The realm every Latch challenge names.
const REALM: &str = "latch";

/// The credentials of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235
/// §2.1), trimmed; `None` without that header or with another scheme.
pub fn from_header(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
}

/// The scheme of `Authorization` a token came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750 §2.1.
    Bearer,
    /// RFC 9449 §7.1: the token is bound to the key of the `DPoP` proof sent with it.
    DPoP,
}

/// The credentials of `Authorization: Bearer <token>` or `Authorization: DPoP <token>`
/// (schemes case-insensitive, RFC 7235 §2.1), trimmed, with the scheme.
pub fn credentials(req: &HttpRequest) -> Option<(Scheme, &str)> {
    let (scheme, token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once(' '))?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::DPoP
    } else {
        return None;
    };
    Some((scheme, token.trim()))
}

/// The `DPoP` proof header (RFC 9449 §4.1): `Ok(None)` without one, `Err(())` when there
/// are several or it is not visible ASCII (§4.3 step 1: exactly one).
#[allow(clippy::result_unit_err)]
pub fn dpop_proof(req: &HttpRequest) -> Result<Option<&str>, ()> {
    let mut all = req.headers().get_all("dpop");
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(());
    }
    first.to_str().map(|s| Some(s.trim())).map_err(|_| ())
}

/// The `algs` of a DPoP challenge (RFC 9449 §7.1): the proof algorithms Latch verifies.
pub fn dpop_algs() -> String {
    latch_verify::dpop::SIGNING_ALGS.join(" ")
}

/// The bare DPoP challenge, offered next to Bearer's when a request has no credentials
/// (RFC 9449 §7.1: a resource that takes both schemes offers both).
pub fn bare_dpop_challenge() -> HeaderValue {
    dpop_challenge(None, "", &dpop_algs())
}

/// RFC 9449 §7.1: `DPoP algs="…"` and, with an error (`invalid_token`,
/// `invalid_dpop_proof`, `use_dpop_nonce`), `error` and `error_description` with the same
/// character rules as [`challenge`].
pub fn dpop_challenge(error: Option<&str>, description: &str, algs: &str) -> HeaderValue {
    let bare = || {
        HeaderValue::from_str(&format!("DPoP realm=\"{REALM}\", algs=\"{algs}\""))
            .unwrap_or(HeaderValue::from_static("DPoP realm=\"latch\""))
    };
    let Some(error) = error else {
        return bare();
    };
    let allowed = |b: u8| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E);
    if !description.bytes().all(|b| b == b'"' || allowed(b)) || !error.bytes().all(allowed) {
        return bare();
    }
    let v = format!(
        "DPoP realm=\"{REALM}\", error=\"{error}\", error_description=\"{}\", algs=\"{algs}\"",
        description.replace('"', "'")
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| bare())
}

/// RFC 6750 §3: `Bearer realm="latch"` for a request without credentials (§3.1: no error
/// code then), else with `error` (`invalid_request`, `invalid_token`, `insufficient_scope`)
/// and a description. `"` in the description becomes `'` so the quoted-string stays valid;
/// a description with any other character outside RFC 6750 §3's `error_description` set
/// (`%x20-21 / %x23-5B / %x5D-7E`: no control, `\` or non-ASCII) drops to the bare
/// challenge.
pub fn challenge(error: Option<&str>, description: &str) -> HeaderValue {
    let bare = HeaderValue::from_static("Bearer realm=\"latch\"");
    let Some(error) = error else {
        return bare;
    };
    let allowed = |b: u8| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E);
    if !description.bytes().all(|b| b == b'"' || allowed(b)) || !error.bytes().all(allowed) {
        return bare;
    }
    let v = format!(
        "Bearer realm=\"{REALM}\", error=\"{error}\", error_description=\"{}\"",
        description.replace('"', "'")
    );
    HeaderValue::from_str(&v).unwrap_or(bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_without_error_is_bare() {
        assert_eq!(challenge(None, "ignored"), "Bearer realm=\"latch\"");
    }

    #[test]
    fn challenge_quotes_error_and_description() {
        assert_eq!(
            challenge(Some("invalid_token"), "The \"token\" expired"),
            "Bearer realm=\"latch\", error=\"invalid_token\", error_description=\"The 'token' expired\""
        );
        assert_eq!(
            challenge(Some("invalid_token"), "bad\nline"),
            "Bearer realm=\"latch\""
        );
        // RFC 6750 §3: no `\` and nothing outside ASCII in `error_description`.
        for bad in ["caf\u{e9}", "a\\b", "\u{1056f}"] {
            assert_eq!(
                challenge(Some("invalid_token"), bad),
                "Bearer realm=\"latch\""
            );
        }
    }

    #[test]
    fn credentials_name_their_scheme_and_dpop_header_is_single() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::AUTHORIZATION, "DPoP abc"))
            .to_http_request();
        assert_eq!(credentials(&req), Some((Scheme::DPoP, "abc")));
        assert_eq!(from_header(&req), None);
        let req = actix_web::test::TestRequest::default()
            .append_header(("DPoP", "a"))
            .append_header(("DPoP", "b"))
            .to_http_request();
        assert_eq!(dpop_proof(&req), Err(()));
        assert_eq!(
            dpop_challenge(Some("invalid_dpop_proof"), "bad \"iat\"", "ES256"),
            "DPoP realm=\"latch\", error=\"invalid_dpop_proof\", error_description=\"bad 'iat'\", algs=\"ES256\""
        );
    }

    #[test]
    fn from_header_takes_bearer_only() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::AUTHORIZATION, "bearer  abc "))
            .to_http_request();
        assert_eq!(from_header(&req), Some("abc"));
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Basic abc"))
            .to_http_request();
        assert_eq!(from_header(&req), None);
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        fn request(v: HeaderValue) -> HttpRequest {
            actix_web::test::TestRequest::default()
                .insert_header((header::AUTHORIZATION, v))
                .to_http_request()
        }

        proptest! {
            #![proptest_config(hostile_config!())]

            /// Any header value never panics; what comes back is trimmed and came after
            /// a `Bearer` scheme (any case).
            #[test]
            fn prop_arbitrary_headers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
                let Ok(v) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
                let req = request(v);
                if let Some(t) = from_header(&req) {
                    prop_assert_eq!(t, t.trim());
                    prop_assert!(bytes.len() >= 7 && bytes[..7].eq_ignore_ascii_case(b"bearer "));
                }
            }

            /// RFC 6750 §2.1: `Bearer <b64token>` gives the token, in any scheme case.
            #[test]
            fn prop_b64tokens_come_back(
                token in "[A-Za-z0-9._~+/-]+=*",
                scheme in "[bB][eE][aA][rR][eE][rR]",
            ) {
                let req = request(HeaderValue::from_str(&format!("{scheme} {token}")).unwrap());
                prop_assert_eq!(from_header(&req), Some(token.as_str()));
            }

            /// A challenge is always visible ASCII, whatever the description (found: a
            /// non-ASCII description made a header value `to_str` refuses).
            #[test]
            fn prop_challenges_are_visible_ascii(d in any::<String>(), e in "[ -~]{0,20}") {
                for error in ["invalid_token", e.as_str()] {
                    let v = challenge(Some(error), &d);
                    prop_assert!(v.to_str().is_ok_and(|s| s.starts_with("Bearer realm=\"latch\"")));
                    let v = dpop_challenge(Some(error), &d, "ES256 EdDSA");
                    prop_assert!(v.to_str().is_ok_and(|s| s.starts_with("DPoP realm=\"latch\"")
                        && s.ends_with("algs=\"ES256 EdDSA\"")));
                }
            }

            /// Any `DPoP` header value never panics; what comes back is trimmed.
            #[test]
            fn prop_dpop_headers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
                let Ok(v) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
                let req = actix_web::test::TestRequest::default()
                    .insert_header(("dpop", v))
                    .to_http_request();
                if let Ok(Some(p)) = dpop_proof(&req) {
                    prop_assert_eq!(p, p.trim());
                }
            }
        }
    }
}
