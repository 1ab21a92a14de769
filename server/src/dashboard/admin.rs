//! For admins: every user (disable / enable, make admin / remove admin) and the whole
//! server's activity. Anyone else signed in gets a 403 page ([`AdminDash`]).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use askama::Template;

use super::activity::ActivityPage;
use super::apps::AppRow;
use super::format::{When, initial};
use super::views::{self, Chrome};
use super::{AdminDash, CsrfForm, PageQuery, paginate, see_other};
use crate::audit::{AuditKind, Event};
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::state::AppState;
use crate::store;
use crate::users::{self, UserError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/admin", web::get().to(index))
        .route("/dashboard/admin/users", web::get().to(list_users))
        .route(
            "/dashboard/admin/users/{id}/{action}",
            web::post().to(change_user),
        )
        .route("/dashboard/admin/apps", web::get().to(operator_apps))
        .route("/dashboard/admin/activity", web::get().to(activity));
}

const PAGE: usize = 50;

async fn index(_admin: AdminDash) -> HttpResponse {
    see_other("/dashboard/admin/users")
}

async fn list_users(
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, HtmlError> {
    let mut rows =
        store::users::page(&state.db, crate::cursor::fetch(PAGE as u64), q.after()).await?;
    let next = paginate(&mut rows, PAGE, |u| &u.id).map(|id| format!("starting_after={id}"));
    let rows = rows
        .iter()
        .map(|u| UserRow {
            id: u.id.clone(),
            email: u.email.clone(),
            initial: initial(&u.email),
            admin: u.is_admin,
            disabled: u.disabled_at.is_some(),
            created: When::date(u.created_at),
            is_self: u.id == dash.user.id,
        })
        .collect();
    Ok(views::page(&UsersPage {
        c: dash.chrome("admin_users"),
        rows,
        first_page: q.after().is_none(),
        next_page: next,
    }))
}

/// The operator's OAuth apps (made by the CLI without `--owner`): no `/v1` caller reaches
/// them, so this is where admins see them.
async fn operator_apps(
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, HtmlError> {
    let mut rows = store::clients::page(
        &state.db,
        store::clients::Owner::Operator,
        None,
        crate::cursor::fetch(PAGE as u64),
        q.after(),
    )
    .await?;
    let next = paginate(&mut rows, PAGE, |c| &c.id).map(|id| format!("starting_after={id}"));
    Ok(views::page(&OperatorAppsPage {
        c: dash.chrome("admin_apps"),
        rows: {
            let catalog = state.catalog.get();
            rows.iter()
                .map(|c| super::apps::AppRow::new(&catalog, c))
                .collect()
        },
        next_page: next,
    }))
}

async fn change_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let (id, action) = path.into_inner();
    let target = store::users::by_id(&state.db, &id)
        .await?
        .ok_or_else(HtmlError::not_found)?;
    let result = match action.as_str() {
        "disable" => {
            users::set_disabled(
                &state.db,
                &state.keys,
                &state.rows,
                Some(&dash.user),
                &target,
                true,
                state.clock.now(),
            )
            .await
        }
        "enable" => {
            users::set_disabled(
                &state.db,
                &state.keys,
                &state.rows,
                Some(&dash.user),
                &target,
                false,
                state.clock.now(),
            )
            .await
        }
        "make_admin" => users::set_admin(&state.db, Some(&dash.user), &target, true).await,
        "remove_admin" => users::set_admin(&state.db, Some(&dash.user), &target, false).await,
        _ => return Err(HtmlError::not_found()),
    };
    match result {
        Ok(_) => state.denied.catch_up(&state.db).await?,
        Err(UserError::SelfLockout) => {
            return Err(HtmlError::forbidden(
                "You cannot disable your own account or remove your own admin rights. Ask \
                 another admin.",
            ));
        }
        Err(UserError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(HtmlError::internal(anyhow::anyhow!("admin action: {e}"))),
    }
    let (kind, done) = match action.as_str() {
        "disable" => (AuditKind::UserDisabled, "disabled"),
        "enable" => (AuditKind::UserEnabled, "enabled"),
        "make_admin" => (AuditKind::UserAdminGranted, "is now an admin"),
        _ => (AuditKind::UserAdminRevoked, "is no longer an admin"),
    };
    Event::new(kind)
        .user(&target.id)
        .actor(Some(&dash.user.id))
        .client_ip(ClientIp::of(&req))
        .user_agent_of(&req)
        .detail(json!({"by": dash.user.email}))
        .record(&state.db)
        .await?;
    dash.flash(match action.as_str() {
        "disable" | "enable" => format!("{} was {done}.", target.email),
        _ => format!("{} {done}.", target.email),
    });
    Ok(see_other("/dashboard/admin/users"))
}

async fn activity(
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, HtmlError> {
    let mut events = store::audit::page(
        &state.db,
        None,
        store::audit::ModeFilter::All,
        crate::cursor::fetch(PAGE as u64),
        q.after(),
    )
    .await?;
    let next = paginate(&mut events, PAGE, |e| &e.id).map(|id| format!("starting_after={id}"));
    let mut ids: Vec<String> = events.iter().filter_map(|e| e.user_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let emails: HashMap<String, String> = store::users::by_ids(&state.db, &ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    Ok(views::page(&ActivityPage {
        c: dash.chrome("admin_activity"),
        title: "Server activity",
        lede: "Every account's events on this server, newest first.",
        base: "/dashboard/admin/activity",
        events: super::activity::event_rows(&events, Some(&emails)),
        server_wide: true,
        first_page: q.after().is_none(),
        next_page: next,
    }))
}

// ---------------------------------------------------------------------------------------------
// Views

/// A user, for admins.
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub initial: String,
    pub admin: bool,
    pub disabled: bool,
    pub created: When,
    pub is_self: bool,
}

#[derive(Template)]
#[template(path = "dashboard/admin_apps.html")]
pub struct OperatorAppsPage {
    pub c: Chrome,
    pub rows: Vec<AppRow>,
    pub next_page: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/users.html")]
pub struct UsersPage {
    pub c: Chrome,
    pub rows: Vec<UserRow>,
    pub first_page: bool,
    pub next_page: Option<String>,
}
