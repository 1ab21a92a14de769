//! Pushed authorization requests (RFC 9126): `POST /oauth/par`, then `/oauth/authorize`
//! with `request_uri` + `client_id`; single use at first use, 60 s on the app clock, bound
//! to the client that pushed it; PAR required per client or for every client.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier, TokenResponse, TokenUrl,
};

use crate::helpers::*;

const URN: &str = "urn:ietf:params:oauth:request_uri:";

/// An authorization request's parameters.
type Params = Vec<(&'static str, String)>;

/// Push `params` for `c` with `client_secret_basic`.
async fn push(app: &TestApp, c: &TestClient, params: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url("/oauth/par"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(params)
        .send()
        .await
        .expect("PAR")
}

/// A valid authorization request for `c` with PKCE; returns it and the verifier.
fn request_of(c: &TestClient, challenge: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("redirect_uri", c.redirect_uri.clone()),
        ("scope", "read".into()),
        ("state", "pushed-state".into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

/// Push a valid request for `c`; returns the `request_uri` and the PKCE verifier.
async fn pushed(app: &TestApp, c: &TestClient) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let req = request_of(c, &challenge);
    let form: Vec<(&str, &str)> = req.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = push(app, c, &form).await;
    assert_eq!(res.status(), 201);
    let body = json(res).await;
    (body["request_uri"].as_str().unwrap().to_owned(), verifier)
}

#[tokio::test]
async fn a_pushed_request_completes_the_code_flow_and_the_oauth2_client_redeems_the_code() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let (verifier, challenge) = pkce_pair();
    let req = request_of(&c, &challenge);
    let form: Vec<(&str, &str)> = req.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Act: push (RFC 9126 §2.1), then send the browser with request_uri + client_id and
    // parameters that must be ignored (§4).
    let res = push(&app, &c, &form).await;
    assert_eq!(res.status(), 201, "§2.2: 201 Created");
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let body = json(res).await;
    let request_uri = body["request_uri"].as_str().expect("request_uri");
    assert!(request_uri.starts_with(URN), "{request_uri}");
    assert!(
        request_uri.len() >= URN.len() + 27,
        "≥ 160 bits: {request_uri}"
    );
    assert_eq!(body["expires_in"], 60);
    let url = app.authorize_url(&[
        ("client_id", &c.id),
        ("request_uri", request_uri),
        ("state", "not-this-one"),
        ("scope", "write"),
    ]);
    let browser = app.new_browser();
    let res = app
        .authorize_in_browser(&browser, &url, "ann@example.com", "allow")
        .await;

    // Assert: the pushed state came back, and the code is for the pushed scope.
    assert_eq!(res.status(), 303);
    let q = query_of(&location(&res));
    assert_eq!(q.get("state").map(String::as_str), Some("pushed-state"));
    assert_eq!(q.get("iss"), Some(&app.settings.issuer));
    let client = BasicClient::new(ClientId::new(c.id.clone()))
        .set_client_secret(ClientSecret::new(c.secret().to_owned()))
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(oauth2::RedirectUrl::new(c.redirect_uri.clone()).unwrap());
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http)
        .await
        .expect("code exchange");
    let claims = jwt_claims(token.access_token().secret());
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["client_id"], c.id);
}

#[tokio::test]
async fn a_request_uri_is_single_use_even_before_the_flow_completes() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let (request_uri, _) = pushed(&app, &c).await;
    let url = app.authorize_url(&[("client_id", &c.id), ("request_uri", &request_uri)]);

    // Act: the first browser starts the flow; another presents the same URI.
    let first = app
        .authorize_in_browser(&app.new_browser(), &url, "ann@example.com", "allow")
        .await;
    let replay = app.new_browser().get(&url).send().await.unwrap();

    // Assert
    assert_eq!(first.status(), 303);
    assert!(query_of(&location(&first)).contains_key("code"));
    assert_error_page(&replay, "replayed request_uri");
}

#[tokio::test]
async fn a_request_uri_replayed_on_a_sibling_instance_is_refused() {
    // Arrange: two instances behind one load balancer.
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app).await;
    let c = app.confidential_client().await;
    let (request_uri, _) = pushed(&app, &c).await;
    let params = [("client_id", c.id.as_str()), ("request_uri", &request_uri)];

    // Act: redeemed on the sibling (it goes to sign-in), then on the first instance.
    let on_sibling = sibling
        .new_browser()
        .get(sibling.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let again = app
        .new_browser()
        .get(app.authorize_url(&params))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(on_sibling.status(), 303);
    assert!(location(&on_sibling).starts_with("/login"));
    assert_error_page(&again, "request_uri used on another instance");
}

#[tokio::test]
async fn an_expired_request_uri_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let c = app.confidential_client().await;
    let (request_uri, _) = pushed(&app, &c).await;

    // Act: past its 60 s (RFC 9126 §2.2, §4: "An expired request_uri MUST be rejected").
    app.advance(61);
    let res = app
        .new_browser()
        .get(app.authorize_url(&[("client_id", &c.id), ("request_uri", &request_uri)]))
        .send()
        .await
        .unwrap();

    // Assert
    assert_error_page(&res, "expired request_uri");
}

