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
