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

mod accounts;
mod admin;
mod admin_apis;
mod app_dpop;
mod apps;
mod keys;
mod pages;

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

/// The POST that made a secret answers 303 to its one view (POST-redirect-GET, #15):
/// follow it, as a browser does.
async fn shown_once(
    app: &TestApp,
    browser: &reqwest::Client,
    res: reqwest::Response,
) -> reqwest::Response {
    assert_eq!(res.status(), 303, "a new secret is shown after a redirect");
    assert_eq!(
        res.headers().get("location").expect("location"),
        "/dashboard/shown-once"
    );
    browser
        .get(app.url("/dashboard/shown-once"))
        .send()
        .await
        .expect("GET")
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
    let csrf = page_csrf(app, browser, "/dashboard").await;
    let mut form = vec![("csrf", csrf.as_str()), ("name", name), ("mode", mode)];
    // `read write` is a secret key (full access); `read` alone a restricted key with Read
    // on the Latch API.
    let secret_kind = scopes.contains(&"write");
    if secret_kind {
        form.push(("kind", "secret"));
    } else {
        form.push(("kind", "restricted"));
        form.push(("access_api_latch", "read"));
    }
    let res = post(app, browser, "/dashboard/keys", &form).await;
    let res = shown_once(app, browser, res).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("cache-control").unwrap(),
        "no-store",
        "a page with a secret must not be cached"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("You won't see it again"));
    let secret = code_by_id(&html, "secret-key").expect("the secret on the page");
    let kind = if secret_kind { "sk" } else { "rk" };
    assert!(secret.starts_with(&format!("{kind}_{mode}_")), "{secret}");
    secret
}

async fn key_row(app: &TestApp, secret: &str) -> entity::api_key::Model {
    latch::store::api_keys::by_hash(&app.db, &latch::crypto::sha256_hex(secret))
        .await
        .expect("readable")
        .expect("the key's row")
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
    let res = app.redeem_code(client, &code, &verifier).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
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
    let token = page_csrf(&app, &b, "/dashboard").await;
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
    let csrf_now = page_csrf(&app, &b, "/dashboard").await;
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
    let res = shown_once(&app, &b, res).await;
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
