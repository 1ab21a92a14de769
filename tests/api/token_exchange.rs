//! Token exchange (RFC 8693): a gateway trades a user's access token for a narrower one to
//! the Billing API, with `act` saying who acts for whom; scopes never widen; the client's
//! policy names the audiences; revoking the subject revokes what was exchanged from it.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::*;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const API_KEY: &str = "urn:latch:params:oauth:token-type:api_key";
const BILLING: &str = "https://billing.example.com";
const LEDGER: &str = "https://ledger.example.com";
const EMAIL: &str = "payer@example.com";

struct World {
    app: TestApp,
    user_id: String,
    /// The app the user signed in to (its tokens are the subjects).
    front: TestClient,
    /// A gateway allowed to exchange into the Billing API only.
    gateway: TestClient,
    /// A resource server that introspects.
    rs: TestClient,
}

/// A client with the token-exchange grant (and client_credentials) whose policy is
/// `audiences`; a resource server when `rs`.
async fn exchanger(app: &TestApp, audiences: &[&str], rs: bool) -> TestClient {
    let c = app
        .create_client(ClientSpec {
            name: "Gateway",
            redirect_uris: vec![],
            grant_types: vec![GRANT, "client_credentials"],
            scopes: vec!["read"],
            resource_server: rs,
            ..ClientSpec::default()
        })
        .await;
    let m = latch::store::clients::by_id(&app.db, &c.id)
        .await
        .unwrap()
        .unwrap();
    let audiences: Vec<String> = audiences.iter().map(|s| s.to_string()).collect();
    latch::clients::set_exchange_audiences(
        &app.db,
        &app.state.catalog.get(),
        &app.state.rows,
        &m,
        &audiences,
    )
    .await
    .expect("policy set");
    c
}

async fn world() -> World {
    let app = spawn_app().await;
    create_api(
        &app,
        BILLING,
        "Billing API",
        &[
            ("invoices:read", "See your invoices"),
            ("invoices:write", "Create invoices"),
        ],
        None,
    )
    .await;
    create_api(
        &app,
        LEDGER,
        "Ledger API",
        &[("ledger:read", "See your ledger")],
        None,
    )
    .await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let front = app
        .create_client(ClientSpec {
            name: "Shop",
            scopes: vec![
                "read",
                "write",
                "openid",
                "invoices:read",
                "invoices:write",
                "ledger:read",
            ],
            ..ClientSpec::default()
        })
        .await;
    let gateway = exchanger(&app, &[BILLING], false).await;
    let rs = app
        .create_client(ClientSpec {
            name: "Billing RS",
            redirect_uris: vec![],
            grant_types: vec!["client_credentials"],
            resource_server: true,
            ..ClientSpec::default()
        })
        .await;
    World {
        app,
        user_id: user.id,
        front,
        gateway,
        rs,
    }
}

/// The user's token response from the code flow with `scope`.
async fn user_tokens(w: &World, scope: &str) -> serde_json::Value {
    let code = w
        .app
        .obtain_code(&w.front, EMAIL, &[("scope", scope)])
        .await;
    let res = w
        .app
        .post_token_basic(
            &w.front.id,
            w.front.secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &w.front.redirect_uri),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    json(res).await
}

