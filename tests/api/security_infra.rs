//! Security review #9, infrastructure findings: bounded metrics labels (3), slow bodies and
//! connection floods (4), client-authentication locks per source address (6), IPv6 limits
//! per prefix (15), and transport headers and cookies (19).

use std::time::Duration;

use latch::rate_limit::Rate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A client that trusts the TLS test certificate.
fn tls_client() -> reqwest::Client {
    let pem = std::fs::read(fixture("tls-cert.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn spawn_tls_app(f: impl FnOnce(&mut latch::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.tls = Some((fixture("tls-cert.pem"), fixture("tls-key.pem")));
        s.issuer = "https://127.0.0.1:0".into();
        f(s);
    })
    .await
}

/// Read one HTTP/1.1 response (head and a `Content-Length` body) from `stream`; whatever
/// arrived when the peer closes or `within` passes. Lower-cased.
async fn read_response(stream: &mut TcpStream, within: Duration) -> String {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(within, async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return;
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&buf).to_ascii_lowercase()
}

/// Whether the peer closed `stream` within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(within, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn get_on(stream: &mut TcpStream, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: latch\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_response(stream, Duration::from_secs(5)).await
}

// ---------------------------------------------------------------------------------------
// Finding 3: metrics labels are bounded.

#[tokio::test]
async fn metrics_do_not_grow_with_made_up_methods_or_paths() {
    // Arrange
    let app = spawn_app().await;
    let size_before = app.get("/metrics").await.text().await.unwrap().len();
    let methods: Vec<String> = (0..3000)
        .map(|i| format!("XM{}{i}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
        .collect();

    // Act: extension methods on a real route and on made-up paths, 16 at a time.
    for batch in methods.chunks(16) {
        let sends = batch.iter().enumerate().map(|(i, m)| {
            let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
            let path = if i % 2 == 0 {
                "/healthz".to_owned()
            } else {
                format!("/no/such/{}", m.to_ascii_lowercase())
            };
            app.http.request(method, app.url(&path)).send()
        });
        for res in futures_util::future::join_all(sends).await {
            assert!(res.expect("request").status().is_client_error());
        }
    }
    let text = app.get("/metrics").await.text().await.unwrap();

    // Assert
    for m in methods.iter().step_by(97) {
        assert!(!text.contains(m.as_str()), "{m} became a label");
    }
    assert!(!text.contains("/no/such/"), "a made-up path became a label");
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(text.contains(r#"route="unmatched""#), "{text}");
    // Each new series costs ~1.5 KiB (a counter and a 12-bucket histogram): 3000 made-up
    // methods would add megabytes. The slack allows for other tests' routes meanwhile.
    assert!(
        text.len() < size_before + 512 * 1024,
        "/metrics grew from {size_before} to {} bytes",
        text.len()
    );
}

// ---------------------------------------------------------------------------------------
// Finding 4: slow bodies, the per-IP limit before the body, connections per IP.

#[tokio::test]
async fn a_body_that_stalls_is_answered_408_in_the_request_dialect_and_closed() {
    // Arrange
    let app = spawn_app_with(|s| s.body_timeout = Duration::from_secs(1)).await;
    for (path, dialect) in [
        ("/oauth/token", "\"error\":\"invalid_request\""),
        ("/login", "text/html"),
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();

        // Act: headers promise 100 bytes, one arrives, then nothing.
        stream
            .write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: latch\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: 100\r\n\r\ng"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let res = read_response(&mut stream, Duration::from_secs(5)).await;

        // Assert
        assert!(res.starts_with("http/1.1 408"), "{path}: {res:?}");
        assert!(res.contains(dialect), "{path}: {res}");
        assert!(started.elapsed() < Duration::from_secs(4), "{path}");
        assert!(
            closed_within(&mut stream, Duration::from_secs(2)).await,
            "{path}: the connection is closed after the 408"
        );
    }
}

#[tokio::test]
async fn the_per_ip_token_limit_answers_before_the_body_is_read() {
    // Arrange: one token request per hour per address; a long body timeout, so only the
    // limit can answer quickly.
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.body_timeout = Duration::from_secs(60);
        s.limits.token_ip = Rate::parse("1/h").unwrap();
    })
    .await;
    assert_ne!(
        app.post_token(&[("grant_type", "client_credentials")])
            .await
            .status(),
        429
    );
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();

        // Act: headers only; the promised body never comes.
        stream
            .write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: latch\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: 100\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let res = read_response(&mut stream, Duration::from_secs(3)).await;

        // Assert
        assert!(res.starts_with("http/1.1 429"), "{path}: {res:?}");
        assert!(res.contains("retry-after"), "{path}: {res}");
    }
}

#[tokio::test]
async fn connections_over_the_per_ip_cap_are_refused_and_healthz_answers_after_they_close() {
    // Arrange: three connections per address.
    let app = spawn_app_with(|s| s.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
        assert!(
            get_on(&mut stream, "/healthz")
                .await
                .starts_with("http/1.1 200")
        );
        held.push(stream);
    }

    // Act
    let mut extra = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let refused = get_on(&mut extra, "/healthz").await;
    let mut extra_oauth = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let refused_oauth = get_on(&mut extra_oauth, "/oauth/token").await;

    // Assert: refused in the request's dialect, and closed.
    assert!(refused.starts_with("http/1.1 429"), "{refused:?}");
    assert!(refused.contains("connection: close"), "{refused}");
    assert!(refused.contains("retry-after"), "{refused}");
    assert!(closed_within(&mut extra, Duration::from_secs(2)).await);
    assert!(
        refused_oauth.starts_with("http/1.1 429"),
        "{refused_oauth:?}"
    );
    assert!(
        refused_oauth.contains("\"error\":\"temporarily_unavailable\""),
        "{refused_oauth}"
    );
    // The held connections still work.
    assert!(
        get_on(&mut held[0], "/healthz")
            .await
            .starts_with("http/1.1 200")
    );

    // Once they close, a fresh connection is served again.
    drop(held);
    drop(extra_oauth);
    let mut served = false;
    for _ in 0..30 {
        let mut fresh = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
        if get_on(&mut fresh, "/healthz")
            .await
            .starts_with("http/1.1 200")
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "/healthz answers once the other connections closed");
}

#[tokio::test]
async fn the_connection_cap_also_counts_tls_connections() {
    // Arrange: one connection per address; two clients each keep their own connection.
    let app = spawn_tls_app(|s| s.max_connections_per_ip = 1).await;
    let url = format!("https://127.0.0.1:{}/healthz", app.port);
    let first = tls_client();
    let second = tls_client();

    // Act
    let a = first.get(&url).send().await.unwrap();
    let b = second.get(&url).send().await.unwrap();

    // Assert
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 429);
}

