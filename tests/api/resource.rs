//! Resource-server features: introspection (RFC 7662), revocation (RFC 7009), OpenID
//! Connect (ID token, UserInfo, discovery) and `/v1` bearer authentication (RFC 6750,
//! SECURITY.md 1d) against real Latch tokens.

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::json;

use crate::helpers::*;

/// A user-bound token set (access, refresh, and ID token when `openid` is asked for).
async fn user_tokens(
    app: &TestApp,
    c: &TestClient,
    email: &str,
    scope: &str,
    nonce: Option<&str>,
) -> serde_json::Value {
    let mut extra = vec![("scope", scope)];
    if let Some(n) = nonce {
        extra.push(("nonce", n));
    }
    let code = app.obtain_code(c, email, &extra).await;
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &c.redirect_uri),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    json(res).await
}

async fn introspect(app: &TestApp, caller: &TestClient, token: &str) -> serde_json::Value {
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&caller.id, caller.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    json(res).await
}

async fn revoke(app: &TestApp, caller: &TestClient, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&caller.id, caller.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn v1_me(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/v1/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn resource_server(app: &TestApp) -> TestClient {
    app.create_client(ClientSpec {
        resource_server: true,
        grant_types: vec!["client_credentials"],
        redirect_uris: vec![],
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn introspect_returns_claims_when_a_client_asks_about_its_own_access_token() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let token = client_credentials_token(&app, &c, "read").await;
    // Act
    let v = introspect(&app, &c, &token).await;
    // Assert
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], c.id.as_str());
    assert_eq!(v["sub"], c.id.as_str());
    assert_eq!(v["scope"], "read");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["livemode"], true);
    assert!(v["exp"].as_i64().unwrap() > v["iat"].as_i64().unwrap());
}

#[tokio::test]
async fn introspect_returns_only_active_false_when_the_token_is_foreign_garbage_or_unknown() {
    let app = spawn_app().await;
    let a = app.machine_client().await;
    let b = app.machine_client().await;
    let token = client_credentials_token(&app, &a, "read").await;
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    for t in [
        token.as_str(),
        "garbage",
        tampered.as_str(),
        "rt_nope",
        "sk_test_nope",
        "eyJhbGciOiJub25lIn0.e30.",
    ] {
        let v = introspect(&app, &b, t).await;
        assert_eq!(v, json!({"active": false}), "token {t:?}");
    }
}

#[tokio::test]
async fn introspect_shows_any_token_and_api_key_when_the_caller_is_a_resource_server() {
    let app = spawn_app().await;
    let rs = resource_server(&app).await;
    let c = app.machine_client().await;
    let token = client_credentials_token(&app, &c, "read").await;
    let user = app.create_user("kim@example.com", PASSWORD).await;
    let (_, key) = latch::api_keys::create(
        &app.db,
        &app.state.catalog.get(),
        latch::api_keys::NewKey {
            user_id: user.id.clone(),
            livemode: false,
            name: "k".into(),
            scopes: vec!["read".into()],
            policies: Default::default(),
        },
    )
    .await
    .unwrap();

    assert_eq!(introspect(&app, &rs, &token).await["active"], true);
    let k = introspect(&app, &rs, &key).await;
    assert_eq!(k["active"], true);
    assert_eq!(k["token_type"], "api_key");
    assert_eq!(k["sub"], user.id.as_str());
    assert_eq!(k["livemode"], false);
    assert_eq!(k["scope"], "read");
    // An ordinary client learns nothing about API keys.
    assert_eq!(introspect(&app, &c, &key).await, json!({"active": false}));
}

#[tokio::test]
async fn introspect_returns_401_when_the_caller_is_public_or_unauthenticated() {
    let app = spawn_app().await;
    let p = app.public_client().await;
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .form(&[("token", "x"), ("client_id", p.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("www-authenticate").is_some());
}

#[tokio::test]
async fn introspect_reports_refresh_tokens_until_they_rotate() {
    let app = spawn_app().await;
    app.create_user("ray@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let t = user_tokens(&app, &c, "ray@example.com", "read", None).await;
    let rt = t["refresh_token"].as_str().unwrap();
    let v = introspect(&app, &c, rt).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "refresh_token");
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(&app, &c, rt).await, json!({"active": false}));
}

#[tokio::test]
async fn revoke_makes_an_access_token_inactive_everywhere_when_its_client_revokes_it() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("sue@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let t = user_tokens(&app, &c, "sue@example.com", "read", None).await;
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(v1_me(&app, at).await.status(), 200);
    // Act
    let res = revoke(&app, &c, at).await;
    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(&app, &c, at).await, json!({"active": false}));
    let me = v1_me(&app, at).await;
    assert_eq!(me.status(), 401);
    assert!(
        me.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn revoke_of_a_refresh_token_kills_its_family_and_access_tokens() {
    let app = spawn_app().await;
    app.create_user("tom@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let t = user_tokens(&app, &c, "tom@example.com", "read", None).await;
    let rt1 = t["refresh_token"].as_str().unwrap();
    // Rotate once, so the family has two tokens and two access tokens.
    let t2 = json(
        app.post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", rt1)],
        )
        .await,
    )
    .await;
    let rt2 = t2["refresh_token"].as_str().unwrap();
    let at2 = t2["access_token"].as_str().unwrap();
    let at1 = t["access_token"].as_str().unwrap();

    assert_eq!(revoke(&app, &c, rt2).await.status(), 200);

    for at in [at1, at2] {
        assert_eq!(introspect(&app, &c, at).await, json!({"active": false}));
        assert_eq!(v1_me(&app, at).await.status(), 401);
    }
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "refresh_token"), ("refresh_token", rt2)],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(json(res).await["error"], "invalid_grant");
}

#[tokio::test]
async fn revoke_answers_200_and_changes_nothing_when_the_token_is_unknown_or_foreign() {
    let app = spawn_app().await;
    let a = app.machine_client().await;
    let b = app.machine_client().await;
    let token = client_credentials_token(&app, &a, "read").await;
    assert_eq!(revoke(&app, &b, &token).await.status(), 200);
    assert_eq!(
        introspect(&app, &a, &token).await["active"],
        true,
        "another client cannot revoke it"
    );
    assert_eq!(revoke(&app, &b, "no-such-token").await.status(), 200);
    assert_eq!(revoke(&app, &b, "rt_unknown").await.status(), 200);
    // Bad client credentials are still an error.
    let res = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&a.id, Some("cs_wrong"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn openid_scope_returns_an_id_token_a_relying_party_can_verify() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user("oid@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    // Act
    let t = user_tokens(
        &app,
        &c,
        "oid@example.com",
        "openid profile email",
        Some("n-0S6_WzA2Mj"),
    )
    .await;
    // Assert: verify as a relying party: JWKS key by kid, RS256, aud = client_id.
    let id_token = t["id_token"].as_str().expect("id_token");
    let jwks: JwkSet = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let key = DecodingKey::from_jwk(
        jwks.find(header.kid.as_deref().unwrap())
            .expect("kid published"),
    )
    .unwrap();
    let mut v = Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[&c.id]);
    v.set_issuer(&[&app.settings.issuer]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &v)
        .expect("ID token verifies")
        .claims;
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["email"], "oid@example.com");
    assert!(claims["auth_time"].as_i64().is_some());
    let at = t["access_token"].as_str().unwrap();
    use sha2::Digest;
    let digest = sha2::Sha256::digest(at.as_bytes());
    let expected = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &digest[..16],
    );
    assert_eq!(claims["at_hash"], expected.as_str());
}

