//! A resource server protecting `GET /hello` with Latch access tokens (and API keys when
//! `LATCH_CLIENT_ID`/`LATCH_CLIENT_SECRET` name a `--resource-server` client).
//! `cargo run -p latch-verify --features actix --example resource_server`
use actix_web::{App, HttpServer, get, web};
use latch_verify::{Verifier, actix::Authenticated};
use serde_json::json;

#[get("/hello")]
async fn hello(auth: Authenticated) -> actix_web::Result<web::Json<serde_json::Value>> {
    auth.require_scopes(&["read"])?;
    Ok(web::Json(
        json!({ "hello": auth.sub, "scopes": auth.scopes }),
    ))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let env = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.into());
    let mut builder = Verifier::builder(env("LATCH_ISSUER", "http://127.0.0.1:8080"));
    if let (Ok(id), Ok(secret)) = (
        std::env::var("LATCH_CLIENT_ID"),
        std::env::var("LATCH_CLIENT_SECRET"),
    ) {
        builder = builder.introspection(id, secret);
    }
    let verifier = web::Data::new(builder.discover().await.map_err(std::io::Error::other)?);
    let bind = env("BIND", "127.0.0.1:8081");
    println!(
        "resource server on http://{bind}/hello, trusting {}",
        verifier.issuer()
    );
    HttpServer::new(move || App::new().app_data(verifier.clone()).service(hello))
        .bind(bind)?
        .run()
        .await
}
