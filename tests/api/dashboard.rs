//! Accounts and the developer dashboard, black-box over HTTP with a cookie jar: sign-up (the
//! first account is the admin; a taken email is indistinguishable from a new one), changing
//! the password (other sessions and refresh tokens end), API keys (shown once, stored as a
//! digest, roll with overlap, revoke, rename, mode filter), OAuth apps (register, rotate,
//! delete), authorized apps (revoking ends the app's tokens), activity, the admin pages, CSRF
//! and Origin checks, and escaping of hostile names.

use std::time::{Duration, Instant};

use latch::audit::{AuditKind, Event};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::*;

const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";
const NEW_PASSWORD: &str = "a brand new passphrase";
const XSS: &str = "<script>alert(1)</script>";

// ---------------------------------------------------------------------------------------------
// Helpers

async fn get_html(app: &TestApp, browser: &reqwest::Client, path: &str) -> (u16, String) {
    let res = browser.get(app.url(path)).send().await.expect("GET");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

/// The session's CSRF token, read from a dashboard page.
async fn csrf(app: &TestApp, browser: &reqwest::Client) -> String {
    let (status, html) = get_html(app, browser, "/dashboard").await;
    assert_eq!(status, 200, "not signed in");
    input_value(&html, "csrf").expect("csrf on the dashboard")
}

async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .expect("POST")
}

/// Sign up through the form in `browser`.
async fn signup(
    app: &TestApp,
    browser: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let (status, html) = get_html(app, browser, "/signup").await;
    assert_eq!(status, 200);
    let csrf = input_value(&html, "csrf").expect("csrf on the sign-up page");
    post(
        app,
        browser,
        "/signup",
        &[
            ("email", email),
            ("password", password),
            ("csrf", &csrf),
            ("next", ""),
        ],
    )
    .await
}

async fn user(app: &TestApp, email: &str) -> entity::user::Model {
    latch::store::users::by_email(&app.db, email)
        .await
        .expect("readable")
        .expect("user exists")
}

async fn is_signed_in(app: &TestApp, browser: &reqwest::Client) -> bool {
    let res = browser
        .get(app.url("/dashboard"))
        .send()
        .await
        .expect("GET");
    match res.status().as_u16() {
        200 => true,
        303 => {
            assert!(location(&res).starts_with("/login?next="));
            false
        }
        s => panic!("unexpected status {s}"),
    }
}

/// The text of `<code id="{id}" …>…</code>`, unescaped.
fn code_by_id(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("<code id=\"{id}\""))?;
    let rest = &html[start..];
    let open = rest.find('>')? + 1;
    let close = rest.find("</code>")?;
    Some(html_unescape(&rest[open..close]))
}

/// Create an API key in the dashboard; returns its secret (and checks the page).
async fn create_key(
    app: &TestApp,
    browser: &reqwest::Client,
    name: &str,
    mode: &str,
    scopes: &[&str],
) -> String {
    let csrf = csrf(app, browser).await;
    let mut form = vec![("csrf", csrf.as_str()), ("name", name), ("mode", mode)];
    for s in scopes {
        form.push(match *s {
            "read" => ("scope_read", "on"),
            _ => ("scope_write", "on"),
        });
    }
    let res = post(app, browser, "/dashboard/keys", &form).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("cache-control").unwrap(),
        "no-store",
        "a page with a secret must not be cached"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("You won't see it again"));
    let secret = code_by_id(&html, "secret-key").expect("the secret on the page");
    assert!(secret.starts_with(&format!("sk_{mode}_")), "{secret}");
    secret
}

async fn key_row(app: &TestApp, secret: &str) -> entity::api_key::Model {
    latch::store::api_keys::by_hash(&app.db, &latch::crypto::sha256_hex(secret))
        .await
        .expect("readable")
        .expect("the key's row")
}

