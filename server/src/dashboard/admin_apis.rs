//! For admins: the permission catalog (DESIGN.md "Your own APIs") at
//! `/dashboard/admin/apis`: every API with its scopes and who holds each scope (a few
//! clients and keys by name); register an API, add a scope, edit the name, token lifetime
//! and descriptions, remove a scope, delete an API (both after a confirmation). The rules
//! are `catalog::manage`'s, as for the CLI and `/v1/apis`; the built-in Latch API is shown
//! read-only.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::format::When;
use super::keys::capitalize;
use super::views::{self, Chrome};
use super::{AdminDash, CsrfForm, Dash, see_other};
use crate::audit::AuditKind;
use crate::catalog::{self, Api, CatalogError};
use crate::errors::HtmlError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/admin/apis", web::get().to(list))
        .route("/dashboard/admin/apis", web::post().to(create))
        .route("/dashboard/admin/apis/{id}", web::post().to(update))
        .route(
            "/dashboard/admin/apis/{id}/scopes",
            web::post().to(add_scope),
        )
        .route(
            "/dashboard/admin/apis/{id}/scopes/{name}/remove",
            web::get().to(confirm_remove_scope),
        )
        .route(
            "/dashboard/admin/apis/{id}/scopes/{name}/remove",
            web::post().to(remove_scope),
        )
        .route(
            "/dashboard/admin/apis/{id}/delete",
            web::get().to(confirm_delete),
        )
        .route("/dashboard/admin/apis/{id}/delete", web::post().to(delete));
}

const LIST: &str = "/dashboard/admin/apis";
/// Holders named per scope; one more is read to know whether to say "and more".
const HOLDERS_SHOWN: usize = 3;

fn anchor(id: &str) -> String {
    format!("{LIST}#{id}")
}

/// A stored API by id (404 for the built-in one and unknown ids: nothing to change). One
/// this instance has not loaded yet (made on another instance) is looked for in the database.
async fn stored(state: &AppState, id: &str) -> Result<Api, HtmlError> {
    let mut snap = state.catalog.get();
    if snap.api(id).is_none() {
        snap = state.catalog.reload(&state.db).await?;
    }
    match snap.api(id) {
        Some(a) if !a.builtin => Ok(a.clone()),
        _ => Err(HtmlError::not_found()),
    }
}

/// A refusal to show on the page (flash or form error); store failures are 500s.
fn refusal(e: CatalogError) -> Result<String, HtmlError> {
    match e {
        CatalogError::Store(s) => Err(s.into()),
        other => Ok(capitalize(&other.to_string())),
    }
}

async fn record(
    dash: &Dash,
    state: &AppState,
    req: &HttpRequest,
    kind: AuditKind,
    api: &Api,
    scope: Option<&str>,
) -> Result<(), HtmlError> {
    dash.audit(
        state,
        req,
        kind,
        catalog::audit_detail(api, scope, "dashboard"),
    )
    .await
}

/// `""` → the default lifetime; else whole seconds.
fn parse_ttl(s: &str) -> Result<Option<i64>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<i64>().map(Some).map_err(|_| {
        "Token lifetime must be a whole number of seconds, or empty for the default.".to_owned()
    })
}

/// Who holds `scope`: up to [`HOLDERS_SHOWN`] names, and whether there are more.
async fn holders(state: &AppState, scope: &str) -> Result<(Holders, Holders), HtmlError> {
    let clients = store::apis::clients_holding(&state.db, scope, HOLDERS_SHOWN + 1).await?;
    let keys = store::apis::keys_holding(&state.db, scope, HOLDERS_SHOWN + 1).await?;
    Ok((Holders::new(clients), Holders::new(keys)))
}

