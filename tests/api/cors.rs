//! CORS for browser apps (DESIGN.md "Browser apps (CORS)"): `*` on public metadata and
//! JWKS; preflights on token, revocation, userinfo and device authorization answered for
//! an origin some client allows; the actual answer carries the origin only when the client
//! that authenticated (userinfo: the token's client) allows it; nothing anywhere else.

use reqwest::Method;
use reqwest::header::HeaderMap;

use crate::helpers::*;

const SPA: &str = "https://spa.example.com";
const SPA_CB: &str = "https://spa.example.com/callback";
const OTHER: &str = "https://other.example.com";
const EVIL: &str = "https://evil.example";

fn acao(h: &HeaderMap) -> Option<&str> {
    h.get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
}

fn vary_origin(h: &HeaderMap) -> bool {
    h.get_all("vary").iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("origin"))
    })
}

fn no_cors(h: &HeaderMap, what: &str) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-allow-credentials",
        "access-control-max-age",
    ] {
        assert!(h.get(name).is_none(), "{what}: unexpected {name}: {h:?}");
    }
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", "content-type, dpop")
        .send()
        .await
        .expect("preflight")
}

/// A public single-page app whose redirect URI is on [`SPA`] (so, by default, its origin).
async fn spa(app: &TestApp) -> TestClient {
    app.create_client(ClientSpec {
        public: true,
        redirect_uris: vec![SPA_CB],
        grant_types: vec!["authorization_code", "refresh_token"],
        ..ClientSpec::default()
    })
    .await
}

/// Code + PKCE for `c` as `email`, exchanged from `origin`: the token response.
async fn tokens_from(
    app: &TestApp,
    c: &TestClient,
    email: &str,
    origin: &str,
) -> reqwest::Response {
    let (verifier, challenge) = pkce_pair();
    let code = app
        .obtain_code(
            c,
            email,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("scope", "openid email read"),
            ],
        )
        .await;
    app.http
        .post(app.url("/oauth/token"))
        .header("Origin", origin)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &c.redirect_uri),
            ("client_id", &c.id),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token")
}

#[tokio::test]
async fn public_metadata_and_jwks_allow_any_origin() {
    // Arrange
    let app = spawn_app().await;

    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
    ] {
        // Act
        let res = app
            .http
            .get(app.url(path))
            .header("Origin", EVIL)
            .send()
            .await
            .expect("get");

        // Assert
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(acao(res.headers()), Some("*"), "{path}");
    }
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_gets_204_with_the_origin_echoed_on_every_browser_endpoint()
 {
    // Arrange: a public client's default origins are its redirect URIs' origins.
    let app = spawn_app().await;
    spa(&app).await;

    for (path, method, methods) in [
        ("/oauth/token", "POST", "POST"),
        ("/oauth/revoke", "POST", "POST"),
        ("/oauth/userinfo", "GET", "GET, POST"),
        ("/oauth/device_authorization", "POST", "POST"),
    ] {
        // Act
        let res = preflight(&app, path, SPA, method).await;

        // Assert
        assert_eq!(res.status(), 204, "{path}");
        let h = res.headers();
        assert_eq!(acao(h), Some(SPA), "{path}");
        assert_eq!(h["access-control-allow-methods"], methods, "{path}");
        assert_eq!(
            h["access-control-allow-headers"], "authorization, content-type, dpop",
            "{path}"
        );
        let max_age: u32 = h["access-control-max-age"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("a number");
        assert!(max_age > 0, "{path}");
        assert!(vary_origin(h), "{path}");
        assert!(h.get("access-control-allow-credentials").is_none());
    }
}

#[tokio::test]
async fn a_preflight_from_an_origin_no_client_allows_gets_no_cors_headers() {
    // Arrange: a confidential client has no default origins, even for its redirect URI.
    let app = spawn_app().await;
    spa(&app).await;
    app.confidential_client().await;

    for origin in [
        EVIL,
        "https://app.example.com",
        "null",
        "https://spa.example.com.evil.example",
    ] {
        // Act
        let res = preflight(&app, "/oauth/token", origin, "POST").await;

        // Assert
        assert_eq!(res.status(), 204, "{origin}");
        no_cors(res.headers(), origin);
    }
    // An allowed origin asking for a method the endpoint does not have: no CORS headers.
    let res = preflight(&app, "/oauth/token", SPA, "DELETE").await;
    no_cors(res.headers(), "DELETE");
}

#[tokio::test]
async fn the_token_response_carries_the_origin_only_when_the_authenticated_client_allows_it() {
    // Arrange: two browser apps on two origins.
    let app = spawn_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let c = spa(&app).await;
    let other = app
        .create_client(ClientSpec {
            public: true,
            redirect_uris: vec!["https://other.example.com/cb"],
            grant_types: vec!["authorization_code", "refresh_token"],
            ..ClientSpec::default()
        })
        .await;

    // Act: a full code + PKCE exchange from the app's own origin.
    let res = tokens_from(&app, &c, "ada@example.com", SPA).await;

    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(acao(res.headers()), Some(SPA));
    assert!(vary_origin(res.headers()));
    let body = json(res).await;
    let rt = body["refresh_token"].as_str().expect("refresh token");

    // Act: the refresh from an origin another client allows.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .header("Origin", OTHER)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", &c.id),
        ])
        .send()
        .await
        .expect("refresh");

    // Assert: it works (CORS is the browser's check), but carries no origin.
    assert_eq!(res.status(), 200);
    no_cors(res.headers(), "another client's origin");
    assert!(vary_origin(res.headers()));

    // Act: an error after authentication, from the app's origin: readable by the app.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .header("Origin", SPA)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "ac_nope"),
            ("client_id", &c.id),
            ("code_verifier", "x"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(acao(res.headers()), Some(SPA));
    expect_oauth_error(res, 400, "invalid_grant").await;

    // The other client's origin is not this one's.
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .header("Origin", SPA)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt_nope"),
            ("client_id", &other.id),
        ])
        .send()
        .await
        .expect("token");
    no_cors(res.headers(), "other client");
}

