//! Rate limits and brute-force protection (issue 6): exact headers, shared limits on one
//! Redis, Redis outages, sign-in and client-authentication lockouts, activity events.

use std::time::Duration;

use latch::rate_limit::Rate;

use crate::helpers::*;

const REDIS: &str = "redis://127.0.0.1:6379";

/// Whether the machine's Redis answers. Without it the Redis tests skip on a developer's
/// machine, but under CI (`CI` set, where `.ci/run` starts Redis) a missing Redis is a
/// failure, so a broken set-up cannot pass silently.
async fn redis_available() -> bool {
    let up = tokio::net::TcpStream::connect("127.0.0.1:6379")
        .await
        .is_ok();
    assert!(
        up || std::env::var_os("CI").is_none(),
        "CI is set but Redis does not answer on 127.0.0.1:6379"
    );
    up
}

async fn test_key(app: &TestApp, email: &str) -> (entity::api_key::Model, String) {
    let user = app.create_user(email, PASSWORD).await;
    latch::api_keys::create(
        &app.db,
        &app.state.catalog.get(),
        latch::api_keys::NewKey {
            user_id: user.id,
            livemode: false,
            name: "k".into(),
            scopes: vec!["read".into()],
            policies: Default::default(),
        },
    )
    .await
    .unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn wait_until(mut f: impl AsyncFnMut() -> bool, within: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < within {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn api_key_limit_sends_ratelimit_headers_then_429_with_retry_after() {
    // Arrange: 3 requests per minute for test keys.
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.limits.api_key_test = Rate {
            count: 3,
            period: Duration::from_secs(60),
            burst: 3,
        };
    })
    .await;
    let (_, key) = test_key(&app, "rl@example.com").await;
    // Act + Assert
    for remaining in [2, 1, 0] {
        let res = app
            .http
            .get(app.url("/v1/users/me"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-policy"), "\"api_key\";q=3;w=60");
        assert!(
            header(&res, "ratelimit").starts_with(&format!("\"api_key\";r={remaining};t=")),
            "{}",
            header(&res, "ratelimit")
        );
    }
    let res = app
        .http
        .get(app.url("/v1/users/me"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry), "retry-after {retry}");
    assert!(header(&res, "ratelimit").starts_with("\"api_key\";r=0;t="));
    let body = json(res).await;
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(body["error"]["request_id"].is_string());
}

#[tokio::test]
async fn token_endpoint_limits_per_client_in_the_oauth_dialect() {
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.limits.token_client = Rate {
            count: 2,
            period: Duration::from_secs(60),
            burst: 2,
        };
    })
    .await;
    let c = app.machine_client().await;
    for _ in 0..2 {
        assert_eq!(
            app.post_token_basic(&c.id, c.secret(), &[("grant_type", "client_credentials")])
                .await
                .status(),
            200
        );
    }
    let res = app
        .post_token_basic(&c.id, c.secret(), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(res.status(), 429);
    assert!(!header(&res, "retry-after").is_empty());
    assert_eq!(header(&res, "cache-control"), "no-store");
    let body = json(res).await;
    assert!(body["error"].is_string(), "RFC 6749 §5.2 shape: {body}");
    assert!(body["error_description"].is_string());
    // Another client is not affected.
    let other = app.machine_client().await;
    assert_eq!(
        app.post_token_basic(
            &other.id,
            other.secret(),
            &[("grant_type", "client_credentials")]
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn repeated_wrong_client_secrets_lock_the_client_temporarily() {
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.limits.client_auth_failures = 3;
        s.limits.base_lock = Duration::from_secs(1);
    })
    .await;
    let c = app.machine_client().await;
    let wrong = latch::crypto::mint_secret("cs_");
    for _ in 0..3 {
        assert_eq!(
            app.post_token_basic(&c.id, &wrong, &[("grant_type", "client_credentials")])
                .await
                .status(),
            401
        );
    }
    // Locked: even the right secret waits.
    let res = app
        .post_token_basic(&c.id, c.secret(), &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(res.status(), 429);
    assert!(!header(&res, "retry-after").is_empty());
    // After the lock, the real client gets through.
    let ok = wait_until(
        async || {
            app.post_token_basic(&c.id, c.secret(), &[("grant_type", "client_credentials")])
                .await
                .status()
                == 200
        },
        Duration::from_secs(4),
    )
    .await;
    assert!(ok, "the lock is temporary");
}

#[tokio::test]
async fn failed_sign_ins_from_rotating_ips_lock_the_account_then_the_owner_gets_in() {
    // Arrange: trust X-Forwarded-For from loopback so each attempt comes from a new IP.
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.behind_proxy = true;
        s.limits.login_failures_per_account = 3;
        s.limits.base_lock = Duration::from_secs(1);
    })
    .await;
    let user = app.create_user("victim@example.com", PASSWORD).await;
    let attempt = async |password: &str, ip: &str| {
        let browser = app.new_browser();
        let page = browser
            .get(app.url("/login"))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = input_value(&page, "csrf").unwrap();
        browser
            .post(app.url("/login"))
            .header("x-forwarded-for", ip)
            .form(&[
                ("email", "victim@example.com"),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap()
    };
    for i in 0..3 {
        assert_eq!(
            attempt("wrong password!", &format!("203.0.113.{i}"))
                .await
                .status(),
            401
        );
    }
    // Act: the real owner, right away, from another IP.
    let res = attempt(PASSWORD, "198.51.100.7").await;
    // Assert: throttled with a friendly page and Retry-After…
    assert_eq!(res.status(), 429);
    assert!(!header(&res, "retry-after").is_empty());
    assert!(header(&res, "content-type").starts_with("text/html"));
    // …and through once the (temporary) lock has passed.
    assert!(
        wait_until(
            async || attempt(PASSWORD, "198.51.100.7").await.status() == 303,
            Duration::from_secs(5)
        )
        .await
    );
    // The lock is in the owner's activity, as a warning.
    let events = latch::store::audit::page(
        &app.db,
        Some(&user.id),
        latch::store::audit::ModeFilter::All,
        50,
        None,
    )
    .await
    .unwrap();
    let locked = events
        .iter()
        .find(|e| e.kind == "signin.locked")
        .expect("signin.locked event");
    assert_eq!(locked.severity, "warning");
    assert!(events.iter().any(|e| e.kind == "signin.failed"));
}

#[tokio::test]
async fn unknown_emails_lock_exactly_like_real_ones() {
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.limits.login_failures_per_account = 2;
        s.limits.base_lock = Duration::from_secs(30);
    })
    .await;
    app.create_user("real@example.com", PASSWORD).await;
    let mut statuses = Vec::new();
    for email in ["real@example.com", "ghost@example.com"] {
        let mut seq = Vec::new();
        for _ in 0..3 {
            let res = app
                .sign_in(&app.new_browser(), email, "wrong password!", "/")
                .await;
            seq.push(res.status().as_u16());
        }
        statuses.push(seq);
    }
    assert_eq!(
        statuses[0], statuses[1],
        "a lock must not reveal whether an account exists"
    );
    assert_eq!(statuses[0], vec![401, 401, 429]);
}

#[tokio::test]
async fn two_instances_share_one_limit_through_redis() {
    if !redis_available().await {
        eprintln!("skipping: no Redis on 127.0.0.1:6379");
        return;
    }
    let a = spawn_app_with(|s| {
        s.rate_limit = true;
        s.redis_url = Some(REDIS.into());
        s.limits.api_key_test = Rate {
            count: 4,
            period: Duration::from_secs(60),
            burst: 4,
        };
    })
    .await;
    let b = spawn_sibling(&a).await;
    let (_, key) = test_key(&a, "shared@example.com").await;
    for app in [&a, &b] {
        assert!(
            wait_until(
                async || json(app.get("/readyz").await).await["rate_limit"] == "on (redis)",
                Duration::from_secs(5)
            )
            .await
        );
    }
    let mut statuses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &a } else { &b };
        statuses.push(
            app.http
                .get(app.url("/v1/users/me"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 200, 429, 429],
        "one bucket across both instances"
    );
}

/// A TCP forwarder to Redis that the test can cut.
struct Forwarder {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

async fn forwarder(port: u16) -> Forwarder {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                break;
            };
            conns.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:6379").await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Forwarder { port, task }
}

#[tokio::test]
async fn redis_outage_falls_back_to_local_limits_and_recovers() {
    if !redis_available().await {
        eprintln!("skipping: no Redis on 127.0.0.1:6379");
        return;
    }
    let fwd = forwarder(0).await;
    let port = fwd.port;
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    })
    .await;
    let (_, key) = test_key(&app, "outage@example.com").await;
    assert!(
        wait_until(
            async || json(app.get("/readyz").await).await["rate_limit"] == "on (redis)",
            Duration::from_secs(5)
        )
        .await
    );
    assert_eq!(
        app.http
            .get(app.url("/v1/users/me"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Act: Redis goes away (listener and live connections).
    fwd.task.abort();
    let _ = fwd.task.await;

    // Assert: still serving, never a 5xx; the fallback is visible.
    for _ in 0..5 {
        let res = app
            .http
            .get(app.url("/v1/users/me"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    assert!(
        wait_until(
            async || json(app.get("/readyz").await).await["rate_limit"]
                .as_str()
                .unwrap()
                .contains("fallback"),
            Duration::from_secs(5)
        )
        .await
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("latch_rate_limit_redis_up"),
        "gauge exported"
    );

    // Redis back on the same port: Latch returns to it.
    let _fwd = forwarder(port).await;
    assert!(
        wait_until(
            async || json(app.get("/readyz").await).await["rate_limit"] == "on (redis)",
            Duration::from_secs(8)
        )
        .await
    );
    assert_eq!(
        app.http
            .get(app.url("/v1/users/me"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn rate_limit_hits_and_new_ips_show_in_the_owners_activity() {
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.behind_proxy = true;
        s.limits.api_key_test = Rate {
            count: 1,
            period: Duration::from_secs(60),
            burst: 1,
        };
    })
    .await;
    let (k, key) = test_key(&app, "watch@example.com").await;
    let call = async |ip: &str| {
        app.http
            .get(app.url("/v1/users/me"))
            .bearer_auth(&key)
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(call("192.0.2.1").await, 200);
    assert_eq!(call("192.0.2.1").await, 429);
    // Wait for the first use to be recorded, then use the key from elsewhere.
    assert!(
        wait_until(
            async || latch::store::api_keys::by_id(&app.db, &k.id)
                .await
                .unwrap()
                .unwrap()
                .last_used_ip
                .is_some(),
            Duration::from_secs(3)
        )
        .await
    );
    // The key lookup is cached for up to 2 s; after that the recorded address is known.
    tokio::time::sleep(latch::api_keys::CACHE_TTL + Duration::from_millis(200)).await;
    let _ = call("192.0.2.99").await; // 429 or 200, either way a new address.
    let ok = wait_until(
        async || {
            let ev = latch::store::audit::page(
                &app.db,
                Some(&k.user_id),
                latch::store::audit::ModeFilter::All,
                50,
                None,
            )
            .await
            .unwrap();
            ev.iter()
                .any(|e| e.kind == "rate_limit.exceeded" && e.severity == "warning")
                && ev.iter().any(|e| e.kind == "api_key.new_ip")
        },
        Duration::from_secs(3),
    )
    .await;
    assert!(ok, "rate_limit.exceeded and api_key.new_ip recorded");
}

#[tokio::test]
async fn a_keys_own_rate_limit_overrides_its_modes_default() {
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.limits.api_key_test = Rate {
            count: 100,
            period: Duration::from_secs(1),
            burst: 100,
        };
    })
    .await;
    let (k, key) = test_key(&app, "own@example.com").await;
    // Give the key 1 request per second (burst 1) through the API, using the key itself.
    let user = latch::store::users::by_id(&app.db, &k.user_id)
        .await
        .unwrap()
        .unwrap();
    let (_, writer) = latch::api_keys::create(
        &app.db,
        &app.state.catalog.get(),
        latch::api_keys::NewKey {
            user_id: user.id,
            livemode: false,
            name: "w".into(),
            scopes: vec!["read".into(), "write".into()],
            policies: Default::default(),
        },
    )
    .await
    .unwrap();
    let res = app
        .http
        .post(app.url(&format!("/v1/api_keys/{}", k.id)))
        .bearer_auth(&writer)
        .form(&[("rate_limit", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["rate_limit"], 1);
    let first = app
        .http
        .get(app.url("/v1/users/me"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "ratelimit-policy"), "\"api_key\";q=1;w=1");
    assert_eq!(
        app.http
            .get(app.url("/v1/users/me"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    let bad = app
        .http
        .post(app.url(&format!("/v1/api_keys/{}", k.id)))
        .bearer_auth(&writer)
        .form(&[("rate_limit", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(json(bad).await["error"]["param"], "rate_limit");
}

#[tokio::test]
async fn refresh_token_reuse_is_a_warning_in_the_activity_and_old_events_are_pruned() {
    let app = spawn_app().await;
    let user = app.create_user("reuse@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let code = app.obtain_code(&c, "reuse@example.com", &[]).await;
    let t = json(
        app.post_token_basic(
            &c.id,
            c.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &c.redirect_uri),
            ],
        )
        .await,
    )
    .await;
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)]
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)]
        )
        .await
        .status(),
        400
    );
    let events = latch::store::audit::page(
        &app.db,
        Some(&user.id),
        latch::store::audit::ModeFilter::All,
        50,
        None,
    )
    .await
    .unwrap();
    let reuse = events
        .iter()
        .find(|e| e.kind == "refresh_token.reused")
        .expect("refresh_token.reused recorded");
    assert_eq!(reuse.severity, "warning");
    assert!(events.iter().any(|e| e.kind == "consent.granted"));
    // Retention: a sweep with a retention shorter than the events' age removes them.
    app.advance(2);
    latch::sweeper::sweep(&app.db, app.clock.now(), chrono::TimeDelta::seconds(1))
        .await
        .unwrap();
    assert!(
        latch::store::audit::page(
            &app.db,
            Some(&user.id),
            latch::store::audit::ModeFilter::All,
            50,
            None
        )
        .await
        .unwrap()
        .is_empty()
    );
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_latch_is_behind_a_proxy() {
    // Arrange: two requests per IP on /oauth/authorize; requests claim ever-new addresses.
    let limited = |behind_proxy: bool| {
        spawn_app_with(move |s| {
            s.rate_limit = true;
            s.behind_proxy = behind_proxy;
            s.limits.authorize_ip = Rate {
                count: 2,
                period: Duration::from_secs(60),
                burst: 2,
            };
        })
    };
    for (behind_proxy, expected) in [
        (false, vec![400, 400, 429, 429]),
        (true, vec![400, 400, 400, 400]),
    ] {
        let app = limited(behind_proxy).await;
        let mut statuses = Vec::new();
        for i in 0..4 {
            let res = app
                .http
                .get(app.url("/oauth/authorize"))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .send()
                .await
                .unwrap();
            statuses.push(res.status().as_u16());
        }
        // Assert: a forged header never buys a fresh bucket; from a trusted proxy it names the client.
        assert_eq!(statuses, expected, "behind_proxy = {behind_proxy}");
    }
}
