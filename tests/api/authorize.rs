//! `GET/POST /oauth/authorize`, black-box: SECURITY.md section 1a (A1, A3–A11, A13, A14,
//! A16–A19), `prompt`, remembered consent, first-party clients, the consent answer, and
//! loopback redirect URIs (RFC 8252 §7.3).
//!
//! "Error page" = HTML 400 without `Location`; "redirect error" = 302/303 to the registered
//! redirect URI with `error`, `state` and `iss` in the query.

use std::collections::HashMap;

use crate::helpers::*;

const EMAIL: &str = "ann@example.com";
const CB: &str = "https://app.example.com/callback";
/// A syntactically valid S256 challenge (RFC 7636 Appendix B).
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The base request for `c`: `client_id`, `redirect_uri`, `response_type=code`, `scope=read`,
/// `state=xyz`. Each change replaces the parameter of that name in place (or is appended);
/// an empty value removes it.
fn params(c: &TestClient, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = vec![
        ("client_id".into(), c.id.clone()),
        ("redirect_uri".into(), c.redirect_uri.clone()),
        ("response_type".into(), "code".into()),
        ("scope".into(), "read".into()),
        ("state".into(), "xyz".into()),
    ];
    for (k, v) in changes {
        match p.iter().position(|(pk, _)| pk == k) {
            Some(i) if v.is_empty() => {
                p.remove(i);
            }
            Some(i) => p[i].1 = (*v).to_owned(),
            None if v.is_empty() => {}
            None => p.push(((*k).to_owned(), (*v).to_owned())),
        }
    }
    p
}

fn url_of(app: &TestApp, p: &[(String, String)]) -> String {
    let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.authorize_url(&pairs)
}

async fn get(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    browser.get(url).send().await.expect("request")
}

async fn first_party(app: &TestApp) -> TestClient {
    app.create_client(ClientSpec {
        first_party: true,
        ..ClientSpec::default()
    })
    .await
}

async fn public_first_party(app: &TestApp, redirect_uris: Vec<&'static str>) -> TestClient {
    app.create_client(ClientSpec {
        public: true,
        first_party: true,
        grant_types: vec!["authorization_code", "refresh_token"],
        redirect_uris,
        ..ClientSpec::default()
    })
    .await
}

/// A signed-in browser for a fresh user [`EMAIL`].
async fn signed_in(app: &TestApp) -> reqwest::Client {
    app.create_user(EMAIL, PASSWORD).await;
    app.signed_in_browser(EMAIL).await
}

fn is_redirect(res: &reqwest::Response) -> bool {
    matches!(res.status().as_u16(), 302 | 303)
}

/// A redirect error (RFC 6749 §4.1.2.1, RFC 9207 §2): to `redirect_uri`, in the query,
/// with `error` and `iss`, and no code or token. Returns the query.
fn assert_redirect_error(
    app: &TestApp,
    res: &reqwest::Response,
    redirect_uri: &str,
    error: &str,
) -> HashMap<String, String> {
    assert!(
        is_redirect(res),
        "expected a redirect, got {}",
        res.status()
    );
    let loc = location(res);
    assert!(
        loc.starts_with(&format!("{redirect_uri}?")),
        "redirect error went to {loc}, not {redirect_uri}"
    );
    assert!(!loc.contains('#'), "response in a fragment: {loc}");
    let q = query_of(&loc);
    assert_eq!(q.get("error").map(String::as_str), Some(error), "{loc}");
    assert_eq!(q.get("iss"), Some(&app.settings.issuer), "{loc}");
    for k in ["code", "access_token", "id_token", "token_type"] {
        assert!(!q.contains_key(k), "{k} in an error response: {loc}");
    }
    q
}

/// A successful authorization response carrying a code to `redirect_uri`. Returns the query.
fn assert_code(
    app: &TestApp,
    res: &reqwest::Response,
    redirect_uri: &str,
) -> HashMap<String, String> {
    assert!(
        is_redirect(res),
        "expected a redirect with a code, got {} (Location {:?})",
        res.status(),
        res.headers().get("location")
    );
    let loc = location(res);
    assert!(
        loc.starts_with(&format!("{redirect_uri}?")),
        "code went to {loc}, not {redirect_uri}"
    );
    assert!(!loc.contains('#'), "response in a fragment: {loc}");
    let q = query_of(&loc);
    assert!(!q.contains_key("error"), "unexpected error: {loc}");
    assert!(
        q.get("code").is_some_and(|c| !c.is_empty()),
        "no code: {loc}"
    );
    assert_eq!(q.get("iss"), Some(&app.settings.issuer), "{loc}");
    q
}

fn assert_login_redirect(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), 303, "expected the sign-in redirect");
    let loc = location(res);
    assert!(loc.starts_with("/login?"), "expected /login, got {loc}");
    query_of(&loc).remove("next").expect("next")
}

async fn consent_page(res: reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(res.status(), 200, "expected the consent page");
    let html = res.text().await.expect("body");
    consent_form_of(&html)
}

