//! The authorization request: client and redirect URI verified first, response types, `state` and `iss`, PKCE, parameters and scope (SECURITY.md A1, A3–A11, A13).

use super::*;

// ---------------------------------------------------------------------------------------------
// A1, A3, A4: client and redirect URI are verified before anything is redirected

#[tokio::test]
async fn authorize_shows_error_page_when_redirect_uri_differs_from_the_registered_one() {
    // Arrange: signed in, first-party client: a lax comparison would hand out a code at once.
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    let variants = [
        "https://app.example.com/callback/",
        "https://APP.example.com/callback",
        "https://app.example.com/Callback",
        "HTTPS://app.example.com/callback",
        "https://app.example.com/callback/extra",
        "https://app.example.com/callback?x=1",
        "https://app.example.com/callback?",
        "https://app.example.com/callback#x",
        "https://app.example.com:8443/callback",
        "https://app.example.com:443/callback",
        "http://app.example.com/callback",
        "https://app.example.com@evil.example/callback",
        "https://app.example.com%2Fcallback",
        "https://app.example.com/callback%2F",
        "https://app.example.com/%63allback",
        "https://app.example.com/callback ",
        "https://evil.example/callback",
        "javascript:alert(1)",
    ];
    for v in variants {
        // Act
        let res = get(&browser, &url_of(&app, &params(&c, &[("redirect_uri", v)]))).await;
        // Assert
        assert_error_page(&res, v);
    }
    // The exact registered URI works (so the cases above fail for the URI alone).
    let res = get(&browser, &url_of(&app, &params(&c, &[]))).await;
    assert_code(&app, &res, CB);
    assert_eq!(app.codes_issued().await, 1);
}

#[tokio::test]
async fn authorize_shows_error_page_when_redirect_uri_is_missing_and_two_are_registered() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app
        .create_client(ClientSpec {
            first_party: true,
            redirect_uris: vec![CB, "https://app.example.com/other"],
            ..ClientSpec::default()
        })
        .await;
    // Act
    let res = get(
        &browser,
        &url_of(&app, &params(&c, &[("redirect_uri", "")])),
    )
    .await;
    // Assert
    assert_error_page(&res, "redirect_uri missing");
    let res = get(
        &browser,
        &url_of(
            &app,
            &params(&c, &[("redirect_uri", "https://app.example.com/other")]),
        ),
    )
    .await;
    assert_code(&app, &res, "https://app.example.com/other");
}

#[tokio::test]
async fn authorize_uses_the_registered_redirect_uri_when_only_one_is_registered_and_none_is_sent() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    // Act
    let res = get(
        &browser,
        &url_of(&app, &params(&c, &[("redirect_uri", "")])),
    )
    .await;
    // Assert (RFC 6749 §3.1.2.3: optional when exactly one is registered)
    assert_code(&app, &res, CB);
}

#[tokio::test]
async fn authorize_shows_error_page_when_client_id_is_missing_unknown_or_has_control_characters() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    let rest = format!(
        "redirect_uri={}&response_type=code&scope=read&state=xyz",
        urlencode(CB)
    );
    let id = &c.id;
    let queries = [
        rest.clone(),
        format!("client_id=&{rest}"),
        format!("client_id=cl_doesnotexist0000000000000&{rest}"),
        format!("client_id=%00&{rest}"),
        format!("client_id=%1B&{rest}"),
        format!("client_id={id}%00&{rest}"),
        format!("client_id={id}%1B&{rest}"),
        format!("client_id=%00{id}&{rest}"),
        format!("client_id={}&{rest}", urlencode("' OR '1'='1")),
        format!("client_id={}&{rest}", "x".repeat(5000)),
        format!("client_id={id}&client_id={id}&{rest}"),
    ];
    for q in &queries {
        // Act
        let res = get(&browser, &app.url(&format!("/oauth/authorize?{q}"))).await;
        // Assert: 400, not 500, and no redirect to the (unverified) URI.
        assert_error_page(&res, q);
    }
    assert_eq!(app.codes_issued().await, 0);
}

// ---------------------------------------------------------------------------------------------
// A5: response types

