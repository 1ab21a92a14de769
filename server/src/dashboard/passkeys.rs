//! Passkeys in `/dashboard/settings/security` (DESIGN.md "Accounts people can trust"; W3C
//! WebAuthn Level 3 §7.1): the list (name, created, last used), adding one and removing one.
//!
//! - Add: the page's script (`static/passkey.js`) calls `POST …/passkeys/begin` (JSON) for
//!   the creation options — a challenge kept server-side, used once, for
//!   `users::passkeys::CEREMONY_SECS` — lets the browser make the credential, and posts it
//!   with its name to `POST …/passkeys/finish`, which verifies it (`webauthn-rs`) and keeps
//!   it. The answer names the page to show next.
//! - Remove: `POST …/passkeys/remove` with the password again (a fresh sign-in, as for
//!   turning off the authenticator app): whoever finds a signed-in browser cannot take a way
//!   in away, nor add one without the password being typed at sign-in. Wrong passwords count
//!   against the sign-in failure locks.
//!
//! Who may call: the signed-in person (`Dash`); on whose objects: only their own passkeys
//! (every query is scoped by their user id; a ceremony is bound to the account that began
//! it); mode: JSON for the script (begin, finish) and a form (remove), `Origin` and CSRF
//! checked on every POST.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::format::When;
use super::{Dash, see_other};
use crate::account::passkey::{check, parse_body, refusal, relying_party};
use crate::audit::AuditKind;
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::rate_limit::FailureKind;
use crate::session;
use crate::state::AppState;
use crate::store;
use crate::users::passkeys::{self, PasskeyError};
use crate::users::password;

const PAGE: &str = "/dashboard/settings/security";
const REGISTER: &str = "register";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/dashboard/settings/passkeys/begin",
        web::post().to(post_begin),
    )
    .route(
        "/dashboard/settings/passkeys/finish",
        web::post().to(post_finish),
    )
    .route(
        "/dashboard/settings/passkeys/remove",
        web::post().to(post_remove),
    );
}

/// One row of the passkeys list.
pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub created: When,
    pub last_used: Option<When>,
}

/// The account's passkeys for the Settings page.
pub async fn rows(state: &AppState, user_id: &str) -> Result<Vec<PasskeyRow>, HtmlError> {
    let now = state.clock.now();
    Ok(store::passkeys::for_user(&state.db, user_id)
        .await?
        .into_iter()
        .map(|p| PasskeyRow {
            id: p.id,
            name: p.name,
            created: When::ago(p.created_at, now),
            last_used: p.last_used_at.map(|t| When::ago(t, now)),
        })
        .collect())
}

#[derive(Deserialize)]
struct BeginBody {
    #[serde(default)]
    csrf: String,
}

async fn post_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let b: BeginBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    if let Some(r) = check(&req, &state, &dash.session, &b.csrf) {
        return Ok(r);
    }
    let Some(rp) = relying_party(&state) else {
        return refusal(PasskeyError::Unavailable);
    };
    let now = state.clock.now();
    let (id, options) =
        match passkeys::begin_registration(&state.db, &rp, &state.sealer, &dash.user, now).await {
            Ok(v) => v,
            Err(e) => return refusal(e),
        };
    session::set_passkey_ceremony(&dash.session, REGISTER, &id)?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(options))
}

#[derive(Deserialize)]
struct FinishBody {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    credential: serde_json::Value,
}

async fn post_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let b: FinishBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    if let Some(r) = check(&req, &state, &dash.session, &b.csrf) {
        return Ok(r);
    }
    let Some(rp) = relying_party(&state) else {
        return refusal(PasskeyError::Unavailable);
    };
    // The name is checked before the ceremony is used up, so a typo costs no new challenge.
    if let Err(e) = passkeys::clean_name(&b.name) {
        return refusal(e);
    }
    let Some(ceremony) = session::take_passkey_ceremony(&dash.session, REGISTER) else {
        return refusal(PasskeyError::Expired);
    };
    let Ok(cred) = serde_json::from_value::<RegisterPublicKeyCredential>(b.credential) else {
        return refusal(PasskeyError::Rejected);
    };
    let now = state.clock.now();
    let added = match passkeys::finish_registration(
        &state.db,
        &rp,
        &state.sealer,
        &dash.user.id,
        passkeys::Registration {
            ceremony: &ceremony,
            name: &b.name,
            response: &cred,
        },
        now,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return refusal(e),
    };
    dash.audit(
        &state,
        &req,
        AuditKind::PasskeyAdded,
        json!({"passkey_id": added.id, "name": added.name}),
    )
    .await?;
    dash.flash(format!(
        "Passkey \u{201c}{}\u{201d} added. You can now sign in with it, without your password.",
        added.name
    ));
    Ok(HttpResponse::Ok().json(json!({ "redirect": PAGE, "id": added.id })))
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    passkey_id: String,
    #[serde(default)]
    password: String,
}

async fn post_remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<RemoveForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    // A fresh sign-in: the password again, under the sign-in failure locks.
    let account_key = store::users::normalize_email(&dash.user.email);
    let ip_key = ClientIp::limit_key(&req).unwrap_or_default();
    for (kind, key) in [
        (FailureKind::LoginIp, &ip_key),
        (FailureKind::LoginAccount, &account_key),
    ] {
        if let Some(wait) = state.limiter.locked(kind, key).await {
            return Err(HtmlError::too_many_requests(wait.as_secs().max(1)));
        }
    }
    let ok = !form.password.is_empty()
        && password::verify(Some(dash.user.password_hash.clone()), form.password.clone())
            .await
            .map_err(HtmlError::internal)?;
    if !ok {
        state.limiter.fail(FailureKind::LoginIp, &ip_key).await;
        state
            .limiter
            .fail(FailureKind::LoginAccount, &account_key)
            .await;
        dash.audit(
            &state,
            &req,
            AuditKind::PasswordChangeFailed,
            json!({"while": "removing a passkey"}),
        )
        .await?;
        return super::security::security_page(
            &state,
            &dash,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Your password is not correct. The passkey was not removed."),
        )
        .await;
    }
    state
        .limiter
        .succeed(FailureKind::LoginAccount, &account_key)
        .await;
    // Scoped by the user id: another account's passkey id removes nothing.
    match store::passkeys::delete(&state.db, &dash.user.id, &form.passkey_id).await? {
        Some(row) => {
            dash.audit(
                &state,
                &req,
                AuditKind::PasskeyRemoved,
                json!({"passkey_id": row.id, "name": row.name}),
            )
            .await?;
            dash.flash(format!(
                "Passkey \u{201c}{}\u{201d} removed. It no longer signs you in.",
                row.name
            ));
        }
        None => dash.flash_error("That passkey had already been removed."),
    }
    Ok(see_other(PAGE))
}
