#![allow(dead_code)]
//! The black-box harness: the real app on port 0 against a fresh database (a temp SQLite
//! file, or a fresh PostgreSQL database when `DATABASE_URL` starts with `postgres`), with
//! the real migrations, driven over HTTP.

use std::sync::LazyLock;

use latch::config::Settings;
use latch::startup::Application;
use reqwest::redirect::Policy;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        latch::telemetry::init(
            latch::config::LogFormat::Pretty,
            "info,latch=debug,sqlx=warn",
        );
    }
});

pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// A PostgreSQL database this value created and drops when it goes away.
    _pg: Option<PgDatabaseGuard>,
}

/// Drops a PostgreSQL test database when the test ends (passed or panicked), so a run
/// leaves no `latch_test_*` databases behind (#15). `WITH (FORCE)` (PostgreSQL 13+) ends
/// the app's pooled connections, which outlive the test body.
pub struct PgDatabaseGuard {
    pub admin_url: String,
    pub name: String,
}

impl Drop for PgDatabaseGuard {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let done = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    admin.close().await.ok();
                }
            });
        });
        let _ = done.join();
    }
}

impl TestDb {
    pub async fn create() -> TestDb {
        match std::env::var("DATABASE_URL") {
            Ok(base) if base.starts_with("postgres") => {
                let name = format!("latch_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&base)
                    .await
                    .expect("DATABASE_URL is reachable");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    _dir: None,
                    _pg: Some(PgDatabaseGuard {
                        admin_url: base,
                        name,
                    }),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/latch.db?mode=rwc", dir.path().display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    _pg: None,
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub http: reqwest::Client,
    pub db: DatabaseConnection,
    pub settings: Settings,
    pub test_db: TestDb,
    pub handle: actix_web::dev::ServerHandle,
    /// The running app's shared state (e.g. to reload the signing-key ring after a rotation).
    pub state: actix_web::web::Data<latch::state::AppState>,
    /// The app's clock: a manual one starting at the real time (see [`TestApp::advance`]).
    pub clock: latch::clock::Clock,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawn with settings changed by `f` (token lifetimes, algorithms…).
pub async fn spawn_app_with(f: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TRACING);
    let test_db = TestDb::create().await;
    let mut settings = Settings::for_tests(&test_db.url);
    settings.rate_limit = false;
    // The whole suite shares one PostgreSQL on 2 cores: under that load a start-up query
    // can wait longer than the production bound (2 s) and the app would not start ("database
    // unavailable", seen once in CI). Tests that measure the bound set their own.
    settings.db_acquire_timeout = std::time::Duration::from_secs(10);
    f(&mut settings);
    spawn_on(test_db, settings, latch::clock::Clock::manual()).await
}

/// [`spawn_sibling`] with settings changed by `f` (e.g. another mail server).
pub async fn spawn_sibling_with(other: &TestApp, f: impl FnOnce(&mut Settings)) -> TestApp {
    let test_db = TestDb {
        url: other.test_db.url.clone(),
        _dir: None,
        _pg: None,
    };
    let mut settings = other.settings.clone();
    settings.bind = "127.0.0.1:0".into();
    f(&mut settings);
    spawn_on(test_db, settings, other.clock.clone()).await
}

/// Spawn a second instance sharing the database and master key of `other`.
pub async fn spawn_sibling(other: &TestApp) -> TestApp {
    // The first instance owns (and drops) the database.
    let test_db = TestDb {
        url: other.test_db.url.clone(),
        _dir: None,
        _pg: None,
    };
    // Same issuer and audience: the two instances stand behind one load balancer.
    let mut settings = other.settings.clone();
    settings.bind = "127.0.0.1:0".into();
    // One clock for both: advancing time is advancing it everywhere.
    spawn_on(test_db, settings, other.clock.clone()).await
}

async fn spawn_on(test_db: TestDb, mut settings: Settings, clock: latch::clock::Clock) -> TestApp {
    let app = Application::build_with_clock(&mut settings, false, clock.clone())
        .await
        .expect("app builds");
    let port = app.port();
    let handle = app.handle();
    let settings = app.state().settings.as_ref().clone();
    let db = app.state().db.clone();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .build()
        .expect("client");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        http,
        db,
        settings,
        test_db,
        handle,
        state,
        clock,
    }
}

impl TestApp {
    /// Move the app's clock (and its siblings') `secs` seconds forward: expiry of codes,
    /// tokens, sessions and keys without sleeping. Caches and timers stay on real time.
    pub fn advance(&self, secs: i64) {
        self.clock.advance(chrono::TimeDelta::seconds(secs));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A fresh cookie-keeping client (another browser).
    pub fn new_browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_store(true)
            .build()
            .expect("client")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.post_form("/oauth/token", form).await
    }

    pub async fn post_token_basic(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url("/oauth/token"))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// Create a user directly (fixtures the public API cannot create).
    pub async fn create_user(&self, email: &str, password: &str) -> entity::user::Model {
        latch::users::create(&self.db, email, password, false)
            .await
            .expect("user created")
    }

    pub async fn create_client(&self, c: ClientSpec) -> TestClient {
        let new = latch::clients::NewClient {
            name: c.name.to_owned(),
            redirect_uris: c.redirect_uris.iter().map(|s| s.to_string()).collect(),
            public: c.public,
            grant_types: c.grant_types.iter().map(|s| s.to_string()).collect(),
            scopes: c.scopes.iter().map(|s| s.to_string()).collect(),
            livemode: c.livemode,
            first_party: c.first_party,
            resource_server: c.resource_server,
            owner_id: None,
            metadata: Default::default(),
            allowed_origins: c
                .allowed_origins
                .map(|v| v.iter().map(|s| s.to_string()).collect()),
        };
        let (m, secret) =
            latch::clients::create(&self.db, &self.state.catalog.get(), &self.state.logos, new)
                .await
                .expect("client created");
        // As `/v1` and the CLI do: this instance knows the new CORS origins at once.
        self.state
            .origins
            .reload(&self.db)
            .await
            .expect("origins reloaded");
        TestClient {
            id: m.id,
            secret,
            redirect_uri: c
                .redirect_uris
                .first()
                .map(|s| s.to_string())
                .unwrap_or_default(),
        }
    }

    pub async fn confidential_client(&self) -> TestClient {
        self.create_client(ClientSpec::default()).await
    }

    pub async fn public_client(&self) -> TestClient {
        self.create_client(ClientSpec {
            public: true,
            grant_types: vec!["authorization_code", "refresh_token"],
            ..ClientSpec::default()
        })
        .await
    }

    pub async fn machine_client(&self) -> TestClient {
        self.create_client(ClientSpec {
            grant_types: vec!["client_credentials"],
            redirect_uris: vec![],
            ..ClientSpec::default()
        })
        .await
    }
}

pub struct ClientSpec {
    pub name: &'static str,
    pub redirect_uris: Vec<&'static str>,
    pub public: bool,
    pub grant_types: Vec<&'static str>,
    pub scopes: Vec<&'static str>,
    pub livemode: bool,
    pub first_party: bool,
    pub resource_server: bool,
    /// CORS origins; `None`: the default.
    pub allowed_origins: Option<Vec<&'static str>>,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            name: "Test App",
            redirect_uris: vec!["https://app.example.com/callback"],
            public: false,
            grant_types: vec!["authorization_code", "refresh_token", "client_credentials"],
            scopes: vec!["read", "write", "openid", "profile", "email"],
            livemode: true,
            first_party: false,
            resource_server: false,
            allowed_origins: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

impl TestClient {
    pub fn secret(&self) -> &str {
        self.secret.as_deref().expect("confidential client")
    }
}

/// Parse a JSON response body.
pub async fn json(res: reqwest::Response) -> serde_json::Value {
    let text = res.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Decode the entities askama's HTML escaping produces (`&#38;`, `&#60;`, `&#62;`, `&#34;`,
/// `&#39;`, and the named ones), in one pass so `&#38;lt;` stays `&lt;`.
pub fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every `<input … name="…" value="…">` in a page, in order (values unescaped).
pub fn form_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in html.split("<input").skip(1) {
        let tag = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            tag.find(&key).map(|i| {
                let rest = &tag[i + key.len()..];
                html_unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
            })
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            out.push((n, v));
        }
    }
    out
}

pub fn input_value(html: &str, name: &str) -> Option<String> {
    form_inputs(html)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// Query parameters of a URL (absolute or relative).
pub fn query_of(u: &str) -> std::collections::HashMap<String, String> {
    let q = u.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Sign in through the real login form with `browser`, following the authorize
    /// redirect. Returns the response to the sign-in POST.
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        email: &str,
        password: &str,
        next: &str,
    ) -> reqwest::Response {
        let page = browser
            .get(self.url(&format!("/login?next={}", urlencode(next))))
            .send()
            .await
            .expect("login page");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("body");
        let csrf = input_value(&html, "csrf").expect("csrf on login page");
        browser
            .post(self.url("/login"))
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", next),
            ])
            .send()
            .await
            .expect("login")
    }

    /// Drive `/oauth/authorize` in `browser` (already signed in or not) through sign-in and
    /// consent, answering `decision`; returns the final redirect to the client.
    pub async fn authorize_in_browser(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        email: &str,
        decision: &str,
    ) -> reqwest::Response {
        let mut res = browser.get(authorize_url).send().await.expect("authorize");
        if res.status() == 303 && location(&res).starts_with("/login") {
            let next = query_of(&location(&res))
                .get("next")
                .cloned()
                .expect("next");
            let login = self.sign_in(browser, email, PASSWORD, &next).await;
            assert_eq!(login.status(), 303, "sign-in failed");
            res = browser
                .get(self.url(&location(&login)))
                .send()
                .await
                .expect("authorize after login");
        }
        if res.status() != 200 {
            return res;
        }
        let html = res.text().await.expect("consent page");
        let consent_form = &html[html
            .find("action=\"/oauth/authorize\"")
            .expect("consent form")..];
        let mut form = form_inputs(consent_form);
        form.push(("decision".into(), decision.into()));
        browser
            .post(self.url("/oauth/authorize"))
            .form(&form)
            .send()
            .await
            .expect("consent")
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---------------------------------------------------------------------------------------------
// Token-endpoint helpers (used by token_code, token_refresh, token_misc)

/// A fresh PKCE pair `(verifier, S256 challenge)` (RFC 7636 §4.1–4.2), computed here rather
/// than by the server's code so the test is independent of it.
pub fn pkce_pair() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = s256(&verifier);
    (verifier, challenge)
}

/// BASE64URL(SHA256(verifier)) without padding (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// The claims of a JWT, read without verifying it (use `verify_with_jwks` to verify).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

impl TestApp {
    /// Sign in as `email` (password [`PASSWORD`]) in a fresh browser, authorize `client` and
    /// consent; return the authorization code. The request carries `client_id`,
    /// `response_type=code`, `redirect_uri` (the client's first), `scope=read write` and a
    /// `state`; each pair in `extra` replaces the base parameter of that name or is added
    /// (e.g. `code_challenge`), and an empty value removes the base parameter.
    pub async fn obtain_code(
        &self,
        client: &TestClient,
        email: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut params: Vec<(&str, &str)> = vec![
            ("client_id", &client.id),
            ("response_type", "code"),
            ("redirect_uri", &client.redirect_uri),
            ("scope", "read write"),
            ("state", "st4te"),
        ];
        for (k, v) in extra {
            params.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let browser = self.new_browser();
        let res = self
            .authorize_in_browser(
                &browser,
                &self.url(&format!("/oauth/authorize?{query}")),
                email,
                "allow",
            )
            .await;
        assert_eq!(res.status(), 303, "authorization did not redirect");
        let loc = location(&res);
        query_of(&loc)
            .remove("code")
            .unwrap_or_else(|| panic!("no code in {loc}"))
    }
}

impl TestApp {
    /// Redeem `code` with its PKCE `verifier` (RFC 7636 §4.5) for the confidential client
    /// `c` (client_secret_basic, its first redirect URI).
    pub async fn redeem_code(
        &self,
        c: &TestClient,
        code: &str,
        verifier: &str,
    ) -> reqwest::Response {
        self.post_token_basic(
            &c.id,
            c.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &c.redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await
    }
}

/// RFC 6749 §5.1–5.2 (T7): every token-endpoint answer, success or error, is JSON and must
/// not be cached.
pub fn assert_token_headers(res: &reqwest::Response) {
    let h = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        h("content-type").starts_with("application/json"),
        "Content-Type of a {} token response: {:?}",
        res.status(),
        h("content-type")
    );
    assert_eq!(h("cache-control"), "no-store", "status {}", res.status());
    assert_eq!(h("pragma"), "no-cache", "status {}", res.status());
}

/// Assert an RFC 6749 §5.2 error with this status and `error` code; returns the body.
pub async fn expect_oauth_error(
    res: reqwest::Response,
    status: u16,
    error: &str,
) -> serde_json::Value {
    assert_token_headers(&res);
    let got = res.status().as_u16();
    let body = json(res).await;
    assert_eq!(got, status, "status for {body}");
    assert_eq!(body["error"], error, "error code in {body}");
    body
}

// ---------------------------------------------------------------------------------------------
// Authorization-endpoint and browser-UI helpers (used by authorize, session_ui, discovery)

impl TestApp {
    /// `GET /oauth/authorize` URL with `params` form-encoded, in the order given.
    pub fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        self.url(&format!("/oauth/authorize?{query}"))
    }

    /// A fresh browser signed in as `email` (password [`PASSWORD`]) through the login form.
    pub async fn signed_in_browser(&self, email: &str) -> reqwest::Client {
        let browser = self.new_browser();
        let res = self.sign_in(&browser, email, PASSWORD, "/").await;
        assert_eq!(res.status(), 303, "sign-in as {email} failed");
        browser
    }

    /// How many authorization codes exist in the database.
    pub async fn codes_issued(&self) -> u64 {
        use sea_orm::{EntityTrait, PaginatorTrait};
        entity::authorization_code::Entity::find()
            .count(&self.db)
            .await
            .expect("count codes")
    }
}

/// SECURITY.md's "error page": an HTML 400 with no `Location` header.
pub fn assert_error_page(res: &reqwest::Response, case: &str) {
    assert_eq!(res.status(), 400, "status for {case}");
    assert!(
        res.headers().get("location").is_none(),
        "error page must not redirect ({case}): {:?}",
        res.headers().get("location")
    );
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(ct.starts_with("text/html"), "content type {ct} for {case}");
}

/// The inputs of the consent form (the `/oauth/authorize` form) of a consent page.
pub fn consent_form_of(html: &str) -> Vec<(String, String)> {
    let start = html
        .find("action=\"/oauth/authorize\"")
        .unwrap_or_else(|| panic!("no consent form in:\n{html}"));
    form_inputs(&html[start..])
}

// ---------------------------------------------------------------------------------------------
// Credentials and `/v1` calls shared by the API-key, resource-server and security suites

/// A key for `user_id` in the given mode with `scopes` (empty: a full key), made directly.
pub async fn key_for(
    app: &TestApp,
    user_id: &str,
    live: bool,
    scopes: &[&str],
) -> (entity::api_key::Model, String) {
    // `read write` is the old full key: a secret key, as the key-policies migration reads
    // existing rows. Any other list makes a restricted key.
    let scopes: Vec<String> = if scopes == ["read", "write"] {
        Vec::new()
    } else {
        scopes.iter().map(|s| s.to_string()).collect()
    };
    latch::api_keys::create(
        &app.db,
        &app.state.catalog.get(),
        latch::api_keys::NewKey {
            user_id: user_id.to_owned(),
            livemode: live,
            name: "fixture".into(),
            scopes,
            policies: Default::default(),
        },
    )
    .await
    .expect("key created")
}

/// `GET path` with `Authorization: Bearer cred`.
pub async fn bearer_get(app: &TestApp, cred: &str, path: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .bearer_auth(cred)
        .send()
        .await
        .expect("request")
}

/// A form `POST path` with `Authorization: Bearer cred`.
pub async fn bearer_post(
    app: &TestApp,
    cred: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(cred)
        .form(form)
        .send()
        .await
        .expect("request")
}

/// A `client_credentials` access token for `c` with `scope`.
pub async fn client_credentials_token(app: &TestApp, c: &TestClient, scope: &str) -> String {
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "client_credentials"), ("scope", scope)],
        )
        .await;
    assert_eq!(res.status(), 200);
    json(res).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Register an API in the app's catalog (as `latch api create` does) and return it; the
