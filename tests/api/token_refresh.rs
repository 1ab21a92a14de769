//! `grant_type=refresh_token`: SECURITY.md 1c (R1–R3, R5, R6), the rotation grace window,
//! and the invariant that a family never has two live tokens, on one or two instances.

use entity::refresh_token::{self, Column};
use futures_util::future::join_all;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::*;

const EMAIL: &str = "ann@example.com";

/// Tokens from one successful token response.
struct Tokens {
    at: String,
    jti: String,
    rt: String,
}

async fn tokens_of(res: reqwest::Response) -> Tokens {
    assert_token_headers(&res);
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    let at = body["access_token"].as_str().expect("access_token");
    Tokens {
        at: at.to_owned(),
        jti: jwt_claims(at)["jti"].as_str().expect("jti").to_owned(),
        rt: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
    }
}

/// A user `EMAIL` and a confidential client on `app`.
async fn fixtures(app: &TestApp) -> (entity::user::Model, TestClient) {
    let user = app.create_user(EMAIL, PASSWORD).await;
    let client = app.confidential_client().await;
    (user, client)
}

/// The code flow for `c` (PKCE, scope `read write`); the tokens it issued.
async fn sign_in_tokens(app: &TestApp, c: &TestClient) -> Tokens {
    sign_in_tokens_with_scope(app, c, "read write").await
}

async fn sign_in_tokens_with_scope(app: &TestApp, c: &TestClient, scope: &str) -> Tokens {
    let (verifier, challenge) = pkce_pair();
    let code = app
        .obtain_code(
            c,
            EMAIL,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("scope", scope),
            ],
        )
        .await;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", c.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let res = match &c.secret {
        Some(secret) => app.post_token_basic(&c.id, secret, &form).await,
        None => {
            form.push(("client_id", &c.id));
            app.post_token(&form).await
        }
    };
    tokens_of(res).await
}

async fn row_of(app: &TestApp, rt: &str) -> refresh_token::Model {
    latch::store::tokens::by_hash(&app.db, &latch::crypto::sha256_hex(rt))
        .await
        .expect("readable")
        .expect("refresh token row")
}

/// Tokens of `family` that are neither rotated nor revoked.
async fn live_in_family(app: &TestApp, family: &str) -> Vec<refresh_token::Model> {
    refresh_token::Entity::find()
        .filter(Column::FamilyId.eq(family))
        .filter(Column::RotatedAt.is_null())
        .filter(Column::RevokedAt.is_null())
        .all(&app.db)
        .await
        .expect("readable")
}

async fn is_denied(app: &TestApp, jti: &str) -> bool {
    latch::store::tokens::is_denied_in_db(&app.db, jti)
        .await
        .expect("readable")
}

#[tokio::test]
async fn token_invalid_grant_and_family_revoked_when_rotated_refresh_token_is_reused() {
    // Arrange
    let app = spawn_app().await;
    let (_, c) = fixtures(&app).await;
    let first = sign_in_tokens(&app, &c).await;
    let second = tokens_of(refresh(&app, &c, &first.rt).await).await;

    // Act
    let reuse = refresh(&app, &c, &first.rt).await;

    // Assert: refused, and the successor plus every access token of the family revoked.
    expect_oauth_error(reuse, 400, "invalid_grant").await;
    expect_oauth_error(refresh(&app, &c, &second.rt).await, 400, "invalid_grant").await;
    for t in [&first, &second] {
        assert!(is_denied(&app, &t.jti).await);
        assert_eq!(me_status(&app, &t.at).await, 401);
    }
    let family = row_of(&app, &first.rt).await.family_id;
    assert!(live_in_family(&app, &family).await.is_empty());
}

#[tokio::test]
async fn token_new_refresh_token_each_time_when_refresh_token_is_rotated() {
    // Arrange
    let app = spawn_app().await;
    let (_, c) = fixtures(&app).await;
    let first = sign_in_tokens(&app, &c).await;

    // Act
    let second = tokens_of(refresh(&app, &c, &first.rt).await).await;
    let third = tokens_of(refresh(&app, &c, &second.rt).await).await;

    // Assert: one family, one live token: the newest.
    assert_ne!(first.rt, second.rt);
    assert_ne!(second.rt, third.rt);
    let family = row_of(&app, &first.rt).await.family_id;
    assert_eq!(row_of(&app, &third.rt).await.family_id, family);
    let live = live_in_family(&app, &family).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].token_hash, latch::crypto::sha256_hex(&third.rt));
}

#[tokio::test]
async fn token_new_tokens_when_public_client_refreshes_with_client_id_only() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.public_client().await;
    let first = sign_in_tokens(&app, &c).await;

    // Act
    let res = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first.rt),
            ("client_id", &c.id),
        ])
        .await;

    // Assert
    let second = tokens_of(res).await;
    assert_ne!(second.rt, first.rt);
}