async fn user_token(w: &World, scope: &str) -> String {
    user_tokens(w, scope).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `POST /oauth/token` as `c` with the token-exchange grant and `form`.
async fn exchange(app: &TestApp, c: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
    let mut all = vec![("grant_type", GRANT)];
    all.extend_from_slice(form);
    app.post_token_basic(&c.id, c.secret(), &all).await
}

/// The form exchanging `subject` (an access token) into the Billing API.
fn to_billing(subject: &str) -> [(&'static str, &str); 3] {
    [
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("resource", BILLING),
    ]
}

/// Verify a JWT of ours with the JWKS (as a resource server would): `typ`, signature,
/// issuer, audience. Returns its claims.
pub async fn verify_with_jwks(
    app: &TestApp,
    token: &str,
    typ: &str,
    audience: &str,
) -> serde_json::Value {
    use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
    let jwks: JwkSet =
        serde_json::from_value(json(app.get("/.well-known/jwks.json").await).await).expect("JWKS");
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.typ.as_deref(), Some(typ));
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid in JWKS");
    let key = DecodingKey::from_jwk(jwk).expect("key");
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[&app.settings.issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["iss", "aud"]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .expect("the JWT verifies")
        .claims
}

/// A successful exchange's access token, with the response checked against §2.2.1.
async fn exchanged(
    app: &TestApp,
    c: &TestClient,
    form: &[(&str, &str)],
) -> (String, serde_json::Value) {
    let res = exchange(app, c, form).await;
    assert_token_headers(&res);
    let status = res.status();
    let body = json(res).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body.get("refresh_token").is_none(),
        "never a refresh token: {body}"
    );
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    (body["access_token"].as_str().unwrap().to_owned(), body)
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
    json(res).await
}

async fn revoke(app: &TestApp, caller: &TestClient, token: &str) {
    let res = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&caller.id, caller.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_gateway_exchanges_a_users_token_for_a_narrower_billing_token() {
    // Arrange
    let w = world().await;
    let subject = user_token(&w, "read invoices:read invoices:write").await;
    let subject_claims = jwt_claims(&subject);

    // Act: only invoices:read, for the Billing API.
    let (token, body) = exchanged(
        &w.app,
        &w.gateway,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
            ("scope", "invoices:read"),
        ],
    )
    .await;

    // Assert: the claims RFC 8693 §4.1 and RFC 9068 ask for.
    assert_eq!(body["scope"], "invoices:read");
    let claims = verify_with_jwks(&w.app, &token, "at+jwt", BILLING).await;
    assert_eq!(claims["sub"], w.user_id);
    assert_eq!(claims["client_id"], w.gateway.id);
    assert_eq!(claims["aud"], BILLING);
    assert_eq!(claims["scope"], "invoices:read");
    assert_eq!(claims["act"], json!({"sub": w.gateway.id}));
    assert!(claims["exp"].as_i64().unwrap() <= subject_claims["exp"].as_i64().unwrap());
    assert_ne!(claims["jti"], subject_claims["jti"]);
    let seen = introspect(&w.app, &w.rs, &token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["act"], json!({"sub": w.gateway.id}));
    assert_eq!(seen["aud"], BILLING);

    // Without `scope`: every Billing scope the subject holds, and `audience` works as
    // `resource` does. OpenID and other APIs' scopes stay behind.
    let (_, body) = exchanged(
        &w.app,
        &w.gateway,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("audience", BILLING),
            ("requested_token_type", ACCESS),
        ],
    )
    .await;
    assert_eq!(body["scope"], "invoices:read invoices:write");

    // The exchange is in the user's activity.
    let events = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Kind.eq("token.exchanged"))
        .all(&w.app.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].user_id.as_deref(), Some(w.user_id.as_str()));
    assert!(
        !events[0].detail.contains(&subject),
        "no token in the event"
    );
}

