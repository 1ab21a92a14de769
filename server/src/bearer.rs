//! Bearer tokens (RFC 6750): reading one from `Authorization` (§2.1) and the one
//! `WWW-Authenticate: Bearer` challenge builder (§3) that userinfo and the `/v1` errors use.
//! Imports nothing of ours, so the error types can build their challenge here.

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

/// RFC 6750 §3: `Bearer realm="latch"` for a request without credentials (§3.1: no error
/// code then), else with `error` (`invalid_request`, `invalid_token`, `insufficient_scope`)
/// and a description. `"` in the description becomes `'` so the quoted-string stays valid;
/// a description that cannot be a header value drops to the bare challenge.
pub fn challenge(error: Option<&str>, description: &str) -> HeaderValue {
    let bare = HeaderValue::from_static("Bearer realm=\"latch\"");
    let Some(error) = error else {
        return bare;
    };
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
}
