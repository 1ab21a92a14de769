//! CORS for browser apps (DESIGN.md "Browser apps (CORS)", Fetch Standard §3.2): the one
//! middleware that answers preflights and adds the response headers, by path.
//!
//! - `/.well-known/*` (metadata, JWKS): `Access-Control-Allow-Origin: *`, public documents.
//! - The endpoints a browser app calls ([`ENDPOINTS`]: token, revocation, userinfo, device
//!   authorization): a preflight from an origin some enabled client allows
//!   ([`crate::clients::origins::OriginSet`], in memory) gets 204 with that origin echoed
//!   (never `*`), the methods, the headers and a max-age. The actual response carries the
//!   origin only when the client that authenticated — for userinfo, the token's client —
//!   allows it: the handler names that client with [`mark`] once it is known, so an error
//!   answered before authentication carries no CORS header and a browser hides it.
//! - Anything else (authorize, introspect, pages, dashboard, `/v1`): no CORS header at all.
//!
//! No `Access-Control-Allow-Credentials`: these endpoints never read cookies.

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, web};
use entity::client;

use crate::clients::origins;
use crate::state::AppState;

/// The endpoints a browser app may call, with their methods.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("/oauth/token", "POST"),
    ("/oauth/revoke", "POST"),
    ("/oauth/userinfo", "GET, POST"),
    ("/oauth/device_authorization", "POST"),
];
/// The request headers a browser app may send (DPoP, RFC 9449 §4.1, included).
pub const ALLOW_HEADERS: &str = "authorization, content-type, dpop";
/// Response headers a browser app may read besides the safelisted ones.
pub const EXPOSE_HEADERS: &str = "WWW-Authenticate, DPoP-Nonce, Retry-After";
/// How long a browser may reuse a preflight answer (Chromium caps it at 2 hours).
pub const MAX_AGE_SECS: u32 = 600;

/// The client whose origins decide the actual response's CORS header.
#[derive(Clone)]
struct CorsClient(Arc<client::Model>);

/// Name the client this request acts for (authenticated, or the access token's client):
/// its allowed origins decide whether the response carries `Access-Control-Allow-Origin`.
pub fn mark(req: &HttpRequest, client: &Arc<client::Model>) {
    req.extensions_mut().insert(CorsClient(client.clone()));
}

fn origin_of(req: &ServiceRequest) -> Option<String> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

/// The middleware (wrapped once around the whole app).
pub async fn answer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.path().starts_with("/.well-known/") {
        let mut res = next.call(req).await?.map_into_boxed_body();
        res.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        return Ok(res);
    }
    let Some(&(_, methods)) = ENDPOINTS.iter().find(|(p, _)| *p == req.path()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let origin = origin_of(&req);
    if req.method() == Method::OPTIONS {
        return Ok(preflight(req, origin, methods));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let allowed = origin.filter(|o| {
        res.request()
            .extensions()
            .get::<CorsClient>()
            .is_some_and(|c| origins::allows(&c.0, o))
    });
    let h = res.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(v) = allowed.as_deref().and_then(value) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    Ok(res)
}

/// A preflight (Fetch §3.2.2): 204, with the CORS headers only for an origin some client
/// allows asking for a method the endpoint has. Answered here, before routing: nothing
/// is read and no handler runs.
fn preflight(
    req: ServiceRequest,
    origin: Option<String>,
    methods: &'static str,
) -> ServiceResponse {
    let known = req
        .app_data::<web::Data<AppState>>()
        .zip(origin.as_deref())
        .is_some_and(|(state, o)| state.origins.contains(o));
    let method_ok = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| methods.split(", ").any(|x| x == m));
    let mut res = HttpResponse::build(StatusCode::NO_CONTENT);
    res.insert_header((header::ALLOW, methods))
        .insert_header((header::VARY, "Origin"));
    if known
        && method_ok
        && let Some(o) = origin.as_deref().and_then(value)
    {
        res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, o))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECS.to_string()));
    }
    req.into_response(res.finish())
}
