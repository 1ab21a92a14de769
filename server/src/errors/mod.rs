//! The two error dialects (DESIGN.md), as types, so an endpoint cannot answer in the wrong one:
//! - [`OAuthError`]: RFC 6749 §5.2 JSON for `/oauth/*`;
//! - [`ApiError`]: the `/v1` API format with a `request_id`;
//! - [`HtmlError`]: an HTML error page for browser routes.
//!
//! Every 5xx is logged with its cause and answered with a fixed message: no driver, SQL or
//! stack text ever reaches a body. A database that cannot be reached is a 503 with
//! `Retry-After`, never a 500.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::request_id::current_request_id;

pub mod by_path;
pub use crate::store::StoreError;

fn log_server_error(status: StatusCode, cause: &dyn fmt::Debug) {
    tracing::error!(status = status.as_u16(), error = ?cause, "request failed");
}

// ---------------------------------------------------------------------------------------------
// RFC 6749 §5.2 / §4.1.2.1

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidToken,
    InsufficientScope,
    ServerError,
    TemporarilyUnavailable,
}

impl OAuthCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope => StatusCode::FORBIDDEN,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error from an OAuth endpoint, answered as `{"error","error_description"}` with
/// `Cache-Control: no-store` (RFC 6749 §5.1–5.2).
pub struct OAuthError {
    pub code: OAuthCode,
    pub description: Cow<'static, str>,
    cause: Option<anyhow::Error>,
    /// Overrides the status derived from the code (e.g. 429).
    status: Option<StatusCode>,
    retry_after: Option<u64>,
    /// Extra response headers (rate-limit state).
    headers: Vec<(&'static str, String)>,
}

impl OAuthError {
    pub fn new(code: OAuthCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            cause: None,
            status: None,
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// Attach extra headers (e.g. `RateLimit`).
    pub fn with_headers(mut self, h: impl IntoIterator<Item = (&'static str, String)>) -> Self {
        self.headers.extend(h);
        self
    }
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthCode::InvalidGrant, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthCode::InvalidScope, d)
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthCode::UnauthorizedClient, d)
    }
    pub fn server(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                OAuthCode::ServerError,
                "The server encountered an internal error",
            )
        }
    }
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            retry_after: Some(2),
            ..Self::new(
                OAuthCode::TemporarilyUnavailable,
                "The service is temporarily unavailable; retry shortly",
            )
        }
    }
    pub fn rate_limited(d: &crate::rate_limit::Decision) -> Self {
        Self::too_many_requests(d.retry_after_secs()).with_headers(d.headers())
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        Self {
            status: Some(StatusCode::TOO_MANY_REQUESTS),
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                OAuthCode::TemporarilyUnavailable,
                "Too many requests; retry after the time in Retry-After",
            )
        }
    }
}

impl fmt::Debug for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)?;
        if let Some(c) = &self.cause {
            write!(f, " (cause: {c:?})")?;
        }
        Ok(())
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => OAuthError::unavailable(e),
            _ => OAuthError::server(e),
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status.unwrap_or_else(|| self.code.status())
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            log_server_error(status, self);
        }
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.code == OAuthCode::InvalidClient {
            // RFC 6749 §5.2: 401 with the scheme the client used; Basic is the only one we offer.
            res.insert_header((
                header::WWW_AUTHENTICATE,
                "Basic realm=\"latch\", charset=\"UTF-8\"",
            ));
        }
        if let Some(s) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        for (k, v) in &self.headers {
            res.insert_header((*k, v.as_str()));
        }
        res.json(json!({ "error": self.code.as_str(), "error_description": self.description }))
    }
}

// ---------------------------------------------------------------------------------------------
// The /v1 API dialect

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorType {
    InvalidRequest,
    NotFound,
    Conflict,
    Authentication,
    Permission,
    RateLimit,
    Api,
    Unavailable,
}

impl ApiErrorType {
    fn wire(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::NotFound | Self::Conflict => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::RateLimit => "rate_limit_error",
            Self::Api | Self::Unavailable => "api_error",
        }
    }
    fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Authentication => StatusCode::UNAUTHORIZED,
            Self::Permission => StatusCode::FORBIDDEN,
            Self::RateLimit => StatusCode::TOO_MANY_REQUESTS,
            Self::Api => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// `{"error":{"type","code","message","param"?,"request_id"}}`.
