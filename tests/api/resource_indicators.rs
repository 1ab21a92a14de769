//! Resource indicators (RFC 8707), audiences (RFC 9068 §2.2) and per-API token lifetimes
//! with an API of the operator's own ("Billing API") next to the built-in one; consent per
//! scope. The flows are driven by the `oauth2` crate as a third-party client would.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    RedirectUrl, RefreshToken, Scope, TokenResponse, TokenUrl,
};
use serde_json::json;

use crate::helpers::*;

const BILLING: &str = "https://billing.example.com";
const LEDGER: &str = "https://ledger.example.com";
const EMAIL: &str = "payer@example.com";
/// The Billing API's `access_token_ttl`, shorter than `LATCH_ACCESS_TOKEN_TTL`.
const BILLING_TTL: i64 = 300;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

struct World {
    app: TestApp,
    c: TestClient,
    client: Client,
}

/// A Billing API with two scopes, a Ledger API the client holds nothing of, and a client
/// granted `invoices:read` (not `invoices:write`) next to the built-in and OpenID scopes.
async fn world() -> World {
    let app = spawn_app().await;
    create_api(
        &app,
        BILLING,
        "Billing API",
        &[
            ("invoices:read", "See your invoices"),
            ("invoices:write", "Create and send invoices"),
        ],
        Some(BILLING_TTL),
    )
    .await;
    create_api(
        &app,
        LEDGER,
        "Ledger API",
        &[("ledger:read", "See your ledger")],
        None,
    )
    .await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app
        .create_client(ClientSpec {
            name: "Invoice Viewer",
            scopes: vec![
                "read",
                "write",
                "openid",
                "profile",
                "email",
                "invoices:read",
            ],
            ..ClientSpec::default()
        })
        .await;
    let client = BasicClient::new(ClientId::new(c.id.clone()))
        .set_client_secret(ClientSecret::new(c.secret().to_owned()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(c.redirect_uri.clone()).unwrap());
    World { app, c, client }
}

impl World {
    /// The authorization URL for `scopes` (none: no `scope` parameter) and `resources`.
    fn auth_url(&self, scopes: &[&str], resources: &[&str]) -> String {
        let mut req = self.client.authorize_url(CsrfToken::new_random);
        for s in scopes {
            req = req.add_scope(Scope::new((*s).to_owned()));
        }
        for r in resources {
            req = req.add_extra_param("resource", *r);
        }
        req.url().0.to_string()
    }

    /// Sign in, consent, and return the code.
    async fn code(&self, scopes: &[&str], resources: &[&str]) -> String {
        let browser = self.app.new_browser();
        let res = self
            .app
            .authorize_in_browser(&browser, &self.auth_url(scopes, resources), EMAIL, "allow")
            .await;
        assert_eq!(res.status(), 303);
        let loc = location(&res);
        query_of(&loc)
            .remove("code")
            .unwrap_or_else(|| panic!("no code in {loc}"))
    }

    /// The token response (raw JSON) for `code`, with `resources` at the token endpoint.
    async fn exchange(&self, code: &str, resources: &[&str]) -> serde_json::Value {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.c.redirect_uri.as_str()),
        ];
        form.extend(resources.iter().map(|r| ("resource", *r)));
        let res = self
            .app
            .post_token_basic(&self.c.id, self.c.secret(), &form)
            .await;
        assert_eq!(res.status(), 200);
        json(res).await
    }

    async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.app
            .post_token_basic(&self.c.id, self.c.secret(), form)
            .await
    }

    async fn introspect(&self, token: &str) -> serde_json::Value {
        let res = self
            .app
            .http
            .post(self.app.url("/oauth/introspect"))
            .basic_auth(&self.c.id, self.c.secret.as_deref())
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        json(res).await
    }
}

fn default_ttl(app: &TestApp) -> i64 {
    app.settings.access_token_ttl.num_seconds()
}

/// `exp - iat` of an access token.
fn lifetime(claims: &serde_json::Value) -> i64 {
    claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap()
}

