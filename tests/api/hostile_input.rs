//! Hostile requests (issue #16, "Fuzzing and hostile input"), black-box: a bounded,
//! seeded set of generated requests — random bytes, huge and odd headers, invalid UTF-8 and
//! NUL bytes in forms and query strings, overlong values — sent over raw TCP to
//! `/oauth/token`, `/oauth/authorize`, `/oauth/introspect`, `/oauth/revoke`, `/oauth/par`,
//! `/v1/users/me` and `/login`. Every answer must come within a bound (no hang), never be a
//! 5xx, and be in the path's dialect: RFC 6749 §5.2 JSON on `/oauth` (the authorization
//! endpoint's pages aside), the API format on `/v1`, HTML on pages.
//!
//! `HOSTILE_REQUESTS` (per endpoint, default 24) and `HOSTILE_SEED` make a longer or
//! different run; a failure names the seed and the request.

use std::time::{Duration, Instant};

use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// No answer may take longer (the body timeout of the app under test is 2 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dialect {
    OAuth,
    AuthorizePage,
    Api,
    Html,
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Send `bytes`, close the sending half, read until the server closes. `None`: closed
/// without an answer. Panics past [`ANSWER_WITHIN`].
async fn send(port: u16, bytes: &[u8], what: &str) -> Option<Answer> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // The server may answer and close before reading everything (e.g. a body too large).
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(ANSWER_WITHIN, async {
        let mut chunk = [0u8; 16384];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "{what}: no answer and no close within {ANSWER_WITHIN:?} (got {} bytes)",
        buf.len()
    );
    assert!(started.elapsed() < ANSWER_WITHIN, "{what}");
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Answer {
        status,
        head,
        body: buf[end + 4..].to_vec(),
    })
}

/// The body of a chunked answer, de-chunked (actix chunks some error bodies).
fn body_of(a: &Answer) -> Vec<u8> {
    if !a
        .header("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        return a.body.clone();
    }
    let (mut out, mut rest) = (Vec::new(), &a.body[..]);
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        let Ok(n) = usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < i + 2 + n {
            break;
        }
        out.extend_from_slice(&rest[i + 2..i + 2 + n]);
        rest = &rest[(i + 4 + n).min(rest.len())..];
    }
    out
}

fn assert_dialect(a: &Answer, dialect: Dialect, what: &str) {
    let ct = a.header("content-type").unwrap_or("").to_ascii_lowercase();
    let body = body_of(a);
    let json = || serde_json::from_slice::<serde_json::Value>(&body).ok();
    if matches!(dialect, Dialect::OAuth | Dialect::Api) && (200..300).contains(&a.status) {
        // Accepted (introspection of an unknown token, a valid key); revocation answers
        // 200 with no body (RFC 7009 §2.2).
        if body.is_empty() && dialect == Dialect::OAuth {
            return;
        }
        assert!(ct.starts_with("application/json"), "{what}: {}", a.head);
        assert!(json().is_some(), "{what}: {}", a.head);
        return;
    }
    match dialect {
        Dialect::OAuth => {
            assert!((400..500).contains(&a.status), "{what}: {}", a.head);
            assert!(ct.starts_with("application/json"), "{what}: {}", a.head);
            let v = json().unwrap_or_else(|| panic!("{what}: not JSON: {}", a.head));
            assert!(v["error"].is_string(), "{what}: {v}");
            assert!(
                a.header("cache-control")
                    .is_some_and(|c| c.contains("no-store")),
                "{what}: {}",
                a.head
            );
        }
        Dialect::Api => {
            assert!((400..500).contains(&a.status), "{what}: {}", a.head);
            assert!(ct.starts_with("application/json"), "{what}: {}", a.head);
            let v = json().unwrap_or_else(|| panic!("{what}: not JSON: {}", a.head));
            assert!(v["error"]["type"].is_string(), "{what}: {v}");
            assert!(v["error"]["code"].is_string(), "{what}: {v}");
        }
        Dialect::AuthorizePage | Dialect::Html => {
            // A page, or (the authorization endpoint, a verified client) a redirect.
            if (300..400).contains(&a.status) {
                assert!(a.header("location").is_some(), "{what}: {}", a.head);
            } else {
                assert!(ct.starts_with("text/html"), "{what}: {}", a.head);
            }
        }
    }
}

