//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OIDC Core §9): a client
//! registered with a JWKS (inline or at a `jwks_uri`) authenticates with a signed assertion
//! at every endpoint that authenticates clients; `iss`/`sub`/`aud`/`exp`/`jti` are checked,
//! `jti` once across instances; only asymmetric algorithms; the registered method enforced.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latch::signing::SigningAlg;
use serde_json::json;

use crate::helpers::*;

const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client key pair: the private half signs, the public JWK is registered.
struct ClientKey {
    kid: String,
    alg: Algorithm,
    private: EncodingKey,
    jwk: serde_json::Value,
}

fn client_key(alg: SigningAlg) -> ClientKey {
    let k = latch::signing::generate(alg).expect("key");
    let (jalg, private) = match alg {
        SigningAlg::ES256 => (Algorithm::ES256, EncodingKey::from_ec_der(&k.private_der)),
        SigningAlg::EdDSA => (Algorithm::EdDSA, EncodingKey::from_ed_der(&k.private_der)),
        other => unreachable!("test keys are ES256 or EdDSA, not {other:?}"),
    };
    ClientKey {
        kid: k.kid,
        alg: jalg,
        private,
        jwk: serde_json::from_str(&k.public_jwk).expect("jwk"),
    }
}

fn jwks_of(keys: &[&ClientKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

/// An assertion for `client_id` signed by `key` with these claims (RFC 7523 §3).
fn sign(key: &ClientKey, claims: serde_json::Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &key.private).expect("sign")
}

/// Valid claims: `aud` the issuer, 60 s, a fresh `jti`.
fn claims(app: &TestApp, client_id: &str) -> serde_json::Value {
    json!({
        "iss": client_id, "sub": client_id, "aud": app.settings.issuer,
        "iat": unix_now(), "exp": unix_now() + 60, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// Register a `private_key_jwt` client (client_credentials and the code flow).
async fn pkjwt_client(app: &TestApp, jwks: Option<String>, jwks_uri: Option<String>) -> String {
    let new = latch::clients::NewClient {
        name: "Key App".into(),
        redirect_uris: vec!["https://app.example.com/callback".into()],
        public: false,
        grant_types: vec!["authorization_code".into(), "client_credentials".into()],
        scopes: vec!["read".into(), "write".into()],
        livemode: true,
        first_party: false,
        resource_server: false,
        owner_id: None,
        metadata: Default::default(),
        allowed_origins: None,
    };
    let protocol = latch::clients::Protocol {
        auth_method: Some("private_key_jwt".into()),
        jwks,
        jwks_uri,
        ..Default::default()
    };
    let (c, secret) = latch::clients::create_with(
        &app.db,
        &app.state.catalog.get(),
        &app.state.logos,
        new,
        protocol,
    )
    .await
    .expect("client created");
    assert!(secret.is_none(), "a private_key_jwt client has no secret");
    assert_eq!(c.token_endpoint_auth_method, "private_key_jwt");
    c.id
}

/// `client_credentials` authenticated by `assertion`.
async fn token_with(app: &TestApp, assertion: &str) -> reqwest::Response {
    app.post_form(
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("client_assertion_type", TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
}

/// A loopback server publishing whatever JWKS `doc` holds; counts the fetches.
async fn jwks_server(doc: Arc<Mutex<String>>, hits: Arc<AtomicUsize>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(move || {
        let (doc, hits) = (doc.clone(), hits.clone());
        App::new().route(
            "/jwks.json",
            web::get().to(move || {
                let (doc, hits) = (doc.clone(), hits.clone());
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let body = doc.lock().unwrap().clone();
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/jwks.json")
}

#[tokio::test]
async fn an_assertion_signed_with_an_inline_key_authenticates_at_every_client_endpoint() {
    // Arrange
    let app = spawn_app().await;
    let key = client_key(SigningAlg::ES256);
    let id = pkjwt_client(&app, Some(jwks_of(&[&key])), None).await;

    // Act: the token endpoint with aud = issuer, then the others with aud = their URL.
    let res = token_with(&app, &sign(&key, claims(&app, &id))).await;
    let at_endpoint = |path: &str| {
        let mut c = claims(&app, &id);
        c["aud"] = json!(format!("{}{path}", app.settings.issuer));
        sign(&key, c)
    };
    let token_url = token_with(&app, &at_endpoint("/oauth/token")).await;

    // Assert
    assert_token_headers(&res);
    assert_eq!(res.status(), 200);
    let token = json(res).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(jwt_claims(&token)["client_id"], id);
    assert_eq!(token_url.status(), 200, "aud = the token endpoint's URL");
    let introspect = app
        .post_form(
            "/oauth/introspect",
            &[
                ("token", &token),
                ("client_assertion_type", TYPE),
                ("client_assertion", &at_endpoint("/oauth/introspect")),
            ],
        )
        .await;
    assert_eq!(introspect.status(), 200);
    assert_eq!(json(introspect).await["active"], true);
    let (_, challenge) = pkce_pair();
    let par = app
        .post_form(
            "/oauth/par",
            &[
                ("response_type", "code"),
                ("scope", "read"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("client_assertion_type", TYPE),
                ("client_assertion", &at_endpoint("/oauth/par")),
            ],
        )
        .await;
    assert_eq!(par.status(), 201);
    let revoke = app
        .post_form(
            "/oauth/revoke",
            &[
                ("token", &token),
                ("client_assertion_type", TYPE),
                ("client_assertion", &at_endpoint("/oauth/revoke")),
            ],
        )
        .await;
    assert_eq!(revoke.status(), 200);
    let unauthenticated = app
        .post_form("/oauth/revoke", &[("token", &token), ("client_id", &id)])
        .await;
    expect_oauth_error(unauthenticated, 401, "invalid_client").await;
}

#[tokio::test]
async fn the_metadata_advertises_private_key_jwt_and_its_algorithms() {
    let app = spawn_app().await;

    let meta = json(app.get("/.well-known/oauth-authorization-server").await).await;

    let methods = meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("private_key_jwt")), "{meta}");
    let algs = meta["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("EdDSA")));
    assert!(
        !algs
            .iter()
            .any(|a| a == "none" || a.as_str().unwrap().starts_with("HS"))
    );
}

#[tokio::test]
async fn a_replayed_assertion_is_refused_here_and_on_a_sibling_instance() {
    // Arrange
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app).await;
    let key = client_key(SigningAlg::EdDSA);
    let id = pkjwt_client(&app, Some(jwks_of(&[&key])), None).await;
    let assertion = sign(&key, claims(&app, &id));

    // Act
    let first = token_with(&app, &assertion).await;
    let again = token_with(&app, &assertion).await;
    let on_sibling = token_with(&sibling, &assertion).await;

    // Assert: RFC 7523 §3 item 7.
    assert_eq!(first.status(), 200);
    expect_oauth_error(again, 401, "invalid_client").await;
    expect_oauth_error(on_sibling, 401, "invalid_client").await;
    let fresh = token_with(&sibling, &sign(&key, claims(&app, &id))).await;
    assert_eq!(fresh.status(), 200, "a new jti is accepted on the sibling");
}

#[tokio::test]
async fn wrong_claims_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let key = client_key(SigningAlg::ES256);
    let id = pkjwt_client(&app, Some(jwks_of(&[&key])), None).await;
    let other = pkjwt_client(&app, Some(jwks_of(&[&key])), None).await;
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims(&app, &id);
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    };
    let cases = [
        ("wrong aud", with("aud", json!("https://other.example"))),
        (
            "another endpoint's URL as aud",
            with(
                "aud",
                json!(format!("{}/oauth/revoke", app.settings.issuer)),
            ),
        ),
        ("exp 1 h ahead", with("exp", json!(unix_now() + 3600))),
        ("expired", with("exp", json!(unix_now() - 120))),
        ("no exp", with("exp", serde_json::Value::Null)),
        ("no jti", with("jti", serde_json::Value::Null)),
        ("iss of another client", with("iss", json!(other))),
        ("sub of another client", with("sub", json!(other))),
        ("not yet valid", with("nbf", json!(unix_now() + 600))),
    ];

    for (case, c) in cases {
        // Act
        let res = token_with(&app, &sign(&key, c)).await;

        // Assert
        let body = expect_oauth_error(res, 401, "invalid_client").await;
        assert!(body["error_description"].is_string(), "{case}");
    }
    let ok = token_with(&app, &sign(&key, with("exp", json!(unix_now() + 290)))).await;
    assert_eq!(ok.status(), 200, "exp within 5 minutes");
}

#[tokio::test]
async fn alg_none_and_hmac_assertions_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let key = client_key(SigningAlg::ES256);
    let id = pkjwt_client(&app, Some(jwks_of(&[&key])), None).await;
    let secret_client = app.machine_client().await;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims(&app, &id))
    );
    let hmac = |client_id: &str, secret: &[u8]| {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(&app, client_id),
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };

    // Act
    let none = token_with(&app, &unsigned).await;
    let hmac_own_secret = token_with(
        &app,
        &hmac(&secret_client.id, secret_client.secret().as_bytes()),
    )
    .await;
    let hmac_pkjwt = token_with(&app, &hmac(&id, b"anything")).await;

    // Assert
    expect_oauth_error(none, 401, "invalid_client").await;
    expect_oauth_error(hmac_own_secret, 401, "invalid_client").await;
    expect_oauth_error(hmac_pkjwt, 401, "invalid_client").await;
}

#[tokio::test]
async fn a_jwks_uri_is_fetched_cached_and_refreshed_on_an_unknown_kid_at_most_every_10_s() {
    // Arrange: the client publishes key A at a loopback URL (allowed: the issuer is too).
    let app = spawn_app().await;
    let a = client_key(SigningAlg::ES256);
    let b = client_key(SigningAlg::EdDSA);
    let doc = Arc::new(Mutex::new(jwks_of(&[&a])));
    let hits = Arc::new(AtomicUsize::new(0));
    let uri = jwks_server(doc.clone(), hits.clone()).await;
    let id = pkjwt_client(&app, None, Some(uri)).await;

    // Act + Assert: fetched once, then cached.
    assert_eq!(
        token_with(&app, &sign(&a, claims(&app, &id)))
            .await
            .status(),
        200
    );
    assert_eq!(
        token_with(&app, &sign(&a, claims(&app, &id)))
            .await
            .status(),
        200
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the set is cached");

    // The client rotates to key B. Right after the first fetch an unknown kid does not
    // make Latch fetch again (rate limited) …
    *doc.lock().unwrap() = jwks_of(&[&b]);
    let too_soon = token_with(&app, &sign(&b, claims(&app, &id))).await;
    expect_oauth_error(too_soon, 401, "invalid_client").await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // … 10 s later it does, and B works.
    app.advance(11);
    assert_eq!(
        token_with(&app, &sign(&b, claims(&app, &id)))
            .await
            .status(),
        200
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let old = token_with(&app, &sign(&a, claims(&app, &id))).await;
    expect_oauth_error(old, 401, "invalid_client").await;
}

#[tokio::test]
async fn the_registered_method_is_enforced() {
    // Arrange
    let app = spawn_app().await;
    let key = client_key(SigningAlg::ES256);
    let id = pkjwt_client(&app, Some(jwks_of(&[&key])), None).await;
    let secret_client = app.machine_client().await;

    // Act: the key client sends a secret-shaped credential or nothing; the secret client
    // sends an assertion signed by a key (RFC 7591 §2: one method per client).
    let with_secret = app
        .post_token_basic(
            &id,
            "cs_notasecret",
            &[("grant_type", "client_credentials")],
        )
        .await;
    let with_nothing = app
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials"), ("client_id", &id)],
        )
        .await;
    let assertion_for_secret_client =
        token_with(&app, &sign(&key, claims(&app, &secret_client.id))).await;
    let both = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&secret_client.id, Some(secret_client.secret()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", TYPE),
            ("client_assertion", &sign(&key, claims(&app, &id))),
        ])
        .send()
        .await
        .unwrap();

    // Assert
    expect_oauth_error(with_secret, 401, "invalid_client").await;
    expect_oauth_error(with_nothing, 401, "invalid_client").await;
    expect_oauth_error(assertion_for_secret_client, 401, "invalid_client").await;
    expect_oauth_error(both, 400, "invalid_request").await;
}

#[tokio::test]
async fn v1_registers_a_key_client_and_refuses_private_or_missing_keys() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (_, api_key) = key_for(&app, &user.id, true, &[]).await;
    let key = client_key(SigningAlg::ES256);
    let mut private_jwk = key.jwk.clone();
    private_jwk["d"] = json!("AAAA");
    let create = |body: serde_json::Value| {
        app.http
            .post(app.url("/v1/clients"))
            .bearer_auth(&api_key)
            .json(&body)
            .send()
    };

    // Act
    let ok = create(json!({
        "name": "Key App", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks_of(&[&key]),
        "require_pushed_authorization_requests": true,
    }))
    .await
    .unwrap();
    let private = create(json!({
        "name": "Key App", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": json!({"keys": [private_jwk]}).to_string(),
    }))
    .await
    .unwrap();
    let no_keys = create(json!({
        "name": "Key App", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
    }))
    .await
    .unwrap();
    let keys_without_method = create(json!({
        "name": "Key App", "grant_types": ["client_credentials"], "jwks": jwks_of(&[&key]),
    }))
    .await
    .unwrap();

    // Assert
    assert_eq!(ok.status(), 200);
    let body = json(ok).await;
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(body["require_pushed_authorization_requests"], true);
    assert!(body["secret"].is_null(), "{body}");
    assert_eq!(body["jwks"]["keys"][0]["kid"], key.kid.as_str());
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        token_with(&app, &sign(&key, claims(&app, id)))
            .await
            .status(),
        200
    );
    for (case, res) in [
        ("private", private),
        ("no keys", no_keys),
        ("keys without method", keys_without_method),
    ] {
        assert_eq!(res.status(), 400, "{case}");
        assert_eq!(
            json(res).await["error"]["type"],
            "invalid_request_error",
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_jwks_uri_on_a_private_address_or_too_large_is_never_used() {
    // Arrange: one client points at a private address (the SSRF fence of `clients::logo`),
    // another at a document over 64 KiB.
    let app = spawn_app().await;
    let key = client_key(SigningAlg::ES256);
    let private = pkjwt_client(&app, None, Some("https://10.1.2.3/jwks.json".into())).await;
    let mut big = json!({"keys": [key.jwk.clone()]});
    big["padding"] = json!("x".repeat(70 * 1024));
    let doc = Arc::new(Mutex::new(big.to_string()));
    let hits = Arc::new(AtomicUsize::new(0));
    let uri = jwks_server(doc, hits.clone()).await;
    let too_large = pkjwt_client(&app, None, Some(uri)).await;

    // Act
    let at_private = token_with(&app, &sign(&key, claims(&app, &private))).await;
    let from_large = token_with(&app, &sign(&key, claims(&app, &too_large))).await;
    let again = token_with(&app, &sign(&key, claims(&app, &too_large))).await;

    // Assert: refused; and a failed fetch is not retried at once (rate limited).
    expect_oauth_error(at_private, 401, "invalid_client").await;
    expect_oauth_error(from_large, 401, "invalid_client").await;
    expect_oauth_error(again, 401, "invalid_client").await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_sweeper_removes_expired_jtis_and_pushed_requests() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    // Arrange
    let app = spawn_app().await;
    let key = client_key(SigningAlg::ES256);
    let id = pkjwt_client(&app, Some(jwks_of(&[&key])), None).await;
    assert_eq!(
        token_with(&app, &sign(&key, claims(&app, &id)))
            .await
            .status(),
        200
    );
    let (_, challenge) = pkce_pair();
    let par = app
        .post_form(
            "/oauth/par",
            &[
                ("response_type", "code"),
                ("scope", "read"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("client_assertion_type", TYPE),
                ("client_assertion", &sign(&key, claims(&app, &id))),
            ],
        )
        .await;
    assert_eq!(par.status(), 201);
    let jtis = || entity::client_assertion_jti::Entity::find().count(&app.db);
    let pushed = || entity::pushed_request::Entity::find().count(&app.db);
    assert_eq!((jtis().await.unwrap(), pushed().await.unwrap()), (2, 1));

    // Act: a sweep now keeps them; one two hours on removes them.
    latch::sweeper::sweep(&app.db, app.clock.now(), chrono::TimeDelta::days(90))
        .await
        .unwrap();
    let kept = (jtis().await.unwrap(), pushed().await.unwrap());
    app.advance(2 * 3600);
    latch::sweeper::sweep(&app.db, app.clock.now(), chrono::TimeDelta::days(90))
        .await
        .unwrap();

    // Assert
    assert_eq!(kept, (2, 1));
    assert_eq!((jtis().await.unwrap(), pushed().await.unwrap()), (0, 0));
}

#[tokio::test]
async fn an_inline_key_is_rotated_through_v1_and_the_old_one_stops_at_once() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user("dev@example.com", PASSWORD).await;
    let (_, api_key) = key_for(&app, &user.id, true, &[]).await;
    let (a, b) = (client_key(SigningAlg::ES256), client_key(SigningAlg::EdDSA));
    let send = |path: String, body: serde_json::Value| {
        app.http
            .post(app.url(&path))
            .bearer_auth(&api_key)
            .json(&body)
            .send()
    };
    let made = json(
        send(
            "/v1/clients".into(),
            json!({
                "name": "Key App", "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks_of(&[&a]),
            }),
        )
        .await
        .unwrap(),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(
        token_with(&app, &sign(&a, claims(&app, &id)))
            .await
            .status(),
        200
    );

    // Act: replace A by B; a secret client may not be given keys.
    let rotated = send(format!("/v1/clients/{id}"), json!({"jwks": jwks_of(&[&b])}))
        .await
        .unwrap();
    let secret_client = json(
        send(
            "/v1/clients".into(),
            json!({"name": "Secret App", "grant_types": ["client_credentials"]}),
        )
        .await
        .unwrap(),
    )
    .await;
    let keys_for_secret_client = send(
        format!("/v1/clients/{}", secret_client["id"].as_str().unwrap()),
        json!({"jwks": jwks_of(&[&b])}),
    )
    .await
    .unwrap();

    // Assert
    assert_eq!(rotated.status(), 200);
    assert_eq!(
        json(rotated).await["jwks"]["keys"][0]["kid"],
        b.kid.as_str()
    );
    let old = token_with(&app, &sign(&a, claims(&app, &id))).await;
    expect_oauth_error(old, 401, "invalid_client").await;
    assert_eq!(
        token_with(&app, &sign(&b, claims(&app, &id)))
            .await
            .status(),
        200
    );
    assert_eq!(keys_for_secret_client.status(), 400);
}
