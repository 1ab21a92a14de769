//! `/dashboard/settings/security`: two-step sign-in and the sessions list (DESIGN.md
//! "Accounts people can trust").
//!
//! - Set up an authenticator app (RFC 6238): `POST …/totp/begin` makes a new secret, `GET
//!   …/totp` shows its `otpauth://` URI as text and as an inline SVG QR code, `POST
//!   …/totp/confirm` checks a first code and hands out ten recovery codes, shown once.
//! - Remove it: `POST …/totp/remove` with the password again (a fresh sign-in,
//!   `account::fresh_sign_in`, shared with Settings' email change, new recovery codes and
//!   account deletion: whoever finds a signed-in browser cannot turn the second step off).
//!   Wrong passwords count against the sign-in failure locks.
//! - Sessions: every browser signed in to the account (device, IP, started, last seen),
//!   this one marked; `POST …/sessions/end` ends one, `POST …/sessions/end-others` all others.
//!
//! Who may call: the signed-in person (`Dash`); on whose objects: only their own factor and
//! sessions (every query is scoped by their user id); mode: browser pages, CSRF and `Origin`
//! checked on every POST.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::format::When;
use super::views::{self, Chrome, SecretBody, SecretItem};
use super::{CsrfForm, Dash, see_other};
use crate::audit::AuditKind;
use crate::errors::HtmlError;
use crate::session;
use crate::state::AppState;
use crate::store;
use crate::users::mfa;

const PAGE: &str = "/dashboard/settings/security";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PAGE, web::get().to(get_security))
        .route(
            "/dashboard/settings/totp/begin",
            web::post().to(post_totp_begin),
        )
        .route("/dashboard/settings/totp", web::get().to(get_totp))
        .route(
            "/dashboard/settings/totp/confirm",
            web::post().to(post_totp_confirm),
        )
        .route(
            "/dashboard/settings/totp/remove",
            web::post().to(post_totp_remove),
        )
        .route(
            "/dashboard/settings/sessions/end",
            web::post().to(post_end_session),
        )
        .route(
            "/dashboard/settings/sessions/end-others",
            web::post().to(post_end_others),
        );
}

/// One row of the sessions list.
pub struct SessionRow {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub started: When,
    pub last_seen: When,
    pub this_device: bool,
}

#[derive(Template)]
#[template(path = "dashboard/security.html")]
pub struct SecurityPage {
    pub c: Chrome,
    pub email: String,
    pub totp_on: bool,
    pub codes_left: u64,
    pub sessions: Vec<SessionRow>,
    pub error: Option<String>,
    /// Passkeys (`dashboard::passkeys`): the list, and whether this site can have them.
    pub passkeys: Vec<super::passkeys::PasskeyRow>,
    pub passkeys_available: bool,
    pub passkey_version: &'static str,
}

pub(super) async fn security_page(
    state: &AppState,
    dash: &Dash,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, HtmlError> {
    let uid = &dash.user.id;
    let totp_on = mfa::enabled(&state.db, uid).await?;
    let codes_left = if totp_on {
        mfa::recovery_codes_left(&state.db, uid).await?
    } else {
        0
    };
    let now = state.clock.now();
    // Sessions begun before the account's sessions were last ended, or older than the
    // session lifetime, are void: not listed.
    let since = dash
        .user
        .sessions_valid_after
        .max(now - state.settings.session_ttl);
    let this = session::sid(&dash.session);
    let sessions = store::browser_sessions::for_user(&state.db, uid, since)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            this_device: this.as_deref() == Some(s.id.as_str()),
            device: s.device,
            ip: s.ip.unwrap_or_else(|| "unknown".to_owned()),
            started: When::ago(s.created_at, now),
            last_seen: When::ago(s.last_seen_at, now),
            id: s.id,
        })
        .collect();
    Ok(views::render(
        status,
        &SecurityPage {
            c: dash.chrome("settings"),
            email: dash.user.email.clone(),
            totp_on,
            codes_left,
            sessions,
            error: error.map(str::to_owned),
            passkeys: super::passkeys::rows(state, uid).await?,
            passkeys_available: crate::account::passkey::relying_party(state).is_some(),
            passkey_version: crate::pages::passkey_js_version(),
        },
    ))
}

async fn get_security(state: web::Data<AppState>, dash: Dash) -> Result<HttpResponse, HtmlError> {
    security_page(&state, &dash, StatusCode::OK, None).await
}

fn issuer_name() -> String {
    crate::brand::current().name().to_owned()
}