/// Values no parameter should choke on.
fn hostile_value(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.random_range(0..64);
    match rng.random_range(0..10) {
        // Random bytes, percent-encoded (invalid UTF-8, %00 and all).
        0 => (0..n)
            .flat_map(|_| format!("%{:02X}", rng.random::<u8>()).into_bytes())
            .collect(),
        // Raw bytes: invalid UTF-8, NUL, `&`, `=`, `%` as they come.
        1 => (0..n).map(|_| rng.random::<u8>()).collect(),
        2 => b"%00".repeat(n + 1),
        3 => b"a\0b".to_vec(),
        4 => b"%FF%FE%C0%AF%ED%A0%80".to_vec(),
        // Overlong: past the 64 KiB body limit sometimes.
        5 => vec![b'A'; rng.random_range(1000..80_000)],
        6 => "é🦀\u{202e}\u{feff}".repeat(n + 1).into_bytes(),
        7 => b"%".to_vec(),
        8 => b"+%2B%25%26%3D".to_vec(),
        _ => format!("sk_live_{}", "A".repeat(n)).into_bytes(),
    }
}

fn hostile_name(rng: &mut StdRng) -> Vec<u8> {
    const NAMES: &[&str] = &[
        "grant_type",
        "code",
        "client_id",
        "client_secret",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "scope",
        "resource",
        "token",
        "token_type_hint",
        "response_type",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "prompt",
        "max_age",
        "email",
        "password",
        "csrf_token",
        "next",
        "starting_after",
        "limit",
    ];
    if rng.random_bool(0.8) {
        NAMES[rng.random_range(0..NAMES.len())].as_bytes().to_vec()
    } else {
        hostile_value(rng).into_iter().take(40).collect()
    }
}

/// `name=value&…`, the names usually real, the values hostile; some pairs repeated.
fn hostile_pairs(rng: &mut StdRng, real: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in real {
        if rng.random_bool(0.7) {
            out.extend_from_slice(format!("{k}={}&", urlencode(v)).as_bytes());
        }
    }
    for _ in 0..rng.random_range(0..8) {
        out.extend(hostile_name(rng));
        if rng.random_bool(0.9) {
            out.push(b'=');
            out.extend(hostile_value(rng));
        }
        out.push(b'&');
    }
    out
}

/// Extra header lines: odd, huge, repeated, with obs-text or control bytes.
fn hostile_headers(rng: &mut StdRng, auth: Option<&str>) -> (Vec<u8>, bool) {
    let mut h = Vec::new();
    let mut parser_may_refuse = false;
    match rng.random_range(0..12) {
        0 => {
            let raw: Vec<u8> = (0..rng.random_range(0..48)).map(|_| rng.random()).collect();
            let b = base64::engine::general_purpose::STANDARD.encode(raw);
            h.extend(format!("Authorization: Basic {b}\r\n").into_bytes());
        }
        1 => h.extend(format!("Authorization: Bearer {}\r\n", "x".repeat(10_000)).into_bytes()),
        2 => {
            h.extend(b"Authorization: ");
            // Visible ASCII and obs-text (RFC 9110 §5.5), no DEL: a valid header value.
            h.extend(
                (0..rng.random_range(0..64))
                    .map(|_| rng.random_range(0x20..=0xffu8))
                    .map(|b| if b == 0x7f { b'~' } else { b }),
            );
            h.extend(b"\r\n");
        }
        3 => {
            // Larger than any header block the server reads: refused by the HTTP layer.
            h.extend(
                format!(
                    "X-Big: {}\r\n",
                    "b".repeat(rng.random_range(20_000..70_000))
                )
                .into_bytes(),
            );
            parser_may_refuse = true;
        }
        4 => {
            for i in 0..rng.random_range(1..80) {
                h.extend(format!("Cookie: c{i}=v{i}\r\n").into_bytes());
            }
            parser_may_refuse = true;
        }
        5 => h.extend(b"Authorization: Basic\r\n"),
        6 => h.extend(b"Authorization: Bearer \r\nAuthorization: Bearer sk_test_x\r\n"),
        7 => h.extend(b"X-Forwarded-For: \xff\xfe, 999.1.1.1, ::1, , garbage\r\n"),
        8 => {
            h.extend(b"X-Ctl: a\x01b\x7f\r\n");
            parser_may_refuse = true;
        }
        9 => h.extend(b"Accept: \x80\x81\xff\r\nUser-Agent: \xc0\xaf\r\n"),
        _ => {}
    }
    if let Some(a) = auth
        && rng.random_bool(0.5)
        && !h.starts_with(b"Authorization")
    {
        h.extend(format!("Authorization: {a}\r\n").into_bytes());
    }
    (h, parser_may_refuse)
}

