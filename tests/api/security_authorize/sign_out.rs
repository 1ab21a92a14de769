//! Findings 9 and 10 (#9): signing out and withdrawing consent revoke what was issued.

use super::*;

/// A client whose only grant is `authorization_code` (no refresh-token family to revoke).
async fn code_only_client(app: &TestApp) -> TestClient {
    app.create_client(ClientSpec {
        grant_types: vec!["authorization_code"],
        ..ClientSpec::default()
    })
    .await
}

async fn sign_out(app: &TestApp, browser: &reqwest::Client, csrf: &str) -> reqwest::Response {
    browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .expect("logout")
}

// ---------------------------------------------------------------------------------------------
// Finding 9: signing out revokes access tokens of clients without a refresh grant

#[tokio::test]
async fn sign_out_revokes_the_access_token_of_a_client_without_a_refresh_grant() {
    // Arrange: a client whose only grant is authorization_code gets an access token in
    // this browser session (and so no refresh-token family exists for it).
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = code_only_client(&app).await;
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;
    let res = exchange(&app, &c, &code).await;
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert!(body.get("refresh_token").is_none(), "no refresh grant");
    let at = body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    assert!(is_active(&app, &c, &at).await);
    assert_eq!(me_status(&app, &at).await, 200);
    let csrf = page_csrf(&app, &browser, "/dashboard").await;

    // Act
    let out = sign_out(&app, &browser, &csrf).await;

    // Assert
    assert_eq!(out.status(), 303);
    assert!(
        !is_active(&app, &c, &at).await,
        "introspection after sign-out"
    );
    assert_eq!(me_status(&app, &at).await, 401, "/v1 after sign-out");
}

#[tokio::test]
async fn sign_out_voids_a_code_of_the_session_that_was_not_yet_redeemed() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = code_only_client(&app).await;
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;
    let csrf = page_csrf(&app, &browser, "/dashboard").await;

    // Act
    let out = sign_out(&app, &browser, &csrf).await;
    assert_eq!(out.status(), 303);
    let res = exchange(&app, &c, &code).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn sign_out_leaves_tokens_of_another_session_alone() {
    // Arrange: two sessions of the same person, a token obtained in each (1 s apart, as
    // sessions are told apart by their sign-in second).
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = code_only_client(&app).await;
    let other = app.new_browser();
    let code = code_in(&app, &other, &c, ANN, "read").await;
    let kept = json(exchange(&app, &c, &code).await).await["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    app.advance(2);
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;
    let ended = json(exchange(&app, &c, &code).await).await["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let csrf = page_csrf(&app, &browser, "/dashboard").await;

    // Act
    let out = sign_out(&app, &browser, &csrf).await;

    // Assert
    assert_eq!(out.status(), 303);
    assert!(!is_active(&app, &c, &ended).await);
    assert!(
        is_active(&app, &c, &kept).await,
        "the other session's token"
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 10: withdrawing consent voids the codes not yet redeemed

/// Withdraw `c`'s authorization from the dashboard of `browser`.
async fn withdraw_consent(app: &TestApp, browser: &reqwest::Client, c: &TestClient) {
    let csrf = page_csrf(app, browser, "/dashboard").await;
    let res = browser
        .post(app.url(&format!("/dashboard/authorized/{}/revoke", c.id)))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn withdrawing_consent_voids_a_code_issued_before_it() {
    // Arrange: a code issued with consent, not yet redeemed.
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;

    // Act
    withdraw_consent(&app, &browser, &c).await;
    let res = exchange(&app, &c, &code).await;

    // Assert
    expect_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn withdrawing_consent_revokes_the_access_tokens_from_codes_and_refreshes() {
    // Arrange: one token straight from a code, one from a refresh.
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    let code = code_in(&app, &browser, &c, ANN, "read").await;
    let first = json(exchange(&app, &c, &code).await).await;
    let from_code = first["access_token"].as_str().expect("at").to_owned();
    let rt = first["refresh_token"].as_str().expect("rt").to_owned();
    let refreshed = json(
        app.post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await,
    )
    .await;
    let from_refresh = refreshed["access_token"].as_str().expect("at").to_owned();
    assert!(is_active(&app, &c, &from_code).await);
    assert!(is_active(&app, &c, &from_refresh).await);

    // Act
    withdraw_consent(&app, &browser, &c).await;

    // Assert
    for at in [&from_code, &from_refresh] {
        assert!(!is_active(&app, &c, at).await);
        assert_eq!(me_status(&app, at).await, 401);
    }
}
