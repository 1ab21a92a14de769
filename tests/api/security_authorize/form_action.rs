//! Finding 19 (#9): `form-action` allows the redirect URI's origin on pages whose form ends in a redirect to the client.

use super::*;

// ---------------------------------------------------------------------------------------------
// Finding 19: pages whose form ends in a redirect to the client allow its origin in
// form-action (Chrome applies form-action to the redirects after a form submission)

fn csp_of(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sources of the policy's `form-action` directive; panics unless there is exactly one.
fn form_action_of(csp: &str) -> Vec<String> {
    let found: Vec<&str> = csp
        .split([';', ','])
        .map(str::trim)
        .filter(|d| d.starts_with("form-action"))
        .collect();
    assert_eq!(found.len(), 1, "one form-action in {csp}");
    found[0]
        .split_ascii_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn consent_page_csp_allows_the_redirect_uris_origin_in_form_action() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app
        .create_client(ClientSpec {
            redirect_uris: vec!["https://app.example.com:8443/oauth/callback?tenant=1"],
            ..ClientSpec::default()
        })
        .await;
    let browser = app.signed_in_browser(ANN).await;

    // Act
    let res = browser
        .get(request_url(&app, &c, &[]))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert_eq!(res.status(), 200, "the consent page");
    let csp = csp_of(&res);
    assert_eq!(
        form_action_of(&csp),
        vec!["'self'", "https://app.example.com:8443"],
        "{csp}"
    );
    for kept in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "script-src 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(kept), "{kept} missing from {csp}");
    }
    let html = res.text().await.expect("body");
    assert!(html.contains("action=\"/oauth/authorize\""));
}

#[tokio::test]
async fn consent_page_csp_names_the_scheme_of_a_native_apps_redirect_uri() {
    // Arrange: a native app with a private-use scheme (RFC 8252 §7.1).
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app
        .create_client(ClientSpec {
            public: true,
            grant_types: vec!["authorization_code"],
            redirect_uris: vec!["com.example.app:/oauth2redirect"],
            ..ClientSpec::default()
        })
        .await;
    let browser = app.signed_in_browser(ANN).await;
    let (_, challenge) = pkce_pair();

    // Act
    let res = browser
        .get(request_url(
            &app,
            &c,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert_eq!(res.status(), 200, "the consent page");
    let csp = csp_of(&res);
    assert_eq!(
        form_action_of(&csp),
        vec!["'self'", "com.example.app:"],
        "{csp}"
    );
}

#[tokio::test]
async fn sign_in_page_for_an_authorization_request_allows_the_redirect_uris_origin() {
    // Arrange: signing in for a first-party app ends in a redirect with the code.
    let app = spawn_app().await;
    let c = first_party(&app).await;
    let res = app
        .new_browser()
        .get(request_url(&app, &c, &[]))
        .send()
        .await
        .expect("authorize");
    let next = login_next(&res).expect("sign-in demanded");

    // Act
    let page = app
        .new_browser()
        .get(app.url(&format!("/login?next={}", urlencode(&next))))
        .send()
        .await
        .expect("login page");
    let plain = app
        .new_browser()
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page");

    // Assert
    assert_eq!(page.status(), 200);
    let csp = csp_of(&page);
    assert_eq!(
        form_action_of(&csp),
        vec!["'self'", "https://app.example.com"],
        "{csp}"
    );
    let plain_csp = csp_of(&plain);
    assert!(
        !plain_csp.contains("app.example.com"),
        "only sign-ins for that app: {plain_csp}"
    );
}
