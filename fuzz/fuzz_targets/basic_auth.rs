//! `Authorization: Basic` at the token endpoint (RFC 6749 §2.3.1): any header never
//! panics; any id and secret, form-urlencoded then base64 as §2.3.1 says, come back exactly
//! (any case of the scheme).
#![no_main]

use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use base64::Engine;
use latch::fuzzing::basic_credentials;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    raw_header: &'a [u8],
    raw_decoded: &'a [u8],
    id: String,
    secret: String,
    upper: bool,
}

fn with_header(v: &[u8]) -> Option<actix_web::HttpRequest> {
    let v = HeaderValue::from_bytes(v).ok()?;
    Some(
        TestRequest::post()
            .insert_header((AUTHORIZATION, v))
            .to_http_request(),
    )
}

fuzz_target!(|i: Input<'_>| {
    // Arbitrary header values, and arbitrary decoded bytes behind a well-formed scheme.
    if let Some(req) = with_header(i.raw_header) {
        let _ = basic_credentials(&req);
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let h = format!("Basic {}", b64.encode(i.raw_decoded));
    if let Some(req) = with_header(h.as_bytes())
        && let Ok(Some((id, secret))) = basic_credentials(&req)
    {
        // The two sides of the first colon, each form-urldecoded once (RFC 6749 §2.3.1,
        // Appendix B), a raw `&` being a character like any other.
        let text = std::str::from_utf8(i.raw_decoded).expect("credentials from non-UTF-8");
        let (a, b) = text.split_once(':').expect("credentials without a colon");
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={}", s.replace('&', "%26")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        assert_eq!((id, secret), (decode(a), decode(b)), "{text:?}");
    }

    // The round trip.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let scheme = if i.upper { "BASIC" } else { "Basic" };
    let h = format!(
        "{scheme} {}",
        b64.encode(format!("{}:{}", enc(&i.id), enc(&i.secret)))
    );
    let req = with_header(h.as_bytes()).expect("base64 is a valid header value");
    assert_eq!(
        basic_credentials(&req),
        Ok(Some((i.id.clone(), i.secret.clone())))
    );
    // Without the header: no credentials.
    assert_eq!(
        basic_credentials(&TestRequest::post().to_http_request()),
        Ok(None)
    );
});
