//! Password reset (DESIGN.md "Accounts people can trust"): `GET/POST /password/forgot`
//! asks for the email and mails a link; `GET/POST /password/reset?token=…` sets the new
//! password. The link's rules are `users::links` (single use, 30 minutes, stored as
//! SHA-256; the new password ends every session and refresh token).
//!
//! Who may call: anyone, with the session's CSRF token and no cross-site `Origin` (RFC 6749
//! §10.12). On whose objects: only the account the mailbox belongs to, proven by the link.
//! Enumeration (OWASP Authentication CS): `/password/forgot` answers byte for byte the same
//! page whether or not the account exists, after the same steps (limits, lookup, one write
//! transaction); only a real, enabled account gets a mail. Throttled per IP
//! (`LATCH_LIMIT_PASSWORD_RESET_IP`, a 429 page) and per account
//! (`LATCH_LIMIT_PASSWORD_RESET_ACCOUNT`: beyond it the answer is the same and no mail
//! goes, so neither a flood of mails nor the limit tells anything).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use crate::audit::{AuditKind, Event};
use crate::errors::{HtmlError, StoreError};
use crate::middleware::ClientIp;
use crate::pages::{asset_version, message_page, render};
use crate::rate_limit::Policy;
use crate::session::{check_origin, csrf_token, verify_csrf};
use crate::state::AppState;
use crate::store;
use crate::users::UserError;
use crate::users::links::{self, Purpose, ResetError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/password/forgot", web::get().to(get_forgot))
        .route("/password/forgot", web::post().to(post_forgot))
        .route("/password/reset", web::get().to(get_reset))
        .route("/password/reset", web::post().to(post_reset));
}

#[derive(Template)]
#[template(path = "password_forgot.html")]
struct ForgotPage<'a> {
    version: &'static str,
    csrf: &'a str,
    mail_enabled: bool,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage<'a> {
    version: &'static str,
    csrf: &'a str,
    token: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

async fn get_forgot(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, HtmlError> {
    let csrf = csrf_token(&session)?;
    Ok(render(
        StatusCode::OK,
        &ForgotPage {
            version: asset_version(),
            csrf: &csrf,
            mail_enabled: state.mail.enabled(),
        },
    ))
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    email: String,
    /// Missing → 403 like a wrong token (RFC 6749 §10.12).
    #[serde(default)]
    csrf: String,
}

/// The one answer to every well-formed request.
fn sent_page() -> HttpResponse {
    message_page(
        StatusCode::OK,
        "Check your email",
        "If an account uses this address, we sent it a link to choose a new password. The link \
         works once, for 30 minutes. No mail? Check the spam folder, or ask again in a few minutes.",
        Some(("/login", "Back to sign in")),
    )
}

async fn post_forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, HtmlError> {
    check_origin(&req, &state)?;
    verify_csrf(&session, &form.csrf)?;
    if !state.mail.enabled() {
        return Err(HtmlError::new(
            StatusCode::NOT_FOUND,
            "Password reset by email is not available",
            "Mail is not set up on this server. Ask an administrator for a reset link.",
        ));
    }
    let ip_key = ClientIp::limit_key(&req).unwrap_or_default();
    crate::rate_limit::enforce(
        &state.limiter,
        &state.db,
        &req,
        Policy::PasswordResetIp,
        &ip_key,
    )
    .await?;
    let typed = form.email.trim();
    if !crate::users::valid_email(typed) {
        // Depends only on what was typed, never on whether an account exists.
        return Err(HtmlError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That is not an email address",
            "Go back and enter the email address of your account.",
        ));
    }
    // Per account, known or not: the same bucket work for every address.
    let account_key = store::users::normalize_email(typed);
    let policy = Policy::PasswordResetAccount;
    let allowed = state
        .limiter
        .check(
            policy.name(),
            policy.rate(&state.limiter.limits),
            &account_key,
        )
        .await
        .allowed;
    let now = state.clock.now();
    let user = store::users::by_email(&state.db, typed).await?;
    let ip = ClientIp::of(&req).map(|i| i.to_string());
    let ua = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    // One write transaction either way, so the two cases cost alike.
    let tx = store::begin_write(&state.db).await?;
    let mut queued = false;
    if let Some(u) = user.as_ref().filter(|u| u.disabled_at.is_none())
        && allowed
    {
        links::mail(
            &*tx,
            &links::Outbox {
                mailer: &state.mail,
                sealer: &state.sealer,
                issuer: &state.settings.issuer,
                brand: state.settings.brand.name(),
            },
            u,
            Purpose::PasswordReset,
            now,
        )
        .await
        .map_err(user_error)?;
        Event::new(AuditKind::PasswordResetRequested)
            .user(&u.id)
            .ip(ip.clone())
            .user_agent(ua)
            .record(&*tx)
            .await?;
        queued = true;
    }
    tx.commit().await.map_err(StoreError::from)?;
    if queued {
        state.mail.wake();
    } else if let Some(u) = &user
        && !allowed
    {
        tracing::info!(user = %u.id, "password reset: per-account limit reached; no mail sent");
    }
    Ok(sent_page())
}

