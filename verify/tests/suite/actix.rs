//! The actix-web extractor (feature `actix`).

use actix_web::{App, HttpResponse, test, web};
use latch_verify::Verifier;
use latch_verify::actix::Authenticated;
use serde_json::{Value, json};

use crate::common::*;

async fn hello(auth: Authenticated) -> actix_web::Result<HttpResponse> {
    auth.require_scopes(&["read"])?;
    Ok(HttpResponse::Ok().json(json!({"hello": auth.sub, "scopes": auth.scopes})))
}

async fn whoami(auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({"sub": auth.sub, "livemode": auth.livemode}))
}

fn www(res: &actix_web::dev::ServiceResponse) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[actix_web::test]
async fn the_extractor_answers_401_403_and_200() {
    // Arrange
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let verifier = Verifier::builder(&mock.issuer)
        .introspection("rs", "secret")
        .discover()
        .await
        .unwrap();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier))
            .route("/hello", web::get().to(hello))
            .route("/whoami", web::get().to(whoami)),
    )
    .await;
    let c = claims(&mock.issuer);
    let call = |auth: Option<String>, path: &'static str| {
        let mut req = test::TestRequest::get().uri(path);
        if let Some(a) = auth {
            req = req.insert_header(("Authorization", a));
        }
        req.to_request()
    };

    // No credential: 401 with the bare challenge (RFC 6750 §3.1).
    let res = test::call_service(&app, call(None, "/hello")).await;
    assert_eq!(res.status(), 401);
    assert_eq!(www(&res), "Bearer");

    // Another scheme is no bearer credential either.
    let res = test::call_service(&app, call(Some("Basic dTpw".into()), "/hello")).await;
    assert_eq!(res.status(), 401);
    assert_eq!(www(&res), "Bearer");

    // A bad token: 401 invalid_token, with a JSON body.
    let res = test::call_service(&app, call(Some("Bearer a.b.c".into()), "/hello")).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        www(&res),
        r#"Bearer error="invalid_token", error_description="The access token is malformed""#
    );
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["error_description"], "The access token is malformed");

    // An expired token says so.
    let expired = k.token(&with(&c, "exp", json!(now() - 3600)));
    let res = test::call_service(&app, call(Some(format!("Bearer {expired}")), "/hello")).await;
    assert_eq!(res.status(), 401);
    assert!(
        www(&res).contains("The access token expired"),
        "{}",
        www(&res)
    );

    // A good token without the scope: 403 insufficient_scope naming the scope.
    let write_only = k.token(&with(&c, "scope", json!("write")));
    let res = test::call_service(&app, call(Some(format!("Bearer {write_only}")), "/hello")).await;
    assert_eq!(res.status(), 403);
    assert!(
        www(&res).starts_with(r#"Bearer error="insufficient_scope""#)
            && www(&res).ends_with(r#"scope="read""#),
        "{}",
        www(&res)
    );
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["error"], "insufficient_scope");

    // The same token where no scope is required; the scheme is case-insensitive.
    let res = test::call_service(&app, call(Some(format!("bearer {write_only}")), "/whoami")).await;
    assert_eq!(res.status(), 200);

    // A good token: 200 with the claims.
    let token = k.token(&c);
    let res = test::call_service(&app, call(Some(format!("Bearer {token}")), "/hello")).await;
    assert_eq!(res.status(), 200);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(
        body,
        json!({"hello": "user_123", "scopes": ["read", "write"]})
    );

    // An API key, through introspection.
    mock.answer(
        "sk_test_abc",
        json!({"active": true, "sub": "user_7", "scope": "read", "livemode": false}),
    );
    let res = test::call_service(&app, call(Some("Bearer sk_test_abc".into()), "/hello")).await;
    assert_eq!(res.status(), 200);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body, json!({"hello": "user_7", "scopes": ["read"]}));
}

