//! `GET /email/change?token=…`: the link mailed to a new address by Settings → "Change
//! email" (`users::lifecycle::request_email_change`). Opening it, once, within 24 hours,
//! makes it the account's email, verified — so `email_verified` in ID tokens and userinfo
//! (OIDC Core §5.1) stays true only for an address whose mailbox answered.
//!
//! Who may call: anyone holding the link (it proves the new mailbox; the fresh sign-in was
//! asked when it was requested). On whose objects: the account the link was made for.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::audit::{AuditKind, Event};
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::pages::message_page;
use crate::state::AppState;
use crate::users::UserError;
use crate::users::lifecycle::{self, ChangeError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/email/change", web::get().to(get_change));
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn get_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, HtmlError> {
    let invalid = || {
        message_page(
            StatusCode::BAD_REQUEST,
            "This link is no longer valid",
            "Email-change links work once, for 24 hours, and only the latest one asked for. \
             Sign in and ask for a new one under Settings.",
            Some(("/dashboard/settings/account", "Go to your settings")),
        )
    };
    match lifecycle::confirm_email_change(&state.db, &q.token, state.clock.now()).await {
        Ok(Some((_before, after))) => {
            state.rows.forget_user(&after.id);
            // No addresses in the trail: deleting the account later must be able to remove
            // every one it had (`users::lifecycle::delete_account` redacts only the last).
            Event::new(AuditKind::EmailChanged)
                .user(&after.id)
                .client_ip(ClientIp::of(&req))
                .user_agent_of(&req)
                .record(&state.db)
                .await?;
            let message = format!(
                "Your account's email is now {}, and it is verified. Sign in with it from now on.",
                after.email
            );
            Ok(message_page(
                StatusCode::OK,
                "Your email was changed",
                &message,
                Some(("/dashboard", "Continue")),
            ))
        }
        Ok(None) => Ok(invalid()),
        Err(ChangeError::Taken) => Ok(message_page(
            StatusCode::CONFLICT,
            "That address is taken",
            "Another account started using this address after the link was sent, so your \
             email was not changed.",
            Some(("/dashboard/settings/account", "Go to your settings")),
        )),
        Err(ChangeError::User(UserError::Store(e))) => Err(e.into()),
        Err(e) => Err(HtmlError::internal(anyhow::anyhow!("email change: {e}"))),
    }
}
