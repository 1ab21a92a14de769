//! Email verification (DESIGN.md "Accounts people can trust"): sign-up mails a link to
//! `/email/verify?token=…` (single use, 24 hours, stored as SHA-256; `users::links`);
//! opening it marks the address verified, which the ID token's and userinfo's
//! `email_verified` then say (OIDC Core §5.1). `POST /email/verify/resend` mails a new link.
//!
//! Who may call: `GET /email/verify` anyone holding the link (it proves the mailbox); the
//! resend only the signed-in person, for their own address, with the session's CSRF token,
//! at most `LATCH_LIMIT_VERIFY_RESEND` per account.

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::safe_next;
use crate::audit::{AuditKind, Event};
use crate::errors::{HtmlError, StoreError};
use crate::middleware::ClientIp;
use crate::pages::message_page;
use crate::rate_limit::Policy;
use crate::session::{check_origin, current_user, verify_csrf};
use crate::state::AppState;
use crate::store;
use crate::users::links::{self, Purpose};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/email/verify", web::get().to(get_verify))
        .route("/email/verify/resend", web::post().to(post_resend));
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn get_verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, HtmlError> {
    let now = state.clock.now();
    match links::verify_email(&state.db, &q.token, now).await? {
        Some(user) => {
            state.rows.forget_user(&user.id);
            Event::new(AuditKind::EmailVerified)
                .user(&user.id)
                .client_ip(ClientIp::of(&req))
                .user_agent_of(&req)
                .record(&state.db)
                .await?;
            Ok(message_page(
                StatusCode::OK,
                "Your email is verified",
                "Thank you. You can close this page, or go back to what you were doing.",
                Some(("/dashboard", "Continue")),
            ))
        }
        None => Ok(message_page(
            StatusCode::BAD_REQUEST,
            "This link is no longer valid",
            "Verification links work once, for 24 hours, and only while the account keeps the \
             address they were sent to. Sign in to send a new one.",
            Some(("/dashboard", "Go to your account")),
        )),
    }
}

/// Mail a verification link to `user` now (sign-up, resend): the token and its mail in one
/// transaction, then the worker is woken.
pub async fn send(
    state: &AppState,
    user: &entity::user::Model,
    req: &HttpRequest,
) -> Result<(), HtmlError> {
    let tx = store::begin_write(&state.db).await?;
    links::mail(
        &*tx,
        &links::Outbox {
            mailer: &state.mail,
            sealer: &state.sealer,
            issuer: &state.settings.issuer,
            brand: state.settings.brand.name(),
        },
        user,
        Purpose::EmailVerify,
        state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        crate::users::UserError::Store(s) => HtmlError::from(s),
        other => HtmlError::internal(anyhow::anyhow!("{other}")),
    })?;
    Event::new(AuditKind::EmailVerificationSent)
        .user(&user.id)
        .client_ip(ClientIp::of(req))
        .user_agent_of(req)
        .record(&*tx)
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    state.mail.wake();
    Ok(())
}

#[derive(Deserialize)]
struct ResendForm {
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

async fn post_resend(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ResendForm>,
) -> Result<HttpResponse, HtmlError> {
    check_origin(&req, &state)?;
    verify_csrf(&session, &form.csrf)?;
    let next = safe_next(form.next.as_deref());
    let Some(cu) = current_user(&state, &session).await? else {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login?next=/dashboard"))
            .finish());
    };
    let back = if next == "/" {
        "/dashboard"
    } else {
        next.as_str()
    };
    if cu.user.email_verified_at.is_some() {
        return Ok(message_page(
            StatusCode::OK,
            "Your email is already verified",
            "There is nothing more to do.",
            Some((back, "Continue")),
        ));
    }
    if !state.mail.enabled() {
        return Err(HtmlError::new(
            StatusCode::NOT_FOUND,
            "Mail is not set up",
            "This server cannot send mail. Ask an administrator to verify your address.",
        ));
    }
    crate::rate_limit::enforce(
        &state.limiter,
        &state.db,
        &req,
        Policy::VerifyResend,
        &cu.user.id,
    )
    .await?;
    send(&state, &cu.user, &req).await?;
    let message = format!(
        "We sent a new link to {}. Open it within 24 hours, then continue.",
        cu.user.email
    );
    Ok(message_page(
        StatusCode::OK,
        "Check your email",
        &message,
        Some((back, "Continue")),
    ))
}