#[tokio::test]
async fn consent_names_each_api_and_the_token_is_for_every_api_granted() {
    // Arrange
    let w = world().await;
    let browser = w.app.signed_in_browser(EMAIL).await;

    // Act: the consent page for the identity, the built-in API and the Billing API.
    let page = browser
        .get(w.auth_url(&["openid", "read", "invoices:read"], &[]))
        .send()
        .await
        .unwrap();

    // Assert: the app, then each API by name with its scopes in plain words.
    assert_eq!(page.status(), 200);
    let html = html_unescape(&page.text().await.unwrap());
    assert!(html.contains("Invoice Viewer"));
    let identity = html.find("Your identity").expect("identity group");
    let latch = html.find("Latch API").expect("Latch API group");
    let billing = html.find("Billing API").expect("Billing API group");
    assert!(
        identity < latch && latch < billing,
        "groups in catalog order"
    );
    assert!(html[billing..].contains("See your invoices"));
    assert!(html[latch..billing].contains("Read your data"));
    assert!(!html.contains("Create and send invoices"), "not requested");
    assert!(!html.contains("Already allowed"), "nothing granted yet");

    // Act: allow, then redeem the code with the oauth2 crate.
    let mut form = consent_form_of(&html);
    form.push(("decision".into(), "allow".into()));
    let res = browser
        .post(w.app.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let code = query_of(&location(&res)).remove("code").expect("code");
    let tokens = w
        .client
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&oauth_http())
        .await
        .expect("code exchange");

    // Assert: `aud` is an array of both APIs; the Billing API's shorter lifetime wins.
    let at = tokens.access_token().secret();
    let claims = jwt_claims(at);
    assert_eq!(
        claims["aud"],
        json!([w.app.settings.audience.as_str(), BILLING])
    );
    assert_eq!(claims["scope"], "openid read invoices:read");
    assert_eq!(lifetime(&claims), BILLING_TTL);
    assert_eq!(
        tokens.expires_in().map(|d| d.as_secs() as i64),
        Some(BILLING_TTL)
    );
    // Introspection answers `aud` as in the token (RFC 7662 §2.2).
    let info = w.introspect(at).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["aud"], claims["aud"]);
    // Userinfo and `/v1` (the built-in API is among the audiences) accept it.
    assert_eq!(
        bearer_get(&w.app, at, "/oauth/userinfo").await.status(),
        200
    );
    assert_eq!(bearer_get(&w.app, at, "/v1/users/me").await.status(), 200);
}

#[tokio::test]
async fn a_token_for_only_the_billing_api_is_a_string_audience_and_refused_on_v1() {
    // Arrange
    let w = world().await;

    // Act: a user token with only the Billing API's scope (and openid).
    let code = w.code(&["openid", "invoices:read"], &[]).await;
    let body = w.exchange(&code, &[]).await;

    // Assert
    let at = body["access_token"].as_str().unwrap();
    let claims = jwt_claims(at);
    assert_eq!(claims["aud"], BILLING, "one audience is a JSON string");
    assert_eq!(body["scope"], "openid invoices:read");
    assert_eq!(body["expires_in"], BILLING_TTL);
    // `/v1` is the built-in API's: a token not for it is invalid there (RFC 9068 §4).
    let res = bearer_get(&w.app, at, "/v1/users/me").await;
    assert_eq!(res.status(), 401);
    let www = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(www.contains("invalid_token"), "{www}");
    assert_eq!(json(res).await["error"]["code"], "invalid_token");
    // Userinfo is Latch's own, for any API's token with `openid`.
    let res = bearer_get(&w.app, at, "/oauth/userinfo").await;
    assert_eq!(res.status(), 200);
    assert!(json(res).await["sub"].is_string());
    assert_eq!(w.introspect(at).await["aud"], BILLING);

    // A token with only OpenID scopes is for the built-in API, with the default lifetime.
    let code = w.code(&["openid", "email"], &[]).await;
    let body = w.exchange(&code, &[]).await;
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], w.app.settings.audience.as_str());
    assert_eq!(lifetime(&claims), default_ttl(&w.app));
    assert_eq!(body["expires_in"], default_ttl(&w.app));

    // client_credentials: the same rules, no query for the catalog.
    let res = w
        .token(&[
            ("grant_type", "client_credentials"),
            ("scope", "invoices:read"),
        ])
        .await;
    let body = json(res).await;
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        BILLING
    );
    assert_eq!(body["expires_in"], BILLING_TTL);
}

