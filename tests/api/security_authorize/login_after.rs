//! Finding 8 (#9): `login_after` is bound to the request and the session, and used once.

use super::*;

// ---------------------------------------------------------------------------------------------
// Finding 8: login_after is bound to the request and the session, and used once

/// `login_after` of a `next` URL.
fn login_after_of(next: &str) -> String {
    query_of(next)
        .remove("login_after")
        .expect("login_after in next")
}

#[tokio::test]
async fn authorize_demands_sign_in_when_prompt_login_carries_another_persons_login_after() {
    // Arrange: Mallory starts a prompt=login flow and keeps its login_after; then Ann signs
    // in (after that login_after was made).
    let app = spawn_app().await;
    app.create_user("mallory@example.com", PASSWORD).await;
    app.create_user(ANN, PASSWORD).await;
    let c = first_party(&app).await;
    let mallory = app.signed_in_browser("mallory@example.com").await;
    let url = request_url(&app, &c, &[("prompt", "login")]);
    let res = mallory.get(&url).send().await.expect("authorize");
    let stolen = login_after_of(&login_next(&res).expect("sign-in demanded"));
    let ann = app.signed_in_browser(ANN).await;

    // Act
    let res = ann
        .get(request_url(
            &app,
            &c,
            &[("prompt", "login"), ("login_after", &stolen)],
        ))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert!(
        login_next(&res).is_some(),
        "another person's login_after skipped the sign-in: {} {:?}",
        res.status(),
        res.headers().get("location")
    );
    assert_eq!(app.codes_issued().await, 0);
}

#[tokio::test]
async fn authorize_demands_sign_in_when_a_used_login_after_is_replayed() {
    // Arrange: Ann completes a prompt=login flow, signing in again.
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = first_party(&app).await;
    let browser = app.signed_in_browser(ANN).await;
    let res = browser
        .get(request_url(&app, &c, &[("prompt", "login")]))
        .send()
        .await
        .expect("authorize");
    let next = login_next(&res).expect("sign-in demanded");
    let login = app.sign_in(&browser, ANN, PASSWORD, &next).await;
    assert_eq!(login.status(), 303);
    let res = browser
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("back to authorize");
    assert!(
        query_of(&location(&res)).contains_key("code"),
        "the flow completes"
    );

    // Act: the same way back again (login_after already used).
    let res = browser.get(app.url(&next)).send().await.expect("replay");

    // Assert
    assert!(
        login_next(&res).is_some(),
        "a used login_after skipped the sign-in: {} {:?}",
        res.status(),
        res.headers().get("location")
    );
    assert_eq!(app.codes_issued().await, 1);
}

#[tokio::test]
async fn authorize_demands_sign_in_when_login_after_was_made_for_another_request() {
    // Arrange: Ann gets a login_after for one request, then signs in (for something else).
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = first_party(&app).await;
    let browser = app.signed_in_browser(ANN).await;
    let res = browser
        .get(request_url(
            &app,
            &c,
            &[("prompt", "login"), ("state", "one")],
        ))
        .send()
        .await
        .expect("authorize");
    let handle = login_after_of(&login_next(&res).expect("sign-in demanded"));
    let login = app.sign_in(&browser, ANN, PASSWORD, "/dashboard").await;
    assert_eq!(login.status(), 303);

    // Act: that login_after on another request.
    let res = browser
        .get(request_url(
            &app,
            &c,
            &[
                ("prompt", "login"),
                ("state", "two"),
                ("login_after", &handle),
            ],
        ))
        .send()
        .await
        .expect("authorize");

    // Assert
    assert!(
        login_next(&res).is_some(),
        "a login_after of another request skipped the sign-in: {} {:?}",
        res.status(),
        res.headers().get("location")
    );
    assert_eq!(app.codes_issued().await, 0);
}

#[tokio::test]
async fn authorize_keeps_prompt_login_when_a_visitor_signs_in_for_it_and_asks_once() {
    // Arrange: no session yet.
    let app = spawn_app().await;
    app.create_user(ANN, PASSWORD).await;
    let c = first_party(&app).await;
    let browser = app.new_browser();
    let res = browser
        .get(request_url(&app, &c, &[("prompt", "login")]))
        .send()
        .await
        .expect("authorize");
    let next = login_next(&res).expect("sign-in demanded");
    assert_eq!(
        query_of(&next).get("prompt").map(String::as_str),
        Some("login")
    );

    // Act: sign in once.
    let login = app.sign_in(&browser, ANN, PASSWORD, &next).await;
    assert_eq!(login.status(), 303);
    let res = browser
        .get(app.url(&location(&login)))
        .send()
        .await
        .expect("back to authorize");

    // Assert: a code, not a second sign-in.
    assert_eq!(res.status(), 303);
    assert!(
        query_of(&location(&res)).contains_key("code"),
        "{:?}",
        location(&res)
    );
}
