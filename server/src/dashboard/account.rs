//! `/dashboard/settings/account`: change the account's email, make new recovery codes,
//! delete the account (issue #12 item 7, #15 item 7; DESIGN.md "Accounts people can
//! trust"). Each asks for a fresh sign-in first — the password again, under the sign-in
//! failure locks (RFC 6819 §5.1.4.2.3), as removing two-step sign-in does — so whoever
//! finds a signed-in browser can do none of them.
//!
//! - `POST …/email`: the new address gets a link (`/email/change`, `account::email_change`),
//!   the old one a notice; the email changes only when the link is used
//!   (`users::lifecycle::request_email_change`).
//! - `POST …/recovery-codes`: ten new codes, shown once (POST-redirect-GET through
//!   `Dash::show_once`); the old ones stop working.
//! - `POST …/delete`: with the account's email typed as confirmation; the last admin is
//!   refused (`users::lifecycle::delete_account` says what goes).
//!
//! Who may call: the signed-in person (`Dash`); on whose objects: only their own account
//! (every change is keyed by their user id); mode: browser pages, CSRF and `Origin` checked
//! on every POST.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::views::{self, Chrome, SecretBody, SecretItem};
use super::{Dash, see_other};
use crate::audit::{AuditKind, Event};
use crate::errors::{HtmlError, StoreError};
use crate::middleware::ClientIp;
use crate::pages::message_page;
use crate::rate_limit::FailureKind;
use crate::state::AppState;
use crate::store;
use crate::users::lifecycle::{self, ChangeError, DeleteError};
use crate::users::links::Outbox;
use crate::users::{UserError, email, mfa, password};

const PAGE: &str = "/dashboard/settings/account";
const SECURITY: &str = "/dashboard/settings/security";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PAGE, web::get().to(get_account))
        .route("/dashboard/settings/email", web::post().to(post_email))
        .route(
            "/dashboard/settings/recovery-codes",
            web::post().to(post_recovery_codes),
        )
        .route("/dashboard/settings/delete", web::post().to(post_delete));
}

#[derive(Template)]
#[template(path = "dashboard/account.html")]
pub struct AccountPage {
    pub c: Chrome,
    pub email: String,
    pub verified: bool,
    /// Mail is configured: an email change can be confirmed.
    pub mail: bool,
    pub error: Option<String>,
}

fn page(dash: &Dash, status: StatusCode, error: Option<&str>) -> HttpResponse {
    views::render(
        status,
        &AccountPage {
            c: dash.chrome("settings"),
            email: dash.user.email.clone(),
            verified: dash.user.email_verified_at.is_some(),
            mail: dash.mail,
            error: error.map(str::to_owned),
        },
    )
}

async fn get_account(dash: Dash) -> HttpResponse {
    page(&dash, StatusCode::OK, None)
}

/// The fresh sign-in: the password again, refused while the sign-in failure locks hold,
/// and a wrong one counted against them (and recorded). `Ok(false)`: wrong password.
pub(super) async fn fresh_sign_in(
    state: &AppState,
    dash: &Dash,
    req: &HttpRequest,
    given: &str,
    doing: &str,
) -> Result<bool, HtmlError> {
    let account_key = store::users::normalize_email(&dash.user.email);
    let ip_key = ClientIp::limit_key(req).unwrap_or_default();
    for (kind, key) in [
        (FailureKind::LoginIp, &ip_key),
        (FailureKind::LoginAccount, &account_key),
    ] {
        if let Some(wait) = state.limiter.locked(kind, key).await {
            return Err(HtmlError::too_many_requests(wait.as_secs().max(1)));
        }
    }
    let ok = password::verify(Some(dash.user.password_hash.clone()), given.to_owned())
        .await
        .map_err(HtmlError::internal)?;
    if !ok {
        state.limiter.fail(FailureKind::LoginIp, &ip_key).await;
        state
            .limiter
            .fail(FailureKind::LoginAccount, &account_key)
            .await;
        dash.audit(
            state,
            req,
            AuditKind::PasswordChangeFailed,
            json!({ "while": doing }),
        )
        .await?;
        return Ok(false);
    }
    state
        .limiter
        .succeed(FailureKind::LoginAccount, &account_key)
        .await;
    Ok(true)
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    new_email: String,
    #[serde(default)]
    password: String,
}

