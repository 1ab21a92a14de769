//! `/v1/apis`, for admins: the permission catalog (DESIGN.md "Your own APIs"): list,
//! create, retrieve, update (name, `access_token_ttl`, scope descriptions, new scopes),
//! delete, and removing one scope. Every rule on names and identifiers is
//! `catalog::manage`'s; who may call this is [`Principal::allow_admin`]'s.
//!
//! Bodies are form-encoded (`scopes[0][name]=invoices:read&scopes[0][description]=…`) or
//! JSON (`"scopes": [{"name": …, "description": …}]`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::auth::{Action, Principal};
use super::idempotency;
use super::params::Params;
use crate::audit::AuditKind;
use crate::catalog::{self, Api, NewApi, UpdateApi};
use crate::errors::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/apis", web::get().to(list))
        .route("/apis", web::post().to(create))
        .route("/apis/{id}", web::get().to(retrieve))
        .route("/apis/{id}", web::post().to(update))
        .route("/apis/{id}", web::delete().to(delete))
        .route("/apis/{id}/scopes/{name}", web::delete().to(remove_scope));
}

const RESOURCE: &str = "apis";

fn param_invalid(p: &str, m: impl Into<String>) -> ApiError {
    let m: String = m.into();
    ApiError::invalid_request("parameter_invalid", m).with_param(p.to_owned())
}

/// `access_token_ttl`: seconds; empty (or JSON `null`) for the default (`Some(None)`).
fn ttl(params: &Params) -> Result<Option<Option<i64>>, ApiError> {
    let k = "access_token_ttl";
    match params.one(k)?.map(str::trim) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(s) => s
            .parse()
            .map(|n| Some(Some(n)))
            .map_err(|_| param_invalid(k, "access_token_ttl must be a whole number of seconds")),
    }
}

/// `scopes`: `[{name, description}]`; a description may be missing on update (then it is
/// an error only for a new scope).
fn scopes(params: &Params) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let items = params
        .objects(
            "scopes",
            &["name", "description"],
            catalog::MAX_SCOPES_PER_API,
        )?
        .unwrap_or_default();
    items
        .into_iter()
        .map(|mut s| {
            let name = s.remove("name").ok_or_else(|| {
                param_invalid("scopes", "each of scopes needs a name and a description")
            })?;
            Ok((name, s.remove("description")))
        })
        .collect()
}

/// An API by id (the built-in `api_latch` too). One this instance has not loaded yet (made
/// on another instance in the last seconds) is looked for again in the database.
async fn find(state: &AppState, id: &str) -> Result<Api, ApiError> {
    if let Some(a) = state.catalog.get().api(id) {
        return Ok(a.clone());
    }
    let snap = state.catalog.reload(&state.db).await?;
    snap.api(id).cloned().ok_or_else(|| {
        ApiError::not_found(format!(
            "No such API: '{}'",
            id.chars().take(64).collect::<String>()
        ))
        .with_param("id")
    })
}

async fn audit(
    state: &AppState,
    req: &HttpRequest,
    admin: &str,
    kind: AuditKind,
    api: &Api,
    scope: Option<&str>,
) -> Result<(), ApiError> {
    super::audit(
        state,
        req,
        admin,
        kind,
        catalog::audit_detail(api, scope, "api"),
    )
    .await
}

