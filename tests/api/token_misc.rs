//! `POST /oauth/token` outside the code and refresh grants: client authentication (T8,
//! T10), wire hygiene (T7, form-only bodies, repeated parameters), grant types (T12),
//! client credentials (T13, T14) and the access-token claims (J8).

use std::collections::HashSet;

use crate::helpers::*;
use crate::oauth_flow::verify_with_jwks;

const EMAIL: &str = "ann@example.com";

/// Every byte as `%XX`: a legal (if unusual) `application/x-www-form-urlencoded` encoding.
fn percent_encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// `Authorization: Basic` over raw `id:secret` (already encoded as the caller wants).
async fn post_with_basic_raw(app: &TestApp, raw: &str, form: &[(&str, &str)]) -> reqwest::Response {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    app.http
        .post(app.url("/oauth/token"))
        .header("authorization", format!("Basic {b64}"))
        .form(form)
        .send()
        .await
        .expect("request")
}

/// One request per error the token endpoint can give, plus its expected status and code.
async fn error_cases(app: &TestApp) -> Vec<(&'static str, reqwest::Response, u16, &'static str)> {
    let c = app.confidential_client().await;
    let machine = app.machine_client().await;
    let public = app.public_client().await;
    let wrong = latch::crypto::mint_secret("cs_");
    let cc = [("grant_type", "client_credentials")];
    vec![
        (
            "missing grant_type",
            app.post_token_basic(&c.id, c.secret(), &[("scope", "read")])
                .await,
            400,
            "invalid_request",
        ),
        (
            "wrong secret (basic)",
            app.post_token_basic(&c.id, &wrong, &cc).await,
            401,
            "invalid_client",
        ),
        (
            "wrong secret (post)",
            app.post_token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &c.id),
                ("client_secret", &wrong),
            ])
            .await,
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            app.post_token_basic("cl_doesnotexist", &wrong, &cc).await,
            401,
            "invalid_client",
        ),
        (
            "unknown code",
            app.post_token_basic(
                &c.id,
                c.secret(),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &latch::crypto::mint_secret("ac_")),
                ],
            )
            .await,
            400,
            "invalid_grant",
        ),
        (
            "password grant",
            app.post_token_basic(
                &c.id,
                c.secret(),
                &[
                    ("grant_type", "password"),
                    ("username", EMAIL),
                    ("password", PASSWORD),
                ],
            )
            .await,
            400,
            "unsupported_grant_type",
        ),
        (
            "scope beyond the client's",
            app.post_token_basic(
                &machine.id,
                machine.secret(),
                &[("grant_type", "client_credentials"), ("scope", "admin")],
            )
            .await,
            400,
            "invalid_scope",
        ),
        (
            "grant not registered for the client",
            app.post_token_basic(
                &machine.id,
                machine.secret(),
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &latch::crypto::mint_secret("rt_")),
                ],
            )
            .await,
            400,
            "unauthorized_client",
        ),
        (
            "public client using client_credentials",
            app.post_token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &public.id),
            ])
            .await,
            400,
            "unauthorized_client",
        ),
        (
            "JSON body",
            app.http
                .post(app.url("/oauth/token"))
                .basic_auth(&c.id, Some(c.secret()))
                .json(&serde_json::json!({"grant_type": "client_credentials"}))
                .send()
                .await
                .expect("request"),
            400,
            "invalid_request",
        ),
        (
            "GET",
            app.http
                .get(app.url("/oauth/token?grant_type=client_credentials"))
                .send()
                .await
                .expect("request"),
            400,
            "invalid_request",
        ),
    ]
}

#[tokio::test]
async fn token_responses_are_json_and_no_store_on_success_and_every_error() {
    // Arrange
    let app = spawn_app().await;
    let machine = app.machine_client().await;

    // Act
    let ok = app
        .post_token_basic(
            &machine.id,
            machine.secret(),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let errors = error_cases(&app).await;

    // Assert (RFC 6749 §5.1, §5.2): Content-Type JSON, Cache-Control no-store, Pragma no-cache.
    assert_eq!(ok.status(), 200);
    assert_token_headers(&ok);
    for (what, res, _, _) in errors {
        eprintln!("case: {what}");
        assert_token_headers(&res);
    }
}

#[tokio::test]
async fn token_invalid_client_is_401_and_every_other_error_exactly_400() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let errors = error_cases(&app).await;

    // Assert (RFC 6749 §5.2; CS CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError)
    for (what, res, status, code) in errors {
        eprintln!("case: {what}");
        let body = expect_oauth_error(res, status, code).await;
        assert!(body["error_description"].is_string(), "{what}: {body}");
    }
}

