//! `GET/POST /dashboard/settings/password`: change the account's password. The current
//! password is checked first; afterwards every other session and every app's refresh token
//! (with the access tokens it issued) ends (`users::change_password`), and this browser is
//! signed in again with a fresh session (OWASP Session Management CS: renew on privilege
//! change).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use askama::Template;

use super::format::When;
use super::views::{self, Chrome};
use super::{Dash, see_other};
use crate::audit::AuditKind;
use crate::errors::HtmlError;
use crate::session;
use crate::state::AppState;
use crate::users::{self, UserError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/settings", web::get().to(get_settings))
        .route("/dashboard/settings/password", web::get().to(get_password))
        .route(
            "/dashboard/settings/password",
            web::post().to(post_password),
        )
        .route("/dashboard/settings/name", web::post().to(post_name));
}

async fn get_settings() -> HttpResponse {
    see_other("/dashboard/settings/password")
}

fn page(dash: &Dash, status: StatusCode, error: Option<&str>) -> HttpResponse {
    views::render(
        status,
        &PasswordPage {
            c: dash.chrome("settings"),
            email: dash.user.email.clone(),
            name: dash.user.name.clone().unwrap_or_default(),
            member_since: When::date(dash.user.created_at),
            admin: dash.user.is_admin,
            error: error.map(str::to_owned),
        },
    )
}

async fn get_password(dash: Dash) -> HttpResponse {
    page(&dash, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

async fn post_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let refuse = |msg: &str| Ok(page(&dash, StatusCode::UNPROCESSABLE_ENTITY, Some(msg)));
    if form.new_password != form.confirm_password {
        return refuse("The new passwords do not match.");
    }
    if !users::valid_password(&form.new_password) {
        return refuse("Choose a new password of at least 10 characters.");
    }
    if form.new_password == form.current_password {
        return refuse("Choose a new password that differs from the current one.");
    }
    match users::change_password(
        &state.db,
        &dash.user,
        &form.current_password,
        &form.new_password,
        state.clock.now(),
    )
    .await
    {
        Ok(_) => state.denied.catch_up(&state.db).await?,
        Err(UserError::WrongPassword) => {
            dash.audit(&state, &req, AuditKind::PasswordChangeFailed, json!({}))
                .await?;
            return refuse("Your current password is not correct.");
        }
        Err(UserError::WeakPassword) => {
            return refuse("Choose a new password of at least 10 characters.");
        }
        Err(UserError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(HtmlError::internal(anyhow::anyhow!("password change: {e}"))),
    }
    // A new session for this browser (same `amr`), and every other one's record gone.
    let amr = session::amr(&dash.session);
    let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
    session::start(&state, &dash.session, &req, &dash.user.id, &amr).await?;
    let this = session::sid(&dash.session);
    session::end_all_but(&state, &dash.user.id, this.as_deref()).await?;
    dash.audit(&state, &req, AuditKind::PasswordChanged, json!({}))
        .await?;
    dash.flash("Password changed. You were signed out everywhere else.");
    Ok(see_other("/dashboard/settings/password"))
}

// ---------------------------------------------------------------------------------------------
// Views

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// The display name apps see with the `profile` scope (`name`, OIDC Core §5.1).
async fn post_name(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: Dash,
    form: web::Form<NameForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let Some(name) = users::clean_name(&form.name) else {
        return Ok(page(
            &dash,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Choose a name of at most 100 characters, without line breaks."),
        ));
    };
    if name != dash.user.name {
        crate::store::users::set_name(&state.db, &dash.user, name.clone(), state.clock.now())
            .await?;
        state.rows.forget_user(&dash.user.id);
        dash.audit(
            &state,
            &req,
            AuditKind::ProfileUpdated,
            json!({"name": name}),
        )
        .await?;
    }
    dash.flash(match &name {
        Some(n) => format!("Your name is now {n}."),
        None => "Your name was removed.".to_owned(),
    });
    Ok(see_other("/dashboard/settings/password"))
}

#[derive(Template)]
#[template(path = "dashboard/password.html")]
pub struct PasswordPage {
    pub c: Chrome,
    pub email: String,
    /// The display name (empty: none).
    pub name: String,
    pub member_since: When,
    pub admin: bool,
    pub error: Option<String>,
}