async fn list(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiError> {
    p.allow_admin(&state.db, RESOURCE, Action::Read).await?;
    // The catalog is small and bounded (`MAX_APIS`): one page, the built-in API first.
    let snap = state.catalog.get();
    Ok(HttpResponse::Ok().json(json!({
        "object": "list",
        "url": "/v1/apis",
        "has_more": false,
        "data": snap.apis().iter().map(Api::to_json).collect::<Vec<_>>(),
    })))
}

async fn retrieve(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    p.allow_admin(&state.db, RESOURCE, Action::Read).await?;
    Ok(HttpResponse::Ok().json(find(&state, &id).await?.to_json()))
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = p
        .allow_admin(&state.db, RESOURCE, Action::Manage)
        .await?
        .to_owned();
    let params = Params::parse(&req, &body)?;
    params.only(&[
        "identifier",
        "name",
        "scopes",
        "scopes[*]",
        "access_token_ttl",
    ])?;
    let missing = |k: &'static str| {
        ApiError::invalid_request("parameter_missing", format!("{k} is required")).with_param(k)
    };
    let identifier = params
        .one("identifier")?
        .ok_or_else(|| missing("identifier"))?
        .to_owned();
    let name = params
        .one("name")?
        .ok_or_else(|| missing("name"))?
        .to_owned();
    let access_token_ttl = ttl(&params)?.flatten();
    let scopes = scopes(&params)?
        .into_iter()
        .map(|(n, d)| {
            d.map(|d| (n.clone(), d))
                .ok_or_else(|| param_invalid("scopes", format!("scope {n:?} needs a description")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    idempotency::run(&state, &p.owner(), &req, &body, || async {
        let api = catalog::create(
            &state.db,
            &state.catalog,
            NewApi {
                identifier,
                name,
                scopes,
                access_token_ttl,
            },
        )
        .await?;
        audit(&state, &req, &admin, AuditKind::ApiCreated, &api, None).await?;
        Ok((StatusCode::OK, api.to_json()))
    })
    .await
}

/// Name, token lifetime and descriptions in one change; scopes the API does not have yet
/// are added (each its own event).
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let admin = p
        .allow_admin(&state.db, RESOURCE, Action::Manage)
        .await?
        .to_owned();
    let api = find(&state, &id).await?;
    if api.builtin {
        return Err(catalog::CatalogError::Builtin.into());
    }
    let params = Params::parse(&req, &body)?;
    params.only(&["name", "scopes", "scopes[*]", "access_token_ttl"])?;
    let name = params.one("name")?.map(str::to_owned);
    let access_token_ttl = ttl(&params)?;
    let mut descriptions = Vec::new();
    let mut added = Vec::new();
    for (n, d) in scopes(&params)? {
        match d {
            Some(d) if api.has_scope(&n) => descriptions.push((n, d)),
            Some(d) => added.push((n, d)),
            None => {
                return Err(param_invalid(
                    "scopes",
                    format!("scope {n:?} needs a description"),
                ));
            }
        }
    }
    // Check the new scopes against the stored catalog before changing anything, so a bad
    // or taken one changes nothing (a concurrent change is still refused by `add_scope`).
    if !added.is_empty() {
        let snap = state.catalog.reload(&state.db).await?;
        let mut names: Vec<&str> = Vec::with_capacity(added.len());
        for (n, d) in &added {
            catalog::check_new_scope(&snap, &api, n, d)?;
            if names.contains(&n.trim()) {
                return Err(param_invalid(
                    "scopes",
                    format!("scope {n:?} is listed twice"),
                ));
            }
            names.push(n.trim());
        }
        if api.scopes.len() + added.len() > catalog::MAX_SCOPES_PER_API {
            return Err(param_invalid(
                "scopes",
                format!("at most {} scopes per API", catalog::MAX_SCOPES_PER_API),
            ));
        }
    }
    idempotency::run(&state, &p.owner(), &req, &body, || async {
        let mut current = api.clone();
        if name.is_some() || access_token_ttl.is_some() || !descriptions.is_empty() {
            current = catalog::update(
                &state.db,
                &state.catalog,
                &api.id,
                UpdateApi {
                    name,
                    access_token_ttl,
                    descriptions,
                },
            )
            .await?;
            audit(&state, &req, &admin, AuditKind::ApiUpdated, &current, None).await?;
        }
        for (n, d) in &added {
            current = catalog::add_scope(&state.db, &state.catalog, &api.id, n, d).await?;
            audit(
                &state,
                &req,
                &admin,
                AuditKind::ApiScopeAdded,
                &current,
                Some(n),
            )
            .await?;
        }
        Ok((StatusCode::OK, current.to_json()))
    })
    .await
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = p.allow_admin(&state.db, RESOURCE, Action::Manage).await?;
    let api = find(&state, &id).await?;
    let deleted = catalog::delete(&state.db, &state.catalog, &api.id).await?;
    audit(&state, &req, admin, AuditKind::ApiDeleted, &deleted, None).await?;
    let mut v = deleted.to_json();
    v["deleted"] = json!(true);
    Ok(HttpResponse::Ok().json(v))
}

async fn remove_scope(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let admin = p.allow_admin(&state.db, RESOURCE, Action::Manage).await?;
    let (id, name) = path.into_inner();
    let api = find(&state, &id).await?;
    if api.builtin {
        return Err(catalog::CatalogError::Builtin.into());
    }
    if !api.has_scope(&name) {
        return Err(ApiError::not_found(format!(
            "{} has no scope '{}'",
            api.name,
            name.chars().take(64).collect::<String>()
        ))
        .with_param("name"));
    }
    let updated = catalog::remove_scope(&state.db, &state.catalog, &name).await?;
    audit(
        &state,
        &req,
        admin,
        AuditKind::ApiScopeRemoved,
        &updated,
        Some(&name),
    )
    .await?;
    Ok(HttpResponse::Ok().json(updated.to_json()))
}
