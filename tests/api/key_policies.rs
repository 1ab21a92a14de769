//! Restricted keys and key policies (issue #11, DESIGN.md "Your own APIs"): secret vs
//! restricted keys on `/v1` and in introspection, expiry, use caps with refills (on the
//! manual clock), IP allowlists, metadata, and caps shared by two instances.

use serde_json::json;

use crate::helpers::*;
use crate::helpers::{bearer_get as get, bearer_post as post};

async fn setup() -> (TestApp, entity::user::Model, String) {
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, false, &["read", "write"]).await;
    (app, user, key)
}

/// Create a key through `/v1` with `form`; returns the object (with `secret`).
async fn make_key(app: &TestApp, with: &str, form: &[(&str, &str)]) -> serde_json::Value {
    let res = post(app, with, "/v1/api_keys", form).await;
    let status = res.status();
    let v = json(res).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn secret(v: &serde_json::Value) -> String {
    v["secret"].as_str().expect("secret").to_owned()
}

async fn introspect(app: &TestApp, rs: &TestClient, token: &str) -> serde_json::Value {
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&rs.id, rs.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    json(res).await
}

async fn resource_server(app: &TestApp) -> TestClient {
    app.create_client(ClientSpec {
        resource_server: true,
        grant_types: vec!["client_credentials"],
        redirect_uris: vec![],
        scopes: vec!["read"],
        livemode: false,
        ..ClientSpec::default()
    })
    .await
}

#[tokio::test]
async fn a_restricted_key_is_refused_outside_its_scopes_and_allowed_inside() {
    // Arrange
    let (app, _, full) = setup().await;
    create_api(
        &app,
        "https://invoices.example.com",
        "Invoices",
        &[("invoices:read", "Read invoices")],
        None,
    )
    .await;
    let invoices = make_key(&app, &full, &[("scopes[]", "invoices:read")]).await;
    let keys_reader = make_key(&app, &full, &[("scopes[]", "api_keys:read")]).await;

    // Act
    let outside = get(&app, &secret(&invoices), "/v1/api_keys").await;
    let users = get(&app, &secret(&invoices), "/v1/users").await;
    let inside = get(&app, &secret(&keys_reader), "/v1/api_keys").await;
    let write = post(
        &app,
        &secret(&keys_reader),
        "/v1/api_keys",
        &[("scopes[]", "api_keys:read")],
    )
    .await;

    // Assert
    assert!(secret(&invoices).starts_with("rk_test_"));
    assert_eq!(invoices["type"], "restricted");
    assert_eq!(invoices["scopes"], json!(["invoices:read"]));
    assert!(
        invoices["redacted"]
            .as_str()
            .unwrap()
            .starts_with("rk_test_")
    );
    assert_eq!(outside.status(), 403);
    assert_eq!(json(outside).await["error"]["code"], "insufficient_scope");
    assert_eq!(users.status(), 403);
    assert_eq!(inside.status(), 200);
    assert_eq!(write.status(), 403);
}

#[tokio::test]
async fn a_secret_key_holds_every_scope_including_an_api_created_after_it() {
    // Arrange
    let (app, _, full) = setup().await;
    let rs = resource_server(&app).await;
    let sk = make_key(&app, &full, &[("name", "everything")]).await;

    // Act
    create_api(
        &app,
        "https://reports.example.com",
        "Reports",
        &[("reports:run", "Run reports")],
        None,
    )
    .await;
    let v = introspect(&app, &rs, &secret(&sk)).await;
    let listed = json(
        get(
            &app,
            &full,
            &format!("/v1/api_keys/{}", sk["id"].as_str().unwrap()),
        )
        .await,
    )
    .await;

    // Assert
    assert!(secret(&sk).starts_with("sk_test_"));
    assert_eq!(sk["type"], "secret");
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "api_key");
    let scope = v["scope"].as_str().unwrap();
    assert!(scope.split(' ').any(|s| s == "reports:run"), "{v}");
    assert!(scope.split(' ').any(|s| s == "read"), "{v}");
    assert!(
        listed["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("reports:run"))
    );
}

#[tokio::test]
async fn a_restricted_key_cannot_mint_a_secret_key_and_unknown_scopes_are_named() {
    // Arrange
    let (app, _, full) = setup().await;
    let manager = make_key(
        &app,
        &full,
        &[
            ("scopes[]", "api_keys:write"),
            ("scopes[]", "api_keys:read"),
        ],
    )
    .await;

    // Act
    let secret_attempt = post(&app, &secret(&manager), "/v1/api_keys", &[("name", "x")]).await;
    let narrower = post(
        &app,
        &secret(&manager),
        "/v1/api_keys",
        &[("scopes[]", "api_keys:read")],
    )
    .await;
    let unknown = post(
        &app,
        &full,
        "/v1/api_keys",
        &[("scopes[]", "invoices:frobnicate")],
    )
    .await;
    let openid = post(&app, &full, "/v1/api_keys", &[("scopes[]", "openid")]).await;

    // Assert
    assert_eq!(secret_attempt.status(), 403);
    assert_eq!(
        json(secret_attempt).await["error"]["code"],
        "insufficient_scope"
    );
    assert_eq!(narrower.status(), 200);
    assert_eq!(unknown.status(), 400);
    let e = json(unknown).await;
    assert_eq!(e["error"]["param"], "scopes");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invoices:frobnicate"),
        "{e}"
    );
    assert_eq!(openid.status(), 400);
}

