//! The `/v1` JSON API: authenticated by API key or access token ([`auth`]), answering in
//! the API error dialect, paginated Stripe-style (`limit`, `starting_after`, `has_more`).

pub mod api_keys;
pub mod apis;
pub mod auth;
pub mod clients;
pub mod events;
pub mod idempotency;
pub mod params;
pub mod users;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::errors::{ApiError, ApiErrorType};

pub fn routes(cfg: &mut web::ServiceConfig) {
    users::routes(cfg);
    api_keys::routes(cfg);
    clients::routes(cfg);
    events::routes(cfg);
    apis::routes(cfg);
}

/// Unknown paths under `/v1` answer in the API dialect.
pub async fn unknown_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ApiErrorType::NotFound,
        "unknown_route",
        "Unrecognized request URL",
    ))
}

#[derive(Deserialize)]
pub struct ListQuery {
    pub limit: Option<String>,
    pub starting_after: Option<String>,
}

/// A validated page request: `limit` 1–100 (default 10).
pub struct Page {
    pub limit: u64,
    pub starting_after: Option<String>,
}

impl ListQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = match &self.limit {
            None => 10,
            Some(l) => l
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_request(
                        "parameter_invalid",
                        "limit must be an integer between 1 and 100",
                    )
                    .with_param("limit")
                })?,
        };
        let starting_after = self.starting_after.clone().filter(|s| !s.is_empty());
        if starting_after
            .as_deref()
            .is_some_and(|s| !crate::cursor::valid_after(s))
        {
            return Err(ApiError::invalid_request(
                "parameter_invalid",
                "starting_after must be an object id",
            )
            .with_param("starting_after"));
        }
        Ok(Page {
            limit,
            starting_after,
        })
    }
}

/// `{"object":"list","data":[…],"has_more":…,"url":…}`; `rows` holds up to limit + 1 items.
pub fn list_response<T>(
    url: &str,
    rows: Vec<T>,
    limit: u64,
    render: impl Fn(&T) -> serde_json::Value,
) -> HttpResponse {
    let page = crate::cursor::Page::split(rows, limit);
    HttpResponse::Ok().json(json!({
        "object": "list",
        "url": url,
        "has_more": page.has_more,
        "data": page.rows.iter().map(render).collect::<Vec<_>>(),
    }))
}

/// Record a change made through `/v1` in the account's activity: every change to a
/// credential, through any door, is an event (the dashboard records the same kinds).
pub async fn audit(
    state: &crate::state::AppState,
    req: &actix_web::HttpRequest,
    user_id: &str,
    kind: crate::audit::AuditKind,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    crate::audit::Event::new(kind)
        .user(user_id)
        .client_ip(crate::middleware::ClientIp::of(req))
        .user_agent_of(req)
        .detail(detail)
        .record(&state.db)
        .await?;
    Ok(())
}

/// An admin's change to someone else's object (disable, enable): the event belongs to the
/// object's owner (`user_id`, none for an operator's client) and names the admin as actor.
pub async fn admin_audit(
    state: &crate::state::AppState,
    req: &actix_web::HttpRequest,
    admin_id: &str,
    user_id: Option<&str>,
    kind: crate::audit::AuditKind,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    crate::audit::Event::new(kind)
        .user_opt(user_id)
        .actor(Some(admin_id))
        .client_ip(crate::middleware::ClientIp::of(req))
        .user_agent_of(req)
        .detail(detail)
        .record(&state.db)
        .await?;
    Ok(())
}
