//! Issue #11: the permission catalog's `/v1/apis` (admins only: list, create in form or
//! JSON, retrieve, update, remove a scope, delete, refused while a scope is held), scope
//! names validated at every entry point, and the metadata's `scopes_supported`.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::helpers::{bearer_delete as delete, bearer_get as get, bearer_post as post};

const ADMIN: &str = "admin@example.com";
const MEMBER: &str = "member@example.com";

async fn post_json(app: &TestApp, cred: &str, path: &str, body: Value) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(cred)
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// `(status, error.code, error.param)`.
async fn error_of(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let body = json(res).await;
    let s = |k: &str| body["error"][k].as_str().unwrap_or("").to_owned();
    (status, s("code"), s("param"))
}

const BILLING_FORM: &[(&str, &str)] = &[
    ("identifier", "https://billing.example.com"),
    ("name", "Billing API"),
    ("scopes[0][name]", "invoices:read"),
    ("scopes[0][description]", "See your invoices"),
    ("scopes[1][name]", "invoices:write"),
    ("scopes[1][description]", "Send invoices"),
    ("access_token_ttl", "300"),
];

async fn api_events(app: &TestApp, user_id: &str) -> Vec<entity::audit_event::Model> {
    latch::store::audit::page(
        &app.db,
        Some(user_id),
        latch::store::audit::ModeFilter::All,
        1000,
        None,
    )
    .await
    .expect("readable")
    .into_iter()
    .filter(|e| e.kind.starts_with("api."))
    .collect()
}