async fn post_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let refuse = |msg: &str| Ok(page(&dash, StatusCode::UNPROCESSABLE_ENTITY, Some(msg)));
    if !state.mail.enabled() {
        return refuse(
            "This server cannot send mail, so a new address cannot be confirmed. Ask an \
             administrator.",
        );
    }
    if !fresh_sign_in(&state, &dash, &req, &form.password, "changing the email").await? {
        return refuse("Your password is not correct. Your email was not changed.");
    }
    // Each request mails two addresses, one of them typed here: bounded per account like the
    // verification resend (`LATCH_LIMIT_VERIFY_RESEND`, shared with it), so Settings cannot
    // be used to mail-bomb an address.
    crate::rate_limit::enforce(
        &state.limiter,
        &state.db,
        &req,
        crate::rate_limit::Policy::VerifyResend,
        &dash.user.id,
    )
    .await?;
    let now = state.clock.now();
    let tx = store::begin_write(&state.db).await?;
    let out = Outbox {
        mailer: &state.mail,
        sealer: &state.sealer,
        issuer: &state.settings.issuer,
        brand: state.settings.brand.name(),
    };
    let new =
        match lifecycle::request_email_change(&*tx, &out, &dash.user, &form.new_email, now).await {
            Ok(new) => new,
            Err(ChangeError::Email(p)) => return refuse(p.message()),
            Err(ChangeError::Same) => return refuse("That is already your email."),
            Err(ChangeError::Taken) => {
                return refuse("Another account uses that email. Choose another address.");
            }
            Err(ChangeError::User(UserError::Store(e))) => return Err(e.into()),
            Err(e) => return Err(HtmlError::internal(anyhow::anyhow!("email change: {e}"))),
        };
    Event::new(AuditKind::EmailChangeRequested)
        .user(&dash.user.id)
        .client_ip(ClientIp::of(&req))
        .user_agent_of(&req)
        .record(&*tx)
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    state.mail.wake();
    dash.flash(format!(
        "We sent a link to {new}. Your email changes when you open it (within 24 hours). \
         We told {} too.",
        dash.user.email
    ));
    Ok(see_other(PAGE))
}

#[derive(Deserialize)]
struct PasswordOnly {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

async fn post_recovery_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<PasswordOnly>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    if !mfa::enabled(&state.db, &dash.user.id).await? {
        dash.flash_error("Recovery codes come with two-step sign-in. Turn it on first.");
        return Ok(see_other(SECURITY));
    }
    if !fresh_sign_in(
        &state,
        &dash,
        &req,
        &form.password,
        "making new recovery codes",
    )
    .await?
    {
        dash.flash_error("Your password is not correct. Your recovery codes did not change.");
        return Ok(see_other(SECURITY));
    }
    let now = state.clock.now();
    let tx = store::begin_write(&state.db).await?;
    let codes = mfa::new_recovery_codes(&*tx, &state.sealer, &dash.user.id, now).await?;
    Event::new(AuditKind::RecoveryCodesRegenerated)
        .user(&dash.user.id)
        .client_ip(ClientIp::of(&req))
        .user_agent_of(&req)
        .record(&*tx)
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let body = SecretBody {
        crumb: "Settings".to_owned(),
        crumb_href: SECURITY.to_owned(),
        title: "New recovery codes".to_owned(),
        lede: "Save these recovery codes somewhere safe. Each one signs you in once if you \
               lose your authenticator app."
            .to_owned(),
        livemode: true,
        items: vec![SecretItem {
            id: "recovery-codes".to_owned(),
            label: "Recovery codes".to_owned(),
            value: codes.join("  "),
            secret: true,
        }],
        details: vec![],
        note: Some("Your old recovery codes no longer work.".to_owned()),
        done_href: SECURITY.to_owned(),
        done_label: "Done".to_owned(),
    };
    Ok(dash.show_once(&state, "settings", body))
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// The account's email, typed as confirmation.
    #[serde(default)]
    confirm_email: String,
    #[serde(default)]
    password: String,
}

async fn post_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let refuse = |msg: &str| Ok(page(&dash, StatusCode::UNPROCESSABLE_ENTITY, Some(msg)));
    if email::lookup_key(&form.confirm_email) != email::lookup_key(&dash.user.email) {
        return refuse(
            "Type your email exactly as shown to confirm. Your account was not deleted.",
        );
    }
    if !fresh_sign_in(&state, &dash, &req, &form.password, "deleting the account").await? {
        return refuse("Your password is not correct. Your account was not deleted.");
    }
    let now = state.clock.now();
    match lifecycle::delete_account(&state.db, &state.keys, &state.rows, &dash.user, now).await {
        Ok(()) => {}
        Err(DeleteError::LastAdmin) => {
            return refuse(
                "You are the only admin of this server, so your account cannot be deleted. \
                 Make another account an admin first.",
            );
        }
        Err(DeleteError::Store(e)) => return Err(e.into()),
    }
    state.denied.catch_up(&state.db).await?;
    Event::new(AuditKind::AccountDeleted)
        .user(&dash.user.id)
        .client_ip(ClientIp::of(&req))
        .user_agent_of(&req)
        .detail(json!({"by": "the account holder", "via": "dashboard"}))
        .record(&state.db)
        .await?;
    dash.session.purge();
    Ok(message_page(
        StatusCode::OK,
        "Your account was deleted",
        "Your keys, apps, sessions and app authorizations are gone. You can sign up again \
         with the same email at any time, as a new account.",
        Some(("/signup", "Sign up")),
    ))
}