fn content_type(rng: &mut StdRng) -> &'static str {
    const TYPES: &[&str] = &[
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
    ];
    TYPES[rng.random_range(0..TYPES.len())]
}

struct Target<'a> {
    path: &'static str,
    dialect: Dialect,
    /// Real parameters, so some requests get past the first checks.
    real: Vec<(&'a str, &'a str)>,
    /// A real `Authorization` value, sent with some requests.
    auth: Option<String>,
    get: bool,
    post: bool,
}

/// One generated request to `t`, and whether the HTTP layer (not our code) may refuse it.
fn request(rng: &mut StdRng, t: &Target<'_>) -> (Vec<u8>, bool) {
    let post = t.post && (!t.get || rng.random_bool(0.5));
    let (headers, mut parser_may_refuse) = hostile_headers(rng, t.auth.as_deref());
    let mut query = hostile_pairs(rng, if post { &[] } else { &t.real });
    if query.len() > 6000 {
        query.truncate(6000);
    }
    // Raw non-ASCII in the request target is the HTTP layer's to refuse.
    if query.iter().any(|b| !b.is_ascii_graphic()) {
        if rng.random_bool(0.5) {
            parser_may_refuse = true;
        } else {
            query = query
                .iter()
                .flat_map(|b| {
                    if b.is_ascii_alphanumeric() || b"=&%+".contains(b) {
                        vec![*b]
                    } else {
                        format!("%{b:02X}").into_bytes()
                    }
                })
                .collect();
        }
    }
    let mut req = Vec::new();
    req.extend(if post { "POST " } else { "GET " }.as_bytes());
    req.extend(t.path.as_bytes());
    if !query.is_empty() && (!post || rng.random_bool(0.3)) {
        req.push(b'?');
        req.extend(&query);
    }
    req.extend(b" HTTP/1.1\r\nHost: latch\r\nConnection: close\r\n");
    req.extend(&headers);
    if post {
        let body = hostile_pairs(rng, &t.real);
        let ct = content_type(rng);
        if !ct.is_empty() {
            req.extend(format!("Content-Type: {ct}\r\n").into_bytes());
        }
        match rng.random_range(0..10) {
            // A declared length longer than what comes: the body never completes.
            // A declared length longer than what comes: the body never completes (the
            // connection may be dropped without an answer).
            0 => {
                req.extend(format!("Content-Length: {}\r\n\r\n", body.len() + 10).into_bytes());
                parser_may_refuse = true;
            }
            // Chunked, sometimes with garbage for a chunk size.
            1 => {
                req.extend(b"Transfer-Encoding: chunked\r\n\r\n");
                if rng.random_bool(0.5) {
                    req.extend(format!("{:x}\r\n", body.len()).into_bytes());
                } else {
                    req.extend(b"zz\r\n");
                    parser_may_refuse = true;
                }
            }
            _ => req.extend(format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes()),
        }
        req.extend(&body);
    } else {
        req.extend(b"\r\n");
    }
    (req, parser_may_refuse)
}

/// Bytes that are not HTTP at all, or barely.
fn garbage(rng: &mut StdRng) -> Vec<u8> {
    let mut g: Vec<u8> = match rng.random_range(0..4) {
        0 => (0..rng.random_range(1..4096))
            .map(|_| rng.random())
            .collect(),
        1 => b"POST /oauth/token HTTP/1.1\r\nHost: latch\r\nContent-Length: -1\r\n".to_vec(),
        2 => b"GET /oauth/token\0 HTTP/1.1\r\nHost: \0\r\n".to_vec(),
        _ => {
            let mut v = b"GET /".to_vec();
            v.extend(vec![b'a'; rng.random_range(10_000..100_000)]);
            v.extend(b" HTTP/1.1\r\nHost: latch\r\n");
            v
        }
    };
    g.extend(b"\r\n\r\n");
    g
}

