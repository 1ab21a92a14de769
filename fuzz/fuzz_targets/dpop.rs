//! DPoP proofs (RFC 9449 §4.3) as `latch_verify::dpop` checks them for the token endpoint
//! and resource servers (with and without the header cache the server uses), the JWK
//! thumbprint (RFC 7638) and the server's nonces (`dpop::Dpop`, §8):
//! - arbitrary strings never verify (nobody signed them);
//! - a proof signed with a real key and arbitrary header and claims verifies only when every
//!   §4.3 check holds (typ, alg, public jwk, htm, htu, iat window, jti, ath), and always when
//!   they all hold; the cache gives what `verify` gives;
//! - a signed proof with one character changed never verifies;
//! - a JWK with a private member has no thumbprint; a nonce is fresh only if we minted it
//!   for the current or previous slot.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use latch_verify::dpop::{Expect, HeaderCache, ath, thumbprint, verify};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

static KEY: LazyLock<(EcdsaKeyPair, Value)> = LazyLock::new(|| {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a P-256 key");
    let public = pair.public_key().as_ref().to_vec();
    let jwk =
        json!({"kty": "EC", "crv": "P-256", "x": b64(&public[1..33]), "y": b64(&public[33..65])});
    (pair, jwk)
});
static CACHE: LazyLock<HeaderCache> = LazyLock::new(|| HeaderCache::new(64));
static DPOP: LazyLock<latch::dpop::Dpop> =
    LazyLock::new(|| latch::dpop::Dpop::new(&[7u8; 32], chrono::TimeDelta::seconds(60), true));