// ---------------------------------------------------------------------------------------
// Finding 6: client-authentication locks are per (client, source address).

#[tokio::test]
async fn wrong_secrets_from_one_address_do_not_lock_out_the_client_elsewhere() {
    // Arrange: trust X-Forwarded-For from loopback to act from two addresses.
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.behind_proxy = true;
        s.limits.client_auth_failures = 3;
        s.limits.base_lock = Duration::from_secs(60);
    })
    .await;
    let c = app.machine_client().await;
    let wrong = latch::crypto::mint_secret("cs_");
    let token = async |secret: &str, ip: &str| {
        app.http
            .post(app.url("/oauth/token"))
            .basic_auth(&c.id, Some(secret))
            .header("x-forwarded-for", ip)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(token(&wrong, "203.0.113.5").await.status(), 401);
    }

    // Act
    let at_attacker = token(c.secret(), "203.0.113.5").await;
    let elsewhere = token(c.secret(), "198.51.100.7").await;
    let introspect_elsewhere = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&c.id, Some(c.secret()))
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[("token", "nothing")])
        .send()
        .await
        .unwrap();

    // Assert: the guessing address is locked; the well-behaved caller is not.
    assert_eq!(at_attacker.status(), 429);
    assert!(!header(&at_attacker, "retry-after").is_empty());
    assert_eq!(elsewhere.status(), 200);
    assert_eq!(introspect_elsewhere.status(), 200);
}

