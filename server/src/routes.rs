//! The URL map: each family owns its routes; this only composes them, and chooses the
//! error dialect for malformed bodies and query strings by path.

use actix_web::{Error, HttpRequest, HttpResponse, web};

use crate::errors::{ApiError, HtmlError, OAuthError};

/// Endpoints for programs: no session cookie. Hot ones first: actix tries resources in
/// order, and the dashboard's many `{id}` patterns cost a regex each.
pub fn machine_routes(cfg: &mut web::ServiceConfig) {
    crate::token::routes(cfg);
    crate::introspect::routes(cfg);
    crate::revoke::routes(cfg);
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
    cfg.route("/static/latch.css", web::get().to(crate::pages::get_css))
        .route("/static/latch.js", web::get().to(crate::pages::get_js));
}

/// Pages for people: behind the session middleware.
pub fn browser_routes(cfg: &mut web::ServiceConfig) {
    crate::authorize::routes(cfg);
    crate::account::routes(cfg);
    crate::dashboard::routes(cfg);
    cfg.default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, Error> {
    if req.path().starts_with("/oauth/") || req.path().starts_with("/.well-known/") {
        return Err(OAuthError::invalid_request("Unknown endpoint").into());
    }
    Err(HtmlError::not_found().into())
}

/// The dialect a request's errors should be in, by path.
fn bad_input(req: &HttpRequest, message: String) -> Error {
    let path = req.path();
    if path.starts_with("/v1") {
        ApiError::invalid_request("parameter_invalid", message).into()
    } else if path.starts_with("/oauth/") {
        OAuthError::invalid_request(message).into()
    } else {
        HtmlError::bad_request(message).into()
    }
}

pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, req| {
            bad_input(req, format!("The request body could not be read: {err}"))
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, req| {
        bad_input(req, format!("The query string could not be read: {err}"))
    })
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, req| bad_input(req, format!("The JSON body could not be read: {err}")))
}