async fn page(
    state: &AppState,
    dash: &Dash,
    form: NewApiValues,
    error: Option<String>,
) -> Result<HttpResponse, HtmlError> {
    let snap = state.catalog.get();
    let mut apis = Vec::with_capacity(snap.apis().len());
    for a in snap.apis() {
        let mut scopes = Vec::with_capacity(a.scopes.len());
        for s in &a.scopes {
            let (clients, keys) = holders(state, &s.name).await?;
            scopes.push(ScopeRow {
                name: s.name.clone(),
                description: s.description.clone(),
                clients,
                keys,
            });
        }
        apis.push(ApiRow {
            id: a.id.clone(),
            identifier: a.identifier.clone(),
            name: a.name.clone(),
            ttl_value: a
                .access_token_ttl
                .map(|t| t.num_seconds().to_string())
                .unwrap_or_default(),
            ttl_text: match a.access_token_ttl {
                Some(t) => super::format::span(t.num_seconds()),
                None => format!(
                    "{} (the default)",
                    super::format::span(state.settings.access_token_ttl.num_seconds())
                ),
            },
            builtin: a.builtin,
            created: a.created_at.map(When::date),
            scopes,
        });
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(views::render(
        status,
        &ApisPage {
            c: dash.chrome("admin_apis"),
            apis,
            f: form,
            error,
        },
    ))
}

async fn list(
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
) -> Result<HttpResponse, HtmlError> {
    page(&state, &dash, NewApiValues::default(), None).await
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    token_ttl: String,
    /// One scope a line: `name = description`.
    #[serde(default)]
    scopes: String,
}

/// `name = description` lines (blank lines skipped).
fn parse_scope_lines(s: &str) -> Result<Vec<(String, String)>, String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((n, d)) if !n.trim().is_empty() => Ok((n.trim().to_owned(), d.trim().to_owned())),
            _ => Err(format!(
                "Write each scope as name = description, one a line ({:?} has no description).",
                l.chars().take(64).collect::<String>()
            )),
        })
        .collect()
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let values = NewApiValues {
        identifier: form.identifier.clone(),
        name: form.name.clone(),
        token_ttl: form.token_ttl.clone(),
        scopes: form.scopes.clone(),
    };
    let parsed = parse_ttl(&form.token_ttl)
        .and_then(|ttl| parse_scope_lines(&form.scopes).map(|s| (ttl, s)));
    let (ttl, scopes) = match parsed {
        Ok(p) => p,
        Err(m) => return page(&state, &dash, values, Some(m)).await,
    };
    let new = catalog::NewApi {
        identifier: form.identifier.clone(),
        name: form.name.clone(),
        scopes,
        access_token_ttl: ttl,
    };
    let api = match catalog::create(&state.db, &state.catalog, new).await {
        Ok(a) => a,
        Err(e) => return page(&state, &dash, values, Some(refusal(e)?)).await,
    };
    record(&dash, &state, &req, AuditKind::ApiCreated, &api, None).await?;
    dash.flash(format!("Registered {}.", api.name));
    Ok(see_other(&anchor(&api.id)))
}

/// `csrf`, `name`, `token_ttl`, and `description:<scope>` for each scope.
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, HtmlError> {
    let field = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
    dash.check(&req, &state, field("csrf").unwrap_or(""))?;
    let api = stored(&state, &id).await?;
    let name = field("name")
        .map(str::trim)
        .filter(|n| *n != api.name)
        .map(str::to_owned);
    let ttl = match field("token_ttl").map(parse_ttl).transpose() {
        Ok(t) => t.filter(|t| *t != api.access_token_ttl.map(|d| d.num_seconds())),
        Err(m) => {
            dash.flash_error(m);
            return Ok(see_other(&anchor(&api.id)));
        }
    };
    let descriptions: Vec<(String, String)> = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("description:")?, v.trim())))
        .filter(|(n, d)| {
            api.scopes
                .iter()
                .any(|s| s.name == *n && s.description != *d)
        })
        .map(|(n, d)| (n.to_owned(), d.to_owned()))
        .collect();
    if name.is_none() && ttl.is_none() && descriptions.is_empty() {
        dash.flash(format!("Nothing to change in {}.", api.name));
        return Ok(see_other(&anchor(&api.id)));
    }
    let changes = catalog::UpdateApi {
        name,
        access_token_ttl: ttl,
        descriptions,
    };
    match catalog::update(&state.db, &state.catalog, &api.id, changes).await {
        Ok(updated) => {
            record(&dash, &state, &req, AuditKind::ApiUpdated, &updated, None).await?;
            dash.flash(format!("Saved {}.", updated.name));
        }
        Err(e) => dash.flash_error(refusal(e)?),
    }
    Ok(see_other(&anchor(&api.id)))
}

#[derive(Deserialize)]
struct ScopeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

async fn add_scope(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    id: web::Path<String>,
    form: web::Form<ScopeForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let api = stored(&state, &id).await?;
    let name = form.name.trim();
    match catalog::add_scope(&state.db, &state.catalog, &api.id, name, &form.description).await {
        Ok(updated) => {
            record(
                &dash,
                &state,
                &req,
                AuditKind::ApiScopeAdded,
                &updated,
                Some(name),
            )
            .await?;
            dash.flash(format!("Added {name} to {}.", updated.name));
        }
        Err(e) => dash.flash_error(refusal(e)?),
    }
    Ok(see_other(&anchor(&api.id)))
}