#[tokio::test]
async fn another_clients_request_uri_is_refused_and_stays_usable_by_its_client() {
    // Arrange
    let app = spawn_app().await;
    let a = app.confidential_client().await;
    let b = app.confidential_client().await;
    let (request_uri, _) = pushed(&app, &a).await;

    // Act
    let as_b = app
        .new_browser()
        .get(app.authorize_url(&[("client_id", &b.id), ("request_uri", &request_uri)]))
        .send()
        .await
        .unwrap();
    let as_a = app
        .new_browser()
        .get(app.authorize_url(&[("client_id", &a.id), ("request_uri", &request_uri)]))
        .send()
        .await
        .unwrap();
    let without_client = app
        .new_browser()
        .get(app.authorize_url(&[("request_uri", &request_uri)]))
        .send()
        .await
        .unwrap();
    let invented = app
        .new_browser()
        .get(app.authorize_url(&[
            ("client_id", &a.id),
            ("request_uri", &format!("{URN}invented")),
        ]))
        .send()
        .await
        .unwrap();

    // Assert
    assert_error_page(&as_b, "another client's request_uri");
    assert_eq!(
        as_a.status(),
        303,
        "still usable by the client that pushed it"
    );
    assert!(location(&as_a).starts_with("/login"));
    assert_error_page(&without_client, "request_uri without client_id");
    assert_error_page(&invented, "unknown request_uri");
}

#[tokio::test]
async fn a_client_that_requires_par_is_refused_a_plain_request_and_served_a_pushed_one() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    latch::clients::update(
        &app.db,
        &app.state.catalog.get(),
        &app.state.rows,
        &app.state.logos,
        &row,
        latch::clients::ClientUpdate {
            require_par: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (_, challenge) = pkce_pair();
    let plain: Vec<(&str, String)> = [("client_id", c.id.clone())]
        .into_iter()
        .chain(request_of(&c, &challenge))
        .collect();
    let plain: Vec<(&str, &str)> = plain.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Act
    let refused = app
        .authorize_in_browser(
            &app.new_browser(),
            &app.authorize_url(&plain),
            "ann@example.com",
            "allow",
        )
        .await;
    let (request_uri, _) = pushed(&app, &c).await;
    let served = app
        .authorize_in_browser(
            &app.new_browser(),
            &app.authorize_url(&[("client_id", &c.id), ("request_uri", &request_uri)]),
            "ann@example.com",
            "allow",
        )
        .await;

    // Assert: RFC 9126 §5; the pushed one went through sign-in and consent.
    assert_eq!(refused.status(), 303);
    let q = query_of(&location(&refused));
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert!(!q.contains_key("code"));
    assert_eq!(served.status(), 303);
    assert!(query_of(&location(&served)).contains_key("code"));
}

#[tokio::test]
async fn latch_require_par_requires_it_of_every_client_and_says_so_in_the_metadata() {
    // Arrange
    let app = spawn_app_with(|s| s.require_par = true).await;
    let default_app = spawn_app().await;
    let c = app.confidential_client().await;

    // Act
    let meta = json(app.get("/.well-known/oauth-authorization-server").await).await;
    let default_meta = json(
        default_app
            .get("/.well-known/oauth-authorization-server")
            .await,
    )
    .await;
    let (_, challenge) = pkce_pair();
    let mut plain: Vec<(&str, String)> = request_of(&c, &challenge);
    plain.push(("client_id", c.id.clone()));
    let plain: Vec<(&str, &str)> = plain.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = app
        .new_browser()
        .get(app.authorize_url(&plain))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(
        meta["pushed_authorization_request_endpoint"],
        format!("{}/oauth/par", app.settings.issuer)
    );
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    assert_eq!(default_meta["require_pushed_authorization_requests"], false);
    assert_eq!(refused.status(), 303);
    let q = query_of(&location(&refused));
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
}

#[tokio::test]
async fn bad_pushed_requests_get_json_errors() {
    // Arrange
    let app = spawn_app().await;
    let c = app.confidential_client().await;
    let public = app.public_client().await;
    let (_, challenge) = pkce_pair();
    let valid = request_of(&c, &challenge);
    let with = |k: &'static str, v: &'static str| {
        let mut p: Vec<(&str, String)> = valid.iter().filter(|(n, _)| *n != k).cloned().collect();
        if !v.is_empty() {
            p.push((k, v.to_owned()));
        }
        p
    };
    let cases: Vec<(&str, Params, u16, &str)> = vec![
        (
            "no response_type",
            with("response_type", ""),
            400,
            "invalid_request",
        ),
        (
            "implicit",
            with("response_type", "token"),
            400,
            "unsupported_response_type",
        ),
        (
            "unregistered redirect",
            with("redirect_uri", "https://evil.example/cb"),
            400,
            "invalid_request",
        ),
        (
            "unknown scope",
            with("scope", "admin:all"),
            400,
            "invalid_scope",
        ),
        (
            "plain PKCE",
            with("code_challenge_method", "plain"),
            400,
            "invalid_request",
        ),
        (
            "request object",
            with("request", "eyJhbGciOiJub25lIn0.e30."),
            400,
            "request_not_supported",
        ),
        (
            "request_uri inside",
            with("request_uri", "urn:ietf:params:oauth:request_uri:x"),
            400,
            "invalid_request",
        ),
    ];

    for (case, params, status, error) in cases {
        // Act
        let form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = push(&app, &c, &form).await;

        // Assert
        let body = expect_oauth_error(res, status, error).await;
        assert!(body["error_description"].is_string(), "{case}: {body}");
    }
    let form: Vec<(&str, &str)> = valid.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wrong_secret = app
        .http
        .post(app.url("/oauth/par"))
        .basic_auth(&c.id, Some("cs_wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    expect_oauth_error(wrong_secret, 401, "invalid_client").await;
    // A public client pushes with its client_id, and must still use PKCE (RFC 9700 §2.1.1).
    let no_pkce = app
        .post_form(
            "/oauth/par",
            &[
                ("client_id", &public.id),
                ("response_type", "code"),
                ("redirect_uri", &public.redirect_uri),
            ],
        )
        .await;
    expect_oauth_error(no_pkce, 400, "invalid_request").await;
    assert_eq!(app.codes_issued().await, 0);
}