#[tokio::test]
async fn a_proof_binds_the_exchanged_token_to_the_gateways_key() {
    // Arrange
    let w = world().await;
    let subject = user_token(&w, "read invoices:read").await;
    let key = crate::dpop::Key::new();
    let url = format!("{}/oauth/token", w.app.settings.issuer);
    let form = [
        ("grant_type", GRANT),
        ("subject_token", subject.as_str()),
        ("subject_token_type", ACCESS),
        ("resource", BILLING),
    ];
    let send = |proof: Option<String>| {
        let mut req = w
            .app
            .http
            .post(w.app.url("/oauth/token"))
            .basic_auth(&w.gateway.id, w.gateway.secret.as_deref());
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.form(&form).send()
    };

    // Act: the exchange with a DPoP proof (RFC 9449 §5: every grant).
    let res = send(Some(key.proof("POST", &url))).await.unwrap();

    // Assert: a DPoP token bound to the gateway's key, as introspection says too.
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert_eq!(body["issued_token_type"], ACCESS);
    let token = body["access_token"].as_str().unwrap();
    let claims = verify_with_jwks(&w.app, token, "at+jwt", BILLING).await;
    assert_eq!(claims["cnf"]["jkt"], key.jkt());
    assert_eq!(claims["act"], json!({"sub": w.gateway.id}));
    let seen = introspect(&w.app, &w.rs, token).await;
    assert_eq!(seen["cnf"]["jkt"], key.jkt(), "{seen}");
    assert_eq!(seen["token_type"], "DPoP");
    // A bad proof is refused as at every grant; without one the token is Bearer.
    let res = send(Some("not.a.proof".into())).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(json(res).await["error"], "invalid_dpop_proof");
    let body = json(send(None).await.unwrap()).await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        jwt_claims(body["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
}

#[tokio::test]
async fn scopes_never_widen() {
    // Arrange: the subject holds only invoices:read of the Billing API.
    let w = world().await;
    let subject = user_token(&w, "read invoices:read").await;

    // Act + Assert: a Billing scope the subject lacks, another API's scope, garbage.
    for scope in [
        "invoices:write",
        "invoices:read invoices:write",
        "ledger:read",
        "write",
        "a\"b",
    ] {
        let res = exchange(
            &w.app,
            &w.gateway,
            &[
                ("subject_token", &subject),
                ("subject_token_type", ACCESS),
                ("resource", BILLING),
                ("scope", scope),
            ],
        )
        .await;
        expect_oauth_error(res, 400, "invalid_scope").await;
    }
    // Equal is fine.
    let (_, body) = exchanged(
        &w.app,
        &w.gateway,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
            ("scope", "invoices:read"),
        ],
    )
    .await;
    assert_eq!(body["scope"], "invoices:read");
}

#[tokio::test]
async fn audiences_outside_the_policy_or_the_catalog_are_invalid_target() {
    // Arrange
    let w = world().await;
    let subject = user_token(&w, "read invoices:read ledger:read").await;
    let base = |target: (&'static str, &'static str)| vec![("subject_token_type", ACCESS), target];

    // Act + Assert: Ledger is registered and held, but not in the gateway's policy.
    for target in [
        ("resource", LEDGER),
        ("audience", LEDGER),
        ("audience", "https://unknown.example.com"),
    ] {
        let mut form = base(target);
        form.push(("subject_token", &subject));
        let body = expect_oauth_error(
            exchange(&w.app, &w.gateway, &form).await,
            400,
            "invalid_target",
        )
        .await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("may not exchange"),
            "{body}"
        );
    }
    // Both targets at once: one outside the policy refuses the whole request.
    let res = exchange(
        &w.app,
        &w.gateway,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
            ("audience", LEDGER),
        ],
    )
    .await;
    expect_oauth_error(res, 400, "invalid_target").await;

    // A client with the grant but an empty policy may exchange into nothing.
    let nowhere = exchanger(&w.app, &[], false).await;
    let res = exchange(
        &w.app,
        &nowhere,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
        ],
    )
    .await;
    expect_oauth_error(res, 400, "invalid_target").await;

    // In the policy, but the subject holds no scope of that API: not a way to gain one.
    let both = exchanger(&w.app, &[BILLING, LEDGER], false).await;
    let only_billing = user_token(&w, "invoices:read").await;
    let res = exchange(
        &w.app,
        &both,
        &[
            ("subject_token", &only_billing),
            ("subject_token_type", ACCESS),
            ("resource", LEDGER),
        ],
    )
    .await;
    expect_oauth_error(res, 400, "invalid_target").await;
    // No target at all.
    let res = exchange(
        &w.app,
        &both,
        &[
            ("subject_token", &only_billing),
            ("subject_token_type", ACCESS),
        ],
    )
    .await;
    expect_oauth_error(res, 400, "invalid_request").await;

    // `audience` may repeat (RFC 8693 §2.1): each named API must be in the policy, and the
    // token is for all of them; a repeated one counts once.
    let subject = user_token(&w, "invoices:read ledger:read").await;
    let form = |targets: &[&'static str]| {
        let mut f = vec![
            ("subject_token", subject.clone()),
            ("subject_token_type", ACCESS.into()),
        ];
        f.extend(targets.iter().map(|t| ("audience", (*t).to_owned())));
        f
    };
    let send = |f: Vec<(&'static str, String)>| {
        let both = &both;
        let app = &w.app;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            exchange(app, both, &f).await
        }
    };
    let (token, body) = {
        let res = send(form(&[BILLING, LEDGER])).await;
        assert_eq!(res.status(), 200);
        let body = json(res).await;
        (body["access_token"].as_str().unwrap().to_owned(), body)
    };
    assert_eq!(body["scope"], "invoices:read ledger:read");
    assert_eq!(jwt_claims(&token)["aud"], json!([BILLING, LEDGER]));
    let res = send(form(&[BILLING, BILLING])).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        jwt_claims(json(res).await["access_token"].as_str().unwrap())["aud"],
        BILLING
    );
    let res = send(form(&[BILLING, "https://unknown.example.com"])).await;
    expect_oauth_error(res, 400, "invalid_target").await;
}

