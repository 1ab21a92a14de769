//! Responses and pages: denial, redirect status, cache and referrer headers, registration rules, escaping (SECURITY.md A14, A16–A19).

use super::*;

// ---------------------------------------------------------------------------------------------
// A14: Deny

#[tokio::test]
async fn authorize_redirects_access_denied_when_the_user_denies_consent() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    let url = url_of(&app, &params(&c, &[]));
    // Act
    let res = app
        .authorize_in_browser(&browser, &url, EMAIL, "deny")
        .await;
    // Assert
    let q = assert_redirect_error(&app, &res, CB, "access_denied");
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    assert_eq!(app.codes_issued().await, 0);
    // A denial is not remembered as consent: the next request asks again.
    let res = get(&browser, &url).await;
    assert_eq!(res.status(), 200, "expected the consent page again");
}

// ---------------------------------------------------------------------------------------------
// A16, A17: redirect status, cache and referrer headers, no third-party resources

#[tokio::test]
async fn login_redirects_with_303_when_credentials_are_posted() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let next = assert_login_redirect(&get(&app.http, &url_of(&app, &params(&c, &[]))).await);
    // Act
    let res = app.sign_in(&app.http, EMAIL, PASSWORD, &next).await;
    // Assert: never 307/308, which would make the browser re-POST the password.
    assert!(is_redirect(&res), "status {}", res.status());
    assert_eq!(location(&res), next);
}

#[tokio::test]
async fn authorize_redirects_with_303_when_the_consent_form_is_answered() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app.confidential_client().await;
    for decision in ["allow", "deny"] {
        let form = consent_page(
            get(
                &browser,
                &url_of(&app, &params(&c, &[("prompt", "consent")])),
            )
            .await,
        )
        .await;
        // Act
        let res = answer(&app, &browser, &form, decision).await;
        // Assert
        assert!(is_redirect(&res), "{decision}: status {}", res.status());
        assert!(location(&res).starts_with(CB), "{decision}");
    }
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn authorize_response_is_no_store_and_no_referrer_when_it_carries_a_code() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let fp = first_party(&app).await;
    let third = app.confidential_client().await;
    // Act: a code straight from GET, and one from the consent POST.
    let direct = get(&browser, &url_of(&app, &params(&fp, &[]))).await;
    let form = consent_page(get(&browser, &url_of(&app, &params(&third, &[]))).await).await;
    let consented = answer(&app, &browser, &form, "allow").await;
    // Assert
    for res in [&direct, &consented] {
        assert_code(&app, res, CB);
        assert!(header(res, "cache-control").contains("no-store"));
        assert_eq!(header(res, "referrer-policy"), "no-referrer");
    }
}

/// Every `src`, `href` and `action` in `html` stays on this site (or is inline `data:`).
fn assert_no_third_party_resources(html: &str, page: &str) {
    for attr in ["src=\"", "href=\"", "action=\""] {
        for chunk in html.split(attr).skip(1) {
            let value = &chunk[..chunk.find('"').unwrap_or(chunk.len())];
            let local = (value.starts_with('/') && !value.starts_with("//"))
                || value.starts_with("data:")
                || value.starts_with('#');
            assert!(local, "{page}: third-party or unsafe {attr}{value}\"");
        }
    }
    assert!(!html.contains("@import"), "{page}: CSS import");
}

#[tokio::test]
async fn authorize_pages_send_no_referrer_and_load_nothing_third_party_when_shown() {
    // Arrange
    let app = spawn_app().await;
    let c = app.confidential_client().await;
    let url = url_of(&app, &params(&c, &[]));
    let next = assert_login_redirect(&get(&app.http, &url).await);
    // Act
    let login = app.get(&format!("/login?next={}", urlencode(&next))).await;
    app.create_user(EMAIL, PASSWORD).await;
    let browser = app.signed_in_browser(EMAIL).await;
    let consent = get(&browser, &url).await;
    let error = get(
        &browser,
        &url_of(&app, &params(&c, &[("client_id", "cl_nope")])),
    )
    .await;
    // Assert
    for (page, res) in [("login", login), ("consent", consent), ("error", error)] {
        assert_eq!(header(&res, "referrer-policy"), "no-referrer", "{page}");
        assert!(header(&res, "cache-control").contains("no-store"), "{page}");
        let html = res.text().await.expect("body");
        assert_no_third_party_resources(&html, page);
    }
}

// ---------------------------------------------------------------------------------------------
// A18: registration rules