#[tokio::test]
async fn rolling_keeps_the_type_and_prefix_kind() {
    // Arrange
    let (app, _, full) = setup().await;
    let rk = make_key(
        &app,
        &full,
        &[("scopes[]", "read"), ("metadata[team]", "ops")],
    )
    .await;
    let id = rk["id"].as_str().unwrap();

    // Act
    let rolled = json(post(&app, &full, &format!("/v1/api_keys/{id}/roll"), &[]).await).await;

    // Assert
    assert!(secret(&rolled).starts_with("rk_test_"), "{rolled}");
    assert_eq!(rolled["type"], "restricted");
    assert_eq!(rolled["scopes"], json!(["read"]));
    assert_eq!(rolled["metadata"]["team"], "ops");
}

#[tokio::test]
async fn an_expired_key_gets_401_expired_api_key() {
    // Arrange
    let (app, _, full) = setup().await;
    let at = (app.state.clock.now().timestamp() + 100).to_string();
    let k = make_key(&app, &full, &[("scopes[]", "read"), ("expires_at", &at)]).await;
    let past = (app.state.clock.now().timestamp() - 1).to_string();

    // Act
    let before = get(&app, &secret(&k), "/v1/api_keys").await;
    app.advance(101);
    let after = get(&app, &secret(&k), "/v1/api_keys").await;
    let in_past = post(&app, &full, "/v1/api_keys", &[("expires_at", &past)]).await;

    // Assert
    assert_eq!(k["expires_at"], json!(at.parse::<i64>().unwrap()));
    assert_eq!(before.status(), 200);
    assert_eq!(after.status(), 401);
    assert_eq!(json(after).await["error"]["code"], "expired_api_key");
    assert_eq!(in_past.status(), 400);
    assert_eq!(json(in_past).await["error"]["param"], "expires_at");
}

#[tokio::test]
async fn a_capped_key_stops_at_zero_and_a_refill_restores_it_at_the_boundary() {
    // Arrange
    let (app, _, full) = setup().await;
    let capped = make_key(&app, &full, &[("scopes[]", "read"), ("remaining", "3")]).await;
    let refilled = make_key(
        &app,
        &full,
        &[
            ("scopes[]", "read"),
            ("remaining", "2"),
            ("refill[amount]", "2"),
            ("refill[interval]", "day"),
        ],
    )
    .await;

    // Act
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(
            get(&app, &secret(&capped), "/v1/api_keys")
                .await
                .status()
                .as_u16(),
        );
    }
    let exhausted = get(&app, &secret(&capped), "/v1/api_keys").await;
    for _ in 0..2 {
        assert_eq!(
            get(&app, &secret(&refilled), "/v1/api_keys").await.status(),
            200
        );
    }
    let waiting = get(&app, &secret(&refilled), "/v1/api_keys").await;
    let retry: i64 = waiting.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = json(waiting).await;
    app.advance(retry);
    let after_refill: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                get(&app, &secret(&refilled), "/v1/api_keys")
                    .await
                    .status()
                    .as_u16(),
            );
        }
        v
    };

    // Assert
    assert_eq!(capped["remaining"], 3);
    assert_eq!(refilled["refill"]["amount"], 2);
    assert_eq!(refilled["refill"]["interval"], "day");
    assert_eq!(codes, vec![200, 200, 200, 429]);
    assert!(exhausted.headers().get("retry-after").is_none());
    let e = json(exhausted).await;
    assert_eq!(e["error"]["type"], "rate_limit_error");
    assert_eq!(e["error"]["code"], "usage_exhausted");
    assert_eq!(body["error"]["code"], "usage_exhausted");
    assert!((1..=86_400).contains(&retry), "{retry}");
    assert_eq!(after_refill, vec![200, 200, 429]);
}

