//! Fault injection (issue #16, "The fault tests, in the project"): each scenario runs against
//! its own PostgreSQL cluster (`initdb` on a free port, stopped at the end) and its own Redis,
//! never the machine's shared ones, and asserts what a client sees while the fault lasts — no
//! 500, no body naming the driver, every 503 with `Retry-After`, no wait past the bound — then
//! the recovery time and the database invariants. Figures go to RELIABILITY.md.
//!
//! They need PostgreSQL's server binaries and `redis-server`, and take tens of seconds, so
//! they are `#[ignore]`d in the plain `cargo test` and run by `.ci/run` with
//! `cargo test -p latch --test faults -- --ignored --test-threads 1`. `initdb` refuses to run
//! as root: as root, the cluster belongs to a system user `latchfaults` (made if missing).

mod f4_races;
mod f5_rotation;
mod f8_slow_disk;
mod infra;
mod soak;

use std::time::{Duration, Instant};

use infra::*;

/// F1: PostgreSQL killed (`pg_ctl stop -m immediate`) under mixed load. While it is down every
/// answer is a 200 (served without the database) or a 503 with `Retry-After`, within the bound;
/// after it is back, requests that write succeed again within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault injection: run by .ci/run with --ignored"]
async fn f1_postgres_killed_under_mixed_load() {
    // Arrange
    let pg = PgCluster::start();
    let app = InProcess::start(&pg.url("latch"), |s| {
        s.db_acquire_timeout = Duration::from_millis(1000);
    })
    .await;
    let fx = app.fixtures().await;
    let load = Load::start(app.base.clone(), fx.clone(), 8);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Act: kill the database, keep the load on it for a while.
    let killed_at = Instant::now();
    pg.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = load.take();
    pg.restart();
    let back_at = Instant::now();
    let recovered = app
        .wait_until_writes_work(&fx, Duration::from_secs(15))
        .await;
    let after = load.stop().await;

    // Assert
    eprintln!(
        "F1: {} answers while down ({} x 503), recovered {:?} after restart, killed for {:?}",
        during.total(),
        during.count(503),
        recovered,
        back_at - killed_at,
    );
    during.assert_no_failures("while PostgreSQL was down");
    assert!(
        during.count(503) > 0,
        "writes were answered 503: {during:?}"
    );
    during.assert_bounded(Duration::from_millis(2 * 1000 + 1500));
    after.assert_no_failures("after PostgreSQL came back");
    assert!(
        recovered < Duration::from_secs(10),
        "writes work again {recovered:?} after the restart"
    );
}

/// F6: Redis killed under shared limits: requests go on (limits fall back to per instance),
/// `latch_rate_limit_redis_up` says 0, and 1 again soon after Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault injection: run by .ci/run with --ignored"]
async fn f6_redis_killed_under_shared_limits() {
    // Arrange
    let redis = RedisServer::start();
    let url = redis.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}/latch.db?mode=rwc", dir.path().display());
    let app = InProcess::start(&db, |s| {
        s.redis_url = Some(url.clone());
        s.rate_limit = true;
    })
    .await;
    let fx = app.fixtures().await;
    app.wait_for_metric("latch_rate_limit_redis_up", 1.0, Duration::from_secs(10))
        .await;
    let load = Load::start(app.base.clone(), fx.clone(), 4);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Act
    redis.kill();
    let down = app
        .wait_for_metric("latch_rate_limit_redis_up", 0.0, Duration::from_secs(15))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = load.take();
    redis.restart();
    let up = app
        .wait_for_metric("latch_rate_limit_redis_up", 1.0, Duration::from_secs(30))
        .await;
    let after = load.stop().await;

    // Assert
    eprintln!(
        "F6: Redis loss seen in {down:?}, return in {up:?}; {} answers while down",
        during.total()
    );
    during.assert_no_failures("while Redis was down");
    assert!(during.count(200) > 0, "requests were served without Redis");
    after.assert_no_failures("after Redis came back");
}

/// F3: SIGKILL, then SIGTERM, of a Latch process while refresh tokens rotate and codes are
/// redeemed; afterwards no consumed code lacks its tokens, no family has two live tokens, no
/// family has a live token after its revocation. SIGTERM lets in-flight requests finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault injection: run by .ci/run with --ignored"]
async fn f3_sigkill_and_sigterm_under_load_keep_the_invariants() {
    // Arrange
    let pg = PgCluster::start();
    let url = pg.url("latch");
    let mut latch = Process::start(&url);
    let fx = process_fixtures(&latch).await;
    let families = Families::start(latch.base.clone(), fx.clone(), 6).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Act: SIGKILL mid-load, start again on the same database and port.
    latch.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    latch.restart();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // SIGTERM: a graceful stop.
    let stopped = latch.terminate();
    let report = families.stop().await;

    // Assert
    eprintln!("F3: {report:?}; SIGTERM stopped in {stopped:?}");
    assert!(
        report.families > 0 && report.rotations > 0,
        "rotations ran: {report:?}"
    );
    eprintln!(
        "F3: {} requests got no answer while the process was down",
        report.no_answer
    );
    assert_eq!(report.server_errors, 0, "no 500: {report:?}");
    assert!(
        stopped < Duration::from_secs(12),
        "SIGTERM stop took {stopped:?}"
    );
    let violations = pg.invariant_violations("latch");
    assert!(violations.is_empty(), "{violations:#?}");
}