pub struct ApiError {
    pub ty: ApiErrorType,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    pub param: Option<Cow<'static, str>>,
    /// RFC 6750 §3 `error` value for `WWW-Authenticate: Bearer`.
    pub bearer_error: Option<&'static str>,
    pub retry_after: Option<u64>,
    cause: Option<anyhow::Error>,
    /// Extra response headers (rate-limit state).
    headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(
        ty: ApiErrorType,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            ty,
            code,
            message: message.into(),
            param: None,
            bearer_error: None,
            retry_after: None,
            cause: None,
            headers: Vec::new(),
        }
    }

    /// Attach extra headers (e.g. `RateLimit`).
    pub fn with_headers(mut self, h: impl IntoIterator<Item = (&'static str, String)>) -> Self {
        self.headers.extend(h);
        self
    }

    /// 429 `rate_limit_exceeded` with `Retry-After` and the rate-limit headers.
    pub fn rate_limited(d: &crate::rate_limit::Decision) -> Self {
        let mut e = Self::new(
            ApiErrorType::RateLimit,
            "rate_limit_exceeded",
            "Too many requests made to the API too quickly",
        );
        e.retry_after = Some(d.retry_after_secs().max(1));
        e.with_headers(d.headers())
    }

    /// 429 `rate_limit_exceeded` with `Retry-After`, for a lock rather than a bucket.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            ApiErrorType::RateLimit,
            "rate_limit_exceeded",
            "Too many failed requests from this address; try again later",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }
    pub fn invalid_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ApiErrorType::InvalidRequest, code, message)
    }
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ApiErrorType::NotFound, "resource_missing", message)
    }
    pub fn with_param(mut self, p: impl Into<Cow<'static, str>>) -> Self {
        self.param = Some(p.into());
        self
    }
    pub fn with_bearer(mut self, e: &'static str) -> Self {
        self.bearer_error = Some(e);
        self
    }
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                ApiErrorType::Api,
                "internal_error",
                "An internal error occurred",
            )
        }
    }
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            retry_after: Some(2),
            ..Self::new(
                ApiErrorType::Unavailable,
                "service_unavailable",
                "The service is temporarily unavailable; retry shortly",
            )
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}: {}", self.ty.wire(), self.code, self.message)?;
        if let Some(c) = &self.cause {
            write!(f, " (cause: {c:?})")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ApiError::unavailable(e),
            StoreError::Conflict(_) => ApiError::new(
                ApiErrorType::Conflict,
                "resource_conflict",
                "The object conflicts with an existing one",
            ),
            StoreError::Other(_) => ApiError::internal(e),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.ty.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            log_server_error(status, self);
        }
        let mut body = json!({
            "type": self.ty.wire(),
            "code": self.code,
            "message": self.message,
        });
        if let Some(p) = &self.param {
            body["param"] = json!(p);
        }
        if let Some(id) = current_request_id() {
            body["request_id"] = json!(id);
        }
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(e) = self.bearer_error {
            let v = format!(
                "Bearer realm=\"latch\", error=\"{e}\", error_description=\"{}\"",
                self.message.replace('"', "'")
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                res.insert_header((header::WWW_AUTHENTICATE, v));
            }
        } else if status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"latch\""));
        }
        if let Some(s) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        for (k, v) in &self.headers {
            res.insert_header((*k, v.as_str()));
        }
        res.json(json!({ "error": body }))
    }
}

// ---------------------------------------------------------------------------------------------
// HTML pages

/// An error shown to a person in a browser (never a redirect).
pub struct HtmlError {
    pub status: StatusCode,
    pub title: Cow<'static, str>,
    pub message: Cow<'static, str>,
    cause: Option<anyhow::Error>,
    retry_after: Option<u64>,
    /// Extra response headers (rate-limit state).
    headers: Vec<(&'static str, String)>,
}

impl HtmlError {
    pub fn new(
        status: StatusCode,
        title: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            title: title.into(),
            message: message.into(),
            cause: None,
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// A friendly 429 page with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "You have made too many requests in a short time. Please wait a moment and try again.",
            )
        }
    }
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Invalid request", message)
    }
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing at this address.",
        )
    }
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "An internal error occurred. Please try again.",
            )
        }
    }
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            retry_after: Some(2),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The service is temporarily unavailable. Please try again in a moment.",
            )
        }
    }
}

impl fmt::Debug for HtmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.message)?;
        if let Some(c) = &self.cause {
            write!(f, " (cause: {c:?})")?;
        }
        Ok(())
    }
}

impl fmt::Display for HtmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.title, self.message)
    }
}

impl From<StoreError> for HtmlError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => HtmlError::unavailable(e),
            _ => HtmlError::internal(e),
        }
    }
}

impl ResponseError for HtmlError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            log_server_error(self.status, self);
        }
        let mut res = crate::pages::error_page(self.status, &self.title, &self.message);
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        for (k, v) in &self.headers {
            if let (Ok(v), Ok(name)) = (HeaderValue::from_str(v), header::HeaderName::try_from(*k))
            {
                res.headers_mut().insert(name, v);
            }
        }
        res
    }
}

// ---------------------------------------------------------------------------------------------
// A rate-limit refusal, in each dialect: `rate_limit::enforce(..).await?`.

impl From<crate::rate_limit::Refused> for OAuthError {
    fn from(r: crate::rate_limit::Refused) -> Self {
        Self::rate_limited(&r.0)
    }
}

impl From<crate::rate_limit::Refused> for ApiError {
    fn from(r: crate::rate_limit::Refused) -> Self {
        Self::rate_limited(&r.0)
    }
}

impl From<crate::rate_limit::Refused> for HtmlError {
    fn from(r: crate::rate_limit::Refused) -> Self {
        Self::too_many_requests(r.0.retry_after_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn oauth_invalid_client_is_401_with_basic_challenge() {
        let res = OAuthError::invalid_client("bad").error_response();
        assert_eq!(res.status(), 401);
        assert!(
            res.headers()
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
        let body = to_bytes(res.into_body()).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "invalid_client");
    }

    #[actix_web::test]
    async fn server_errors_never_show_their_cause() {
        let res =
            OAuthError::server(anyhow::anyhow!("SQLSTATE 42P01 relation missing")).error_response();
        assert_eq!(res.status(), 500);
        let body = to_bytes(res.into_body()).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("SQLSTATE"));
        let res = ApiError::internal(anyhow::anyhow!("sqlx pool")).error_response();
        let body = to_bytes(res.into_body()).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["type"], "api_error");
        assert!(!v.to_string().contains("sqlx"));
    }

    #[test]
    fn api_error_types_map_to_statuses() {
        assert_eq!(ApiError::not_found("x").status_code(), 404);
        assert_eq!(
            ApiError::new(ApiErrorType::Permission, "insufficient_scope", "x").status_code(),
            403
        );
        assert_eq!(
            ApiError::unavailable(anyhow::anyhow!("x")).status_code(),
            503
        );
    }
}
