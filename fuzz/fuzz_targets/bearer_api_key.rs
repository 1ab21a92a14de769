//! `Authorization: Bearer`/`DPoP` and the `DPoP` header (`bearer`, RFC 6750 §2.1, RFC 9449
//! §4.1, §7.1), the `WWW-Authenticate` challenges (RFC 6750 §3), and the secret / API-key
//! format with its CRC32 checksum (`crypto::check_secret`, `api_keys::looks_valid`,
//! DESIGN.md "Credentials"): a token comes back trimmed from a header that had it; a
//! challenge is always a visible-ASCII header value; arbitrary strings are never keys, and a
//! minted key with one character changed never passes (but `sk_` → `rk_`, see below).
#![no_main]

use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use latch::api_keys::{
    LIVE_PREFIX, RESTRICTED_LIVE_PREFIX, RESTRICTED_TEST_PREFIX, TEST_PREFIX, looks_valid,
};
use latch::bearer::{self, Scheme};
use latch::crypto::{check_secret, mint_secret};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    authorization: &'a [u8],
    dpop: Vec<&'a [u8]>,
    error: &'a str,
    description: &'a str,
    candidate: &'a str,
    live: bool,
    index: usize,
    replacement: char,
}

fuzz_target!(|i: Input<'_>| {
    let mut req = TestRequest::get();
    let auth = HeaderValue::from_bytes(i.authorization).ok();
    if let Some(v) = auth.clone() {
        req = req.insert_header((AUTHORIZATION, v));
    }
    let mut dpops = 0;
    for v in i.dpop.iter().take(3) {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            req = req.append_header(("dpop", v));
            dpops += 1;
        }
    }
    let req = req.to_http_request();
    let text = auth.as_ref().and_then(|v| v.to_str().ok());
    match bearer::credentials(&req) {
        Some((scheme, token)) => {
            let (s, rest) = text
                .and_then(|t| t.split_once(' '))
                .expect("credentials from nothing");
            assert_eq!(token, rest.trim());
            let want = if scheme == Scheme::Bearer {
                "bearer"
            } else {
                "dpop"
            };
            assert!(s.eq_ignore_ascii_case(want));
            assert_eq!(
                bearer::from_header(&req).is_some(),
                scheme == Scheme::Bearer
            );
        }
        None => assert!(bearer::from_header(&req).is_none()),
    }
    match bearer::dpop_proof(&req) {
        Ok(None) => assert_eq!(dpops, 0),
        Ok(Some(p)) => assert!(dpops == 1 && p == p.trim()),
        Err(()) => {}
    }
    let error = (!i.error.is_empty()).then_some(i.error);
    for c in [
        bearer::challenge(error, i.description),
        bearer::dpop_challenge(error, i.description, "ES256 RS256"),
    ] {
        assert!(
            c.as_bytes().iter().all(|b| (0x20..0x7f).contains(b)),
            "{c:?}"
        );
    }

    // Keys: what passes is a minted shape; one changed character never passes.
    for p in [LIVE_PREFIX, TEST_PREFIX] {
        if check_secret(i.candidate, p) {
            assert!(i.candidate.starts_with(p) && i.candidate.is_ascii());
        }
    }
    if looks_valid(i.candidate) {
        assert!(i.candidate.is_ascii() && i.candidate.len() > 8);
    }
    let key = mint_secret(if i.live { LIVE_PREFIX } else { TEST_PREFIX });
    assert!(looks_valid(&key));
    let mut chars: Vec<char> = key.chars().collect();
    let at = i.index % chars.len();
    if chars[at] == i.replacement {
        return;
    }
    chars[at] = i.replacement;
    let bad: String = chars.into_iter().collect();
    // The checksum covers the random part (DESIGN.md), so one change in the prefix may only
    // turn a secret key's prefix into a restricted key's (`sk_` → `rk_`): still
    // well-formed, and refused by the digest lookup (the digest is of the whole key).
    let other_type = at == 0
        && [RESTRICTED_LIVE_PREFIX, RESTRICTED_TEST_PREFIX]
            .iter()
            .any(|p| bad.starts_with(p));
    assert!(other_type || !looks_valid(&bad), "{bad}");
});
