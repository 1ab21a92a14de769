//! Two-step sign-in with an authenticator app (RFC 6238), black-box: set-up under Settings
//! (the `otpauth://` URI as text and an inline SVG QR code, confirmed by a first code,
//! recovery codes shown once), the second step after the password (±1 step accepted, ±2
//! refused, a replayed code refused, a recovery code used once, wrong codes throttled),
//! `amr`/`auth_time` in ID tokens, `prompt=login` and `max_age` asking for both steps again,
//! `LATCH_REQUIRE_MFA`, and removing the factor only with the password.
//! Codes are computed here (HMAC-SHA-1 and RFC 4226 truncation), not by the server's code.

use std::time::Duration;

use sea_orm::EntityTrait;

use crate::helpers::*;

const EMAIL: &str = "otp@example.com";

/// An account with TOTP on; its secret and recovery codes.
async fn user_with_totp(app: &TestApp) -> (String, Vec<String>) {
    app.create_user(EMAIL, PASSWORD).await;
    let browser = app.signed_in_browser(EMAIL).await;
    enrol_totp(app, &browser).await
}

// ---------------------------------------------------------------------------------------------
// Set-up

#[tokio::test]
async fn set_up_shows_the_uri_and_a_qr_code_then_a_first_code_turns_it_on() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let browser = app.signed_in_browser(EMAIL).await;
    let csrf = settings_csrf(&app, &browser).await;
    // Act: start a set-up.
    let res = browser
        .post(app.url("/dashboard/settings/totp/begin"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/dashboard/settings/totp");
    let res = browser
        .get(app.url("/dashboard/settings/totp"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    // Assert: the key URI as text, naming issuer and account, and an inline SVG QR code.
    let secret = between(&html, "id=\"totp-secret\">", "</code>").to_owned();
    assert_eq!(base32_decode(&secret).len(), 20, "a 160-bit secret");
    let uri = html_unescape(between(&html, "id=\"totp-uri\">", "</code>"));
    assert!(
        uri.starts_with(&format!(
            "otpauth://totp/Latch:{EMAIL}?secret={secret}&issuer=Latch"
        )),
        "{uri}"
    );
    assert!(
        html.contains("<svg") && html.contains("<path"),
        "inline SVG QR"
    );
    // The secret is sealed at rest.
    let row = entity::totp_factor::Entity::find_by_id(user.id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!row.secret_sealed.contains(&secret));
    assert!(row.confirmed_at.is_none());
    // Not on until a code confirms it: a wrong code is refused…
    let res = browser
        .post(app.url("/dashboard/settings/totp/confirm"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", &totp_code(&app, &secret, 3)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(
        !latch::store::totp::enabled(&app.db, &user.id)
            .await
            .unwrap()
    );
    // …a right one turns it on and shows ten recovery codes, once.
    let res = browser
        .post(app.url("/dashboard/settings/totp/confirm"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", &totp_code(&app, &secret, 0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let shown = location(&res);
    let page = browser.get(app.url(&shown)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let codes: Vec<&str> = between(&html, "id=\"recovery-codes\">", "</code>")
        .split_whitespace()
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 11 && &c[5..6] == "-"));
    let again = browser.get(app.url(&shown)).send().await.unwrap();
    assert_eq!(again.status(), 303, "shown once");
    // Stored as digests, never as the codes.
    let rows = entity::recovery_code::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 10);
    for r in &rows {
        assert!(
            !codes
                .iter()
                .any(|c| r.code_hash.contains(&c.replace('-', "")))
        );
    }
    assert!(
        latch::store::totp::enabled(&app.db, &user.id)
            .await
            .unwrap()
    );
    assert!(
        audit_kinds(&app, EMAIL)
            .await
            .contains(&"totp.enabled".to_owned())
    );
    // The settings page says it is on.
    let html = browser
        .get(app.url("/dashboard/settings/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"codes-left\">10<"));
}

#[tokio::test]
async fn set_up_posts_need_the_csrf_token() {
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let browser = app.signed_in_browser(EMAIL).await;
    for path in [
        "/dashboard/settings/totp/begin",
        "/dashboard/settings/totp/confirm",
        "/dashboard/settings/totp/remove",
    ] {
        let res = browser
            .post(app.url(path))
            .form(&[("csrf", "forged"), ("code", "123456")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path}");
    }
}

// ---------------------------------------------------------------------------------------------
// The second step

#[tokio::test]
async fn sign_in_asks_for_a_code_after_the_password_and_accepts_one_step_of_drift() {
    // Arrange
    let app = spawn_app().await;
    let (secret, _) = user_with_totp(&app).await;
    for steps in [-1_i64, 0, 1] {
        // Act: the password…
        let (browser, res) = password_step(&app, EMAIL, "/dashboard/keys").await;
        // Assert: …is not a sign-in yet.
        assert_eq!(res.status(), 303);
        assert_eq!(location(&res), "/login/two-step");
        assert_eq!(
            dashboard_status(&app, &browser).await,
            303,
            "half signed in"
        );
        let page = browser
            .get(app.url("/login/two-step"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(
            page.text()
                .await
                .unwrap()
                .contains("autocomplete=\"one-time-code\"")
        );
        // A code `steps` away from now is accepted and continues to `next`.
        let res = second_step(&app, &browser, &totp_code(&app, &secret, steps)).await;
        assert_eq!(res.status(), 303, "{steps} step(s) of drift");
        assert_eq!(location(&res), "/dashboard/keys");
        assert_eq!(dashboard_status(&app, &browser).await, 200);
        // Each accepted code retires its step: move past the window.
        app.advance(90);
    }
}

#[tokio::test]
async fn codes_two_steps_away_are_refused() {
    let app = spawn_app().await;
    let (secret, _) = user_with_totp(&app).await;
    let (browser, _) = password_step(&app, EMAIL, "/").await;
    for steps in [-2_i64, 2, 10] {
        let res = second_step(&app, &browser, &totp_code(&app, &secret, steps)).await;
        assert_eq!(res.status(), 401, "{steps} steps away");
        assert!(res.text().await.unwrap().contains("not right"));
    }
    for junk in ["", "abcdef", "1234567", "１２３４５６", "<script>"] {
        let res = second_step(&app, &browser, junk).await;
        assert_eq!(res.status(), 401, "{junk:?}");
    }
    assert_eq!(dashboard_status(&app, &browser).await, 303);
    assert!(
        audit_kinds(&app, EMAIL)
            .await
            .contains(&"signin.second_step_failed".to_owned())
    );
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    // Arrange: one code used in a first browser.
    let app = spawn_app().await;
    let (secret, _) = user_with_totp(&app).await;
    let c = totp_code(&app, &secret, 0);
    let (first, _) = password_step(&app, EMAIL, "/").await;
    assert_eq!(second_step(&app, &first, &c).await.status(), 303);
    // Act: the same code (same time step) in another browser, with the right password.
    let (second, _) = password_step(&app, EMAIL, "/").await;
    let res = second_step(&app, &second, &c).await;
    // Assert (RFC 6238 §5.2): refused; so is the previous step's code (already retired).
    assert_eq!(res.status(), 401);
    let res = second_step(&app, &second, &totp_code(&app, &secret, -1)).await;
    assert_eq!(res.status(), 401);
    // The next step's code is fresh.
    let res = second_step(&app, &second, &totp_code(&app, &secret, 1)).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let app = spawn_app().await;
    let (_, codes) = user_with_totp(&app).await;
    let (browser, _) = password_step(&app, EMAIL, "/dashboard").await;
    // Typed in upper case, without its dash: the same code.
    let typed = codes[3].replace('-', "").to_uppercase();
    let res = second_step(&app, &browser, &typed).await;
    assert_eq!(res.status(), 303);
    assert_eq!(dashboard_status(&app, &browser).await, 200);
    assert!(
        audit_kinds(&app, EMAIL)
            .await
            .contains(&"recovery_code.used".to_owned())
    );
    // Used up.
    let (again, _) = password_step(&app, EMAIL, "/").await;
    assert_eq!(second_step(&app, &again, &codes[3]).await.status(), 401);
    // Another one still works, and the settings page counts what is left.
    assert_eq!(second_step(&app, &again, &codes[4]).await.status(), 303);
    let html = again
        .get(app.url("/dashboard/settings/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"codes-left\">8<"));
}

#[tokio::test]
async fn the_half_signed_in_state_expires() {
    let app = spawn_app().await;
    let (secret, _) = user_with_totp(&app).await;
    let (browser, _) = password_step(&app, EMAIL, "/").await;
    let html = browser
        .get(app.url("/login/two-step"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    app.advance(301);
    let res = browser
        .post(app.url("/login/two-step"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", &totp_code(&app, &secret, 0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login", "back to the password");
    assert_eq!(dashboard_status(&app, &browser).await, 303);
    // Without any password step, the page sends to sign-in.
    let res = app
        .new_browser()
        .get(app.url("/login/two-step"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login");
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords() {
    // Arrange: the account locks after 3 failures, for longer than the test.
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.limits.login_failures_per_account = 3;
        s.limits.base_lock = Duration::from_secs(300);
    })
    .await;
    let (secret, _) = user_with_totp(&app).await;
    let (browser, _) = password_step(&app, EMAIL, "/").await;
    for _ in 0..3 {
        let res = second_step(&app, &browser, &totp_code(&app, &secret, 5)).await;
        assert_eq!(res.status(), 401);
    }
    // Act: now even the right code waits.
    let res = second_step(&app, &browser, &totp_code(&app, &secret, 0)).await;
    // Assert
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(dashboard_status(&app, &browser).await, 303);
    assert!(
        audit_kinds(&app, EMAIL)
            .await
            .contains(&"signin.locked".to_owned())
    );
}

// ---------------------------------------------------------------------------------------------
// ID tokens, prompt=login, max_age

/// Authorize a first-party OpenID client in `browser` (signed in) and redeem the code:
/// the ID token's claims, or the redirect the authorization answered instead.
async fn id_token_claims(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> Result<serde_json::Value, reqwest::Response> {
    let (verifier, challenge) = pkce_pair();
    let mut params = vec![
        ("client_id", client.id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid"),
        ("state", "s"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let res = browser
        .get(app.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let loc = location(&res);
    if !loc.starts_with(&client.redirect_uri) {
        return Err(res);
    }
    let code = query_of(&loc).remove("code").expect("code");
    let t = json(app.redeem_code(client, &code, &verifier).await).await;
    let refreshed = json(
        app.post_token_basic(
            &client.id,
            client.secret(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().expect("rt")),
            ],
        )
        .await,
    )
    .await;
    let first = jwt_claims(t["id_token"].as_str().expect("id_token"));
    // OIDC Core §12.2: the refreshed ID token tells the same story.
    let again = jwt_claims(refreshed["id_token"].as_str().expect("refreshed id_token"));
    assert_eq!(first["amr"], again["amr"]);
    assert_eq!(first["auth_time"], again["auth_time"]);
    Ok(first)
}

#[tokio::test]
async fn id_tokens_carry_amr_and_auth_time() {
    // Arrange
    let app = spawn_app().await;
    let client = first_party(&app).await;
    app.create_user(EMAIL, PASSWORD).await;
    // A password-only sign-in: amr ["pwd"].
    let before = app.clock.now().timestamp();
    let browser = app.signed_in_browser(EMAIL).await;
    let claims = id_token_claims(&app, &browser, &client, &[]).await.unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(auth_time >= before && auth_time <= app.clock.now().timestamp());
    // With TOTP on, a sign-in with both steps: ["pwd","otp"], auth_time when it finished.
    let (secret, codes) = enrol_totp(&app, &browser).await;
    app.advance(100);
    let (b2, _) = password_step(&app, EMAIL, "/").await;
    let finished = app.clock.now().timestamp();
    assert_eq!(
        second_step(&app, &b2, &totp_code(&app, &secret, 0))
            .await
            .status(),
        303
    );
    let claims = id_token_claims(&app, &b2, &client, &[]).await.unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(claims["auth_time"].as_i64().unwrap(), finished);
    // A recovery code is a one-time password too (RFC 8176 `otp`).
    let (b3, _) = password_step(&app, EMAIL, "/").await;
    assert_eq!(second_step(&app, &b3, &codes[0]).await.status(), 303);
    let claims = id_token_claims(&app, &b3, &client, &[]).await.unwrap();
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    // Discovery lists the claim.
    let meta = json(app.get("/.well-known/openid-configuration").await).await;
    assert!(
        meta["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("amr"))
    );
}

/// `prompt=login` (or a too-old sign-in under `max_age`) sends a browser with TOTP through
/// both steps again before a code is issued.
async fn both_steps_again(app: &TestApp, secret: &str, extra: &[(&str, &str)]) {
    let client = first_party(app).await;
    let (browser, _) = password_step(app, EMAIL, "/").await;
    assert_eq!(
        second_step(app, &browser, &totp_code(app, secret, 0))
            .await
            .status(),
        303
    );
    app.advance(120);
    // Act
    let res = id_token_claims(app, &browser, &client, extra)
        .await
        .expect_err("a fresh sign-in is required");
    let to_login = location(&res);
    assert!(to_login.starts_with("/login?next="), "{to_login}");
    let next = query_of(&to_login).remove("next").unwrap();
    // The password alone does not satisfy it: the second step comes next…
    let res = app.sign_in(&browser, EMAIL, PASSWORD, &next).await;
    assert_eq!(location(&res), "/login/two-step");
    // Its form ends in redirects to the app: `form-action` allows the app's redirect URI.
    let page = browser
        .get(app.url("/login/two-step"))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("https://app.example.com"), "{csp}");
    // …and only after it, the authorization request goes on to the client.
    let res = second_step(app, &browser, &totp_code(app, secret, 0)).await;
    assert_eq!(location(&res), next);
    let res = browser.get(app.url(&next)).send().await.unwrap();
    assert!(
        location(&res).starts_with(&client.redirect_uri),
        "code issued"
    );
    assert!(query_of(&location(&res)).contains_key("code"));
}

#[tokio::test]
async fn prompt_login_needs_both_steps() {
    let app = spawn_app().await;
    let (secret, _) = user_with_totp(&app).await;
    both_steps_again(&app, &secret, &[("prompt", "login")]).await;
}

#[tokio::test]
async fn max_age_needs_both_steps() {
    let app = spawn_app().await;
    let (secret, _) = user_with_totp(&app).await;
    both_steps_again(&app, &secret, &[("max_age", "60")]).await;
}

// ---------------------------------------------------------------------------------------------
// LATCH_REQUIRE_MFA, removal

#[tokio::test]
async fn require_mfa_makes_an_account_set_one_up_at_sign_in() {
    // Arrange
    let app = spawn_app_with(|s| s.require_mfa = true).await;
    app.create_user(EMAIL, PASSWORD).await;
    // Act: the password…
    let (browser, res) = password_step(&app, EMAIL, "/dashboard/apps").await;
    // Assert: …leads to the set-up, not into the account.
    assert_eq!(location(&res), "/login/two-step/setup");
    assert_eq!(dashboard_status(&app, &browser).await, 303);
    let res = browser
        .get(app.url("/login/two-step/setup"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains("<svg") && html.contains("otpauth://totp/"));
    let secret = between(&html, "id=\"totp-secret\">", "</code>").to_owned();
    let csrf = input_value(&html, "csrf").unwrap();
    // A wrong code keeps the person out.
    let res = browser
        .post(app.url("/login/two-step/setup"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", &totp_code(&app, &secret, 4)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(dashboard_status(&app, &browser).await, 303);
    // A right one: the recovery codes, once, then on to `next`, signed in with both steps.
    let res = browser
        .post(app.url("/login/two-step/setup"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", &totp_code(&app, &secret, 0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert_eq!(html.matches("<li><code>").count(), 10);
    assert!(html.contains("href=\"/dashboard/apps\""));
    assert_eq!(dashboard_status(&app, &browser).await, 200);
    // The next sign-in asks for a code.
    app.advance(60);
    let (_, res) = password_step(&app, EMAIL, "/").await;
    assert_eq!(location(&res), "/login/two-step");
}

#[tokio::test]
async fn removing_totp_needs_the_password_again() {
    // Arrange
    let app = spawn_app().await;
    let (secret, _) = user_with_totp(&app).await;
    let (browser, _) = password_step(&app, EMAIL, "/").await;
    assert_eq!(
        second_step(&app, &browser, &totp_code(&app, &secret, 0))
            .await
            .status(),
        303
    );
    let csrf = settings_csrf(&app, &browser).await;
    // Act: a signed-in browser without the password cannot turn it off.
    let res = browser
        .post(app.url("/dashboard/settings/totp/remove"))
        .form(&[("csrf", csrf.as_str()), ("password", "not the password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let (_, res) = password_step(&app, EMAIL, "/").await;
    assert_eq!(location(&res), "/login/two-step", "still on");
    // With it, it goes, with its recovery codes.
    let res = browser
        .post(app.url("/dashboard/settings/totp/remove"))
        .form(&[("csrf", csrf.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (b2, res) = password_step(&app, EMAIL, "/").await;
    assert_eq!(location(&res), "/", "the password is enough again");
    assert_eq!(dashboard_status(&app, &b2).await, 200);
    assert_eq!(
        entity::recovery_code::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len(),
        0
    );
    assert!(
        audit_kinds(&app, EMAIL)
            .await
            .contains(&"totp.disabled".to_owned())
    );
}