fn requests_per_endpoint() -> usize {
    std::env::var("HOSTILE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

#[tokio::test]
async fn hostile_requests_are_answered_4xx_in_the_right_dialect_and_never_hang() {
    // Arrange: a confidential client, a user and an API key, so some requests reach the
    // grant, introspection and key checks.
    let app = spawn_app_with(|s| s.body_timeout = Duration::from_secs(2)).await;
    let client = app.confidential_client().await;
    let user = app
        .create_user("hostile@example.com", "correct horse battery")
        .await;
    let (_, key) = key_for(&app, &user.id, false, &[]).await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            client.id,
            client.secret()
        ))
    );
    let (verifier, challenge) = pkce_pair();
    let oauth = |path, real: Vec<(&'static str, &'static str)>| Target {
        path,
        dialect: Dialect::OAuth,
        real,
        auth: Some(basic.clone()),
        get: false,
        post: true,
    };
    let client_id: &str = &client.id;
    let redirect_uri: &str = &client.redirect_uri;
    let targets = [
        oauth(
            "/oauth/token",
            vec![
                ("grant_type", "authorization_code"),
                ("code", "c"),
                ("code_verifier", "v"),
            ],
        ),
        oauth(
            "/oauth/introspect",
            vec![("token", "t"), ("token_type_hint", "access_token")],
        ),
        oauth(
            "/oauth/revoke",
            vec![("token", "t"), ("token_type_hint", "refresh_token")],
        ),
        // RFC 9126: any authorization-request parameter, client-authenticated, JSON errors.
        Target {
            path: "/oauth/par",
            dialect: Dialect::OAuth,
            real: vec![
                ("response_type", "code"),
                ("redirect_uri", redirect_uri),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("scope", "read"),
            ],
            auth: Some(basic.clone()),
            get: false,
            post: true,
        },
        Target {
            path: "/oauth/authorize",
            dialect: Dialect::AuthorizePage,
            real: vec![
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("scope", "read"),
                ("state", &verifier),
            ],
            auth: None,
            get: true,
            post: true,
        },
        Target {
            path: "/v1/users/me",
            dialect: Dialect::Api,
            real: vec![],
            auth: Some(format!("Bearer {key}")),
            get: true,
            post: false,
        },
        Target {
            path: "/login",
            dialect: Dialect::Html,
            real: vec![
                ("email", "hostile@example.com"),
                ("password", "x"),
                ("next", "/"),
            ],
            auth: None,
            get: true,
            post: true,
        },
        // Mailed links (issue #12): the token is untrusted input on every instance.
        Target {
            path: "/password/reset",
            dialect: Dialect::Html,
            real: vec![
                ("token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                ("password", "a long enough passphrase"),
            ],
            auth: None,
            get: true,
            post: true,
        },
        Target {
            path: "/password/forgot",
            dialect: Dialect::Html,
            real: vec![("email", "hostile@example.com")],
            auth: None,
            get: true,
            post: true,
        },
        Target {
            path: "/email/verify",
            dialect: Dialect::Html,
            real: vec![("token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
            auth: None,
            get: true,
            post: false,
        },
        Target {
            path: "/email/change",
            dialect: Dialect::Html,
            real: vec![("token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
            auth: None,
            get: true,
            post: false,
        },
    ];
    let seed: u64 = std::env::var("HOSTILE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let mut rng = StdRng::seed_from_u64(seed);
    let n = requests_per_endpoint();
    let started = Instant::now();
    let mut sent = 0;

    // Act and assert
    for i in 0..n {
        let g = garbage(&mut rng);
        let what = format!(
            "seed {seed}, garbage #{i}: {:?}",
            String::from_utf8_lossy(&g[..g.len().min(200)])
        );
        if let Some(a) = send(app.port, &g, &what).await {
            assert!(a.status < 500, "{what}: {}", a.head);
        }
        sent += 1;
    }
    for t in &targets {
        for i in 0..n {
            let (req, parser_may_refuse) = request(&mut rng, t);
            let what = format!(
                "seed {seed}, {} #{i}: {:?}",
                t.path,
                String::from_utf8_lossy(&req[..req.len().min(600)])
            );
            let answer = send(app.port, &req, &what).await;
            sent += 1;
            let Some(a) = answer else {
                // Only the HTTP layer may hang up without answering.
                assert!(parser_may_refuse, "{what}: closed without an answer");
                continue;
            };
            assert!(a.status < 500, "{what}: {}", a.head);
            if parser_may_refuse && a.header("content-type").is_none() {
                continue;
            }
            if t.dialect == Dialect::Html && a.status < 300 {
                assert!(
                    a.header("content-type")
                        .is_some_and(|c| c.starts_with("text/html")),
                    "{what}: {}",
                    a.head
                );
                continue;
            }
            if t.dialect == Dialect::AuthorizePage && a.status < 300 {
                continue;
            }
            assert_dialect(&a, t.dialect, &what);
        }
    }

    // The app still serves after all that.
    let res = app.get("/healthz").await;
    assert_eq!(res.status().as_u16(), 200);
    eprintln!(
        "hostile input: {sent} requests (seed {seed}) in {:.1} s, 0 answered 5xx",
        started.elapsed().as_secs_f64()
    );
}
