//! Dynamic client registration at `/oauth/register` (RFC 7591) and the client
//! configuration endpoint `/oauth/register/{client_id}` (RFC 7592). The rules are
//! `clients::registration`; this is the HTTP side.
//!
//! Who may call, on whose objects:
//! - `POST /oauth/register`: whoever holds an initial access token an admin made
//!   (`Authorization: Bearer iat_…`, single use; RFC 7591 §3), for any kind of client; or,
//!   only when `LATCH_OPEN_REGISTRATION=true` and with no `Authorization` header, anyone,
//!   for a public client (`token_endpoint_auth_method: none`), limited per IP
//!   (`Policy::RegisterIp`). The new client belongs to no user: it is "registered by an
//!   outside party" (`clients::RegisteredBy::Registration`), unverified until an admin
//!   verifies it, live mode, never a resource server, never first party.
//! - `GET`, `PUT`, `DELETE /oauth/register/{client_id}`: only the holder of that client's
//!   registration access token (RFC 7592 §1.3), which was issued with it and reaches no
//!   other client. A wrong, missing or foreign token and an unknown client are the same
//!   401 (§2: the server should not reveal which).
//!
//! Answers are JSON with `Cache-Control: no-store` (they carry credentials, §3.2.1), errors
//! the OAuth dialect with the RFC 7591 §3.2.2 codes, or RFC 6750 §3.1 `invalid_token` with
//! a `WWW-Authenticate: Bearer` challenge for a bad token.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::audit::{AuditKind, Event};
use crate::clients::registration::{self, Door, RegistrationError, Request};
use crate::errors::{OAuthCode, OAuthError};
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/register", web::post().to(post_register))
        .route("/oauth/register/{client_id}", web::get().to(get_client))
        .route("/oauth/register/{client_id}", web::put().to(put_client))
        .route(
            "/oauth/register/{client_id}",
            web::delete().to(delete_client),
        );
}

/// RFC 6750 §3.1: 401 `invalid_token` with the Bearer challenge.
fn invalid_token(description: &'static str) -> OAuthError {
    let challenge = crate::bearer::challenge(Some("invalid_token"), description);
    OAuthError::new(OAuthCode::InvalidToken, description).with_headers([(
        "www-authenticate",
        challenge.to_str().unwrap_or("Bearer").to_owned(),
    )])
}

impl From<RegistrationError> for OAuthError {
    fn from(e: RegistrationError) -> Self {
        match e {
            RegistrationError::RedirectUri(m) => OAuthError::new(OAuthCode::InvalidRedirectUri, m),
            RegistrationError::Metadata(m) => OAuthError::new(OAuthCode::InvalidClientMetadata, m),
            RegistrationError::SoftwareStatement => OAuthError::new(
                OAuthCode::UnapprovedSoftwareStatement,
                "Software statements are not accepted by this server",
            ),
            RegistrationError::TokenSpent => {
                invalid_token("The initial access token is invalid, expired or already used")
            }
            RegistrationError::Store(s) => s.into(),
        }
    }
}

/// The JSON body of a registration or an update (RFC 7591 §3.1: `application/json`).
fn parse_body(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<Request, OAuthError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(OAuthError::invalid_request(
            "Send the client metadata as application/json (RFC 7591 §3.1)",
        ));
    }
    let metadata: Request = serde_json::from_slice(body).map_err(|e| {
        OAuthError::new(
            OAuthCode::InvalidClientMetadata,
            format!("The client metadata is not valid: {e}"),
        )
    })?;
    // RFC 9701 §6: only an algorithm Latch has a key for (never `none` or HMAC).
    if let Some(alg) = &metadata.introspection_signed_response_alg {
        let algs = crate::introspect::signing_algs(state);
        if !algs.contains(&alg.as_str()) {
            return Err(OAuthError::new(
                OAuthCode::InvalidClientMetadata,
                format!(
                    "introspection_signed_response_alg must be one of {}",
                    algs.join(", ")
                ),
            ));
        }
    }
    Ok(metadata)
}