async fn me_status(app: &TestApp, bearer: &str) -> u16 {
    app.http
        .get(app.url("/v1/users/me"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("GET /v1/users/me")
        .status()
        .as_u16()
}

async fn events_of(app: &TestApp, user_id: &str) -> Vec<entity::audit_event::Model> {
    latch::store::audit::page(
        &app.db,
        Some(user_id),
        latch::store::audit::ModeFilter::All,
        1000,
        None,
    )
    .await
    .expect("readable")
}

/// Tokens from the code flow for `client` as `email` (password [`PASSWORD`]).
async fn code_flow_tokens(app: &TestApp, client: &TestClient, email: &str) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let code = app
        .obtain_code(
            client,
            email,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let res = app
        .post_token_basic(
            &client.id,
            client.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(app: &TestApp, client: &TestClient, rt: &str) -> reqwest::Response {
    app.post_token_basic(
        &client.id,
        client.secret(),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

/// A body with the CSRF token values blanked out, for comparing two pages.
fn without_csrf(html: &str) -> String {
    let mut out = html.to_owned();
    for (name, value) in form_inputs(html) {
        if name == "csrf" && !value.is_empty() {
            out = out.replace(&value, "CSRF");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Sign-up

#[tokio::test]
async fn signup_makes_the_first_account_admin_and_later_ones_members() {
    // Arrange
    let app = spawn_app().await;
    let first = app.new_browser();
    let second = app.new_browser();

    // Act
    let res1 = signup(&app, &first, ANN, PASSWORD).await;
    let res2 = signup(&app, &second, BOB, PASSWORD).await;

    // Assert
    assert_eq!(res1.status(), 303);
    assert_eq!(location(&res1), "/signup/done");
    assert_eq!(res2.status(), 303);
    assert!(user(&app, ANN).await.is_admin, "the first account is admin");
    assert!(!user(&app, BOB).await.is_admin, "later accounts are not");
    // Neither is signed in by signing up (see signup.rs on enumeration).
    assert!(!is_signed_in(&app, &first).await);
    let (status, done) = get_html(&app, &first, "/signup/done").await;
    assert_eq!(status, 200);
    assert!(done.contains("Your account is ready"));
    assert!(done.contains("href=\"/login?next=/dashboard\""));
    // Signing in works, and the admin sees the admin pages in the nav.
    let ann = app.signed_in_browser(ANN).await;
    let (_, html) = get_html(&app, &ann, "/dashboard").await;
    assert!(html.contains("href=\"/dashboard/admin/users\""));
    let bob = app.signed_in_browser(BOB).await;
    let (_, html) = get_html(&app, &bob, "/dashboard").await;
    assert!(!html.contains("/dashboard/admin/users"));
    assert!(
        events_of(&app, &user(&app, ANN).await.id)
            .await
            .iter()
            .any(|e| e.kind == "account.created")
    );
}

#[tokio::test]
async fn signup_answers_a_taken_email_exactly_like_a_new_one() {
    // Arrange
    let app = spawn_app().await;
    let owner = app.create_user(ANN, PASSWORD).await;
    let fresh = app.new_browser();
    let probe = app.new_browser();

    // Act
    let new = signup(&app, &fresh, "carol@example.com", "a password for carol").await;
    let taken = signup(&app, &probe, "ANN@example.com", "an attacker's password").await;

    // Assert: same status, same Location, same header names, same next page.
    assert_eq!(new.status(), taken.status());
    assert_eq!(location(&new), location(&taken));
    let names = |r: &reqwest::Response| {
        let mut n: Vec<String> = r
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k != "date" && k != "x-request-id")
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&new), names(&taken));
    let (s1, page1) = get_html(&app, &fresh, &location(&new)).await;
    let (s2, page2) = get_html(&app, &probe, &location(&taken)).await;
    assert_eq!(s1, s2);
    assert_eq!(without_csrf(&page1), without_csrf(&page2));
    assert!(!is_signed_in(&app, &fresh).await);
    assert!(!is_signed_in(&app, &probe).await);
    // The owner's account is untouched and learns about the attempt.
    let after = user(&app, ANN).await;
    assert_eq!(after.password_hash, owner.password_hash);
    assert!(
        events_of(&app, &owner.id)
            .await
            .iter()
            .any(|e| e.kind == "signup.duplicate" && e.severity == "warning")
    );
    assert_eq!(
        latch::store::users::count(&app.db).await.unwrap(),
        2,
        "only carol was created"
    );
}

#[tokio::test]
async fn signup_refuses_bad_input_without_creating_anything() {
    let app = spawn_app().await;
    let b = app.new_browser();
    let res = signup(&app, &b, "not-an-email", PASSWORD).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("valid email"));
    let res = signup(&app, &b, ANN, "short").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("at least 10 characters"));
    assert_eq!(latch::store::users::count(&app.db).await.unwrap(), 0);
}

#[tokio::test]
async fn signup_is_404_and_unlinked_when_disabled() {
    // Arrange
    let on = spawn_app().await;
    let off = spawn_app_with(|s| s.signup = false).await;

    // Act + Assert
    let (_, login) = get_html(&on, &on.http, "/login").await;
    assert!(login.contains("href=\"/signup"), "login links to sign-up");
    let (status, login) = get_html(&off, &off.http, "/login").await;
    assert_eq!(status, 200);
    assert!(!login.contains("/signup"));
    let (status, _) = get_html(&off, &off.http, "/signup").await;
    assert_eq!(status, 404);
    let csrf = input_value(&login, "csrf").unwrap();
    let res = post(
        &off,
        &off.http,
        "/signup",
        &[("email", ANN), ("password", PASSWORD), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(latch::store::users::count(&off.db).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Change password

#[tokio::test]
async fn changing_the_password_ends_other_sessions_and_refresh_tokens() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.create_user(ANN, PASSWORD).await;
    let client = app.confidential_client().await;
    let (at, rt) = code_flow_tokens(&app, &client, ANN).await;
    let other = app.signed_in_browser(ANN).await;
    let here = app.signed_in_browser(ANN).await;
    let token = csrf(&app, &here).await;

    // Act
    let res = post(
        &app,
        &here,
        "/dashboard/settings/password",
        &[
            ("csrf", &token),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", NEW_PASSWORD),
        ],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/settings/password");
    let (status, html) = get_html(&app, &here, "/dashboard/settings/password").await;
    assert_eq!(status, 200, "this browser stays signed in");
    assert!(html.contains("Password changed"));
    assert!(
        !is_signed_in(&app, &other).await,
        "the other browser is out"
    );
    expect_oauth_error(refresh(&app, &client, &rt).await, 400, "invalid_grant").await;
    assert_eq!(me_status(&app, &at).await, 401, "its access token too");
    let b = app.new_browser();
    assert_eq!(app.sign_in(&b, ANN, PASSWORD, "/").await.status(), 401);
    assert_eq!(app.sign_in(&b, ANN, NEW_PASSWORD, "/").await.status(), 303);
    let stored = user(&app, ANN).await.password_hash;
    assert!(stored.starts_with("$argon2id$"));
    assert_ne!(stored, ann.password_hash);
    assert!(
        events_of(&app, &ann.id)
            .await
            .iter()
            .any(|e| e.kind == "password.changed")
    );
}

#[tokio::test]
async fn changing_the_password_with_a_wrong_current_one_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.create_user(ANN, PASSWORD).await;
    let client = app.confidential_client().await;
    let (_, rt) = code_flow_tokens(&app, &client, ANN).await;
    let other = app.signed_in_browser(ANN).await;
    let here = app.signed_in_browser(ANN).await;
    let token = csrf(&app, &here).await;

    // Act
    let wrong = post(
        &app,
        &here,
        "/dashboard/settings/password",
        &[
            ("csrf", &token),
            ("current_password", "not my password at all"),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", NEW_PASSWORD),
        ],
    )
    .await;
    let mismatch = post(
        &app,
        &here,
        "/dashboard/settings/password",
        &[
            ("csrf", &token),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", "something else entirely"),
        ],
    )
    .await;

    // Assert
    assert_eq!(wrong.status(), 422);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("current password is not correct")
    );
    assert_eq!(mismatch.status(), 422);
    assert!(mismatch.text().await.unwrap().contains("do not match"));
    assert_eq!(user(&app, ANN).await.password_hash, ann.password_hash);
    assert!(is_signed_in(&app, &other).await);
    assert!(is_signed_in(&app, &here).await);
    assert_eq!(refresh(&app, &client, &rt).await.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Sessions and CSRF

#[tokio::test]
async fn dashboard_pages_send_signed_out_visitors_to_sign_in() {
    let app = spawn_app().await;
    for path in [
        "/dashboard",
        "/dashboard/keys?mode=live",
        "/dashboard/keys/new",
        "/dashboard/keys/key_123",
        "/dashboard/apps",
        "/dashboard/apps/new",
        "/dashboard/authorized",
        "/dashboard/activity",
        "/dashboard/settings/password",
        "/dashboard/admin/users",
        "/dashboard/admin/activity",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 303, "{path}");
        let to = location(&res);
        assert_eq!(
            query_of(&to).get("next").map(String::as_str),
            Some(path),
            "{to}"
        );
        assert!(to.starts_with("/login?"), "{to}");
    }
    let res = post(&app, &app.http, "/dashboard/keys", &[("name", "x")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?next=%2Fdashboard");
    assert_eq!(location(&app.get("/").await), "/dashboard");
}

#[tokio::test]
async fn dashboard_posts_are_refused_without_the_csrf_token_or_from_another_site() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = csrf(&app, &b).await;
    let secret = create_key(&app, &b, "Kept", "test", &["read"]).await;
    let key = key_row(&app, &secret).await;
    let keys = || async {
        entity::api_key::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len()
    };

    // Act + Assert: create without a token, with a foreign one, and cross-site.
    let form = |csrf: &'static str| vec![("csrf", csrf), ("name", "Nope"), ("mode", "test")];
    for f in [form(""), form("forged-token")] {
        let res = post(&app, &b, "/dashboard/keys", &f).await;
        assert_eq!(res.status(), 403);
    }
    let res = post(&app, &b, "/dashboard/keys", &[("name", "Nope")]).await;
    assert_eq!(res.status(), 403, "missing csrf field");
    let res = b
        .post(app.url("/dashboard/keys"))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf", token.as_str()),
            ("name", "Nope"),
            ("mode", "test"),
            ("scope_read", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "cross-site Origin");
    assert_eq!(keys().await, 1, "nothing was created");

    // Revoke, rename, roll, password, admin, consent: all refuse a forged token.
    let id = key.id.as_str();
    for path in [
        format!("/dashboard/keys/{id}/revoke"),
        format!("/dashboard/keys/{id}/rename"),
        format!("/dashboard/keys/{id}/roll"),
        "/dashboard/settings/password".to_owned(),
        "/dashboard/apps".to_owned(),
    ] {
        let res = post(
            &app,
            &b,
            &path,
            &[
                ("csrf", "forged"),
                ("name", "Changed"),
                ("expires_in", "now"),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
        assert_eq!(res.status(), 403, "{path}");
    }
    assert_eq!(me_status(&app, &secret).await, 200, "the key still works");
    let after = key_row(&app, &secret).await;
    assert_eq!(after.name, "Kept");
    assert!(after.revoked_at.is_none() && after.expires_at.is_none());
    assert_eq!(keys().await, 1);

    // Sign-up too.
    let fresh = app.new_browser();
    let res = post(
        &app,
        &fresh,
        "/signup",
        &[("email", BOB), ("password", PASSWORD), ("csrf", "forged")],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(latch::store::users::count(&app.db).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// API keys

#[tokio::test]
async fn a_created_key_is_shown_once_and_only_its_digest_is_stored() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;

    // Act
    let secret = create_key(&app, &b, "CI deploys", "test", &["read", "write"]).await;

    // Assert: it works, and no later page shows it.
    assert_eq!(me_status(&app, &secret).await, 200);
    let row = key_row(&app, &secret).await;
    let redacted = format!("sk_test_…{}", &secret[secret.len() - 4..]);
    for path in [
        "/dashboard/keys".to_owned(),
        "/dashboard/keys?mode=test".to_owned(),
        format!("/dashboard/keys/{}", row.id),
        "/dashboard".to_owned(),
        "/dashboard/activity".to_owned(),
    ] {
        let (status, html) = get_html(&app, &b, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains(&secret), "{path} shows the secret");
    }
    let (_, list) = get_html(&app, &b, "/dashboard/keys").await;
    assert!(list.contains(&redacted), "the list shows {redacted}");
    assert!(list.contains("CI deploys"));
    // The database holds its SHA-256 digest and display parts, never the secret.
    let rows = entity::api_key::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key_hash, latch::crypto::sha256_hex(&secret));
    assert_eq!(rows[0].last4, &secret[secret.len() - 4..]);
    assert!(!format!("{:?}", rows[0]).contains(&secret[8..]));
    assert_eq!(rows[0].scopes, "read write");
    assert!(!rows[0].livemode);
}

#[tokio::test]
async fn rolling_a_key_keeps_the_old_one_for_the_chosen_time() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let first = create_key(&app, &b, "Server", "test", &["read"]).await;
    assert_eq!(me_status(&app, &first).await, 200);
    let first_row = key_row(&app, &first).await;
    let token = csrf(&app, &b).await;

    // Act: roll with a one-hour overlap.
    let res = post(
        &app,
        &b,
        &format!("/dashboard/keys/{}/roll", first_row.id),
        &[("csrf", &token), ("expires_in", "1h")],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let html = res.text().await.unwrap();
    let second = code_by_id(&html, "secret-key").expect("new secret");
    assert!(html.contains("keeps working for 1 hour"));
    assert_eq!(me_status(&app, &first).await, 200, "old key still works");
    assert_eq!(me_status(&app, &second).await, 200, "new key works");
    let second_row = key_row(&app, &second).await;
    assert_eq!(second_row.name, "Server");
    assert_eq!(second_row.scopes, "read");
    let (_, list) = get_html(&app, &b, "/dashboard/keys?mode=test").await;
    assert!(list.contains("Expires in 59 minutes"), "{list}");

    // Act: roll the new key with "now".
    let res = post(
        &app,
        &b,
        &format!("/dashboard/keys/{}/roll", second_row.id),
        &[("csrf", &token), ("expires_in", "now")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let third = code_by_id(&res.text().await.unwrap(), "secret-key").unwrap();

    // Assert
    assert_eq!(me_status(&app, &second).await, 401, "stopped at once");
    assert_eq!(me_status(&app, &third).await, 200);
    assert_eq!(
        me_status(&app, &first).await,
        200,
        "the 1-hour overlap holds"
    );
}

#[tokio::test]
async fn revoking_a_key_asks_for_confirmation_then_refuses_it() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let secret = create_key(&app, &b, "Doomed", "live", &["read"]).await;
    let row = key_row(&app, &secret).await;
    assert_eq!(me_status(&app, &secret).await, 200);

    // Act
    let (status, confirm) = get_html(&app, &b, &format!("/dashboard/keys/{}/revoke", row.id)).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Revoke this API key?"));
    assert_eq!(
        me_status(&app, &secret).await,
        200,
        "asking changes nothing"
    );
    let token = input_value(&confirm, "csrf").unwrap();
    let res = post(
        &app,
        &b,
        &format!("/dashboard/keys/{}/revoke", row.id),
        &[("csrf", &token)],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/keys?mode=live");
    assert_eq!(me_status(&app, &secret).await, 401);
    let (_, list) = get_html(&app, &b, "/dashboard/keys?mode=live").await;
    assert!(list.contains("Revoked Doomed"), "flash message");
    assert!(!list.contains("/dashboard/keys/key_"), "no longer listed");
    let (_, all) = get_html(&app, &b, "/dashboard/keys?mode=live&all=1").await;
    assert!(all.contains("status-revoked"));
    let (_, again) = get_html(&app, &b, "/dashboard/keys?mode=live").await;
    assert!(!again.contains("Revoked Doomed"), "a flash shows once");
    let ann = user(&app, ANN).await;
    assert!(
        events_of(&app, &ann.id)
            .await
            .iter()
            .any(|e| e.kind == "api_key.revoked" && e.severity == "warning")
    );
}

#[tokio::test]
async fn renaming_a_key_keeps_it_working() {
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let secret = create_key(&app, &b, "Old name", "test", &["read"]).await;
    let row = key_row(&app, &secret).await;
    let token = csrf(&app, &b).await;
    let path = format!("/dashboard/keys/{}/rename", row.id);

    let res = post(&app, &b, &path, &[("csrf", &token), ("name", "New name")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/dashboard/keys/{}", row.id));
    assert_eq!(key_row(&app, &secret).await.name, "New name");
    let (_, html) = get_html(&app, &b, &location(&res)).await;
    assert!(html.contains("<h1>New name</h1>"));
    assert_eq!(me_status(&app, &secret).await, 200);

    let res = post(&app, &b, &path, &[("csrf", &token), ("name", "   ")]).await;
    assert_eq!(res.status(), 422);
    assert_eq!(key_row(&app, &secret).await.name, "New name");
}

#[tokio::test]
async fn the_key_list_shows_only_the_chosen_mode_and_others_keys_are_404() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    app.create_user(BOB, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let test = create_key(&app, &b, "Test one", "test", &["read"]).await;
    let live = create_key(&app, &b, "Live one", "live", &["read"]).await;
    let last4 = |s: &str| format!("…{}", &s[s.len() - 4..]);

    // Act
    let (_, default) = get_html(&app, &b, "/dashboard/keys").await;
    let (_, test_page) = get_html(&app, &b, "/dashboard/keys?mode=test").await;
    let (_, live_page) = get_html(&app, &b, "/dashboard/keys?mode=live").await;

    // Assert
    for page in [&default, &test_page] {
        assert!(page.contains(&last4(&test)) && page.contains("Test one"));
        assert!(!page.contains(&last4(&live)) && !page.contains("Live one"));
    }
    assert!(live_page.contains(&last4(&live)) && live_page.contains("Live one"));
    assert!(!live_page.contains(&last4(&test)) && !live_page.contains("Test one"));
    let (_, overview) = get_html(&app, &b, "/dashboard").await;
    assert!(overview.contains("Live API keys"));
    // Someone else's key is not found, and cannot be revoked.
    let bob = app.signed_in_browser(BOB).await;
    let id = key_row(&app, &live).await.id;
    let (status, _) = get_html(&app, &bob, &format!("/dashboard/keys/{id}")).await;
    assert_eq!(status, 404);
    let token = csrf(&app, &bob).await;
    let res = post(
        &app,
        &bob,
        &format!("/dashboard/keys/{id}/revoke"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(me_status(&app, &live).await, 200);
}

// ---------------------------------------------------------------------------------------------
// OAuth apps

#[tokio::test]
async fn a_registered_app_gets_its_secret_once_and_rotating_it_ends_the_old_one() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = csrf(&app, &b).await;

    // Act: register.
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &token),
            ("name", "Billing worker"),
            ("kind", "confidential"),
            ("mode", "test"),
            ("grant_authorization_code", "on"),
            ("grant_refresh_token", "on"),
            ("grant_client_credentials", "on"),
            (
                "redirect_uris",
                "https://billing.example.com/cb\r\nhttp://localhost:8080/cb\r\n",
            ),
        ],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let html = res.text().await.unwrap();
    let client_id = code_by_id(&html, "client-id").expect("client id");
    let secret = code_by_id(&html, "client-secret").expect("client secret");
    assert!(secret.starts_with("cs_"));
    let c = latch::store::clients::by_id(&app.db, &client_id)
        .await
        .unwrap()
        .expect("registered");
    assert_eq!(
        c.owner_id.as_deref(),
        Some(user(&app, ANN).await.id.as_str())
    );
    assert_eq!(
        c.redirect_uris,
        "https://billing.example.com/cb http://localhost:8080/cb"
    );
    assert!(!c.livemode);
    assert_eq!(
        c.secret_hash.as_deref(),
        Some(latch::crypto::sha256_hex(&secret).as_str())
    );
    let cc = [("grant_type", "client_credentials")];
    assert_eq!(
        app.post_token_basic(&client_id, &secret, &cc)
            .await
            .status(),
        200
    );
    for path in [
        "/dashboard/apps".to_owned(),
        format!("/dashboard/apps/{client_id}"),
    ] {
        let (status, page) = get_html(&app, &b, &path).await;
        assert_eq!(status, 200);
        assert!(page.contains("Billing worker") && page.contains(&client_id));
        assert!(!page.contains(&secret), "{path} shows the secret");
    }

    // Act: edit, then rotate.
    let res = post(
        &app,
        &b,
        &format!("/dashboard/apps/{client_id}"),
        &[
            ("csrf", &token),
            ("name", "Billing"),
            ("redirect_uris", "https://billing.example.com/cb"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let c = latch::store::clients::by_id(&app.db, &client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.name.as_str(), c.redirect_uris.as_str()),
        ("Billing", "https://billing.example.com/cb")
    );
    let bad = post(
        &app,
        &b,
        &format!("/dashboard/apps/{client_id}"),
        &[
            ("csrf", &token),
            ("name", "Billing"),
            ("redirect_uris", "javascript:alert(1)"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 422);
    let res = post(
        &app,
        &b,
        &format!("/dashboard/apps/{client_id}/rotate_secret"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 200);
    let rotated = code_by_id(&res.text().await.unwrap(), "client-secret").unwrap();

    // Assert
    assert_ne!(rotated, secret);
    expect_oauth_error(
        app.post_token_basic(&client_id, &secret, &cc).await,
        401,
        "invalid_client",
    )
    .await;
    assert_eq!(
        app.post_token_basic(&client_id, &rotated, &cc)
            .await
            .status(),
        200
    );

    // Act: delete, with a confirmation step.
    let (status, confirm) =
        get_html(&app, &b, &format!("/dashboard/apps/{client_id}/delete")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Delete Billing?"));
    let res = post(
        &app,
        &b,
        &format!("/dashboard/apps/{client_id}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/apps");
    assert!(
        latch::store::clients::by_id(&app.db, &client_id)
            .await
            .unwrap()
            .is_none()
    );
    expect_oauth_error(
        app.post_token_basic(&client_id, &rotated, &cc).await,
        401,
        "invalid_client",
    )
    .await;
}

#[tokio::test]
async fn registering_an_app_explains_invalid_input_and_keeps_it() {
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = csrf(&app, &b).await;
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &token),
            ("name", "Browser app"),
            ("kind", "public"),
            ("mode", "live"),
            ("grant_authorization_code", "on"),
            ("redirect_uris", "http://app.example.com/cb"),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("must use https"), "{html}");
    assert!(html.contains("value=\"Browser app\""));
    assert!(html.contains("http://app.example.com/cb</textarea>"));
    assert_eq!(
        entity::client::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len(),
        0
    );

    // A public app has no secret: only the client id is shown.
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &token),
            ("name", "Browser app"),
            ("kind", "public"),
            ("mode", "live"),
            ("grant_authorization_code", "on"),
            ("redirect_uris", "https://app.example.com/cb"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(code_by_id(&html, "client-id").is_some());
    assert!(code_by_id(&html, "client-secret").is_none());
    assert!(!html.contains("You won't see it again"));
}

// ---------------------------------------------------------------------------------------------
// Authorized apps

#[tokio::test]
async fn revoking_an_authorization_ends_the_apps_tokens() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.create_user(ANN, PASSWORD).await;
    let client = app.confidential_client().await;
    let (at, rt) = code_flow_tokens(&app, &client, ANN).await;
    assert_eq!(me_status(&app, &at).await, 200);
    let b = app.signed_in_browser(ANN).await;
    let (status, page) = get_html(&app, &b, "/dashboard/authorized").await;
    assert_eq!(status, 200);
    assert!(page.contains("Test App"));
    assert!(page.contains("Read your data"), "scopes in plain words");
    let token = input_value(&page, "csrf").unwrap();

    // Act
    let res = post(
        &app,
        &b,
        &format!("/dashboard/authorized/{}/revoke", client.id),
        &[("csrf", &token)],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/authorized");
    let (_, page) = get_html(&app, &b, "/dashboard/authorized").await;
    assert!(page.contains("Access for Test App was revoked."));
    assert!(page.contains("No authorized apps"));
    expect_oauth_error(refresh(&app, &client, &rt).await, 400, "invalid_grant").await;
    assert_eq!(
        me_status(&app, &at).await,
        401,
        "its access token is inactive"
    );
    assert!(
        events_of(&app, &ann.id)
            .await
            .iter()
            .any(|e| e.kind == "consent.revoked")
    );
}

// ---------------------------------------------------------------------------------------------
// Escaping

#[tokio::test]
async fn hostile_names_are_escaped_on_every_page() {
    // Arrange: an account whose email, key and app names are markup.
    let app = spawn_app().await;
    let email = "<script>alert(1)</script>@evil.example";
    latch::users::create(&app.db, ANN, PASSWORD, true)
        .await
        .expect("the admin, who lists everyone");
    latch::users::create(&app.db, email, PASSWORD, false)
        .await
        .expect("a syntactically valid email");
    let b = app.signed_in_browser(email).await;
    let secret = create_key(&app, &b, XSS, "test", &["read"]).await;
    let key = key_row(&app, &secret).await;
    let token = csrf(&app, &b).await;
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &token),
            ("name", XSS),
            ("kind", "confidential"),
            ("mode", "test"),
            ("grant_client_credentials", "on"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let created = res.text().await.unwrap();
    let client_id = code_by_id(&created, "client-id").unwrap();

    // Act + Assert
    let mut pages = vec![("app created".to_owned(), created)];
    for path in [
        "/dashboard".to_owned(),
        "/dashboard/keys".to_owned(),
        format!("/dashboard/keys/{}", key.id),
        format!("/dashboard/keys/{}/revoke", key.id),
        "/dashboard/apps".to_owned(),
        format!("/dashboard/apps/{client_id}"),
        format!("/dashboard/apps/{client_id}/delete"),
        "/dashboard/activity".to_owned(),
    ] {
        let (status, html) = get_html(&app, &b, &path).await;
        assert_eq!(status, 200, "{path}");
        pages.push((path, html));
    }
    let admin = app.signed_in_browser(ANN).await;
    for path in ["/dashboard/admin/users", "/dashboard/admin/activity"] {
        let (status, html) = get_html(&app, &admin, path).await;
        assert_eq!(status, 200, "{path}");
        pages.push((path.to_owned(), html));
    }
    for (path, html) in &pages {
        assert!(
            !html.contains("<script>alert"),
            "unescaped markup on {path}"
        );
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "the name is shown, escaped, on {path}"
        );
        assert!(!html.contains("style="), "inline style on {path}");
        assert!(!html.contains("<script>"), "inline script on {path}");
    }
}

// ---------------------------------------------------------------------------------------------
// Activity

#[tokio::test]
async fn activity_shows_this_accounts_events_marks_warnings_and_pages() {
    // Arrange
    let app = spawn_app().await;
    let ann = app.create_user(ANN, PASSWORD).await;
    let bob = app.create_user(BOB, PASSWORD).await;
    let stranger = app.new_browser();
    assert_eq!(
        app.sign_in(&stranger, ANN, "wrong password!", "/")
            .await
            .status(),
        401
    );
    for i in 0..55 {
        Event::new(AuditKind::ApiKeyCreated)
            .user(&ann.id)
            .detail(serde_json::json!({"name": format!("key {i}")}))
            .record(&app.db)
            .await
            .unwrap();
    }
    Event::new(AuditKind::ApiKeyCreated)
        .user(&bob.id)
        .detail(serde_json::json!({"name": "bob's secret project"}))
        .record(&app.db)
        .await
        .unwrap();
    let b = app.signed_in_browser(ANN).await;

    // Act
    let (status, first) = get_html(&app, &b, "/dashboard/activity").await;

    // Assert
    assert_eq!(status, 200);
    assert_eq!(first.matches("<li class=\"event").count(), 50);
    assert!(!first.contains("bob&#39;s secret project") && !first.contains("bob's secret"));
    assert!(first.contains("key 54"), "newest first");
    let older = first
        .split("href=\"/dashboard/activity?starting_after=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to older events")
        .to_owned();
    let (_, second) = get_html(
        &app,
        &b,
        &format!("/dashboard/activity?starting_after={older}"),
    )
    .await;
    // 55 + the failed and the successful sign-in = 57 events: 7 on page two.
    assert_eq!(second.matches("<li class=\"event").count(), 7);
    assert!(!second.contains("starting_after="), "no further page");
    assert!(
        second.contains("href=\"/dashboard/activity\""),
        "back to newest"
    );
    // The failed sign-in is a warning: marked by class, icon and the word, not colour alone.
    let warning = second
        .split("<li class=\"event event-warning\">")
        .nth(1)
        .expect("a warning event");
    assert!(warning.contains("Warning</span> Failed sign-in attempt"));
    assert!(warning.contains("<svg"));
}

// ---------------------------------------------------------------------------------------------
// Admin

#[tokio::test]
async fn admin_pages_are_403_for_members() {
    let app = spawn_app().await;
    signup(&app, &app.new_browser(), ANN, PASSWORD).await;
    signup(&app, &app.new_browser(), BOB, PASSWORD).await;
    let bob = app.signed_in_browser(BOB).await;
    for path in [
        "/dashboard/admin/users",
        "/dashboard/admin/activity",
        "/dashboard/admin",
    ] {
        let (status, html) = get_html(&app, &bob, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(html.contains("administrators"));
    }
    let token = csrf(&app, &bob).await;
    let ann = user(&app, ANN).await;
    let res = post(
        &app,
        &bob,
        &format!("/dashboard/admin/users/{}/disable", ann.id),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(user(&app, ANN).await.disabled_at.is_none());
    let res = post(
        &app,
        &bob,
        &format!(
            "/dashboard/admin/users/{}/make_admin",
            user(&app, BOB).await.id
        ),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert!(!user(&app, BOB).await.is_admin);
}

#[tokio::test]
async fn an_admin_disabling_a_user_ends_their_keys_and_session() {
    // Arrange: Ann (first, admin) and Bob, with a key that both instances have cached.
    let app = spawn_app().await;
    let other = spawn_sibling(&app).await;
    signup(&app, &app.new_browser(), ANN, PASSWORD).await;
    signup(&app, &app.new_browser(), BOB, PASSWORD).await;
    let bob_browser = app.signed_in_browser(BOB).await;
    let key = create_key(&app, &bob_browser, "Bob's key", "live", &["read"]).await;
    assert_eq!(me_status(&app, &key).await, 200);
    assert_eq!(me_status(&other, &key).await, 200);
    let admin = app.signed_in_browser(ANN).await;
    let (status, users) = get_html(&app, &admin, "/dashboard/admin/users").await;
    assert_eq!(status, 200);
    assert!(users.contains(BOB) && users.contains("(you)"));
    let token = input_value(&users, "csrf").unwrap();
    let bob = user(&app, BOB).await;

    // Act
    let res = post(
        &app,
        &admin,
        &format!("/dashboard/admin/users/{}/disable", bob.id),
        &[("csrf", &token)],
    )
    .await;

    // Assert: at once here, within the cache delay (2 s) on the other instance.
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/admin/users");
    assert_eq!(me_status(&app, &key).await, 401);
    let started = Instant::now();
    while me_status(&other, &key).await != 401 {
        assert!(
            started.elapsed() < latch::api_keys::CACHE_TTL + Duration::from_secs(1),
            "the other instance still accepts the key"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !is_signed_in(&app, &bob_browser).await,
        "Bob's session ended"
    );
    assert_eq!(
        app.sign_in(&app.new_browser(), BOB, PASSWORD, "/")
            .await
            .status(),
        401
    );
    let ann_id = user(&app, ANN).await.id;
    assert!(
        events_of(&app, &bob.id)
            .await
            .iter()
            .any(|e| e.kind == "user.disabled" && e.actor.as_deref() == Some(ann_id.as_str()))
    );

    // An admin cannot lock themselves out.
    let ann = user(&app, ANN).await;
    for action in ["disable", "remove_admin"] {
        let res = post(
            &app,
            &admin,
            &format!("/dashboard/admin/users/{}/{action}", ann.id),
            &[("csrf", &token)],
        )
        .await;
        assert_eq!(res.status(), 403, "{action}");
    }
    let ann = user(&app, ANN).await;
    assert!(ann.is_admin && ann.disabled_at.is_none());

    // Enabling lets Bob sign in again (his old session stays void); making him admin works.
    for action in ["enable", "make_admin"] {
        let res = post(
            &app,
            &admin,
            &format!("/dashboard/admin/users/{}/{action}", bob.id),
            &[("csrf", &token)],
        )
        .await;
        assert_eq!(res.status(), 303, "{action}");
    }
    assert!(!is_signed_in(&app, &bob_browser).await);
    let bob = user(&app, BOB).await;
    assert!(bob.is_admin && bob.disabled_at.is_none());
    assert_eq!(
        app.sign_in(&app.new_browser(), BOB, PASSWORD, "/")
            .await
            .status(),
        303
    );
    let (_, activity) = get_html(&app, &admin, "/dashboard/admin/activity").await;
    assert!(activity.contains("Account disabled by an admin"));
    assert!(activity.contains(BOB));
}

#[tokio::test]
async fn entity_rows_hold_no_plaintext_client_secret() {
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = csrf(&app, &b).await;
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &token),
            ("name", "Machine"),
            ("kind", "confidential"),
            ("mode", "live"),
            ("grant_client_credentials", "on"),
        ],
    )
    .await;
    let html = res.text().await.unwrap();
    let secret = code_by_id(&html, "client-secret").unwrap();
    let rows = entity::client::Entity::find()
        .filter(entity::client::Column::Name.eq("Machine"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!format!("{:?}", rows[0]).contains(&secret[3..]));
}

// ---------------------------------------------------------------------------------------------
// Screenshots (README): `cargo test --test api dashboard::render_pages_for_screenshots -- --ignored`
// writes real pages (CSS and JS beside them) to `$LATCH_SHOTS_DIR` (default /tmp/latch-shots),
// for headless Chromium to photograph from file:// URLs.

#[tokio::test]
#[ignore = "writes HTML files for the README screenshots"]
async fn render_pages_for_screenshots() {
    let dir = std::path::PathBuf::from(
        std::env::var("LATCH_SHOTS_DIR").unwrap_or_else(|_| "/tmp/latch-shots".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("latch.css"), latch::pages::CSS).unwrap();
    std::fs::write(dir.join("latch.js"), latch::pages::JS).unwrap();
    let v = latch::pages::asset_version();
    let save = |name: &str, html: &str| {
        let html = html
            .replace(&format!("/static/latch.css?v={v}"), "latch.css")
            .replace(&format!("/static/latch.js?v={v}"), "latch.js");
        std::fs::write(dir.join(format!("{name}.html")), html).unwrap();
    };

    let app = spawn_app().await;
    signup(&app, &app.new_browser(), "ann@acme.dev", PASSWORD).await;
    signup(&app, &app.new_browser(), "bob@acme.dev", PASSWORD).await;
    let b = app.signed_in_browser("ann@acme.dev").await;
    let ci = create_key(&app, &b, "CI deploys", "test", &["read"]).await;
    let billing = create_key(&app, &b, "Billing worker", "test", &["read", "write"]).await;
    me_status(&app, &billing).await;
    me_status(&app, &ci).await;
    let staging = create_key(&app, &b, "Staging server", "test", &["read", "write"]).await;
    let token = csrf(&app, &b).await;
    let row = key_row(&app, &staging).await;
    let res = post(
        &app,
        &b,
        &format!("/dashboard/keys/{}/roll", row.id),
        &[("csrf", &token), ("expires_in", "24h")],
    )
    .await;
    save("key-rolled", &res.text().await.unwrap());
    create_key(&app, &b, "Production API", "live", &["read", "write"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let csrf_now = csrf(&app, &b).await;
    let res = post(
        &app,
        &b,
        "/dashboard/keys",
        &[
            ("csrf", &csrf_now),
            ("name", "Analytics export"),
            ("mode", "test"),
            ("scope_read", "on"),
        ],
    )
    .await;
    save("key-created", &res.text().await.unwrap());
    let res = post(
        &app,
        &b,
        "/dashboard/apps",
        &[
            ("csrf", &csrf_now),
            ("name", "Acme Analytics"),
            ("kind", "confidential"),
            ("mode", "test"),
            ("grant_authorization_code", "on"),
            ("grant_refresh_token", "on"),
            ("redirect_uris", "https://analytics.acme.dev/oauth/callback"),
        ],
    )
    .await;
    let created = res.text().await.unwrap();
    save("app-created", &created);
    let client_id = code_by_id(&created, "client-id").unwrap();
    // A third-party app asks Ann for access: the consent screen.
    let third = app
        .create_client(ClientSpec {
            name: "Photo Printer Pro",
            redirect_uris: vec!["https://photoprinter.example/oauth/callback"],
            livemode: true,
            ..ClientSpec::default()
        })
        .await;
    let (_, challenge) = pkce_pair();
    let url = app.authorize_url(&[
        ("client_id", &third.id),
        ("redirect_uri", &third.redirect_uri),
        ("response_type", "code"),
        ("scope", "openid profile email read"),
        ("state", "xyz"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let res = b.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    save("consent", &res.text().await.unwrap());
    code_flow_tokens(&app, &app.confidential_client().await, "ann@acme.dev").await;
    app.sign_in(&app.new_browser(), "ann@acme.dev", "wrong password", "/")
        .await;
    for (name, path) in [
        ("overview", "/dashboard".to_owned()),
        ("api-keys", "/dashboard/keys?mode=test".to_owned()),
        ("api-keys-live", "/dashboard/keys?mode=live".to_owned()),
        ("key-new", "/dashboard/keys/new?mode=test".to_owned()),
        ("key", format!("/dashboard/keys/{}", row.id)),
        ("key-revoke", format!("/dashboard/keys/{}/revoke", row.id)),
        ("apps", "/dashboard/apps".to_owned()),
        ("app-new", "/dashboard/apps/new".to_owned()),
        ("app", format!("/dashboard/apps/{client_id}")),
        ("authorized", "/dashboard/authorized".to_owned()),
        ("activity", "/dashboard/activity".to_owned()),
        ("settings", "/dashboard/settings/password".to_owned()),
        ("users", "/dashboard/admin/users".to_owned()),
        ("server-activity", "/dashboard/admin/activity".to_owned()),
    ] {
        let (status, html) = get_html(&app, &b, &path).await;
        assert_eq!(status, 200, "{path}");
        save(name, &html);
    }
    let (_, signup_page) = get_html(&app, &app.new_browser(), "/signup").await;
    save("signup", &signup_page);
    let (_, done) = get_html(&app, &app.new_browser(), "/signup/done").await;
    save("signup-done", &done);
}
