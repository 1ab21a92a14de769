//! The OAuth dialect: RFC 6749 §5.2 JSON (`error`, `error_description`) for `/oauth/*`, with
//! `Cache-Control: no-store`; the error codes of RFC 6749 §5.2 / §4.1.2.1, RFC 6750 §3.1 and
//! OpenID Connect Core §3.1.2.6 and RFC 8707 §2 (`invalid_target`).

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::{Extras, StoreError, log_server_error};

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
    /// RFC 8707 §2: a `resource` that is invalid, unknown or not allowed.
    InvalidTarget,
    /// RFC 9449 §5: the `DPoP` proof is invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: the proof must carry the nonce in the `DPoP-Nonce` header.
    UseDpopNonce,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidToken,
    InsufficientScope,
    ServerError,
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: the `request` parameter (a request object) is not supported.
    RequestNotSupported,
    /// RFC 8628 §3.5: the person has not answered yet; keep polling.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; the interval grows by 5 seconds.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
    /// RFC 7591 §3.2.2: a redirect URI the registration rules refuse.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: any other metadata value refused.
    InvalidClientMetadata,
    /// RFC 7591 §3.2.2: software statements are not accepted here.
    UnapprovedSoftwareStatement,
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
            Self::InvalidTarget => "invalid_target",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::RequestNotSupported => "request_not_supported",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
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
    /// Overrides the status derived from the code (e.g. 429).
    status: Option<StatusCode>,
    extras: Extras,
}

impl OAuthError {
    pub fn new(code: OAuthCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            status: None,
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
    pub fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthCode::InvalidTarget, d)
    }
    pub fn invalid_dpop_proof(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthCode::InvalidDpopProof, d)
    }
    /// RFC 9449 §8: 400 `use_dpop_nonce` with the nonce to use in `DPoP-Nonce`.
    pub fn use_dpop_nonce(nonce: String) -> Self {
        Self::new(
            OAuthCode::UseDpopNonce,
            "The DPoP proof must carry the nonce in the DPoP-Nonce header",
        )
        .with_headers([("dpop-nonce", nonce)])
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthCode::UnauthorizedClient, d)
    }
    pub fn server(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            extras: Extras::caused(cause.into()),
            ..Self::new(
                OAuthCode::ServerError,
                "The server encountered an internal error",
            )
        }
    }
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            extras: Extras::caused(cause.into()).retry_after(2),
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
            extras: Extras::default().retry_after(retry_after.max(1)),
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
        self.extras.fmt_cause(f)
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
        let mut res =
            res.json(json!({ "error": self.code.as_str(), "error_description": self.description }));
        self.extras.apply(res.headers_mut());
        res
    }
}
