//! The consent screen tells the truth about the app (#15 item 6): who registered it (the
//! operator, an admin, or "a Latch user" with its homepage's domain), an "Unverified app"
//! notice for a user's app until an admin verifies it (dashboard or CLI, each an audit
//! event), the OpenID client metadata people see (`logo_uri`, `client_uri`, `policy_uri`,
//! `tos_uri`: validated at `/v1` and on the dashboard), logos fetched and served by Latch
//! (never hot-linked; SVG and oversize images refused), and scopes picked in the app form.

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::*;

const CB: &str = "https://app.example.com/callback";
const ADMIN: &str = "admin@example.com";
const MALLORY: &str = "mallory@example.com";
const ANN: &str = "ann@example.com";

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x60, 0x60, 0xF8, 0x0F,
    0x00, 0x01, 0x04, 0x01, 0x00, 0x5F, 0xE5, 0xC3, 0x4B, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E,
    0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// An admin, a member who registers apps, and a member who is asked to authorize them.
async fn people(app: &TestApp) -> entity::user::Model {
    latch::users::create(&app.db, ADMIN, PASSWORD, true)
        .await
        .expect("admin");
    app.create_user(ANN, PASSWORD).await;
    app.create_user(MALLORY, PASSWORD).await
}

/// Register an app through `/v1/clients` with `owner`'s live secret key.
async fn v1_create(app: &TestApp, owner: &entity::user::Model, body: Value) -> reqwest::Response {
    let (_, key) = key_for(app, &owner.id, true, &[]).await;
    app.http
        .post(app.url("/v1/clients"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("POST /v1/clients")
}

async fn users_app(app: &TestApp, owner: &entity::user::Model, extra: Value) -> String {
    let mut body =
        json!({"name": "Totally Official Billing", "redirect_uris": [CB], "scopes": ["read"]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let res = v1_create(app, owner, body).await;
    assert_eq!(res.status(), 200);
    json(res).await["id"].as_str().expect("id").to_owned()
}

/// The consent page `ANN` sees for `client_id` (never answered, so it shows every time).
async fn consent_page(app: &TestApp, client_id: &str) -> String {
    let browser = app.signed_in_browser(ANN).await;
    let res = browser
        .get(app.authorize_url(&[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "read"),
            ("state", "xyz"),
        ]))
        .send()
        .await
        .expect("authorize");
    assert_eq!(res.status(), 200, "no consent page");
    res.text().await.expect("html")
}

async fn events_of(
    app: &TestApp,
    kind: latch::audit::AuditKind,
) -> Vec<entity::audit_event::Model> {
    entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Kind.eq(kind.as_str()))
        .all(&app.db)
        .await
        .expect("events")
}

#[tokio::test]
async fn a_users_app_is_unverified_until_an_admin_verifies_it_on_the_dashboard() {
    // Arrange: Mallory registers an app with an official-sounding name and her own links.
    let app = spawn_app().await;
    let mallory = people(&app).await;
    let id = users_app(
        &app,
        &mallory,
        json!({
            "client_uri": "https://billing.mallory.example/home",
            "policy_uri": "https://billing.mallory.example/privacy",
            "tos_uri": "https://billing.mallory.example/terms",
        }),
    )
    .await;

    // Act + Assert: the consent page says who registered it and that nobody vouched for it.
    let html = consent_page(&app, &id).await;
    assert!(html.contains("Unverified app"), "{html}");
    assert!(html.contains("Registered by a Latch user"), "{html}");
    assert!(
        html.contains("href=\"https://billing.mallory.example/home\" rel=\"noopener noreferrer\" target=\"_blank\">billing.mallory.example<"),
        "{html}"
    );
    for link in [
        "https://billing.mallory.example/privacy",
        "https://billing.mallory.example/terms",
    ] {
        assert!(
            html.contains(&format!(
                "href=\"{link}\" rel=\"noopener noreferrer\" target=\"_blank\""
            )),
            "{link} in {html}"
        );
    }

    // The admin sees it among the users' apps, unverified, and verifies it.
    let admin = app.signed_in_browser(ADMIN).await;
    let res = admin
        .get(app.url("/dashboard/admin/apps?show=users"))
        .send()
        .await
        .expect("page");
    let page = res.text().await.expect("html");
    assert!(page.contains(&id) && page.contains("Unverified"), "{page}");
    assert!(page.contains(MALLORY), "{page}");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let res = admin
        .post(app.url(&format!("/dashboard/admin/apps/{id}/verify")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("verify");
    assert_eq!(res.status(), 303);
    let html = consent_page(&app, &id).await;
    assert!(!html.contains("Unverified app"), "{html}");
    assert!(
        html.contains("a Latch user, verified by this service"),
        "{html}"
    );
    let verified = events_of(&app, latch::audit::AuditKind::ClientVerified).await;
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].user_id.as_deref(), Some(mallory.id.as_str()));

    // Without a CSRF token nothing changes; unverifying brings the notice back.
    let res = admin
        .post(app.url(&format!("/dashboard/admin/apps/{id}/unverify")))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .expect("unverify");
    assert_eq!(res.status(), 403);
    let res = admin
        .post(app.url(&format!("/dashboard/admin/apps/{id}/unverify")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("unverify");
    assert_eq!(res.status(), 303);
    assert!(consent_page(&app, &id).await.contains("Unverified app"));
    assert_eq!(
        events_of(&app, latch::audit::AuditKind::ClientUnverified)
            .await
            .len(),
        1
    );

    // A member cannot verify anything.
    let member = app.signed_in_browser(MALLORY).await;
    let csrf = page_csrf(&app, &member, "/dashboard").await;
    let res = member
        .post(app.url(&format!("/dashboard/admin/apps/{id}/verify")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("verify");
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_cli_verifies_and_unverifies_a_users_app() {
    let app = spawn_app().await;
    let mallory = people(&app).await;
    let id = users_app(&app, &mallory, json!({})).await;
    let latch = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_latch"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("LATCH_") {
                c.env_remove(k);
            }
        }
        let out = c
            .env("LATCH_DATABASE_URL", &app.test_db.url)
            .env(
                "LATCH_SECRET_KEY",
                latch::config::SecretKey::generate().to_base64(),
            )
            .args(args)
            .output()
            .expect("latch runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("json")
    };

    let v = latch(&["client", "verify", &id, "--json"]);
    assert!(v["verified_at"].is_number(), "{v}");
    // Another process changed the row: this instance sees it within its cache lifetime.
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let html = consent_page(&app, &id).await;
        if !html.contains("Unverified app") {
            break;
        }
        assert!(Instant::now() < deadline, "still unverified: {html}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        events_of(&app, latch::audit::AuditKind::ClientVerified)
            .await
            .len(),
        1
    );

    let v = latch(&["client", "unverify", &id, "--json"]);
    assert!(v["verified_at"].is_null(), "{v}");
    let deadline = Instant::now() + Duration::from_secs(6);
    while !consent_page(&app, &id).await.contains("Unverified app") {
        assert!(Instant::now() < deadline, "still verified");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let undone = events_of(&app, latch::audit::AuditKind::ClientUnverified).await;
    assert_eq!(undone.len(), 1);
    assert!(undone[0].detail.to_string().contains("cli"));
}

#[tokio::test]
async fn operator_and_admin_apps_count_as_verified_and_say_who_registered_them() {
    let app = spawn_app().await;
    people(&app).await;
    let operator = app.confidential_client().await;
    let html = consent_page(&app, &operator.id).await;
    assert!(
        html.contains("Registered by the operator of this service"),
        "{html}"
    );
    assert!(!html.contains("Unverified app"), "{html}");

    let admin = latch::store::users::by_email(&app.db, ADMIN)
        .await
        .expect("query")
        .expect("admin");
    let id = users_app(&app, &admin, json!({})).await;
    let html = consent_page(&app, &id).await;
    assert!(html.contains("an administrator of this service"), "{html}");
    assert!(!html.contains("Unverified app"), "{html}");
}

#[tokio::test]
async fn metadata_uris_are_validated_at_v1_and_on_the_dashboard() {
    let app = spawn_app().await;
    let mallory = people(&app).await;
    let long = format!("https://example.com/{}", "a".repeat(2000));
    for (param, bad) in [
        ("client_uri", "http://example.com/"),
        ("client_uri", "https://user:pw@example.com/"),
        ("policy_uri", "javascript:alert(1)"),
        ("tos_uri", "/relative/terms"),
        ("tos_uri", long.as_str()),
        ("logo_uri", "ftp://example.com/logo.png"),
    ] {
        let res = v1_create(
            &app,
            &mallory,
            json!({"name": "App", "redirect_uris": [CB], param: bad}),
        )
        .await;
        assert_eq!(res.status(), 400, "{param}={bad}");
        let body = json(res).await;
        assert_eq!(body["error"]["param"], param, "{body}");
    }

    // Set, then cleared with an empty value.
    let id = users_app(&app, &mallory, json!({"client_uri": "https://ok.example/"})).await;
    let (_, key) = key_for(&app, &mallory.id, true, &[]).await;
    let res = app
        .http
        .post(app.url(&format!("/v1/clients/{id}")))
        .bearer_auth(&key)
        .json(&json!({"client_uri": "", "policy_uri": "http://127.0.0.1:9/privacy"}))
        .send()
        .await
        .expect("update");
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert!(body["client_uri"].is_null(), "{body}");
    assert_eq!(body["policy_uri"], "http://127.0.0.1:9/privacy");

    // The dashboard form refuses the same and keeps what was typed.
    let browser = app.signed_in_browser(MALLORY).await;
    let csrf = page_csrf(&app, &browser, "/dashboard/apps/new").await;
    let res = browser
        .post(app.url("/dashboard/apps"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Form app"),
            ("kind", "confidential"),
            ("mode", "test"),
            ("grant_authorization_code", "on"),
            ("redirect_uris", CB),
            ("scopes_shown", "1"),
            ("scopes", "read"),
            ("client_uri", "http://not-https.example/"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 422);
    let html = res.text().await.expect("html");
    assert!(
        html.contains("Client_uri must be an absolute https://"),
        "{html}"
    );
    assert!(html.contains("value=\"http://not-https.example/\""));
}

/// A local HTTP server with a PNG, an SVG, an oversize PNG and an SVG that says it is a PNG.
async fn logo_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(|| {
        App::new()
            .route(
                "/logo.png",
                web::get().to(|| async { HttpResponse::Ok().content_type("image/png").body(PNG) }),
            )
            .route(
                "/logo.svg",
                web::get().to(|| async {
                    HttpResponse::Ok().content_type("image/svg+xml").body(
                        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
                    )
                }),
            )
            .route(
                "/big.png",
                web::get().to(|| async {
                    let mut b = PNG.to_vec();
                    b.resize(300 * 1024, 0);
                    HttpResponse::Ok().content_type("image/png").body(b)
                }),
            )
            .route(
                "/fake.png",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("image/png")
                        .body("<svg xmlns=\"http://www.w3.org/2000/svg\"/>")
                }),
            )
            .route(
                "/moved.png",
                web::get().to(|| async {
                    HttpResponse::Found()
                        .insert_header(("location", "/logo.png"))
                        .finish()
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_logo_is_fetched_stored_and_served_by_latch_never_hot_linked() {
    let app = spawn_app().await;
    let mallory = people(&app).await;
    let origin = logo_server().await;

    let logo_uri = format!("{origin}/moved.png");
    let id = users_app(&app, &mallory, json!({"logo_uri": logo_uri})).await;
    let stored = entity::client_logo::Entity::find_by_id(id.clone())
        .one(&app.db)
        .await
        .expect("query")
        .expect("the logo is stored");
    assert_eq!(stored.bytes, PNG);
    assert_eq!(stored.content_type, "image/png");

    let html = consent_page(&app, &id).await;
    assert!(
        !html.contains(&origin),
        "the consent page hot-links the logo: {html}"
    );
    let start = html.find("src=\"/logos/").expect("a logo served by Latch") + 5;
    let src = &html[start..start + html[start..].find('"').expect("end")];
    assert!(
        src.starts_with(&format!("/logos/{id}/")) && src.ends_with(".png"),
        "{src}"
    );

    // The owner's app page on the dashboard shows the same stored logo.
    let owner = app.signed_in_browser(MALLORY).await;
    let page = owner
        .get(app.url(&format!("/dashboard/apps/{id}")))
        .send()
        .await
        .expect("app page")
        .text()
        .await
        .expect("html");
    assert!(page.contains(&format!("src=\"{src}\"")), "{page}");
    assert!(
        !page.contains(&format!("src=\"{origin}")),
        "never hot-linked"
    );

    let res = app.http.get(app.url(src)).send().await.expect("logo");
    assert_eq!(res.status(), 200);
    let header = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("cache-control").contains("max-age=31536000"));
    assert_eq!(res.bytes().await.expect("bytes").as_ref(), PNG);
    // Another digest is not served.
    let res = app
        .http
        .get(app.url(&format!("/logos/{id}/0000000000000000.png")))
        .send()
        .await
        .expect("logo");
    assert_eq!(res.status(), 404);

    // Cleared: no logo any more, the initial again.
    let (_, key) = key_for(&app, &mallory.id, true, &[]).await;
    let res = app
        .http
        .post(app.url(&format!("/v1/clients/{id}")))
        .bearer_auth(&key)
        .json(&json!({"logo_uri": ""}))
        .send()
        .await
        .expect("update");
    assert_eq!(res.status(), 200);
    assert!(!consent_page(&app, &id).await.contains("/logos/"));
    assert_eq!(
        app.http
            .get(app.url(src))
            .send()
            .await
            .expect("logo")
            .status(),
        404
    );
}

#[tokio::test]
async fn svg_oversize_and_mislabelled_logos_are_refused_naming_logo_uri() {
    let app = spawn_app().await;
    let mallory = people(&app).await;
    let origin = logo_server().await;
    for (path, why) in [
        ("/logo.svg", "SVG"),
        ("/big.png", "256 KiB"),
        ("/fake.png", "not the image/png image"),
        ("/missing.png", "HTTP 404"),
    ] {
        let res = v1_create(
            &app,
            &mallory,
            json!({"name": "App", "redirect_uris": [CB], "logo_uri": format!("{origin}{path}")}),
        )
        .await;
        assert_eq!(res.status(), 400, "{path}");
        let body = json(res).await;
        assert_eq!(body["error"]["param"], "logo_uri", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{path}: {message}");
    }
    // Nothing was registered.
    let count = entity::client::Entity::find()
        .filter(entity::client::Column::OwnerId.eq(mallory.id.clone()))
        .all(&app.db)
        .await
        .expect("query")
        .len();
    assert_eq!(count, 0);

    // The dashboard form says so too.
    let browser = app.signed_in_browser(MALLORY).await;
    let csrf = page_csrf(&app, &browser, "/dashboard/apps/new").await;
    let logo = format!("{origin}/logo.svg");
    let res = browser
        .post(app.url("/dashboard/apps"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Form app"),
            ("kind", "confidential"),
            ("mode", "test"),
            ("grant_authorization_code", "on"),
            ("redirect_uris", CB),
            ("logo_uri", logo.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 422);
    assert!(res.text().await.expect("html").contains("logo_uri"));
}

#[tokio::test]
async fn a_private_address_is_never_fetched_when_the_issuer_is_public() {
    let app = spawn_app_with(|s| s.issuer = "https://auth.example.com".into()).await;
    let mallory = people(&app).await;
    let origin = logo_server().await;
    let res = v1_create(
        &app,
        &mallory,
        json!({"name": "App", "redirect_uris": [CB], "logo_uri": format!("{origin}/logo.png")}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let body = json(res).await;
    assert_eq!(body["error"]["param"], "logo_uri");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("private, local or reserved address"),
        "{body}"
    );
}

#[tokio::test]
async fn scopes_picked_in_the_dashboard_form_are_stored() {
    let app = spawn_app().await;
    people(&app).await;
    create_api(
        &app,
        "https://billing.example.com",
        "Billing API",
        &[("invoices:read", "See your invoices")],
        None,
    )
    .await;
    let browser = app.signed_in_browser(MALLORY).await;
    let res = browser
        .get(app.url("/dashboard/apps/new"))
        .send()
        .await
        .expect("form");
    let html = res.text().await.expect("html");
    assert!(html.contains("See your invoices") && html.contains("value=\"invoices:read\""));
    let csrf = input_value(&html, "csrf").expect("csrf");
    let res = browser
        .post(app.url("/dashboard/apps"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Invoice viewer"),
            ("kind", "confidential"),
            ("mode", "live"),
            ("grant_authorization_code", "on"),
            ("redirect_uris", CB),
            ("scopes_shown", "1"),
            ("scopes", "openid"),
            ("scopes", "invoices:read"),
            ("client_uri", "https://invoices.example/"),
        ])
        .send()
        .await
        .expect("POST");
    // Registered: the secret's one view is a redirect away (POST-redirect-GET).
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers().get("location").expect("location"),
        "/dashboard/shown-once"
    );
    let owner = latch::store::users::by_email(&app.db, MALLORY)
        .await
        .expect("query")
        .expect("user");
    let c = entity::client::Entity::find()
        .filter(entity::client::Column::OwnerId.eq(owner.id.clone()))
        .one(&app.db)
        .await
        .expect("query")
        .expect("client");
    let mut scopes: Vec<&str> = c.scopes.split(' ').collect();
    scopes.sort();
    assert_eq!(scopes, ["invoices:read", "openid"]);
    assert_eq!(c.client_uri.as_deref(), Some("https://invoices.example/"));

    // Edited: the picker shows what is held, and a new choice replaces it.
    let path = format!("/dashboard/apps/{}", c.id);
    let html = browser
        .get(app.url(&path))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("value=\"invoices:read\" checked"), "{html}");
    let csrf = input_value(&html, "csrf").expect("csrf");
    let res = browser
        .post(app.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Invoice viewer"),
            ("redirect_uris", CB),
            ("scopes_shown", "1"),
            ("scopes", "read"),
            ("client_uri", "https://invoices.example/"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 303);
    let c = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .expect("query")
        .expect("client");
    assert_eq!(c.scopes, "read");

    // None picked is refused.
    let res = browser
        .post(app.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Invoice viewer"),
            ("redirect_uris", CB),
            ("scopes_shown", "1"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), 422);
}
