//! "Sign in with a passkey" (DESIGN.md "Accounts people can trust"; W3C WebAuthn Level 3
//! §7.2): the sign-in page's button runs `static/passkey.js`, which calls
//! `POST /login/passkey/begin` for the request options (a challenge kept server-side, used
//! once, `users::passkeys`), asks the browser for any passkey of this site (discoverable
//! credentials: no email typed), and posts the assertion to `POST /login/passkey/finish`.
//! A verified assertion signs the session in with `amr` `hwk`/`swk` `user` `mfa` (RFC 8176;
//! user verification is required, so no second step follows and `LATCH_REQUIRE_MFA` is
//! met), and the answer names the page to continue to (`next`: consent, the authorization
//! request), exactly as after a password and second step.
//!
//! Failed assertions count against the sign-in failure locks (RFC 6819 §5.1.4.2.3): per IP
//! always, and per account when the credential is a registered one. A valid passkey is not
//! refused by the per-account lock: that lock stops password guessing, a passkey assertion
//! cannot be guessed, and honouring it would let anyone who knows an address lock its owner
//! out of this way in too.
//!
//! Who may call: anyone with this site's session cookie and its CSRF token (the sign-in page
//! sets both); on whose objects: the account of the passkey presented, proven by its
//! signature; mode: JSON for the page's script, `Origin` and CSRF checked on both POSTs.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

use crate::audit::{AuditKind, Event};
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::rate_limit::FailureKind;
use crate::session::{self, check_origin, verify_csrf};
use crate::state::AppState;
use crate::store;
use crate::users::passkeys::{self, PasskeyError};

const SIGNIN: &str = "signin";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/passkey/begin", web::post().to(post_begin))
        .route("/login/passkey/finish", web::post().to(post_finish));
}

/// The relying party of this site, when it has one (the issuer's host is a domain name).
pub fn relying_party(state: &AppState) -> Option<webauthn_rs::prelude::Webauthn> {
    passkeys::relying_party(&state.settings.issuer, crate::brand::current().name())
}

/// A JSON answer for the page's script: `{"error": "…"}`.
pub fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message }))
}

/// The answer for a ceremony that did not pass (store failures stay errors).
pub fn refusal(e: PasskeyError) -> Result<HttpResponse, HtmlError> {
    let status = match e {
        // Unavailable database: 503 with `Retry-After`, as on every page.
        PasskeyError::Store(e) => return Err(e.into()),
        PasskeyError::Unavailable => StatusCode::NOT_FOUND,
        PasskeyError::Expired | PasskeyError::BadName => StatusCode::BAD_REQUEST,
        PasskeyError::Rejected | PasskeyError::UnknownCredential => StatusCode::UNAUTHORIZED,
        PasskeyError::Duplicate | PasskeyError::TooMany => StatusCode::CONFLICT,
    };
    Ok(json_error(status, &e.to_string()))
}

/// `Origin` and CSRF, answered in JSON for the script.
pub fn check(
    req: &HttpRequest,
    state: &AppState,
    session: &Session,
    csrf: &str,
) -> Option<HttpResponse> {
    if check_origin(req, state).is_err() {
        return Some(json_error(
            StatusCode::FORBIDDEN,
            "Cross-site requests are not allowed.",
        ));
    }
    if verify_csrf(session, csrf).is_err() {
        return Some(json_error(
            StatusCode::FORBIDDEN,
            "This page has expired. Reload it and try again.",
        ));
    }
    None
}

/// Parse a JSON body, or the 400 that says why not.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, HttpResponse> {
    serde_json::from_slice(body).map_err(|_| {
        json_error(
            StatusCode::BAD_REQUEST,
            "The request body is not what this endpoint expects.",
        )
    })
}

#[derive(Deserialize)]
struct BeginBody {
    #[serde(default)]
    csrf: String,
}

