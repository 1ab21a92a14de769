//! `/v1/api_keys`, `/v1/clients`, `/v1/events`: SECURITY.md §4 (K1–K8), idempotency,
//! pagination and test/live isolation.

use serde_json::json;

use crate::helpers::*;
use crate::helpers::{bearer_get as get, bearer_post as post};

async fn setup() -> (TestApp, entity::user::Model, String) {
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, false, &["read", "write"]).await;
    (app, user, key)
}

#[tokio::test]
async fn api_keys_create_shows_the_secret_once_and_stores_only_its_digest() {
    // Arrange
    let (app, _, key) = setup().await;
    // Act
    let res = post(
        &app,
        &key,
        "/v1/api_keys",
        &[("name", "CI deploy"), ("scopes[]", "read")],
    )
    .await;
    // Assert (K1)
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    let secret = v["secret"]
        .as_str()
        .expect("secret in the create response")
        .to_owned();
    assert!(
        secret.starts_with("rk_test_"),
        "a key with scopes is restricted"
    );
    assert_eq!(v["object"], "api_key");
    assert_eq!(v["type"], "restricted");
    assert_eq!(v["scopes"], json!(["read"]));
    assert_eq!(
        v["redacted"],
        format!("rk_test_…{}", &secret[secret.len() - 4..])
    );
    let id = v["id"].as_str().unwrap();
    let again = get(&app, &key, &format!("/v1/api_keys/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let list = get(&app, &key, "/v1/api_keys").await.text().await.unwrap();
    assert!(
        !again.contains(&secret) && !list.contains(&secret),
        "the secret is never shown again"
    );
    assert!(!again.contains("\"secret\":"));
    // K2: the database holds the digest, never the plaintext.
    let rows = <entity::api_key::Entity as sea_orm::EntityTrait>::find()
        .all(&app.db)
        .await
        .unwrap();
    let dump = format!("{rows:?}");
    assert!(!dump.contains(&secret[8..]));
    assert!(dump.contains(&latch::crypto::sha256_hex(&secret)));
    // The new key works.
    assert_eq!(get(&app, &secret, "/v1/users/me").await.status(), 200);
}

#[tokio::test]
async fn api_key_with_a_bad_checksum_is_refused_without_touching_the_database() {
    let (app, _, key) = setup().await;
    let mut bad = key.clone().into_bytes();
    let i = 12;
    bad[i] = if bad[i] == b'a' { b'b' } else { b'a' };
    let bad = String::from_utf8(bad).unwrap();
    let unknown = latch::crypto::mint_secret("sk_test_");
    // With the pool closed, any query fails with 503: a 401 proves no query ran (K3).
    app.db.close_by_ref().await.unwrap();
    let res = get(&app, &bad, "/v1/users/me").await;
    assert_eq!(res.status(), 401);
    let body = res.text().await.unwrap();
    assert!(body.contains("invalid_api_key"));
    assert!(!body.contains(&bad), "K8: the key is never echoed");
    assert_eq!(
        get(&app, &unknown, "/v1/users/me").await.status(),
        503,
        "a well-formed key does query"
    );
}

#[tokio::test]
async fn api_key_revoked_on_one_instance_is_refused_by_every_instance_within_the_cache_delay() {
    // Arrange (K4)
    let (a, user, admin_key) = setup().await;
    let b = spawn_sibling(&a).await;
    let (victim, victim_secret) = key_for(&a, &user.id, false, &["read"]).await;
    assert_eq!(
        get(&b, &victim_secret, "/v1/users/me").await.status(),
        200,
        "B has it cached now"
    );
    // Act
    let res = a
        .http
        .delete(a.url(&format!("/v1/api_keys/{}", victim.id)))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["deleted"], true);
    // Assert: at once on A, within the documented 2 s on B.
    assert_eq!(get(&a, &victim_secret, "/v1/users/me").await.status(), 401);
    let started = std::time::Instant::now();
    loop {
        let s = get(&b, &victim_secret, "/v1/users/me").await.status();
        if s == 401 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_millis(2_500),
            "B still accepts the revoked key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rolled_key_keeps_working_until_its_expiry_and_the_new_one_works_at_once() {
    let (app, user, admin_key) = setup().await;
    let (old, old_secret) = key_for(&app, &user.id, false, &["read"]).await;
    // Act (K5)
    let res = post(
        &app,
        &admin_key,
        &format!("/v1/api_keys/{}/roll", old.id),
        &[("expires_in", "2")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    let new_secret = v["secret"].as_str().unwrap().to_owned();
    assert_eq!(v["rolled_from"], old.id.as_str());
    // Assert
    assert_eq!(get(&app, &new_secret, "/v1/users/me").await.status(), 200);
    assert_eq!(
        get(&app, &old_secret, "/v1/users/me").await.status(),
        200,
        "old key works during the overlap"
    );
    app.advance(3);
    assert_eq!(
        get(&app, &old_secret, "/v1/users/me").await.status(),
        401,
        "old key stops at its expiry"
    );
    assert_eq!(get(&app, &new_secret, "/v1/users/me").await.status(), 200);
    let old_now = json(get(&app, &new_secret, &format!("/v1/api_keys/{}", old.id)).await).await;
    assert_eq!(old_now["status"], "expired");
}

#[tokio::test]
async fn test_keys_see_and_change_only_test_mode_objects() {
    let (app, user, test_key) = setup().await;
    let (live, live_secret) = key_for(&app, &user.id, true, &["read", "write"]).await;
    // K6
    assert_eq!(
        get(&app, &test_key, &format!("/v1/api_keys/{}", live.id))
            .await
            .status(),
        404
    );
    let res = app
        .http
        .delete(app.url(&format!("/v1/api_keys/{}", live.id)))
        .bearer_auth(&test_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let list = json(get(&app, &test_key, "/v1/api_keys").await).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["livemode"] == false)
    );
    assert!(!list.to_string().contains(&live.id));
    let me = json(get(&app, &live_secret, "/v1/users/me").await).await;
    assert_eq!(me["livemode"], true);
    let created = json(
        post(
            &app,
            &test_key,
            "/v1/clients",
            &[("name", "Sandbox"), ("grant_types[]", "client_credentials")],
        )
        .await,
    )
    .await;
    assert_eq!(created["livemode"], false);
    let live_list = json(get(&app, &live_secret, "/v1/clients").await).await;
    assert_eq!(
        live_list["data"],
        json!([]),
        "live keys do not see test clients"
    );
}

#[tokio::test]
async fn credentials_in_the_query_string_are_refused_and_errors_never_echo_keys() {
    let (app, _, key) = setup().await;
    // K7
    let res = app.get(&format!("/v1/users/me?api_key={key}")).await;
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert!(body.contains("invalid_request_error"));
    assert!(!body.contains(&key));
    // K8
    let wrong = latch::crypto::mint_secret("sk_live_");
    let res = get(&app, &wrong, "/v1/users/me").await;
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let body = res.text().await.unwrap();
    assert!(!body.contains(&wrong));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert!(v["error"]["request_id"].is_string());
    // No credentials at all.
    let res = app.get("/v1/users/me").await;
    assert_eq!(res.status(), 401);
    assert_eq!(json(res).await["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn read_only_key_gets_403_insufficient_scope_on_writes() {
    let (app, user, _) = setup().await;
    let (_, ro) = key_for(&app, &user.id, false, &["read"]).await;
    let res = post(&app, &ro, "/v1/api_keys", &[("name", "x")]).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(json(res).await["error"]["code"], "insufficient_scope");
    assert_eq!(get(&app, &ro, "/v1/api_keys").await.status(), 200);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response_and_refuses_a_different_body() {
    let (app, user, key) = setup().await;
    let send = |name: &'static str| {
        app.http
            .post(app.url("/v1/api_keys"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "create-ci-key-1")
            .form(&[("name", name)])
            .send()
    };
    let first = send("CI").await.unwrap();
    assert_eq!(first.status(), 200);
    let first_body = first.text().await.unwrap();
    let second = send("CI").await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        second.text().await.unwrap(),
        first_body,
        "the same response, byte for byte"
    );
    let keys = latch::store::api_keys::page(&app.db, &user.id, None, true, 100, None)
        .await
        .unwrap();
    assert_eq!(
        keys.len(),
        2,
        "one fixture key plus exactly one created key"
    );
    let different = send("Other").await.unwrap();
    assert_eq!(different.status(), 409);
    assert_eq!(
        json(different).await["error"]["type"],
        "invalid_request_error"
    );
    // The stored response is sealed: the secret is not in the database in clear.
    let secret: serde_json::Value = serde_json::from_str(&first_body).unwrap();
    let rows = <entity::idempotency_key::Entity as sea_orm::EntityTrait>::find()
        .all(&app.db)
        .await
        .unwrap();
    assert!(!format!("{rows:?}").contains(secret["secret"].as_str().unwrap()));
}

#[tokio::test]
async fn lists_paginate_with_limit_starting_after_and_has_more() {
    let (app, _, key) = setup().await;
    for i in 0..4 {
        assert_eq!(
            post(&app, &key, "/v1/api_keys", &[("name", &format!("k{i}"))])
                .await
                .status(),
            200
        );
    }
    // 5 keys in all (the fixture plus 4), newest first.
    let p1 = json(get(&app, &key, "/v1/api_keys?limit=2").await).await;
    assert_eq!(p1["object"], "list");
    assert_eq!(p1["has_more"], true);
    let d1 = p1["data"].as_array().unwrap();
    assert_eq!(d1.len(), 2);
    assert_eq!(d1[0]["name"], "k3");
    let after = d1[1]["id"].as_str().unwrap();
    let p2 = json(
        get(
            &app,
            &key,
            &format!("/v1/api_keys?limit=2&starting_after={after}"),
        )
        .await,
    )
    .await;
    assert_eq!(p2["data"][0]["name"], "k1");
    assert_eq!(p2["has_more"], true);
    let after = p2["data"][1]["id"].as_str().unwrap();
    let p3 = json(
        get(
            &app,
            &key,
            &format!("/v1/api_keys?limit=2&starting_after={after}"),
        )
        .await,
    )
    .await;
    assert_eq!(p3["data"].as_array().unwrap().len(), 1);
    assert_eq!(p3["has_more"], false);
    for bad in ["0", "101", "ten"] {
        let res = get(&app, &key, &format!("/v1/api_keys?limit={bad}")).await;
        assert_eq!(res.status(), 400);
        assert_eq!(json(res).await["error"]["param"], "limit");
    }
}

#[tokio::test]
async fn a_clients_grant_types_change_after_registration_under_the_registration_rules() {
    // Arrange: a confidential worker (client_credentials only, no redirect URI) and a public app.
    let (app, _, key) = setup().await;
    let worker = json(
        post(
            &app,
            &key,
            "/v1/clients",
            &[("name", "Worker"), ("grant_types[]", "client_credentials")],
        )
        .await,
    )
    .await;
    let (id, secret) = (
        worker["id"].as_str().unwrap().to_owned(),
        worker["secret"].as_str().unwrap().to_owned(),
    );
    let spa = json(
        post(
            &app,
            &key,
            "/v1/clients",
            &[
                ("name", "SPA"),
                ("public", "true"),
                ("redirect_uris[]", "http://127.0.0.1:9/cb"),
            ],
        )
        .await,
    )
    .await;
    let spa_id = spa["id"].as_str().unwrap();
    let cc = [("grant_type", "client_credentials")];

    // Act + Assert: the code grant needs a redirect URI; a public client cannot get
    // client_credentials; an unknown grant is named. Nothing changes on a refusal.
    for (path, form, param) in [
        (
            format!("/v1/clients/{id}"),
            vec![("grant_types[]", "authorization_code")],
            "redirect_uris",
        ),
        (
            format!("/v1/clients/{spa_id}"),
            vec![("grant_types[]", "client_credentials")],
            "grant_types",
        ),
        (
            format!("/v1/clients/{id}"),
            vec![("grant_types[]", "password")],
            "grant_types",
        ),
    ] {
        let res = post(&app, &key, &path, &form).await;
        assert_eq!(res.status(), 400, "{form:?}");
        assert_eq!(json(res).await["error"]["param"], param, "{form:?}");
    }
    assert_eq!(app.post_token_basic(&id, &secret, &cc).await.status(), 200);

    // Act: give it a redirect URI and the code grant, dropping client_credentials.
    let res = post(
        &app,
        &key,
        &format!("/v1/clients/{id}"),
        &[
            ("grant_types[]", "authorization_code"),
            ("grant_types[]", "refresh_token"),
            ("redirect_uris[]", "https://worker.example.com/cb"),
        ],
    )
    .await;

    // Assert: the object says so and client_credentials is refused from now on.
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(res).await["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    expect_oauth_error(
        app.post_token_basic(&id, &secret, &cc).await,
        400,
        "unauthorized_client",
    )
    .await;
}

#[tokio::test]
async fn a_client_secret_rotated_with_an_overlap_keeps_the_old_one_until_it_ends() {
    // Arrange
    let (app, _, key) = setup().await;
    let c = json(
        post(
            &app,
            &key,
            "/v1/clients",
            &[("name", "Worker"), ("grant_types[]", "client_credentials")],
        )
        .await,
    )
    .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let first = c["secret"].as_str().unwrap().to_owned();
    let works = |secret: String| {
        let app = &app;
        let id = id.clone();
        async move {
            app.post_token_basic(&id, &secret, &[("grant_type", "client_credentials")])
                .await
                .status()
                == 200
        }
    };
    let path = format!("/v1/clients/{id}/rotate_secret");

    // Act: rotate with a one-hour overlap.
    let res = post(&app, &key, &path, &[("expires_in", "1h")]).await;

    // Assert: both work; the object says until when; a bad value names the parameter.
    assert_eq!(res.status(), 200);
    let rotated = json(res).await;
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert!(rotated["previous_secret_expires"].as_i64().is_some());
    assert!(works(first.clone()).await, "old secret during the overlap");
    assert!(works(second.clone()).await, "new secret");
    for bad in ["8d", "-1", "604801", "soon"] {
        let res = post(&app, &key, &path, &[("expires_in", bad)]).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert_eq!(json(res).await["error"]["param"], "expires_in");
    }
    assert!(
        works(second.clone()).await,
        "a refused rotation changed nothing"
    );

    // Act + Assert: past the hour the old one is refused, the new one still works.
    app.advance(3601);
    assert!(!works(first.clone()).await, "old secret after the overlap");
    assert!(works(second.clone()).await);

    // A rotation during an overlap ends the older secret at once; without expires_in the
    // current one stops at once.
    let third = json(post(&app, &key, &path, &[("expires_in", "24h")]).await).await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(works(second.clone()).await && works(third.clone()).await);
    let fourth = json(post(&app, &key, &path, &[]).await).await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!works(second).await, "the older secret ended");
    assert!(!works(third).await, "no expires_in: stops at once");
    assert!(works(fourth).await);
}

#[tokio::test]
async fn clients_are_created_rotated_and_deleted_through_v1_with_json_or_form_bodies() {
    let (app, _, key) = setup().await;
    let res = app
        .http
        .post(app.url("/v1/clients"))
        .bearer_auth(&key)
        .json(&json!({"name": "Worker", "grant_types": ["client_credentials"], "scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let c = json(res).await;
    let (id, secret) = (
        c["id"].as_str().unwrap().to_owned(),
        c["secret"].as_str().unwrap().to_owned(),
    );
    let token = app
        .post_token_basic(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(token.status(), 200);
    // Rotate: the old secret stops at once.
    let rotated =
        json(post(&app, &key, &format!("/v1/clients/{id}/rotate_secret"), &[]).await).await;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_eq!(
        app.post_token_basic(&id, &secret, &[("grant_type", "client_credentials")])
            .await
            .status(),
        401
    );
    assert_eq!(
        app.post_token_basic(&id, new_secret, &[("grant_type", "client_credentials")])
            .await
            .status(),
        200
    );
    // A bad redirect URI names the parameter.
    let bad = post(
        &app,
        &key,
        "/v1/clients",
        &[
            ("name", "Web"),
            ("redirect_uris[]", "http://evil.example/cb"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(json(bad).await["error"]["param"], "redirect_uris");
    // Delete answers with the deleted object.
    let del = app
        .http
        .delete(app.url(&format!("/v1/clients/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    assert_eq!(json(del).await["deleted"], true);
    assert_eq!(
        get(&app, &key, &format!("/v1/clients/{id}")).await.status(),
        404
    );
}

#[tokio::test]
async fn events_list_the_accounts_key_activity() {
    let (app, _, key) = setup().await;
    let created = json(post(&app, &key, "/v1/api_keys", &[("name", "watched")]).await).await;
    let id = created["id"].as_str().unwrap();
    app.http
        .delete(app.url(&format!("/v1/api_keys/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let events = json(get(&app, &key, "/v1/events").await).await;
    let types: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(&types[..2], &["api_key.revoked", "api_key.created"]);
    assert_eq!(events["data"][0]["severity"], "warning");
    assert!(
        !events
            .to_string()
            .contains(created["secret"].as_str().unwrap())
    );
}

#[tokio::test]
async fn unknown_parameters_are_refused_with_param() {
    let (app, _, key) = setup().await;
    let res = post(
        &app,
        &key,
        "/v1/api_keys",
        &[("name", "x"), ("colour", "blue")],
    )
    .await;
    assert_eq!(res.status(), 400);
    let v = json(res).await;
    assert_eq!(v["error"]["code"], "parameter_unknown");
    assert_eq!(v["error"]["param"], "colour");
}
