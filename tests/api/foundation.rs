//! Start-up, migrations, health and readiness, metrics, request ids, security headers and
//! the error dialects: what every later endpoint relies on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, EntityName, Statement,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Start-up and migrations

/// Every table the schema defines: one per entity, plus sea-orm's migration ledger.
fn expected_tables(backend: DatabaseBackend) -> Vec<String> {
    let mut t: Vec<String> = [
        entity::user::Entity.table_name(),
        entity::client::Entity.table_name(),
        entity::client_logo::Entity.table_name(),
        entity::authorization_code::Entity.table_name(),
        entity::refresh_token::Entity.table_name(),
        entity::revoked_token::Entity.table_name(),
        entity::consent::Entity.table_name(),
        entity::api_key::Entity.table_name(),
        entity::signing_key::Entity.table_name(),
        entity::audit_event::Entity.table_name(),
        entity::idempotency_key::Entity.table_name(),
        entity::api::Entity.table_name(),
        entity::api_scope::Entity.table_name(),
        entity::exchanged_token::Entity.table_name(),
        entity::pushed_request::Entity.table_name(),
        entity::client_assertion_jti::Entity.table_name(),
        entity::mail_outbox::Entity.table_name(),
        entity::user_token::Entity.table_name(),
        entity::totp_factor::Entity.table_name(),
        entity::recovery_code::Entity.table_name(),
        entity::browser_session::Entity.table_name(),
        entity::device_code::Entity.table_name(),
        entity::dpop_proof::Entity.table_name(),
        entity::backchannel_logout::Entity.table_name(),
        entity::passkey::Entity.table_name(),
        entity::passkey_ceremony::Entity.table_name(),
        entity::registration_token::Entity.table_name(),
        entity::session_client::Entity.table_name(),
        "seaql_migrations",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // SQLite's DPoP replay log has no entity: raw statements only (store::dpop_proofs).
    if backend == DatabaseBackend::Sqlite {
        t.push("dpop_proof_log".to_owned());
    }
    t.sort();
    t
}

async fn table_names(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
              WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let mut names: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("table name"))
        .collect();
    names.sort();
    names
}

async fn count_rows(db: &DatabaseConnection, table: &str) -> i64 {
    let backend = db.get_database_backend();
    db.query_one_raw(Statement::from_string(
        backend,
        format!("SELECT COUNT(*) FROM \"{table}\""),
    ))
    .await
    .expect("count query")
    .expect("one row")
    .try_get_by_index::<i64>(0)
    .expect("count")
}

#[tokio::test]
async fn startup_creates_every_table_when_the_database_is_fresh() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let tables = table_names(&app.db).await;

    // Assert
    assert_eq!(
        tables,
        expected_tables(app.db.get_database_backend()),
        "on {}",
        app.db.get_database_backend().as_str()
    );
    assert_eq!(
        count_rows(&app.db, "seaql_migrations").await,
        Migrator::migrations().len() as i64,
        "every migration is recorded as applied"
    );
}

#[tokio::test]
async fn migrations_are_a_no_op_when_run_again_on_a_migrated_database() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ann@example.com", "correct horse battery")
        .await;
    let applied = count_rows(&app.db, "seaql_migrations").await;

    // Act
    let rerun = Migrator::up(&app.db, None).await;

    // Assert
    assert!(rerun.is_ok(), "second run fails: {rerun:?}");
    assert!(
        Migrator::get_pending_migrations(&app.db)
            .await
            .expect("pending")
            .is_empty()
    );
    assert_eq!(count_rows(&app.db, "seaql_migrations").await, applied);
    assert_eq!(
        table_names(&app.db).await,
        expected_tables(app.db.get_database_backend())
    );
    assert_eq!(
        count_rows(&app.db, "user").await,
        1,
        "data survives a second run"
    );
}

// ---------------------------------------------------------------------------------------------
// Health and readiness

#[tokio::test]
async fn healthz_and_readyz_answer_ok_on_a_fresh_database() {
    // Arrange
    let app = spawn_app().await;
    // Act
    let health = app.get("/healthz").await;
    let ready = app.get("/readyz").await;
    // Assert
    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
    assert_eq!(json(ready).await["checks"]["database"], "ok");
}

