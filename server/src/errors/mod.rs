//! The three error dialects (DESIGN.md), as types, so an endpoint cannot answer in the wrong one:
//! - `OAuthError` (`oauth.rs`): RFC 6749 §5.2 JSON for `/oauth/*`;
//! - `ApiError` (`api.rs`): the `/v1` API format with a `request_id`;
//! - `HtmlError` (`html.rs`): an HTML error page for browser routes.
//!
//! All three carry the same `Extras` (cause, `Retry-After`, extra headers). Every 5xx is
//! logged with its cause and answered with a fixed message: no driver, SQL or stack text ever
//! reaches a body. A database that cannot be reached is a 503 with `Retry-After`, never a
//! 500. Answers made outside any handler pick their dialect by path (`by_path`).

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

mod api;
pub mod by_path;
mod html;
mod oauth;

pub use crate::store::StoreError;
pub use api::{ApiError, ApiErrorType};
pub use html::HtmlError;
pub use oauth::{OAuthCode, OAuthError};

fn log_server_error(status: StatusCode, cause: &dyn fmt::Debug) {
    tracing::error!(status = status.as_u16(), error = ?cause, "request failed");
}

/// What every dialect carries besides its body: the cause (logged with 5xx, never sent),
/// `Retry-After` (RFC 9110 §10.2.3) and extra headers (rate-limit state).
#[derive(Default)]
struct Extras {
    cause: Option<anyhow::Error>,
    retry_after: Option<u64>,
    headers: Vec<(&'static str, String)>,
}

impl Extras {
    fn caused(cause: anyhow::Error) -> Self {
        Extras {
            cause: Some(cause),
            ..Extras::default()
        }
    }

    fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The ` (cause: …)` suffix of a dialect's `Debug`.
    fn fmt_cause(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.cause {
            write!(f, " (cause: {c:?})")?;
        }
        Ok(())
    }

    /// Put `Retry-After` and the extra headers on a response.
    fn apply(&self, h: &mut HeaderMap) {
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        for (k, v) in &self.headers {
            if let (Ok(name), Ok(v)) = (HeaderName::try_from(*k), HeaderValue::from_str(v)) {
                h.insert(name, v);
            }
        }
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
    use actix_web::ResponseError;
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
