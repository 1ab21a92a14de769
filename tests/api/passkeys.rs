//! Passkeys (W3C WebAuthn Level 3), black-box: a software authenticator made here (ECDSA
//! P-256, `none` attestation, CBOR by hand) registers a passkey from Settings and signs in
//! with it, and the refusals: a challenge used twice, an assertion made for another
//! challenge, an unknown credential, another origin (registration and sign-in), a signature
//! counter that went back (a cloned authenticator), removal without the password again,
//! another account's passkey id. `amr` in ID tokens, no second step after a passkey, and
//! `LATCH_REQUIRE_MFA` met by one. The real browser path (Chromium's virtual authenticator,
//! `static/passkey.js`) is `scripts/passkey-browser.py`.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const EMAIL: &str = "passkey@example.com";

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .expect("base64url")
}

/// CBOR (RFC 8949) head: major type and length.
fn cbor_head(major: u8, len: usize, out: &mut Vec<u8>) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=255 => out.extend([m | 24, len as u8]),
        _ => {
            out.push(m | 25);
            out.extend((len as u16).to_be_bytes());
        }
    }
}

fn cbor_bytes(b: &[u8], out: &mut Vec<u8>) {
    cbor_head(2, b.len(), out);
    out.extend_from_slice(b);
}

fn cbor_text(s: &str, out: &mut Vec<u8>) {
    cbor_head(3, s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// A software authenticator holding one discoverable ES256 credential.
struct Authenticator {
    pair: EcdsaKeyPair,
    cred_id: Vec<u8>,
    counter: u32,
    /// The user handle it was registered with (from the creation options).
    user_handle: Vec<u8>,
}

impl Authenticator {
    fn new() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let cred_id: Vec<u8> = (0..32).map(|_| rand_byte()).collect();
        Authenticator {
            pair,
            cred_id,
            counter: 0,
            user_handle: vec![],
        }
    }

    /// RFC 9052 COSE_Key of the public key (EC2, P-256, ES256).
    fn cose_key(&self) -> Vec<u8> {
        let pk = self.pair.public_key().as_ref();
        let mut out = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cbor_bytes(&pk[1..33], &mut out);
        out.push(0x22);
        cbor_bytes(&pk[33..65], &mut out);
        out
    }

    /// WebAuthn §6.1 authenticator data: RP ID hash, flags, counter (and the attested
    /// credential data when registering).
    fn auth_data(&self, rp_id: &str, flags: u8, attested: bool) -> Vec<u8> {
        let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
        out.push(flags);
        out.extend(self.counter.to_be_bytes());
        if attested {
            out.extend([0u8; 16]); // AAGUID
            out.extend((self.cred_id.len() as u16).to_be_bytes());
            out.extend(&self.cred_id);
            out.extend(self.cose_key());
        }
        out
    }

    /// `navigator.credentials.create` with `none` attestation, as the browser would
    /// serialise it: the JSON `webauthn-rs` reads.
    fn create(&mut self, options: &Value, origin: &str) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().expect("rp.id");
        self.user_handle = unb64(pk["user"]["id"].as_str().expect("user.id"));
        let client_data = json!({
            "type": "webauthn.create",
            "challenge": pk["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        self.counter += 1;
        // UP | UV | AT
        let auth_data = self.auth_data(rp_id, 0x45, true);
        let mut att = vec![0xa3];
        cbor_text("fmt", &mut att);
        cbor_text("none", &mut att);
        cbor_text("attStmt", &mut att);
        att.push(0xa0);
        cbor_text("authData", &mut att);
        cbor_bytes(&auth_data, &mut att);
        json!({
            "id": b64(&self.cred_id),
            "rawId": b64(&self.cred_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&att),
                "clientDataJSON": b64(client_data.as_bytes()),
            },
            "extensions": {},
        })
    }

    /// `navigator.credentials.get` for `options` (any credential of the RP), signed with
    /// user verification.
    fn get(&mut self, options: &Value, rp_id: &str, origin: &str) -> Value {
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": options["publicKey"]["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        self.counter += 1;
        // UP | UV
        let auth_data = self.auth_data(rp_id, 0x05, false);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(client_data.as_bytes()));
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self.pair.sign(&rng, &signed).unwrap();
        json!({
            "id": b64(&self.cred_id),
            "rawId": b64(&self.cred_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(client_data.as_bytes()),
                "signature": b64(sig.as_ref()),
                "userHandle": b64(&self.user_handle),
            },
            "extensions": {},
        })
    }
}

fn rand_byte() -> u8 {
    let mut b = [0u8; 1];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b[0]
}

/// An app whose issuer is `http://localhost:{port}`: an RP ID must be a domain name
/// (WebAuthn §5.1.1), so passkeys are off on an IP-address issuer.
async fn app_on_localhost(f: impl FnOnce(&mut latch::config::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.issuer = "http://localhost:0".into();
        s.audience = s.issuer.clone();
        f(s);
    })
    .await
}