#[tokio::test]
async fn an_error_answered_before_the_client_is_authenticated_carries_no_cors_headers() {
    // Arrange
    let app = spawn_app().await;
    let c = spa(&app).await;

    for form in [
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt_x"),
            ("client_id", "cl_unknown"),
        ],
        vec![("grant_type", "password"), ("client_id", c.id.as_str())],
        vec![("grant_type", "refresh_token"), ("refresh_token", "rt_x")],
    ] {
        // Act
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .header("Origin", SPA)
            .form(&form)
            .send()
            .await
            .expect("token");

        // Assert
        assert!(res.status().is_client_error(), "{form:?}");
        no_cors(res.headers(), &format!("{form:?}"));
    }
}

#[tokio::test]
async fn a_confidential_client_is_callable_from_a_browser_only_from_origins_it_names() {
    // Arrange
    let app = spawn_app().await;
    let plain = app.confidential_client().await;
    let named = app
        .create_client(ClientSpec {
            allowed_origins: Some(vec!["https://backoffice.example.com"]),
            ..ClientSpec::default()
        })
        .await;

    let call = |c: TestClient, origin: &'static str| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/oauth/revoke"))
                .basic_auth(&c.id, c.secret.as_deref())
                .header("Origin", origin)
                .form(&[("token", "rt_whatever")])
                .send()
                .await
                .expect("revoke")
        }
    };

    // Act + Assert: the default for a confidential client is no origin at all.
    let res = call(plain.clone(), "https://app.example.com").await;
    assert_eq!(res.status(), 200);
    no_cors(res.headers(), "confidential default");
    // A named origin is allowed, in preflight and in the actual answer.
    let res = preflight(
        &app,
        "/oauth/revoke",
        "https://backoffice.example.com",
        "POST",
    )
    .await;
    assert_eq!(acao(res.headers()), Some("https://backoffice.example.com"));
    let res = call(named.clone(), "https://backoffice.example.com").await;
    assert_eq!(res.status(), 200);
    assert_eq!(acao(res.headers()), Some("https://backoffice.example.com"));
    // Naming origins replaces the default: the redirect URI's origin is not among them.
    let res = call(named, "https://app.example.com").await;
    no_cors(res.headers(), "not named");
}

