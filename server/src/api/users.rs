//! `GET /v1/users/me` and, for admins, `GET /v1/users`, `GET /v1/users/{id}` and
//! `POST /v1/users/{id}/disable|enable` (DESIGN.md "Accounts people can trust"): who may is
//! [`Principal::allow_admin`]'s rule; what disabling does is `users::set_disabled`'s.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::auth::{Action, Principal};
use super::{ListQuery, list_response};
use crate::audit::AuditKind;
use crate::errors::{ApiError, ApiErrorType};
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/me", web::get().to(get_me))
        .route("/users", web::get().to(list_users))
        .route("/users/{id}", web::get().to(retrieve))
        .route("/users/{id}", web::delete().to(delete))
        .route("/users/{id}/disable", web::post().to(disable))
        .route("/users/{id}/enable", web::post().to(enable));
}

pub fn user_object(u: &entity::user::Model, livemode: bool) -> serde_json::Value {
    json!({
        "id": u.id,
        "object": "user",
        "email": u.email,
        "name": u.name,
        "admin": u.is_admin,
        "disabled": u.disabled_at.is_some(),
        "created": u.created_at.timestamp(),
        "livemode": livemode,
    })
}

async fn get_me(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow("users", Action::Read)?;
    let user = store::users::by_id_cached(&state.db, &state.rows, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such user"))?;
    Ok(HttpResponse::Ok().json(user_object(&user, p.livemode)))
}

async fn list_users(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow("users", Action::Read)?;
    // An admin endpoint: the caller's own account must be an admin's.
    let me = store::users::by_id(&state.db, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such user"))?;
    if !me.is_admin {
        return Err(ApiError::new(
            ApiErrorType::Permission,
            "admin_required",
            "Listing users requires an admin account",
        ));
    }
    let page = q.page()?;
    let rows = store::users::page(
        &state.db,
        crate::cursor::fetch(page.limit),
        page.starting_after.as_deref(),
    )
    .await?;
    Ok(list_response("/v1/users", rows, page.limit, |u| {
        user_object(u, p.livemode)
    }))
}

/// A user by id, for admins; anything else is a 404 naming `id`.
async fn by_id(state: &AppState, id: &str) -> Result<entity::user::Model, ApiError> {
    let shown: String = id.chars().filter(|c| !c.is_control()).take(64).collect();
    let not_found = || ApiError::not_found(format!("No such user: '{shown}'")).with_param("id");
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(not_found());
    }
    store::users::by_id(&state.db, id)
        .await?
        .ok_or_else(not_found)
}

async fn retrieve(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    p.allow_admin(&state.db, "users", Action::Read).await?;
    Ok(HttpResponse::Ok().json(user_object(&by_id(&state, &id).await?, p.livemode)))
}

async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(req, state, p, &id, true).await
}

async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(req, state, p, &id, false).await
}

/// Disabling signs the account out everywhere and stops its keys, apps and grants (here at
/// once, on other instances within `api_keys::CACHE_TTL`); an admin cannot disable
/// themselves. Idempotent: disabling a disabled account changes nothing and records nothing.
async fn set_disabled(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: &str,
    disable: bool,
) -> Result<HttpResponse, ApiError> {
    let admin_id = p
        .allow_admin(&state.db, "users", Action::Manage)
        .await?
        .to_owned();
    let target = by_id(&state, id).await?;
    let admin = store::users::by_id(&state.db, &admin_id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such user"))?;
    let updated = match crate::users::set_disabled(
        &state.db,
        &state.keys,
        &state.rows,
        Some(&admin),
        &target,
        disable,
        state.clock.now(),
    )
    .await
    {
        Ok(u) => u,
        Err(crate::users::UserError::SelfLockout) => {
            return Err(ApiError::new(
                ApiErrorType::InvalidRequest,
                "cannot_disable_self",
                "An admin cannot disable their own account; ask another admin",
            )
            .with_param("id"));
        }
        Err(crate::users::UserError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ApiError::internal(anyhow::anyhow!("disable user: {e}"))),
    };
    if target.disabled_at.is_some() != disable {
        state.denied.catch_up(&state.db).await?;
        let kind = if disable {
            AuditKind::UserDisabled
        } else {
            AuditKind::UserEnabled
        };
        let detail = json!({"by": admin.email, "via": "api"});
        super::admin_audit(&state, &req, &admin.id, Some(&target.id), kind, detail).await?;
    }
    Ok(HttpResponse::Ok().json(user_object(&updated, p.livemode)))
}

/// `DELETE /v1/users/{id}`: an admin deletes another account (what goes is
/// `users::lifecycle::delete_account`'s rule). Who may: [`Principal::allow_admin`] with
/// `Manage` (an admin's API key); not on their own account (a person deletes their own in
/// Settings, after a fresh sign-in), and never the last admin.
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin_id = p
        .allow_admin(&state.db, "users", Action::Manage)
        .await?
        .to_owned();
    let target = by_id(&state, &id).await?;
    if target.id == admin_id {
        return Err(ApiError::new(
            ApiErrorType::InvalidRequest,
            "cannot_delete_self",
            "An admin deletes their own account in the dashboard's Settings, not through /v1",
        )
        .with_param("id"));
    }
    match crate::users::lifecycle::delete_account(
        &state.db,
        &state.keys,
        &state.rows,
        &target,
        state.clock.now(),
    )
    .await
    {
        Ok(()) => {}
        Err(crate::users::lifecycle::DeleteError::LastAdmin) => {
            return Err(ApiError::new(
                ApiErrorType::InvalidRequest,
                "last_admin",
                "This is the only admin account of this server; make another account an admin first",
            )
            .with_param("id"));
        }
        Err(crate::users::lifecycle::DeleteError::Store(e)) => return Err(e.into()),
    }
    state.denied.catch_up(&state.db).await?;
    crate::audit::Event::new(AuditKind::AccountDeleted)
        .user(&target.id)
        .actor(Some(&admin_id))
        .client_ip(crate::middleware::ClientIp::of(&req))
        .user_agent_of(&req)
        .detail(json!({"by": "an admin", "via": "api"}))
        .record(&state.db)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"id": target.id, "object": "user", "deleted": true})))
}
