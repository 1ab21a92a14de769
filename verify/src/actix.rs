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
//!
//! For an API of your own, [`RequireScopes`] guards a resource or scope (401/403 with the
//! full challenge, including `scope` and RFC 9728 `resource_metadata`), and
//! [`protected_resource_metadata`] serves the RFC 9728 document that names Latch:
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use latch_verify::{Verifier, well_known_url, actix::{Authenticated, RequireScopes, protected_resource_metadata}};
//!
//! async fn invoices(auth: Authenticated) -> String {
//!     format!("invoices of {}", auth.sub)
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let api = "https://billing.example.com";
//! let verifier = Verifier::builder("https://auth.example.com")
//!     .api_identifier(api)                                  // tokens' aud must contain it
//!     .resource_metadata_url(well_known_url(api).unwrap())  // advertised in 401s
//!     .discover()
//!     .await
//!     .unwrap();
//! let metadata = verifier.resource_metadata().scopes_supported(["invoices:read"]).resource_name("Billing API");
//! let verifier = web::Data::new(verifier);
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(verifier.clone())
//!         .service(protected_resource_metadata(metadata.clone()))
//!         .service(
//!             web::resource("/invoices")
//!                 .wrap(RequireScopes::all(["invoices:read"]))
//!                 .route(web::get().to(invoices)),
//!         )
//! })
//! .bind("127.0.0.1:8081")?
//! .run()
//! .await
//! # }
//! ```

use std::future::{Future, Ready, ready};
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::{StatusCode, header};
use actix_web::{
    FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, dev::Payload, web,
};

use crate::{Claims, ResourceMetadata, Verifier, VerifyError};

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

    /// The same as [`require_scopes`](Self::require_scopes): every scope in `scopes`.
    pub fn require_all_scopes(&self, scopes: &[&str]) -> Result<&Claims, VerifyError> {
        self.0.require_all_scopes(scopes).map(|()| &self.0)
    }

    /// 403 `insufficient_scope` unless at least one scope in `scopes` was granted.
    pub fn require_any_scope(&self, scopes: &[&str]) -> Result<&Claims, VerifyError> {
        self.0.require_any_scope(scopes).map(|()| &self.0)
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

    /// Reuses what [`RequireScopes`] already verified for this request; otherwise verifies
    /// the bearer credential. A refusal's challenge carries the verifier's
    /// `resource_metadata` URL when one is configured.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(done) = req.extensions().get::<Authenticated>() {
            let done = done.clone();
            return Box::pin(async move { Ok(done) });
        }
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let Some(verifier) = verifier else {
                return Err(no_verifier());
            };
            match verify(&verifier, token).await {
                Ok(claims) => Ok(Authenticated(claims)),
                Err(e) => Err(Refusal::new(e, &verifier).into()),
            }
        })
    }
}

async fn verify(
    verifier: &Verifier,
    token: Result<String, VerifyError>,
) -> Result<Claims, VerifyError> {
    verifier.verify(&token?).await
}

fn no_verifier() -> actix_web::Error {
    actix_web::error::ErrorInternalServerError(
        "latch_verify: no web::Data<Verifier> registered in the App",
    )
}

/// A [`VerifyError`] answered with the verifier's challenge: like the `VerifyError`
/// response, plus `resource_metadata="<url>"` in `WWW-Authenticate` (RFC 9728 §5.1) when the
/// verifier has a [`resource_metadata_url`](crate::VerifierBuilder::resource_metadata_url).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Refusal {
    /// Why the credential was refused.
    pub error: VerifyError,
    /// The RFC 9728 metadata URL to advertise, if any.
    pub resource_metadata: Option<String>,
}

impl Refusal {
    /// `error`, challenged as `verifier` is configured to.
    pub fn new(error: VerifyError, verifier: &Verifier) -> Self {
        Refusal {
            error,
            resource_metadata: verifier.resource_metadata_url().map(str::to_owned),
        }
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        self.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        refusal_response(&self.error, self.resource_metadata.as_deref())
    }
}

impl ResponseError for VerifyError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> HttpResponse {
        refusal_response(self, None)
    }
}

