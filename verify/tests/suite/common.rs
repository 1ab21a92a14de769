//! Test fixtures: signing keys made here, tokens signed by hand, and a tiny authorization
//! server (metadata, JWKS, introspection) on 127.0.0.1:0 that counts its requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
};
use aws_lc_rs::{hmac, rsa};
use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Sleep until just after a second boundary, so a test that computes `now()` and then
/// verifies at once does so within the same second (boundary cases at ±1 s stay exact).
pub async fn fresh_second() {
    let sub = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    if sub > 200 {
        tokio::time::sleep(Duration::from_millis(u64::from(1000 - sub) + 10)).await;
    }
}

enum Secret {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(rsa::KeyPair),
    Hmac(Box<hmac::Key>),
}

/// A signing key and its public JWK.
pub struct TestKey {
    pub kid: String,
    pub alg: &'static str,
    pub jwk: Value,
    /// The public key's bytes as an attacker would find them (EC point, Ed25519 key,
    /// RSA SubjectPublicKeyInfo DER): the HMAC secret of an alg-confusion attack.
    pub public_bytes: Vec<u8>,
    secret: Secret,
}

impl TestKey {
    pub fn es256(kid: &str) -> TestKey {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = kp.public_key().as_ref().to_vec();
        TestKey {
            kid: kid.into(),
            alg: "ES256",
            jwk: json!({"kty":"EC","crv":"P-256","x":b64(&point[1..33]),"y":b64(&point[33..65]),
                        "kid":kid,"alg":"ES256","use":"sig"}),
            public_bytes: point,
            secret: Secret::Ec(kp),
        }
    }

    pub fn eddsa(kid: &str) -> TestKey {
        let kp = Ed25519KeyPair::generate().unwrap();
        let public = kp.public_key().as_ref().to_vec();
        TestKey {
            kid: kid.into(),
            alg: "EdDSA",
            // No `alg` member: the verifier derives EdDSA from OKP/Ed25519.
            jwk: json!({"kty":"OKP","crv":"Ed25519","x":b64(&public),"kid":kid}),
            public_bytes: public,
            secret: Secret::Ed(kp),
        }
    }

    pub fn rs256(kid: &str) -> TestKey {
        let kp = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap();
        let pk = kp.public_key();
        let spki = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(pk)
            .unwrap()
            .as_ref()
            .to_vec();
        TestKey {
            kid: kid.into(),
            alg: "RS256",
            jwk: json!({"kty":"RSA","n":b64(pk.modulus().big_endian_without_leading_zero()),
                        "e":b64(pk.exponent().big_endian_without_leading_zero()),"kid":kid,"use":"sig"}),
            public_bytes: spki,
            secret: Secret::Rsa(kp),
        }
    }

    /// An HMAC "key" whose secret is `secret` (for alg-confusion attacks).
    pub fn hs256(kid: &str, secret: &[u8]) -> TestKey {
        TestKey {
            kid: kid.into(),
            alg: "HS256",
            jwk: Value::Null,
            public_bytes: secret.to_vec(),
            secret: Secret::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
        }
    }

    pub fn sign_input(&self, input: &[u8]) -> Vec<u8> {
        match &self.secret {
            Secret::Ec(k) => k
                .sign(&SystemRandom::new(), input)
                .unwrap()
                .as_ref()
                .to_vec(),
            Secret::Ed(k) => k.sign(input).as_ref().to_vec(),
            Secret::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut sig)
                    .unwrap();
                sig
            }
            Secret::Hmac(k) => hmac::sign(k, input).as_ref().to_vec(),
        }
    }

    /// The header Latch would use with this key.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg, "kid": self.kid, "typ": "at+jwt"})
    }

    /// A compact JWS of exactly this header and these claims.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.sign_input(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A good token for `claims` with Latch's header.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }
}

/// The claims of a good Latch access token from `issuer`.
pub fn claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer, "sub": "user_123", "aud": issuer, "exp": now + 3600, "iat": now,
        "nbf": now, "jti": "jti_1", "client_id": "client_1", "scope": "read write",
        "livemode": false,
    })
}

/// `base` with `k` set to `v` (or removed when `v` is null).
pub fn with(base: &Value, k: &str, v: Value) -> Value {
    let mut c = base.clone();
    if v.is_null() {
        c.as_object_mut().unwrap().remove(k);
    } else {
        c[k] = v;
    }
    c
}

#[derive(Default)]
pub struct MockState {
    pub metadata: Mutex<Value>,
    pub jwks: Mutex<Value>,
    /// Served at `/evil/jwks` (what a `jku` header points at); must never be fetched.
    pub evil_jwks: Mutex<Value>,
    pub jwks_hits: AtomicUsize,
    pub evil_hits: AtomicUsize,
    pub introspect_hits: AtomicUsize,
    /// token → introspection answer (default `{"active":false}`).
    pub answers: Mutex<HashMap<String, Value>>,
    /// When set, `/introspect` answers this status with an empty JSON object.
    pub introspect_status: Mutex<Option<u16>>,
    /// `(Authorization header, body)` of the last introspection request.
    pub last_introspection: Mutex<Option<(String, String)>>,
}

/// A mock authorization server.
pub struct MockAs {
    pub issuer: String,
    pub state: Arc<MockState>,
}

impl MockAs {
    /// Serve metadata naming this server as issuer and a JWKS of `keys`.
    pub async fn start(keys: &[&TestKey]) -> MockAs {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(MockState::default());
        *state.metadata.lock().unwrap() = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks"),
            "introspection_endpoint": format!("{issuer}/introspect"),
        });
        let mock = MockAs { issuer, state };
        mock.set_keys(keys);
        let st = mock.state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &st).await;
                });
            }
        });
        mock
    }

    pub fn set_keys(&self, keys: &[&TestKey]) {
        *self.state.jwks.lock().unwrap() =
            json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn introspect_hits(&self) -> usize {
        self.state.introspect_hits.load(Ordering::SeqCst)
    }

    pub fn answer(&self, token: &str, body: Value) {
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(token.into(), body);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

async fn serve(mut stream: tokio::net::TcpStream, st: &MockState) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, answer) = match (method, path) {
        ("GET", "/.well-known/oauth-authorization-server") => {
            (200, st.metadata.lock().unwrap().clone())
        }
        ("GET", "/jwks") => {
            st.jwks_hits.fetch_add(1, Ordering::SeqCst);
            (200, st.jwks.lock().unwrap().clone())
        }
        ("GET", "/evil/jwks") => {
            st.evil_hits.fetch_add(1, Ordering::SeqCst);
            (200, st.evil_jwks.lock().unwrap().clone())
        }
        ("POST", "/introspect") => {
            st.introspect_hits.fetch_add(1, Ordering::SeqCst);
            *st.last_introspection.lock().unwrap() = Some((
                headers.get("authorization").cloned().unwrap_or_default(),
                body.clone(),
            ));
            if let Some(s) = *st.introspect_status.lock().unwrap() {
                (s, json!({}))
            } else {
                let token = body
                    .split('&')
                    .find_map(|p| p.strip_prefix("token="))
                    .map(percent_decode)
                    .unwrap_or_default();
                let a = st.answers.lock().unwrap().get(&token).cloned();
                (200, a.unwrap_or_else(|| json!({"active": false})))
            }
        }
        _ => (404, json!({"error": "not_found"})),
    };
    let body = answer.to_string();
    let res = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(res.as_bytes()).await?;
    stream.shutdown().await
}
