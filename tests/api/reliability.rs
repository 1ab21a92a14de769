//! Issue #16's defects, each as a scenario that failed before its fix: revocation racing
//! rotation (1), a locked PostgreSQL table (3), a locked SQLite file (5). RELIABILITY.md
//! lists them with the figures measured.

use std::time::{Duration, Instant};

use entity::refresh_token::{self, Column};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::helpers::*;

const EMAIL: &str = "ann@example.com";

/// A fresh code for `c` from `browser` (signed in, consent remembered after the first), and
/// its PKCE verifier.
async fn code_for(app: &TestApp, browser: &reqwest::Client, c: &TestClient) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let url = app.authorize_url(&[
        ("client_id", &c.id),
        ("response_type", "code"),
        ("redirect_uri", &c.redirect_uri),
        ("scope", "read write"),
        ("state", "st4te"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let res = app
        .authorize_in_browser(browser, &url, EMAIL, "allow")
        .await;
    assert_eq!(res.status(), 303, "authorization did not redirect");
    let code = query_of(&location(&res))
        .remove("code")
        .expect("code in redirect");
    (code, verifier)
}

async fn redeem(app: &TestApp, c: &TestClient, code: &str, verifier: &str) -> reqwest::Response {
    app.redeem_code(c, code, verifier).await
}

/// `(refresh_token, access-token jti)` of a 200 token response.
async fn issued(res: reqwest::Response) -> (String, String) {
    assert_eq!(res.status(), 200, "token request failed");
    let body = json(res).await;
    let at = body["access_token"].as_str().expect("access_token");
    (
        body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
        jwt_claims(at)["jti"].as_str().expect("jti").to_owned(),
    )
}

/// What a revoked family must not have: a token neither rotated nor revoked, or an access
/// token it issued (still unexpired) missing from the deny list. Returns the violations.
async fn survivors(app: &TestApp, family: &str) -> Vec<String> {
    let rows = refresh_token::Entity::find()
        .filter(Column::FamilyId.eq(family))
        .all(&app.db)
        .await
        .expect("readable");
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for r in rows {
        if r.revoked_at.is_none() && r.rotated_at.is_none() {
            out.push(format!("live refresh token {}", r.id));
        }
        if r.access_token_expires_at > now
            && !latch::store::tokens::is_denied_in_db(&app.db, &r.access_token_jti)
                .await
                .expect("readable")
        {
            out.push(format!("access token {} not denied", r.access_token_jti));
        }
    }
    out
}

/// Defect 1: replaying a rotated refresh token on instance B while the client rotates the
/// live one on A. The replay revokes the family; whichever commits first, no refresh token
/// and no access token of the family may stay usable afterwards.
#[tokio::test]
async fn no_live_token_in_a_revoked_family_when_replay_races_rotation_across_instances() {
    // Arrange
    let a = spawn_app().await;
    let b = spawn_sibling(&a).await;
    a.create_user(EMAIL, PASSWORD).await;
    let c = a.confidential_client().await;
    let browser = a.new_browser();
    let mut failures = Vec::new();
    let mut rotated_first = 0;

    for round in 0..100 {
        let (code, verifier) = code_for(&a, &browser, &c).await;
        let (rt0, _) = issued(redeem(&a, &c, &code, &verifier).await).await;
        let (rt1, _) = issued(refresh(&a, &c, &rt0).await).await;
        let family = latch::store::tokens::by_hash(&a.db, &latch::crypto::sha256_hex(&rt1))
            .await
            .expect("readable")
            .expect("row")
            .family_id;

        // Act: A rotates rt1 while B sees rt0 again (reuse, RFC 9700 §4.14.2).
        let (rotation, replay) = tokio::join!(refresh(&a, &c, &rt1), refresh(&b, &c, &rt0));

        // Assert
        assert_eq!(replay.status(), 400, "round {round}: replay not refused");
        if rotation.status() == 200 {
            rotated_first += 1;
            let (rt2, _) = issued(rotation).await;
            let again = refresh(&a, &c, &rt2).await;
            if again.status() == 200 {
                failures.push(format!("round {round}: the successor still refreshes"));
            }
        }
        for s in survivors(&a, &family).await {
            failures.push(format!("round {round}: {s}"));
        }
    }
    eprintln!("rotation committed first in {rotated_first}/100 rounds");
    assert!(
        failures.is_empty(),
        "{} violations (rotation won {rotated_first}/100): {failures:#?}",
        failures.len()
    );
}

/// Defect 1, code replay: the code is presented again on B while the client rotates the
/// refresh token it issued on A. The replay revokes what the code issued (RFC 6749 §4.1.2)
/// through the same family revocation, so the rotation's successor must not survive either.
#[tokio::test]
async fn no_live_token_in_a_revoked_family_when_code_replay_races_rotation_across_instances() {
    // Arrange
    let a = spawn_app().await;
    let b = spawn_sibling(&a).await;
    a.create_user(EMAIL, PASSWORD).await;
    let c = a.confidential_client().await;
    let browser = a.new_browser();
    let mut failures = Vec::new();
    let mut rotated_first = 0;

    for round in 0..50 {
        let (code, verifier) = code_for(&a, &browser, &c).await;
        let (rt0, _) = issued(redeem(&a, &c, &code, &verifier).await).await;
        let family = latch::store::tokens::by_hash(&a.db, &latch::crypto::sha256_hex(&rt0))
            .await
            .expect("readable")
            .expect("row")
            .family_id;

        // Act
        let (rotation, replay) =
            tokio::join!(refresh(&a, &c, &rt0), redeem(&b, &c, &code, &verifier));

        // Assert
        assert_eq!(
            replay.status(),
            400,
            "round {round}: code replay not refused"
        );
        if rotation.status() == 200 {
            rotated_first += 1;
            let (rt1, _) = issued(rotation).await;
            if refresh(&a, &c, &rt1).await.status() == 200 {
                failures.push(format!("round {round}: the successor still refreshes"));
            }
        }
        for s in survivors(&a, &family).await {
            failures.push(format!("round {round}: {s}"));
        }
    }
    eprintln!("rotation committed first in {rotated_first}/50 rounds");
    assert!(
        failures.is_empty(),
        "{} violations (rotation won {rotated_first}/50): {failures:#?}",
        failures.len()
    );
}

/// How many requests to fire at once against a locked table: more than the pool holds, so
/// some wait for a connection and then for the lock.
const CONCURRENT: usize = 24;

/// Fire `CONCURRENT` redemptions of distinct codes at once; each answer's status,
/// `Retry-After` and elapsed time.
async fn redeem_all(
    app: &TestApp,
    c: &TestClient,
    codes: &[(String, String)],
) -> Vec<(u16, Option<String>, Duration, String)> {
    let requests = codes.iter().map(|(code, verifier)| async move {
        let t = Instant::now();
        let res = redeem(app, c, code, verifier).await;
        let status = res.status().as_u16();
        let retry = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = res.text().await.unwrap_or_default();
        (status, retry, t.elapsed(), body)
    });
    futures_util::future::join_all(requests).await
}

/// The bound README documents for a request waiting on the database: one acquire timeout
/// for a connection plus one statement (PostgreSQL) or file-lock (SQLite) wait of the same
/// length.
fn bound(app: &TestApp) -> Duration {
    app.settings.db_acquire_timeout * 2
}

fn assert_unavailable_within(answers: &[(u16, Option<String>, Duration, String)], bound: Duration) {
    let slowest = answers.iter().map(|a| a.2).max().unwrap_or_default();
    for (status, retry, elapsed, body) in answers {
        assert_eq!(*status, 503, "after {elapsed:?}: {body}");
        assert!(retry.is_some(), "503 without Retry-After: {body}");
        assert!(
            !body.to_lowercase().contains("sqlx") && !body.contains("SQLSTATE"),
            "driver text in body: {body}"
        );
    }
    // Slack for a loaded test machine (two cores shared with a build).
    assert!(
        slowest <= bound + Duration::from_millis(1500),
        "slowest answer after {slowest:?}, bound {bound:?}"
    );
    eprintln!("slowest 503 after {slowest:?} (bound {bound:?})");
}

/// Defect 3: a table locked on PostgreSQL (SQLSTATE 57014 when the statement timeout
/// cancels the wait) is "unavailable": 503 + Retry-After within the documented bound, not a
/// 500 after 10 s.
#[tokio::test]
async fn code_exchange_503_with_retry_after_within_bound_when_postgres_table_is_locked() {
    // Arrange
    let app = spawn_app_with(|s| s.db_acquire_timeout = Duration::from_millis(1000)).await;
    if !app.test_db.is_postgres() {
        return; // SQLite: the file-lock scenario below.
    }
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    let mut codes = Vec::new();
    for _ in 0..CONCURRENT {
        codes.push(code_for(&app, &browser, &c).await);
    }
    let locker = Database::connect(&app.test_db.url).await.expect("connect");
    let txn = locker.begin().await.expect("begin");
    txn.execute_unprepared("LOCK TABLE authorization_code IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");

    // Act
    let answers = redeem_all(&app, &c, &codes).await;
    txn.rollback().await.expect("unlock");

    // Assert
    assert_unavailable_within(&answers, bound(&app));
    // And it recovers: a code whose redemption was refused for unavailability still works.
    let (code, verifier) = &codes[0];
    assert_eq!(redeem(&app, &c, code, verifier).await.status(), 200);
}

/// Defect 5: another process holding SQLite's write lock. Writers in this process queue on
/// the in-process writer lock; each must give up within the documented bound with a 503 +
/// Retry-After instead of waiting behind every writer ahead of it.
#[tokio::test]
async fn code_exchange_503_with_retry_after_within_bound_when_sqlite_file_is_locked() {
    // Arrange
    let app = spawn_app_with(|s| s.db_acquire_timeout = Duration::from_millis(500)).await;
    if app.test_db.is_postgres() {
        return; // PostgreSQL: the table-lock scenario above.
    }
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(code_for(&app, &browser, &c).await);
    }
    // "Another process": its own pool on the same file, holding the write lock.
    let other = Database::connect(&app.test_db.url).await.expect("connect");
    let txn = other
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .expect("BEGIN IMMEDIATE");

    // Act
    let answers = redeem_all(&app, &c, &codes).await;
    txn.rollback().await.expect("unlock");

    // Assert
    assert_unavailable_within(&answers, bound(&app));
    let (code, verifier) = &codes[0];
    assert_eq!(redeem(&app, &c, code, verifier).await.status(), 200);
}

/// "Retry after an unknown outcome" (issue #16): a client whose redemption committed but
/// whose answer it never saw (a 503 as the database died, a dropped connection) retries with
/// the same code, verifier and redirect URI. The rule (RELIABILITY.md): the retry is a
/// replay like any other — refused, and what the first redemption issued is revoked (RFC
/// 6749 §4.1.2, RFC 9700 §4.2.4, SECURITY.md T1) — because a second redemption with the
/// verifier is also what an attacker who redeemed first looks like to us. The revocation
/// reaches that code's grant only: the client's other grants keep working, the user stays
/// signed in, and a new authorization gets it tokens again without a sign-in.
#[tokio::test]
async fn retry_after_an_unknown_outcome_revokes_only_that_codes_grant_and_a_new_authorization_works()
 {
    // Arrange: an earlier grant that must survive, then a redemption whose answer is "lost".
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    let (code, verifier) = code_for(&app, &browser, &c).await;
    let (other_rt, _) = issued(redeem(&app, &c, &code, &verifier).await).await;
    let (code, verifier) = code_for(&app, &browser, &c).await;
    let (lost_rt, lost_jti) = issued(redeem(&app, &c, &code, &verifier).await).await;

    // Act: the retry, at once, with everything the first request had.
    let retry = redeem(&app, &c, &code, &verifier).await;

    // Assert
    expect_oauth_error(retry, 400, "invalid_grant").await;
    assert!(
        latch::store::tokens::is_denied_in_db(&app.db, &lost_jti)
            .await
            .expect("readable"),
        "the lost answer's access token is revoked"
    );
    expect_oauth_error(refresh(&app, &c, &lost_rt).await, 400, "invalid_grant").await;
    assert_eq!(
        refresh(&app, &c, &other_rt).await.status(),
        200,
        "the client's other grant is untouched"
    );
    let (code, verifier) = code_for(&app, &browser, &c).await;
    assert_eq!(
        redeem(&app, &c, &code, &verifier).await.status(),
        200,
        "a new authorization (no sign-in: the session lives) gets tokens again"
    );
}

/// This process's TCP sockets connected to `port`, by fd, with their inode (a fd number can
/// be reused) and whether `TCP_NODELAY` is set.
#[cfg(target_os = "linux")]
fn sockets_to(port: u16) -> Vec<(i32, String, bool)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return found;
    };
    for entry in dir.flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let inode = target.to_string_lossy().into_owned();
        if !inode.starts_with("socket:") {
            continue;
        }
        // SAFETY: getpeername and getsockopt write at most the lengths given into locals
        // of those sizes; a fd that is not (or no longer) a connected socket fails, skipped.
        let (peer_port, nodelay) = unsafe {
            let mut addr: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getpeername(fd, (&raw mut addr).cast(), &mut len) != 0 {
                continue;
            }
            let peer_port = match i32::from(addr.ss_family) {
                libc::AF_INET => {
                    u16::from_be((*(&raw const addr).cast::<libc::sockaddr_in>()).sin_port)
                }
                libc::AF_INET6 => {
                    u16::from_be((*(&raw const addr).cast::<libc::sockaddr_in6>()).sin6_port)
                }
                _ => continue,
            };
            let mut on: libc::c_int = 0;
            let mut on_len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&raw mut on).cast(),
                &mut on_len,
            ) != 0
            {
                continue;
            }
            (peer_port, on != 0)
        };
        if peer_port == port {
            found.push((fd, inode, nodelay));
        }
    }
    found
}