#[tokio::test]
async fn userinfo_carries_the_origin_of_the_tokens_client_only() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let c = spa(&app).await;
    app.create_client(ClientSpec {
        public: true,
        redirect_uris: vec!["https://other.example.com/cb"],
        grant_types: vec!["authorization_code"],
        ..ClientSpec::default()
    })
    .await;
    let body = json(tokens_from(&app, &c, "ada@example.com", SPA).await).await;
    let at = body["access_token"].as_str().expect("access token");

    let userinfo = |origin: &'static str, token: &'static str| {
        let app = &app;
        let token = if token.is_empty() {
            at.to_owned()
        } else {
            token.to_owned()
        };
        async move {
            app.http
                .get(app.url("/oauth/userinfo"))
                .bearer_auth(token)
                .header("Origin", origin)
                .send()
                .await
                .expect("userinfo")
        }
    };

    // Act + Assert
    let res = userinfo(SPA, "").await;
    assert_eq!(res.status(), 200);
    assert_eq!(acao(res.headers()), Some(SPA));
    assert!(vary_origin(res.headers()));
    let res = userinfo(OTHER, "").await;
    assert_eq!(res.status(), 200);
    no_cors(res.headers(), "another client's origin");
    // An invalid token names no client: no CORS headers.
    let res = userinfo(SPA, "not-a-token").await;
    assert_eq!(res.status(), 401);
    no_cors(res.headers(), "invalid token");
}

#[tokio::test]
async fn authorize_introspect_pages_dashboard_and_v1_never_answer_cors() {
    // Arrange: the origin is allowed for a client.
    let app = spawn_app().await;
    let c = spa(&app).await;

    for path in [
        format!("/oauth/authorize?client_id={}&response_type=code", c.id),
        "/oauth/introspect".to_owned(),
        "/login".to_owned(),
        "/signup".to_owned(),
        "/dashboard".to_owned(),
        "/v1/clients".to_owned(),
        "/device".to_owned(),
    ] {
        // Act
        let pre = preflight(&app, &path, SPA, "POST").await;
        let get = app
            .http
            .get(app.url(&path))
            .header("Origin", SPA)
            .send()
            .await
            .expect("get");
        let post = app
            .http
            .post(app.url(&path))
            .header("Origin", SPA)
            .form(&[("token", "x")])
            .send()
            .await
            .expect("post");

        // Assert
        for res in [pre, get, post] {
            no_cors(res.headers(), &path);
        }
    }
}

#[tokio::test]
async fn v1_clients_set_validate_and_show_allowed_origins_and_preflights_follow_at_once() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user("owner@example.com", PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, true, &["read", "write"]).await;

    // Act: a confidential app naming its browser origin (normalised).
    let res = bearer_post(
        &app,
        &key,
        "/v1/clients",
        &[
            ("name", "Back office"),
            ("redirect_uris[]", "https://bo.example.com/cb"),
            ("allowed_origins[]", "https://BO.example.com:443"),
            ("allowed_origins[]", "http://localhost:5173"),
        ],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 200);
    let c = json(res).await;
    assert_eq!(
        c["allowed_origins"],
        serde_json::json!(["https://bo.example.com", "http://localhost:5173"])
    );
    let res = preflight(&app, "/oauth/token", "http://localhost:5173", "POST").await;
    assert_eq!(acao(res.headers()), Some("http://localhost:5173"));

    // A public app shows its default origins.
    let res = bearer_post(
        &app,
        &key,
        "/v1/clients",
        &[
            ("name", "SPA"),
            ("public", "true"),
            ("redirect_uris[]", SPA_CB),
        ],
    )
    .await;
    let p = json(res).await;
    assert_eq!(p["allowed_origins"], serde_json::json!([SPA]));

    // Act: invalid origins are refused, naming the parameter.
    for bad in [
        "https://bo.example.com/path",
        "http://bo.example.com",
        "bo.example.com",
        "https://*.example.com",
        "javascript://x",
    ] {
        let res = bearer_post(
            &app,
            &key,
            &format!("/v1/clients/{}", c["id"].as_str().expect("id")),
            &[("allowed_origins[]", bad)],
        )
        .await;
        assert_eq!(res.status(), 400, "{bad}");
        let body = json(res).await;
        assert_eq!(body["error"]["param"], "allowed_origins", "{bad}");
    }

    // Act: the list is replaced; the old origin stops being answered at once.
    let res = bearer_post(
        &app,
        &key,
        &format!("/v1/clients/{}", c["id"].as_str().expect("id")),
        &[("allowed_origins[]", "https://new.example.com")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(res).await["allowed_origins"],
        serde_json::json!(["https://new.example.com"])
    );
    let res = preflight(&app, "/oauth/token", "http://localhost:5173", "POST").await;
    no_cors(res.headers(), "replaced origin");
    let res = preflight(&app, "/oauth/token", "https://new.example.com", "POST").await;
    assert_eq!(acao(res.headers()), Some("https://new.example.com"));
}