/// F7: SQLite under 64 concurrent writers spread over two Latch processes on one file: every
/// answer is 200 or 503 with `Retry-After` (never 500, never a hang past the bound), and every
/// 200 left its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault injection: run by .ci/run with --ignored"]
async fn f7_sqlite_with_concurrent_writers_and_a_second_process() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}/latch.db?mode=rwc", dir.path().display());
    let first = Process::start(&db);
    let fx = process_fixtures(&first).await;
    let second = Process::start(&db);

    // Act: 64 key creations at once, alternating between the processes.
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let base = if i % 2 == 0 {
            &first.base
        } else {
            &second.base
        }
        .clone();
        let (http, key) = (http.clone(), fx.admin_key.clone());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let res = http
                .post(format!("{base}/v1/api_keys"))
                .bearer_auth(key)
                .form(&[("name", format!("writer {i}"))])
                .send()
                .await;
            Answer::of(res, started.elapsed()).await
        }));
    }
    let mut answers = Answers::default();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }

    // Assert
    eprintln!(
        "F7: {} x 200, {} x 503, slowest {:?}",
        answers.count(200),
        answers.count(503),
        answers.slowest()
    );
    answers.assert_no_failures("64 writers on one SQLite file");
    answers.assert_bounded(Duration::from_secs(2 * 2 + 2));
    let rows = sqlite_count(
        &db,
        "SELECT COUNT(*) FROM api_key WHERE name LIKE 'writer %'",
    );
    assert_eq!(rows, answers.count(200) as i64, "every 200 left its key");
}

/// F2: the pool exhausted by a table lock. Another connection holds `LOCK TABLE … IN ACCESS
/// EXCLUSIVE MODE` on the tables the load needs while 24 tasks (more than the pool's 16
/// connections) keep asking: requests holding a connection wait on the lock until the
/// statement timeout, the rest wait for a connection until the acquire timeout. Every answer
/// is a 200 or a 503 with `Retry-After` within the bound (README: twice the acquire
/// timeout), never a 500 or driver text; once the lock goes, writes work again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault injection: run by .ci/run with --ignored"]
async fn f2_pool_exhausted_by_a_table_lock() {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    // Arrange
    let pg = PgCluster::start();
    let acquire = Duration::from_millis(1000);
    let app = InProcess::start(&pg.url("latch"), |s| s.db_acquire_timeout = acquire).await;
    let fx = app.fixtures().await;
    let load = Load::start(app.base.clone(), fx.clone(), 24);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = load.take();

    // Act: lock what every kind of request of the load touches, for 4 s.
    let locker = Database::connect(pg.url("latch")).await.expect("connect");
    let txn = locker.begin().await.expect("begin");
    txn.execute_unprepared(
        "LOCK TABLE api_key, client, \"user\", audit_event IN ACCESS EXCLUSIVE MODE",
    )
    .await
    .expect("lock");
    let locked_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = load.take();
    txn.rollback().await.expect("unlock");
    let unlocked_at = Instant::now();
    let recovered = app
        .wait_until_writes_work(&fx, Duration::from_secs(10))
        .await;
    load.take();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = load.stop().await;

    // Assert
    eprintln!(
        "F2: {} answers while locked for {:?} ({} x 503, {} x 200, slowest {:?}); writes work {:?} after the unlock; {} answers after, {} x 503",
        during.total(),
        unlocked_at - locked_at,
        during.count(503),
        during.count(200),
        during.slowest(),
        recovered,
        after.total(),
        after.count(503),
    );
    before.assert_no_failures("before the lock");
    during.assert_no_failures("while the tables were locked");
    assert!(during.count(503) > 0, "the lock was felt: {during:?}");
    during.assert_bounded(2 * acquire + Duration::from_millis(1500));
    after.assert_no_failures("after the unlock");
    // After the unlock the load is served again (a stray 503 from a slow moment of a shared
    // machine is allowed, a lasting refusal is not).
    assert!(
        after.count(200) > 0 && after.count(503) * 20 <= after.total(),
        "served after the unlock: {} x 200, {} x 503 of {}",
        after.count(200),
        after.count(503),
        after.total()
    );
    assert!(
        recovered < Duration::from_secs(3),
        "writes work again {recovered:?} after the unlock"
    );
}