async fn confirm_remove_scope(
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HtmlError> {
    let (id, name) = path.into_inner();
    let api = stored(&state, &id).await?;
    let Some(scope) = api.scopes.iter().find(|s| s.name == name) else {
        return Err(HtmlError::not_found());
    };
    Ok(views::page(&views::ConfirmPage {
        c: dash.chrome("admin_apis"),
        title: "Remove this scope?".into(),
        message: "Apps can no longer ask for it, and it leaves the server's metadata. A scope \
                  still held by an OAuth app or an API key cannot be removed: take it from them \
                  first."
            .into(),
        subject: vec![
            ("API", api.name.clone()),
            ("Scope", scope.name.clone()),
            ("Description", scope.description.clone()),
        ],
        action: scope_remove_href(&api.id, &scope.name),
        button: "Remove scope",
        cancel_href: anchor(&api.id),
    }))
}

/// Scope names are `[a-z0-9:._-]` (`catalog::check_scope_name`): safe in a path segment.
fn scope_remove_href(api: &str, scope: &str) -> String {
    format!("{LIST}/{api}/scopes/{scope}/remove")
}

async fn remove_scope(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let (id, name) = path.into_inner();
    let api = stored(&state, &id).await?;
    if !api.has_scope(&name) {
        return Err(HtmlError::not_found());
    }
    match catalog::remove_scope(&state.db, &state.catalog, &name).await {
        Ok(updated) => {
            record(
                &dash,
                &state,
                &req,
                AuditKind::ApiScopeRemoved,
                &updated,
                Some(&name),
            )
            .await?;
            dash.flash(format!("Removed {name} from {}.", updated.name));
        }
        Err(e) => dash.flash_error(refusal(e)?),
    }
    Ok(see_other(&anchor(&api.id)))
}

async fn confirm_delete(
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let api = stored(&state, &id).await?;
    Ok(views::page(&views::ConfirmPage {
        c: dash.chrome("admin_apis"),
        title: "Delete this API?".into(),
        message: "Its scopes go with it: apps can no longer ask for them, and tokens are no \
                  longer issued for it. An API whose scopes an OAuth app or an API key still \
                  holds cannot be deleted. This cannot be undone."
            .into(),
        subject: vec![
            ("Name", api.name.clone()),
            ("Identifier", api.identifier.clone()),
            (
                "Scopes",
                api.scopes
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ],
        action: format!("{LIST}/{}/delete", api.id),
        button: "Delete API",
        cancel_href: anchor(&api.id),
    }))
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminDash(dash): AdminDash,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, HtmlError> {
    dash.check(&req, &state, &form.csrf)?;
    let api = stored(&state, &id).await?;
    match catalog::delete(&state.db, &state.catalog, &api.id).await {
        Ok(deleted) => {
            record(&dash, &state, &req, AuditKind::ApiDeleted, &deleted, None).await?;
            dash.flash(format!("Deleted {}.", deleted.name));
            Ok(see_other(LIST))
        }
        Err(e) => {
            dash.flash_error(refusal(e)?);
            Ok(see_other(&anchor(&api.id)))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Views

/// A few clients or keys holding a scope.
pub struct Holders {
    pub names: Vec<String>,
    pub more: bool,
}

impl Holders {
    fn new(mut rows: Vec<(String, String)>) -> Self {
        let more = rows.len() > HOLDERS_SHOWN;
        rows.truncate(HOLDERS_SHOWN);
        Holders {
            names: rows
                .into_iter()
                .map(|(id, name)| if name.is_empty() { id } else { name })
                .collect(),
            more,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// "A, B and C", "A, B, C and more".
    pub fn text(&self) -> String {
        match (self.names.as_slice(), self.more) {
            ([], _) => String::new(),
            (names, true) => format!("{} and more", names.join(", ")),
            ([one], false) => one.clone(),
            ([rest @ .., last], false) => format!("{} and {last}", rest.join(", ")),
        }
    }
}

pub struct ScopeRow {
    pub name: String,
    pub description: String,
    pub clients: Holders,
    pub keys: Holders,
}

impl ScopeRow {
    pub fn remove_href(&self, api: &str) -> String {
        scope_remove_href(api, &self.name)
    }
}

pub struct ApiRow {
    pub id: String,
    pub identifier: String,
    pub name: String,
    /// The form's value: seconds, or empty for the default.
    pub ttl_value: String,
    pub ttl_text: String,
    pub builtin: bool,
    pub created: Option<When>,
    pub scopes: Vec<ScopeRow>,
}

/// What the "Register an API" form holds (kept after a refusal).
#[derive(Default)]
pub struct NewApiValues {
    pub identifier: String,
    pub name: String,
    pub token_ttl: String,
    pub scopes: String,
}

#[derive(Template)]
#[template(path = "dashboard/admin_apis.html")]
pub struct ApisPage {
    pub c: Chrome,
    pub apis: Vec<ApiRow>,
    pub f: NewApiValues,
    pub error: Option<String>,
}
