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
use crate::clients::{self, RegisteredBy};
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::state::AppState;
use crate::store;
use crate::users::{self, UserError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/admin", web::get().to(index))
        .route("/dashboard/admin/users", web::get().to(list_users))
        .route(
            "/dashboard/admin/users/{id}/disable",
            web::get().to(confirm_disable_user),
        )
        .route(
            "/dashboard/admin/users/{id}/{action}",
            web::post().to(change_user),
        )
        .route("/dashboard/admin/apps", web::get().to(all_apps))
        .route(
            "/dashboard/admin/apps/{id}/disable",
            web::get().to(confirm_disable_app),
        )
        .route(
            "/dashboard/admin/apps/{id}/{action}",
            web::post().to(change_app),
        )
        .route("/dashboard/admin/activity", web::get().to(activity))
        .route(
            "/dashboard/admin/registration_tokens",
            web::post().to(make_registration_token),
        );
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

/// `?show=`: which apps the admin list shows.
#[derive(serde::Deserialize)]
struct AppsQuery {
    show: Option<String>,
    starting_after: Option<String>,
}

/// Every OAuth app: the operator's (made by the CLI without `--owner`, which no `/v1` caller
/// reaches) and the users', which an admin may verify so that the consent screen stops
/// calling them unverified (`clients::Trust`).
async fn all_apps(
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    q: web::Query<AppsQuery>,
) -> Result<HttpResponse, HtmlError> {
    let (owner, show) = match q.show.as_deref() {
        Some("users") => (store::clients::Owner::Users, "users"),
        Some("operator") => (store::clients::Owner::Operator, "operator"),
        _ => (store::clients::Owner::Anyone, "all"),
    };
    let after = PageQuery {
        starting_after: q.starting_after.clone(),
    };
    let mut rows = store::clients::page(
        &state.db,
        owner,
        None,
        crate::cursor::fetch(PAGE as u64),
        after.after(),
    )
    .await?;
    let next =
        paginate(&mut rows, PAGE, |c| &c.id).map(|id| format!("show={show}&starting_after={id}"));
    let mut ids: Vec<String> = rows.iter().filter_map(|c| c.owner_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let owners: HashMap<String, entity::user::Model> = store::users::by_ids(&state.db, &ids)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let catalog = state.catalog.get();
    let rows = rows
        .iter()
        .map(|c| {
            let owner = c.owner_id.as_ref().and_then(|o| owners.get(o));
            let trust = clients::trust_of(c, owner);
            AdminAppRow {
                app: AppRow::new(&catalog, c),
                owner: owner.map(|u| u.email.clone()),
                registered_by: trust.by,
                verified: trust.verified,
                marked: c.verified_at.is_some(),
                disabled: c.disabled_at.is_some(),
            }
        })
        .collect();
    Ok(views::page(&AllAppsPage {
        c: dash.chrome("admin_apps"),
        rows,
        show,
        first_page: after.after().is_none(),
        next_page: next,
        open_registration: state.settings.open_registration,
    }))
}

#[derive(serde::Deserialize)]
struct RegistrationTokenForm {
    csrf: String,
    /// `1h`, `24h`, `7d` or `30d`; absent: the default (24 h).
    #[serde(default)]
    expires_in: Option<String>,
}

/// An initial access token for `/oauth/register` (RFC 7591 §3), made by this admin and shown
/// once (post-redirect-get to the one-time view).
async fn make_registration_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    form: web::Form<RegistrationTokenForm>,
) -> Result<HttpResponse, HtmlError> {
    use crate::clients::registration;
    dash.check(&req, &state, &form.csrf)?;
    let ttl = match form.expires_in.as_deref() {
        None => registration::DEFAULT_IAT_TTL_SECS,
        Some(s) => registration::parse_ttl(s)
            .ok_or_else(|| HtmlError::bad_request("Choose when the token should stop working."))?,
    };
    let (token, row) =
        registration::mint_iat(&state.db, Some(&dash.user.id), ttl, state.clock.now())
            .await
            .map_err(|e| match e {
                registration::RegistrationError::Store(s) => s.into(),
                other => HtmlError::bad_request(other.to_string()),
            })?;
    dash.audit(
        &state,
        &req,
        AuditKind::RegistrationTokenCreated,
        json!({"expires_in": ttl}),
    )
    .await?;
    Ok(dash.show_once(
        &state,
        "admin_apps",
        views::SecretBody {
            crumb: "Apps".into(),
            crumb_href: "/dashboard/admin/apps".into(),
            title: "Initial access token".into(),
            lede: "Copy the token now: it is shown once. It registers one app at /oauth/register \
                   (send it as Authorization: Bearer), then it is spent."
                .into(),
            livemode: true,
            items: vec![views::SecretItem {
                id: "registration-token".into(),
                label: "Initial access token".into(),
                value: token,
                secret: true,
            }],
            details: vec![
                (
                    "Registration endpoint".into(),
                    format!("{}/oauth/register", state.settings.issuer),
                ),
                ("Stops working".into(), super::format::full(row.expires_at)),
            ],
            note: None,
            done_href: "/dashboard/admin/apps".into(),
            done_label: "Done, I've saved it".into(),
        },
    ))
}

/// Verify or unverify an app a user registered (an audit event in its owner's activity).
async fn change_app(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let (id, action) = path.into_inner();
    let c = store::clients::by_id(&state.db, &id)
        .await?
        .ok_or_else(HtmlError::not_found)?;
    let verify = match action.as_str() {
        "verify" => true,
        "unverify" => false,
        "disable" | "enable" => {
            return set_app_disabled(req, state, dash, c, action == "disable").await;
        }
        _ => return Err(HtmlError::not_found()),
    };
    let updated =
        clients::set_verified(&state.db, &state.rows, &c, verify, state.clock.now()).await?;
    if c.verified_at.is_some() != verify {
        let kind = if verify {
            AuditKind::ClientVerified
        } else {
            AuditKind::ClientUnverified
        };
        app_event(&state, &req, &dash, kind, &c).await?;
    }
    dash.flash(if verify {
        format!(
            "{} is verified: its consent screen no longer says \"Unverified app\".",
            updated.name
        )
    } else {
        format!("{} is no longer verified.", updated.name)
    });
    Ok(see_other("/dashboard/admin/apps?show=users"))
}

/// An admin's change to an app, in its owner's activity (operator apps: none), naming the
/// admin.
async fn app_event(
    state: &AppState,
    req: &HttpRequest,
    dash: &super::Dash,
    kind: AuditKind,
    c: &entity::client::Model,
) -> Result<(), HtmlError> {
    Event::new(kind)
        .user_opt(c.owner_id.as_deref())
        .actor(Some(&dash.user.id))
        .client_ip(ClientIp::of(req))
        .user_agent_of(req)
        .detail(json!({"client_id": c.id, "name": c.name, "livemode": c.livemode, "by": dash.user.email}))
        .record(&state.db)
        .await?;
    Ok(())
}

/// Disable or enable an app (DESIGN.md "Accounts people can trust"): while disabled it
/// cannot authenticate or start an authorization, and its tokens are refused
/// (`clients::may_act`), here at once and within the row caches' TTL elsewhere.
async fn set_app_disabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    dash: super::Dash,
    c: entity::client::Model,
    disable: bool,
) -> Result<HttpResponse, HtmlError> {
    let updated =
        clients::set_disabled(&state.db, &state.rows, &c, disable, state.clock.now()).await?;
    if c.disabled_at.is_some() != disable {
        let kind = if disable {
            AuditKind::ClientDisabled
        } else {
            AuditKind::ClientEnabled
        };
        app_event(&state, &req, &dash, kind, &c).await?;
    }
    dash.flash(if disable {
        format!(
            "{} is disabled: it cannot sign anyone in or get tokens, and its tokens are refused.",
            updated.name
        )
    } else {
        format!("{} is enabled again.", updated.name)
    });
    Ok(see_other("/dashboard/admin/apps"))
}