#[tokio::test]
async fn authorize_redirects_unsupported_response_type_when_response_type_is_not_code() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    for rt in [
        "token",
        "code id_token",
        "id_token",
        "code token",
        "none",
        "CODE",
    ] {
        // Act
        let res = get(
            &browser,
            &url_of(&app, &params(&c, &[("response_type", rt)])),
        )
        .await;
        // Assert: in the query, never tokens in a fragment.
        let q = assert_redirect_error(&app, &res, CB, "unsupported_response_type");
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"), "{rt}");
    }
    assert_eq!(app.codes_issued().await, 0);
}

#[tokio::test]
async fn authorize_redirects_request_not_supported_when_a_request_object_is_sent() {
    // Arrange: a signed-in person and a first-party app, so a request that ignored the
    // object would get a code at once.
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    for object in ["eyJhbGciOiJub25lIn0.e30.", "not-a-jwt"] {
        // Act
        let res = get(&browser, &url_of(&app, &params(&c, &[("request", object)]))).await;
        // Assert: OIDC Core §6.1, to the verified redirect URI with state.
        let q = assert_redirect_error(&app, &res, CB, "request_not_supported");
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    }
    assert_eq!(app.codes_issued().await, 0);
}

#[tokio::test]
async fn authorize_redirects_invalid_request_when_response_type_is_missing() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    // Act
    let res = get(
        &browser,
        &url_of(&app, &params(&c, &[("response_type", "")])),
    )
    .await;
    // Assert
    assert!(is_redirect(&res), "status {}", res.status());
    let error = query_of(&location(&res))
        .remove("error")
        .unwrap_or_default();
    assert!(
        error == "invalid_request" || error == "unsupported_response_type",
        "error {error}"
    );
    assert_redirect_error(&app, &res, CB, &error);
}

// ---------------------------------------------------------------------------------------------
// A6, A7: state and iss

/// 1 KiB of the characters that break naive query handling.
fn hostile_state() -> String {
    "&=#%+".chars().cycle().take(1024).collect()
}

#[tokio::test]
async fn authorize_echoes_a_long_state_byte_exact_when_the_request_succeeds() {
    // Arrange: through sign-in and consent, so `state` survives `next` and the hidden fields.
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let state = hostile_state();
    let url = url_of(&app, &params(&c, &[("state", &state)]));
    // Act
    let res = app
        .authorize_in_browser(&app.new_browser(), &url, EMAIL, "allow")
        .await;
    // Assert
    let q = assert_code(&app, &res, CB);
    assert_eq!(q.get("state"), Some(&state));
}

#[tokio::test]
async fn authorize_echoes_a_long_state_byte_exact_when_the_request_fails() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let state = hostile_state();
    let browser = app.new_browser();

    // Act: an error before sign-in…
    let res = get(
        &browser,
        &url_of(&app, &params(&c, &[("state", &state), ("scope", "admin")])),
    )
    .await;
    // Assert
    let q = assert_redirect_error(&app, &res, CB, "invalid_scope");
    assert_eq!(q.get("state"), Some(&state));

    // Act: …and one after consent.
    let url = url_of(&app, &params(&c, &[("state", &state)]));
    let res = app
        .authorize_in_browser(&browser, &url, EMAIL, "deny")
        .await;
    // Assert
    let q = assert_redirect_error(&app, &res, CB, "access_denied");
    assert_eq!(q.get("state"), Some(&state));
}

#[tokio::test]
async fn authorize_omits_state_when_the_request_has_no_state() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let browser = app.new_browser();
    // Act: success through sign-in and consent.
    let url = url_of(&app, &params(&c, &[("state", "")]));
    let res = app
        .authorize_in_browser(&browser, &url, EMAIL, "allow")
        .await;
    // Assert
    let q = assert_code(&app, &res, CB);
    assert!(!q.contains_key("state"), "state appeared: {q:?}");
    // Act: an error.
    let res = get(
        &browser,
        &url_of(&app, &params(&c, &[("state", ""), ("scope", "admin")])),
    )
    .await;
    // Assert
    let q = assert_redirect_error(&app, &res, CB, "invalid_scope");
    assert!(!q.contains_key("state"), "state appeared: {q:?}");
}