#[tokio::test]
async fn token_invalid_grant_when_refresh_token_is_presented_by_another_client() {
    // Arrange
    let app = spawn_app().await;
    let (_, a) = fixtures(&app).await;
    let b = app.confidential_client().await;
    let tokens = sign_in_tokens(&app, &a).await;

    // Act
    let res = refresh(&app, &b, &tokens.rt).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_401_invalid_client_when_confidential_client_refreshes_without_authentication() {
    // Arrange
    let app = spawn_app().await;
    let (_, c) = fixtures(&app).await;
    let tokens = sign_in_tokens(&app, &c).await;

    // Act: client_id only (as a public client would), then nothing at all.
    let with_id = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.rt),
            ("client_id", &c.id),
        ])
        .await;
    let bare = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.rt),
        ])
        .await;

    // Assert
    for res in [with_id, bare] {
        assert!(
            res.headers()
                .get("www-authenticate")
                .is_some_and(|v| v.to_str().unwrap().starts_with("Basic"))
        );
        expect_oauth_error(res, 401, "invalid_client").await;
    }
    // The token itself was not burnt by the unauthenticated attempts.
    assert_eq!(refresh(&app, &c, &tokens.rt).await.status(), 200);
}

#[tokio::test]
async fn token_invalid_grant_when_refresh_token_is_past_its_absolute_lifetime() {
    // Arrange: a 2 s family lifetime; rotating does not extend it.
    let app = spawn_app_with(|s| s.refresh_token_ttl = chrono::TimeDelta::seconds(2)).await;
    let (_, c) = fixtures(&app).await;
    let first = sign_in_tokens(&app, &c).await;
    let second = tokens_of(refresh(&app, &c, &first.rt).await).await;
    app.advance(2);

    // Act
    let res = refresh(&app, &c, &second.rt).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_grant_when_refresh_token_is_idle_past_its_idle_lifetime() {
    // Arrange: 1 s idle lifetime, 30-day absolute lifetime.
    let app = spawn_app_with(|s| s.refresh_token_idle_ttl = chrono::TimeDelta::seconds(1)).await;
    let (_, c) = fixtures(&app).await;
    let tokens = sign_in_tokens(&app, &c).await;
    app.advance(2);

    // Act
    let res = refresh(&app, &c, &tokens.rt).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_grant_when_password_changed_after_the_grant() {
    // Arrange: a password change voids sessions and refresh tokens issued before it.
    let app = spawn_app().await;
    let (user, c) = fixtures(&app).await;
    let tokens = sign_in_tokens(&app, &c).await;
    let mut u: entity::user::ActiveModel = user.into();
    u.sessions_valid_after = Set(chrono::Utc::now() + chrono::Duration::seconds(1));
    u.update(&app.db).await.expect("user updated");

    // Act
    let res = refresh(&app, &c, &tokens.rt).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
    let family = row_of(&app, &tokens.rt).await.family_id;
    assert!(live_in_family(&app, &family).await.is_empty());
}

#[tokio::test]
async fn token_invalid_grant_when_user_is_disabled() {
    // Arrange
    let app = spawn_app().await;
    let (user, c) = fixtures(&app).await;
    let tokens = sign_in_tokens(&app, &c).await;
    let mut u: entity::user::ActiveModel = user.into();
    u.disabled_at = Set(Some(chrono::Utc::now()));
    u.update(&app.db).await.expect("user updated");

    // Act
    let res = refresh(&app, &c, &tokens.rt).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_scope_when_refresh_asks_for_scope_beyond_the_grant() {
    // Arrange: granted `read` only.
    let app = spawn_app().await;
    let (_, c) = fixtures(&app).await;
    let tokens = sign_in_tokens_with_scope(&app, &c, "read").await;

    for scope in ["read write", "write", "admin"] {
        // Act
        let res = app
            .post_token_basic(
                &c.id,
                c.secret(),
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &tokens.rt),
                    ("scope", scope),
                ],
            )
            .await;

        // Assert (RFC 6749 §6)
        expect_oauth_error(res, 400, "invalid_scope").await;
    }
}

#[tokio::test]
async fn token_invalid_grant_never_500_when_refresh_token_is_unknown_or_garbage() {
    // Arrange
    let app = spawn_app().await;
    let (_, c) = fixtures(&app).await;
    let unknown = latch::crypto::mint_secret("rt_");
    let huge = "r".repeat(10 * 1024);
    let code_shaped = latch::crypto::mint_secret("ac_");

    for rt in [
        "rt_xxx",
        unknown.as_str(),
        code_shaped.as_str(),
        huge.as_str(),
        "\0",
    ] {
        // Act
        let res = refresh(&app, &c, rt).await;

        // Assert
        expect_oauth_error(res, 400, "invalid_grant").await;
    }
}

/// Send `rt` `n` times at once, alternating over `apps`; every answer is 200 or
/// 400 `invalid_grant`. Returns the refresh tokens of the 200s.
async fn race(apps: &[&TestApp], c: &TestClient, rt: &str, n: usize) -> Vec<String> {
    let requests = (0..n).map(|i| {
        let app = apps[i % apps.len()];
        app.http
            .post(app.url("/oauth/token"))
            .basic_auth(&c.id, Some(c.secret()))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
            .send()
    });
    let mut issued = Vec::new();
    for res in join_all(requests).await {
        let res = res.expect("request");
        if res.status() == 200 {
            issued.push(tokens_of(res).await.rt);
        } else {
            expect_oauth_error(res, 400, "invalid_grant").await;
        }
    }
    issued
}

#[tokio::test]
async fn token_at_most_one_success_and_live_token_when_refresh_token_is_used_20_times_concurrently()
{
    // Arrange
    let app = spawn_app().await;
    let (_, c) = fixtures(&app).await;
    let tokens = sign_in_tokens(&app, &c).await;
    let family = row_of(&app, &tokens.rt).await.family_id;

    // Act
    let issued = race(&[&app], &c, &tokens.rt, 20).await;

    // Assert
    assert!(issued.len() <= 1, "{} successes", issued.len());
    assert!(live_in_family(&app, &family).await.len() <= 1);
}

#[tokio::test]
async fn token_at_most_one_live_token_when_two_instances_race_on_one_refresh_token() {
    // Arrange
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app).await;
    let (_, c) = fixtures(&app).await;
    let tokens = sign_in_tokens(&app, &c).await;
    let family = row_of(&app, &tokens.rt).await.family_id;

    // Act
    let issued = race(&[&app, &sibling], &c, &tokens.rt, 20).await;

    // Assert
    assert!(issued.len() <= 1, "{} successes", issued.len());
    assert!(live_in_family(&app, &family).await.len() <= 1);
}