#[tokio::test]
async fn resource_at_authorize_limits_the_grant_to_that_api() {
    // Arrange
    let w = world().await;

    // Act: no scope, one resource: the client's scopes of that API.
    let code = w.code(&[], &[BILLING]).await;
    let body = w.exchange(&code, &[]).await;

    // Assert
    assert_eq!(body["scope"], "invoices:read");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        BILLING
    );

    // Act: scopes of several APIs, one resource: limited to it (and OpenID scopes).
    let code = w
        .code(&["openid", "read", "invoices:read"], &[BILLING])
        .await;
    let body = w.exchange(&code, &[]).await;
    assert_eq!(body["scope"], "openid invoices:read");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        BILLING
    );

    // Act: `resource` repeated (RFC 8707 §2): both APIs.
    let code = w
        .code(&[], &[BILLING, w.app.settings.audience.as_str()])
        .await;
    let body = w.exchange(&code, &[]).await;
    assert_eq!(body["scope"], "read write invoices:read");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        json!([w.app.settings.audience.as_str(), BILLING])
    );
}

#[tokio::test]
async fn a_bad_resource_at_authorize_is_invalid_target_sent_to_the_client() {
    // Arrange
    let w = world().await;
    let browser = w.app.signed_in_browser(EMAIL).await;
    for (case, resource) in [
        ("unknown API", "https://unknown.example.com"),
        ("an API the client holds no scope of", LEDGER),
        ("fragment", "https://billing.example.com#x"),
        ("relative", "billing"),
    ] {
        // Act
        let res = browser
            .get(w.auth_url(&["read"], &[resource]))
            .send()
            .await
            .unwrap();

        // Assert: RFC 8707 §2 / RFC 6749 §4.1.2.1, back at the client's redirect URI.
        assert_eq!(res.status(), 303, "{case}");
        let loc = location(&res);
        assert!(loc.starts_with(&w.c.redirect_uri), "{case}: {loc}");
        assert_eq!(
            query_of(&loc).get("error").map(String::as_str),
            Some("invalid_target"),
            "{case}: {loc}"
        );
    }
    // A resource whose API has none of the requested scopes leaves it out of the token.
    let res = browser
        .get(w.auth_url(&["read"], &[BILLING]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(&location(&res)).get("error").map(String::as_str),
        Some("invalid_target")
    );
}

#[tokio::test]
async fn resource_at_the_token_endpoint_downscopes_and_the_refresh_token_keeps_the_grant() {
    // Arrange: a grant for both APIs.
    let w = world().await;
    let latch = w.app.settings.audience.clone();
    let code = w.code(&["read", "invoices:read"], &[]).await;

    // Act: redeem it for the Billing API only (oauth2 crate, extra `resource`).
    let http = oauth_http();
    let tokens = w
        .client
        .exchange_code(AuthorizationCode::new(code))
        .add_extra_param("resource", BILLING)
        .request_async(&http)
        .await
        .expect("code exchange with resource");

    // Assert: only that API's scopes, its audience and lifetime.
    let claims = jwt_claims(tokens.access_token().secret());
    assert_eq!(claims["aud"], BILLING);
    assert_eq!(claims["scope"], "invoices:read");
    let scopes: Vec<_> = tokens
        .scopes()
        .expect("scope in the response")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["invoices:read"]);
    assert_eq!(lifetime(&claims), BILLING_TTL);
    let rt = tokens.refresh_token().expect("refresh token").clone();

    // Act: refresh for the built-in API only.
    let refreshed = w
        .client
        .exchange_refresh_token(&rt)
        .add_extra_param("resource", latch.clone())
        .request_async(&http)
        .await
        .expect("refresh with resource");
    let claims = jwt_claims(refreshed.access_token().secret());
    assert_eq!(claims["aud"], latch.as_str());
    assert_eq!(claims["scope"], "read");
    assert_eq!(lifetime(&claims), default_ttl(&w.app));

    // Act: refresh without `resource`: the whole grant is back.
    let rt2 = RefreshToken::new(refreshed.refresh_token().unwrap().secret().clone());
    let full = w
        .client
        .exchange_refresh_token(&rt2)
        .request_async(&http)
        .await
        .expect("refresh without resource");
    let claims = jwt_claims(full.access_token().secret());
    assert_eq!(claims["aud"], json!([latch.as_str(), BILLING]));
    assert_eq!(claims["scope"], "read invoices:read");
    assert_eq!(
        full.expires_in().map(|d| d.as_secs() as i64),
        Some(BILLING_TTL)
    );

    // A resource outside the grant, unknown or malformed is `invalid_target` (400).
    let rt3 = full.refresh_token().unwrap().secret().clone();
    for resource in [
        LEDGER,
        "https://unknown.example.com",
        "https://billing.example.com#f",
    ] {
        let res = w
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt3),
                ("resource", resource),
            ])
            .await;
        expect_oauth_error(res, 400, "invalid_target").await;
    }
    // `scope` and `resource` together must leave the API a scope.
    let res = w
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt3),
            ("scope", "read"),
            ("resource", BILLING),
        ])
        .await;
    expect_oauth_error(res, 400, "invalid_target").await;
    // The refused requests did not use the refresh token up.
    let res = w
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &rt3)])
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn client_credentials_take_resource_too() {
    // Arrange
    let w = world().await;

    // Act
    let res = w
        .token(&[("grant_type", "client_credentials"), ("resource", BILLING)])
        .await;

    // Assert: the client's scopes of that API only.
    let body = json(res).await;
    assert_eq!(body["scope"], "invoices:read");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        BILLING
    );
    assert_eq!(body["expires_in"], BILLING_TTL);
    // Two resources, and an API outside the client's scopes.
    let latch = w.app.settings.audience.clone();
    let res = w
        .token(&[
            ("grant_type", "client_credentials"),
            ("resource", BILLING),
            ("resource", &latch),
        ])
        .await;
    let body = json(res).await;
    assert_eq!(body["scope"], "read write invoices:read");
    let res = w
        .token(&[("grant_type", "client_credentials"), ("resource", LEDGER)])
        .await;
    expect_oauth_error(res, 400, "invalid_target").await;
    // Other parameters still may not repeat (RFC 6749 §3.2).
    let res = w
        .token(&[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("scope", "write"),
        ])
        .await;
    expect_oauth_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn consent_is_remembered_per_scope() {
    // Arrange: consent to `read`.
    let w = world().await;
    let browser = w.app.signed_in_browser(EMAIL).await;
    let res = w
        .app
        .authorize_in_browser(&browser, &w.auth_url(&["read"], &[]), EMAIL, "allow")
        .await;
    assert_eq!(res.status(), 303);

    // Act: the same scope again: no page.
    let res = browser
        .get(w.auth_url(&["read"], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(query_of(&location(&res)).contains_key("code"));

    // Act: one scope more: asked again, the old one shown as already allowed.
    let res = browser
        .get(w.auth_url(&["read", "invoices:read"], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a new scope asks again");
    let html = html_unescape(&res.text().await.unwrap());
    let read = html.find("Read your data").expect("read listed");
    let invoices = html.find("See your invoices").expect("new scope listed");
    assert!(html[read..invoices].contains("Already allowed"));
    assert!(
        !html[invoices..].contains("Already allowed"),
        "the new one is new"
    );

    // Act: allow; then each scope alone needs no page (the union was stored).
    let mut form = consent_form_of(&html);
    form.push(("decision".into(), "allow".into()));
    let res = browser
        .post(w.app.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    for scopes in [
        &["invoices:read"][..],
        &["read"][..],
        &["read", "invoices:read"][..],
    ] {
        let res = browser.get(w.auth_url(scopes, &[])).send().await.unwrap();
        assert_eq!(res.status(), 303, "{scopes:?}");
        assert!(query_of(&location(&res)).contains_key("code"));
    }
}