#[tokio::test]
async fn token_401_with_basic_challenge_when_basic_secret_is_wrong() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;

    // Act
    let res = app
        .post_token_basic(
            &c.id,
            &latch::crypto::mint_secret("cs_"),
            &[("grant_type", "client_credentials")],
        )
        .await;

    // Assert
    let challenge = res
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    assert!(challenge.contains("realm="), "{challenge}");
    expect_oauth_error(res, 401, "invalid_client").await;
}

#[tokio::test]
async fn token_401_invalid_client_when_post_secret_is_wrong_or_garbage() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let minted = latch::crypto::mint_secret("cs_");
    let truncated = &c.secret()[..c.secret().len() - 1];

    for secret in [minted.as_str(), truncated, "x", "\0"] {
        // Act
        let res = app
            .post_token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &c.id),
                ("client_secret", secret),
            ])
            .await;

        // Assert
        expect_oauth_error(res, 401, "invalid_client").await;
    }
}

#[tokio::test]
async fn token_401_invalid_client_when_confidential_client_sends_no_secret() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;

    // Act
    let res = app
        .post_token(&[("grant_type", "client_credentials"), ("client_id", &c.id)])
        .await;

    // Assert
    expect_oauth_error(res, 401, "invalid_client").await;
}

#[tokio::test]
async fn token_success_when_basic_credentials_are_form_urlencoded() {
    // Arrange: RFC 6749 §2.3.1 + Appendix B: id and secret are form-urlencoded before
    // Base64. Our ids and secrets are base62 + `_`, so percent-encode every byte instead.
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let raw = format!(
        "{}:{}",
        percent_encode_all(&c.id),
        percent_encode_all(c.secret())
    );

    // Act
    let res = post_with_basic_raw(&app, &raw, &[("grant_type", "client_credentials")]).await;

    // Assert
    assert_token_headers(&res);
    assert_eq!(res.status(), 200);
    assert_eq!(
        jwt_claims(json(res).await["access_token"].as_str().unwrap())["sub"],
        c.id
    );
}

#[tokio::test]
async fn token_success_when_body_client_id_matches_urlencoded_basic_id() {
    // Arrange: the body's client_id is compared with the Basic id after decoding.
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let raw = format!("{}:{}", percent_encode_all(&c.id), c.secret());

    // Act
    let res = post_with_basic_raw(
        &app,
        &raw,
        &[("grant_type", "client_credentials"), ("client_id", &c.id)],
    )
    .await;

    // Assert
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn token_401_when_basic_credentials_are_decoded_more_than_once() {
    // Arrange: `%2541` decodes once to the text `%41`, not to `A`. Decoding twice would let
    // a doubly encoded secret through.
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let double = percent_encode_all(c.secret()).replace('%', "%25");
    let raw = format!("{}:{double}", c.id);

    // Act
    let res = post_with_basic_raw(&app, &raw, &[("grant_type", "client_credentials")]).await;

    // Assert
    expect_oauth_error(res, 401, "invalid_client").await;
}

#[tokio::test]
async fn token_401_when_basic_secret_has_extra_encoded_characters() {
    // Arrange: a correct secret followed by an encoded `&`, `:`, `+` or `%` is another secret.
    let app = spawn_app().await;
    let c = app.machine_client().await;

    for suffix in ["%26", "%3A", "%2B", "%25", "+", "&x=y"] {
        let raw = format!("{}:{}{suffix}", c.id, c.secret());

        // Act
        let res = post_with_basic_raw(&app, &raw, &[("grant_type", "client_credentials")]).await;

        // Assert
        expect_oauth_error(res, 401, "invalid_client").await;
    }
}

#[tokio::test]
async fn token_401_or_400_never_500_when_basic_header_is_malformed() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let cases = [
        "Basic".to_owned(),
        "Basic !!!not-base64!!!".to_owned(),
        "Basic bm9jb2xvbg==".to_owned(), // "nocolon"
        "Basic /w==".to_owned(),         // a lone 0xFF byte: not UTF-8
        format!("Basic {}", "A".repeat(8 * 1024)),
    ];

    for header in cases {
        // Act
        let res = app
            .http
            .post(app.url("/oauth/token"))
            .header("authorization", &header)
            .form(&[("grant_type", "client_credentials"), ("client_id", &c.id)])
            .send()
            .await
            .expect("request");

        // Assert
        assert_token_headers(&res);
        let status = res.status().as_u16();
        let body = json(res).await;
        assert!(
            (status == 401 && body["error"] == "invalid_client")
                || (status == 400 && body["error"] == "invalid_request"),
            "{header:.40}: {status} {body}"
        );
    }
}