#[tokio::test]
async fn authorize_sends_iss_equal_to_the_metadata_issuer_when_responding_with_a_code_or_an_error()
{
    // Arrange
    let app = spawn_app().await;
    let meta = json(app.get("/.well-known/oauth-authorization-server").await).await;
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    let issuer = meta["issuer"].as_str().expect("issuer").to_owned();
    let browser = signed_in(&app).await;
    let fp = first_party(&app).await;
    let third = app.confidential_client().await;
    let signed_out = app.new_browser();

    let mut responses = Vec::new();
    // Act: a code, and every kind of redirect error.
    responses.push((
        "code",
        get(&browser, &url_of(&app, &params(&fp, &[]))).await,
    ));
    responses.push((
        "unsupported_response_type",
        get(
            &browser,
            &url_of(&app, &params(&fp, &[("response_type", "token")])),
        )
        .await,
    ));
    responses.push((
        "invalid_scope",
        get(&browser, &url_of(&app, &params(&fp, &[("scope", "admin")]))).await,
    ));
    responses.push((
        "invalid_request",
        get(
            &browser,
            &url_of(
                &app,
                &params(
                    &fp,
                    &[
                        ("code_challenge", CHALLENGE),
                        ("code_challenge_method", "plain"),
                    ],
                ),
            ),
        )
        .await,
    ));
    responses.push((
        "login_required",
        get(
            &signed_out,
            &url_of(&app, &params(&fp, &[("prompt", "none")])),
        )
        .await,
    ));
    responses.push((
        "consent_required",
        get(
            &browser,
            &url_of(&app, &params(&third, &[("prompt", "none")])),
        )
        .await,
    ));
    let form = consent_page(get(&browser, &url_of(&app, &params(&third, &[]))).await).await;
    responses.push(("access_denied", answer(&app, &browser, &form, "deny").await));
    let form = consent_page(get(&browser, &url_of(&app, &params(&third, &[]))).await).await;
    responses.push(("code", answer(&app, &browser, &form, "allow").await));

    // Assert
    for (expected, res) in &responses {
        assert!(is_redirect(res), "{expected}: status {}", res.status());
        let q = query_of(&location(res));
        if *expected == "code" {
            assert!(q.contains_key("code"), "{expected}: {q:?}");
        } else {
            assert_eq!(q.get("error").map(String::as_str), Some(*expected));
        }
        assert_eq!(q.get("iss"), Some(&issuer), "{expected}: iss");
    }
}

// ---------------------------------------------------------------------------------------------
// A8, A9, A10: PKCE

#[tokio::test]
async fn authorize_redirects_invalid_request_when_a_public_client_sends_no_code_challenge() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = public_first_party(&app, vec![CB]).await;
    // Act
    let res = get(&browser, &url_of(&app, &params(&c, &[]))).await;
    // Assert
    let q = assert_redirect_error(&app, &res, CB, "invalid_request");
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    // With S256 the same request succeeds.
    let (_, challenge) = pkce_pair();
    let res = get(
        &browser,
        &url_of(
            &app,
            &params(
                &c,
                &[
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            ),
        ),
    )
    .await;
    assert_code(&app, &res, CB);
}

#[tokio::test]
async fn authorize_issues_a_code_when_a_confidential_client_sends_no_code_challenge() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    // Act
    let res = get(&browser, &url_of(&app, &params(&c, &[]))).await;
    // Assert
    assert_code(&app, &res, CB);
}

#[tokio::test]
async fn authorize_redirects_invalid_request_when_code_challenge_method_is_plain_missing_or_unknown()
 {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = public_first_party(&app, vec![CB]).await;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "plain"),
        ],
        // Omitted method defaults to plain (RFC 7636 §4.3).
        vec![("code_challenge", CHALLENGE)],
        vec![
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S512"),
        ],
        vec![
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "s256"),
        ],
        vec![
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256 "),
        ],
        vec![("code_challenge_method", "S256")],
    ];
    for case in &cases {
        // Act
        let res = get(&browser, &url_of(&app, &params(&c, case))).await;
        // Assert
        let q = assert_redirect_error(&app, &res, CB, "invalid_request");
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"), "{case:?}");
    }
    assert_eq!(app.codes_issued().await, 0);
}

