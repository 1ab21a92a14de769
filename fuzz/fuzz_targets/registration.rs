//! Dynamic client registration (RFC 7591 §2, `clients::registration`, then the client
//! rules of `clients::check_new`): any JSON body, at the open door or with an initial
//! access token, either fails to parse or gives an answer without panicking. A client it
//! would create has only redirect URIs the registration check accepts, and at least one
//! when it may use the code grant; the open door creates only public clients (method
//! `none`); a public client never gets `client_credentials` (OAuth 2.1 §4.2) or token
//! exchange (RFC 8693 §2.1).
//!
//! Bodies are raw bytes, or JSON objects built from the metadata names and typical values
//! (URIs of each kind, methods, grants, JWK Sets), so the fuzzer gets past "unknown field"
//! and reaches the rules behind it.
#![no_main]

use arbitrary::Arbitrary;
use latch::clients::validate_redirect_uri;
use latch::fuzzing::registration;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const FIELDS: &[&str] = &[
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_uri",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "scope",
    "jwks",
    "jwks_uri",
    "require_pushed_authorization_requests",
    "software_statement",
    "client_id",
    "client_secret",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
];

const STRINGS: &[&str] = &[
    "https://app.example/cb",
    "http://127.0.0.1/cb",
    "http://[::1]:8080/cb",
    "http://localhost:3000/cb",
    "com.example.app:/cb",
    "https://*.example/cb",
    "https://app.example/cb#f",
    "http://app.example/cb",
    "https://user@app.example/cb",
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:device_code",
    "password",
    "code",
    "token",
    "read write",
    "openid profile email",
    "read",
    "unknown",
    "App",
    "https://app.example/logo.png",
    "https://app.example/jwks.json",
    "",
    " ",
];

/// RFC 7517 Appendix A.1's P-256 key, and the same with its private part (A.2).
const EC_X: &str = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
const EC_Y: &str = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
const EC_D: &str = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE";

#[derive(Arbitrary, Debug)]
enum Text<'a> {
    Known(u8),
    Raw(&'a str),
}

impl Text<'_> {
    fn value(&self) -> Value {
        match self {
            Text::Known(i) => json!(STRINGS[usize::from(*i) % STRINGS.len()]),
            Text::Raw(s) => json!(s),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Json<'a> {
    Str(Text<'a>),
    List(Vec<Text<'a>>),
    Bool(bool),
    Num(i64),
    Null,
    Jwks(u8),
    Object(Vec<(&'a str, Text<'a>)>),
}

impl Json<'_> {
    fn value(&self) -> Value {
        match self {
            Json::Str(t) => t.value(),
            Json::List(l) => Value::Array(l.iter().map(Text::value).collect()),
            Json::Bool(b) => json!(b),
            Json::Num(n) => json!(n),
            Json::Null => Value::Null,
            Json::Jwks(k) => {
                let ec = json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "1"});
                match k % 6 {
                    0 => json!({ "keys": [ec] }),
                    1 => {
                        json!({"keys": [{"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "d": EC_D}]})
                    }
                    2 => json!({ "keys": [] }),
                    3 => json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
                    4 => json!({"keys": [{"kty": "EC", "crv": "P-256", "x": EC_Y, "y": EC_X}]}),
                    _ => json!({ "keys": [ec, ec] }),
                }
            }
            Json::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| ((*k).to_owned(), v.value()))
                    .collect(),
            ),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Field<'a> {
    Known(u8),
    Other(&'a str),
}

// The first byte picks the door (bit 0) and whether the rest is the body as is or the
// fields to build one from (bit 1), so the committed seeds are plain JSON after one byte.
fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let open = first & 1 == 1;
    let bytes = if first & 2 == 0 {
        rest.to_vec()
    } else {
        let u = arbitrary::Unstructured::new(rest);
        let Ok(fields) = Vec::<(Field<'_>, Json<'_>)>::arbitrary_take_rest(u) else {
            return;
        };
        let mut o = serde_json::Map::new();
        for (f, v) in &fields {
            let name = match f {
                Field::Known(i) => FIELDS[usize::from(*i) % FIELDS.len()].to_owned(),
                Field::Other(s) => (*s).to_owned(),
            };
            o.insert(name, v.value());
        }
        Value::Object(o).to_string().into_bytes()
    };
    let Some(Ok(c)) = registration(&bytes, open) else {
        return;
    };
    for u in &c.redirect_uris {
        assert!(validate_redirect_uri(u).is_ok(), "{u:?}");
    }
    let has = |g: &str| c.grant_types.iter().any(|x| x == g);
    if has("authorization_code") {
        assert!(!c.redirect_uris.is_empty());
    }
    assert_eq!(c.public, c.auth_method == "none", "{c:?}");
    if open {
        assert!(c.public, "{c:?}");
    }
    if c.public {
        assert!(
            !has("client_credentials") && !has("urn:ietf:params:oauth:grant-type:token-exchange"),
            "{c:?}"
        );
    }
});
