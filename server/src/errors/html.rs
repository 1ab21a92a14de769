//! The HTML dialect: an error page for browser routes, never a redirect (a redirect to the
//! client is `authorize`'s, once the client and redirect URI are verified, RFC 6749 §4.1.2.1).

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::{Extras, StoreError, log_server_error};

/// An error shown to a person in a browser (never a redirect).
pub struct HtmlError {
    pub status: StatusCode,
    pub title: Cow<'static, str>,
    pub message: Cow<'static, str>,
    extras: Extras,
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
            extras: Extras::default(),
        }
    }

    /// A friendly 429 page with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self {
            extras: Extras::default().retry_after(retry_after.max(1)),
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
            extras: Extras::caused(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "An internal error occurred. Please try again.",
            )
        }
    }
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            extras: Extras::caused(cause.into()).retry_after(2),
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
        self.extras.fmt_cause(f)
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
        self.extras.apply(res.headers_mut());
        res
    }
}