#[tokio::test]
async fn userinfo_returns_claims_for_the_granted_scopes() {
    let app = spawn_app().await;
    let user = app.create_user("ui@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let t = user_tokens(&app, &c, "ui@example.com", "openid email", None).await;
    let at = t["access_token"].as_str().unwrap();

    let get = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let v = json(get).await;
    assert_eq!(v["sub"], user.id.as_str());
    assert_eq!(v["email"], "ui@example.com");
    assert!(v.get("name").is_none(), "profile was not granted");

    let post = app
        .http
        .post(app.url("/oauth/userinfo"))
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
}

#[tokio::test]
async fn userinfo_refuses_tokens_without_openid_and_bad_tokens_with_a_bearer_challenge() {
    let app = spawn_app().await;
    app.create_user("ux@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let t = user_tokens(&app, &c, "ux@example.com", "read", None).await;
    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let res = app
        .http
        .get(app.url("/oauth/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn openid_configuration_describes_the_provider() {
    let app = spawn_app().await;
    let v = json(app.get("/.well-known/openid-configuration").await).await;
    assert_eq!(v["issuer"], app.settings.issuer.as_str());
    assert_eq!(
        v["userinfo_endpoint"],
        format!("{}/oauth/userinfo", app.settings.issuer)
    );
    assert_eq!(v["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(v["response_types_supported"], json!(["code"]));
    assert!(
        v["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("openid"))
    );
    assert_eq!(
        v["introspection_endpoint"],
        format!("{}/oauth/introspect", app.settings.issuer)
    );
    assert_eq!(
        v["revocation_endpoint"],
        format!("{}/oauth/revoke", app.settings.issuer)
    );
}

// SECURITY.md 1d against /v1 ---------------------------------------------------------------

fn sign_with(app: &TestApp, header: serde_json::Value, claims: serde_json::Value) -> String {
    // Use the server's own current key, with a hand-made header or claims.
    let key = app.state.signer.current().expect("signing key");
    let real = key.sign_access(&claims).unwrap();
    let mut parts: Vec<String> = real.split('.').map(str::to_owned).collect();
    if !header.is_null() {
        parts[0] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            header.to_string(),
        );
    }
    parts.join(".")
}

/// Claims of a token for `sub`, issued to a real (machine) client of `app`: a token naming
/// a client that does not exist is inactive.
async fn claims_for(app: &TestApp, sub: &str, exp_offset: i64) -> serde_json::Value {
    let client = app.machine_client().await;
    let now = chrono::Utc::now().timestamp();
    json!({"iss": app.settings.issuer, "sub": sub, "aud": app.settings.audience, "exp": now + exp_offset, "iat": now - 10,
           "nbf": now - 10, "jti": format!("j{now}{exp_offset}"), "client_id": client.id, "scope": "read", "livemode": true})
}

async fn v1_error(app: &TestApp, token: &str) -> (u16, String, serde_json::Value) {
    let res = v1_me(app, token).await;
    let status = res.status().as_u16();
    let www = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, www, json(res).await)
}

#[tokio::test]
async fn v1_refuses_tampered_unsigned_and_malformed_tokens_with_invalid_token() {
    let app = spawn_app().await;
    let user = app.create_user("jj@example.com", PASSWORD).await;
    let good = sign_with(
        &app,
        serde_json::Value::Null,
        claims_for(&app, &user.id, 600).await,
    );
    assert_eq!(
        v1_me(&app, &good).await.status(),
        200,
        "the untampered token works"
    );

    let parts: Vec<&str> = good.split('.').collect();
    let b64 = |v: serde_json::Value| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v.to_string(),
        )
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"alg":"none","typ":"at+jwt"})),
        parts[1]
    );
    let mut flipped = parts[2].as_bytes().to_vec();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(flipped).unwrap()
    );
    let two = format!("{}.{}", parts[0], parts[1]);
    let trailing = format!("{good}.x");
    let kid = jsonwebtoken::decode_header(&good).unwrap().kid.unwrap();
    let wrong_typ = sign_with(
        &app,
        json!({"alg":"ES256","kid":kid,"typ":"JWT"}),
        claims_for(&app, &user.id, 600).await,
    );
    let unknown_kid = sign_with(
        &app,
        json!({"alg":"ES256","kid":"nope","typ":"at+jwt"}),
        claims_for(&app, &user.id, 600).await,
    );
    let mut wrong_iss = claims_for(&app, &user.id, 600).await;
    wrong_iss["iss"] = json!("https://evil.example");
    let wrong_iss = sign_with(&app, serde_json::Value::Null, wrong_iss);
    let mut wrong_aud = claims_for(&app, &user.id, 600).await;
    wrong_aud["aud"] = json!("https://other.example");
    let wrong_aud = sign_with(&app, serde_json::Value::Null, wrong_aud);
    let mut future = claims_for(&app, &user.id, 600).await;
    future["nbf"] = json!(chrono::Utc::now().timestamp() + 31 + 5);
    let future = sign_with(&app, serde_json::Value::Null, future);

    for (name, t) in [
        ("alg none", none),
        ("flipped signature bit", flipped),
        ("two segments", two),
        ("trailing garbage", trailing),
        ("typ JWT", wrong_typ),
        ("unknown kid", unknown_kid),
        ("wrong iss", wrong_iss),
        ("wrong aud", wrong_aud),
        ("nbf in the future", future),
    ] {
        let (status, www, body) = v1_error(&app, &t).await;
        assert_eq!(status, 401, "{name}");
        assert!(www.contains("error=\"invalid_token\""), "{name}: {www}");
        assert_eq!(body["error"]["code"], "invalid_token", "{name}");
        assert_eq!(body["error"]["type"], "authentication_error", "{name}");
    }
}

