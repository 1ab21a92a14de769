//! F4: two `latch serve` processes on one private PostgreSQL, racing what must be used once.

use std::time::{Duration, Instant};

use crate::infra::*;

const ROUNDS: usize = 30;

/// Status and body of a token request, recorded as an [`Answer`] too.
async fn send(
    answers: &mut Answers,
    what: &'static str,
    res: reqwest::Result<reqwest::Response>,
    started: Instant,
) -> (u16, serde_json::Value) {
    let Ok(r) = res else {
        answers.push(Answer {
            status: 0,
            retry_after: false,
            leaks: false,
            elapsed: started.elapsed(),
            what,
        });
        return (0, serde_json::Value::Null);
    };
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    let text = r.text().await.unwrap_or_default();
    let lower = text.to_ascii_lowercase();
    answers.push(Answer {
        status,
        retry_after,
        leaks: status >= 400
            && ["sqlx", "sqlstate", "postgres"]
                .iter()
                .any(|w| lower.contains(w)),
        elapsed: started.elapsed(),
        what,
    });
    (status, serde_json::from_str(&text).unwrap_or_default())
}

fn rt_of(v: &serde_json::Value) -> String {
    v["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

async fn introspect_active(http: &reqwest::Client, base: &str, fx: &Fixtures, token: &str) -> bool {
    let res = http
        .post(format!("{base}/oauth/introspect"))
        .basic_auth(&fx.web_id, Some(&fx.web_secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection answered");
    assert_eq!(res.status(), 200, "introspection");
    res.json::<serde_json::Value>().await.expect("json")["active"] == true
}

/// Per round, each on a fresh code: (a) the code redeemed on A and B at once; (b) one refresh
/// token rotated on A and B at once; (c) a rotation on A racing, on B, a revocation of the
/// same family (`/oauth/revoke` of the token being rotated in even rounds, a replay of its
/// rotated predecessor in odd ones). Exactly one winner per race (RFC 6749 §4.1.2, RFC 9700
/// §4.14.2); the loser of (a) and (b) is a replay, so the winner's tokens end revoked
/// (SECURITY.md T1, R1); after (c) no refresh token of the family may refresh and no access
/// token of it may be active on either instance once the deny-list sync has run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault injection: run by .ci/run with --ignored"]
async fn f4_two_instances_race_codes_refresh_tokens_and_revocation() {
    // Arrange
    let pg = PgCluster::start();
    let url = pg.url("latch");
    let a = Process::start(&url);
    let fx = process_fixtures(&a).await;
    let b = Process::start(&url);
    let (ba, bb) = (a.base.clone(), b.base.clone());
    let browser = browser();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut answers = Answers::default();
    let mut failures = Vec::new();
    let mut must_be_dead = Vec::new();
    let (mut code_wins_a, mut refresh_wins_a, mut rotation_first) = (0, 0, 0);
    let started = Instant::now();

    for round in 0..ROUNDS {
        // (a) one code, two instances.
        let (code, verifier) = authorize(&browser, &ba, &fx).await.expect("a code");
        let t = Instant::now();
        let (ra, rb) = tokio::join!(
            redeem_code(&http, &ba, &fx, &code, &verifier),
            redeem_code(&http, &bb, &fx, &code, &verifier)
        );
        let (sa, va) = send(&mut answers, "code on A", ra, t).await;
        let (sb, vb) = send(&mut answers, "code on B", rb, t).await;
        match (sa, sb) {
            (200, 400) | (400, 200) => {
                let winner = if sa == 200 { &va } else { &vb };
                code_wins_a += usize::from(sa == 200);
                must_be_dead.push(winner["access_token"].as_str().expect("at").to_owned());
                let (s, _) = send(
                    &mut answers,
                    "winner's refresh",
                    refresh(&http, &ba, &fx, &rt_of(winner)).await,
                    Instant::now(),
                )
                .await;
                if s == 200 {
                    failures.push(format!(
                        "round {round}: the code winner's refresh token still works"
                    ));
                }
            }
            other => failures.push(format!("round {round}: code race answered {other:?}")),
        }

        // (b) one refresh token, two instances.
        let (code, verifier) = authorize(&browser, &ba, &fx).await.expect("a code");
        let (s, v) = send(
            &mut answers,
            "code",
            redeem_code(&http, &ba, &fx, &code, &verifier).await,
            Instant::now(),
        )
        .await;
        assert_eq!(s, 200, "round {round}: redemption");
        let rt0 = rt_of(&v);
        let t = Instant::now();
        let (ra, rb) = tokio::join!(
            refresh(&http, &ba, &fx, &rt0),
            refresh(&http, &bb, &fx, &rt0)
        );
        let (sa, va) = send(&mut answers, "refresh on A", ra, t).await;
        let (sb, vb) = send(&mut answers, "refresh on B", rb, t).await;
        match (sa, sb) {
            (200, 400) | (400, 200) => {
                let winner = if sa == 200 { &va } else { &vb };
                refresh_wins_a += usize::from(sa == 200);
                must_be_dead.push(winner["access_token"].as_str().expect("at").to_owned());
                let (s, _) = send(
                    &mut answers,
                    "successor's refresh",
                    refresh(&http, &bb, &fx, &rt_of(winner)).await,
                    Instant::now(),
                )
                .await;
                if s == 200 {
                    failures.push(format!(
                        "round {round}: the refresh winner's successor still works"
                    ));
                }
            }
            other => failures.push(format!("round {round}: refresh race answered {other:?}")),
        }

        // (c) revocation racing rotation.
        let (code, verifier) = authorize(&browser, &ba, &fx).await.expect("a code");
        let (_, v) = send(
            &mut answers,
            "code",
            redeem_code(&http, &ba, &fx, &code, &verifier).await,
            Instant::now(),
        )
        .await;
        let rt0 = rt_of(&v);
        let (s, v) = send(
            &mut answers,
            "refresh",
            refresh(&http, &ba, &fx, &rt0).await,
            Instant::now(),
        )
        .await;
        assert_eq!(s, 200, "round {round}: rotation");
        must_be_dead.push(v["access_token"].as_str().expect("at").to_owned());
        let rt1 = rt_of(&v);
        let revoke = async {
            if round % 2 == 0 {
                http.post(format!("{bb}/oauth/revoke"))
                    .basic_auth(&fx.web_id, Some(&fx.web_secret))
                    .form(&[
                        ("token", rt1.as_str()),
                        ("token_type_hint", "refresh_token"),
                    ])
                    .send()
                    .await
            } else {
                refresh(&http, &bb, &fx, &rt0).await
            }
        };
        let t = Instant::now();
        let (rotation, revocation) = tokio::join!(refresh(&http, &ba, &fx, &rt1), revoke);
        let (sr, vr) = send(&mut answers, "rotation on A", rotation, t).await;
        let (sv, _) = send(&mut answers, "revocation on B", revocation, t).await;
        let expected_revocation = if round % 2 == 0 { 200 } else { 400 };
        if sv != expected_revocation {
            failures.push(format!("round {round}: revocation answered {sv}"));
        }
        if sr == 200 {
            rotation_first += 1;
            must_be_dead.push(vr["access_token"].as_str().expect("at").to_owned());
            let (s, _) = send(
                &mut answers,
                "survivor's refresh",
                refresh(&http, &ba, &fx, &rt_of(&vr)).await,
                Instant::now(),
            )
            .await;
            if s == 200 {
                failures.push(format!(
                    "round {round}: a successor of a revoked family refreshes"
                ));
            }
        }
    }
    let raced_for = started.elapsed();

    // Assert: after one deny-list sync (1 s; README), nothing the races ended is active on
    // either instance, and the database holds no live token in a revoked family.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for at in &must_be_dead {
        for base in [&ba, &bb] {
            if introspect_active(&http, base, &fx, at).await {
                failures.push(format!(
                    "an access token of a revoked grant is active on {base}"
                ));
            }
        }
    }
    eprintln!(
        "F4: {ROUNDS} rounds in {raced_for:?}: code won on A {code_wins_a}, refresh won on A {refresh_wins_a}, rotation before revocation {rotation_first}; {} access tokens checked dead on both; slowest answer {:?}",
        must_be_dead.len(),
        answers.slowest()
    );
    answers.assert_no_failures("two instances racing");
    assert!(failures.is_empty(), "{failures:#?}");
    let violations = pg.invariant_violations("latch");
    assert!(violations.is_empty(), "{violations:#?}");
}