async fn post_totp_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    if mfa::enabled(&state.db, &dash.user.id).await? {
        dash.flash("Two-step sign-in is already on.");
        return Ok(see_other(PAGE));
    }
    mfa::begin(
        &state.db,
        &state.sealer,
        &dash.user,
        &issuer_name(),
        state.clock.now(),
    )
    .await?;
    Ok(see_other("/dashboard/settings/totp"))
}

#[derive(Template)]
#[template(path = "dashboard/totp_setup.html")]
pub struct TotpSetupPage {
    pub c: Chrome,
    pub secret: String,
    pub uri: String,
    pub qr_svg: String,
    pub error: Option<String>,
}

async fn totp_page(
    state: &AppState,
    dash: &Dash,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, HtmlError> {
    let Some(e) = mfa::pending(&state.db, &state.sealer, &dash.user, &issuer_name()).await? else {
        return Ok(see_other(PAGE));
    };
    let mut res = views::render(
        status,
        &TotpSetupPage {
            c: dash.chrome("settings"),
            secret: e.secret_b32,
            uri: e.uri,
            qr_svg: e.qr_svg,
            error: error.map(str::to_owned),
        },
    );
    // The page carries the shared secret: keep it out of every cache.
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

async fn get_totp(state: web::Data<AppState>, dash: Dash) -> Result<HttpResponse, HtmlError> {
    totp_page(&state, &dash, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

async fn post_totp_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let now = state.clock.now();
    let Some(codes) =
        mfa::confirm(&state.db, &state.sealer, &dash.user.id, &form.code, now).await?
    else {
        return totp_page(
            &state,
            &dash,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("That code is not right. Check the app and type the code it shows now."),
        )
        .await;
    };
    dash.audit(&state, &req, AuditKind::TotpEnabled, json!({}))
        .await?;
    let body = SecretBody {
        crumb: "Settings".to_owned(),
        crumb_href: PAGE.to_owned(),
        title: "Two-step sign-in is on".to_owned(),
        lede: "Save these recovery codes somewhere safe. If you lose your authenticator app, \
               each one signs you in once."
            .to_owned(),
        livemode: true,
        items: vec![SecretItem {
            id: "recovery-codes".to_owned(),
            label: "Recovery codes".to_owned(),
            value: codes.join("  "),
            secret: true,
        }],
        details: vec![],
        note: Some(
            "From now on, signing in asks for a code from your authenticator app after your \
             password."
                .to_owned(),
        ),
        done_href: PAGE.to_owned(),
        done_label: "Done".to_owned(),
    };
    Ok(dash.show_once(&state, "settings", body))
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

async fn post_totp_remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<RemoveForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    // A fresh sign-in: the password again, under the sign-in failure locks.
    if !super::account::fresh_sign_in(
        &state,
        &dash,
        &req,
        &form.password,
        "removing two-step sign-in",
    )
    .await?
    {
        return security_page(
            &state,
            &dash,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Your password is not correct. Two-step sign-in is still on."),
        )
        .await;
    }
    if mfa::remove(&state.db, &dash.user.id).await? {
        dash.audit(&state, &req, AuditKind::TotpDisabled, json!({}))
            .await?;
    }
    dash.flash("Two-step sign-in is off. Your recovery codes no longer work.");
    Ok(see_other(PAGE))
}

#[derive(Deserialize)]
struct EndForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    session_id: String,
}

async fn post_end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<EndForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    if session::sid(&dash.session).as_deref() == Some(form.session_id.as_str()) {
        dash.flash_error("To end this session, sign out.");
        return Ok(see_other(PAGE));
    }
    // Scoped by the user id: another account's session id ends nothing.
    if session::end_other(&state, &dash.user.id, &form.session_id).await? {
        dash.audit(
            &state,
            &req,
            AuditKind::SessionEnded,
            json!({"sessions": 1}),
        )
        .await?;
        dash.flash("That session was signed out.");
    } else {
        dash.flash_error("That session had already ended.");
    }
    Ok(see_other(PAGE))
}

async fn post_end_others(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let this = session::sid(&dash.session);
    let n = session::end_all_but(&state, &dash.user.id, this.as_deref()).await?;
    if n > 0 {
        dash.audit(
            &state,
            &req,
            AuditKind::SessionEnded,
            json!({"sessions": n}),
        )
        .await?;
    }
    dash.flash(match n {
        0 => "No other sessions were signed in.".to_owned(),
        1 => "1 other session was signed out.".to_owned(),
        n => format!("{n} other sessions were signed out."),
    });
    Ok(see_other(PAGE))
}