fn refusal_response(e: &VerifyError, resource_metadata: Option<&str>) -> HttpResponse {
    let mut res = HttpResponse::build(e.status_code());
    if matches!(e.status(), 401 | 403) {
        res.insert_header((
            header::WWW_AUTHENTICATE,
            e.www_authenticate_with(resource_metadata),
        ));
    }
    if let VerifyError::Unavailable(_) = e {
        res.insert_header((header::RETRY_AFTER, "5"));
    }
    // RFC 9449 §9: the nonce the client's next proof must carry.
    if let Some(n) = e.dpop_nonce() {
        res.insert_header(("DPoP-Nonce", n));
    }
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    let error = e.error_code().unwrap_or(match e {
        VerifyError::Unavailable(_) => "temporarily_unavailable",
        _ => "invalid_request",
    });
    res.json(serde_json::json!({
        "error": error,
        "error_description": e.description(),
    }))
}

/// Middleware guarding a resource or scope with the `web::Data<Verifier>` of the App: the
/// request needs a valid bearer credential (JWT access token for the verifier's API, or an
/// API key) carrying all (or any) of the given scopes. Otherwise it answers 401
/// `invalid_token` (or a bare challenge when there is no credential) or 403
/// `insufficient_scope` with `WWW-Authenticate: Bearer error="insufficient_scope",
/// scope="…"` (RFC 6750 §3.1), each with `resource_metadata` (RFC 9728 §5.1) when
/// configured. Handlers behind it take [`Authenticated`] without verifying again.
///
/// `web::resource("/invoices").wrap(RequireScopes::all(["invoices:read"]))`
#[derive(Debug, Clone)]
pub struct RequireScopes {
    rule: Arc<Rule>,
}

#[derive(Debug)]
struct Rule {
    scopes: Vec<String>,
    any: bool,
}

impl Rule {
    fn check(&self, claims: &Claims) -> Result<(), VerifyError> {
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        if self.any {
            claims.require_any_scope(&scopes)
        } else {
            claims.require_all_scopes(&scopes)
        }
    }
}

impl RequireScopes {
    /// Every one of `scopes` is required (none: any valid credential passes).
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(scopes, false)
    }

    /// At least one of `scopes` is required (e.g. `invoices:read` or `invoices:write`).
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(scopes, true)
    }

    fn new<I, S>(scopes: I, any: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScopes {
            rule: Arc::new(Rule {
                scopes: scopes.into_iter().map(Into::into).collect(),
                any,
            }),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireScopes
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireScopesMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireScopesMiddleware {
            service: Rc::new(service),
            rule: self.rule.clone(),
        }))
    }
}

/// The service [`RequireScopes`] wraps around a resource.
pub struct RequireScopesMiddleware<S> {
    service: Rc<S>,
    rule: Arc<Rule>,
}

impl<S, B> Service<ServiceRequest> for RequireScopesMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = self.service.clone();
        let rule = self.rule.clone();
        Box::pin(async move {
            let Some(verifier) = req.app_data::<web::Data<Verifier>>().cloned() else {
                return Err(no_verifier());
            };
            let token = bearer_token(req.request()).map(str::to_owned);
            let checked = verify(&verifier, token)
                .await
                .and_then(|c| rule.check(&c).map(|()| c));
            match checked {
                Ok(claims) => {
                    req.extensions_mut().insert(Authenticated(claims));
                    service
                        .call(req)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(e) => {
                    let res = Refusal::new(e, &verifier).error_response();
                    Ok(req.into_response(res).map_into_right_body())
                }
            }
        })
    }
}

/// An actix resource serving `metadata` (RFC 9728 §3.2: `GET`, `200`, `application/json`)
/// at its [`well_known_path`](ResourceMetadata::well_known_path), which is
/// `/.well-known/oauth-protected-resource` for an identifier without a path. Register it
/// with `App::service`. The document is public: any origin may read it (CORS), so browser
/// clients can discover too.
pub fn protected_resource_metadata(metadata: ResourceMetadata) -> actix_web::Resource {
    let body = Arc::new(metadata.to_json());
    web::resource(metadata.well_known_path()).route(web::get().to(move || {
        let body = body.clone();
        async move {
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
                .json(&*body)
        }
    }))
}
