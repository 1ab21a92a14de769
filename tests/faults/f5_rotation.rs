//! F5: signing-key rotation under load, two instances, two kinds of verifier.
//!
//! The rule (README, `LATCH_KEY_PREPUBLISH`; `signing::MIN_PREPUBLISH`): a new key is in
//! JWKS at least one key-reload interval plus one JWKS cache lifetime before any instance
//! signs with it — then every instance has loaded it before it signs, and every verifier's
//! cached JWKS was fetched after it was published. In production that is 30 s + 300 s; here
//! the same rule on a scaled clock: the test reloads each instance's key ring every
//! [`RELOAD`] (instead of `signing::RELOAD_EVERY`), the caching verifier keeps JWKS for
//! [`MAX_AGE`] (instead of the `max-age` JWKS sends), and the rotation pre-publishes
//! `RELOAD + MAX_AGE`. A second rotation without pre-publication (what `LATCH_KEY_PREPUBLISH=0`
//! allowed before issue #16, defect 4) shows the verifier that cached JWKS failing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use tokio::sync::Mutex;

use crate::infra::*;

const RELOAD: Duration = Duration::from_secs(1);
const MAX_AGE: Duration = Duration::from_secs(3);

async fn fetch_jwks(http: &reqwest::Client, base: &str) -> HashMap<String, DecodingKey> {
    let set: JwkSet = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .expect("JWKS answered")
        .json()
        .await
        .expect("JWKS json");
    set.keys
        .iter()
        .filter_map(|k| Some((k.common.key_id.clone()?, DecodingKey::from_jwk(k).ok()?)))
        .collect()
}

fn kid_of(token: &str) -> String {
    decode_header(token)
        .ok()
        .and_then(|h| h.kid)
        .unwrap_or_default()
}

/// Signature (and `exp`) check with the key the token's `kid` names.
fn check(keys: &HashMap<String, DecodingKey>, token: &str) -> Result<(), String> {
    let header = decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.clone().unwrap_or_default();
    let key = keys.get(&kid).ok_or_else(|| format!("unknown kid {kid}"))?;
    let mut v = Validation::new(header.alg);
    v.validate_aud = false;
    decode::<serde_json::Value>(token, key, &v)
        .map(|_| ())
        .map_err(|e| format!("kid {kid}: {e}"))
}

/// What the verifiers saw.
#[derive(Default)]
struct Seen {
    /// tokens by (instance, kid)
    issued: HashMap<(usize, String), usize>,
    fetching_failures: Vec<String>,
    cached_failures: Vec<String>,
    answers: Answers,
}