async fn post_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let b: BeginBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    if let Some(r) = check(&req, &state, &session, &b.csrf) {
        return Ok(r);
    }
    let ip_key = ClientIp::limit_key(&req).unwrap_or_default();
    throttle_ip(&state, &req, &ip_key).await?;
    let Some(rp) = relying_party(&state) else {
        return refusal(PasskeyError::Unavailable);
    };
    let (id, options) = match passkeys::begin_signin(&state.db, &rp, state.clock.now()).await {
        Ok(v) => v,
        Err(e) => return refusal(e),
    };
    session::set_passkey_ceremony(&session, SIGNIN, &id)?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(options))
}

#[derive(Deserialize)]
struct FinishBody {
    #[serde(default)]
    csrf: String,
    next: Option<String>,
    credential: serde_json::Value,
}

async fn throttle_ip(state: &AppState, req: &HttpRequest, ip_key: &str) -> Result<(), HtmlError> {
    let policy = crate::rate_limit::Policy::LoginIp;
    crate::rate_limit::enforce(&state.limiter, &state.db, req, policy, ip_key).await?;
    if let Some(wait) = state.limiter.locked(FailureKind::LoginIp, ip_key).await {
        return Err(HtmlError::too_many_requests(wait.as_secs().max(1)));
    }
    Ok(())
}

async fn post_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let b: FinishBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    if let Some(r) = check(&req, &state, &session, &b.csrf) {
        return Ok(r);
    }
    let ip_key = ClientIp::limit_key(&req).unwrap_or_default();
    throttle_ip(&state, &req, &ip_key).await?;
    let Some(rp) = relying_party(&state) else {
        return refusal(PasskeyError::Unavailable);
    };
    let next = super::safe_next(b.next.as_deref());
    let Some(ceremony) = session::take_passkey_ceremony(&session, SIGNIN) else {
        return refusal(PasskeyError::Expired);
    };
    let outcome = match serde_json::from_value::<PublicKeyCredential>(b.credential) {
        Ok(cred) => {
            passkeys::finish_signin(&state.db, &rp, &ceremony, &cred, state.clock.now()).await
        }
        Err(_) => Err(PasskeyError::Rejected.into()),
    };
    let signed = match outcome {
        Ok(s) => s,
        Err(f) => {
            if let PasskeyError::Store(e) = f.error {
                return Err(e.into());
            }
            failed(&state, &req, &ip_key, f.user_id.as_deref()).await?;
            return refusal(f.error);
        }
    };
    let Some(user) = store::users::by_id(&state.db, &signed.user_id).await? else {
        return refusal(PasskeyError::UnknownCredential);
    };
    if user.disabled_at.is_some() {
        failed(&state, &req, &ip_key, None).await?;
        return refusal(PasskeyError::Rejected);
    }
    session::start(&state, &session, &req, &user.id, &signed.amr).await?;
    Event::new(AuditKind::SigninSucceeded)
        .user(&user.id)
        .client_ip(ClientIp::of(&req))
        .user_agent_of(&req)
        .detail(json!({"method": "passkey", "passkey_id": signed.passkey_id}))
        .record(&state.db)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "redirect": next })))
}

/// A failed assertion counts like a wrong password: against this IP, and against the
/// account when the credential is one of its passkeys.
async fn failed(
    state: &AppState,
    req: &HttpRequest,
    ip_key: &str,
    user_id: Option<&str>,
) -> Result<(), HtmlError> {
    metrics::counter!("latch_signin_failed_total").increment(1);
    state.limiter.fail(FailureKind::LoginIp, ip_key).await;
    let Some(uid) = user_id else {
        return Ok(());
    };
    let Some(user) = store::users::by_id(&state.db, uid).await? else {
        return Ok(());
    };
    let account_key = store::users::normalize_email(&user.email);
    let locked = state
        .limiter
        .fail(FailureKind::LoginAccount, &account_key)
        .await;
    let event = |kind| {
        Event::new(kind)
            .user(uid)
            .client_ip(ClientIp::of(req))
            .user_agent_of(req)
    };
    if let Some(lock) = locked {
        event(AuditKind::SigninLocked)
            .detail(json!({"reason": "repeated failed passkey sign-ins", "locked_seconds": lock.as_secs().max(1)}))
            .record(&state.db)
            .await?;
    }
    event(AuditKind::SigninFailed)
        .detail(json!({"method": "passkey"}))
        .record(&state.db)
        .await?;
    Ok(())
}
