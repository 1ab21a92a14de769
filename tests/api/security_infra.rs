//! Security review #9, infrastructure findings.

use std::time::Duration;

use latch::rate_limit::Rate;

use crate::helpers::*;

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
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
    assert!(
        text.len() < size_before + 64 * 1024,
        "/metrics grew from {size_before} to {} bytes",
        text.len()
    );
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
