//! Issue #12 item 6 on `/v1`: admins disable and enable users and clients
//! (`POST /v1/users/{id}/disable|enable`, `POST /v1/clients/{id}/disable|enable`); everyone
//! else is refused by the one rule (`Principal::allow_admin`). Effects hold on a second
//! instance within the documented delay.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;
use crate::helpers::{bearer_get as get, bearer_post as post};

const ADMIN: &str = "admin@example.com";
const BOB: &str = "bob@example.com";

async fn error_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("json error");
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

/// Wait until `f` holds on an instance, at most the cache TTL and a second.
async fn within_cache_ttl<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        assert!(
            started.elapsed() < latch::api_keys::CACHE_TTL + Duration::from_secs(1),
            "{what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_admin_disables_and_enables_a_user_on_v1() {
    // Arrange: Bob with a live key that both instances have cached.
    let app = spawn_app().await;
    let other = spawn_sibling(&app).await;
    let (admin, admin_key) = admin_key(&app).await;
    let bob = app.create_user(BOB, PASSWORD).await;
    let (_, bob_key) = key_for(&app, &bob.id, true, &[]).await;
    assert_eq!(get(&other, &bob_key, "/v1/users/me").await.status(), 200);
    let res = get(&app, &admin_key, &format!("/v1/users/{}", bob.id)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["disabled"], false);

    // Act
    let res = post(
        &app,
        &admin_key,
        &format!("/v1/users/{}/disable", bob.id),
        &[],
    )
    .await;

    // Assert: the user object says so; his key stops here at once, there within the TTL;
    // he cannot sign in; the event names the admin and the door.
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["disabled"], true);
    assert_eq!(body["id"], bob.id.as_str());
    assert_eq!(get(&app, &bob_key, "/v1/users/me").await.status(), 401);
    within_cache_ttl("the other instance still accepts Bob's key", || async {
        get(&other, &bob_key, "/v1/users/me").await.status() == 401
    })
    .await;
    assert_eq!(
        app.sign_in(&app.new_browser(), BOB, PASSWORD, "/")
            .await
            .status(),
        401
    );
    let events = latch::store::audit::page(
        &app.db,
        Some(&bob.id),
        latch::store::audit::ModeFilter::All,
        100,
        None,
    )
    .await
    .unwrap();
    let e = events
        .iter()
        .find(|e| e.kind == "user.disabled")
        .expect("user.disabled event");
    assert_eq!(e.actor.as_deref(), Some(admin.id.as_str()));
    assert!(e.detail.contains("\"via\":\"api\""), "{}", e.detail);

    // Disabling again changes nothing and records nothing.
    let res = post(
        &app,
        &admin_key,
        &format!("/v1/users/{}/disable", bob.id),
        &[],
    )
    .await;
    assert_eq!(res.status(), 200);

    // Act: enable.
    let res = post(
        &app,
        &admin_key,
        &format!("/v1/users/{}/enable", bob.id),
        &[],
    )
    .await;

    // Assert: he signs in again and his key works again.
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["disabled"], false);
    assert_eq!(
        app.sign_in(&app.new_browser(), BOB, PASSWORD, "/")
            .await
            .status(),
        303
    );
    assert_eq!(get(&app, &bob_key, "/v1/users/me").await.status(), 200);
    let events = latch::store::audit::page(
        &app.db,
        Some(&bob.id),
        latch::store::audit::ModeFilter::All,
        100,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        events.iter().filter(|e| e.kind == "user.disabled").count(),
        1
    );
    assert_eq!(
        events.iter().filter(|e| e.kind == "user.enabled").count(),
        1
    );
}