fn origin(app: &TestApp) -> String {
    app.settings.issuer.clone()
}

async fn post_json(browser: &reqwest::Client, url: &str, body: &Value) -> reqwest::Response {
    browser.post(url).json(body).send().await.expect("request")
}

/// Register `auth` as a passkey named `name` from Settings in a signed-in browser.
async fn register(
    app: &TestApp,
    browser: &reqwest::Client,
    auth: &mut Authenticator,
    name: &str,
) -> reqwest::Response {
    let csrf = settings_csrf(app, browser).await;
    let res = post_json(
        browser,
        &app.url("/dashboard/settings/passkeys/begin"),
        &json!({"csrf": csrf}),
    )
    .await;
    assert_eq!(res.status(), 200, "registration options");
    let options = json(res).await;
    let cred = auth.create(&options, &origin(app));
    post_json(
        browser,
        &app.url("/dashboard/settings/passkeys/finish"),
        &json!({"csrf": csrf, "name": name, "credential": cred}),
    )
    .await
}

/// Begin a passkey sign-in on the sign-in page of a fresh (or given) browser: its CSRF
/// token and the request options.
async fn begin_signin(app: &TestApp, browser: &reqwest::Client, next: &str) -> (String, Value) {
    let html = browser
        .get(app.url(&format!("/login?next={}", urlencode(next))))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"passkey-signin\""), "the passkey button");
    assert!(html.contains("/static/passkey.js?v="));
    let csrf = input_value(&html, "csrf").expect("csrf");
    let res = post_json(
        browser,
        &app.url("/login/passkey/begin"),
        &json!({"csrf": csrf}),
    )
    .await;
    assert_eq!(res.status(), 200, "request options");
    (csrf, json(res).await)
}

async fn finish_signin(
    app: &TestApp,
    browser: &reqwest::Client,
    csrf: &str,
    next: &str,
    credential: &Value,
) -> reqwest::Response {
    post_json(
        browser,
        &app.url("/login/passkey/finish"),
        &json!({"csrf": csrf, "next": next, "credential": credential}),
    )
    .await
}

fn rp_id(app: &TestApp) -> &'static str {
    let _ = app;
    "localhost"
}

/// An account with one registered passkey; the authenticator holding it.
async fn user_with_passkey(app: &TestApp) -> Authenticator {
    app.create_user(EMAIL, PASSWORD).await;
    let browser = app.signed_in_browser(EMAIL).await;
    let mut auth = Authenticator::new();
    let res = register(app, &browser, &mut auth, "Laptop").await;
    assert_eq!(res.status(), 200, "registration");
    auth
}

// ---------------------------------------------------------------------------------------------
// Register, list, sign in

#[tokio::test]
async fn a_registered_passkey_is_listed_and_signs_in_without_a_password() {
    // Arrange
    let app = app_on_localhost(|_| {}).await;
    app.create_user(EMAIL, PASSWORD).await;
    let browser = app.signed_in_browser(EMAIL).await;
    let mut auth = Authenticator::new();
    // Act: register.
    let res = register(&app, &browser, &mut auth, "  Work laptop ").await;
    // Assert: listed by name, never used yet.
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["redirect"], "/dashboard/settings/security");
    let html = browser
        .get(app.url("/dashboard/settings/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(">Work laptop</th>"), "listed by name");
    assert!(html.contains("Never"), "not used yet");
    assert!(
        audit_kinds(&app, EMAIL)
            .await
            .contains(&"passkey.added".into())
    );

    // Act: sign in with it in another browser, no password.
    let other = app.new_browser();
    let (csrf, options) = begin_signin(&app, &other, "/dashboard").await;
    assert!(
        options["publicKey"].get("allowCredentials").is_none()
            || options["publicKey"]["allowCredentials"]
                .as_array()
                .is_some_and(Vec::is_empty),
        "discoverable: no credential list"
    );
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let assertion = auth.get(&options, rp_id(&app), &origin(&app));
    let res = finish_signin(&app, &other, &csrf, "/dashboard", &assertion).await;
    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["redirect"], "/dashboard");
    assert_eq!(dashboard_status(&app, &other).await, 200);
    let html = other
        .get(app.url("/dashboard/settings/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Never"), "last used is stamped");
}