/// Issue #16 (write path): sqlx 0.9.0 stopped setting `TCP_NODELAY`, and with TLS to
/// PostgreSQL each round trip then waited ~40 ms for a delayed ACK (Nagle): code exchanges
/// ran at ~550/s instead of ~1.5k. `vendor/sqlx-core` restores it (vendor/README.md); this
/// fails if that patch is lost. Every connection the pool holds must have it. (SQLite: no
/// socket, nothing to check.)
#[cfg(target_os = "linux")]
#[tokio::test]
async fn postgres_connections_are_opened_with_tcp_nodelay() {
    // Arrange
    let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        return;
    };
    let port = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(5432);
    let app = spawn_app().await;

    // Act: the pool opens and uses its connections.
    for _ in 0..4 {
        app.db.execute_unprepared("SELECT 1").await.unwrap();
    }
    let first = sockets_to(port);
    // Other tests in this process open connections too: one caught between its connect
    // and its setsockopt is looked at again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = sockets_to(port);

    // Assert
    assert!(
        !first.is_empty(),
        "no connection to PostgreSQL's port {port} found"
    );
    for (fd, inode, nodelay) in &first {
        let still_off = again.iter().any(|(f, i, on)| f == fd && i == inode && !on);
        assert!(
            *nodelay || !still_off,
            "fd {fd} ({inode}) to PostgreSQL has no TCP_NODELAY"
        );
    }
}
