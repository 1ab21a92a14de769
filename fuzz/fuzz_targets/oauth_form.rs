//! `/oauth` form bodies (`oauth::form::parse_form`, RFC 6749 §3.2, RFC 8707 §2) and the
//! token request read from them (`token::request`): accepted exactly when the content type
//! is a form, no credential is in the query string and no name but `resource` and
//! `audience` (RFC 8693 §2.1) repeats;
//! every value comes back as sent; only the grants Latch supports pass (never `password`).
#![no_main]

use std::collections::HashSet;

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use latch::grant_type::GrantType;
use latch::oauth::form::{AUDIENCE, REPEATABLE, parse_form};
use latch::token::request::{GrantRequest, grant_type};
use libfuzzer_sys::fuzz_target;

/// The parameter names the token endpoint reads (RFC 6749 §4.1.3, §6, RFC 7636 §4.5,
/// RFC 8693 §2.1, RFC 8628 §3.4, RFC 8707 §2), so the fuzzer reaches past "unknown grant"
/// without having to guess them.
const NAMES: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
    "refresh_token",
    "scope",
    "resource",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "audience",
    "device_code",
    "token",
];
/// Grant names Latch supports and some it must refuse (`password`, RFC 9700 §2.4), and
/// values the grants read.
const VALUES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:device_code",
    "password",
    "implicit",
    "urn:ietf:params:oauth:token-type:access_token",
    "urn:ietf:params:oauth:token-type:refresh_token",
    "https://api.example",
    "read write",
    "",
];

#[derive(Arbitrary, Debug)]
enum Text<'a> {
    Known(u8),
    Raw(&'a str),
}

impl<'a> Text<'a> {
    fn get(&self, list: &[&'a str]) -> &'a str {
        match self {
            Text::Known(i) => list[usize::from(*i) % list.len()],
            Text::Raw(s) => s,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    form_type: bool,
    content_type: &'a [u8],
    /// Pairs for the query string and the body, form-urlencoded, each followed by raw text.
    query_pairs: Vec<(Text<'a>, Text<'a>)>,
    query: &'a str,
    body_pairs: Vec<(Text<'a>, Text<'a>)>,
    body: &'a [u8],
}

fn encode(pairs: &[(Text<'_>, Text<'_>)], raw: &[u8]) -> Vec<u8> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k.get(NAMES), v.get(VALUES));
    }
    let mut out = s.finish().into_bytes();
    if !raw.is_empty() {
        if !out.is_empty() {
            out.push(b'&');
        }
        out.extend_from_slice(raw);
    }
    out
}

fuzz_target!(|i: Input<'_>| {
    let mut req = TestRequest::post();
    let ct: &[u8] = if i.form_type {
        b"application/x-www-form-urlencoded; charset=UTF-8"
    } else {
        i.content_type
    };
    if let Ok(v) = HeaderValue::from_bytes(ct) {
        req = req.insert_header((CONTENT_TYPE, v));
    }
    let query = encode(&i.query_pairs, i.query.as_bytes());
    let body = encode(&i.body_pairs, i.body);
    let uri = format!("/oauth/token?{}", String::from_utf8_lossy(&query));
    if uri.parse::<actix_web::http::Uri>().is_ok() {
        req = req.uri(&uri);
    }
    let req = req.to_http_request();
    let result = parse_form(&req, &body);

    let ct_ok = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded");
    let credential_in_query = url::form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, _)| matches!(&*k, "client_secret" | "code" | "refresh_token" | "token"));
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let listed = |k: &str| k == REPEATABLE || k == AUDIENCE;
    let mut names = HashSet::new();
    let repeated = pairs
        .iter()
        .filter(|(k, _)| !listed(k))
        .any(|(k, _)| !names.insert(k.clone()));
    assert_eq!(
        result.is_ok(),
        ct_ok && !credential_in_query && !repeated,
        "accept/refuse rule"
    );
    let Ok(form) = result else { return };

    // Values as sent; `resource`s and `audience`s in order.
    assert_eq!(form.0.len(), names.len());
    for (k, v) in pairs.iter().filter(|(k, _)| !listed(k)) {
        assert_eq!(form.0.get(k), Some(v));
    }
    let of = |name: &str| -> Vec<&String> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect()
    };
    assert_eq!(form.resources().iter().collect::<Vec<_>>(), of(REPEATABLE));
    assert_eq!(form.audiences().iter().collect::<Vec<_>>(), of(AUDIENCE));

    // The grant: only supported names (RFC 9700 §2.4: never `password`).
    let Ok(grant) = grant_type(&form) else { return };
    let name = form.get("grant_type").expect("a grant without grant_type");
    assert_eq!(GrantType::parse(name), Some(grant));
    assert_ne!(name, "password");
    let nonempty = |k: &str, v: &str| {
        assert!(!v.is_empty() && form.get(k) == Some(v), "{k}");
    };
    match GrantRequest::parse(grant, &form) {
        Ok(GrantRequest::AuthorizationCode(c)) => nonempty("code", c.code),
        Ok(GrantRequest::RefreshToken(r)) => nonempty("refresh_token", r.refresh_token),
        Ok(GrantRequest::TokenExchange(t)) => {
            nonempty("subject_token", t.subject_token);
            nonempty("subject_token_type", t.subject_token_type);
        }
        Ok(GrantRequest::DeviceCode(d)) => nonempty("device_code", d.device_code),
        Ok(GrantRequest::ClientCredentials(_)) | Err(_) => {}
    }
});