#[tokio::test]
async fn a_disabled_clients_origins_are_not_answered() {
    // Arrange
    let app = spawn_app().await;
    let c = spa(&app).await;
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .expect("query")
        .expect("row");

    // Act
    latch::clients::set_disabled(&app.db, &app.state.rows, &row, true, chrono::Utc::now())
        .await
        .expect("disabled");
    app.state.origins.reload(&app.db).await.expect("reload");

    // Assert
    let res = preflight(&app, "/oauth/token", SPA, "POST").await;
    no_cors(res.headers(), "disabled client");
}

#[tokio::test]
async fn the_dashboard_app_page_shows_and_edits_allowed_origins() {
    // Arrange: Ann's own public app.
    let app = spawn_app().await;
    let ann = app.create_user("ann@example.com", PASSWORD).await;
    let (c, _) = latch::clients::create(
        &app.db,
        &app.state.catalog.get(),
        &app.state.logos,
        latch::clients::NewClient {
            name: "Ann's SPA".into(),
            redirect_uris: vec![SPA_CB.into()],
            public: true,
            grant_types: vec!["authorization_code".into()],
            scopes: vec!["read".into()],
            livemode: true,
            first_party: false,
            resource_server: false,
            owner_id: Some(ann.id.clone()),
            metadata: Default::default(),
            allowed_origins: None,
        },
    )
    .await
    .expect("client");
    let browser = app.signed_in_browser("ann@example.com").await;
    let path = format!("/dashboard/apps/{}", c.id);
    let page = browser.get(app.url(&path)).send().await.unwrap();
    let html = page.text().await.unwrap();

    // Assert: the field, and the default in force.
    assert!(html.contains("name=\"allowed_origins\""), "{html}");
    assert!(
        html.contains(&format!("<code>{SPA}</code>")),
        "default shown"
    );
    let csrf = input_value(&html, "csrf").expect("csrf");
    let save = |origins: &'static str| {
        let (browser, csrf, path) = (&browser, csrf.clone(), path.clone());
        let app = &app;
        async move {
            browser
                .post(app.url(&path))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("name", "Ann's SPA"),
                    ("redirect_uris", SPA_CB),
                    ("allowed_origins", origins),
                ])
                .send()
                .await
                .unwrap()
        }
    };

    // Act: an invalid origin is explained, nothing changes.
    let res = save("https://spa.example.com/path").await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("https://spa.example.com/path")
    );

    // Act: an empty field keeps the default.
    let res = save("").await;
    assert_eq!(res.status(), 303);
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.allowed_origins, None);

    // Act: naming origins replaces the default, answered at once.
    let res = save("https://app.example.org\r\nhttp://localhost:3000").await;
    assert_eq!(res.status(), 303);
    let res = preflight(&app, "/oauth/token", "http://localhost:3000", "POST").await;
    assert_eq!(acao(res.headers()), Some("http://localhost:3000"));
    let res = preflight(&app, "/oauth/token", SPA, "POST").await;
    no_cors(res.headers(), "default replaced");
}