#[tokio::test]
async fn v1_answers_expired_token_beyond_the_leeway_and_accepts_within_it() {
    let app = spawn_app().await;
    let user = app.create_user("exp@example.com", PASSWORD).await;
    let leeway = latch::signing::LEEWAY_SECS as i64;
    let expired = sign_with(
        &app,
        serde_json::Value::Null,
        claims_for(&app, &user.id, -(leeway + 1)).await,
    );
    let (status, www, body) = v1_error(&app, &expired).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "expired_token");
    assert!(www.contains("invalid_token"));
    let within = sign_with(
        &app,
        serde_json::Value::Null,
        claims_for(&app, &user.id, -(leeway - 5)).await,
    );
    assert_eq!(v1_me(&app, &within).await.status(), 200);
}

#[tokio::test]
async fn v1_refuses_hs256_confusion_with_the_public_key() {
    // RFC 8725 §2.1: an HS256 token whose HMAC key is our public key must fail.
    let app = spawn_app().await;
    let user = app.create_user("conf@example.com", PASSWORD).await;
    let jwks = json(app.get("/.well-known/jwks.json").await).await;
    let jwk = &jwks["keys"][0];
    let kid = jwk["kid"].as_str().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.into());
    header.typ = Some("at+jwt".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims_for(&app, &user.id, 600).await,
        &jsonwebtoken::EncodingKey::from_secret(jwk.to_string().as_bytes()),
    )
    .unwrap();
    let (status, _, body) = v1_error(&app, &forged).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_token");
}

