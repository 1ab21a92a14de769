//! Access-token verification (`signing::Signer`, RFC 9068 §4, RFC 8725 §3.1) with one key of
//! each algorithm (ES256, RS256, EdDSA, HS256):
//! - arbitrary strings and forged tokens (our `kid`, `alg: none`, other algorithms, a wrong
//!   `typ`, arbitrary claims and signatures) never verify;
//! - a token we signed with arbitrary claims verifies only when its claims pass the checks
//!   (issuer, audience, `exp`/`nbf`/`iat` within the leeway);
//! - a token we signed with one character changed never verifies.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use base64::Engine;
use latch::signing::{LEEWAY_SECS, Signer, SigningAlg};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

static SIGNERS: LazyLock<Vec<Signer>> = LazyLock::new(|| {
    [
        SigningAlg::ES256,
        SigningAlg::RS256,
        SigningAlg::EdDSA,
        SigningAlg::HS256,
    ]
    .into_iter()
    .map(|a| Signer::ephemeral(a).expect("an ephemeral key"))
    .collect()
});

const ISS: &str = "https://issuer.example";
const AUD: &str = "https://api.example";

#[derive(Arbitrary, Debug)]
enum Claim {
    Iss,
    Aud,
    Sub,
    Exp,
    Iat,
    Nbf,
    Jti,
    ClientId,
    Scope,
    Livemode,
    Cnf,
    Act,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Val {
    Remove,
    Null,
    Bool(bool),
    Int(i64),
    /// Now plus this many seconds.
    Rel(i16),
    Float(f64),
    Str(String),
    Ours,
    Arr(Vec<String>),
    ArrOurs(Vec<String>),
}

#[derive(Arbitrary, Debug)]
enum Mode<'a> {
    Raw(&'a str),
    Forged {
        alg: Option<u8>,
        typ: Option<u8>,
        our_kid: bool,
        header_extra: Vec<(String, Val)>,
        claims: Vec<(Claim, Val)>,
        raw_claims: Option<&'a [u8]>,
        sig: &'a [u8],
        shape: u8,
    },
    Signed {
        claims: Vec<(Claim, Val)>,
        change: Option<(usize, char)>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    which: u8,
    mode: Mode<'a>,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn value(v: &Val, now: i64, ours: &str) -> Option<Value> {
    Some(match v {
        Val::Remove => return None,
        Val::Null => Value::Null,
        Val::Bool(b) => json!(b),
        Val::Int(i) => json!(i),
        Val::Rel(d) => json!(now + i64::from(*d)),
        Val::Float(f) => json!(f),
        Val::Str(s) => json!(s),
        Val::Ours => json!(ours),
        Val::Arr(a) => json!(a),
        Val::ArrOurs(a) => {
            let mut a = a.clone();
            a.push(ours.to_owned());
            json!(a)
        }
    })
}

fn claims(edits: &[(Claim, Val)], now: i64) -> Value {
    let mut c = json!({"iss": ISS, "aud": AUD, "sub": "user", "exp": now + 600, "iat": now,
        "nbf": now, "jti": "j", "client_id": "c", "scope": "read", "livemode": true});
    let obj = c.as_object_mut().expect("an object");
    for (k, v) in edits {
        let (name, ours) = match k {
            Claim::Iss => ("iss".to_owned(), ISS),
            Claim::Aud => ("aud".to_owned(), AUD),
            Claim::Sub => ("sub".to_owned(), "user"),
            Claim::Exp => ("exp".to_owned(), ""),
            Claim::Iat => ("iat".to_owned(), ""),
            Claim::Nbf => ("nbf".to_owned(), ""),
            Claim::Jti => ("jti".to_owned(), "j"),
            Claim::ClientId => ("client_id".to_owned(), "c"),
            Claim::Scope => ("scope".to_owned(), "read"),
            Claim::Livemode => ("livemode".to_owned(), ""),
            Claim::Cnf => ("cnf".to_owned(), ""),
            Claim::Act => ("act".to_owned(), ""),
            Claim::Other(s) => (s.clone(), ""),
        };
        match value(v, now, ours) {
            Some(v) => obj.insert(name, v),
            None => obj.remove(&name),
        };
    }
    c
}

fn verifies(signer: &Signer, token: &str) -> bool {
    signer.verify_access(token, ISS, AUD).is_ok()
        || signer.verify_access_any_audience(token, ISS).is_ok()
        || signer.decode_access_ignoring_expiry(token, ISS).is_some()
}

fuzz_target!(|i: Input<'_>| {
    let signer = &SIGNERS[usize::from(i.which) % SIGNERS.len()];
    let key = signer.current().expect("a current key");
    let now = chrono::Utc::now().timestamp();
    match i.mode {
        Mode::Raw(s) => assert!(!verifies(signer, s), "{s}"),
        Mode::Forged {
            alg,
            typ,
            our_kid,
            header_extra,
            claims: edits,
            raw_claims,
            sig,
            shape,
        } => {
            let mut h = serde_json::Map::new();
            for (k, v) in &header_extra {
                if let Some(v) = value(v, now, "") {
                    h.insert(k.clone(), v);
                }
            }
            const ALGS: &[&str] = &[
                "ES256", "RS256", "EdDSA", "HS256", "none", "None", "HS512", "PS256", "",
            ];
            if let Some(a) = alg {
                h.insert("alg".into(), json!(ALGS[usize::from(a) % ALGS.len()]));
            }
            const TYPS: &[&str] = &["at+jwt", "JWT", "AT+JWT", "application/at+jwt", ""];
            if let Some(t) = typ {
                h.insert("typ".into(), json!(TYPS[usize::from(t) % TYPS.len()]));
            }
            if our_kid {
                h.insert("kid".into(), json!(key.kid));
            }
            let body = match raw_claims {
                Some(raw) => b64(raw),
                None => b64(claims(&edits, now).to_string().as_bytes()),
            };
            let hs = b64(Value::Object(h).to_string().as_bytes());
            let token = match shape % 4 {
                0 => format!("{hs}.{body}.{}", b64(sig)),
                1 => format!("{hs}.{body}."),
                2 => format!("{hs}.{body}"),
                _ => format!("{hs}.{body}.{}", String::from_utf8_lossy(sig)),
            };
            assert!(!verifies(signer, &token), "{token}");
        }
        Mode::Signed {
            claims: edits,
            change,
        } => {
            let c = claims(&edits, now);
            let Ok(token) = key.sign_access(&c) else {
                return;
            };
            match change {
                None => {
                    let after = chrono::Utc::now().timestamp();
                    if let Ok(v) = signer.verify_access(&token, ISS, AUD) {
                        // Whatever verified passed every check, by the claims we signed.
                        let leeway = LEEWAY_SECS as i64;
                        assert_eq!(c["iss"], json!(ISS));
                        assert!(
                            c["aud"] == json!(AUD)
                                || c["aud"].as_array().is_some_and(|a| a.contains(&json!(AUD)))
                        );
                        assert!(v.exp + leeway >= now && v.nbf <= after + leeway);
                        assert!(v.iat <= after + leeway, "{c}");
                        assert_eq!(c["exp"], json!(v.exp));
                        assert_eq!(c["sub"], json!(v.sub));
                    }
                }
                Some((at, ch)) => {
                    let mut chars: Vec<char> = token.chars().collect();
                    let at = at % chars.len();
                    if chars[at] == ch {
                        return;
                    }
                    chars[at] = ch;
                    let bad: String = chars.into_iter().collect();
                    assert!(!verifies(signer, &bad), "{bad}");
                }
            }
        }
    }
});