#[tokio::test]
async fn a_client_without_the_grant_is_unauthorized() {
    // Arrange: the front app has a Billing scope but not the grant.
    let w = world().await;
    let subject = user_token(&w, "invoices:read").await;

    // Act
    let res = exchange(
        &w.app,
        &w.front,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
        ],
    )
    .await;

    // Assert
    expect_oauth_error(res, 400, "unauthorized_client").await;
    // And a public client cannot even register it.
    let new = latch::clients::NewClient {
        name: "SPA".into(),
        redirect_uris: vec!["https://spa.example.com/cb".into()],
        public: true,
        grant_types: vec!["authorization_code".into(), GRANT.into()],
        scopes: vec!["read".into()],
        livemode: true,
        first_party: false,
        resource_server: false,
        owner_id: None,
        metadata: Default::default(),
        allowed_origins: None,
    };
    assert!(
        latch::clients::create(
            &w.app.db,
            &w.app.state.catalog.get(),
            &w.app.state.logos,
            new
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    // Arrange
    let w = world().await;
    let subject = user_token(&w, "invoices:read").await;
    let refresh = "urn:ietf:params:oauth:token-type:refresh_token";
    let machine = w.app.machine_client().await;
    let machine_token = client_credentials_token(&w.app, &machine, "read").await;

    // Act + Assert: RFC 8693 §2.1 / §2.2.2.
    let cases: Vec<Vec<(&str, &str)>> = vec![
        // A client's own token has no person to act for.
        vec![
            ("subject_token", &machine_token),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
        ],
        // Only access tokens are issued.
        vec![
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
            ("requested_token_type", refresh),
        ],
        // Unknown subject type; refresh token as subject.
        vec![
            ("subject_token", &subject),
            ("subject_token_type", refresh),
            ("resource", BILLING),
        ],
        vec![
            ("subject_token", &subject),
            ("subject_token_type", "jwt"),
            ("resource", BILLING),
        ],
        // Missing subject.
        vec![("subject_token_type", ACCESS), ("resource", BILLING)],
        vec![("subject_token", &subject), ("resource", BILLING)],
        // Not a token of ours.
        vec![
            ("subject_token", "eyJhbGciOiJub25lIn0.e30."),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
        ],
        // An actor token without its type, a type without a token.
        vec![
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
            ("actor_token", &subject),
        ],
        vec![
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
            ("actor_token_type", ACCESS),
        ],
        // An actor token that is not one.
        vec![
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
            ("actor_token", "nope"),
            ("actor_token_type", ACCESS),
        ],
        // An API key presented by a client that is not a resource server.
        vec![
            ("subject_token", "sk_live_whatever"),
            ("subject_token_type", API_KEY),
            ("resource", BILLING),
        ],
    ];
    for form in cases {
        let res = exchange(&w.app, &w.gateway, &form).await;
        let body = expect_oauth_error(res, 400, "invalid_request").await;
        assert!(
            !body.to_string().contains(&subject),
            "the token is not echoed"
        );
    }
}

#[tokio::test]
async fn act_nests_along_a_chain_and_names_the_actor_token() {
    // Arrange: a second gateway behind the first, both allowed into Billing.
    let w = world().await;
    let inner = exchanger(&w.app, &[BILLING], false).await;
    let subject = user_token(&w, "invoices:read").await;
    let (first, _) = exchanged(
        &w.app,
        &w.gateway,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("resource", BILLING),
        ],
    )
    .await;

    // Act: exchange the exchanged token.
    let (second, _) = exchanged(
        &w.app,
        &inner,
        &[
            ("subject_token", &first),
            ("subject_token_type", ACCESS),
            ("audience", BILLING),
        ],
    )
    .await;

    // Assert: §4.1, the current actor outermost, the earlier one nested.
    let claims = jwt_claims(&second);
    assert_eq!(claims["sub"], w.user_id);
    assert_eq!(claims["client_id"], inner.id);
    assert_eq!(
        claims["act"],
        json!({"sub": inner.id, "act": {"sub": w.gateway.id}})
    );
    assert!(claims["exp"].as_i64().unwrap() <= jwt_claims(&first)["exp"].as_i64().unwrap());
    assert_eq!(
        introspect(&w.app, &w.rs, &second).await["act"],
        claims["act"]
    );

    // An actor token names the actor instead of the requesting client.
    let machine = w.app.machine_client().await;
    let actor = client_credentials_token(&w.app, &machine, "read").await;
    let (third, _) = exchanged(
        &w.app,
        &w.gateway,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS),
            ("resource", BILLING),
        ],
    )
    .await;
    assert_eq!(jwt_claims(&third)["act"], json!({"sub": machine.id}));
    // Revoking the actor's token revokes what it acted in.
    revoke(&w.app, &machine, &actor).await;
    assert_eq!(
        introspect(&w.app, &w.rs, &third).await,
        json!({"active": false})
    );
    assert_eq!(introspect(&w.app, &w.rs, &second).await["active"], true);
}