async fn answer(
    app: &TestApp,
    browser: &reqwest::Client,
    form: &[(String, String)],
    decision: &str,
) -> reqwest::Response {
    let mut form = form.to_vec();
    form.push(("decision".into(), decision.into()));
    browser
        .post(app.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .expect("consent")
}

/// Give consent to `c` for `scope` in `browser` (already signed in).
async fn consent_once(app: &TestApp, browser: &reqwest::Client, c: &TestClient, scope: &str) {
    let form =
        consent_page(get(browser, &url_of(app, &params(c, &[("scope", scope)]))).await).await;
    let res = answer(app, browser, &form, "allow").await;
    assert_code(app, &res, &c.redirect_uri);
}

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
        let res = latch::clients::create(&app.db, register(bad)).await;
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
            latch::clients::create(&app.db, register(good))
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
        latch::api_keys::NewKey {
            user_id: user.id.clone(),
            livemode: true,
            name: "admin".into(),
            scopes: vec!["read".into(), "write".into()],
            expires_at: None,
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
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
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

// ---------------------------------------------------------------------------------------------
// Loopback redirect URIs (RFC 8252 §7.3) and registered queries

#[tokio::test]
async fn authorize_accepts_any_port_when_the_registered_redirect_uri_is_a_loopback_ip() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = public_first_party(&app, vec!["http://127.0.0.1/cb", "http://[::1]/cb"]).await;
    for presented in [
        "http://127.0.0.1:51004/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:9000/cb",
    ] {
        let (verifier, challenge) = pkce_pair();
        // Act
        let res = get(
            &browser,
            &url_of(
                &app,
                &params(
                    &c,
                    &[
                        ("redirect_uri", presented),
                        ("code_challenge", &challenge),
                        ("code_challenge_method", "S256"),
                    ],
                ),
            ),
        )
        .await;
        // Assert: the code goes to the port the app listens on, and redeems there.
        let q = assert_code(&app, &res, presented);
        let token = app
            .post_token(&[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", presented),
                ("client_id", &c.id),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_eq!(
            token.status(),
            200,
            "{presented}: {}",
            token.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn authorize_shows_error_page_when_a_localhost_redirect_uri_has_another_port() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = public_first_party(&app, vec!["http://localhost/cb"]).await;
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    // Act
    let mut changes = pkce.to_vec();
    changes.push(("redirect_uri", "http://localhost:5000/cb"));
    let res = get(&browser, &url_of(&app, &params(&c, &changes))).await;
    // Assert: `localhost` gets exact matching only.
    assert_error_page(&res, "localhost with a port");
    let res = get(&browser, &url_of(&app, &params(&c, &pkce))).await;
    assert_code(&app, &res, "http://localhost/cb");
}

#[tokio::test]
async fn authorize_shows_error_page_when_a_loopback_redirect_uri_differs_in_more_than_the_port() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = public_first_party(&app, vec!["http://127.0.0.1/cb"]).await;
    for presented in [
        "http://127.0.0.1:5000/other",
        "http://127.0.0.1:5000/cb/",
        "http://127.0.0.1:5000/cb?x=1",
        "http://127.0.0.2:5000/cb",
        "https://127.0.0.1:5000/cb",
        "http://localhost:5000/cb",
        "http://[::1]:5000/cb",
        "http://evil@127.0.0.1:5000/cb",
    ] {
        // Act
        let res = get(
            &browser,
            &url_of(
                &app,
                &params(
                    &c,
                    &[
                        ("redirect_uri", presented),
                        ("code_challenge", CHALLENGE),
                        ("code_challenge_method", "S256"),
                    ],
                ),
            ),
        )
        .await;
        // Assert
        assert_error_page(&res, presented);
    }
}

#[tokio::test]
async fn authorize_keeps_the_registered_query_when_the_redirect_uri_has_one() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let registered = "https://app.example.com/cb?foo=bar";
    let c = app
        .create_client(ClientSpec {
            first_party: true,
            redirect_uris: vec![registered],
            ..ClientSpec::default()
        })
        .await;
    // Act
    let ok = get(&browser, &url_of(&app, &params(&c, &[]))).await;
    let added = get(
        &browser,
        &url_of(
            &app,
            &params(
                &c,
                &[("redirect_uri", "https://app.example.com/cb?foo=bar&x=1")],
            ),
        ),
    )
    .await;
    let changed = get(
        &browser,
        &url_of(
            &app,
            &params(
                &c,
                &[("redirect_uri", "https://app.example.com/cb?foo=baz")],
            ),
        ),
    )
    .await;
    // Assert (OIDC redirect-uri-query-OK / -added / -mismatch)
    let q = assert_code(&app, &ok, "https://app.example.com/cb");
    assert_eq!(q.get("foo").map(String::as_str), Some("bar"));
    assert_error_page(&added, "query added");
    assert_error_page(&changed, "query changed");
}
