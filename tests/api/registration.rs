//! Dynamic client registration (RFC 7591) and client management (RFC 7592) at
//! `/oauth/register`: initial access tokens from the CLI, a registered client running a real
//! code + PKCE flow with the `oauth2` crate, the registration access token bound to one
//! client, the metadata rules shared with the dashboard and `/v1`, open registration (off by
//! default, public clients only, limited per IP), and the dashboard's auth-method, JWKS and
//! PAR fields.

use std::process::{Command, Stdio};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};

use crate::helpers::*;

const CB: &str = "https://agent.example.com/callback";

/// `latch client registration-token --json` against the app's database, as an operator.
fn cli_token(app: &TestApp, extra: &[&str]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_latch"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LATCH_") {
            c.env_remove(k);
        }
    }
    let cwd = tempfile::tempdir().expect("temp dir");
    c.env("LATCH_DATABASE_URL", &app.test_db.url)
        .env(
            "LATCH_SECRET_KEY",
            latch::config::SecretKey::generate().to_base64(),
        )
        .current_dir(cwd.path())
        .args(["client", "registration-token"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("latch runs")
}

/// A fresh initial access token, made as the dashboard and CLI make them.
pub(crate) async fn iat(app: &TestApp) -> String {
    latch::clients::registration::mint_iat(&app.db, None, 3600, app.clock.now())
        .await
        .expect("token")
        .0
}

/// `POST /oauth/register` with `body`, under `token` when given (RFC 7591 §3.1).
pub(crate) async fn register(app: &TestApp, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut r = app.http.post(app.url("/oauth/register")).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("POST /oauth/register")
}

async fn with_rat(
    app: &TestApp,
    method: reqwest::Method,
    uri: &str,
    rat: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app.http.request(method, uri);
    if let Some(t) = rat {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.expect("request")
}

/// An RFC 7591 §3.2.2 / RFC 6750 error: status, code, and never cached.
async fn expect_error(res: reqwest::Response, status: u16, code: &str) {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["cache-control"], "no-store");
    if status == 401 {
        let challenge = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
    let body = json(res).await;
    assert_eq!(body["error"], code, "{body}");
}

fn public_agent() -> Value {
    json!({
        "client_name": "Agent",
        "redirect_uris": [CB],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid read",
    })
}

#[tokio::test]
async fn a_client_registered_with_an_initial_access_token_runs_a_code_flow() {
    // Arrange: an operator makes a token with the CLI.
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let out = cli_token(&app, &["--json", "--expires-in", "2h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let token = printed["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("iat_"));
    let stored = latch::store::registration_tokens::usable(
        &app.db,
        &latch::crypto::sha256_hex(&token),
        app.clock.now(),
    )
    .await
    .unwrap()
    .expect("only the digest is stored, under which the token is found");
    assert!((stored.expires_at - app.clock.now()).num_minutes() > 110);

    // Act: register a confidential client.
    let res = register(
        &app,
        Some(&token),
        json!({
            "client_name": "Agent",
            "redirect_uris": [CB],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid read write",
            "client_uri": "https://agent.example.com",
            "contacts": ["ops@agent.example.com"],
        }),
    )
    .await;

    // Assert: RFC 7591 §3.2.1 and RFC 7592 §3.
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let reg = json(res).await;
    let id = reg["client_id"].as_str().expect("client_id").to_owned();
    let secret = reg["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned();
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert!(reg["client_id_issued_at"].as_i64().is_some());
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(reg["redirect_uris"], json!([CB]));
    assert_eq!(reg["response_types"], json!(["code"]));
    assert_eq!(reg["scope"], "openid read write");
    assert_eq!(reg["client_uri"], "https://agent.example.com");
    assert!(reg.get("contacts").is_none(), "unknown metadata is ignored");
    assert!(
        reg["registration_access_token"]
            .as_str()
            .unwrap()
            .starts_with("rat_")
    );
    assert_eq!(
        reg["registration_client_uri"],
        format!("{}/oauth/register/{id}", app.settings.issuer)
    );

    // The token is spent.
    expect_error(
        register(&app, Some(&token), public_agent()).await,
        401,
        "invalid_token",
    )
    .await;

    // The consent screen names an outside party and shows the unverified notice.
    let browser = app.signed_in_browser("ann@example.com").await;
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(CB.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let page = browser.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Unverified app"), "{html}");
    assert!(html.contains("an outside party"), "{html}");

    // Act: the flow, with the oauth2 crate.
    let res = app
        .authorize_in_browser(&browser, auth_url.as_str(), "ann@example.com", "allow")
        .await;
    assert_eq!(res.status(), 303);
    let code = query_of(&location(&res)).remove("code").expect("code");
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let claims = jwt_claims(tokens.access_token().secret());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["scope"], "read");

    // An audit event says it came through registration.
    use sea_orm::EntityTrait;
    let events = entity::audit_event::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "client.created"
        && e.detail.contains("\"via\":\"registration\"")
        && e.detail.contains(&id)));
}

#[tokio::test]
async fn the_registration_access_token_reads_updates_and_deletes_only_its_client() {
    // Arrange
    let app = spawn_app().await;
    let a = json(register(&app, Some(&iat(&app).await), public_agent()).await).await;
    let b = json(register(&app, Some(&iat(&app).await), public_agent()).await).await;
    // The issuer of the test app is not its address: the same path on the spawned app.
    let uri = app.url(
        a["registration_client_uri"]
            .as_str()
            .unwrap()
            .trim_start_matches(app.settings.issuer.as_str()),
    );
    let rat = a["registration_access_token"].as_str().unwrap().to_owned();
    let other_rat = b["registration_access_token"].as_str().unwrap().to_owned();
    let id = a["client_id"].as_str().unwrap().to_owned();
    let get = reqwest::Method::GET;

    // Read: its own token only.
    let res = with_rat(&app, get.clone(), &uri, Some(&rat), None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let read = json(res).await;
    assert_eq!(read["client_id"], id.as_str());
    assert_eq!(read["token_endpoint_auth_method"], "none");
    assert!(read.get("client_secret").is_none());
    assert_eq!(read["registration_access_token"], rat.as_str());
    for bad in [Some(other_rat.as_str()), None, Some("rat_nonsense")] {
        expect_error(
            with_rat(&app, get.clone(), &uri, bad, None).await,
            401,
            "invalid_token",
        )
        .await;
    }
    let unknown = app.url("/oauth/register/cl_unknown");
    expect_error(
        with_rat(&app, get.clone(), &unknown, Some(&rat), None).await,
        401,
        "invalid_token",
    )
    .await;

    // Update: the body replaces the registration (RFC 7592 §2.2) under the same rules.
    let put = reqwest::Method::PUT;
    let mut body = public_agent();
    body["client_id"] = json!(id);
    body["client_name"] = json!("Agent 2");
    body["redirect_uris"] = json!(["https://agent.example.com/v2", "http://127.0.0.1:8123/cb"]);
    for (change, code) in [
        (
            json!({"client_id": "cl_someone_else"}),
            "invalid_client_metadata",
        ),
        (
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "response_types": []}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"scope": "openid launch_missiles"}),
            "invalid_client_metadata",
        ),
    ] {
        let mut b = body.clone();
        for (k, v) in change.as_object().unwrap() {
            b[k] = v.clone();
        }
        expect_error(
            with_rat(&app, put.clone(), &uri, Some(&rat), Some(b)).await,
            400,
            code,
        )
        .await;
    }
    expect_error(
        with_rat(
            &app,
            put.clone(),
            &uri,
            Some(&other_rat),
            Some(body.clone()),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;
    let res = with_rat(&app, put.clone(), &uri, Some(&rat), Some(body)).await;
    assert_eq!(res.status(), 200);
    let updated = json(res).await;
    assert_eq!(updated["client_name"], "Agent 2");
    assert_eq!(updated["client_id"], id.as_str());
    let row = latch::store::clients::by_id(&app.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.name, "Agent 2");
    assert_eq!(
        row.redirect_uris,
        "https://agent.example.com/v2 http://127.0.0.1:8123/cb"
    );
    assert!(row.is_public);

    // Delete: not with another client's token; then gone, and the token with it.
    let delete = reqwest::Method::DELETE;
    expect_error(
        with_rat(&app, delete.clone(), &uri, Some(&other_rat), None).await,
        401,
        "invalid_token",
    )
    .await;
    let res = with_rat(&app, delete, &uri, Some(&rat), None).await;
    assert_eq!(res.status(), 204);
    assert!(
        latch::store::clients::by_id(&app.db, &id)
            .await
            .unwrap()
            .is_none()
    );
    expect_error(
        with_rat(&app, get, &uri, Some(&rat), None).await,
        401,
        "invalid_token",
    )
    .await;
    let b_id = b["client_id"].as_str().unwrap();
    assert!(
        latch::store::clients::by_id(&app.db, b_id)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn missing_wrong_expired_and_used_initial_access_tokens_are_refused() {
    let app = spawn_app().await;
    // None (open registration is off by default), wrong, malformed, another scheme.
    expect_error(
        register(&app, None, public_agent()).await,
        401,
        "invalid_token",
    )
    .await;
    let wrong = latch::crypto::mint_secret("iat_");
    expect_error(
        register(&app, Some(&wrong), public_agent()).await,
        401,
        "invalid_token",
    )
    .await;
    expect_error(
        register(&app, Some("iat_short"), public_agent()).await,
        401,
        "invalid_token",
    )
    .await;
    let basic = app
        .http
        .post(app.url("/oauth/register"))
        .basic_auth("x", Some("y"))
        .json(&public_agent())
        .send()
        .await
        .unwrap();
    expect_error(basic, 401, "invalid_token").await;

    // Expired: a token of 60 s, a minute and a second later.
    let (short, _) = latch::clients::registration::mint_iat(&app.db, None, 60, app.clock.now())
        .await
        .unwrap();
    app.advance(61);
    expect_error(
        register(&app, Some(&short), public_agent()).await,
        401,
        "invalid_token",
    )
    .await;

    // Used: once.
    let token = iat(&app).await;
    assert_eq!(
        register(&app, Some(&token), public_agent()).await.status(),
        201
    );
    expect_error(
        register(&app, Some(&token), public_agent()).await,
        401,
        "invalid_token",
    )
    .await;

    // The CLI refuses a lifetime outside 60 s to 30 days.
    let out = cli_token(&app, &["--expires-in", "31d"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn metadata_is_validated_with_the_dashboard_rules_and_a_refusal_spends_nothing() {
    let app = spawn_app().await;
    let token = iat(&app).await;
    let with = |change: Value| {
        let mut b = public_agent();
        for (k, v) in change.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for (change, code) in [
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://agent.example.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://agent.example.com/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"scope": "openid launch_missiles"}),
            "invalid_client_metadata",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"token_endpoint_auth_method": "client_secret_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"logo_uri": "javascript:alert(1)"}),
            "invalid_client_metadata",
        ),
        (
            json!({"tos_uri": "http://agent.example.com/tos"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "https://agent.example.com/cb"}),
            "invalid_client_metadata",
        ),
        (
            json!({"software_statement": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}),
            "unapproved_software_statement",
        ),
    ] {
        expect_error(register(&app, Some(&token), with(change)).await, 400, code).await;
    }
    let not_json = app
        .http
        .post(app.url("/oauth/register"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_name=x")
        .send()
        .await
        .unwrap();
    expect_error(not_json, 400, "invalid_request").await;

    // private_key_jwt with keys, on the same token: none of the refusals spent it.
    let key = latch::signing::generate(latch::signing::SigningAlg::ES256).unwrap();
    let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
    let res = register(
        &app,
        Some(&token),
        json!({
            "client_name": "Keyed",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [jwk]},
        }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let reg = json(res).await;
    assert!(reg.get("client_secret").is_none());
    assert_eq!(reg["response_types"], json!([]));
    assert_eq!(reg["jwks"]["keys"][0]["kid"], key.kid.as_str());
}

#[tokio::test]
async fn open_registration_is_off_by_default_public_only_and_limited_per_ip() {
    // Off by default, yet the endpoint is advertised (RFC 8414 §2).
    let app = spawn_app().await;
    assert!(!app.settings.open_registration);
    let meta = json(app.get("/.well-known/oauth-authorization-server").await).await;
    assert_eq!(
        meta["registration_endpoint"],
        format!("{}/oauth/register", app.settings.issuer)
    );
    expect_error(
        register(&app, None, public_agent()).await,
        401,
        "invalid_token",
    )
    .await;

    // On: a public client without a token; a confidential one refused; 2 an hour per IP.
    let app = spawn_app_with(|s| {
        s.open_registration = true;
        s.rate_limit = true;
        s.limits.register_ip = latch::rate_limit::Rate {
            count: 2,
            period: std::time::Duration::from_secs(3600),
            burst: 2,
        };
    })
    .await;
    let mut confidential = public_agent();
    confidential["token_endpoint_auth_method"] = json!("client_secret_basic");
    expect_error(
        register(&app, None, confidential).await,
        400,
        "invalid_client_metadata",
    )
    .await;
    let mut defaulted = public_agent();
    defaulted
        .as_object_mut()
        .unwrap()
        .remove("token_endpoint_auth_method");
    let res = register(&app, None, defaulted).await;
    assert_eq!(res.status(), 201);
    let reg = json(res).await;
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    assert!(reg.get("client_secret").is_none());
    let row = latch::store::clients::by_id(&app.db, reg["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(row.is_public && !row.resource_server && !row.first_party);
    assert!(row.owner_id.is_none());
    let trust = latch::clients::trust_of(&row, None);
    assert_eq!(trust.by, latch::clients::RegisteredBy::Registration);
    assert!(!trust.verified);

    let res = register(&app, None, public_agent()).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // An initial access token is not limited by the open door's budget.
    assert_eq!(
        register(&app, Some(&iat(&app).await), public_agent())
            .await
            .status(),
        201
    );
}

async fn csrf_of(app: &TestApp, browser: &reqwest::Client, path: &str) -> (u16, String, String) {
    let res = browser.get(app.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    let html = res.text().await.unwrap();
    let csrf = input_value(&html, "csrf").unwrap_or_default();
    (status, html, csrf)
}

#[tokio::test]
async fn the_dashboard_edits_auth_method_keys_and_par_with_the_same_rules() {
    // Arrange: Ann's confidential app.
    let app = spawn_app().await;
    let ann = app.create_user("ann@example.com", PASSWORD).await;
    let (c, secret) = latch::clients::create(
        &app.db,
        &app.state.catalog.get(),
        &app.state.logos,
        latch::clients::NewClient {
            name: "Ann's app".into(),
            redirect_uris: vec![CB.into()],
            public: false,
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
    .unwrap();
    assert!(secret.is_some());
    let browser = app.signed_in_browser("ann@example.com").await;
    let path = format!("/dashboard/apps/{}", c.id);
    let (status, html, csrf) = csrf_of(&app, &browser, &path).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<option value=\"client_secret_basic\" selected>"),
        "{html}"
    );
    assert!(html.contains("name=\"require_par\""));
    let key = latch::signing::generate(latch::signing::SigningAlg::ES256).unwrap();
    let jwks =
        json!({"keys": [serde_json::from_str::<Value>(&key.public_jwk).unwrap()]}).to_string();
    let save = |method: &'static str, jwks: String, jwks_uri: &'static str, par: bool| {
        let mut form = vec![
            ("csrf", csrf.clone()),
            ("name", "Ann's app".to_owned()),
            ("redirect_uris", CB.to_owned()),
            ("protocol_shown", "1".to_owned()),
            ("token_endpoint_auth_method", method.to_owned()),
            ("jwks", jwks),
            ("jwks_uri", jwks_uri.to_owned()),
        ];
        if par {
            form.push(("require_par", "1".to_owned()));
        }
        browser.post(app.url(&path)).form(&form).send()
    };
    let row = || async {
        latch::store::clients::by_id(&app.db, &c.id)
            .await
            .unwrap()
            .unwrap()
    };

    // Refused like the CLI and /v1 refuse them; nothing changes.
    for (method, jwks, uri, why) in [
        (
            "private_key_jwt",
            String::new(),
            "",
            "exactly one of jwks and jwks_uri",
        ),
        (
            "private_key_jwt",
            jwks.clone(),
            "https://agent.example.com/jwks.json",
            "exactly one",
        ),
        (
            "private_key_jwt",
            String::new(),
            "http://agent.example.com/jwks.json",
            "jwks_uri",
        ),
        ("private_key_jwt", "{\"keys\": 1}".to_owned(), "", "jwks"),
        ("client_secret_basic", jwks.clone(), "", "private_key_jwt"),
        ("none", String::new(), "", "public"),
        ("client_secret_jwt", String::new(), "", "client_secret_jwt"),
    ] {
        let res = save(method, jwks, uri, true).await.unwrap();
        assert_eq!(res.status(), 422, "{method} {uri}");
        let html = html_unescape(&res.text().await.unwrap());
        assert!(html.contains(why), "{why}: {html}");
    }
    let r = row().await;
    assert_eq!(r.token_endpoint_auth_method, "client_secret_basic");
    assert!(!r.require_par && r.secret_hash.is_some());

    // To private_key_jwt with an inline key and PAR required: the secret ends.
    let res = save("private_key_jwt", jwks.clone(), "", true)
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let r = row().await;
    assert_eq!(r.token_endpoint_auth_method, "private_key_jwt");
    assert_eq!(r.jwks.as_deref(), Some(jwks.as_str()));
    assert!(r.require_par);
    assert!(r.secret_hash.is_none());
    let (_, html, _) = csrf_of(&app, &browser, &path).await;
    assert!(html.contains("<option value=\"private_key_jwt\" selected>"));

    // Back to a secret: a new one, shown once; PAR off.
    let res = save("client_secret_post", String::new(), "", false)
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/shown-once");
    let shown = browser
        .get(app.url("/dashboard/shown-once"))
        .send()
        .await
        .unwrap();
    let html = shown.text().await.unwrap();
    assert!(html.contains("cs_"), "the new secret is shown");
    let r = row().await;
    assert_eq!(r.token_endpoint_auth_method, "client_secret_post");
    assert!(r.jwks.is_none() && !r.require_par && r.secret_hash.is_some());
}

/// The text of `<code id="{id}">…</code>`.
fn code_by_id(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("<code id=\"{id}\">"))?;
    let rest = &html[start + format!("<code id=\"{id}\">").len()..];
    Some(html_unescape(&rest[..rest.find("</code>")?]))
}

#[tokio::test]
async fn an_admin_makes_an_initial_access_token_on_the_dashboard_shown_once() {
    // Arrange: an admin and a member.
    let app = spawn_app().await;
    latch::users::create(&app.db, "root@example.com", PASSWORD, true)
        .await
        .unwrap();
    app.create_user("ann@example.com", PASSWORD).await;

    // A member cannot make one.
    let member = app.signed_in_browser("ann@example.com").await;
    let (_, _, csrf) = csrf_of(&app, &member, "/dashboard").await;
    let res = member
        .post(app.url("/dashboard/admin/registration_tokens"))
        .form(&[("csrf", csrf.as_str()), ("expires_in", "1h")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Act: the admin's form on the Apps page.
    let admin = app.signed_in_browser("root@example.com").await;
    let (status, html, csrf) = csrf_of(&app, &admin, "/dashboard/admin/apps").await;
    assert_eq!(status, 200);
    assert!(html.contains("action=\"/dashboard/admin/registration_tokens\""));
    assert!(html.contains("Open registration (public apps without a token) is off"));
    let res = admin
        .post(app.url("/dashboard/admin/registration_tokens"))
        .form(&[("csrf", csrf.as_str()), ("expires_in", "1h")])
        .send()
        .await
        .unwrap();

    // Assert: post-redirect-get to the one-time view, then gone.
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/shown-once");
    let page = admin
        .get(app.url("/dashboard/shown-once"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let token = code_by_id(&html, "registration-token").expect("the token on the page");
    assert!(token.starts_with("iat_"));
    let again = admin
        .get(app.url("/dashboard/shown-once"))
        .send()
        .await
        .unwrap();
    let again = again.text().await.unwrap_or_default();
    assert!(!again.contains(&token), "shown once only");

    // The token works once, and the event is in the admin's activity.
    assert_eq!(
        register(&app, Some(&token), public_agent()).await.status(),
        201
    );
    expect_error(
        register(&app, Some(&token), public_agent()).await,
        401,
        "invalid_token",
    )
    .await;
    use sea_orm::EntityTrait;
    let events = entity::audit_event::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    let root = latch::store::users::by_email(&app.db, "root@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "registration_token.created"
        && e.user_id.as_deref() == Some(root.id.as_str())));
    assert!(events.iter().any(|e| e.kind == "client.created"
        && e.user_id.as_deref() == Some(root.id.as_str())
        && e.detail.contains("initial_access_token")));
}

#[tokio::test]
async fn logout_uris_are_registered_validated_and_replaced_by_an_update() {
    // Arrange
    let app = spawn_app().await;
    let mut body = public_agent();
    body["post_logout_redirect_uris"] = json!(["https://agent.example.com/bye"]);
    body["backchannel_logout_uri"] = json!("https://agent.example.com/bc");

    // Act
    let res = register(&app, Some(&iat(&app).await), body.clone()).await;

    // Assert: stored and answered (OIDC RP-Initiated Logout §3.1, Back-Channel Logout §2.2).
    assert_eq!(res.status(), 201);
    let reg = json(res).await;
    assert_eq!(
        reg["post_logout_redirect_uris"],
        json!(["https://agent.example.com/bye"])
    );
    assert_eq!(
        reg["backchannel_logout_uri"],
        "https://agent.example.com/bc"
    );
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let stored = latch::store::clients::by_id(&app.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.post_logout_redirect_uris,
        "https://agent.example.com/bye"
    );

    // The same URI rules as the dashboard's, refusing before anything is created or spent.
    let token = iat(&app).await;
    for (field, bad) in [
        ("post_logout_redirect_uris", json!(["javascript:alert(1)"])),
        (
            "post_logout_redirect_uris",
            json!(["http://agent.example.com/bye"]),
        ),
        (
            "backchannel_logout_uri",
            json!("https://agent.example.com/bc#frag"),
        ),
    ] {
        let mut b = public_agent();
        b[field] = bad.clone();
        let res = register(&app, Some(&token), b).await;
        assert_eq!(res.status(), 400, "{field} {bad}");
        let e = json(res).await;
        assert!(
            e["error"] == "invalid_client_metadata" || e["error"] == "invalid_redirect_uri",
            "{e}"
        );
    }
    assert_eq!(
        register(&app, Some(&token), public_agent()).await.status(),
        201
    );

    // RFC 7592 §2.2: an update replaces the registration, so omitted logout fields go.
    let uri = app.url(
        reg["registration_client_uri"]
            .as_str()
            .unwrap()
            .trim_start_matches(app.settings.issuer.as_str()),
    );
    let mut update = public_agent();
    update["client_id"] = json!(id);
    let res = with_rat(
        &app,
        reqwest::Method::PUT,
        &uri,
        reg["registration_access_token"].as_str(),
        Some(update),
    )
    .await;
    assert_eq!(res.status(), 200);
    let updated = json(res).await;
    assert!(
        updated.get("post_logout_redirect_uris").is_none(),
        "{updated}"
    );
    assert!(updated.get("backchannel_logout_uri").is_none(), "{updated}");
}
