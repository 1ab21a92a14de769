//! `/v1/events`: the caller's account activity (sign-ins, key changes, suspicious events).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::auth::{Action, Principal};
use super::{ListQuery, list_response};
use crate::errors::ApiError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/events", web::get().to(list));
}

pub fn event_object(e: &entity::audit_event::Model, livemode: bool) -> serde_json::Value {
    json!({
        "id": e.id,
        "object": "event",
        "type": e.kind,
        "severity": e.severity,
        "created": e.created_at.timestamp(),
        "ip": e.ip,
        "actor": e.actor,
        "data": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or(serde_json::Value::Null),
        "livemode": e.livemode.unwrap_or(livemode),
    })
}

async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow("events", Action::Read)?;
    let page = q.page()?;
    // A test-mode credential reads test-mode events only; live reads live and account events.
    let rows = store::audit::page(
        &state.db,
        Some(user_id),
        store::audit::ModeFilter::of(p.livemode),
        crate::cursor::fetch(page.limit),
        page.starting_after.as_deref(),
    )
    .await?;
    Ok(list_response("/v1/events", rows, page.limit, |e| {
        event_object(e, p.livemode)
    }))
}