#[tokio::test]
async fn registration_is_refused_for_another_origin_or_a_reused_challenge() {
    // Arrange
    let app = app_on_localhost(|_| {}).await;
    app.create_user(EMAIL, PASSWORD).await;
    let browser = app.signed_in_browser(EMAIL).await;
    let csrf = settings_csrf(&app, &browser).await;
    let begin = || async {
        json(
            post_json(
                &browser,
                &app.url("/dashboard/settings/passkeys/begin"),
                &json!({"csrf": csrf}),
            )
            .await,
        )
        .await
    };
    let finish = |cred: Value| {
        let browser = &browser;
        let url = app.url("/dashboard/settings/passkeys/finish");
        let csrf = csrf.clone();
        async move {
            post_json(
                browser,
                &url,
                &json!({"csrf": csrf, "name": "Key", "credential": cred}),
            )
            .await
        }
    };
    // Act + Assert: made for another origin.
    let options = begin().await;
    let cred = Authenticator::new().create(&options, "http://evil.localhost:9999");
    assert_eq!(finish(cred).await.status(), 401);
    // The ceremony was used by that attempt: the right answer to it is refused too.
    let cred = Authenticator::new().create(&options, &origin(&app));
    assert_eq!(finish(cred.clone()).await.status(), 400);
    // A fresh ceremony, answered with the old challenge.
    let _ = begin().await;
    assert_eq!(finish(cred).await.status(), 401);
    // Without the CSRF token nothing starts.
    let res = post_json(
        &browser,
        &app.url("/dashboard/settings/passkeys/begin"),
        &json!({"csrf": "nope"}),
    )
    .await;
    assert_eq!(res.status(), 403);
    // Nothing was registered.
    let user = latch::store::users::by_email(&app.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        latch::store::passkeys::count_for_user(&app.db, &user.id)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_sign_in_challenge_is_used_once() {
    // Arrange
    let app = app_on_localhost(|_| {}).await;
    let mut auth = user_with_passkey(&app).await;
    let browser = app.new_browser();
    let (csrf, options) = begin_signin(&app, &browser, "/").await;
    let assertion = auth.get(&options, rp_id(&app), &origin(&app));
    assert_eq!(
        finish_signin(&app, &browser, &csrf, "/", &assertion)
            .await
            .status(),
        200
    );
    // Act: the same answer again, in another browser that began its own ceremony.
    let thief = app.new_browser();
    let (csrf2, _) = begin_signin(&app, &thief, "/").await;
    let res = finish_signin(&app, &thief, &csrf2, "/", &assertion).await;
    // Assert: made for another challenge.
    assert_eq!(res.status(), 401);
    assert_eq!(dashboard_status(&app, &thief).await, 303);
    // And replayed in the browser whose ceremony it answered: that ceremony is used up.
    let html = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf3 = input_value(&html, "csrf").unwrap();
    let res = finish_signin(&app, &browser, &csrf3, "/", &assertion).await;
    assert_eq!(res.status(), 400);
    assert!(
        json(res).await["error"]
            .as_str()
            .unwrap()
            .contains("expired or was already used")
    );
}

#[tokio::test]
async fn an_expired_sign_in_challenge_is_refused() {
    // Arrange
    let app = app_on_localhost(|_| {}).await;
    let mut auth = user_with_passkey(&app).await;
    let browser = app.new_browser();
    let (csrf, options) = begin_signin(&app, &browser, "/").await;
    // Act: past the ceremony's lifetime.
    app.advance(latch::users::passkeys::CEREMONY_SECS + 1);
    let assertion = auth.get(&options, rp_id(&app), &origin(&app));
    let res = finish_signin(&app, &browser, &csrf, "/", &assertion).await;
    // Assert
    assert_eq!(res.status(), 400);
    assert_eq!(dashboard_status(&app, &browser).await, 303);
}

#[tokio::test]
async fn an_unknown_credential_or_another_origin_does_not_sign_in() {
    // Arrange
    let app = app_on_localhost(|_| {}).await;
    let mut auth = user_with_passkey(&app).await;
    // Act: a key never registered here (same user handle, even).
    let browser = app.new_browser();
    let (csrf, options) = begin_signin(&app, &browser, "/").await;
    let mut stranger = Authenticator::new();
    stranger.user_handle = auth.user_handle.clone();
    let res = finish_signin(
        &app,
        &browser,
        &csrf,
        "/",
        &stranger.get(&options, rp_id(&app), &origin(&app)),
    )
    .await;
    // Assert
    assert_eq!(res.status(), 401);
    assert!(
        json(res).await["error"]
            .as_str()
            .unwrap()
            .contains("not registered")
    );
    assert_eq!(dashboard_status(&app, &browser).await, 303);

    // Act: the right key, signing for another origin (a phishing site relaying the request).
    let (csrf, options) = begin_signin(&app, &browser, "/").await;
    let res = finish_signin(
        &app,
        &browser,
        &csrf,
        "/",
        &auth.get(&options, rp_id(&app), "http://localhost.evil.example"),
    )
    .await;
    assert_eq!(res.status(), 401);
    // Or for another RP ID.
    let (csrf, options) = begin_signin(&app, &browser, "/").await;
    let res = finish_signin(
        &app,
        &browser,
        &csrf,
        "/",
        &auth.get(&options, "evil.example", &origin(&app)),
    )
    .await;
    assert_eq!(res.status(), 401);
    // A tampered signature.
    let (csrf, options) = begin_signin(&app, &browser, "/").await;
    let mut bad = auth.get(&options, rp_id(&app), &origin(&app));
    bad["response"]["clientDataJSON"] = json!(b64(
        json!({"type":"webauthn.get","challenge": options["publicKey"]["challenge"],"origin": origin(&app),"crossOrigin": false,"x":1})
            .to_string()
            .as_bytes()
    ));
    assert_eq!(
        finish_signin(&app, &browser, &csrf, "/", &bad)
            .await
            .status(),
        401
    );
    assert_eq!(dashboard_status(&app, &browser).await, 303);
    // The failures of the registered credential are in its account's activity.
    assert!(
        audit_kinds(&app, EMAIL)
            .await
            .contains(&"signin.failed".into())
    );
    // And a good one still works.
    let (csrf, options) = begin_signin(&app, &browser, "/").await;
    let res = finish_signin(
        &app,
        &browser,
        &csrf,
        "/",
        &auth.get(&options, rp_id(&app), &origin(&app)),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_signature_counter_that_went_back_is_refused() {
    // Arrange: a cloned authenticator (WebAuthn §7.2 step 21).
    let app = app_on_localhost(|_| {}).await;
    let mut auth = user_with_passkey(&app).await;
    let browser = app.new_browser();
    let (csrf, options) = begin_signin(&app, &browser, "/").await;
    let good = auth.get(&options, rp_id(&app), &origin(&app));
    assert_eq!(
        finish_signin(&app, &browser, &csrf, "/", &good)
            .await
            .status(),
        200
    );
    // Act: the counter is back where it was.
    auth.counter -= 1;
    let other = app.new_browser();
    let (csrf, options) = begin_signin(&app, &other, "/").await;
    let res = finish_signin(
        &app,
        &other,
        &csrf,
        "/",
        &auth.get(&options, rp_id(&app), &origin(&app)),
    )
    .await;
    // Assert
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn failed_passkey_sign_ins_are_throttled_like_passwords() {
    // Arrange: an IP locks after 3 failures, for longer than the test.
    let app = app_on_localhost(|s| {
        s.rate_limit = true;
        s.limits.login_failures_per_ip = 3;
        s.limits.base_lock = std::time::Duration::from_secs(300);
    })
    .await;
    let mut auth = user_with_passkey(&app).await;
    let browser = app.new_browser();
    for _ in 0..3 {
        let (csrf, options) = begin_signin(&app, &browser, "/").await;
        let res = finish_signin(
            &app,
            &browser,
            &csrf,
            "/",
            &Authenticator::new().get(&options, rp_id(&app), &origin(&app)),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    // Act: now even the right passkey waits.
    let html = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let res = post_json(
        &browser,
        &app.url("/login/passkey/begin"),
        &json!({"csrf": csrf}),
    )
    .await;
    // Assert
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let _ = &mut auth;
}

// ---------------------------------------------------------------------------------------------
// Removal

#[tokio::test]
async fn removing_a_passkey_needs_the_password_again() {
    // Arrange
    let app = app_on_localhost(|_| {}).await;
    let mut auth = user_with_passkey(&app).await;
    let browser = app.signed_in_browser(EMAIL).await;
    let user = latch::store::users::by_email(&app.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    let id = latch::store::passkeys::for_user(&app.db, &user.id)
        .await
        .unwrap()[0]
        .id
        .clone();
    let csrf = settings_csrf(&app, &browser).await;
    let remove = |password: &'static str| {
        let browser = &browser;
        let url = app.url("/dashboard/settings/passkeys/remove");
        let form = vec![
            ("csrf", csrf.clone()),
            ("passkey_id", id.clone()),
            ("password", password.to_owned()),
        ];
        async move { browser.post(url).form(&form).send().await.unwrap() }
    };
    // Act + Assert: without the password, or with a wrong one, nothing is removed.
    assert_eq!(remove("").await.status(), 422);
    let res = remove("wrong password").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("not removed"));
    assert_eq!(
        latch::store::passkeys::count_for_user(&app.db, &user.id)
            .await
            .unwrap(),
        1
    );
    // Another account's id removes nothing.
    app.create_user("other@example.com", PASSWORD).await;
    let other = app.signed_in_browser("other@example.com").await;
    let other_csrf = settings_csrf(&app, &other).await;
    let res = other
        .post(app.url("/dashboard/settings/passkeys/remove"))
        .form(&[
            ("csrf", other_csrf.as_str()),
            ("passkey_id", id.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        latch::store::passkeys::count_for_user(&app.db, &user.id)
            .await
            .unwrap(),
        1
    );
    // With the password: removed, and it no longer signs in.
    let res = remove(PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        latch::store::passkeys::count_for_user(&app.db, &user.id)
            .await
            .unwrap(),
        0
    );
    assert!(
        audit_kinds(&app, EMAIL)
            .await
            .contains(&"passkey.removed".into())
    );
    let fresh = app.new_browser();
    let (csrf, options) = begin_signin(&app, &fresh, "/").await;
    let res = finish_signin(
        &app,
        &fresh,
        &csrf,
        "/",
        &auth.get(&options, rp_id(&app), &origin(&app)),
    )
    .await;
    assert_eq!(res.status(), 401);
}

// ---------------------------------------------------------------------------------------------
// With OAuth: amr, the second step, LATCH_REQUIRE_MFA

/// Authorize a first-party OpenID client in `browser` (signed in) and redeem the code: the
/// ID token's claims.
async fn id_token_claims(app: &TestApp, browser: &reqwest::Client, client: &TestClient) -> Value {
    let (verifier, challenge) = pkce_pair();
    let res = browser
        .get(app.authorize_url(&[
            ("client_id", client.id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .send()
        .await
        .unwrap();
    let loc = location(&res);
    assert!(loc.starts_with(&client.redirect_uri), "redirected to {loc}");
    let code = query_of(&loc).remove("code").expect("code");
    let t = json(app.redeem_code(client, &code, &verifier).await).await;
    jwt_claims(t["id_token"].as_str().expect("id_token"))
}

#[tokio::test]
async fn a_passkey_sign_in_is_multi_factor_and_skips_the_second_step() {
    // Arrange: an account with an authenticator app and a passkey.
    let app = app_on_localhost(|_| {}).await;
    let client = app
        .create_client(ClientSpec {
            first_party: true,
            ..Default::default()
        })
        .await;
    let mut auth = user_with_passkey(&app).await;
    let browser = app.signed_in_browser(EMAIL).await;
    enrol_totp(&app, &browser).await;
    // Act: an authorization request, sign-in with the passkey on its sign-in page.
    let fresh = app.new_browser();
    let (_, challenge) = pkce_pair();
    let res = fresh
        .get(app.authorize_url(&[
            ("client_id", client.id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", "openid"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]))
        .send()
        .await
        .unwrap();
    let next = query_of(&location(&res)).remove("next").expect("next");
    let (csrf, options) = begin_signin(&app, &fresh, &next).await;
    let res = finish_signin(
        &app,
        &fresh,
        &csrf,
        &next,
        &auth.get(&options, rp_id(&app), &origin(&app)),
    )
    .await;
    // Assert: straight back to the authorization request, no second step.
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["redirect"], next.as_str());
    assert_eq!(dashboard_status(&app, &fresh).await, 200);
    let claims = id_token_claims(&app, &fresh, &client).await;
    // RFC 8176: a device-bound key (not backup eligible), user presence, multi-factor.
    assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]));
    assert!(claims["auth_time"].as_i64().is_some());
}

#[tokio::test]
async fn require_mfa_is_met_by_a_passkey() {
    // Arrange: a passkey registered before LATCH_REQUIRE_MFA was turned on.
    let app = app_on_localhost(|_| {}).await;
    let mut auth = user_with_passkey(&app).await;
    let strict = spawn_sibling_with(&app, |s| s.require_mfa = true).await;
    // A password alone now leads to the authenticator set-up.
    let b = strict.new_browser();
    let login = strict.sign_in(&b, EMAIL, PASSWORD, "/dashboard").await;
    assert_eq!(location(&login), "/login/two-step/setup");
    // Act: a passkey instead.
    let browser = strict.new_browser();
    let (csrf, options) = begin_signin(&strict, &browser, "/dashboard").await;
    let res = finish_signin(
        &strict,
        &browser,
        &csrf,
        "/dashboard",
        &auth.get(&options, rp_id(&app), &origin(&app)),
    )
    .await;
    // Assert: signed in.
    assert_eq!(res.status(), 200);
    assert_eq!(dashboard_status(&strict, &browser).await, 200);
}

#[tokio::test]
async fn an_ip_address_issuer_offers_no_passkeys() {
    // Arrange: the default test issuer, http://127.0.0.1:port.
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    // Act
    let html = app.get("/login").await.text().await.unwrap();
    // Assert: no button; the endpoints say passkeys are unavailable.
    assert!(!html.contains("id=\"passkey-signin\""));
    let csrf = input_value(&html, "csrf").unwrap();
    let res = post_json(
        &app.http,
        &app.url("/login/passkey/begin"),
        &json!({"csrf": csrf}),
    )
    .await;
    assert_eq!(res.status(), 404);
    let browser = app.signed_in_browser(EMAIL).await;
    let html = browser
        .get(app.url("/dashboard/settings/security"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("served at an IP address"));
    // The script is served from this site.
    let js = app.get("/static/passkey.js").await;
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}

#[tokio::test]
async fn a_credential_is_registered_to_one_account_only() {
    // Arrange: the passkey is on the first account.
    let app = app_on_localhost(|_| {}).await;
    let mut auth = user_with_passkey(&app).await;
    app.create_user("second@example.com", PASSWORD).await;
    let browser = app.signed_in_browser("second@example.com").await;
    // Act: the same credential (same id) offered to a second account (WebAuthn §7.1 step 22).
    let res = register(&app, &browser, &mut auth, "Same key").await;
    // Assert
    assert_eq!(res.status(), 409);
    let second = latch::store::users::by_email(&app.db, "second@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        latch::store::passkeys::count_for_user(&app.db, &second.id)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn passkey_posts_from_another_site_are_refused() {
    // Arrange
    let app = app_on_localhost(|_| {}).await;
    let browser = app.new_browser();
    let html = browser
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    // Act: the right token, but the browser says the page was another site's.
    let res = browser
        .post(app.url("/login/passkey/begin"))
        .header("Origin", "https://evil.example")
        .json(&json!({"csrf": csrf}))
        .send()
        .await
        .unwrap();
    // Assert: JSON for the script, 403.
    assert_eq!(res.status(), 403);
    assert!(json(res).await["error"].is_string());
    // A body that is not JSON: a clear 400.
    let res = browser
        .post(app.url("/login/passkey/finish"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_with_its_passkey() {
    // Arrange
    let app = app_on_localhost(|_| {}).await;
    let mut auth = user_with_passkey(&app).await;
    let user = latch::store::users::by_email(&app.db, EMAIL)
        .await
        .unwrap()
        .unwrap();
    latch::store::users::set_disabled(&app.db, &user, true, app.clock.now())
        .await
        .unwrap();
    // Act
    let browser = app.new_browser();
    let (csrf, options) = begin_signin(&app, &browser, "/").await;
    let res = finish_signin(
        &app,
        &browser,
        &csrf,
        "/",
        &auth.get(&options, rp_id(&app), &origin(&app)),
    )
    .await;
    // Assert
    assert_eq!(res.status(), 401);
    assert_eq!(dashboard_status(&app, &browser).await, 303);
}
