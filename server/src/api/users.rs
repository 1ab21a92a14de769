//! `GET /v1/users/me` and, for admins, `GET /v1/users`.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::auth::{Action, Principal};
use super::{ListQuery, list_response};
use crate::errors::{ApiError, ApiErrorType};
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users/me", web::get().to(get_me))
        .route("/users", web::get().to(list_users));
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