fn user_error(e: UserError) -> HtmlError {
    match e {
        UserError::Store(s) => s.into(),
        other => HtmlError::internal(anyhow::anyhow!("{other}")),
    }
}

fn invalid_link() -> HttpResponse {
    message_page(
        StatusCode::BAD_REQUEST,
        "This link is no longer valid",
        "Password reset links work once, for 30 minutes. Ask for a new one.",
        Some(("/password/forgot", "Ask for a new link")),
    )
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn get_reset(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, HtmlError> {
    let now = state.clock.now();
    let Some(user) = links::peek(&state.db, &q.token, Purpose::PasswordReset, now).await? else {
        return Ok(invalid_link());
    };
    let csrf = csrf_token(&session)?;
    Ok(render(
        StatusCode::OK,
        &ResetPage {
            version: asset_version(),
            csrf: &csrf,
            token: &q.token,
            email: &user.email,
            error: None,
        },
    ))
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn post_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, HtmlError> {
    check_origin(&req, &state)?;
    verify_csrf(&session, &form.csrf)?;
    let ip_key = ClientIp::limit_key(&req).unwrap_or_default();
    crate::rate_limit::enforce(
        &state.limiter,
        &state.db,
        &req,
        Policy::PasswordResetIp,
        &ip_key,
    )
    .await?;
    let now = state.clock.now();
    match links::reset_password(&state.db, &form.token, &form.password, now).await {
        Ok(user) => {
            // Sessions and refresh tokens ended in the transaction; make this instance's
            // deny list and row cache see it at once.
            state.denied.catch_up(&state.db).await?;
            state.rows.forget_user(&user.id);
            Event::new(AuditKind::PasswordReset)
                .user(&user.id)
                .client_ip(ClientIp::of(&req))
                .user_agent_of(&req)
                .detail(json!({"via": "email link"}))
                .record(&state.db)
                .await?;
            // This browser may have been signed in as someone: it is not any more.
            session.purge();
            Ok(message_page(
                StatusCode::OK,
                "Your password was changed",
                "Every device that was signed in to your account has been signed out. Sign in \
                 with your new password.",
                Some(("/login?next=/dashboard", "Sign in")),
            ))
        }
        Err(ResetError::User(UserError::WeakPassword)) => {
            let now = state.clock.now();
            let Some(user) =
                links::peek(&state.db, &form.token, Purpose::PasswordReset, now).await?
            else {
                return Ok(invalid_link());
            };
            let csrf = csrf_token(&session)?;
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ResetPage {
                    version: asset_version(),
                    csrf: &csrf,
                    token: &form.token,
                    email: &user.email,
                    error: Some("Choose a password of at least 10 characters."),
                },
            ))
        }
        Err(ResetError::InvalidLink) => Ok(invalid_link()),
        Err(ResetError::User(e)) => Err(user_error(e)),
    }
}
