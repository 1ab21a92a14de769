//! `prompt`, remembered consent, first-party clients, requests sent as a form, and the consent answer (single use, bound to the request shown).

use super::*;

// ---------------------------------------------------------------------------------------------
// prompt

#[tokio::test]
async fn authorize_redirects_login_required_when_prompt_is_none_and_the_user_is_signed_out() {
    // Arrange
    let app = spawn_app().await;
    let c = first_party(&app).await;
    // Act
    let res = get(&app.http, &url_of(&app, &params(&c, &[("prompt", "none")]))).await;
    // Assert
    let q = assert_redirect_error(&app, &res, CB, "login_required");
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
}

#[tokio::test]
async fn authorize_redirects_consent_required_when_prompt_is_none_and_consent_was_never_given() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app.confidential_client().await;
    // Act
    let res = get(&browser, &url_of(&app, &params(&c, &[("prompt", "none")]))).await;
    // Assert
    let q = assert_redirect_error(&app, &res, CB, "consent_required");
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    assert_eq!(app.codes_issued().await, 0);
}

#[tokio::test]
async fn authorize_issues_a_code_without_any_page_when_prompt_is_none_and_consent_was_given() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app.confidential_client().await;
    consent_once(&app, &browser, &c, "read").await;
    // Act
    let res = get(&browser, &url_of(&app, &params(&c, &[("prompt", "none")]))).await;
    // Assert
    assert_code(&app, &res, CB);
}

#[tokio::test]
async fn authorize_shows_sign_in_again_when_prompt_is_login_and_a_session_exists() {
    // Arrange: a session that would otherwise get a code at once.
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    assert_code(
        &app,
        &get(&browser, &url_of(&app, &params(&c, &[]))).await,
        CB,
    );
    // Act
    let res = get(&browser, &url_of(&app, &params(&c, &[("prompt", "login")]))).await;
    // Assert: the sign-in page, then a code once signed in again.
    let next = assert_login_redirect(&res);
    let login = app.sign_in(&browser, EMAIL, PASSWORD, &next).await;
    assert_eq!(login.status(), 303);
    let res = get(&browser, &app.url(&location(&login))).await;
    let q = assert_code(&app, &res, CB);
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
}

#[tokio::test]
async fn authorize_still_demands_sign_in_when_prompt_is_login_and_a_forged_login_after_is_sent() {
    // Arrange: a live session; the request adds its own login_after to skip the sign-in.
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    for forged in [
        "0",
        "9999999999",
        "0.AAAA",
        "1700000000.bm90LWEtc2lnbmF0dXJl",
    ] {
        // Act
        let res = get(
            &browser,
            &url_of(
                &app,
                &params(&c, &[("prompt", "login"), ("login_after", forged)]),
            ),
        )
        .await;
        // Assert: still the sign-in page, never a code.
        assert_login_redirect(&res);
    }
}

#[tokio::test]
async fn authorize_redirects_login_required_when_prompt_is_none_and_a_fresh_login_is_demanded() {
    // Arrange: signed in more than a second ago.
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    app.advance(2);
    // Act: max_age=1 with prompt=none (OIDC Core §3.1.2.1).
    let res = get(
        &browser,
        &url_of(&app, &params(&c, &[("prompt", "none"), ("max_age", "1")])),
    )
    .await;
    // Assert
    assert_redirect_error(&app, &res, CB, "login_required");
}

// ---------------------------------------------------------------------------------------------
// Consent memory, prompt=consent, first-party clients

#[tokio::test]
async fn authorize_skips_consent_when_the_same_scopes_were_already_granted() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app.confidential_client().await;
    consent_once(&app, &browser, &c, "read write").await;
    for scope in ["read write", "write read", "read"] {
        // Act
        let res = get(&browser, &url_of(&app, &params(&c, &[("scope", scope)]))).await;
        // Assert: straight back with a code, no page.
        assert_code(&app, &res, CB);
    }
}

#[tokio::test]
async fn authorize_shows_consent_when_more_scopes_are_requested_than_were_granted() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app.confidential_client().await;
    consent_once(&app, &browser, &c, "read").await;
    // Act
    let res = get(
        &browser,
        &url_of(&app, &params(&c, &[("scope", "read write")])),
    )
    .await;
    // Assert
    let form = consent_page(res).await;
    assert!(
        form.contains(&("scope".into(), "read write".into())),
        "{form:?}"
    );
}

#[tokio::test]
async fn authorize_shows_consent_when_prompt_is_consent_even_though_consent_was_given() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app.confidential_client().await;
    consent_once(&app, &browser, &c, "read").await;
    // Act
    let res = get(
        &browser,
        &url_of(&app, &params(&c, &[("prompt", "consent")])),
    )
    .await;
    // Assert
    let form = consent_page(res).await;
    let res = answer(&app, &browser, &form, "allow").await;
    assert_code(&app, &res, CB);
}

