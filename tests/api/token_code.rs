//! `grant_type=authorization_code` at `POST /oauth/token`: SECURITY.md 1b rows T1–T6 and
//! single use under concurrency (§5 items 2–3), black-box over HTTP.

use futures_util::future::join_all;

use crate::helpers::*;

const EMAIL: &str = "ann@example.com";

/// An app with a user and a confidential client.
async fn setup() -> (TestApp, TestClient) {
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let client = app.confidential_client().await;
    (app, client)
}

/// A code for `c` bound to a fresh PKCE challenge; returns `(code, verifier)`.
async fn code_with_pkce(app: &TestApp, c: &TestClient) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let code = app
        .obtain_code(
            c,
            EMAIL,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    (code, verifier)
}

/// Redeem with `client_secret_basic`, the registered redirect URI and `verifier` if any.
async fn redeem(
    app: &TestApp,
    c: &TestClient,
    code: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", c.redirect_uri.as_str()),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    app.post_token_basic(&c.id, c.secret(), &form).await
}

/// The access token, its `jti` and the refresh token of a successful response.
async fn tokens_of(res: reqwest::Response) -> (String, String, String) {
    assert_eq!(res.status(), 200);
    assert_token_headers(&res);
    let body = json(res).await;
    let at = body["access_token"].as_str().expect("access_token");
    let jti = jwt_claims(at)["jti"].as_str().expect("jti").to_owned();
    let rt = body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    (at.to_owned(), jti, rt)
}

async fn is_denied(app: &TestApp, jti: &str) -> bool {
    latch::store::tokens::is_denied_in_db(&app.db, jti)
        .await
        .expect("deny list readable")
}

/// Whether introspection (RFC 7662) by the client itself calls `token` active.
async fn is_active(app: &TestApp, c: &TestClient, token: &str) -> bool {
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&c.id, Some(c.secret()))
        .form(&[("token", token)])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    json(res).await["active"] == true
}

/// T1 (after the replay): the first use's access token is revoked (deny list,
/// introspection, resource server) and its refresh token is refused.
async fn assert_first_tokens_revoked(app: &TestApp, c: &TestClient, at: &str, jti: &str, rt: &str) {
    assert!(
        is_denied(app, jti).await,
        "the access token the code issued must be revoked"
    );
    assert!(!is_active(app, c, at).await, "introspection: still active");
    assert_eq!(me_status(app, at).await, 401);
    expect_oauth_error(refresh(app, c, rt).await, 400, "invalid_grant").await;
}

/// T1b: nothing the code issued was revoked.
async fn assert_first_tokens_live(app: &TestApp, c: &TestClient, at: &str, jti: &str, rt: &str) {
    assert!(!is_denied(app, jti).await, "access token was revoked");
    assert!(is_active(app, c, at).await);
    assert_eq!(me_status(app, at).await, 200);
    assert_eq!(refresh(app, c, rt).await.status(), 200);
}

#[tokio::test]
async fn token_invalid_grant_and_first_tokens_revoked_when_code_is_redeemed_twice() {
    // Arrange
    let (app, c) = setup().await;
    let (code, verifier) = code_with_pkce(&app, &c).await;
    let (at, jti, rt) = tokens_of(redeem(&app, &c, &code, Some(&verifier)).await).await;
    assert!(is_active(&app, &c, &at).await && !is_denied(&app, &jti).await);

    // Act
    let replay = redeem(&app, &c, &code, Some(&verifier)).await;

    // Assert
    expect_oauth_error(replay, 400, "invalid_grant").await;
    assert_first_tokens_revoked(&app, &c, &at, &jti, &rt).await;
}

#[tokio::test]
async fn token_invalid_grant_and_first_tokens_revoked_when_code_is_redeemed_again_after_a_delay() {
    // Arrange
    let (app, c) = setup().await;
    let (code, verifier) = code_with_pkce(&app, &c).await;
    let (at, jti, rt) = tokens_of(redeem(&app, &c, &code, Some(&verifier)).await).await;
    app.advance(2);

    // Act
    let replay = redeem(&app, &c, &code, Some(&verifier)).await;

    // Assert
    expect_oauth_error(replay, 400, "invalid_grant").await;
    assert_first_tokens_revoked(&app, &c, &at, &jti, &rt).await;
}