#[tokio::test]
async fn v1_returns_403_insufficient_scope_and_refuses_credentials_in_the_query() {
    let app = spawn_app().await;
    let user = app.create_user("sc@example.com", PASSWORD).await;
    let mut claims = claims_for(&app, &user.id, 600).await;
    claims["scope"] = json!("write");
    let t = sign_with(&app, serde_json::Value::Null, claims);
    let res = v1_me(&app, &t).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(json(res).await["error"]["code"], "insufficient_scope");

    let res = app.get(&format!("/v1/users/me?access_token={t}")).await;
    assert_eq!(res.status(), 400);
    let body = json(res).await;
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        !body.to_string().contains(&t),
        "the credential is never echoed"
    );
}

#[tokio::test]
async fn revocation_on_one_instance_is_seen_by_another_within_the_deny_list_sync() {
    // Arrange: two instances on one database; B has already verified (and cached) the token.
    let a = spawn_app().await;
    let b = spawn_sibling(&a).await;
    let c = a.machine_client().await;
    let token = client_credentials_token(&a, &c, "read").await;
    assert_eq!(introspect(&b, &c, &token).await["active"], true);
    // Act
    assert_eq!(revoke(&a, &c, &token).await.status(), 200);
    // Assert: at once on A; on B within the documented sync delay (1 s).
    assert_eq!(introspect(&a, &c, &token).await, json!({"active": false}));
    let started = std::time::Instant::now();
    while introspect(&b, &c, &token).await["active"] == true {
        assert!(
            started.elapsed()
                < latch::store::tokens::DENY_SYNC + std::time::Duration::from_millis(1500),
            "B still accepts it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tokens_of_a_deleted_client_are_inactive() {
    let app = spawn_app().await;
    let rs = resource_server(&app).await;
    let c = app.machine_client().await;
    let token = client_credentials_token(&app, &c, "read").await;
    assert_eq!(introspect(&app, &rs, &token).await["active"], true);
    // Through the domain function, as the dashboard and /v1 do: it drops this instance's
    // cached row (others see the deletion within the cache TTL).
    let row = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    latch::clients::delete(&app.db, &app.state.rows, &row)
        .await
        .unwrap();
    assert_eq!(
        introspect(&app, &rs, &token).await,
        json!({"active": false})
    );
}