#[actix_web::test]
async fn malformed_authorization_headers_are_invalid_request() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let verifier = Verifier::discover(&mock.issuer).await.unwrap();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier))
            .route("/whoami", web::get().to(whoami)),
    )
    .await;
    let token = k.token(&claims(&mock.issuer));
    let req = test::TestRequest::get()
        .uri("/whoami")
        .append_header(("Authorization", format!("Bearer {token}")))
        .append_header(("Authorization", "Bearer other"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 400);
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("Authorization", "Bearer "))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 400);
    // A token in the query string is not looked at.
    let req = test::TestRequest::get()
        .uri(&format!("/whoami?access_token={token}"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 401);
}

#[actix_web::test]
async fn an_unreachable_introspection_endpoint_is_503() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let verifier = Verifier::builder(&mock.issuer)
        .introspection("rs", "secret")
        .discover()
        .await
        .unwrap();
    *mock.state.introspect_status.lock().unwrap() = Some(502);
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier))
            .route("/whoami", web::get().to(whoami)),
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("Authorization", "Bearer sk_live_x"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_some());
}

#[actix_web::test]
async fn a_missing_verifier_is_a_500_not_a_pass() {
    let app = test::init_service(App::new().route("/whoami", web::get().to(whoami))).await;
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("Authorization", "Bearer x.y.z"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 500);
}

mod own_api {
    //! `RequireScopes`, `Refusal` and `protected_resource_metadata` for an API of one's own.

    use std::time::Duration;

    use actix_web::{App, HttpResponse, test, web};
    use latch_verify::actix::{Authenticated, RequireScopes, protected_resource_metadata};
    use latch_verify::{Verifier, well_known_url};
    use serde_json::{Value, json};

    use super::www;
    use crate::common::*;

    const BILLING: &str = "https://billing.example.com";

    async fn list(auth: Authenticated) -> HttpResponse {
        HttpResponse::Ok().json(json!({"sub": auth.sub, "scopes": auth.scopes}))
    }

    fn get(path: &str, bearer: Option<&str>) -> actix_web::test::TestRequest {
        let req = test::TestRequest::get().uri(path);
        match bearer {
            Some(t) => req.insert_header(("Authorization", format!("Bearer {t}"))),
            None => req,
        }
    }