#[tokio::test]
async fn token_invalid_request_when_basic_and_post_secret_are_both_sent() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;

    // Act
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.id),
                ("client_secret", c.secret()),
            ],
        )
        .await;

    // Assert (RFC 6749 §2.3: one authentication method per request)
    expect_oauth_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn token_401_invalid_client_when_body_client_id_differs_from_basic() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let other = app.machine_client().await;

    // Act
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &other.id),
            ],
        )
        .await;

    // Assert (FAPI2 ensure-client-id-in-token-endpoint)
    expect_oauth_error(res, 401, "invalid_client").await;
}

#[tokio::test]
async fn token_invalid_request_when_body_is_json() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;

    // Act
    let res = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, Some(c.secret()))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("request");

    // Assert (RFC 6749 §3.2: application/x-www-form-urlencoded)
    expect_oauth_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn token_invalid_request_when_parameter_is_repeated() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;

    for form in [
        vec![
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("scope", "write"),
        ],
    ] {
        // Act
        let res = app.post_token_basic(&c.id, c.secret(), &form).await;

        // Assert (RFC 6749 §3.2: parameters MUST NOT be included more than once)
        expect_oauth_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn token_400_json_not_404_or_405_when_method_is_get() {
    // Arrange
    let app = spawn_app().await;

    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        // Act
        let res = app
            .http
            .request(method.clone(), app.url("/oauth/token"))
            .send()
            .await
            .expect("request");

        // Assert
        eprintln!("method {method}");
        expect_oauth_error(res, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn token_invalid_request_when_credentials_are_in_the_query_string() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;

    // Act
    let res = app
        .http
        .post(app.url(&format!(
            "/oauth/token?client_id={}&client_secret={}",
            c.id,
            c.secret()
        )))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");

    // Assert
    expect_oauth_error(res, 400, "invalid_request").await;
}

#[tokio::test]
async fn token_4xx_never_500_when_body_is_1_mb() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;
    let big = "a".repeat(1024 * 1024);

    // Act
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "client_credentials"), ("padding", &big)],
        )
        .await;

    // Assert
    let status = res.status();
    assert!(status.is_client_error(), "{status}");
    assert_token_headers(&res);
}

#[tokio::test]
async fn token_unsupported_grant_type_when_grant_is_password_implicit_or_unknown() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;

    for grant in [
        "password",
        "implicit",
        "token",
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
        "urn:example:unknown",
        "CLIENT_CREDENTIALS",
    ] {
        // Act
        let res = app
            .post_token_basic(
                &c.id,
                c.secret(),
                &[
                    ("grant_type", grant),
                    ("username", EMAIL),
                    ("password", PASSWORD),
                ],
            )
            .await;

        // Assert (RFC 9700 §2.4: no resource owner password credentials grant)
        eprintln!("grant {grant}");
        expect_oauth_error(res, 400, "unsupported_grant_type").await;
    }
}