#[tokio::test]
async fn token_400_without_revoking_when_used_code_is_replayed_with_wrong_verifier() {
    // Arrange
    let (app, c) = setup().await;
    let (code, verifier) = code_with_pkce(&app, &c).await;
    let (at, jti, rt) = tokens_of(redeem(&app, &c, &code, Some(&verifier)).await).await;
    let (wrong, _) = pkce_pair();

    // Act
    let replay = redeem(&app, &c, &code, Some(&wrong)).await;

    // Assert: refused, but no DoS lever (OAuth 2.1 §7.5.2): earlier tokens still work.
    expect_oauth_error(replay, 400, "invalid_grant").await;
    assert_first_tokens_live(&app, &c, &at, &jti, &rt).await;
}

#[tokio::test]
async fn token_401_without_revoking_when_used_code_is_replayed_with_bad_client_auth() {
    // Arrange
    let (app, c) = setup().await;
    let (code, verifier) = code_with_pkce(&app, &c).await;
    let (at, jti, rt) = tokens_of(redeem(&app, &c, &code, Some(&verifier)).await).await;
    let wrong_secret = latch::crypto::mint_secret("cs_");

    // Act
    let replay = app
        .post_token_basic(
            &c.id,
            &wrong_secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &c.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;

    // Assert
    expect_oauth_error(replay, 401, "invalid_client").await;
    assert_first_tokens_live(&app, &c, &at, &jti, &rt).await;
}

#[tokio::test]
async fn token_invalid_grant_when_code_is_redeemed_by_another_client() {
    // Arrange
    let (app, a) = setup().await;
    let b = app.confidential_client().await;
    let (code, verifier) = code_with_pkce(&app, &a).await;

    // Act: B authenticates correctly, with A's redirect URI and verifier.
    let res = app
        .post_token_basic(
            &b.id,
            b.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &a.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_grant_when_redirect_uri_differs_from_authorization_request() {
    // Arrange
    let (app, c) = setup().await;
    let (code, verifier) = code_with_pkce(&app, &c).await;

    for other in [
        "https://app.example.com/callback/",
        "https://app.example.com/callback?x=1",
        "https://APP.example.com/callback",
        "https://evil.example.com/callback",
    ] {
        // Act
        let res = app
            .post_token_basic(
                &c.id,
                c.secret(),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", other),
                    ("code_verifier", &verifier),
                ],
            )
            .await;

        // Assert
        expect_oauth_error(res, 400, "invalid_grant").await;
    }
}

#[tokio::test]
async fn token_invalid_grant_when_redirect_uri_is_omitted_although_sent_and_no_pkce() {
    // Arrange: a confidential client without PKCE that sent redirect_uri at /authorize.
    let (app, c) = setup().await;
    let code = app.obtain_code(&c, EMAIL, &[]).await;

    // Act
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await;

    // Assert (RFC 6749 §4.1.3)
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_grant_when_code_verifier_is_wrong() {
    // Arrange
    let (app, c) = setup().await;
    let (code, _) = code_with_pkce(&app, &c).await;
    let (wrong, _) = pkce_pair();

    // Act
    let res = redeem(&app, &c, &code, Some(&wrong)).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_grant_when_code_verifier_is_missing_although_challenge_was_sent() {
    // Arrange
    let (app, c) = setup().await;
    let (code, _) = code_with_pkce(&app, &c).await;

    // Act
    let res = redeem(&app, &c, &code, None).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_grant_when_code_verifier_is_malformed_even_if_it_matches_the_challenge() {
    // Arrange: each challenge is S256 of a verifier RFC 7636 §4.1 forbids (42 chars,
    // 129 chars, characters outside the unreserved set), so only the shape rule refuses it.
    let (app, c) = setup().await;
    let malformed = [
        "a".repeat(42),
        "a".repeat(129),
        format!("{}+/=", "a".repeat(40)),
        format!("{} {}", "a".repeat(30), "b".repeat(30)),
    ];
    for verifier in &malformed {
        let challenge = s256(verifier);
        let code = app
            .obtain_code(
                &c,
                EMAIL,
                &[
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;

        // Act
        let res = redeem(&app, &c, &code, Some(verifier)).await;

        // Assert
        expect_oauth_error(res, 400, "invalid_grant").await;
    }
}

#[tokio::test]
async fn token_rejected_when_code_verifier_is_sent_for_code_issued_without_challenge() {
    // Arrange: PKCE downgrade (RFC 9700 §2.1.1, §4.8.2).
    let (app, c) = setup().await;
    let code = app.obtain_code(&c, EMAIL, &[]).await;
    let (verifier, _) = pkce_pair();

    // Act
    let res = redeem(&app, &c, &code, Some(&verifier)).await;

    // Assert: 400 with invalid_grant (fosite) or invalid_request (OAuth 2.1 wording).
    assert_token_headers(&res);
    assert_eq!(res.status(), 400);
    let body = json(res).await;
    assert!(
        body["error"] == "invalid_grant" || body["error"] == "invalid_request",
        "{body}"
    );
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn token_invalid_grant_when_code_has_expired() {
    // Arrange
    let app = spawn_app_with(|s| s.code_ttl = chrono::TimeDelta::seconds(1)).await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let (code, verifier) = code_with_pkce(&app, &c).await;
    app.advance(2);

    // Act
    let res = redeem(&app, &c, &code, Some(&verifier)).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_grant_never_500_when_code_is_unknown_or_garbage() {
    // Arrange
    let (app, c) = setup().await;
    let unknown_but_well_formed = latch::crypto::mint_secret("ac_");
    let huge = "a".repeat(10 * 1024);
    let garbage = [
        "ac_xxx",
        unknown_but_well_formed.as_str(),
        huge.as_str(),
        "\0",
        "ac_\0\u{1b}",
        "' OR 1=1 --",
        "ac_ääää",
    ];

    for code in garbage {
        // Act
        let res = redeem(&app, &c, code, None).await;

        // Assert
        expect_oauth_error(res, 400, "invalid_grant").await;
    }
}

#[tokio::test]
async fn token_invalid_request_when_code_is_missing() {
    // Arrange
    let (app, c) = setup().await;

    // Act
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("redirect_uri", &c.redirect_uri),
            ],
        )
        .await;

    // Assert
    expect_oauth_error(res, 400, "invalid_request").await;
}

/// Fire `n` redemptions of one code at once, alternating over `apps`.
async fn race(apps: &[&TestApp], c: &TestClient, code: &str, verifier: &str, n: usize) -> Vec<u16> {
    let requests = (0..n).map(|i| {
        let app = apps[i % apps.len()];
        app.http
            .post(app.url("/oauth/token"))
            .basic_auth(&c.id, Some(c.secret()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &c.redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
    });
    let mut statuses = Vec::new();
    for res in join_all(requests).await {
        let res = res.expect("request");
        let status = res.status().as_u16();
        if status != 200 {
            expect_oauth_error(res, 400, "invalid_grant").await;
        } else {
            assert_token_headers(&res);
        }
        statuses.push(status);
    }
    statuses
}

#[tokio::test]
async fn token_exactly_one_success_when_code_is_redeemed_20_times_concurrently() {
    // Arrange
    let (app, c) = setup().await;
    let (code, verifier) = code_with_pkce(&app, &c).await;

    // Act
    let statuses = race(&[&app], &c, &code, &verifier, 20).await;

    // Assert: one 200, nineteen 400 invalid_grant (checked in `race`).
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 19);
}

#[tokio::test]
async fn token_exactly_one_success_when_two_instances_race_on_one_code() {
    // Arrange: two instances on one database, as behind a load balancer.
    let (app, c) = setup().await;
    let sibling = spawn_sibling(&app).await;
    let (code, verifier) = code_with_pkce(&app, &c).await;

    // Act
    let statuses = race(&[&app, &sibling], &c, &code, &verifier, 20).await;

    // Assert
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 19);
}

#[tokio::test]
async fn token_winner_tokens_revoked_when_code_is_raced_concurrently() {
    // Arrange
    let (app, c) = setup().await;
    let sibling = spawn_sibling(&app).await;
    let (code, verifier) = code_with_pkce(&app, &c).await;
    let requests = (0..10).map(|i| {
        let app = if i % 2 == 0 { &app } else { &sibling };
        app.http
            .post(app.url("/oauth/token"))
            .basic_auth(&c.id, Some(c.secret()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", c.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
    });

    // Act
    let mut winner = None;
    for res in join_all(requests).await {
        let res = res.expect("request");
        if res.status() == 200 {
            winner = Some(tokens_of(res).await);
        }
    }

    // Assert: the losers were replays, so what the code issued is revoked (T1, F4).
    let (at, jti, rt) = winner.expect("one redemption succeeds");
    assert_first_tokens_revoked(&app, &c, &at, &jti, &rt).await;
}

/// A family's first refresh token as the code grant builds it (for the store-level test).
fn first_refresh_row(
    client_id: &str,
    user_id: &str,
    family: &str,
    jti: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> entity::refresh_token::Model {
    entity::refresh_token::Model {
        id: format!("rt_{family}"),
        token_hash: latch::crypto::sha256_hex(family),
        family_id: family.to_owned(),
        parent_id: None,
        client_id: client_id.to_owned(),
        user_id: user_id.to_owned(),
        scope: "openid".to_owned(),
        auth_time: now,
        nonce: Some("n0nce".to_owned()),
        livemode: false,
        access_token_jti: jti.to_owned(),
        access_token_expires_at: now + chrono::TimeDelta::hours(1),
        created_at: now,
        expires_at: now + chrono::TimeDelta::days(1),
        rotated_at: None,
        revoked_at: None,
        amr: Some("pwd".to_owned()),
        dpop_jkt: None,
        sid: None,
    }
}

/// `n` fresh codes for `c`, and one more already redeemed.
async fn fresh_codes_and_a_redeemed_one(
    app: &TestApp,
    c: &TestClient,
    n: usize,
) -> (Vec<String>, String) {
    let mut fresh = Vec::new();
    for _ in 0..n {
        fresh.push(code_with_pkce(app, c).await.0);
    }
    let (used, used_verifier) = code_with_pkce(app, c).await;
    tokens_of(redeem(app, c, &used, Some(&used_verifier)).await).await;
    (fresh, used)
}

#[tokio::test]
async fn exchanges_written_together_each_learn_their_own_outcome() {
    // Arrange: fresh codes, one code twice, a code already redeemed, an unknown code, and a
    // fresh code whose refresh token cannot be stored (its user does not exist). On
    // PostgreSQL these go to the database together (group commit, `store::codes`).
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let (fresh, used) = fresh_codes_and_a_redeemed_one(&app, &c, 6).await;
    let now = app.state.clock.now();
    // (code, the refresh token's user)
    let mut entries: Vec<(String, String)> = fresh[..4]
        .iter()
        .map(|code| (code.clone(), user.id.clone()))
        .collect();
    entries.push((fresh[4].clone(), user.id.clone()));
    entries.push((used.clone(), user.id.clone()));
    entries.push(("ac_unknown".to_owned(), user.id.clone()));
    entries.push((fresh[5].clone(), "usr_gone".to_owned()));
    entries.push((fresh[4].clone(), user.id.clone()));
    let rows: Vec<(String, String, String, entity::refresh_token::Model)> = entries
        .iter()
        .enumerate()
        .map(|(i, (code, user_id))| {
            let family = format!("fam_batch{i}");
            let jti = format!("jti_batch{i}");
            let rt = first_refresh_row(&c.id, user_id, &family, &jti, now);
            (latch::crypto::sha256_hex(code), family, jti, rt)
        })
        .collect();

    // Act: all at once.
    let results = join_all(rows.iter().map(|(hash, family, jti, rt)| {
        latch::store::codes::consume_and_issue(
            &app.db,
            &app.state.codes,
            hash,
            &c.id,
            now,
            latch::store::codes::Issued {
                family_id: Some(family),
                jti,
                access_expires: now + chrono::TimeDelta::hours(1),
            },
            Some(rt),
        )
    }))
    .await;

    // Assert: each exchange got its own outcome.
    let ok: Vec<Option<bool>> = results.iter().map(|r| r.as_ref().ok().copied()).collect();
    assert_eq!(&ok[..4], &[Some(true); 4], "{ok:?}");
    assert_eq!(ok[5], Some(false), "an already redeemed code: {ok:?}");
    assert_eq!(ok[6], Some(false), "an unknown code: {ok:?}");
    assert!(
        results[7].is_err(),
        "the refresh token naming no user: {ok:?}"
    );
    let twice = [ok[4], ok[8]];
    assert!(
        twice == [Some(true), Some(false)] || twice == [Some(false), Some(true)],
        "a code twice: consumed once, {ok:?}"
    );
    // Exactly the winners' refresh tokens are stored; the failed one burnt nothing.
    for (i, (hash, family, _, _)) in rows.iter().enumerate() {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let stored = entity::refresh_token::Entity::find()
            .filter(entity::refresh_token::Column::FamilyId.eq(family.as_str()))
            .count(&app.db)
            .await
            .expect("count");
        assert_eq!(stored, u64::from(ok[i] == Some(true)), "row {i}: {ok:?}");
        if i == 7 {
            let code = latch::store::codes::by_hash(&app.db, hash)
                .await
                .expect("read")
                .expect("code");
            assert!(
                code.consumed_at.is_none(),
                "a failed exchange consumed its code"
            );
        }
    }
    if sea_orm::ConnectionTrait::get_database_backend(&app.db) == sea_orm::DbBackend::Postgres {
        assert!(
            app.state.codes.largest_batch() > 1,
            "the exchanges were not batched: {}",
            app.state.codes.largest_batch()
        );
    }
}

#[tokio::test]
async fn code_reads_made_together_each_get_their_own_row() {
    // Arrange: 20 fresh codes, one of them asked for twice, a redeemed code and an unknown
    // hash. On PostgreSQL the reads go to the database together
    // (`store::codes::GroupRead`); on SQLite each is its own query.
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let (codes, used) = fresh_codes_and_a_redeemed_one(&app, &c, 20).await;
    let mut hashes: Vec<String> = codes.iter().map(|c| latch::crypto::sha256_hex(c)).collect();
    hashes.push(hashes[7].clone());
    hashes.push(latch::crypto::sha256_hex(&used));
    hashes.push(latch::crypto::sha256_hex("ac_unknown"));

    // Act: all at once.
    let found = join_all(
        hashes
            .iter()
            .map(|h| latch::store::codes::read_for_exchange(&app.db, &app.state.code_reads, h)),
    )
    .await;

    // Assert: every read got the row of its own hash (and its user), none for the unknown.
    let n = hashes.len();
    for (i, (hash, got)) in hashes.iter().zip(&found).enumerate() {
        let got = got.as_ref().expect("read failed");
        if i == n - 1 {
            assert!(got.is_none(), "an unknown hash found a row");
            continue;
        }
        let (row, owner) = got.as_ref().expect("a code not found");
        assert_eq!(&row.code_hash, hash, "read {i} got another code's row");
        assert_eq!(
            owner.as_ref().map(|u| u.id.as_str()),
            Some(user.id.as_str())
        );
        assert_eq!(
            row.consumed_at.is_some(),
            i == n - 2,
            "read {i}: consumed_at"
        );
    }
    if sea_orm::ConnectionTrait::get_database_backend(&app.db) == sea_orm::DbBackend::Postgres {
        assert!(
            app.state.code_reads.largest_batch() > 1,
            "the reads were not grouped: {}",
            app.state.code_reads.largest_batch()
        );
    }
}

#[tokio::test]
async fn token_concurrent_exchanges_each_get_their_own_tokens_and_a_replay_among_them_revokes() {
    // Arrange: a code redeemed once, and eight fresh codes.
    let (app, c) = setup().await;
    let (replayed, replayed_verifier) = code_with_pkce(&app, &c).await;
    let (at, jti, rt) =
        tokens_of(redeem(&app, &c, &replayed, Some(&replayed_verifier)).await).await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(code_with_pkce(&app, &c).await);
    }
    codes.insert(4, (replayed.clone(), replayed_verifier.clone()));

    // Act: all nine at once (on PostgreSQL they share batches).
    let responses = join_all(
        codes
            .iter()
            .map(|(code, v)| redeem(&app, &c, code, Some(v))),
    )
    .await;

    // Assert: the replay is refused and revokes what the code issued (RFC 6749 §4.1.2);
    // every other exchange gets tokens of its own, which work.
    let mut seen = std::collections::HashSet::new();
    for (i, res) in responses.into_iter().enumerate() {
        if i == 4 {
            expect_oauth_error(res, 400, "invalid_grant").await;
            continue;
        }
        let (_, jti_i, rt_i) = tokens_of(res).await;
        assert!(seen.insert(jti_i), "two exchanges got one access token");
        assert_eq!(refresh(&app, &c, &rt_i).await.status(), 200);
    }
    assert_first_tokens_revoked(&app, &c, &at, &jti, &rt).await;
}