#[tokio::test]
async fn revoking_the_subject_revokes_what_was_exchanged_from_it() {
    // Arrange: a chain subject → first → second, and a refresh-token family.
    let w = world().await;
    let inner = exchanger(&w.app, &[BILLING], false).await;
    let subject = user_token(&w, "invoices:read").await;
    let f1 = to_billing(&subject);
    let (first, _) = exchanged(&w.app, &w.gateway, &f1).await;
    let f2 = to_billing(&first);
    let (second, _) = exchanged(&w.app, &inner, &f2).await;
    assert_eq!(introspect(&w.app, &w.rs, &second).await["active"], true);

    // Act: the front app revokes the user's access token (RFC 7009).
    revoke(&w.app, &w.front, &subject).await;

    // Assert: the whole chain is inactive, and the subject can no longer be exchanged.
    for t in [&subject, &first, &second] {
        assert_eq!(introspect(&w.app, &w.rs, t).await, json!({"active": false}));
    }
    let res = exchange(&w.app, &w.gateway, &f1).await;
    expect_oauth_error(res, 400, "invalid_request").await;

    // Arrange: a refresh-token family's access token, exchanged.
    let tokens = user_tokens(&w, "invoices:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    let (from_family, _) = exchanged(&w.app, &w.gateway, &to_billing(access)).await;
    // Act: revoke the family by its refresh token.
    revoke(&w.app, &w.front, tokens["refresh_token"].as_str().unwrap()).await;
    // Assert
    assert_eq!(
        introspect(&w.app, &w.rs, &from_family).await,
        json!({"active": false})
    );
    // And a sibling instance on the same database converges (the deny list is shared).
    let sibling = spawn_sibling(&w.app).await;
    let mut active = true;
    for _ in 0..30 {
        active = introspect(&sibling, &w.rs, &second).await["active"] == true;
        if !active {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!active, "the sibling's deny-list replica caught up");
}

#[tokio::test]
async fn an_api_key_is_a_subject_only_for_a_resource_server() {
    // Arrange: the user's restricted key with a Billing scope.
    let w = world().await;
    let (key, secret) = key_for(&w.app, &w.user_id, true, &["invoices:read"]).await;
    let rs_gateway = exchanger(&w.app, &[BILLING], true).await;
    let form = [
        ("subject_token", secret.as_str()),
        ("subject_token_type", API_KEY),
        ("resource", BILLING),
    ];

    // Act + Assert: a plain gateway may not present someone's key.
    expect_oauth_error(
        exchange(&w.app, &w.gateway, &form).await,
        400,
        "invalid_request",
    )
    .await;
    // A resource server may.
    let (token, body) = exchanged(&w.app, &rs_gateway, &form).await;
    assert_eq!(body["scope"], "invoices:read");
    let claims = jwt_claims(&token);
    assert_eq!(claims["sub"], w.user_id);
    assert_eq!(claims["act"], json!({"sub": rs_gateway.id}));
    // Wider than the key: refused.
    let mut wider = form.to_vec();
    wider.push(("scope", "invoices:write"));
    expect_oauth_error(
        exchange(&w.app, &rs_gateway, &wider).await,
        400,
        "invalid_scope",
    )
    .await;

    // Revoking the key (its owner, through `/v1`) revokes the token exchanged from it.
    let (_, owner_key) = key_for(&w.app, &w.user_id, true, &[]).await;
    let res = w
        .app
        .http
        .delete(w.app.url(&format!("/v1/api_keys/{}", key.id)))
        .bearer_auth(&owner_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        introspect(&w.app, &w.rs, &token).await,
        json!({"active": false})
    );
    expect_oauth_error(
        exchange(&w.app, &rs_gateway, &form).await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn the_policy_is_set_through_v1_and_advertised_grant_in_metadata() {
    // Arrange
    let w = world().await;
    let (_, key) = key_for(&w.app, &w.user_id, true, &[]).await;

    // Act: an unknown identifier is refused naming the parameter; a known one is kept.
    let res = bearer_post(
        &w.app,
        &key,
        "/v1/clients",
        &[
            ("name", "Gateway"),
            ("grant_types[]", GRANT),
            ("token_exchange_audiences[]", "https://nowhere.example.com"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        json(res).await["error"]["param"],
        "token_exchange_audiences"
    );
    let res = bearer_post(
        &w.app,
        &key,
        "/v1/clients",
        &[
            ("name", "Gateway"),
            ("grant_types[]", GRANT),
            ("token_exchange_audiences[]", BILLING),
        ],
    )
    .await;
    let status = res.status();
    let created = json(res).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["token_exchange_audiences"], json!([BILLING]));
    assert_eq!(created["grant_types"], json!([GRANT]));
    let id = created["id"].as_str().unwrap();
    let res = bearer_post(
        &w.app,
        &key,
        &format!("/v1/clients/{id}"),
        &[("token_exchange_audiences", "")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["token_exchange_audiences"], json!([]));

    // The grant is advertised (RFC 8414 §2).
    let meta = json(w.app.get("/.well-known/oauth-authorization-server").await).await;
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT))
    );
}

#[tokio::test]
async fn a_password_reset_revokes_exchanged_tokens_with_the_users_grants() {
    // Arrange: an exchanged token from a code-flow token (no refresh family).
    let w = world().await;
    let subject = user_token(&w, "invoices:read").await;
    let (exchanged_token, _) = exchanged(&w.app, &w.gateway, &to_billing(&subject)).await;
    let user = latch::store::users::by_id(&w.app.db, &w.user_id)
        .await
        .unwrap()
        .unwrap();

    // Act: the operator sets a new password (every grant of the account ends).
    latch::users::reset_password(
        &w.app.db,
        &user,
        "another long passphrase",
        w.app.clock.now(),
    )
    .await
    .unwrap();
    w.app.state.denied.catch_up(&w.app.db).await.unwrap();

    // Assert: the user is still enabled; the exchanged token ends through the cascade.
    let jti = jwt_claims(&exchanged_token)["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        latch::store::tokens::is_denied_in_db(&w.app.db, &jti)
            .await
            .unwrap()
    );
    assert_eq!(
        introspect(&w.app, &w.rs, &exchanged_token).await,
        json!({"active": false})
    );
}