#[tokio::test]
async fn only_an_admins_api_key_disables_and_never_itself() {
    // Arrange
    let app = spawn_app().await;
    let (admin, admin_key) = admin_key(&app).await;
    let bob = app.create_user(BOB, PASSWORD).await;
    let (_, bob_key) = key_for(&app, &bob.id, true, &[]).await;
    let machine = app.machine_client().await;
    let client_token = client_credentials_token(&app, &machine, "read").await;
    let disable_admin = format!("/v1/users/{}/disable", admin.id);

    // Act + Assert: a member's key, a client's token: refused, nothing changes.
    for (cred, status, code) in [
        (bob_key.as_str(), 403, "admin_required"),
        (client_token.as_str(), 403, "user_required"),
    ] {
        let (s, c) = error_of(post(&app, cred, &disable_admin, &[]).await).await;
        assert_eq!((s, c.as_str()), (status, code));
        let (s, c) = error_of(get(&app, cred, &format!("/v1/users/{}", bob.id)).await).await;
        assert_eq!((s, c.as_str()), (status, code));
    }
    // The admin cannot disable themselves; an unknown or hostile id is a 404.
    let (s, c) = error_of(post(&app, &admin_key, &disable_admin, &[]).await).await;
    assert_eq!((s, c.as_str()), (400, "cannot_disable_self"));
    for id in ["user_nobody", "x%00y", "..%2F.."] {
        let res = post(&app, &admin_key, &format!("/v1/users/{id}/disable"), &[]).await;
        assert_eq!(res.status(), 404, "{id}");
    }
    assert!(
        latch::store::users::by_id(&app.db, &admin.id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at
            .is_none()
    );
}

#[tokio::test]
async fn an_admin_disables_and_enables_a_client_on_v1() {
    // Arrange: an operator client with a client_credentials token both instances accept.
    let app = spawn_app().await;
    let other = spawn_sibling(&app).await;
    let (_, admin_key) = admin_key(&app).await;
    let bob = app.create_user(BOB, PASSWORD).await;
    let (_, bob_key) = key_for(&app, &bob.id, true, &[]).await;
    let machine = app.machine_client().await;
    let token = client_credentials_token(&app, &machine, "read").await;
    let resource_server = app
        .create_client(ClientSpec {
            resource_server: true,
            grant_types: vec!["client_credentials"],
            redirect_uris: vec![],
            ..ClientSpec::default()
        })
        .await;
    let active_for = |app: &TestApp| {
        let url = app.url("/oauth/introspect");
        let http = app.http.clone();
        let (id, secret) = (
            resource_server.id.clone(),
            resource_server.secret().to_owned(),
        );
        let token = token.clone();
        async move {
            let res = http
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()["active"] == true
        }
    };
    assert!(active_for(&other).await);
    let path = format!("/v1/clients/{}/disable", machine.id);

    // A member's key cannot, even though the rule would let it read its own apps.
    let (s, c) = error_of(post(&app, &bob_key, &path, &[]).await).await;
    assert_eq!((s, c.as_str()), (403, "admin_required"));

    // Act
    let res = post(&app, &admin_key, &path, &[]).await;

    // Assert: no new tokens; the token it holds is inactive here and, within the row
    // caches' TTL, on the other instance.
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["disabled"], true);
    expect_oauth_error(
        app.post_token_basic(
            &machine.id,
            machine.secret(),
            &[("grant_type", "client_credentials")],
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    assert!(!active_for(&app).await);
    within_cache_ttl("the other instance still accepts the token", || async {
        !active_for(&other).await
    })
    .await;

    // Act: enable; Assert: the same token is accepted again, and new ones are issued.
    let res = post(
        &app,
        &admin_key,
        &format!("/v1/clients/{}/enable", machine.id),
        &[],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["disabled"], false);
    assert!(active_for(&app).await);
    client_credentials_token(&app, &machine, "read").await;
}

// ---------------------------------------------------------------------------------------------
// Resource-server clients (#15 item 5): made by admins on /v1 and the dashboard only.

#[tokio::test]
async fn only_admins_register_resource_servers_and_theirs_introspect() {
    // Arrange
    let app = spawn_app().await;
    let (_, admin_key) = admin_key(&app).await;
    let bob = app.create_user(BOB, PASSWORD).await;
    let (_, bob_key) = key_for(&app, &bob.id, true, &[]).await;
    let form = [("name", "Billing API"), ("resource_server", "true")];

    // Act + Assert: a member's key is refused and nothing is made.
    let (s, c) = error_of(post(&app, &bob_key, "/v1/clients", &form).await).await;
    assert_eq!((s, c.as_str()), (403, "admin_required"));
    let list = json(get(&app, &bob_key, "/v1/clients").await).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0));

    // Act: the admin's key makes one, with no redirect URI.
    let res = post(&app, &admin_key, "/v1/clients", &form).await;

    // Assert: a confidential client with client_credentials; it introspects a token it
    // did not obtain.
    assert_eq!(res.status(), 200);
    let rs = json(res).await;
    assert_eq!(rs["resource_server"], true);
    assert_eq!(rs["grant_types"], serde_json::json!(["client_credentials"]));
    let other = app.machine_client().await;
    let token = client_credentials_token(&app, &other, "read").await;
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(rs["id"].as_str().unwrap(), rs["secret"].as_str())
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["active"], true);
}

#[tokio::test]
async fn the_dashboard_offers_resource_servers_to_admins_only() {
    // Arrange
    let app = spawn_app().await;
    latch::users::create(&app.db, ADMIN, PASSWORD, true)
        .await
        .unwrap();
    app.create_user(BOB, PASSWORD).await;
    let admin = app.signed_in_browser(ADMIN).await;
    let bob = app.signed_in_browser(BOB).await;
    let page = |b: reqwest::Client| {
        let app = &app;
        async move {
            b.get(app.url("/dashboard/apps/new"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let admin_form = page(admin.clone()).await;
    let bob_form = page(bob.clone()).await;
    assert!(admin_form.contains("value=\"resource_server\""));
    assert!(!bob_form.contains("value=\"resource_server\""));
    let submit = |b: reqwest::Client, csrf: String| {
        let app = &app;
        async move {
            b.post(app.url("/dashboard/apps"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("name", "Billing API"),
                    ("kind", "resource_server"),
                    ("mode", "live"),
                    ("scopes_shown", "1"),
                    ("scopes", "read"),
                ])
                .send()
                .await
                .unwrap()
        }
    };

    // Act + Assert: Bob's forged form is refused; the admin's makes one.
    let res = submit(bob, input_value(&bob_form, "csrf").unwrap()).await;
    assert_eq!(res.status(), 403);
    let res = submit(admin.clone(), input_value(&admin_form, "csrf").unwrap()).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    use sea_orm::EntityTrait;
    let made = entity::client::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(made.len(), 1, "only the admin's");
    assert!(made[0].resource_server && !made[0].is_public);
    assert_eq!(made[0].grant_types, "client_credentials");
    assert_eq!(made[0].redirect_uris, "");
}
