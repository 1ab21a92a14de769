//! Answers produced outside any handler (malformed body or query string, body too large or
//! too slow, too many connections), in the error dialect the request's path calls for
//! (DESIGN.md): the `/v1` API format, RFC 6749 §5.2 JSON on `/oauth/*`, HTML elsewhere.

use actix_web::{Error, HttpRequest, HttpResponse, web};

use super::{ApiError, HtmlError, OAuthError};

/// The error dialect of a request (DESIGN.md), by path.
enum Dialect {
    Api,
    OAuth,
    Html,
}

fn dialect(req: &HttpRequest) -> Dialect {
    let path = req.path();
    if path.starts_with("/v1") {
        Dialect::Api
    } else if path.starts_with("/oauth/")
        && path != "/oauth/authorize"
        && !path.starts_with("/oauth/logout")
    {
        // The authorization endpoint is a browser page: until the client is verified its
        // errors are an HTML page (RFC 6749 §4.1.2.1), never JSON.
        Dialect::OAuth
    } else {
        Dialect::Html
    }
}

/// A malformed request, in the request's dialect.
fn bad_input(req: &HttpRequest, message: String) -> Error {
    match dialect(req) {
        Dialect::Api => ApiError::invalid_request("parameter_invalid", message).into(),
        Dialect::OAuth => OAuthError::invalid_request(message).into(),
        Dialect::Html => HtmlError::bad_request(message).into(),
    }
}

/// 408 (RFC 9110 §15.5.9) in the request's dialect: the body did not arrive within
/// `LATCH_BODY_TIMEOUT`.
pub fn request_timeout(req: &HttpRequest) -> HttpResponse {
    let mut res = bad_input(
        req,
        "The request body did not arrive in time; send it at once".to_owned(),
    )
    .error_response();
    *res.status_mut() = actix_web::http::StatusCode::REQUEST_TIMEOUT;
    res
}

/// 429 (RFC 6585 §4) in the request's dialect: the caller's address holds more connections
/// than `LATCH_MAX_CONNECTIONS_PER_IP`.
pub fn too_many_connections(req: &HttpRequest) -> HttpResponse {
    const MESSAGE: &str = "Too many open connections from your address; close some and retry";
    let err: Error = match dialect(req) {
        Dialect::Api => ApiError::new(
            super::ApiErrorType::RateLimit,
            "rate_limit_exceeded",
            MESSAGE,
        )
        .with_retry_after(1)
        .into(),
        Dialect::OAuth => {
            let mut e = OAuthError::too_many_requests(1);
            e.description = MESSAGE.into();
            e.into()
        }
        Dialect::Html => {
            let mut e = HtmlError::too_many_requests(1);
            e.message = MESSAGE.into();
            e.into()
        }
    };
    err.error_response()
}

/// Largest request body any endpoint reads (forms, JSON and raw bodies alike).
pub const MAX_BODY: usize = 64 * 1024;

pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(MAX_BODY)
}

/// A body over [`MAX_BODY`] makes actix answer a bare 413; answer it in the request's
/// dialect instead (RFC 6749 §5.2 JSON with `no-store` on `/oauth`, the API format on `/v1`).
pub fn payload_too_large<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    let (req, _) = res.into_parts();
    let err = bad_input(
        &req,
        format!(
            "The request body is too large (at most {} KiB)",
            MAX_BODY / 1024
        ),
    );
    let new = err.as_response_error().error_response();
    Ok(actix_web::middleware::ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

/// A body that could not be read (the client closed before sending what its
/// `Content-Length` promised, a malformed chunk) makes the `web::Bytes` extractor answer a
/// plain-text 400; answer it in the request's dialect instead (issue #16, found by
/// `tests/api/hostile_input.rs`). Other 400s are already in their dialect and pass as they are.
pub fn unreadable_body<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    let payload = res
        .response()
        .error()
        .is_some_and(|e| e.as_error::<actix_web::error::PayloadError>().is_some());
    if !payload {
        return Ok(actix_web::middleware::ErrorHandlerResponse::Response(
            res.map_into_left_body(),
        ));
    }
    let (req, _) = res.into_parts();
    let err = bad_input(&req, "The request body could not be read".to_owned());
    let new = err.as_response_error().error_response();
    Ok(actix_web::middleware::ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(MAX_BODY)
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
        .limit(MAX_BODY)
        .error_handler(|err, req| bad_input(req, format!("The JSON body could not be read: {err}")))
}