/// A TCP forwarder between the app and PostgreSQL, which a test can cut like a network fault.
struct Forwarder {
    port: u16,
    accept: JoinHandle<()>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Forwarder {
    async fn start(listen: &str, upstream: String) -> Forwarder {
        let listener = TcpListener::bind(listen).await.expect("forwarder binds");
        let port = listener.local_addr().expect("local addr").port();
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let tasks = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().expect("not poisoned").push(task);
            }
        });
        Forwarder {
            port,
            accept,
            conns,
        }
    }

    /// Stop listening and drop every live connection.
    async fn stop(self) {
        self.accept.abort();
        let _ = self.accept.await;
        let conns: Vec<_> = self.conns.lock().expect("not poisoned").drain(..).collect();
        for c in conns {
            c.abort();
            let _ = c.await;
        }
    }
}

/// A fresh PostgreSQL database reached through a [`Forwarder`]: the forwarder, the app's
/// database URL and the forwarder's upstream; `None` (with a note) when no PostgreSQL is
/// reachable at `PG_URL`.
async fn postgres_behind_forwarder() -> Option<(Forwarder, String, String, PgDatabaseGuard)> {
    let pg_url = std::env::var("PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = match tokio::time::timeout(Duration::from_secs(5), Database::connect(&pg_url)).await
    {
        Ok(Ok(db)) => db,
        _ => {
            println!("skipped: no PostgreSQL reachable at PG_URL ({pg_url})");
            return None;
        }
    };
    let name = format!("latch_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let mut url = url::Url::parse(&pg_url).expect("PG_URL is a URL");
    let upstream = format!(
        "{}:{}",
        url.host_str().expect("PG_URL has a host"),
        url.port().unwrap_or(5432)
    );
    let fwd = Forwarder::start("127.0.0.1:0", upstream.clone()).await;
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(fwd.port)).expect("port");
    url.set_path(&format!("/{name}"));
    let guard = PgDatabaseGuard {
        admin_url: pg_url.clone(),
        name,
    };
    Some((fwd, url.to_string(), upstream, guard))
}

async fn spawn_app_on(database_url: String) -> TestApp {
    spawn_app_with(move |s| {
        s.database_url = database_url;
        s.db_acquire_timeout = Duration::from_millis(500);
    })
    .await
}

#[tokio::test]
async fn readyz_returns_503_with_retry_after_quickly_when_the_database_is_unreachable() {
    // Arrange
    let Some((fwd, url, _, _db)) = postgres_behind_forwarder().await else {
        return;
    };
    let app = spawn_app_on(url).await;
    assert_eq!(
        app.get("/readyz").await.status(),
        200,
        "ready while the database is reachable"
    );
    fwd.stop().await;

    // Act
    let started = Instant::now();
    let res = app
        .http
        .get(app.url("/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("readyz answers instead of hanging");
    let elapsed = started.elapsed();

    // Assert
    assert_eq!(res.status(), 503);
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| s > 0),
        "Retry-After: {retry_after:?}"
    );
    assert!(res.headers().contains_key("x-request-id"));
    let body = json(res).await;
    assert_eq!(body["checks"]["database"], "unreachable");
}

#[tokio::test]
async fn readyz_returns_200_again_when_the_database_comes_back() {
    // Arrange
    let Some((fwd, url, upstream, _db)) = postgres_behind_forwarder().await else {
        return;
    };
    let port = fwd.port;
    let app = spawn_app_on(url).await;
    fwd.stop().await;
    assert_eq!(
        app.get("/readyz").await.status(),
        503,
        "not ready while cut off"
    );

    // Act
    let _restored = Forwarder::start(&format!("127.0.0.1:{port}"), upstream).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut status = 0;
    while Instant::now() < deadline {
        status = app.get("/readyz").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert
    assert_eq!(status, 200, "ready again once the database is reachable");
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// The value of the first sample of `metric` whose labels include every one of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_expose_request_counts_and_latency_histograms_when_requests_were_served() {
    // Arrange
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/v1/no-such-thing").await.status(), 404);

    // Act
    let res = app.get("/metrics").await;

    // Assert
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = res.text().await.expect("body");
    let healthz = [r#"route="/healthz""#, r#"status="200""#, r#"method="GET""#];
    assert!(
        sample(&text, "http_requests_total", &healthz).is_some_and(|n| n >= 1.0),
        "no request count for /healthz:\n{text}"
    );
    assert!(
        sample(&text, "http_requests_total", &[r#"status="404""#]).is_some_and(|n| n >= 1.0),
        "no request count for the 404:\n{text}"
    );
    let bucket = [r#"route="/healthz""#, r#"status="200""#, r#"le="+Inf""#];
    assert!(
        sample(&text, "http_request_duration_seconds_bucket", &bucket).is_some_and(|n| n >= 1.0),
        "no latency histogram for /healthz:\n{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{") && text.contains(r#"le="0.005""#)
    );
    assert!(sample(&text, "http_request_duration_seconds_count", &healthz).is_some());
    assert!(sample(&text, "http_request_duration_seconds_sum", &healthz).is_some());
}

// ---------------------------------------------------------------------------------------------
// Request ids, security headers, error dialects

fn request_id(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn unknown_v1_route_returns_404_in_the_api_dialect_when_the_path_does_not_exist() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = app.get("/v1/no-such-thing").await;

    // Assert
    assert_eq!(res.status(), 404);
    let header_id = request_id(&res).expect("X-Request-Id");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body = json(res).await;
    let error = &body["error"];
    assert_eq!(error["type"], "invalid_request_error", "{body}");
    assert!(
        error["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(error["request_id"], header_id.as_str(), "{body}");
}

#[tokio::test]
async fn unknown_oauth_route_returns_invalid_request_in_the_oauth_dialect_when_the_path_does_not_exist()
 {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = app.get("/oauth/no-such-endpoint").await;

    // Assert
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = json(res).await;
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(body["error_description"].is_string(), "{body}");
}

#[tokio::test]
async fn every_response_carries_a_distinct_request_id_when_requests_succeed_or_fail() {
    // Arrange
    let app = spawn_app().await;
    let paths = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/latch.css",
        "/v1/no-such-thing",
        "/oauth/no-such-endpoint",
        "/no-such-page",
    ];

    // Act
    let mut ids = Vec::new();
    for path in paths {
        let res = app.get(path).await;
        ids.push((path, res.status().as_u16(), request_id(&res)));
    }
    let post = app.post_form("/healthz", &[("a", "b")]).await;
    ids.push(("POST /healthz", post.status().as_u16(), request_id(&post)));

    // Assert
    for (path, status, id) in &ids {
        assert!(
            id.as_deref().is_some_and(|i| !i.is_empty()),
            "{path} ({status}) has no X-Request-Id"
        );
    }
    let mut unique: Vec<_> = ids.iter().filter_map(|(_, _, id)| id.clone()).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "request ids repeat: {ids:?}");
}

#[tokio::test]
async fn html_pages_carry_security_headers_when_a_page_is_not_found() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let res = app.get("/no-such-page").await;

    // Assert
    assert_eq!(res.status(), 404);
    let h = res.headers();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h
        .get("content-security-policy")
        .expect("CSP")
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("'unsafe-inline'"), "{csp}");
    assert_eq!(h.get("x-frame-options").expect("X-Frame-Options"), "DENY");
    assert_eq!(
        h.get("x-content-type-options")
            .expect("X-Content-Type-Options"),
        "nosniff"
    );
    assert_eq!(
        h.get("referrer-policy").expect("Referrer-Policy"),
        "no-referrer"
    );
    assert!(h.contains_key("x-request-id"));
}

#[tokio::test]
async fn oversized_bodies_get_a_400_in_each_endpoints_dialect() {
    // Arrange: a body one byte over the 64 KiB limit.
    let app = spawn_app().await;
    let big = format!("token={}", "a".repeat(64 * 1024));
    let form = "application/x-www-form-urlencoded";
    // Act + Assert: /oauth endpoints answer RFC 6749 §5.2 JSON with no-store…
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let res = app
            .http
            .post(app.url(path))
            .header("content-type", form)
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        assert_eq!(
            res.headers().get("cache-control").unwrap(),
            "no-store",
            "{path}"
        );
        assert_eq!(json(res).await["error"], "invalid_request", "{path}");
    }
    // …/v1 answers in the API format with a request id (once the caller is authenticated)…
    let user = app
        .create_user("big@example.com", "correct horse battery")
        .await;
    let (_, key) = latch::api_keys::create(
        &app.db,
        &app.state.catalog.get(),
        latch::api_keys::NewKey {
            user_id: user.id,
            livemode: false,
            name: "k".into(),
            scopes: vec!["write".into()],
            policies: Default::default(),
        },
    )
    .await
    .unwrap();
    let res = app
        .http
        .post(app.url("/v1/api_keys"))
        .bearer_auth(&key)
        .header("content-type", form)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let v = json(res).await;
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["request_id"].is_string());
    // …and pages with an HTML error page.
    let res = app
        .http
        .post(app.url("/oauth/authorize"))
        .header("content-type", form)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        res.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}