#[tokio::test]
async fn authorize_skips_consent_when_the_client_is_first_party() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let fp = first_party(&app).await;
    let third = app.confidential_client().await;
    // Act
    let res = get(
        &browser,
        &url_of(&app, &params(&fp, &[("scope", "read write")])),
    )
    .await;
    // Assert
    assert_code(&app, &res, CB);
    // A third-party client with the same request is asked about.
    let res = get(
        &browser,
        &url_of(&app, &params(&third, &[("scope", "read write")])),
    )
    .await;
    assert_eq!(res.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Authorization request as a POST form (OIDC "ensure-post-request-succeeds")

#[tokio::test]
async fn authorize_issues_a_code_when_the_request_is_sent_as_a_post_form() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    let (_, challenge) = pkce_pair();
    let request = params(
        &c,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    // Act: POST while signed out → sign in → consent → allow.
    let res = browser
        .post(app.url("/oauth/authorize"))
        .form(&request)
        .send()
        .await
        .expect("post");
    let next = assert_login_redirect(&res);
    let login = app.sign_in(&browser, EMAIL, PASSWORD, &next).await;
    let form = consent_page(get(&browser, &app.url(&location(&login))).await).await;
    let res = answer(&app, &browser, &form, "allow").await;
    // Assert
    let q = assert_code(&app, &res, CB);
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    // And signed in with consent remembered, the POST itself answers with a code.
    let res = browser
        .post(app.url("/oauth/authorize"))
        .form(&request)
        .send()
        .await
        .expect("post");
    assert_code(&app, &res, CB);
}

// ---------------------------------------------------------------------------------------------
// The consent answer: single use, bound to the request shown

#[tokio::test]
async fn authorize_consent_returns_403_when_the_same_answer_is_replayed() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app.confidential_client().await;
    let form = consent_page(get(&browser, &url_of(&app, &params(&c, &[]))).await).await;
    let first = answer(&app, &browser, &form, "allow").await;
    assert_code(&app, &first, CB);
    // Act
    let replay = answer(&app, &browser, &form, "allow").await;
    // Assert
    assert_eq!(replay.status(), 403);
    assert!(replay.headers().get("location").is_none());
    assert_eq!(app.codes_issued().await, 1, "a second code was issued");
}

/// The `latch_session` cookie (`name=value`) a response sets.
fn session_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("latch_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

#[tokio::test]
async fn authorize_consent_returns_403_when_replayed_with_the_cookie_from_before_the_answer() {
    // Arrange: a browser that keeps a copy of its session cookie while the consent page is
    // shown (the session lives in the cookie).
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(app.url("/login")).send().await.unwrap();
    let cookie = session_cookie(&page);
    let csrf = input_value(&page.text().await.unwrap(), "csrf").unwrap();
    let login = http
        .post(app.url("/login"))
        .header("cookie", &cookie)
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf", &csrf),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&login);
    let shown = http
        .get(url_of(&app, &params(&c, &[])))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let before_answer = session_cookie(&shown);
    let mut form = consent_page(shown).await;
    form.push(("decision".into(), "allow".into()));
    let post = || {
        http.post(app.url("/oauth/authorize"))
            .header("cookie", &before_answer)
            .form(&form)
            .send()
    };
    assert_code(&app, &post().await.unwrap(), CB);
    // Act
    let replay = post().await.unwrap();
    // Assert
    assert_eq!(replay.status(), 403);
    assert!(replay.headers().get("location").is_none());
    assert_eq!(app.codes_issued().await, 1, "a second code was issued");
}

#[tokio::test]
async fn authorize_consent_returns_403_when_hidden_fields_were_altered() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app
        .create_client(ClientSpec {
            redirect_uris: vec![CB, "https://app.example.com/other"],
            ..ClientSpec::default()
        })
        .await;
    let other = app.confidential_client().await;
    let alterations: Vec<(&str, &str)> = vec![
        ("scope", "read write"),
        ("redirect_uri", "https://app.example.com/other"),
        ("state", "another"),
        ("client_id", &other.id),
        ("code_challenge", CHALLENGE),
        ("prompt", "none"),
    ];
    for (name, value) in &alterations {
        let mut form = consent_page(get(&browser, &url_of(&app, &params(&c, &[]))).await).await;
        match form.iter().position(|(k, _)| k == name) {
            Some(i) => form[i].1 = (*value).to_owned(),
            None => form.push(((*name).to_owned(), (*value).to_owned())),
        }
        // Act
        let res = answer(&app, &browser, &form, "allow").await;
        // Assert
        assert_eq!(res.status(), 403, "altered {name}");
        assert!(res.headers().get("location").is_none(), "altered {name}");
    }
    assert_eq!(app.codes_issued().await, 0);
    // The unaltered answer still works.
    let form = consent_page(get(&browser, &url_of(&app, &params(&c, &[]))).await).await;
    assert_code(&app, &answer(&app, &browser, &form, "allow").await, CB);
}