#[tokio::test]
async fn client_registration_rejects_the_redirect_uri_when_it_is_http_off_loopback_has_a_fragment_or_a_wildcard()
 {
    // Arrange
    let app = spawn_app().await;
    let register = |uri: &str| latch::clients::NewClient {
        name: "App".into(),
        redirect_uris: vec![uri.to_owned()],
        public: false,
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["read".into()],
        livemode: true,
        first_party: false,
        resource_server: false,
        owner_id: None,
        metadata: Default::default(),
        allowed_origins: None,
    };
    for bad in [
        "http://app.example.com/cb",
        "http://localhost.evil.example/cb",
        "http://127.0.0.1.nip.io/cb",
        "https://app.example.com/cb#frag",
        "https://app.example.com/cb#",
        "https://*.example.com/cb",
        "https://app.example.com/*",
        "https://app.example.com/cb*",
        "https://user:pw@app.example.com/cb",
        "javascript:alert(1)",
        "data:text/html,x",
        "/relative/cb",
    ] {
        // Act
        let res = latch::clients::create(
            &app.db,
            &app.state.catalog.get(),
            &app.state.logos,
            register(bad),
        )
        .await;
        // Assert: refused with a 400 in the API dialect.
        let err = res.err().unwrap_or_else(|| panic!("{bad} was registered"));
        let api: latch::errors::ApiError = err.into();
        assert_eq!(actix_web::ResponseError::status_code(&api), 400, "{bad}");
    }
    for good in [
        "https://app.example.com/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:8080/cb",
    ] {
        assert!(
            latch::clients::create(
                &app.db,
                &app.state.catalog.get(),
                &app.state.logos,
                register(good)
            )
            .await
            .is_ok(),
            "{good} was refused"
        );
    }
}

const BAD_REDIRECT_URIS: &[&str] = &[
    "http://app.example.com/cb",
    "http://localhost.evil.example/cb",
    "https://app.example.com/cb#frag",
    "https://*.example.com/cb",
    "https://app.example.com/*",
    "https://user:pw@app.example.com/cb",
    "javascript:alert(1)",
];

#[tokio::test]
async fn v1_clients_returns_400_when_a_redirect_uri_is_http_off_loopback_has_a_fragment_or_a_wildcard()
 {
    // Arrange: an owner with a live API key, and one good client to update.
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let (_, key) = latch::api_keys::create(
        &app.db,
        &app.state.catalog.get(),
        latch::api_keys::NewKey {
            user_id: user.id.clone(),
            livemode: true,
            name: "admin".into(),
            scopes: vec!["read".into(), "write".into()],
            policies: Default::default(),
        },
    )
    .await
    .expect("key");
    let send = |path: String, body: serde_json::Value| {
        app.http
            .post(app.url(&path))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let ok = send(
        "/v1/clients".into(),
        serde_json::json!({"name": "App", "redirect_uris": [CB, "http://127.0.0.1/cb"]}),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    let id = json(ok).await["id"].as_str().expect("id").to_owned();
    for bad in BAD_REDIRECT_URIS {
        // Act
        let created = send(
            "/v1/clients".into(),
            serde_json::json!({"name": "App", "redirect_uris": [bad]}),
        )
        .await
        .unwrap();
        let updated = send(
            format!("/v1/clients/{id}"),
            serde_json::json!({"redirect_uris": [bad]}),
        )
        .await
        .unwrap();
        // Assert
        for (what, res) in [("create", created), ("update", updated)] {
            assert_eq!(res.status(), 400, "{what} {bad}");
            assert_eq!(
                json(res).await["error"]["param"],
                "redirect_uris",
                "{what} {bad}"
            );
        }
    }
    let client = latch::store::clients::by_id(&app.db, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.redirect_uris, format!("{CB} http://127.0.0.1/cb"));
}

// ---------------------------------------------------------------------------------------------
// A19: escaping

fn assert_no_markup(html: &str, page: &str) {
    assert!(!html.contains("<script>alert"), "{page}: raw <script>");
    assert!(!html.contains("<img src=x"), "{page}: raw <img>");
    assert!(
        !html.to_ascii_lowercase().contains("href=\"javascript:"),
        "{page}: javascript: link"
    );
}

#[tokio::test]
async fn authorize_pages_escape_markup_when_state_client_name_or_redirect_uri_carry_script() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app
        .create_client(ClientSpec {
            name: "<script>alert(1)</script>\"><img src=x onerror=alert(2)>",
            ..ClientSpec::default()
        })
        .await;
    let state = "\"><script>alert(3)</script>javascript:alert(4)";
    let url = url_of(&app, &params(&c, &[("state", state)]));

    // Act: the login page (shows the client's name), the consent page (name and state)…
    let next = assert_login_redirect(&get(&app.http, &url).await);
    let login = app
        .get(&format!("/login?next={}", urlencode(&next)))
        .await
        .text()
        .await
        .unwrap();
    let browser = app.signed_in_browser(EMAIL).await;
    let consent = get(&browser, &url).await.text().await.unwrap();
    // …and the error page for a hostile redirect URI.
    let error = get(
        &browser,
        &url_of(
            &app,
            &params(
                &c,
                &[(
                    "redirect_uri",
                    "javascript:alert(5)//<script>alert(6)</script>",
                )],
            ),
        ),
    )
    .await
    .text()
    .await
    .unwrap();

    // Assert
    assert!(login.contains("to continue to"), "client name not shown");
    assert_no_markup(&login, "login");
    assert_no_markup(&consent, "consent");
    assert_no_markup(&error, "error");
    // Escaped, not dropped: the state round-trips through the consent form.
    let form = consent_form_of(&consent);
    assert!(
        form.contains(&("state".to_owned(), state.to_owned())),
        "state did not round-trip: {form:?}"
    );
}