#[tokio::test]
async fn token_at_most_one_live_token_when_refresh_token_is_raced_within_grace_window() {
    // Arrange: with a grace window, retries may succeed, but never leave two live tokens.
    let app = spawn_app_with(|s| s.refresh_token_grace = chrono::TimeDelta::seconds(5)).await;
    let sibling = spawn_sibling(&app).await;
    let (_, c) = fixtures(&app).await;
    let tokens = sign_in_tokens(&app, &c).await;
    let family = row_of(&app, &tokens.rt).await.family_id;

    // Act
    let issued = race(&[&app, &sibling], &c, &tokens.rt, 20).await;

    // Assert
    let live = live_in_family(&app, &family).await;
    assert!(live.len() <= 1, "{} live tokens", live.len());
    let usable: Vec<_> = issued
        .iter()
        .filter(|rt| {
            live.iter()
                .any(|l| l.token_hash == latch::crypto::sha256_hex(rt))
        })
        .collect();
    assert!(usable.len() <= 1);
}

#[tokio::test]
async fn token_new_token_and_one_live_token_when_just_rotated_token_is_replayed_within_grace() {
    // Arrange: the client refreshed, but (say) lost the response.
    let app = spawn_app_with(|s| s.refresh_token_grace = chrono::TimeDelta::seconds(5)).await;
    let (_, c) = fixtures(&app).await;
    let first = sign_in_tokens(&app, &c).await;
    let lost = tokens_of(refresh(&app, &c, &first.rt).await).await;
    let family = row_of(&app, &first.rt).await.family_id;

    // Act: the client retries with the token it still has.
    let retried = tokens_of(refresh(&app, &c, &first.rt).await).await;

    // Assert: a new token, and it is the family's only live one…
    assert_ne!(retried.rt, lost.rt);
    assert_ne!(retried.rt, first.rt);
    let live = live_in_family(&app, &family).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].token_hash, latch::crypto::sha256_hex(&retried.rt));
    assert_eq!(row_of(&app, &retried.rt).await.family_id, family);
    // …and the successor it replaced can no longer be used.
    expect_oauth_error(refresh(&app, &c, &lost.rt).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_grant_when_older_generation_is_replayed_within_grace() {
    // Arrange: RT1 → RT2 → RT3 in quick succession; the grace window is for retrying the
    // token just rotated, not for any earlier generation.
    let app = spawn_app_with(|s| s.refresh_token_grace = chrono::TimeDelta::seconds(5)).await;
    let (_, c) = fixtures(&app).await;
    let first = sign_in_tokens(&app, &c).await;
    let second = tokens_of(refresh(&app, &c, &first.rt).await).await;
    let third = tokens_of(refresh(&app, &c, &second.rt).await).await;

    // Act
    let res = refresh(&app, &c, &first.rt).await;

    // Assert: refused, and treated as reuse (RFC 9700 §4.14.2).
    expect_oauth_error(res, 400, "invalid_grant").await;
    expect_oauth_error(refresh(&app, &c, &third.rt).await, 400, "invalid_grant").await;
    assert!(is_denied(&app, &third.jti).await);
}

#[tokio::test]
async fn token_invalid_grant_and_family_revoked_when_rotated_token_is_replayed_after_grace() {
    // Arrange
    let app = spawn_app_with(|s| s.refresh_token_grace = chrono::TimeDelta::seconds(1)).await;
    let (_, c) = fixtures(&app).await;
    let first = sign_in_tokens(&app, &c).await;
    let second = tokens_of(refresh(&app, &c, &first.rt).await).await;
    app.advance(2);

    // Act
    let res = refresh(&app, &c, &first.rt).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
    expect_oauth_error(refresh(&app, &c, &second.rt).await, 400, "invalid_grant").await;
    assert!(is_denied(&app, &second.jti).await);
}