#[tokio::test]
async fn authorize_redirects_invalid_request_when_the_s256_code_challenge_is_malformed() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = public_first_party(&app, vec![CB]).await;
    let challenges = [
        CHALLENGE[..42].to_owned(),
        format!("{CHALLENGE}A"),
        format!("{CHALLENGE}="),
        "a".repeat(128),
        format!("{}+", &CHALLENGE[..42]),
        format!("{}/", &CHALLENGE[..42]),
        format!("{}=", &CHALLENGE[..42]),
        format!("{}.", &CHALLENGE[..42]),
        format!("{}~", &CHALLENGE[..42]),
        format!("{} ", &CHALLENGE[..42]),
        format!("{}é", &CHALLENGE[..41]),
    ];
    for ch in &challenges {
        // Act
        let res = get(
            &browser,
            &url_of(
                &app,
                &params(
                    &c,
                    &[("code_challenge", ch), ("code_challenge_method", "S256")],
                ),
            ),
        )
        .await;
        // Assert
        assert_redirect_error(&app, &res, CB, "invalid_request");
    }
    assert_eq!(app.codes_issued().await, 0);
}

// ---------------------------------------------------------------------------------------------
// A11: unknown parameters, order

#[tokio::test]
async fn authorize_issues_a_code_when_the_request_has_an_unknown_parameter() {
    // Arrange: a third-party client, so the parameter travels through sign-in and consent.
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let url = url_of(&app, &params(&c, &[("extra", "foobar")]));
    // Act
    let res = app
        .authorize_in_browser(&app.new_browser(), &url, EMAIL, "allow")
        .await;
    // Assert: success, and the parameter is ignored (not echoed).
    let q = assert_code(&app, &res, CB);
    assert!(!q.contains_key("extra"), "{q:?}");
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
}

#[tokio::test]
async fn authorize_issues_a_code_when_parameters_and_scopes_come_in_another_order() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    let mut reversed = params(&c, &[("scope", "write read")]);
    reversed.reverse();
    // Act
    let res = get(&browser, &url_of(&app, &reversed)).await;
    // Assert
    let q = assert_code(&app, &res, CB);
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    let token = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", CB),
            ],
        )
        .await;
    assert_eq!(token.status(), 200);
    let body = json(token).await;
    let mut granted: Vec<&str> = body["scope"].as_str().expect("scope").split(' ').collect();
    granted.sort();
    assert_eq!(granted, ["read", "write"]);
}

// ---------------------------------------------------------------------------------------------
// A13: scope

#[tokio::test]
async fn authorize_redirects_invalid_scope_when_a_scope_is_unknown_or_not_allowed_for_the_client() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = app
        .create_client(ClientSpec {
            first_party: true,
            scopes: vec!["read"],
            ..ClientSpec::default()
        })
        .await;
    for scope in [
        "admin",
        "read admin",
        "READ",
        "write",
        "read write",
        "read\u{0}",
    ] {
        // Act
        let res = get(&browser, &url_of(&app, &params(&c, &[("scope", scope)]))).await;
        // Assert
        let q = assert_redirect_error(&app, &res, CB, "invalid_scope");
        assert_eq!(q.get("state").map(String::as_str), Some("xyz"), "{scope}");
    }
    assert_eq!(app.codes_issued().await, 0);
}

#[tokio::test]
async fn authorize_shows_error_page_when_scope_is_invalid_and_client_or_redirect_uri_is_not_verified()
 {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = first_party(&app).await;
    // Act: bad scope + unregistered redirect URI.
    let res = get(
        &browser,
        &url_of(
            &app,
            &params(
                &c,
                &[
                    ("scope", "admin"),
                    ("redirect_uri", "https://evil.example/cb"),
                ],
            ),
        ),
    )
    .await;
    // Assert
    assert_error_page(&res, "bad scope, unregistered redirect_uri");
    // Act: bad scope + unknown client.
    let res = get(
        &browser,
        &url_of(
            &app,
            &params(&c, &[("scope", "admin"), ("client_id", "cl_unknown")]),
        ),
    )
    .await;
    // Assert
    assert_error_page(&res, "bad scope, unknown client");
}