// ---------------------------------------------------------------------------------------
// Finding 15: IPv6 per-IP limits are per prefix.

#[tokio::test]
async fn ipv6_addresses_in_one_64_share_a_limit_and_other_64s_do_not() {
    // Arrange: one request per hour per address on the token and authorization endpoints.
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.behind_proxy = true;
        s.limits.token_ip = Rate::parse("1/h").unwrap();
        s.limits.authorize_ip = Rate::parse("1/h").unwrap();
    })
    .await;
    let token = async |ip: &str| {
        app.http
            .post(app.url("/oauth/token"))
            .header("x-forwarded-for", ip)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .status()
    };
    let authorize = async |ip: &str| {
        app.http
            .get(app.url("/oauth/authorize"))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap()
            .status()
    };

    // Act + Assert
    assert_ne!(token("2001:db8:1:2::1").await, 429);
    assert_eq!(
        token("2001:db8:1:2:ffff:ffff:ffff:fffe").await,
        429,
        "same /64"
    );
    assert_ne!(token("2001:db8:1:3::1").await, 429, "another /64");
    assert_ne!(authorize("2001:db8:9:9::1").await, 429);
    assert_eq!(authorize("2001:db8:9:9:abcd::7").await, 429, "same /64");
    assert_ne!(authorize("2001:db8:9:a::1").await, 429, "another /64");
}

// ---------------------------------------------------------------------------------------
// Finding 19: HSTS, CSP form-action, `__Host-` session cookie.

#[tokio::test]
async fn hsts_is_sent_over_tls_and_not_on_plain_http_loopback() {
    // Arrange
    let tls = spawn_tls_app(|_| {}).await;
    let plain = spawn_app().await;

    // Act
    let secure = tls_client()
        .get(format!("https://127.0.0.1:{}/healthz", tls.port))
        .send()
        .await
        .unwrap();
    let insecure = plain.get("/healthz").await;

    // Assert
    assert_eq!(
        header(&secure, "strict-transport-security"),
        "max-age=31536000"
    );
    assert!(
        insecure
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

#[tokio::test]
async fn html_pages_restrict_form_targets_with_csp() {
    let app = spawn_app().await;
    let res = app.get("/login").await;
    let csp = header(&res, "content-security-policy");
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[tokio::test]
async fn the_session_cookie_is_host_prefixed_over_tls() {
    // Arrange
    let app = spawn_tls_app(|_| {}).await;

    // Act
    let res = tls_client()
        .get(format!("https://127.0.0.1:{}/login", app.port))
        .send()
        .await
        .unwrap();

    // Assert: RFC 6265bis §4.1.3.2 — Secure, Path=/, no Domain.
    let cookie = header(&res, "set-cookie");
    assert!(cookie.starts_with("__Host-latch_session="), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
}

#[tokio::test]
async fn an_https_issuer_behind_a_proxy_gets_hsts_and_the_host_prefixed_cookie() {
    // Arrange: a proxy terminates TLS; Latch itself speaks plain http on loopback.
    let app = spawn_app_with(|s| {
        s.behind_proxy = true;
        s.issuer = "https://auth.example.com".into();
        s.audience = s.issuer.clone();
    })
    .await;

    // Act
    let res = app.get("/login").await;

    // Assert
    assert_eq!(
        header(&res, "strict-transport-security"),
        "max-age=31536000"
    );
    let cookie = header(&res, "set-cookie");
    assert!(cookie.starts_with("__Host-latch_session="), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    // Plain http on loopback keeps the unprefixed name (a `__Host-` cookie needs Secure).
    let plain = spawn_app().await;
    let cookie = header(&plain.get("/login").await, "set-cookie");
    assert!(cookie.starts_with("latch_session="), "{cookie}");
}
