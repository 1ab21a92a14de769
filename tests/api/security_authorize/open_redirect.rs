//! Finding 7 (#9): no open redirector through clients that users registered for themselves.

use super::*;

// ---------------------------------------------------------------------------------------------
// Finding 7: no open redirector through clients that users registered for themselves

/// A client registered by `owner_id` (as the dashboard or `/v1` does for a user).
async fn owned_client(app: &TestApp, owner_id: &str) -> TestClient {
    let (m, secret) = latch::clients::create(
        &app.db,
        &app.state.catalog.get(),
        &app.state.logos,
        latch::clients::NewClient {
            name: "Someone's App".to_owned(),
            redirect_uris: vec![CB.to_owned()],
            public: false,
            grant_types: vec!["authorization_code".to_owned()],
            scopes: vec!["read".to_owned()],
            livemode: true,
            first_party: false,
            resource_server: false,
            owner_id: Some(owner_id.to_owned()),
            metadata: Default::default(),
            allowed_origins: None,
        },
    )
    .await
    .expect("client created");
    TestClient {
        id: m.id,
        secret,
        redirect_uri: CB.to_owned(),
    }
}

/// The `href` of the page's call to action, unescaped.
fn link_of(html: &str) -> Option<String> {
    let start = html.find("class=\"btn btn-primary btn-block\" href=\"")?;
    let rest = &html[start + "class=\"btn btn-primary btn-block\" href=\"".len()..];
    Some(html_unescape(&rest[..rest.find('"')?]))
}

#[tokio::test]
async fn authorize_shows_error_page_with_a_link_when_a_users_own_client_errs_before_sign_in() {
    // Arrange: a client registered by a user who is not an admin; a visitor with no session.
    let app = spawn_app().await;
    let owner = app.create_user("mallory@example.com", PASSWORD).await;
    let c = owned_client(&app, &owner.id).await;
    for (change, error) in [
        (("response_type", "token"), "unsupported_response_type"),
        (("response_type", ""), "invalid_request"),
        (("prompt", "none"), "login_required"),
        (("scope", "write"), "invalid_scope"),
    ] {
        // Act
        let res = app
            .new_browser()
            .get(request_url(&app, &c, &[change]))
            .send()
            .await
            .expect("authorize");

        // Assert: RFC 9700 §4.11.2, not redirected automatically.
        assert_error_page(&res, error);
        let html = res.text().await.expect("body");
        let href = link_of(&html).unwrap_or_else(|| panic!("no link to the app for {error}"));
        assert!(href.starts_with(&format!("{CB}?")), "{href}");
        let q = query_of(&href);
        assert_eq!(q.get("error").map(String::as_str), Some(error));
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
        assert_eq!(q.get("iss"), Some(&app.settings.issuer));
        assert_eq!(app.codes_issued().await, 0);
    }
}

#[tokio::test]
async fn authorize_still_redirects_errors_before_sign_in_for_operator_and_admin_clients() {
    // Arrange: a client without an owner (the operator's) and one registered by an admin.
    let app = spawn_app().await;
    let admin = latch::users::create(&app.db, "admin@example.com", PASSWORD, true)
        .await
        .expect("admin");
    let operator = app.confidential_client().await;
    let admins = owned_client(&app, &admin.id).await;
    for c in [&operator, &admins] {
        // Act
        let res = app
            .new_browser()
            .get(request_url(&app, c, &[("response_type", "token")]))
            .send()
            .await
            .expect("authorize");

        // Assert
        assert_eq!(res.status(), 303);
        let loc = location(&res);
        assert!(loc.starts_with(&format!("{}?", c.redirect_uri)), "{loc}");
        let q = query_of(&loc);
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("unsupported_response_type")
        );
        assert_eq!(q.get("iss"), Some(&app.settings.issuer));
    }
}

#[tokio::test]
async fn authorize_redirects_errors_of_a_users_own_client_once_the_person_is_signed_in() {
    // Arrange
    let app = spawn_app().await;
    let owner = app.create_user("mallory@example.com", PASSWORD).await;
    app.create_user(ANN, PASSWORD).await;
    let c = owned_client(&app, &owner.id).await;
    let browser = app.new_browser();

    // Act: sign in for the request, then deny on the consent page.
    let res = app
        .authorize_in_browser(&browser, &request_url(&app, &c, &[]), ANN, "deny")
        .await;

    // Assert: access_denied goes back to the app with state and iss (RFC 6749 §4.1.2.1).
    assert_eq!(res.status(), 303);
    let loc = location(&res);
    assert!(loc.starts_with(&format!("{CB}?")), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    assert_eq!(q.get("iss"), Some(&app.settings.issuer));

    // Act: a request error while signed in.
    let res = browser
        .get(request_url(&app, &c, &[("response_type", "token")]))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert_eq!(res.status(), 303);
    let q = query_of(&location(&res));
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("unsupported_response_type")
    );
}
