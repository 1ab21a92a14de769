//! The URL map: each family owns its routes; this only composes them. The answers to
//! malformed bodies and query strings, in the dialect of the path, are `errors::by_path`.

use actix_web::{Error, HttpRequest, HttpResponse, web};

pub use crate::errors::by_path::{
    MAX_BODY, form_config, json_config, payload_config, payload_too_large, query_config,
    unreadable_body,
};
use crate::errors::{HtmlError, OAuthError};

/// Endpoints for programs: no session cookie. Hot ones first: actix tries resources in
/// order, and the dashboard's many `{id}` patterns cost a regex each.
pub fn machine_routes(cfg: &mut web::ServiceConfig) {
    crate::token::routes(cfg);
    crate::introspect::routes(cfg);
    crate::revoke::routes(cfg);
    crate::par::routes(cfg);
    crate::register::routes(cfg);
    crate::device::machine_routes(cfg);
    cfg.service(
        web::scope("/v1")
            .wrap(actix_web::middleware::from_fn(
                crate::rate_limit::v1_headers,
            ))
            .configure(crate::api::routes)
            .default_service(web::to(crate::api::unknown_route)),
    );
    crate::oidc::routes(cfg);
    crate::discovery::routes(cfg);
    crate::health::routes(cfg);
    crate::logos::routes(cfg);
    cfg.route("/static/latch.css", web::get().to(crate::pages::get_css))
        .route("/static/latch.js", web::get().to(crate::pages::get_js))
        .route(
            "/static/brand.css",
            web::get().to(crate::pages::get_brand_css),
        )
        .route(
            "/static/brand/logo.{ext}",
            web::get().to(crate::pages::get_brand_logo),
        )
        .route(
            "/static/passkey.js",
            web::get().to(crate::pages::get_passkey_js),
        );
}

/// Pages for people: behind the session middleware.
pub fn browser_routes(cfg: &mut web::ServiceConfig) {
    crate::authorize::routes(cfg);
    crate::device::browser_routes(cfg);
    crate::account::routes(cfg);
    crate::dashboard::routes(cfg);
    crate::logout::routes(cfg);
    cfg.default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, Error> {
    if req.path().starts_with("/oauth/") || req.path().starts_with("/.well-known/") {
        return Err(OAuthError::invalid_request("Unknown endpoint").into());
    }
    Err(HtmlError::not_found().into())
}
