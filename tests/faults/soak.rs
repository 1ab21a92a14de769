//! Soak: issue and refresh tokens with short lifetimes for many "days" of the app's clock
//! and check that housekeeping keeps the token tables level (issue #16, "Soak and
//! housekeeping"; Hydra's users report token tables of 18 GB its janitor never cleans).
//!
//! Time is the app's manual clock: each epoch issues its share of tokens, then the clock
//! moves [`EPOCH`] forward and one sweeper pass runs (`sweeper::sweep`, what the sweeper
//! task does every `sweeper::EVERY`). Refresh tokens live [`REFRESH_TTL`]; the sweeper deletes
//! rows a day past expiry, so an epoch's rows go two epochs later and the tables must level
//! off at about two epochs' rows. `SOAK_TOKENS` (default 2,400: CI) sets the tokens issued
//! in all, `SOAK_EPOCHS` (default 6) how many epochs they are spread over, `SOAK_TASKS`
//! (default 6) how many clients issue them at once. A long run is best made in a release
//! test build (`cargo test --release`): in a debug build Latch's own CPU time, not the
//! database, bounds the rate (RELIABILITY.md, "Soak and housekeeping").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::infra::*;

const EPOCH: chrono::TimeDelta = chrono::TimeDelta::hours(12);
const REFRESH_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// Rotations per family; every fifth family ends with a replay (RFC 9700 §4.14.2), which
/// revokes it and puts its access tokens on the deny list.
const ROTATIONS: usize = 9;
/// Clients issuing at once, unless `SOAK_TASKS` says otherwise.
const TASKS: usize = 6;
const TABLES: [&str; 4] = [
    "refresh_token",
    "authorization_code",
    "revoked_token",
    "audit_event",
];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One epoch: one client per browser issues its part of `quota` tokens (codes and
/// rotations); the latency of every token request.
async fn issue(
    base: &str,
    fx: &Fixtures,
    browsers: &[reqwest::Client],
    quota: usize,
) -> (Vec<Duration>, Answers) {
    let issued = Arc::new(AtomicUsize::new(0));
    let clients = browsers.len();
    let tasks: Vec<_> = browsers
        .iter()
        .enumerate()
        .map(|(t, browser)| {
            let (base, fx, issued, browser) =
                (base.to_owned(), fx.clone(), issued.clone(), browser.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                let mut answers = Answers::default();
                let mut family = t;
                while issued.load(Ordering::Relaxed) < quota {
                    family += clients;
                    let Some((code, verifier)) = authorize(&browser, &base, &fx).await else {
                        answers.push(Answer {
                            status: 0,
                            retry_after: false,
                            leaks: false,
                            elapsed: Duration::ZERO,
                            what: "authorize",
                        });
                        break;
                    };
                    let started = Instant::now();
                    let res = redeem_code(&browser, &base, &fx, &code, &verifier).await;
                    let (mut rt, mut previous) = (String::new(), String::new());
                    if let Ok(r) = res {
                        let status = r.status().as_u16();
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        times.push(started.elapsed());
                        answers.push(Answer {
                            status,
                            retry_after: false,
                            leaks: false,
                            elapsed: started.elapsed(),
                            what: "code",
                        });
                        rt = v["refresh_token"].as_str().unwrap_or_default().to_owned();
                        issued.fetch_add(1, Ordering::Relaxed);
                    }
                    for _ in 0..ROTATIONS {
                        if rt.is_empty() || issued.load(Ordering::Relaxed) >= quota {
                            break;
                        }
                        let started = Instant::now();
                        let res = refresh(&browser, &base, &fx, &rt).await;
                        let a = match res {
                            Ok(r) if r.status() == 200 => {
                                let v: serde_json::Value = r.json().await.unwrap_or_default();
                                previous = std::mem::replace(
                                    &mut rt,
                                    v["refresh_token"].as_str().unwrap_or_default().to_owned(),
                                );
                                issued.fetch_add(1, Ordering::Relaxed);
                                Answer {
                                    status: 200,
                                    retry_after: false,
                                    leaks: false,
                                    elapsed: started.elapsed(),
                                    what: "refresh",
                                }
                            }
                            other => {
                                rt.clear();
                                Answer::named(other, started.elapsed(), "refresh").await
                            }
                        };
                        times.push(a.elapsed);
                        answers.push(a);
                    }
                    if family.is_multiple_of(5) && !previous.is_empty() {
                        let res = refresh(&browser, &base, &fx, &previous).await;
                        let status = res.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
                        assert_eq!(status, 400, "a replay is refused");
                    }
                }
                (times, answers)
            })
        })
        .collect();
    let mut times = Vec::new();
    let mut answers = Answers::default();
    for t in tasks {
        let (ts, a) = t.await.expect("task");
        times.extend(ts);
        answers.0.extend(a.0);
    }
    times.sort();
    (times, answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault injection: run by .ci/run with --ignored"]
async fn soak_token_tables_level_off_and_latency_holds() {
    // Arrange
    let tokens = env_or("SOAK_TOKENS", 2_400);
    let epochs = env_or("SOAK_EPOCHS", 6).max(4);
    let clients = env_or("SOAK_TASKS", TASKS).max(1);
    let quota = tokens.div_ceil(epochs);
    let pg = PgCluster::start();
    let clock = latch::clock::Clock::manual();
    let app = InProcess::start_with_clock(&pg.url("latch"), clock.clone(), |s| {
        s.access_token_ttl = chrono::TimeDelta::seconds(60);
        s.refresh_token_ttl = REFRESH_TTL;
        s.refresh_token_idle_ttl = REFRESH_TTL;
        // One sign-in per client for the whole soak (a password hash costs more than the
        // token requests measured): sessions outlive the epochs (30 days, the most allowed).
        s.session_ttl = chrono::TimeDelta::days(30);
    })
    .await;
    let fx = app.fixtures().await;
    let state = app.state();
    let browsers: Vec<_> = (0..clients).map(|_| browser()).collect();
    let started = Instant::now();
    let mut rows_after: Vec<[i64; 4]> = Vec::new();
    let mut rows_before: Vec<[i64; 4]> = Vec::new();
    let mut p99s = Vec::new();
    let mut all_times = Vec::new();
    let mut report = Vec::new();

    // Act
    for epoch in 0..epochs {
        let t = Instant::now();
        let (times, answers) = issue(&app.base, &fx, &browsers, quota).await;
        let issuing = t.elapsed();
        answers.assert_no_failures(&format!("epoch {epoch}"));
        let before = TABLES.map(|t| pg.count("latch", t));
        clock.advance(EPOCH);
        let t = Instant::now();
        latch::sweeper::sweep(&state.db, clock.now(), state.settings.audit_retention)
            .await
            .expect("sweep");
        let sweep = t.elapsed();
        let after = TABLES.map(|t| pg.count("latch", t));
        let size = pg.psql_one(
            "latch",
            "SELECT pg_total_relation_size('refresh_token') + pg_total_relation_size('authorization_code') + pg_total_relation_size('revoked_token')",
        );
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        report.push(format!(
            "epoch {epoch}: {} tokens in {issuing:.1?} ({:.0}/s), p50 {p50:.1?}, p99 {p99:.1?}; rows before sweep {before:?}, after {after:?} ({TABLES:?}); sweep {sweep:.1?}; token tables {} kB",
            times.len(),
            times.len() as f64 / issuing.as_secs_f64(),
            size.parse::<i64>().unwrap_or(0) / 1024,
        ));
        eprintln!("soak {}", report.last().expect("line"));
        rows_after.push(after);
        rows_before.push(before);
        p99s.push(p99);
        all_times.extend(times);
    }

    // Every other table too: none may grow with the tokens issued unnoticed (the audit
    // table keeps its 90 days by design).
    let others: Vec<(String, i64)> = pg
        .psql_lines(
            "latch",
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY relname",
        )
        .into_iter()
        .map(|t| {
            let n = pg.count("latch", &format!("\"{t}\""));
            (t, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    eprintln!("soak: rows per table at the end {others:?}");

    // Assert: an epoch's rows are gone two epochs later, so after every sweep the token
    // tables hold at most what the last two epochs added — a level, since every epoch adds
    // the same number of tokens; and the last epochs are not slower than the first ones.
    let elapsed = started.elapsed();
    all_times.sort();
    eprintln!(
        "soak: {tokens} tokens over {epochs} epochs by {clients} clients in {elapsed:.1?} ({:.0}/s); all token requests p50 {:.1?}, p99 {:.1?}, max {:.1?}; epochs' p99 {:.1?}..{:.1?}; most rows after a sweep (from epoch 2) {:?}",
        all_times.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all_times, 0.5),
        percentile(&all_times, 0.99),
        all_times.last().copied().unwrap_or_default(),
        p99s.iter().min().copied().unwrap_or_default(),
        p99s.iter().max().copied().unwrap_or_default(),
        (0..4)
            .map(|i| rows_after[2..].iter().map(|r| r[i]).max().unwrap_or(0))
            .collect::<Vec<_>>(),
    );
    // Rows an epoch added: its count before the sweep less what the previous sweep left.
    for epoch in 2..epochs {
        for (i, table) in TABLES.iter().enumerate().take(3) {
            let added =
                |e: usize| rows_before[e][i] - if e == 0 { 0 } else { rows_after[e - 1][i] };
            let allowed = added(epoch) + added(epoch - 1);
            assert!(
                rows_after[epoch][i] <= allowed,
                "epoch {epoch}: {table} holds {} rows after the sweep, more than the last two epochs added ({allowed}): older rows were not swept",
                rows_after[epoch][i],
            );
        }
    }
    for (table, rows) in &others {
        assert!(
            TABLES.contains(&table.as_str()) || *rows <= 100,
            "{table} holds {rows} rows after {tokens} tokens: it grows with the tokens issued and no sweep keeps it level"
        );
    }
    let early = p99s[..2].iter().max().copied().unwrap_or_default();
    let late = p99s[p99s.len() - 2..]
        .iter()
        .max()
        .copied()
        .unwrap_or_default();
    assert!(
        // Generous: the machines this runs on are shared, and one busy neighbour moves a p99.
        late <= early * 3 + Duration::from_millis(250),
        "p99 drifted from {early:?} to {late:?}"
    );
}
