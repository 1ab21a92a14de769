//! A resource server for an API of your own (e.g. "Billing API"): `GET /invoices` needs the
//! scope `invoices:read`, from a Latch access token whose `aud` contains the API identifier
//! or from an API key (secret or restricted, when `LATCH_CLIENT_ID`/`LATCH_CLIENT_SECRET`
//! name a `--resource-server` client). It serves RFC 9728 protected resource metadata naming
//! Latch, and its 401s point at it, so clients that discover from a 401 (MCP) find Latch.
//!
//! `cargo run -p latch-verify --features actix --example resource_server`
//!
//! Environment (all optional): `LATCH_ISSUER` (default `http://127.0.0.1:8080`), `BIND`
//! (default `127.0.0.1:8081`), `API_IDENTIFIER` (default `http://$BIND`), `API_NAME`
//! (default `Billing API`), `REQUIRED_SCOPE` (default `invoices:read`),
//! `RESOURCE_METADATA_URL` (default: derived from `API_IDENTIFIER`, RFC 9728 §3.1),
//! `LATCH_CLIENT_ID` and `LATCH_CLIENT_SECRET`.
use actix_web::{App, HttpServer, web};
use latch_verify::Verifier;
use latch_verify::actix::{Authenticated, RequireScopes, protected_resource_metadata};
use serde_json::json;

/// Behind `RequireScopes`: the credential is verified and carries the scope.
async fn invoices(auth: Authenticated) -> web::Json<serde_json::Value> {
    web::Json(json!({
        "object": "list",
        "data": [{"id": "in_1", "amount_due": 4200, "currency": "eur", "customer": auth.sub}],
        "caller": {"sub": auth.sub, "client_id": auth.client_id, "scopes": auth.scopes},
    }))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let env = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.into());
    let bind = env("BIND", "127.0.0.1:8081");
    let api = env("API_IDENTIFIER", &format!("http://{bind}"));
    let scope = env("REQUIRED_SCOPE", "invoices:read");
    let metadata_url = match std::env::var("RESOURCE_METADATA_URL") {
        Ok(url) => url,
        Err(_) => latch_verify::well_known_url(&api).ok_or_else(|| {
            std::io::Error::other(format!("API_IDENTIFIER {api:?} is not an absolute URL"))
        })?,
    };
    let mut builder = Verifier::builder(env("LATCH_ISSUER", "http://127.0.0.1:8080"))
        .api_identifier(&api)
        .resource_metadata_url(&metadata_url);
    if let (Ok(id), Ok(secret)) = (
        std::env::var("LATCH_CLIENT_ID"),
        std::env::var("LATCH_CLIENT_SECRET"),
    ) {
        builder = builder.introspection(id, secret);
    }
    let verifier = builder.discover().await.map_err(std::io::Error::other)?;
    let metadata = verifier
        .resource_metadata()
        .scopes_supported([scope.clone()])
        .resource_name(env("API_NAME", "Billing API"));
    println!(
        "{api}: GET http://{bind}/invoices needs {scope}; metadata at {metadata_url}; trusting {}",
        verifier.issuer()
    );
    let verifier = web::Data::new(verifier);
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .service(protected_resource_metadata(metadata.clone()))
            .service(
                web::resource("/invoices")
                    .wrap(RequireScopes::all([scope.clone()]))
                    .route(web::get().to(invoices)),
            )
    })
    .bind(bind)?
    .run()
    .await
}