#[tokio::test]
async fn an_update_sets_and_clears_policies() {
    // Arrange
    let (app, _, full) = setup().await;
    let k = make_key(&app, &full, &[("scopes[]", "read"), ("remaining", "0")]).await;
    let id = k["id"].as_str().unwrap();
    assert_eq!(get(&app, &secret(&k), "/v1/api_keys").await.status(), 429);

    // Act
    let res = app
        .http
        .post(app.url(&format!("/v1/api_keys/{id}")))
        .bearer_auth(&full)
        .json(&json!({"remaining": "", "metadata": {"env": "ci"}, "allowed_ips": ["10.0.0.0/8", "2001:db8::/32"]}))
        .send()
        .await
        .unwrap();
    let v = json(res).await;
    let bad_ip = post(
        &app,
        &full,
        &format!("/v1/api_keys/{id}"),
        &[("allowed_ips[]", "10.0.0.300")],
    )
    .await;
    let bad_md = post(
        &app,
        &full,
        &format!("/v1/api_keys/{id}"),
        &[("metadata[x]", &"v".repeat(501))],
    )
    .await;

    // Assert
    assert_eq!(v["remaining"], serde_json::Value::Null, "{v}");
    assert_eq!(v["metadata"], json!({"env": "ci"}));
    assert_eq!(v["allowed_ips"], json!(["10.0.0.0/8", "2001:db8::/32"]));
    assert_eq!(bad_ip.status(), 400);
    assert_eq!(json(bad_ip).await["error"]["param"], "allowed_ips");
    assert_eq!(bad_md.status(), 400);
}

#[tokio::test]
async fn an_allowlisted_key_is_refused_from_another_address() {
    // Arrange
    let (app, _, full) = setup().await;
    let k = make_key(
        &app,
        &full,
        &[("scopes[]", "read"), ("allowed_ips[]", "127.0.0.1/32")],
    )
    .await;
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();

    // Act
    let here = get(&app, &secret(&k), "/v1/api_keys").await;
    let there = elsewhere
        .get(app.url("/v1/api_keys"))
        .bearer_auth(secret(&k))
        .send()
        .await
        .unwrap();
    let plain_there = elsewhere
        .get(app.url("/v1/api_keys"))
        .bearer_auth(&full)
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(here.status(), 200);
    assert_eq!(there.status(), 403);
    let e = json(there).await;
    assert_eq!(e["error"]["type"], "permission_error");
    assert_eq!(e["error"]["code"], "ip_not_allowed");
    assert_eq!(plain_there.status(), 200);
}

#[tokio::test]
async fn introspection_of_a_key_answers_its_metadata_scope_and_expiry() {
    // Arrange
    let (app, user, full) = setup().await;
    let rs = resource_server(&app).await;
    let at = app.state.clock.now().timestamp() + 3600;
    let k = make_key(
        &app,
        &full,
        &[
            ("scopes[]", "read"),
            ("metadata[customer]", "acme"),
            ("expires_at", &at.to_string()),
        ],
    )
    .await;

    // Act
    let v = introspect(&app, &rs, &secret(&k)).await;

    // Assert
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "api_key");
    assert_eq!(v["scope"], "read");
    assert_eq!(v["sub"], user.id);
    assert_eq!(v["livemode"], false);
    assert_eq!(v["metadata"], json!({"customer": "acme"}));
    assert_eq!(v["exp"], at);
}

#[tokio::test]
async fn a_cap_holds_exactly_across_two_instances() {
    // Arrange
    let (a, _, full) = setup().await;
    let b = spawn_sibling(&a).await;
    const CAP: usize = 40;
    let k = make_key(
        &a,
        &full,
        &[("scopes[]", "read"), ("remaining", &CAP.to_string())],
    )
    .await;
    let key = secret(&k);

    // Act: alternate, then call each until it is refused.
    let mut ok = 0;
    let mut done = [false, false];
    while !(done[0] && done[1]) {
        for (i, app) in [&a, &b].into_iter().enumerate() {
            if done[i] {
                continue;
            }
            match get(app, &key, "/v1/api_keys").await.status().as_u16() {
                200 => ok += 1,
                429 => done[i] = true,
                other => panic!("unexpected {other}"),
            }
        }
    }

    // Assert
    assert_eq!(ok, CAP);
}

#[tokio::test]
async fn a_key_expiring_soon_gets_one_audit_event_per_threshold() {
    // Arrange
    let (app, user, full) = setup().await;
    let at = app.state.clock.now().timestamp() + 6 * 86_400;
    make_key(
        &app,
        &full,
        &[("scopes[]", "read"), ("expires_at", &at.to_string())],
    )
    .await;

    // Act
    latch::sweeper::notify_expiring_keys(&app.db, app.state.clock.now())
        .await
        .unwrap();
    latch::sweeper::notify_expiring_keys(&app.db, app.state.clock.now())
        .await
        .unwrap();
    app.advance(5 * 86_400 + 60);
    latch::sweeper::notify_expiring_keys(&app.db, app.state.clock.now())
        .await
        .unwrap();
    latch::sweeper::notify_expiring_keys(&app.db, app.state.clock.now())
        .await
        .unwrap();

    // Assert
    let rows = <entity::audit_event::Entity as sea_orm::EntityTrait>::find()
        .all(&app.db)
        .await
        .unwrap();
    let days: Vec<i64> = rows
        .iter()
        .filter(|e| e.kind == "api_key.expiring" && e.user_id.as_deref() == Some(&user.id))
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.detail).ok())
        .filter_map(|d| d["days"].as_i64())
        .collect();
    assert_eq!(days, vec![7, 1]);
}
