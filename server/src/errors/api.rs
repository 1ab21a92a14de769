//! The `/v1` API dialect (DESIGN.md): `{"error":{"type","code","message","param"?,
//! "request_id"}}`, the status from the type, `WWW-Authenticate: Bearer` on 401
//! (RFC 6750 §3).

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::{Extras, StoreError, log_server_error};
use crate::request_id::current_request_id;

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
    extras: Extras,
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
            extras: Extras::default(),
        }
    }

    /// Attach extra headers (e.g. `RateLimit`).
    pub fn with_headers(mut self, h: impl IntoIterator<Item = (&'static str, String)>) -> Self {
        self.extras.headers.extend(h);
        self
    }
    /// Set `Retry-After` (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.extras.retry_after = Some(secs);
        self
    }

    /// 429 `rate_limit_exceeded` with `Retry-After` and the rate-limit headers.
    pub fn rate_limited(d: &crate::rate_limit::Decision) -> Self {
        Self::new(
            ApiErrorType::RateLimit,
            "rate_limit_exceeded",
            "Too many requests made to the API too quickly",
        )
        .with_retry_after(d.retry_after_secs().max(1))
        .with_headers(d.headers())
    }

    /// 429 `rate_limit_exceeded` with `Retry-After`, for a lock rather than a bucket.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self::new(
            ApiErrorType::RateLimit,
            "rate_limit_exceeded",
            "Too many failed requests from this address; try again later",
        )
        .with_retry_after(retry_after.max(1))
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
            extras: Extras::caused(cause.into()),
            ..Self::new(
                ApiErrorType::Api,
                "internal_error",
                "An internal error occurred",
            )
        }
    }
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            extras: Extras::caused(cause.into()).retry_after(2),
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
        self.extras.fmt_cause(f)
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
        if self.bearer_error.is_some() || status == StatusCode::UNAUTHORIZED {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                crate::bearer::challenge(self.bearer_error, &self.message),
            ));
        }
        // RFC 9449 §7.1: `/v1` takes DPoP-bound tokens too, so a refusal that names no
        // token error (no credentials, an unknown key) offers the DPoP scheme beside Bearer.
        if self.bearer_error.is_none() && status == StatusCode::UNAUTHORIZED {
            res.append_header((
                header::WWW_AUTHENTICATE,
                crate::bearer::bare_dpop_challenge(),
            ));
        }
        let mut res = res.json(json!({ "error": body }));
        self.extras.apply(res.headers_mut());
        res
    }
}
