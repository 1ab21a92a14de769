//! The second step of sign-in (DESIGN.md "Accounts people can trust"): after a right
//! password, an account with an authenticator app is asked for a code (or a recovery code)
//! at `/login/two-step` before the session is signed in, and before any consent or redirect
//! to an app; under `LATCH_REQUIRE_MFA` an account without one sets it up first at
//! `/login/two-step/setup`. Until then the session holds only a [`session::Pending`] sign-in,
//! good for `session::PENDING_SECS`. Wrong codes count against the same failure locks as
//! wrong passwords (RFC 6819 §5.1.4.2.3), per IP and per account.
//!
//! Who may call: anyone holding a pending sign-in in their session; on whose objects: only
//! that pending account; mode: browser pages (CSRF and `Origin` checked on every POST).

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use crate::audit::{AuditKind, Event};
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::pages::{asset_version, render};
use crate::rate_limit::FailureKind;
use crate::session::{self, Pending, check_origin, csrf_token, verify_csrf};
use crate::state::AppState;
use crate::store;
use crate::users::mfa::{self, Passed};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/two-step", web::get().to(get_two_step))
        .route("/login/two-step", web::post().to(post_two_step))
        .route("/login/two-step/setup", web::get().to(get_setup))
        .route("/login/two-step/setup", web::post().to(post_setup));
}

/// After a right password: `Some(redirect)` when the sign-in needs a second step (or a
/// set-up under `LATCH_REQUIRE_MFA`), having kept the pending sign-in; `None` when the
/// password is all this account needs.
pub async fn after_password(
    state: &AppState,
    session: &Session,
    user: &entity::user::Model,
    next: &str,
) -> Result<Option<HttpResponse>, HtmlError> {
    let has_totp = mfa::enabled(&state.db, &user.id).await?;
    if !has_totp && !state.settings.require_mfa {
        return Ok(None);
    }
    session::set_pending(
        session,
        &Pending {
            uid: user.id.clone(),
            at: state.clock.now().timestamp(),
            next: next.to_owned(),
            setup: !has_totp,
        },
    )?;
    let to = if has_totp {
        "/login/two-step"
    } else {
        "/login/two-step/setup"
    };
    Ok(Some(see_other(to)))
}

