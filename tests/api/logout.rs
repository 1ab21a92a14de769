//! Logout for OpenID apps: RP-Initiated Logout 1.0 at `/oauth/logout` (hint, registered
//! post-logout redirect, state, the confirmation page, refusals) and Back-Channel Logout
//! 1.0 (a signed `logout_token` POSTed to each app that had the session, retried).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const BYE: &str = "https://app.example.com/signed-out";

/// A client of `app` with `openid` and these logout URIs registered.
async fn logout_client(
    app: &TestApp,
    name: &'static str,
    backchannel: Option<String>,
) -> (TestClient, entity::client::Model) {
    let c = app
        .create_client(ClientSpec {
            name,
            ..ClientSpec::default()
        })
        .await;
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    let row = latch::clients::logout::set_logout(
        &app.db,
        &app.state.rows,
        &row,
        &latch::clients::logout::LogoutChange {
            post_logout_redirect_uris: Some(vec![BYE.into()]),
            backchannel_logout_uri: backchannel,
            backchannel_logout_session_required: None,
        },
    )
    .await
    .expect("logout URIs set");
    (c, row)
}

/// Sign in (or reuse `browser`'s session), authorize `c` for `openid` and redeem the code:
/// the ID token.
async fn id_token_in(
    app: &TestApp,
    browser: &reqwest::Client,
    c: &TestClient,
    email: &str,
) -> String {
    let (verifier, challenge) = pkce_pair();
    let url = app.authorize_url(&[
        ("client_id", &c.id),
        ("response_type", "code"),
        ("redirect_uri", &c.redirect_uri),
        ("scope", "openid"),
        ("state", "s"),
        ("nonce", "n-1"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let res = app
        .authorize_in_browser(browser, &url, email, "allow")
        .await;
    assert_eq!(res.status(), 303, "authorize");
    let code = query_of(&location(&res)).remove("code").expect("code");
    let res = app.redeem_code(c, &code, &verifier).await;
    assert_eq!(res.status(), 200, "token");
    json(res).await["id_token"]
        .as_str()
        .expect("id_token")
        .to_owned()
}

/// Whether `browser` is still signed in: a new authorization goes to the sign-in page if not.
async fn signed_in(app: &TestApp, browser: &reqwest::Client, c: &TestClient) -> bool {
    let (_, challenge) = pkce_pair();
    let url = app.authorize_url(&[
        ("client_id", &c.id),
        ("response_type", "code"),
        ("redirect_uri", &c.redirect_uri),
        ("scope", "openid"),
        ("state", "s"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let res = browser.get(&url).send().await.unwrap();
    !(res.status() == 303 && location(&res).starts_with("/login"))
}

#[tokio::test]
async fn rp_initiated_logout_with_a_hint_ends_the_session_and_returns_with_state() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let (c, _) = logout_client(&app, "Logout App", None).await;
    let browser = app.new_browser();
    let id_token = id_token_in(&app, &browser, &c, "ann@example.com").await;
    let claims = jwt_claims(&id_token);
    let sid = claims["sid"]
        .as_str()
        .expect("sid in the ID token")
        .to_owned();
    assert!(sid.len() >= 22, "{sid}");
    assert!(signed_in(&app, &browser, &c).await);

    // Act
    let res = browser
        .get(app.url(&format!(
            "/oauth/logout?id_token_hint={}&post_logout_redirect_uri={}&state=xyz%201",
            urlencode(&id_token),
            urlencode(BYE)
        )))
        .send()
        .await
        .unwrap();

    // Assert: back to the registered URI with state; the session is gone.
    assert_eq!(res.status(), 303);
    let loc = location(&res);
    assert!(loc.starts_with(BYE), "{loc}");
    assert_eq!(
        query_of(&loc).get("state").map(String::as_str),
        Some("xyz 1")
    );
    assert!(
        !signed_in(&app, &browser, &c).await,
        "the session must have ended"
    );

    // The metadata advertises it.
    let meta = json(app.get("/.well-known/openid-configuration").await).await;
    assert_eq!(
        meta["end_session_endpoint"],
        format!("{}/oauth/logout", app.settings.issuer)
    );
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);
}

#[tokio::test]
async fn an_expired_hint_by_post_still_signs_out() {
    // Arrange: ID tokens live one second here (they share the access-token lifetime).
    let app = spawn_app_with(|s| s.access_token_ttl = chrono::TimeDelta::seconds(1)).await;
    app.create_user("ann@example.com", PASSWORD).await;
    let (c, _) = logout_client(&app, "Logout App", None).await;
    let browser = app.new_browser();
    let id_token = id_token_in(&app, &browser, &c, "ann@example.com").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let exp = jwt_claims(&id_token)["exp"].as_i64().unwrap();
    assert!(exp < chrono::Utc::now().timestamp(), "the hint has expired");

    // Act: a form POST (RP-Initiated Logout §2 allows both) with client_id, no redirect.
    let res = browser
        .post(app.url("/oauth/logout"))
        .form(&[("id_token_hint", id_token.as_str()), ("client_id", &c.id)])
        .send()
        .await
        .unwrap();

    // Assert: a "signed out" page, and signed out.
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("You are signed out"));
    assert!(!signed_in(&app, &browser, &c).await);
}

#[tokio::test]
async fn without_a_hint_the_person_confirms_first() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let (c, _) = logout_client(&app, "Logout App", None).await;
    let browser = app.new_browser();
    id_token_in(&app, &browser, &c, "ann@example.com").await;

    // Act: no hint → a confirmation page, and nothing ended yet.
    let res = browser
        .get(app.url(&format!(
            "/oauth/logout?client_id={}&post_logout_redirect_uri={}&state=abc",
            c.id,
            urlencode(BYE)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://app.example.com"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign out of"), "{html}");
    assert!(html.contains("Logout App"));
    assert!(signed_in(&app, &browser, &c).await, "not before confirming");
    let start = html.find("action=\"/oauth/logout/confirm\"").expect("form");
    let mut form = form_inputs(&html[start..]);

    // A forged confirmation (no CSRF token) is refused.
    let forged = browser
        .post(app.url("/oauth/logout/confirm"))
        .form(&[("decision", "sign_out")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(signed_in(&app, &browser, &c).await);

    form.push(("decision".into(), "sign_out".into()));
    let res = browser
        .post(app.url("/oauth/logout/confirm"))
        .form(&form)
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(res.status(), 303);
    let loc = location(&res);
    assert!(loc.starts_with(BYE), "{loc}");
    assert_eq!(query_of(&loc).get("state").map(String::as_str), Some("abc"));
    assert!(!signed_in(&app, &browser, &c).await);
}

#[tokio::test]
async fn a_hint_about_someone_else_asks_first() {
    // Arrange: Bob's ID token, Ann's browser.
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    app.create_user("bob@example.com", PASSWORD).await;
    let (c, _) = logout_client(&app, "Logout App", None).await;
    let bob_token = id_token_in(&app, &app.new_browser(), &c, "bob@example.com").await;
    let ann = app.new_browser();
    id_token_in(&app, &ann, &c, "ann@example.com").await;

    // Act
    let res = ann
        .get(app.url(&format!(
            "/oauth/logout?id_token_hint={}",
            urlencode(&bob_token)
        )))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Sign out of"));
    assert!(signed_in(&app, &ann, &c).await);
}

#[tokio::test]
async fn foreign_or_tampered_hints_and_unregistered_redirects_get_an_error_page() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let (c, _) = logout_client(&app, "Logout App", None).await;
    let (other, _) = logout_client(&app, "Other App", None).await;
    let browser = app.new_browser();
    let id_token = id_token_in(&app, &browser, &c, "ann@example.com").await;
    let claims = jwt_claims(&id_token);
    let header = jsonwebtoken::decode_header(&id_token).unwrap();

    // Signed by another key, with Latch's kid and issuer.
    let foreign_key = latch::signing::generate(latch::signing::SigningAlg::ES256).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = header.kid.clone();
    let foreign = jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&foreign_key.private_der),
    )
    .unwrap();
    // Latch's signature over other claims.
    let mut parts: Vec<&str> = id_token.split('.').collect();
    let mut evil = claims.clone();
    evil["sub"] = serde_json::json!("someone-else");
    let evil_payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(evil.to_string())
    };
    parts[1] = &evil_payload;
    let tampered = parts.join(".");

    let cases: Vec<(&str, String)> = vec![
        (
            "foreign hint",
            format!(
                "id_token_hint={}&post_logout_redirect_uri={}",
                urlencode(&foreign),
                urlencode(BYE)
            ),
        ),
        (
            "tampered hint",
            format!(
                "id_token_hint={}&post_logout_redirect_uri={}",
                urlencode(&tampered),
                urlencode(BYE)
            ),
        ),
        (
            "hint of another client",
            format!(
                "id_token_hint={}&client_id={}&post_logout_redirect_uri={}",
                urlencode(&id_token),
                other.id,
                urlencode(BYE)
            ),
        ),
        (
            "unregistered redirect",
            format!(
                "id_token_hint={}&post_logout_redirect_uri={}",
                urlencode(&id_token),
                urlencode("https://evil.example.com/")
            ),
        ),
        (
            "registered redirect plus a suffix",
            format!(
                "client_id={}&post_logout_redirect_uri={}",
                c.id,
                urlencode(&format!("{BYE}/x"))
            ),
        ),
        (
            "redirect without a client",
            format!("post_logout_redirect_uri={}", urlencode(BYE)),
        ),
        ("unknown client", "client_id=nope".to_owned()),
        ("repeated parameter", "state=a&state=b".to_owned()),
    ];

    for (case, query) in cases {
        // Act
        let res = browser
            .get(app.url(&format!("/oauth/logout?{query}")))
            .send()
            .await
            .unwrap();

        // Assert: an HTML error page, no redirect, still signed in.
        assert_error_page(&res, case);
        assert!(signed_in(&app, &browser, &c).await, "{case}");
    }
}

/// A tiny HTTP receiver: records each request body, answers 200.
async fn receiver(listener: tokio::net::TcpListener) -> Arc<Mutex<Vec<(String, String)>>> {
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let head = &text[..end];
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let path = head
                                .lines()
                                .next()
                                .unwrap_or_default()
                                .split(' ')
                                .nth(1)
                                .unwrap_or_default()
                                .to_owned();
                            let ct_ok = head
                                .to_ascii_lowercase()
                                .contains("content-type: application/x-www-form-urlencoded");
                            let body = text[end + 4..end + 4 + len].to_owned();
                            seen.lock().unwrap().push((
                                path,
                                if ct_ok {
                                    body
                                } else {
                                    format!("BAD CT {body}")
                                },
                            ));
                            let _ = sock
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    got
}

async fn wait_for(got: &Arc<Mutex<Vec<(String, String)>>>, n: usize, secs: u64) {
    for _ in 0..secs * 10 {
        if got.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "expected {n} back-channel logouts, got {:?}",
        got.lock().unwrap()
    );
}

/// Verify a logout token against Latch's JWKS, as an app does (Back-Channel Logout §2.6).
async fn verify_logout_token(app: &TestApp, token: &str, client_id: &str) -> serde_json::Value {
    let jwks: JwkSet = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid in JWKS");
    let key = DecodingKey::from_jwk(jwk).expect("key");
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[&app.settings.issuer]);
    v.set_audience(&[client_id]);
    v.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .expect("logout token verifies")
        .claims
}

#[tokio::test]
async fn backchannel_logout_tells_each_app_that_had_the_session_with_a_signed_token() {
    // Arrange: a receiver; app A signs in through this session, app B never does.
    let app = spawn_app().await;
    let user = app.create_user("ann@example.com", PASSWORD).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = receiver(listener).await;
    let (a, _) = logout_client(&app, "App A", Some(format!("http://127.0.0.1:{port}/a"))).await;
    let (_b, _) = logout_client(&app, "App B", Some(format!("http://127.0.0.1:{port}/b"))).await;
    let browser = app.new_browser();
    let id_token = id_token_in(&app, &browser, &a, "ann@example.com").await;
    let sid = jwt_claims(&id_token)["sid"].as_str().unwrap().to_owned();

    // Act: RP-initiated logout.
    let res = browser
        .get(app.url(&format!(
            "/oauth/logout?id_token_hint={}&post_logout_redirect_uri={}",
            urlencode(&id_token),
            urlencode(BYE)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // Assert: exactly one POST, to A, with a logout token for A about this session.
    wait_for(&got, 1, 10).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let posts = got.lock().unwrap().clone();
    assert_eq!(
        posts.len(),
        1,
        "only the app that had the session: {posts:?}"
    );
    let (path, body) = &posts[0];
    assert_eq!(path, "/a");
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    let token = form
        .get("logout_token")
        .expect("logout_token in the form body");
    let claims = verify_logout_token(&app, token, &a.id).await;
    assert_eq!(claims["iss"], app.settings.issuer);
    assert_eq!(claims["aud"], a.id);
    assert_eq!(claims["sub"], user.id);
    assert_eq!(claims["sid"], sid);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce");
    assert_eq!(
        claims["events"],
        serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((1..=120).contains(&ttl), "short-lived: {ttl}");
}

#[tokio::test]
async fn signing_out_and_a_password_reset_tell_the_app_too() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = receiver(listener).await;
    let (a, _) = logout_client(&app, "App A", Some(format!("http://127.0.0.1:{port}/a"))).await;
    let browser = app.new_browser();
    let first = id_token_in(&app, &browser, &a, "ann@example.com").await;

    // Act 1: the account's own sign-out form.
    let csrf = settings_csrf(&app, &browser).await;
    let res = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    wait_for(&got, 1, 10).await;

    // Act 2: a password change ends every session of the account.
    let second = id_token_in(&app, &browser, &a, "ann@example.com").await;
    assert_ne!(jwt_claims(&first)["sid"], jwt_claims(&second)["sid"]);
    let user = latch::store::users::by_email(&app.db, "ann@example.com")
        .await
        .unwrap()
        .unwrap();
    latch::users::reset_password(&app.db, &user, "another good passphrase 9", app.clock.now())
        .await
        .unwrap();

    // Assert: two logouts, one per session, each naming its own sid.
    wait_for(&got, 2, 10).await;
    let posts = got.lock().unwrap().clone();
    let sids: Vec<String> = posts
        .iter()
        .map(|(_, body)| {
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
            jwt_claims(&form["logout_token"])["sid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        sids,
        vec![
            jwt_claims(&first)["sid"].as_str().unwrap().to_owned(),
            jwt_claims(&second)["sid"].as_str().unwrap().to_owned()
        ]
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_logout_after_a_retry() {
    // Arrange: a port with nothing listening yet.
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (a, _) = logout_client(&app, "App A", Some(format!("http://127.0.0.1:{port}/a"))).await;
    let browser = app.new_browser();
    let id_token = id_token_in(&app, &browser, &a, "ann@example.com").await;

    // Act: sign out while the receiver is down.
    let res = browser
        .get(app.url(&format!(
            "/oauth/logout?id_token_hint={}",
            urlencode(&id_token)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The first attempt fails and is recorded.
    let mut failed = false;
    for _ in 0..100 {
        use sea_orm::EntityTrait;
        let rows = entity::backchannel_logout::Entity::find()
            .all(&app.db)
            .await
            .unwrap();
        if rows
            .iter()
            .any(|r| r.attempts >= 1 && r.last_error.is_some())
        {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        failed,
        "the first attempt should have failed and been recorded"
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let got = receiver(listener).await;

    // Assert: delivered by a retry, and the row is gone.
    wait_for(&got, 1, 20).await;
    let (_, body) = got.lock().unwrap()[0].clone();
    assert!(body.starts_with("logout_token="), "{body}");
    for _ in 0..50 {
        use sea_orm::{EntityTrait, PaginatorTrait};
        if entity::backchannel_logout::Entity::find()
            .count(&app.db)
            .await
            .unwrap()
            == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("a delivered logout must leave the outbox");
}

#[tokio::test]
async fn v1_clients_set_validate_and_show_logout_uris() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user("owner@example.com", PASSWORD).await;
    let (_, key) = key_for(&app, &user.id, true, &["read", "write"]).await;

    // Act
    let res = bearer_post(
        &app,
        &key,
        "/v1/clients",
        &[
            ("name", "Logout App"),
            ("redirect_uris[]", "https://app.example.com/cb"),
            ("post_logout_redirect_uris[]", BYE),
            ("backchannel_logout_uri", "https://app.example.com/bc"),
        ],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 200);
    let c = json(res).await;
    assert_eq!(c["post_logout_redirect_uris"], serde_json::json!([BYE]));
    assert_eq!(c["backchannel_logout_uri"], "https://app.example.com/bc");
    let id = c["id"].as_str().unwrap().to_owned();

    for (param, bad) in [
        ("post_logout_redirect_uris[]", "javascript:alert(1)"),
        ("post_logout_redirect_uris[]", "http://app.example.com/bye"),
        ("backchannel_logout_uri", "https://app.example.com/bc#frag"),
        ("backchannel_logout_uri", "http://app.example.com/bc"),
    ] {
        let res = bearer_post(&app, &key, &format!("/v1/clients/{id}"), &[(param, bad)]).await;
        assert_eq!(res.status(), 400, "{param}={bad}");
        let body = json(res).await;
        assert_eq!(
            body["error"]["param"],
            param.trim_end_matches("[]"),
            "{param}={bad}"
        );
    }
    let res = bearer_post(
        &app,
        &key,
        &format!("/v1/clients/{id}"),
        &[("backchannel_logout_uri", "")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(res).await["backchannel_logout_uri"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn the_dashboard_app_page_shows_and_edits_logout_uris() {
    // Arrange: Ann's own app.
    let app = spawn_app().await;
    let ann = app.create_user("ann@example.com", PASSWORD).await;
    let (c, _) = latch::clients::create(
        &app.db,
        &app.state.catalog.get(),
        &app.state.logos,
        latch::clients::NewClient {
            name: "Ann's app".into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            public: false,
            grant_types: vec!["authorization_code".into()],
            scopes: vec!["read".into()],
            livemode: true,
            first_party: false,
            resource_server: false,
            owner_id: Some(ann.id.clone()),
            metadata: Default::default(),
            allowed_origins: None,
        },
    )
    .await
    .expect("client");
    let browser = app.signed_in_browser("ann@example.com").await;
    let path = format!("/dashboard/apps/{}", c.id);
    let html = browser
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("name=\"post_logout_redirect_uris\""),
        "{html}"
    );
    assert!(html.contains("name=\"backchannel_logout_uri\""));
    assert!(html.contains("<label for=\"post_logout_redirect_uris\">"));
    let csrf = input_value(&html, "csrf").expect("csrf");
    let save = |post: &'static str, back: &'static str| {
        let (browser, csrf, path) = (&browser, csrf.clone(), path.clone());
        let app = &app;
        async move {
            browser
                .post(app.url(&path))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("name", "Ann's app"),
                    ("redirect_uris", "https://app.example.com/cb"),
                    ("post_logout_redirect_uris", post),
                    ("backchannel_logout_uri", back),
                ])
                .send()
                .await
                .unwrap()
        }
    };

    // Act: an invalid URI is explained, nothing changes.
    let res = save("javascript:alert(1)", "").await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("ost-logout redirect URI")
    );
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.post_logout_redirect_uris, "");

    // Act: valid ones are saved and shown.
    let res = save(
        "https://app.example.com/bye\r\nhttp://localhost:3000/bye",
        "https://app.example.com/bc",
    )
    .await;
    assert_eq!(res.status(), 303);
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.post_logout_redirect_uris,
        "https://app.example.com/bye http://localhost:3000/bye"
    );
    assert_eq!(
        row.backchannel_logout_uri.as_deref(),
        Some("https://app.example.com/bc")
    );
    let html = browser
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("value=\"https://app.example.com/bc\""),
        "{html}"
    );
}

#[tokio::test]
async fn a_post_without_the_session_cookie_goes_on_as_a_get() {
    // Arrange: a cross-site form POST carries no SameSite=Lax cookie; a cookie-less client
    // stands for it, then the signed-in browser follows the redirect.
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let (c, _) = logout_client(&app, "Logout App", None).await;
    let browser = app.new_browser();
    let id_token = id_token_in(&app, &browser, &c, "ann@example.com").await;
    let no_cookies = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Act
    let res = no_cookies
        .post(app.url("/oauth/logout"))
        .form(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", BYE),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();

    // Assert: on to the GET, which (with the cookie) ends the session and returns.
    assert_eq!(res.status(), 303);
    let next = location(&res);
    assert!(next.starts_with("/oauth/logout?"), "{next}");
    let res = browser.get(app.url(&next)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let loc = location(&res);
    assert!(loc.starts_with(BYE), "{loc}");
    assert_eq!(query_of(&loc).get("state").map(String::as_str), Some("s1"));
    assert!(!signed_in(&app, &browser, &c).await);
}

#[tokio::test]
async fn ending_a_session_from_settings_tells_the_app() {
    // Arrange: two browsers; the app signs in through the first.
    let app = spawn_app().await;
    app.create_user("ann@example.com", PASSWORD).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = receiver(listener).await;
    let (a, _) = logout_client(&app, "App A", Some(format!("http://127.0.0.1:{port}/a"))).await;
    let phone = app.new_browser();
    let id_token = id_token_in(&app, &phone, &a, "ann@example.com").await;
    let laptop = app.signed_in_browser("ann@example.com").await;

    // Act: from the laptop, "Sign out other sessions".
    let csrf = settings_csrf(&app, &laptop).await;
    let res = laptop
        .post(app.url("/dashboard/settings/sessions/end-others"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // Assert: the app is told about the phone's session.
    wait_for(&got, 1, 10).await;
    let (_, body) = got.lock().unwrap()[0].clone();
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        jwt_claims(&form["logout_token"])["sid"],
        jwt_claims(&id_token)["sid"]
    );
}
