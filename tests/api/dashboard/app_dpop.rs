//! The app page's DPoP settings (RFC 9449 §5.2 "Require DPoP", §8 "Require DPoP nonce") and
//! its type change (public ⇄ confidential, issue #15 item 7).

use super::*;

/// A confidential app with the code and client-credentials grants; its id and the form
/// fields the settings form always carries.
async fn registered(app: &TestApp, b: &reqwest::Client, token: &str) -> String {
    let res = post(
        app,
        b,
        "/dashboard/apps",
        &[
            ("csrf", token),
            ("name", "Billing"),
            ("kind", "confidential"),
            ("mode", "test"),
            ("grant_authorization_code", "on"),
            ("redirect_uris", "https://billing.example.com/cb"),
        ],
    )
    .await;
    let html = shown_once(app, b, res).await.text().await.unwrap();
    code_by_id(&html, "client-id").unwrap()
}

fn settings(token: &str, extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("csrf", token.to_owned()),
        ("name", "Billing".to_owned()),
        ("redirect_uris", "https://billing.example.com/cb".to_owned()),
    ];
    f.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    f
}

async fn send(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    f: &[(&'static str, String)],
) -> reqwest::Response {
    b.post(app.url(path)).form(f).send().await.unwrap()
}

async fn row(app: &TestApp, id: &str) -> entity::client::Model {
    latch::store::clients::by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn dpop_requirements_are_shown_and_edited_on_the_app_page() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = page_csrf(&app, &b, "/dashboard").await;
    let id = registered(&app, &b, &token).await;
    let path = format!("/dashboard/apps/{id}");
    let (_, page) = get_html(&app, &b, &path).await;
    assert!(page.contains("Require DPoP"));
    assert!(page.contains("name=\"dpop_bound\" value=\"1\" aria-describedby=\"dpop-bound-hint\">"));
    assert!(page.contains("name=\"dpop_nonce\" value=\"1\" aria-describedby=\"dpop-nonce-hint\">"));

    // Act: tick both.
    let res = send(
        &app,
        &b,
        &path,
        &settings(
            &token,
            &[
                ("dpop_shown", "1"),
                ("dpop_bound", "1"),
                ("dpop_nonce", "1"),
            ],
        ),
    )
    .await;

    // Assert: stored, shown ticked, and in force at the token endpoint (no proof: refused).
    assert_eq!(res.status(), 303);
    let c = row(&app, &id).await;
    assert!(c.dpop_bound_access_tokens && c.dpop_require_nonce);
    let (_, page) = get_html(&app, &b, &path).await;
    assert!(page.contains("aria-describedby=\"dpop-bound-hint\" checked>"));
    assert!(page.contains("aria-describedby=\"dpop-nonce-hint\" checked>"));

    // Act: a form without the DPoP boxes (an older script) leaves them alone.
    let res = send(&app, &b, &path, &settings(&token, &[])).await;
    assert_eq!(res.status(), 303);
    let c = row(&app, &id).await;
    assert!(c.dpop_bound_access_tokens && c.dpop_require_nonce);

    // Act: untick the nonce only.
    let res = send(
        &app,
        &b,
        &path,
        &settings(&token, &[("dpop_shown", "1"), ("dpop_bound", "1")]),
    )
    .await;
    assert_eq!(res.status(), 303);
    let c = row(&app, &id).await;
    assert!(c.dpop_bound_access_tokens && !c.dpop_require_nonce);

    // Act + Assert: an invalid form (no name) is explained and keeps the boxes as ticked,
    // and stores nothing.
    let mut f = settings(&token, &[("dpop_shown", "1")]);
    f[1].1 = String::new();
    let res = send(&app, &b, &path, &f).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("aria-describedby=\"dpop-bound-hint\">"));
    assert!(row(&app, &id).await.dpop_bound_access_tokens);

    // Act + Assert: without the CSRF token nothing changes.
    let mut f = settings("wrong", &[("dpop_shown", "1")]);
    f[0].1 = "wrong".into();
    let res = send(&app, &b, &path, &f).await;
    assert!(res.status().is_client_error());
    assert!(row(&app, &id).await.dpop_bound_access_tokens);

    // Act + Assert: another person cannot change it.
    app.create_user(BOB, PASSWORD).await;
    let bob = app.signed_in_browser(BOB).await;
    let bob_token = page_csrf(&app, &bob, "/dashboard").await;
    let res = send(
        &app,
        &bob,
        &path,
        &settings(&bob_token, &[("dpop_shown", "1")]),
    )
    .await;
    assert_eq!(res.status(), 404);
    assert!(row(&app, &id).await.dpop_bound_access_tokens);
}

#[tokio::test]
async fn an_apps_type_is_changed_on_its_page() {
    // Arrange: a confidential app with the code grant.
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let b = app.signed_in_browser(ANN).await;
    let token = page_csrf(&app, &b, "/dashboard").await;
    let id = registered(&app, &b, &token).await;
    let path = format!("/dashboard/apps/{id}");
    let (_, page) = get_html(&app, &b, &path).await;
    assert!(page.contains(&format!("href=\"{path}/make_public\"")));

    // Act: the confirmation, then make it public.
    let (status, confirm) = get_html(&app, &b, &format!("{path}/make_public")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("revoked"));
    let res = send(
        &app,
        &b,
        &format!("{path}/make_public"),
        &[("csrf", token.clone())],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 303);
    let c = row(&app, &id).await;
    assert!(c.is_public && c.secret_hash.is_none());
    assert_eq!(c.token_endpoint_auth_method, "none");
    let (_, page) = get_html(&app, &b, &path).await;
    assert!(page.contains(&format!("action=\"{path}/make_confidential\"")));

    // Act: confidential again: the new secret is shown once.
    let res = send(
        &app,
        &b,
        &format!("{path}/make_confidential"),
        &[("csrf", token.clone())],
    )
    .await;
    let html = shown_once(&app, &b, res).await.text().await.unwrap();
    let secret = code_by_id(&html, "client-secret").expect("the new secret");
    let c = row(&app, &id).await;
    assert!(!c.is_public);
    assert_eq!(c.token_endpoint_auth_method, "client_secret_basic");
    assert_eq!(
        c.secret_hash.as_deref(),
        Some(latch::crypto::sha256_hex(&secret).as_str())
    );

    // Act + Assert: without the CSRF token, nothing changes.
    let res = send(
        &app,
        &b,
        &format!("{path}/make_public"),
        &[("csrf", "x".into())],
    )
    .await;
    assert!(res.status().is_client_error());
    assert!(!row(&app, &id).await.is_public);

    // Act + Assert: with client credentials, public is refused with the reason.
    let res = send(
        &app,
        &b,
        &path,
        &settings(
            &token,
            &[
                ("grants_shown", "1"),
                ("grant_type", "authorization_code"),
                ("grant_type", "client_credentials"),
            ],
        ),
    )
    .await;
    assert_eq!(res.status(), 303);
    let res = send(
        &app,
        &b,
        &format!("{path}/make_public"),
        &[("csrf", token.clone())],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("client_credentials"));
    assert!(!row(&app, &id).await.is_public);

    // Act + Assert: another person's app is not found.
    app.create_user(BOB, PASSWORD).await;
    let bob = app.signed_in_browser(BOB).await;
    let bob_token = page_csrf(&app, &bob, "/dashboard").await;
    let res = send(
        &app,
        &bob,
        &format!("{path}/make_public"),
        &[("csrf", bob_token)],
    )
    .await;
    assert_eq!(res.status(), 404);
}