#[tokio::test]
async fn an_admin_creates_lists_updates_and_deletes_an_api_on_v1() {
    // Arrange
    let app = spawn_app().await;
    let (admin, key) = admin_key(&app).await;

    // Act: create (form), list, retrieve.
    let res = post(&app, &key, "/v1/apis", BILLING_FORM).await;
    assert_eq!(res.status(), 200);
    let created = json(res).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let list = json(get(&app, &key, "/v1/apis").await).await;
    let got = json(get(&app, &key, &format!("/v1/apis/{id}")).await).await;

    // Assert
    assert_eq!(created["object"], "api");
    assert_eq!(created["identifier"], "https://billing.example.com");
    assert_eq!(created["name"], "Billing API");
    assert_eq!(created["access_token_ttl"], 300);
    assert_eq!(
        created["scopes"],
        json!([
            {"name": "invoices:read", "description": "See your invoices"},
            {"name": "invoices:write", "description": "Send invoices"},
        ])
    );
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, ["api_latch", id.as_str()], "the built-in API first");
    assert_eq!(list["data"][0]["builtin"], true);
    assert_eq!(got, created);

    // Act: update in JSON (rename, default TTL, a description, a new scope).
    let res = post_json(
        &app,
        &key,
        &format!("/v1/apis/{id}"),
        json!({
            "name": "Billing",
            "access_token_ttl": null,
            "scopes": [
                {"name": "invoices:read", "description": "Read your invoices"},
                {"name": "invoices:void", "description": "Cancel invoices"},
            ],
        }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let updated = json(res).await;
    assert_eq!(updated["name"], "Billing");
    assert_eq!(updated["access_token_ttl"], Value::Null);
    assert_eq!(updated["scopes"][0]["description"], "Read your invoices");
    assert_eq!(updated["scopes"][2]["name"], "invoices:void");

    // Act: remove a scope, then delete the API.
    let res = delete(&app, &key, &format!("/v1/apis/{id}/scopes/invoices:void")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["scopes"].as_array().unwrap().len(), 2);
    let res = delete(&app, &key, &format!("/v1/apis/{id}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["deleted"], true);

    // Assert
    assert_eq!(
        error_of(get(&app, &key, &format!("/v1/apis/{id}")).await)
            .await
            .0,
        404
    );
    let kinds: Vec<String> = api_events(&app, &admin.id)
        .await
        .into_iter()
        .rev()
        .map(|e| {
            let d: Value = serde_json::from_str(&e.detail).unwrap();
            assert_eq!(d["via"], "api");
            assert_eq!(d["api"], id.as_str());
            e.kind
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "api.created",
            "api.updated",
            "api.scope_added",
            "api.scope_removed",
            "api.deleted"
        ]
    );
}

#[tokio::test]
async fn the_builtin_api_can_be_read_but_not_changed() {
    let app = spawn_app().await;
    let (_, key) = admin_key(&app).await;
    let got = json(get(&app, &key, "/v1/apis/api_latch").await).await;
    assert_eq!(got["name"], "Latch API");
    for res in [
        post(&app, &key, "/v1/apis/api_latch", &[("name", "Mine")]).await,
        delete(&app, &key, "/v1/apis/api_latch").await,
        delete(&app, &key, "/v1/apis/api_latch/scopes/read").await,
    ] {
        assert_eq!(error_of(res).await.1, "builtin_api");
    }
}

#[tokio::test]
async fn v1_apis_refuses_invalid_scope_names_identifiers_and_lifetimes_naming_the_param() {
    // Arrange
    let app = spawn_app().await;
    let (_, key) = admin_key(&app).await;
    assert_eq!(
        post(&app, &key, "/v1/apis", BILLING_FORM).await.status(),
        200
    );
    let with = |identifier: &'static str, scope: &'static str, ttl: &'static str| {
        vec![
            ("identifier", identifier),
            ("name", "Reports"),
            ("scopes[0][name]", scope),
            ("scopes[0][description]", "See reports"),
            ("access_token_ttl", ttl),
        ]
    };
    let cases = [
        (
            with("https://r.example", "Reports", "300"),
            "scopes",
            "Reports",
        ),
        (with("https://r.example", "a b", "300"), "scopes", "a b"),
        (
            with("https://r.example", "openid", "300"),
            "scopes",
            "openid",
        ),
        (
            with("https://r.example", "clients:read", "300"),
            "scopes",
            "clients:read",
        ),
        // Unique across APIs: the built-in API's and the Billing API's.
        (with("https://r.example", "read", "300"), "scopes", "read"),
        (
            with("https://r.example", "invoices:read", "300"),
            "scopes",
            "Billing API",
        ),
        (
            with("http://r.example", "reports", "300"),
            "identifier",
            "identifier",
        ),
        (
            with("https://billing.example.com", "reports", "300"),
            "identifier",
            "already exists",
        ),
        (
            with("https://r.example", "reports", "5"),
            "access_token_ttl",
            "access_token_ttl",
        ),
        (
            with("https://r.example", "reports", "soon"),
            "access_token_ttl",
            "access_token_ttl",
        ),
    ];

    for (form, param, needle) in cases {
        // Act
        let res = post(&app, &key, "/v1/apis", &form).await;

        // Assert
        let status = res.status().as_u16();
        let body = json(res).await;
        assert_eq!(status, 400, "{form:?}: {body}");
        assert_eq!(body["error"]["param"], param, "{form:?}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(needle), "{form:?}: {message}");
    }
    let res = post(
        &app,
        &key,
        "/v1/apis",
        &[
            ("identifier", "https://x.example"),
            ("name", "X"),
            ("color", "red"),
        ],
    )
    .await;
    assert_eq!(
        error_of(res).await,
        (400, "parameter_unknown".into(), "color".into())
    );
    // Adding a scope on update is checked the same way, and changes nothing when refused.
    let billing = json(get(&app, &key, "/v1/apis").await).await["data"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = post_json(
        &app,
        &key,
        &format!("/v1/apis/{billing}"),
        json!({"name": "Renamed", "scopes": [{"name": "Bad Name", "description": "x"}]}),
    )
    .await;
    assert_eq!(error_of(res).await.2, "scopes");
    for taken in ["read", "openid"] {
        let res = post_json(
            &app,
            &key,
            &format!("/v1/apis/{billing}"),
            json!({"name": "Renamed", "scopes": [{"name": taken, "description": "x"}]}),
        )
        .await;
        assert_eq!(error_of(res).await.0, 400, "{taken}");
    }
    let after = json(get(&app, &key, &format!("/v1/apis/{billing}")).await).await;
    assert_eq!(after["name"], "Billing API");
    assert_eq!(
        json(get(&app, &key, "/v1/apis").await).await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn an_api_whose_scope_a_client_holds_cannot_be_deleted_until_it_is_released() {
    // Arrange: the admin's own OAuth app may ask for invoices:read.
    let app = spawn_app().await;
    let (_, key) = admin_key(&app).await;
    let api = json(post(&app, &key, "/v1/apis", BILLING_FORM).await).await;
    let id = api["id"].as_str().unwrap();
    let res = post(
        &app,
        &key,
        "/v1/clients",
        &[
            ("name", "Invoicer"),
            ("redirect_uris[]", "https://invoicer.example/cb"),
            ("scopes[]", "openid"),
            ("scopes[]", "invoices:read"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let client = json(res).await;
    let client_id = client["id"].as_str().unwrap();

    // Act
    let refused_api = delete(&app, &key, &format!("/v1/apis/{id}")).await;
    let refused_scope = delete(&app, &key, &format!("/v1/apis/{id}/scopes/invoices:read")).await;

    // Assert: 409, naming the client.
    for res in [refused_api, refused_scope] {
        let status = res.status().as_u16();
        let body = json(res).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "resource_in_use");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(client_id)
        );
    }
    // Another scope of the same API nobody holds can go.
    let res = delete(&app, &key, &format!("/v1/apis/{id}/scopes/invoices:write")).await;
    assert_eq!(res.status(), 200);

    // Act: the client lets go of the scope; the API can be deleted.
    let res = post(
        &app,
        &key,
        &format!("/v1/clients/{client_id}"),
        &[("scopes[]", "openid")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = delete(&app, &key, &format!("/v1/apis/{id}")).await;

    // Assert
    assert_eq!(res.status(), 200);
    let d = json(get(&app, &key, "/.well-known/openid-configuration").await).await;
    assert!(
        !d["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("invoices:read"))
    );
}

#[tokio::test]
async fn v1_apis_is_refused_to_members_to_clients_and_to_oauth_tokens_for_changes() {
    // Arrange
    let app = spawn_app().await;
    let (admin, admin_key) = admin_key(&app).await;
    let member = app.create_user(MEMBER, PASSWORD).await;
    let (_, member_key) = key_for(&app, &member.id, true, &[]).await;
    let machine = app.machine_client().await;
    let machine_token = client_credentials_token(&app, &machine, "read write").await;
    let client = app.confidential_client().await;
    let admin_token = {
        let (verifier, challenge) = pkce_pair();
        let code = app
            .obtain_code(
                &client,
                ADMIN,
                &[
                    ("scope", "read write"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        let res = app.redeem_code(&client, &code, &verifier).await;
        json(res).await["access_token"].as_str().unwrap().to_owned()
    };
    let (_, read_only) = key_for(&app, &admin.id, true, &["read"]).await;
    let (_, apis_read) = key_for(&app, &admin.id, true, &["apis:read"]).await;

    // Act / Assert: a member is 403 on every route.
    for res in [
        get(&app, &member_key, "/v1/apis").await,
        get(&app, &member_key, "/v1/apis/api_latch").await,
        post(&app, &member_key, "/v1/apis", BILLING_FORM).await,
        delete(&app, &member_key, "/v1/apis/api_latch").await,
    ] {
        assert_eq!(error_of(res).await.0, 403);
    }
    assert_eq!(
        error_of(get(&app, &member_key, "/v1/apis").await).await.1,
        "admin_required"
    );
    // A client principal acts for nobody.
    assert_eq!(
        error_of(get(&app, &machine_token, "/v1/apis").await).await,
        (403, "user_required".into(), String::new())
    );
    // An admin's OAuth access token may read, never change.
    assert_eq!(get(&app, &admin_token, "/v1/apis").await.status(), 200);
    assert_eq!(
        error_of(post(&app, &admin_token, "/v1/apis", BILLING_FORM).await)
            .await
            .1,
        "api_key_required"
    );
    // A key needs write (or apis:write) to change, read (or apis:read) to read.
    assert_eq!(get(&app, &read_only, "/v1/apis").await.status(), 200);
    assert_eq!(get(&app, &apis_read, "/v1/apis").await.status(), 200);
    for k in [&read_only, &apis_read] {
        assert_eq!(
            error_of(post(&app, k, "/v1/apis", BILLING_FORM).await)
                .await
                .1,
            "insufficient_scope"
        );
    }
    // Nothing was created by the refused calls; the admin's full key still can.
    assert_eq!(
        json(get(&app, &admin_key, "/v1/apis").await).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        post(&app, &admin_key, "/v1/apis", BILLING_FORM)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn scopes_supported_in_both_metadata_documents_lists_a_new_scope() {
    let app = spawn_app().await;
    let (_, key) = admin_key(&app).await;
    let other = spawn_sibling(&app).await;
    let res = post(&app, &key, "/v1/apis", BILLING_FORM).await;
    assert_eq!(res.status(), 200);
    let id = json(res).await["id"].as_str().unwrap().to_owned();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let m = json(app.get(path).await).await;
        let s = m["scopes_supported"].as_array().expect(path);
        for want in ["openid", "read", "invoices:read", "invoices:write"] {
            assert!(s.contains(&json!(want)), "{path}: {want} in {s:?}");
        }
    }
    // Another instance finds the new API by id at once (it looks again in the database),
    // and lists its scopes within the reload delay (2 s).
    assert_eq!(
        get(&other, &key, &format!("/v1/apis/{id}")).await.status(),
        200
    );
    let started = std::time::Instant::now();
    loop {
        let m = json(other.get("/.well-known/openid-configuration").await).await;
        if m["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("invoices:write"))
        {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the sibling never listed the new scope"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn v1_clients_refuses_an_unknown_scope_naming_it() {
    let app = spawn_app().await;
    let (_, key) = admin_key(&app).await;
    let res = post(
        &app,
        &key,
        "/v1/clients",
        &[
            ("name", "App"),
            ("redirect_uris[]", "https://app.example/cb"),
            ("scopes[]", "invoices:read"),
        ],
    )
    .await;
    let status = res.status().as_u16();
    let body = json(res).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "scopes");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invoices:read")
    );
    // Once registered, the same request succeeds.
    assert_eq!(
        post(&app, &key, "/v1/apis", BILLING_FORM).await.status(),
        200
    );
    let res = post(
        &app,
        &key,
        "/v1/clients",
        &[
            ("name", "App"),
            ("redirect_uris[]", "https://app.example/cb"),
            ("scopes[]", "invoices:read"),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
}
