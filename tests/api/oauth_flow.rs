//! The whole authorization-code flow driven by the `oauth2` crate as a third-party client,
//! through the real sign-in and consent forms, then verified as a resource server would.

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    RefreshToken, Scope, TokenResponse, TokenUrl,
};

use crate::helpers::*;

/// Verify an access token from the published JWKS, as a resource server does.
pub async fn verify_with_jwks(app: &TestApp, token: &str) -> serde_json::Value {
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
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid in JWKS");
    let key = DecodingKey::from_jwk(jwk).expect("key");
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[&app.settings.issuer]);
    v.set_audience(&[&app.settings.audience]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .expect("token verifies")
        .claims
}

#[tokio::test]
async fn confidential_client_completes_code_flow_and_refreshes() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user("ann@example.com", PASSWORD).await;
    let c = app.confidential_client().await;
    let client = BasicClient::new(ClientId::new(c.id.clone()))
        .set_client_secret(ClientSecret::new(c.secret().to_owned()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(c.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf_state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();

    // Act: sign in and consent in a browser.
    let browser = app.new_browser();
    let res = app
        .authorize_in_browser(&browser, auth_url.as_str(), "ann@example.com", "allow")
        .await;

    // Assert: redirected back with code, state and iss (RFC 9207).
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let loc = location(&res);
    assert!(loc.starts_with(&c.redirect_uri), "{loc}");
    let q = query_of(&loc);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(csrf_state.secret().as_str())
    );
    assert_eq!(q.get("iss"), Some(&app.settings.issuer));
    let code = q.get("code").expect("code").clone();

    // Act: exchange the code with the oauth2 crate (client_secret_basic).
    let http = oauth_http();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");

    // Assert: a JWT the JWKS verifies, with RFC 9068 claims.
    let claims = verify_with_jwks(&app, tokens.access_token().secret()).await;
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["client_id"], c.id.as_str());
    assert_eq!(claims["scope"], "read write");
    assert_eq!(claims["iss"], app.settings.issuer.as_str());
    for k in ["exp", "iat", "nbf", "jti", "aud", "livemode"] {
        assert!(claims.get(k).is_some(), "claim {k} missing");
    }
    let rt = tokens.refresh_token().expect("refresh token").clone();
    assert!(rt.secret().starts_with("rt_"));

    // Act: refresh, narrowing the scope.
    let refreshed = client
        .exchange_refresh_token(&rt)
        .add_scope(Scope::new("read".into()))
        .request_async(&http)
        .await
        .expect("refresh");
    let claims2 = verify_with_jwks(&app, refreshed.access_token().secret()).await;
    assert_eq!(claims2["scope"], "read");
    let rt2 = refreshed.refresh_token().expect("rotated refresh token");
    assert_ne!(
        rt2.secret(),
        rt.secret(),
        "refresh tokens rotate on every use"
    );

    // And the next refresh from the new token works (family continues).
    client
        .exchange_refresh_token(&RefreshToken::new(rt2.secret().clone()))
        .request_async(&http)
        .await
        .expect("second refresh");
}

#[tokio::test]
async fn public_client_with_pkce_completes_code_flow() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("bob@example.com", PASSWORD).await;
    let c = app.public_client().await;
    let client = BasicClient::new(ClientId::new(c.id.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(c.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();

    // Act
    let browser = app.new_browser();
    let res = app
        .authorize_in_browser(&browser, auth_url.as_str(), "bob@example.com", "allow")
        .await;
    let code = query_of(&location(&res)).get("code").expect("code").clone();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&oauth_http())
        .await
        .expect("exchange");

    // Assert
    let claims = verify_with_jwks(&app, tokens.access_token().secret()).await;
    assert_eq!(claims["client_id"], c.id.as_str());
    assert!(tokens.refresh_token().is_some());
}

#[tokio::test]
async fn client_credentials_issues_a_jwt_without_refresh_token() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let client = BasicClient::new(ClientId::new(c.id.clone()))
        .set_client_secret(ClientSecret::new(c.secret().to_owned()))
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap());
    // Act
    let tokens = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request_async(&oauth_http())
        .await
        .expect("token");
    // Assert
    assert!(
        tokens.refresh_token().is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    let claims = verify_with_jwks(&app, tokens.access_token().secret()).await;
    assert_eq!(claims["sub"], c.id.as_str());
    assert!(
        claims["sub"].as_str().unwrap().starts_with("cl_"),
        "client subjects never collide with user ids"
    );
    assert_eq!(claims["scope"], "read");
}