async fn confirm_disable_app(
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let c = store::clients::by_id(&state.db, &id)
        .await?
        .ok_or_else(HtmlError::not_found)?;
    if c.disabled_at.is_some() {
        return Ok(see_other("/dashboard/admin/apps"));
    }
    Ok(views::page(&views::ConfirmPage {
        c: dash.chrome("admin_apps"),
        title: format!("Disable {}?", c.name),
        message: "While it is disabled the app cannot sign anyone in or get tokens, and the \
                  tokens it holds are refused within a few seconds on every server. People's \
                  permissions are kept: enabling it again resumes them."
            .into(),
        subject: vec![
            ("App", c.name.clone()),
            ("Client ID", c.id.clone()),
            ("Mode", if c.livemode { "Live" } else { "Test" }.into()),
        ],
        action: format!("/dashboard/admin/apps/{}/disable", c.id),
        button: "Disable app",
        cancel_href: "/dashboard/admin/apps".into(),
    }))
}

async fn confirm_disable_user(
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let u = store::users::by_id(&state.db, &id)
        .await?
        .ok_or_else(HtmlError::not_found)?;
    if u.disabled_at.is_some() || u.id == dash.user.id {
        return Ok(see_other("/dashboard/admin/users"));
    }
    Ok(views::page(&views::ConfirmPage {
        c: dash.chrome("admin_users"),
        title: format!("Disable {}?", u.email),
        message: "They will be signed out everywhere and cannot sign in; their API keys, the \
                  apps they registered and the tokens apps hold for them stop working within a \
                  few seconds on every server. Enabling the account again restores keys and \
                  apps; they sign in again."
            .into(),
        subject: vec![
            ("Account", u.email.clone()),
            ("Role", if u.is_admin { "Admin" } else { "User" }.into()),
        ],
        action: format!("/dashboard/admin/users/{}/disable", u.id),
        button: "Disable account",
        cancel_href: "/dashboard/admin/users".into(),
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

/// An app in the admins' list: who registered it and whether it counts as verified.
pub struct AdminAppRow {
    pub app: AppRow,
    /// The owner's email; `None` for the operator's apps.
    pub owner: Option<String>,
    pub registered_by: RegisteredBy,
    pub verified: bool,
    /// An admin marked it verified (`verified_at`).
    pub marked: bool,
    pub disabled: bool,
}

impl AdminAppRow {
    /// Registered by a program at `/oauth/register` (RFC 7591), not by the operator.
    pub fn registered_outside(&self) -> bool {
        self.registered_by == RegisteredBy::Registration
    }

    /// Only a user's app is verified by hand (the operator's and admins' count as verified).
    pub fn verifiable(&self) -> bool {
        matches!(
            self.registered_by,
            RegisteredBy::User | RegisteredBy::Registration
        )
    }
}

#[derive(Template)]
#[template(path = "dashboard/admin_apps.html")]
pub struct AllAppsPage {
    pub c: Chrome,
    pub rows: Vec<AdminAppRow>,
    /// `all`, `users` or `operator`.
    pub show: &'static str,
    pub first_page: bool,
    pub next_page: Option<String>,
    /// `LATCH_OPEN_REGISTRATION`, stated beside the initial access token form.
    pub open_registration: bool,
}

#[derive(Template)]
#[template(path = "dashboard/users.html")]
pub struct UsersPage {
    pub c: Chrome,
    pub rows: Vec<UserRow>,
    pub first_page: bool,
    pub next_page: Option<String>,
}