/// The second-step form's answer is a redirect to `next`; when that is an authorization
/// request, it goes on to the app's redirect URI, which `form-action` must then allow (CSP 3
/// applies it across redirects), as on the sign-in page (`authorize::csp`).
async fn allow_app_redirect(state: &AppState, next: &str, res: &mut HttpResponse) {
    let app = super::client_for(state, next).await;
    if let Some(uri) = app.as_ref().and_then(|a| a.redirect_uri.as_deref())
        && let Ok(v) = header::HeaderValue::from_str(&crate::authorize::csp::with_redirect(uri))
    {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}

/// The pending sign-in and its account, or a page that says it is gone (expired, or
/// never started), sending the person back to sign in.
async fn pending_user(
    state: &AppState,
    session: &Session,
) -> Result<Result<(Pending, entity::user::Model), HttpResponse>, HtmlError> {
    let again = Err(see_other("/login"));
    let Some(p) = session::pending(session, state.clock.now().timestamp()) else {
        return Ok(again);
    };
    match store::users::by_id(&state.db, &p.uid).await? {
        Some(u) if u.disabled_at.is_none() => Ok(Ok((p, u))),
        _ => {
            session::clear_pending(session);
            Ok(again)
        }
    }
}

#[derive(Template)]
#[template(path = "two_step.html")]
struct TwoStepPage<'a> {
    version: &'static str,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

async fn get_two_step(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, HtmlError> {
    let (p, user) = match pending_user(&state, &session).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if p.setup {
        return Ok(see_other("/login/two-step/setup"));
    }
    let csrf = csrf_token(&session)?;
    let mut res = render(
        StatusCode::OK,
        &TwoStepPage {
            version: asset_version(),
            csrf: &csrf,
            email: &user.email,
            error: None,
        },
    );
    allow_app_redirect(&state, &p.next, &mut res).await;
    Ok(res)
}

#[derive(Deserialize)]
struct CodeForm {
    /// Missing → 403 like a wrong token (RFC 6749 §10.12).
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

async fn post_two_step(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, HtmlError> {
    check_origin(&req, &state)?;
    verify_csrf(&session, &form.csrf)?;
    let (p, user) = match pending_user(&state, &session).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if p.setup {
        return Ok(see_other("/login/two-step/setup"));
    }
    let ip_key = ClientIp::limit_key(&req).unwrap_or_default();
    let account_key = store::users::normalize_email(&user.email);
    throttle(&state, &req, &ip_key, &account_key).await?;

    let now = state.clock.now();
    let passed = mfa::verify(&state.db, &state.sealer, &user.id, &form.code, now).await?;
    let Some(passed) = passed else {
        failed(&state, &req, &user.id, &ip_key, &account_key).await?;
        let csrf = csrf_token(&session)?;
        let mut res = render(
            StatusCode::UNAUTHORIZED,
            &TwoStepPage {
                version: asset_version(),
                csrf: &csrf,
                email: &user.email,
                error: Some("That code is not right, or was already used. Try the next one."),
            },
        );
        allow_app_redirect(&state, &p.next, &mut res).await;
        return Ok(res);
    };
    state
        .limiter
        .succeed(FailureKind::LoginAccount, &account_key)
        .await;
    if passed == Passed::RecoveryCode {
        let left = mfa::recovery_codes_left(&state.db, &user.id).await?;
        audit(&req, AuditKind::RecoveryCodeUsed, &user.id)
            .detail(json!({"recovery_codes_left": left}))
            .record(&state.db)
            .await?;
    }
    finish(&state, &req, &session, &user.id, passed).await?;
    Ok(see_other(&p.next))
}

fn audit<'a>(req: &'a HttpRequest, kind: AuditKind, user_id: &'a str) -> Event<'a> {
    Event::new(kind)
        .user(user_id)
        .client_ip(ClientIp::of(req))
        .user_agent_of(req)
}

/// Refuse while a failure lock runs (the same locks as the password's).
async fn throttle(
    state: &AppState,
    req: &HttpRequest,
    ip_key: &str,
    account_key: &str,
) -> Result<(), HtmlError> {
    let policy = crate::rate_limit::Policy::LoginIp;
    crate::rate_limit::enforce(&state.limiter, &state.db, req, policy, ip_key).await?;
    for (kind, key) in [
        (FailureKind::LoginIp, ip_key),
        (FailureKind::LoginAccount, account_key),
    ] {
        if let Some(wait) = state.limiter.locked(kind, key).await {
            return Err(HtmlError::too_many_requests(wait.as_secs().max(1)));
        }
    }
    Ok(())
}

/// Count a wrong code like a wrong password, and record it.
async fn failed(
    state: &AppState,
    req: &HttpRequest,
    user_id: &str,
    ip_key: &str,
    account_key: &str,
) -> Result<(), HtmlError> {
    metrics::counter!("latch_signin_failed_total").increment(1);
    state.limiter.fail(FailureKind::LoginIp, ip_key).await;
    let locked = state
        .limiter
        .fail(FailureKind::LoginAccount, account_key)
        .await;
    if let Some(lock) = locked {
        audit(req, AuditKind::SigninLocked, user_id)
            .detail(json!({"reason": "repeated wrong two-step codes", "locked_seconds": lock.as_secs().max(1)}))
            .record(&state.db)
            .await?;
    }
    audit(req, AuditKind::SecondStepFailed, user_id)
        .record(&state.db)
        .await?;
    Ok(())
}

/// Sign the session in with both steps (`amr` `pwd otp`: a recovery code is a one-time
/// password too, RFC 8176 §2) and record it.
async fn finish(
    state: &AppState,
    req: &HttpRequest,
    session: &Session,
    user_id: &str,
    passed: Passed,
) -> Result<(), HtmlError> {
    session::clear_pending(session);
    session::start(state, session, req, user_id, &["pwd", "otp"]).await?;
    let via = match passed {
        Passed::Otp => "otp",
        Passed::RecoveryCode => "recovery_code",
    };
    audit(req, AuditKind::SigninSucceeded, user_id)
        .detail(json!({"second_step": via}))
        .record(&state.db)
        .await?;
    Ok(())
}

#[derive(Template)]
#[template(path = "two_step_setup.html")]
struct SetupPage<'a> {
    version: &'static str,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    secret: &'a str,
    uri: &'a str,
    qr_svg: &'a str,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    version: &'static str,
    codes: &'a [String],
    next: &'a str,
}

async fn setup_page(
    state: &AppState,
    session: &Session,
    user: &entity::user::Model,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, HtmlError> {
    let issuer = crate::brand::current().name().to_owned();
    let e = match mfa::pending(&state.db, &state.sealer, user, &issuer).await? {
        Some(e) => e,
        None => mfa::begin(&state.db, &state.sealer, user, &issuer, state.clock.now()).await?,
    };
    let csrf = csrf_token(session)?;
    let mut res = render(
        status,
        &SetupPage {
            version: asset_version(),
            csrf: &csrf,
            email: &user.email,
            error,
            secret: &e.secret_b32,
            uri: &e.uri,
            qr_svg: &e.qr_svg,
        },
    );
    no_store(&mut res);
    Ok(res)
}

/// Pages showing a secret (the TOTP key, recovery codes) stay out of every cache.
fn no_store(res: &mut HttpResponse) {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
}

async fn get_setup(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, HtmlError> {
    let (p, user) = match pending_user(&state, &session).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if !p.setup {
        return Ok(see_other("/login/two-step"));
    }
    setup_page(&state, &session, &user, StatusCode::OK, None).await
}

async fn post_setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, HtmlError> {
    check_origin(&req, &state)?;
    verify_csrf(&session, &form.csrf)?;
    let (p, user) = match pending_user(&state, &session).await? {
        Ok(v) => v,
        Err(r) => return Ok(r),
    };
    if !p.setup {
        return Ok(see_other("/login/two-step"));
    }
    let ip_key = ClientIp::limit_key(&req).unwrap_or_default();
    let account_key = store::users::normalize_email(&user.email);
    throttle(&state, &req, &ip_key, &account_key).await?;
    let now = state.clock.now();
    let Some(codes) = mfa::confirm(&state.db, &state.sealer, &user.id, &form.code, now).await?
    else {
        failed(&state, &req, &user.id, &ip_key, &account_key).await?;
        return setup_page(
            &state,
            &session,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("That code is not right. Check the app and type the code it shows now."),
        )
        .await;
    };
    state
        .limiter
        .succeed(FailureKind::LoginAccount, &account_key)
        .await;
    audit(&req, AuditKind::TotpEnabled, &user.id)
        .detail(json!({"at_sign_in": true}))
        .record(&state.db)
        .await?;
    finish(&state, &req, &session, &user.id, Passed::Otp).await?;
    // Shown once, in this answer (never cached): the codes are kept only as digests.
    let mut res = render(
        StatusCode::OK,
        &RecoveryCodesPage {
            version: asset_version(),
            codes: &codes,
            next: &p.next,
        },
    );
    no_store(&mut res);
    Ok(res)
}