#[tokio::test]
async fn token_unauthorized_client_when_public_client_uses_client_credentials() {
    // Arrange
    let app = spawn_app().await;
    let c = app.public_client().await;

    // Act
    let res = app
        .post_token(&[("grant_type", "client_credentials"), ("client_id", &c.id)])
        .await;

    // Assert (OAuth 2.1 §4.2: confidential clients only)
    assert_token_headers(&res);
    let status = res.status().as_u16();
    let body = json(res).await;
    assert!(
        (status == 400 && body["error"] == "unauthorized_client")
            || (status == 401 && body["error"] == "invalid_client"),
        "{status} {body}"
    );
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn token_unauthorized_client_when_grant_is_not_registered_for_the_client() {
    // Arrange: a client registered for authorization_code + refresh_token only.
    let app = spawn_app().await;
    let c = app
        .create_client(ClientSpec {
            grant_types: vec!["authorization_code", "refresh_token"],
            ..ClientSpec::default()
        })
        .await;

    // Act
    let res = app
        .post_token_basic(&c.id, c.secret(), &[("grant_type", "client_credentials")])
        .await;

    // Assert
    expect_oauth_error(res, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn token_invalid_scope_when_client_credentials_scope_exceeds_allowed() {
    // Arrange: a machine client allowed `read` only.
    let app = spawn_app().await;
    let c = app
        .create_client(ClientSpec {
            grant_types: vec!["client_credentials"],
            redirect_uris: vec![],
            scopes: vec!["read"],
            ..ClientSpec::default()
        })
        .await;

    // `openid`/`profile` need a user; `admin` does not exist.
    for scope in ["write", "read write", "openid", "profile", "admin"] {
        // Act
        let res = app
            .post_token_basic(
                &c.id,
                c.secret(),
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .await;

        // Assert
        eprintln!("scope {scope}");
        expect_oauth_error(res, 400, "invalid_scope").await;
    }
}

#[tokio::test]
async fn token_no_refresh_token_when_grant_is_client_credentials() {
    // Arrange: even a client that may also use refresh_token gets none here.
    let app = spawn_app().await;
    let c = app.confidential_client().await;

    // Act
    let res = app
        .post_token_basic(
            &c.id,
            c.secret(),
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;

    // Assert (RFC 6749 §4.4.3)
    assert_token_headers(&res);
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read");
    assert!(body["expires_in"].as_i64().is_some_and(|e| e > 0));
}

#[tokio::test]
async fn token_unique_jtis_when_200_client_credentials_tokens_are_issued() {
    // Arrange
    let app = spawn_app().await;
    let c = app.machine_client().await;

    // Act
    let mut jtis = HashSet::new();
    let mut tokens = HashSet::new();
    for _ in 0..200 {
        let res = app
            .post_token_basic(&c.id, c.secret(), &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(res.status(), 200);
        let at = json(res).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let jti = jwt_claims(&at)["jti"].as_str().expect("jti").to_owned();
        // ≥128 bits: at least 22 base62 characters (22 × log2 62 ≈ 131).
        assert!(jti.len() >= 22, "{jti}");
        jtis.insert(jti);
        tokens.insert(at);
    }

    // Assert (RFC 6749 §10.10)
    assert_eq!(jtis.len(), 200);
    assert_eq!(tokens.len(), 200);
}

#[tokio::test]
async fn token_access_token_has_rfc9068_claims_when_issued_by_code_flow() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let c = app.confidential_client().await;
    let (verifier, challenge) = pkce_pair();
    let code = app
        .obtain_code(
            &c,
            EMAIL,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;

    // Act
    let res = app.redeem_code(&c, &code, &verifier).await;

    // Assert (RFC 9068 §2.2; SECURITY.md J8)
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    let claims = verify_with_jwks(&app, body["access_token"].as_str().unwrap()).await;
    for k in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        assert!(claims.get(k).is_some(), "claim {k} missing: {claims}");
    }
    assert_eq!(claims["iss"], app.settings.issuer.as_str());
    assert_eq!(claims["aud"], app.settings.audience.as_str());
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["client_id"], c.id.as_str());
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, app.settings.access_token_ttl.num_seconds());
    assert_eq!(body["expires_in"], exp - iat);
}

#[tokio::test]
async fn token_client_credentials_sub_never_equals_a_user_id() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let c = app.machine_client().await;

    // Act
    let res = app
        .post_token_basic(&c.id, c.secret(), &[("grant_type", "client_credentials")])
        .await;

    // Assert (RFC 9068 §2.2, RFC 9700 §4.15): separate namespaces by prefix.
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    let claims = verify_with_jwks(&app, body["access_token"].as_str().unwrap()).await;
    for k in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        assert!(claims.get(k).is_some(), "claim {k} missing: {claims}");
    }
    let sub = claims["sub"].as_str().unwrap();
    assert_ne!(sub, user.id);
    assert!(sub.starts_with("cl_"), "{sub}");
    assert!(user.id.starts_with("user_"), "{}", user.id);
    assert_eq!(claims["client_id"], c.id.as_str());
}