    #[actix_web::test]
    async fn require_scopes_answers_401_and_403_challenges_that_name_the_metadata() {
        // Arrange: the Billing API, `GET /invoices` needs invoices:read, `GET /any` needs
        // invoices:read or invoices:write.
        let k = TestKey::es256("k1");
        let mock = MockAs::start(&[&k]).await;
        let rm = well_known_url(BILLING).unwrap();
        let verifier = Verifier::builder(&mock.issuer)
            .api_identifier(BILLING)
            .resource_metadata_url(&rm)
            .introspection("rs", "secret")
            .introspection_cache_ttl(Duration::ZERO)
            .discover()
            .await
            .unwrap();
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(verifier))
                .service(
                    web::resource("/invoices")
                        .wrap(RequireScopes::all(["invoices:read"]))
                        .route(web::get().to(list)),
                )
                .service(
                    web::resource("/any")
                        .wrap(RequireScopes::any(["invoices:read", "invoices:write"]))
                        .route(web::get().to(list)),
                )
                .route("/plain", web::get().to(list)),
        )
        .await;
        let token = |aud: Value, scope: &str| {
            k.token(&with(
                &with(&claims(&mock.issuer), "aud", aud),
                "scope",
                json!(scope),
            ))
        };

        // No credential: 401 with only resource_metadata (RFC 9728 §5.1; what MCP reads).
        let res = test::call_service(&app, get("/invoices", None).to_request()).await;
        assert_eq!(res.status(), 401);
        assert_eq!(www(&res), format!("Bearer resource_metadata=\"{rm}\""));

        // A token for another API: 401 invalid_token, still pointing at the metadata.
        let other = token(json!("https://files.example.com"), "invoices:read");
        let res = test::call_service(&app, get("/invoices", Some(&other)).to_request()).await;
        assert_eq!(res.status(), 401);
        assert_eq!(
            www(&res),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"The access token's audience (aud) does not include this API\", resource_metadata=\"{rm}\""
            )
        );
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["error"], "invalid_token");

        // Our API but the wrong scope: 403 insufficient_scope naming the scope (RFC 6750 §3.1).
        let write_only = token(json!([BILLING]), "invoices:write");
        let res = test::call_service(&app, get("/invoices", Some(&write_only)).to_request()).await;
        assert_eq!(res.status(), 403);
        assert_eq!(
            www(&res),
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"The access token lacks a scope this request requires\", scope=\"invoices:read\", resource_metadata=\"{rm}\""
            )
        );
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["error"], "insufficient_scope");

        // `any`: invoices:write alone is enough there; neither scope is not.
        let res = test::call_service(&app, get("/any", Some(&write_only)).to_request()).await;
        assert_eq!(res.status(), 200);
        let neither = token(json!(BILLING), "files:read");
        let res = test::call_service(&app, get("/any", Some(&neither)).to_request()).await;
        assert_eq!(res.status(), 403);
        assert!(
            www(&res).contains(r#"scope="invoices:read invoices:write""#),
            "{}",
            www(&res)
        );

        // The right scope, aud as a string or in an array: 200.
        for aud in [
            json!(BILLING),
            json!(["https://files.example.com", BILLING]),
        ] {
            let good = token(aud, "files:read invoices:read");
            let res = test::call_service(&app, get("/invoices", Some(&good)).to_request()).await;
            assert_eq!(res.status(), 200);
            let body: Value = test::read_body_json(res).await;
            assert_eq!(body["scopes"], json!(["files:read", "invoices:read"]));
        }

        // A restricted key through introspection: checked once per request (the handler's
        // `Authenticated` reuses the guard's answer), refused outside its scopes.
        let rk = "rk_test_51HqLyjWDarjtT1zdp7dcAbCdEf";
        mock.answer(
            rk,
            json!({"active": true, "sub": "user_7", "scope": "invoices:write",
                   "token_type": "api_key", "livemode": false}),
        );
        let res = test::call_service(&app, get("/any", Some(rk)).to_request()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(mock.introspect_hits(), 1, "verified once, not twice");
        let res = test::call_service(&app, get("/invoices", Some(rk)).to_request()).await;
        assert_eq!(res.status(), 403);
        assert!(www(&res).contains(r#"scope="invoices:read""#));

        // The plain extractor's 401 carries the metadata too.
        let res = test::call_service(&app, get("/plain", None).to_request()).await;
        assert_eq!(res.status(), 401);
        assert_eq!(www(&res), format!("Bearer resource_metadata=\"{rm}\""));
    }

    #[actix_web::test]
    async fn the_metadata_document_is_served_at_the_well_known_path() {
        // Arrange
        let mock = MockAs::start(&[&TestKey::es256("k1")]).await;
        let v = Verifier::discover_for_api(&mock.issuer, BILLING)
            .await
            .unwrap();
        let doc = v
            .resource_metadata()
            .scopes_supported(["invoices:read", "invoices:write"])
            .resource_name("Billing API");
        let nested =
            latch_verify::ResourceMetadata::new("https://api.example.com/billing", &mock.issuer);
        let app = test::init_service(
            App::new()
                .service(protected_resource_metadata(doc))
                .service(protected_resource_metadata(nested)),
        )
        .await;

        // Act
        let res = test::call_service(
            &app,
            get("/.well-known/oauth-protected-resource", None).to_request(),
        )
        .await;

        // Assert (RFC 9728 §3.2: 200, application/json)
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "application/json"
        );
        let body: Value = test::read_body_json(res).await;
        assert_eq!(
            body,
            json!({"resource": BILLING, "authorization_servers": [mock.issuer],
                   "bearer_methods_supported": ["header"],
                   "scopes_supported": ["invoices:read", "invoices:write"],
                   "resource_name": "Billing API"})
        );
        // An identifier with a path is served under that path (RFC 9728 §3.1).
        let res = test::call_service(
            &app,
            get("/.well-known/oauth-protected-resource/billing", None).to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        let body: Value = test::read_body_json(res).await;
        assert_eq!(body["resource"], "https://api.example.com/billing");
    }
}