/// app sees it at once (its own catalog is reloaded).
pub async fn create_api(
    app: &TestApp,
    identifier: &str,
    name: &str,
    scopes: &[(&str, &str)],
    access_token_ttl: Option<i64>,
) -> latch::catalog::Api {
    latch::catalog::create(
        &app.db,
        &app.state.catalog,
        latch::catalog::NewApi {
            identifier: identifier.to_owned(),
            name: name.to_owned(),
            scopes: scopes
                .iter()
                .map(|(n, d)| ((*n).to_owned(), (*d).to_owned()))
                .collect(),
            access_token_ttl,
        },
    )
    .await
    .expect("create API")
}

// ---------------------------------------------------------------------------------------------
// Browser pages, statuses and audit events shared by the sign-in, Settings and dashboard suites

/// The CSRF token of the page at `path` in `browser` (which must answer 200).
pub async fn page_csrf(app: &TestApp, browser: &reqwest::Client, path: &str) -> String {
    let res = browser.get(app.url(path)).send().await.expect("GET");
    assert_eq!(res.status(), 200, "{path}");
    input_value(&res.text().await.expect("html"), "csrf")
        .unwrap_or_else(|| panic!("csrf on {path}"))
}

/// The CSRF token of a signed-in browser, from the security settings page.
pub async fn settings_csrf(app: &TestApp, browser: &reqwest::Client) -> String {
    page_csrf(app, browser, "/dashboard/settings/security").await
}