fn answer(status: actix_web::http::StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// The event of a change made through registration, filed under `user` (the admin whose
/// initial access token registered the client) when there is one.
async fn audit(
    state: &AppState,
    req: &HttpRequest,
    kind: AuditKind,
    user: Option<&str>,
    c: &entity::client::Model,
    door: Option<&str>,
) -> Result<(), OAuthError> {
    let mut detail = json!({
        "client_id": c.id,
        "name": c.name,
        "livemode": c.livemode,
        "via": "registration",
    });
    if let Some(d) = door {
        detail["door"] = json!(d);
    }
    Event::new(kind)
        .user_opt(user)
        .client_ip(crate::client_ip::ClientIp::of(req))
        .user_agent_of(req)
        .detail(detail)
        .record(&state.db)
        .await?;
    Ok(())
}

async fn post_register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let now = state.clock.now();
    let iat = match crate::bearer::from_header(&req) {
        Some(token) => Some(
            registration::usable_iat(&state.db, token, now)
                .await?
                .ok_or_else(|| {
                    invalid_token("The initial access token is invalid, expired or already used")
                })?,
        ),
        None if req.headers().contains_key(header::AUTHORIZATION) => {
            return Err(invalid_token(
                "Send the initial access token as Authorization: Bearer",
            ));
        }
        None if state.settings.open_registration => {
            // RFC 7591 §5: open registration is limited per address before any work.
            if let Some(ip) = crate::middleware::ClientIp::limit_key(&req) {
                crate::rate_limit::enforce(
                    &state.limiter,
                    &state.db,
                    &req,
                    crate::rate_limit::Policy::RegisterIp,
                    &ip,
                )
                .await?;
            }
            None
        }
        None => {
            return Err(invalid_token(
                "Registration needs an initial access token from an administrator",
            ));
        }
    };
    let metadata = parse_body(&state, &req, &body)?;
    let door = match &iat {
        Some(t) => Door::Initial(&t.id),
        None => Door::Open,
    };
    let r = registration::register(
        &state.db,
        &state.catalog.get(),
        &state.rows,
        &state.logos,
        metadata,
        door,
        now,
    )
    .await?;
    state.origins.reload(&state.db).await?;
    audit(
        &state,
        &req,
        AuditKind::ClientCreated,
        iat.as_ref().and_then(|t| t.created_by.as_deref()),
        &r.client,
        Some(if iat.is_some() {
            "initial_access_token"
        } else {
            "open"
        }),
    )
    .await?;
    let mut body = registration::response(&r.client, &state.settings.issuer);
    body["registration_access_token"] = json!(r.access_token);
    if let Some(s) = r.secret {
        body["client_secret"] = json!(s);
    }
    // RFC 7591 §3.2.1: 201 Created.
    Ok(answer(actix_web::http::StatusCode::CREATED, body))
}

/// The client named in the path, if the request carries its registration access token.
async fn authorized(
    state: &AppState,
    req: &HttpRequest,
    client_id: &str,
) -> Result<(entity::client::Model, String), OAuthError> {
    const BAD: &str = "The registration access token is invalid for this client";
    let token = crate::bearer::from_header(req).ok_or_else(|| invalid_token(BAD))?;
    match store::clients::by_id(&state.db, client_id).await? {
        Some(c) if registration::rat_matches(&c, token) => Ok((c, token.to_owned())),
        _ => Err(invalid_token(BAD)),
    }
}

/// RFC 7592 §3: the registration, with the token it was read with.
fn information(state: &AppState, c: &entity::client::Model, token: &str) -> HttpResponse {
    let mut body = registration::response(c, &state.settings.issuer);
    body["registration_access_token"] = json!(token);
    answer(actix_web::http::StatusCode::OK, body)
}

async fn get_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, OAuthError> {
    let (c, token) = authorized(&state, &req, &id).await?;
    Ok(information(&state, &c, &token))
}

async fn put_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let (c, token) = authorized(&state, &req, &id).await?;
    if c.disabled_at.is_some() {
        return Err(OAuthError::new(
            OAuthCode::InvalidClientMetadata,
            "This client is disabled by the server's administrator and cannot be changed",
        ));
    }
    let metadata = parse_body(&state, &req, &body)?;
    let updated = registration::update(
        &state.db,
        &state.catalog.get(),
        &state.rows,
        &state.logos,
        &c,
        metadata,
        state.clock.now(),
    )
    .await?;
    state.origins.reload(&state.db).await?;
    audit(&state, &req, AuditKind::ClientUpdated, None, &updated, None).await?;
    Ok(information(&state, &updated, &token))
}

async fn delete_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, OAuthError> {
    let (c, _) = authorized(&state, &req, &id).await?;
    crate::clients::delete(&state.db, &state.rows, &c).await?;
    state.denied.catch_up(&state.db).await?;
    state.origins.reload(&state.db).await?;
    audit(&state, &req, AuditKind::ClientDeleted, None, &c, None).await?;
    // RFC 7592 §2.3: 204 No Content.
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