struct Verifiers {
    /// Fetches JWKS (from the *other* instance: the worst a load balancer can do) when it
    /// meets an unknown `kid`.
    fetching: HashMap<String, DecodingKey>,
    /// Fetched once, then again only when older than `MAX_AGE`; never on an unknown `kid`.
    cached: HashMap<String, DecodingKey>,
    cached_at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault injection: run by .ci/run with --ignored"]
async fn f5_signing_key_rotation_under_load_with_fetching_and_caching_verifiers() {
    // Arrange: two instances on one private PostgreSQL, one master key.
    let pg = PgCluster::start();
    let url = pg.url("latch");
    let shared = |s: &mut latch::config::Settings| {
        s.secret_key = Some(latch::config::SecretKey::parse(SECRET_KEY).expect("key"));
    };
    let a = InProcess::start(&url, shared).await;
    let b = InProcess::start(&url, shared).await;
    let fx = a.fixtures().await;
    let bases = [a.base.clone(), b.base.clone()];
    for (i, app) in [&a, &b].into_iter().enumerate() {
        let signer = app.state().signer.clone();
        tokio::spawn(async move {
            // B half a period after A: they never see a rotation at the same moment.
            tokio::time::sleep(RELOAD / 2 * i as u32).await;
            let mut tick = tokio::time::interval(RELOAD);
            loop {
                tick.tick().await;
                let _ = signer.reload().await;
            }
        });
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let verifiers = Arc::new(Mutex::new(Verifiers {
        fetching: HashMap::new(),
        cached: fetch_jwks(&http, &bases[0]).await,
        cached_at: Instant::now(),
    }));
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let (http, bases, fx, verifiers, seen, stop) = (
                http.clone(),
                bases.clone(),
                fx.clone(),
                verifiers.clone(),
                seen.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut k = t;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    k += 1;
                    let i = k % 2;
                    let started = Instant::now();
                    let res = http
                        .post(format!("{}/oauth/token", bases[i]))
                        .basic_auth(&fx.client_id, Some(&fx.client_secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await;
                    let token = match res {
                        Ok(r) if r.status() == 200 => {
                            let v: serde_json::Value = r.json().await.unwrap_or_default();
                            seen.lock().expect("lock").answers.push(Answer {
                                status: 200,
                                retry_after: false,
                                leaks: false,
                                elapsed: started.elapsed(),
                                what: "token",
                            });
                            v["access_token"].as_str().unwrap_or_default().to_owned()
                        }
                        other => {
                            let a = Answer::named(other, started.elapsed(), "token").await;
                            seen.lock().expect("lock").answers.push(a);
                            continue;
                        }
                    };
                    let mut v = verifiers.lock().await;
                    if check(&v.fetching, &token).is_err() {
                        v.fetching = fetch_jwks(&http, &bases[1 - i]).await;
                    }
                    let fetching = check(&v.fetching, &token);
                    if v.cached_at.elapsed() > MAX_AGE {
                        v.cached = fetch_jwks(&http, &bases[k % 2]).await;
                        v.cached_at = Instant::now();
                    }
                    let cached = check(&v.cached, &token);
                    drop(v);
                    let mut s = seen.lock().expect("lock");
                    *s.issued.entry((i, kid_of(&token))).or_default() += 1;
                    if let Err(e) = fetching {
                        s.fetching_failures.push(e);
                    }
                    if let Err(e) = cached {
                        s.cached_failures.push(e);
                    }
                }
            })
        })
        .collect();
    let take =
        |seen: &Arc<std::sync::Mutex<Seen>>| std::mem::take(&mut *seen.lock().expect("lock"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let state = a.state();
    let alg = state.settings.signing_alg;
    let keep =
        Duration::from_secs(state.settings.access_token_ttl.num_seconds().unsigned_abs() + 30);

    // Act 1: rotate by the rule, as `latch signing-key rotate` does (signing::rotate).
    let rule = RELOAD + MAX_AGE;
    let new = latch::signing::rotate(&state.db, &state.sealer, alg, rule, keep)
        .await
        .expect("rotation");
    tokio::time::sleep(rule + Duration::from_millis(2500)).await;
    let by_rule = take(&seen);

    // Act 2: rotate without pre-publication (what defect 4 allowed), the caching verifier's
    // JWKS fresh from just before.
    {
        let mut v = verifiers.lock().await;
        v.cached = fetch_jwks(&http, &bases[0]).await;
        v.cached_at = Instant::now();
    }
    let unruly = latch::signing::rotate(&state.db, &state.sealer, alg, Duration::ZERO, keep)
        .await
        .expect("rotation");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let without = take(&seen);

    // Assert
    let tokens = |s: &Seen, kid: &str| -> [usize; 2] {
        [0, 1].map(|i| s.issued.get(&(i, kid.to_owned())).copied().unwrap_or(0))
    };
    let total = |s: &Seen| s.issued.values().sum::<usize>();
    eprintln!(
        "F5: by the rule (pre-published {rule:?}): {} tokens, {} signed by the new key (A, B: {:?}), failures: fetching {}, cached {}; slowest {:?}",
        total(&by_rule),
        tokens(&by_rule, &new.kid).iter().sum::<usize>(),
        tokens(&by_rule, &new.kid),
        by_rule.fetching_failures.len(),
        by_rule.cached_failures.len(),
        by_rule.answers.slowest(),
    );
    eprintln!(
        "F5: without pre-publication: {} tokens, {} by the new key, failures: fetching {}, cached {} (e.g. {:?})",
        total(&without),
        tokens(&without, &unruly.kid).iter().sum::<usize>(),
        without.fetching_failures.len(),
        without.cached_failures.len(),
        without.cached_failures.first(),
    );
    by_rule.answers.assert_no_failures("rotation by the rule");
    without
        .answers
        .assert_no_failures("rotation without pre-publication");
    assert!(
        tokens(&by_rule, &new.kid).iter().all(|&n| n > 0),
        "both instances signed with the new key: {:?}",
        tokens(&by_rule, &new.kid)
    );
    assert!(
        by_rule.fetching_failures.is_empty() && by_rule.cached_failures.is_empty(),
        "every token issued during the rotation verifies: fetching {:?}, cached {:?}",
        by_rule.fetching_failures,
        by_rule.cached_failures
    );
    assert!(
        !without.cached_failures.is_empty(),
        "the control: a key that signs before the cached JWKS expires fails there"
    );
}