/// The status `/dashboard` answers in `browser` (200 signed in, 303 to the sign-in page not).
pub async fn dashboard_status(app: &TestApp, browser: &reqwest::Client) -> u16 {
    browser
        .get(app.url("/dashboard"))
        .send()
        .await
        .expect("dashboard")
        .status()
        .as_u16()
}

/// The status `/v1/users/me` (a resource server) answers for this access token.
pub async fn me_status(app: &TestApp, bearer: &str) -> u16 {
    app.http
        .get(app.url("/v1/users/me"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("GET /v1/users/me")
        .status()
        .as_u16()
}

/// The kinds of the audit events of the account `email`, newest first.
pub async fn audit_kinds(app: &TestApp, email: &str) -> Vec<String> {
    let user = latch::store::users::by_email(&app.db, email)
        .await
        .expect("readable")
        .expect("the account");
    latch::store::audit::page(
        &app.db,
        Some(&user.id),
        latch::store::audit::ModeFilter::All,
        100,
        None,
    )
    .await
    .expect("readable")
    .into_iter()
    .map(|e| e.kind)
    .collect()
}

/// A first-party client: a signed-in person gets a code with no consent page.
pub async fn first_party(app: &TestApp) -> TestClient {
    app.create_client(ClientSpec {
        first_party: true,
        ..ClientSpec::default()
    })
    .await
}

/// Refresh `rt` for the confidential client `c` (client_secret_basic).
pub async fn refresh(app: &TestApp, c: &TestClient, rt: &str) -> reqwest::Response {
    app.post_token_basic(
        &c.id,
        c.secret(),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

/// An admin (`admin@example.com`) and a full live key of theirs.
pub async fn admin_key(app: &TestApp) -> (entity::user::Model, String) {
    let admin = latch::users::create(&app.db, "admin@example.com", PASSWORD, true)
        .await
        .expect("admin created");
    let (_, secret) = key_for(app, &admin.id, true, &[]).await;
    (admin, secret)
}

/// `DELETE path` with `Authorization: Bearer cred`.
pub async fn bearer_delete(app: &TestApp, cred: &str, path: &str) -> reqwest::Response {
    app.http
        .delete(app.url(path))
        .bearer_auth(cred)
        .send()
        .await
        .expect("request")
}

/// The `oauth2` crate's HTTP client, not following redirects (as the crate asks).
pub fn oauth_http() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// BASE64URL without padding (RFC 7515 §2).
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// The system's Unix time (for JWTs the tests sign: `iat`, `exp`).
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A file under `tests/fixtures`.
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

// ---------------------------------------------------------------------------------------------
// Two-step sign-in with an authenticator app (RFC 6238), used by totp, passkeys, sessions,
// account_lifecycle: codes computed here (HMAC-SHA-1 and RFC 4226 truncation), not by the
// server's code.

/// RFC 4648 base32 (no padding) to bytes.
pub fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut out) = (0u64, 0, Vec::new());
    for c in s.bytes() {
        let v = alphabet.iter().position(|&a| a == c).expect("base32") as u64;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// The six-digit RFC 6238 code of `secret` (base32) at Unix time `t`.
pub fn totp_at(secret_b32: &str, t: i64) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(
        hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        &base32_decode(secret_b32),
    );
    let counter = (t / 30) as u64;
    let h = hmac::sign(&key, &counter.to_be_bytes());
    let h = h.as_ref();
    let o = (h[19] & 0x0f) as usize;
    let bin = (u32::from(h[o] & 0x7f) << 24)
        | (u32::from(h[o + 1]) << 16)
        | (u32::from(h[o + 2]) << 8)
        | u32::from(h[o + 3]);
    format!("{:06}", bin % 1_000_000)
}

/// The code `steps` time steps from the app's now.
pub fn totp_code(app: &TestApp, secret: &str, steps: i64) -> String {
    totp_at(secret, app.clock.now().timestamp() + steps * 30)
}

pub fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let i = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in page"))
        + start.len();
    let j = html[i..].find(end).expect("end marker") + i;
    &html[i..j]
}

/// Turn on TOTP from Settings in a signed-in browser; the secret and the recovery codes.
pub async fn enrol_totp(app: &TestApp, browser: &reqwest::Client) -> (String, Vec<String>) {
    let csrf = settings_csrf(app, browser).await;
    let res = browser
        .post(app.url("/dashboard/settings/totp/begin"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/settings/totp");
    let html = browser
        .get(app.url("/dashboard/settings/totp"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = between(&html, "id=\"totp-secret\">", "</code>").to_owned();
    let res = browser
        .post(app.url("/dashboard/settings/totp/confirm"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", &totp_code(app, &secret, 0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "confirming with a right code");
    let html = browser
        .get(app.url(&location(&res)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let codes: Vec<String> = between(&html, "id=\"recovery-codes\">", "</code>")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    // The confirming code's step is used: move on so that even the previous step's code
    // (one step of drift) is a fresh one.
    app.advance(90);
    (secret, codes)
}

/// A browser that passed the password step for `next`: the answer to the password POST.
pub async fn password_step(
    app: &TestApp,
    email: &str,
    next: &str,
) -> (reqwest::Client, reqwest::Response) {
    let browser = app.new_browser();
    let res = app.sign_in(&browser, email, PASSWORD, next).await;
    (browser, res)
}

/// Post a code at the second step.
pub async fn second_step(
    app: &TestApp,
    browser: &reqwest::Client,
    code: &str,
) -> reqwest::Response {
    let html = browser
        .get(app.url("/login/two-step"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&html, "csrf").expect("csrf on the second-step page");
    browser
        .post(app.url("/login/two-step"))
        .form(&[("csrf", csrf.as_str()), ("code", code)])
        .send()
        .await
        .unwrap()
}
