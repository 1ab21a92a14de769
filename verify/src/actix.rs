//! An actix-web extractor (feature `actix`).
//!
//! Register the verifier as `web::Data<Verifier>` (a [`Verifier`] is already cheap to
//! clone, so there is no need for `Data<Arc<Verifier>>`), then take [`Authenticated`] in a
//! handler:
//!
//! ```no_run
//! use actix_web::{App, HttpServer, get, web};
//! use latch_verify::{Verifier, actix::Authenticated};
//!
//! #[get("/hello")]
//! async fn hello(auth: Authenticated) -> actix_web::Result<String> {
//!     auth.require_scopes(&["read"])?; // 403 insufficient_scope otherwise
//!     Ok(format!("hello {}", auth.sub))
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let verifier = web::Data::new(Verifier::discover("https://auth.example.com").await.unwrap());
//! HttpServer::new(move || App::new().app_data(verifier.clone()).service(hello))
//!     .bind("127.0.0.1:8081")?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! Refusals answer 401 (or 403 for scopes, 400 for a malformed `Authorization` header, 503
//! when the authorization server cannot be reached) with `WWW-Authenticate` (RFC 6750 §3)
//! and a JSON body `{"error":"invalid_token","error_description":"…"}`.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};

use crate::{Claims, Verifier, VerifyError};

/// The verified claims of the request's `Authorization: Bearer` credential (a JWT access
/// token or an API key). Derefs to [`Claims`].
#[derive(Debug, Clone)]
pub struct Authenticated(pub Claims);

impl Deref for Authenticated {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}

impl Authenticated {
    /// One line per route: `auth.require_scopes(&["read"])?;` answers 403
    /// `insufficient_scope` unless every scope was granted.
    pub fn require_scopes(&self, scopes: &[&str]) -> Result<&Claims, VerifyError> {
        self.0.require_scopes(scopes).map(|()| &self.0)
    }

    /// The claims, by value.
    pub fn into_inner(self) -> Claims {
        self.0
    }
}

/// The bearer token of a request (RFC 6750 §2.1; the scheme is case-insensitive).
/// Credentials in the query string or body are not looked at.
pub fn bearer_token(req: &HttpRequest) -> Result<&str, VerifyError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(VerifyError::MissingToken);
    };
    if values.next().is_some() {
        return Err(VerifyError::InvalidRequest(
            "The request has more than one Authorization header",
        ));
    }
    let value = value.to_str().map_err(|_| {
        VerifyError::InvalidRequest("The Authorization header is not visible ASCII")
    })?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(VerifyError::MissingToken);
    }
    let token = token.trim_matches(' ');
    if token.is_empty() {
        return Err(VerifyError::InvalidRequest(
            "The Authorization header has no bearer token",
        ));
    }
    Ok(token)
}

impl FromRequest for Authenticated {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let Some(verifier) = verifier else {
                return Err(actix_web::error::ErrorInternalServerError(
                    "latch_verify: no web::Data<Verifier> registered in the App",
                ));
            };
            let claims = verifier.verify(&token?).await?;
            Ok(Authenticated(claims))
        })
    }
}

impl ResponseError for VerifyError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        if matches!(self.status(), 401 | 403) {
            res.insert_header((header::WWW_AUTHENTICATE, self.www_authenticate()));
        }
        if let VerifyError::Unavailable(_) = self {
            res.insert_header((header::RETRY_AFTER, "5"));
        }
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        let error = self.error_code().unwrap_or(match self {
            VerifyError::Unavailable(_) => "temporarily_unavailable",
            _ => "invalid_request",
        });
        res.json(serde_json::json!({
            "error": error,
            "error_description": self.description(),
        }))
    }
}
