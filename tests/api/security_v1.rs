//! Issue #9: who may do what on `/v1` (principal × object × action), and the findings of
//! the security review that live on the API: each test failed before its fix.

use serde_json::json;

use crate::helpers::*;
use crate::helpers::{bearer_delete as delete, bearer_get as get, bearer_post as post};

async fn error_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body = json(res).await;
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

/// A person's tokens for `client` through the real authorize flow (code + PKCE).
async fn user_tokens(app: &TestApp, c: &TestClient, email: &str, scope: &str) -> serde_json::Value {
    let (verifier, challenge) = pkce_pair();
    let code = app
        .obtain_code(
            c,
            email,
            &[
                ("scope", scope),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let res = app.redeem_code(c, &code, &verifier).await;
    assert_eq!(res.status(), 200);
    json(res).await
}

// ---------------------------------------------------------------------------------------------
// Finding 1 (critical): a client principal manages nothing; operator clients are nobody's

#[tokio::test]
async fn a_client_credentials_token_cannot_read_change_rotate_or_delete_operator_clients() {
    let app = spawn_app().await;
    let operator_client = app.confidential_client().await;
    let machine = app.machine_client().await;
    let token = client_credentials_token(&app, &machine, "read write").await;
    let path = format!("/v1/clients/{}", operator_client.id);

    for res in [
        get(&app, &token, "/v1/clients").await,
        get(&app, &token, &path).await,
        post(
            &app,
            &token,
            &path,
            &[("redirect_uris[]", "https://evil.example/cb")],
        )
        .await,
        post(&app, &token, &format!("{path}/rotate_secret"), &[]).await,
        delete(&app, &token, &path).await,
        get(&app, &token, "/v1/api_keys").await,
        get(&app, &token, "/v1/events").await,
    ] {
        assert_eq!(error_code(res).await, (403, "user_required".to_owned()));
    }
    // The operator client is untouched: its secret still works, its redirect URI unchanged.
    let row = latch::store::clients::by_id(&app.db, &operator_client.id)
        .await
        .expect("query")
        .expect("still there");
    assert_eq!(row.redirect_uris, operator_client.redirect_uri);
    assert_eq!(
        app.post_token_basic(
            &operator_client.id,
            operator_client.secret(),
            &[("grant_type", "client_credentials")]
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn a_users_key_does_not_reach_operator_clients_of_its_mode() {
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, true, &[]).await;
    let operator_client = app.confidential_client().await;
    let path = format!("/v1/clients/{}", operator_client.id);
    assert_eq!(get(&app, &key, &path).await.status(), 404);
    assert_eq!(
        post(&app, &key, &format!("{path}/rotate_secret"), &[])
            .await
            .status(),
        404
    );
    assert_eq!(delete(&app, &key, &path).await.status(), 404);
    let list = json(get(&app, &key, "/v1/clients").await).await;
    assert_eq!(list["data"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Finding 2 (high): a key mints or rolls only keys no broader than itself

#[tokio::test]
async fn a_narrow_key_cannot_create_or_roll_a_broader_key() {
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (_, narrow) = key_for(&app, &user.id, false, &["api_keys:read", "api_keys:write"]).await;
    let (full, _) = key_for(&app, &user.id, false, &["read", "write"]).await;

    let res = post(
        &app,
        &narrow,
        "/v1/api_keys",
        &[("scopes[]", "read"), ("scopes[]", "write")],
    )
    .await;
    assert_eq!(
        error_code(res).await,
        (403, "insufficient_scope".to_owned())
    );
    let res = post(
        &app,
        &narrow,
        &format!("/v1/api_keys/{}/roll", full.id),
        &[],
    )
    .await;
    assert_eq!(
        error_code(res).await,
        (403, "insufficient_scope".to_owned())
    );

    // Without `scopes` a secret key is asked for: a restricted key never mints one.
    let res = post(&app, &narrow, "/v1/api_keys", &[("name", "child")]).await;
    assert_eq!(
        error_code(res).await,
        (403, "insufficient_scope".to_owned())
    );
    let made = json(
        post(
            &app,
            &narrow,
            "/v1/api_keys",
            &[
                ("name", "child"),
                ("scopes[]", "api_keys:read"),
                ("scopes[]", "api_keys:write"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(made["scopes"], json!(["api_keys:read", "api_keys:write"]));
    // A key no broader than the caller can be made and rolled.
    let id = made["id"].as_str().expect("id");
    let rolled = post(&app, &narrow, &format!("/v1/api_keys/{id}/roll"), &[]).await;
    assert_eq!(rolled.status(), 200);
    // A full key still mints a restricted one.
    let (_, full_secret) = key_for(&app, &user.id, false, &[]).await;
    let res = post(
        &app,
        &full_secret,
        "/v1/api_keys",
        &[("scopes[]", "events:read")],
    )
    .await;
    assert_eq!(json(res).await["scopes"], json!(["events:read"]));
}

// ---------------------------------------------------------------------------------------------
// Finding 5 (medium): an OAuth access token cannot manage keys or clients

#[tokio::test]
async fn an_oauth_access_token_with_write_cannot_mint_roll_or_manage_credentials() {
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (key, _) = key_for(&app, &user.id, true, &[]).await;
    let client = app.confidential_client().await;
    let tokens = user_tokens(&app, &client, "dev@example.com", "read write").await;
    let at = tokens["access_token"].as_str().expect("token");

    for res in [
        post(&app, at, "/v1/api_keys", &[("name", "stolen")]).await,
        post(&app, at, &format!("/v1/api_keys/{}/roll", key.id), &[]).await,
        post(
            &app,
            at,
            &format!("/v1/api_keys/{}", key.id),
            &[("name", "x")],
        )
        .await,
        delete(&app, at, &format!("/v1/api_keys/{}", key.id)).await,
        post(
            &app,
            at,
            "/v1/clients",
            &[("name", "App"), ("grant_types[]", "client_credentials")],
        )
        .await,
    ] {
        assert_eq!(error_code(res).await, (403, "api_key_required".to_owned()));
    }
    // Reading (redacted) objects is fine with `read`.
    let list = get(&app, at, "/v1/api_keys").await;
    assert_eq!(list.status(), 200);
    let body = list.text().await.expect("body");
    assert!(!body.contains("\"secret\":"), "{body}");
    assert_eq!(
        latch::store::api_keys::count_working(&app.db, &user.id, true, latch::store::now())
            .await
            .expect("count"),
        1,
        "no key was minted"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 11: narrowing a client's scopes narrows its next refresh

#[tokio::test]
async fn narrowing_a_clients_scopes_narrows_its_existing_refresh_tokens() {
    let app = spawn_app().await;
    app.create_user("dev@example.com", PASSWORD).await;
    let client = app.confidential_client().await;
    let tokens = user_tokens(&app, &client, "dev@example.com", "read write").await;
    let rt = tokens["refresh_token"].as_str().expect("rt").to_owned();

    let row = latch::store::clients::by_id(&app.db, &client.id)
        .await
        .expect("query")
        .expect("client");
    latch::clients::update(
        &app.db,
        &app.state.catalog.get(),
        &app.state.rows,
        &app.state.logos,
        &row,
        latch::clients::ClientUpdate {
            scopes: Some(vec!["read".into()]),
            ..Default::default()
        },
    )
    .await
    .expect("narrowed");

    // Asking for the removed scope is refused; without `scope`, only what remains.
    let res = app
        .post_token_basic(
            &client.id,
            client.secret(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "read write"),
            ],
        )
        .await;
    assert_eq!(json(res).await["error"], "invalid_scope");
    let res = app
        .post_token_basic(
            &client.id,
            client.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["scope"], "read");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().expect("at"))["scope"],
        "read"
    );
    // The successor carries the narrowed grant: widening the client again does not
    // bring `write` back to this family.
    let rt2 = body["refresh_token"].as_str().expect("rt2").to_owned();
    let row = latch::store::clients::by_id(&app.db, &client.id)
        .await
        .expect("query")
        .expect("client");
    latch::clients::update(
        &app.db,
        &app.state.catalog.get(),
        &app.state.rows,
        &app.state.logos,
        &row,
        latch::clients::ClientUpdate {
            scopes: Some(vec!["read".into(), "write".into()]),
            ..Default::default()
        },
    )
    .await
    .expect("widened");
    let res = app
        .post_token_basic(
            &client.id,
            client.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        )
        .await;
    assert_eq!(json(res).await["scope"], "read");
}

// ---------------------------------------------------------------------------------------------
// Finding 12: a disabled user's clients stop, with their tokens

#[tokio::test]
async fn disabling_a_user_stops_the_clients_they_registered_and_their_tokens() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", PASSWORD).await;
    let admin = latch::store::users::by_id(&app.db, &admin.id)
        .await
        .expect("q")
        .expect("admin");
    let dev = app.create_user("dev@example.com", PASSWORD).await;
    let (_, key) = key_for(&app, &dev.id, true, &[]).await;
    let made = json(
        post(
            &app,
            &key,
            "/v1/clients",
            &[
                ("name", "Worker"),
                ("grant_types[]", "client_credentials"),
                ("scopes[]", "read"),
            ],
        )
        .await,
    )
    .await;
    let worker = TestClient {
        id: made["id"].as_str().expect("id").to_owned(),
        secret: made["secret"].as_str().map(str::to_owned),
        redirect_uri: String::new(),
    };
    let web = json(
        post(
            &app,
            &key,
            "/v1/clients",
            &[
                ("name", "Web"),
                ("redirect_uris[]", "https://dev.example.com/cb"),
            ],
        )
        .await,
    )
    .await;
    let web_id = web["id"].as_str().expect("id").to_owned();
    let token = client_credentials_token(&app, &worker, "read").await;
    let rs = app
        .create_client(ClientSpec {
            grant_types: vec!["client_credentials"],
            redirect_uris: vec![],
            resource_server: true,
            ..ClientSpec::default()
        })
        .await;
    let introspect = |t: String| {
        let app = &app;
        let rs = &rs;
        async move {
            json(
                app.http
                    .post(app.url("/oauth/introspect"))
                    .basic_auth(&rs.id, Some(rs.secret()))
                    .form(&[("token", t.as_str())])
                    .send()
                    .await
                    .expect("introspect"),
            )
            .await["active"]
                .clone()
        }
    };
    assert_eq!(introspect(token.clone()).await, true);

    latch::users::set_disabled(
        &app.db,
        &app.state.keys,
        &app.state.rows,
        Some(&admin),
        &dev,
        true,
        app.state.clock.now(),
    )
    .await
    .expect("disabled");

    assert_eq!(introspect(token).await, false);
    let res = app
        .post_token_basic(
            &worker.id,
            worker.secret(),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(json(res).await["error"], "invalid_client");
    // Its web app no longer starts sign-ins: an error page, never a redirect to it.
    let (_, challenge) = pkce_pair();
    let res = app
        .get(&format!(
            "/oauth/authorize?client_id={web_id}&response_type=code&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256",
            urlencode("https://dev.example.com/cb")
        ))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
}

// ---------------------------------------------------------------------------------------------
// Finding 13: every change to a credential through /v1 is an event

#[tokio::test]
async fn v1_client_and_key_changes_are_audit_events() {
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, false, &[]).await;
    let made = json(
        post(
            &app,
            &key,
            "/v1/clients",
            &[("name", "Worker"), ("grant_types[]", "client_credentials")],
        )
        .await,
    )
    .await;
    let id = made["id"].as_str().expect("id");
    let path = format!("/v1/clients/{id}");
    assert_eq!(
        post(&app, &key, &path, &[("name", "Worker 2")])
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&app, &key, &format!("{path}/rotate_secret"), &[])
            .await
            .status(),
        200
    );
    assert_eq!(delete(&app, &key, &path).await.status(), 200);
    let k = json(post(&app, &key, "/v1/api_keys", &[("name", "ci")]).await).await;
    let kid = k["id"].as_str().expect("key id");
    assert_eq!(
        post(
            &app,
            &key,
            &format!("/v1/api_keys/{kid}"),
            &[("name", "ci 2")]
        )
        .await
        .status(),
        200
    );

    let events = json(get(&app, &key, "/v1/events?limit=100").await).await;
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for kind in [
        "client.created",
        "client.updated",
        "client.secret_rotated",
        "client.deleted",
        "api_key.created",
        "api_key.updated",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let text = events.to_string();
    for secret in [&made["secret"], &k["secret"]] {
        let secret = secret.as_str().expect("secret shown at creation");
        assert!(!text.contains(secret), "a secret in the events: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 14: a key's own rate cannot exceed the operator's limit for its mode

#[tokio::test]
async fn a_keys_rate_limit_is_capped_at_the_modes_limit() {
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (k, key) = key_for(&app, &user.id, false, &[]).await;
    let max = app.settings.limits.api_key_test.count;
    let over = (max + 1).to_string();
    let res = post(&app, &key, "/v1/api_keys", &[("rate_limit", &over)]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(json(res).await["error"]["param"], "rate_limit");
    let res = post(
        &app,
        &key,
        &format!("/v1/api_keys/{}", k.id),
        &[("rate_limit", "100000")],
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = post(
        &app,
        &key,
        &format!("/v1/api_keys/{}", k.id),
        &[("rate_limit", &max.to_string())],
    )
    .await;
    assert_eq!(json(res).await["rate_limit"], max);
}

// ---------------------------------------------------------------------------------------------
// Finding 16: NUL bytes and control characters are a 400 naming the parameter, never a 500

#[tokio::test]
async fn nul_bytes_and_control_characters_are_refused_with_the_parameter_named() {
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, false, &[]).await;
    for (path, name) in [
        ("/v1/api_keys", "bad\u{0}name"),
        ("/v1/api_keys", "bad\u{1b}[31mname"),
        ("/v1/clients", "bad\u{0}app"),
    ] {
        let res = post(
            &app,
            &key,
            path,
            &[("name", name), ("grant_types[]", "client_credentials")],
        )
        .await;
        assert_eq!(res.status(), 400, "{path} {name:?}");
        assert_eq!(json(res).await["error"]["param"], "name");
    }
    // JSON bodies too.
    let res = app
        .http
        .post(app.url("/v1/api_keys"))
        .bearer_auth(&key)
        .json(&json!({"name": "x\u{0}y"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 400);
    // A NUL byte in a path id is a 404, not a database error.
    for path in [
        "/v1/api_keys/key_%00abc",
        "/v1/clients/cl_%00abc",
        "/v1/api_keys?starting_after=key_%00",
    ] {
        let status = get(&app, &key, path).await.status().as_u16();
        assert!(status == 404 || status == 400, "{path}: {status}");
    }
    // OAuth endpoints and pages answer 4xx for NUL-laden parameters as well.
    let res = app
        .post_token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "cl_\u{0}x"),
            ("client_secret", "cs_x"),
        ])
        .await;
    assert_eq!(res.status(), 401);
    let res = app
        .http
        .post(app.url("/login"))
        .form(&[("email", "a\u{0}@example.com"), ("password", "x")])
        .send()
        .await
        .expect("login");
    assert!(res.status().is_client_error(), "{}", res.status());
}

// ---------------------------------------------------------------------------------------------
// Finding 17: a test-mode key reads test-mode events only

#[tokio::test]
async fn a_test_key_never_reads_live_mode_events() {
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (_, live) = key_for(&app, &user.id, true, &[]).await;
    let (_, test) = key_for(&app, &user.id, false, &[]).await;
    let live_key = json(post(&app, &live, "/v1/api_keys", &[("name", "live child")]).await).await;
    let test_key = json(post(&app, &test, "/v1/api_keys", &[("name", "test child")]).await).await;

    let seen_by_test = json(get(&app, &test, "/v1/events?limit=100").await).await;
    let text = seen_by_test.to_string();
    assert!(
        !text.contains(live_key["id"].as_str().expect("id")),
        "{text}"
    );
    assert!(
        text.contains(test_key["id"].as_str().expect("id")),
        "{text}"
    );
    for e in seen_by_test["data"].as_array().expect("list") {
        assert_eq!(e["livemode"], false, "{e}");
    }
    let seen_by_live = json(get(&app, &live, "/v1/events?limit=100").await).await;
    let text = seen_by_live.to_string();
    assert!(text.contains(live_key["id"].as_str().expect("id")));
    assert!(!text.contains(test_key["id"].as_str().expect("id")));
}

// ---------------------------------------------------------------------------------------------
// Finding 19: well-formed unknown keys are limited per IP before they cost a query each

#[tokio::test]
async fn unknown_keys_from_one_address_are_refused_after_a_threshold() {
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.limits.api_key_failures_per_ip = 3;
    })
    .await;
    for _ in 0..3 {
        let guess = latch::crypto::mint_secret("sk_test_");
        let res = get(&app, &guess, "/v1/users/me").await;
        assert_eq!(res.status(), 401);
    }
    let guess = latch::crypto::mint_secret("sk_test_");
    let res = get(&app, &guess, "/v1/users/me").await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(json(res).await["error"]["type"], "rate_limit_error");
    // Malformed keys never cost a query and are refused by checksum as before.
    let res = get(&app, "sk_test_notarealkeyatall", "/v1/users/me").await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn admins_see_operator_clients_in_the_dashboard_and_members_do_not() {
    let app = spawn_app().await;
    latch::users::create(&app.db, "admin@example.com", PASSWORD, true)
        .await
        .expect("admin");
    app.create_user("member@example.com", PASSWORD).await;
    let operator_client = app.confidential_client().await;

    let admin = app.signed_in_browser("admin@example.com").await;
    let res = admin
        .get(app.url("/dashboard/admin/apps"))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(html.contains(&operator_client.id), "{html}");
    assert!(html.contains("Operator apps"));

    let member = app.signed_in_browser("member@example.com").await;
    let res = member
        .get(app.url("/dashboard/admin/apps"))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), 403);
    assert!(
        !res.text()
            .await
            .expect("html")
            .contains(&operator_client.id)
    );
}