const URL: &str = "https://as.example/oauth/token";
const TOKEN: &str = "an-access-token";
const NOW: i64 = 1_800_000_000;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[derive(Arbitrary, Debug)]
struct Proof {
    typ: Option<u8>,
    alg: Option<u8>,
    jwk_member: Option<(u8, String)>,
    no_jwk: bool,
    htm: Option<u8>,
    htu: Option<u8>,
    htu_raw: String,
    iat: Option<i16>,
    jti: Option<String>,
    with_token: bool,
    ath: Option<u8>,
    nonce: Option<String>,
    extra: Option<(String, String)>,
    change: Option<(usize, char)>,
}

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Raw(&'a str),
    Signed(Proof),
    Thumbprint(&'a str, u8),
    Nonce(&'a str, u32),
}

const TYPS: &[&str] = &[
    "dpop+jwt",
    "DPOP+JWT",
    "application/dpop+jwt",
    "Application/DPoP+JWT",
    "application/jwt",
    "JWT",
    "at+jwt",
    "",
];
const ALGS: &[&str] = &["ES256", "RS256", "ES384", "EdDSA", "HS256", "none", ""];
const MEMBERS: &[&str] = &[
    "d", "p", "q", "dp", "dq", "qi", "oth", "k", "kid", "x", "y", "crv", "kty", "use",
];
const METHODS: &[&str] = &["POST", "post", "GET", ""];
const HTUS: &[&str] = &[
    URL,
    "https://as.example/oauth/token?x=1",
    "https://as.example/oauth/token#f",
    "https://AS.example/oauth/token",
    "HTTPS://as.example/oauth/token",
    "https://as.example:443/oauth/token",
    "https://as.example/oauth/token/",
    "https://as.example/oauth/Token",
    "http://as.example/oauth/token",
    "https://as.example.evil/oauth/token",
    "https://as.example/oauth/../oauth/token",
    "https://as.example/oauth/%74oken",
    "https://as.example/oauth%2Ftoken",
    "https://as.example/%6fauth/to%6Ben",
];

/// RFC 3986 §6.2.2.2, written apart from the code under test: `%XX` of an unreserved
/// character is that character.
fn decode_unreserved(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(c) if c.is_ascii_alphanumeric() || b"-._~".contains(&c) => {
                out.push(char::from(c));
                rest = &rest[i + 3..];
            }
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn proof(p: &Proof) -> (String, bool, bool, Value, Value) {
    let (pair, jwk) = &*KEY;
    let mut jwk = jwk.clone();
    let mut private = false;
    if let Some((m, v)) = &p.jwk_member {
        let name = MEMBERS[usize::from(*m) % MEMBERS.len()];
        private = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"].contains(&name);
        // Another key (or none): the signature cannot verify, like a private member.
        private |= ["x", "y", "crv", "kty"].contains(&name) && jwk[name] != json!(v);
        jwk[name] = json!(v);
    }
    let mut h = json!({});
    if let Some(t) = p.typ {
        h["typ"] = json!(TYPS[usize::from(t) % TYPS.len()]);
    }
    if let Some(a) = p.alg {
        h["alg"] = json!(ALGS[usize::from(a) % ALGS.len()]);
    }
    if !p.no_jwk {
        h["jwk"] = jwk.clone();
    }
    let mut c = json!({});
    if let Some(m) = p.htm {
        c["htm"] = json!(METHODS[usize::from(m) % METHODS.len()]);
    }
    match p.htu {
        Some(u) if usize::from(u) < HTUS.len() => c["htu"] = json!(HTUS[usize::from(u)]),
        Some(_) => c["htu"] = json!(p.htu_raw),
        None => {}
    }
    if let Some(d) = p.iat {
        c["iat"] = json!(NOW + i64::from(d));
    }
    if let Some(j) = &p.jti {
        c["jti"] = json!(j);
    }
    match p.ath {
        Some(0) => c["ath"] = json!(ath("another token")),
        Some(_) => c["ath"] = json!(ath(TOKEN)),
        None => {}
    }
    if let Some(n) = &p.nonce {
        c["nonce"] = json!(n);
    }
    if let Some((k, v)) = &p.extra
        && !["htm", "htu", "iat", "jti", "ath", "nonce"].contains(&k.as_str())
    {
        c[k.as_str()] = json!(v);
    }
    let input = format!(
        "{}.{}",
        b64(h.to_string().as_bytes()),
        b64(c.to_string().as_bytes())
    );
    let sig = pair
        .sign(&SystemRandom::new(), input.as_bytes())
        .expect("a signature");
    (
        format!("{input}.{}", b64(sig.as_ref())),
        private,
        p.no_jwk,
        h,
        c,
    )
}

fuzz_target!(|i: Input<'_>| {
    let expect = |with_token: bool| Expect {
        method: "POST",
        url: URL,
        access_token: with_token.then_some(TOKEN),
        now: NOW,
        max_age: 60,
        max_future: 5,
    };
    match i {
        Input::Raw(s) => {
            assert!(verify(s, &expect(false)).is_err());
            assert!(CACHE.verify(s, &expect(true)).is_err());
        }
        Input::Signed(p) => {
            let e = expect(p.with_token);
            let (token, private, no_jwk, h, c) = proof(&p);
            let got = verify(&token, &e);
            assert_eq!(CACHE.verify(&token, &e), got);
            if let Some((at, ch)) = p.change {
                let mut chars: Vec<char> = token.chars().collect();
                let at = at % chars.len();
                if chars[at] != ch {
                    chars[at] = ch;
                    let bad: String = chars.into_iter().collect();
                    assert!(verify(&bad, &e).is_err(), "{bad}");
                    assert!(CACHE.verify(&bad, &e).is_err(), "{bad}");
                }
            }
            let jti_ok = c["jti"]
                .as_str()
                .is_some_and(|j| !j.is_empty() && j.len() <= 256);
            let htu_ok = c["htu"]
                .as_str()
                .and_then(|u| url::Url::parse(u).ok())
                .is_some_and(|u| {
                    u.scheme() == "https"
                        && u.username().is_empty()
                        && u.password().is_none()
                        && u.host_str() == Some("as.example")
                        && u.port().is_none()
                        && decode_unreserved(u.path()) == "/oauth/token"
                });
            let iat_ok = c["iat"]
                .as_i64()
                .is_some_and(|t| (NOW - 60..=NOW + 5).contains(&t));
            // `typ` is a media type (RFC 7515 §4.1.9): any case, `application/` optional.
            let typ_ok = h["typ"].as_str().is_some_and(|t| {
                let t = t.to_ascii_lowercase();
                t == "dpop+jwt" || t == "application/dpop+jwt"
            });
            let all = typ_ok
                && h["alg"] == json!("ES256")
                && !no_jwk
                && !private
                && c["htm"] == json!("POST")
                && htu_ok
                && iat_ok
                && jti_ok
                && (!p.with_token || c["ath"] == json!(ath(TOKEN)));
            match got {
                Ok(proof) => {
                    assert!(all, "{h} {c}");
                    assert_eq!(Some(proof.jkt), thumbprint(&h["jwk"], "ES256"));
                    assert_eq!(proof.nonce.as_deref(), c["nonce"].as_str());
                }
                // The `htu` comparison is looser than the check above only for the
                // spellings RFC 9449 §4.3 step 9 allows (case, default port, query, fragment,
                // percent-encoded unreserved characters).
                Err(e) => assert!(
                    !all || token.len() > latch_verify::dpop::MAX_PROOF_LEN,
                    "a good proof was refused: {e:?} {h} {c}"
                ),
            }
        }
        Input::Thumbprint(s, alg) => {
            let Ok(jwk) = serde_json::from_str::<Value>(s) else {
                return;
            };
            let alg = ALGS[usize::from(alg) % ALGS.len()];
            if thumbprint(&jwk, alg).is_some() {
                let o = jwk.as_object().expect("a thumbprint of a non-object");
                for m in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                    assert!(!o.contains_key(m), "{s}");
                }
            }
        }
        Input::Nonce(s, t) => {
            let now = chrono::DateTime::from_timestamp(i64::from(t), 0).expect("a time");
            let fresh = DPOP.nonce_is_fresh(s, now);
            assert!(
                !fresh
                    || s == DPOP.nonce(now)
                    || s == DPOP.nonce(now - chrono::TimeDelta::seconds(60)),
                "{s}"
            );
            assert!(DPOP.nonce_is_fresh(&DPOP.nonce(now), now));
        }
    }
});
