//! Liveness, readiness and Prometheus metrics.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(get_healthz))
        .route("/readyz", web::get().to(get_readyz))
        .route("/metrics", web::get().to(get_metrics));
}

/// The process is up and serving HTTP.
async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": "ok"}))
}

/// Ready when the database answers within a second; 503 with `Retry-After` otherwise.
async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    let db_ok = matches!(
        tokio::time::timeout(Duration::from_secs(1), crate::store::ping(&state.db)).await,
        Ok(Ok(()))
    );
    let rate_limit = match (state.limiter.enabled(), state.limiter.redis_up()) {
        (false, _) => "off (LATCH_RATE_LIMIT=off)",
        (true, None) => "on (in-process)",
        (true, Some(true)) => "on (redis)",
        (true, Some(false)) => "on (in-process fallback: redis unreachable)",
    };
    let body = json!({
        "status": if db_ok { "ready" } else { "unavailable" },
        "checks": { "database": if db_ok { "ok" } else { "unreachable" } },
        "rate_limit": rate_limit,
        // Detail only: a mail outage does not make the instance unready (mail is retried
        // from the outbox; sign-in and tokens still work).
        "mail": state.mail.readiness(&state.db).await,
    });
    if db_ok {
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::RETRY_AFTER, "5"))
            .json(body)
    }
}

async fn get_metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
