//! `Idempotency-Key` on `/v1` POSTs (Stripe's contract): the first response for a key is
//! kept for 24 hours; the same key with the same request gets that response again
//! (`Idempotent-Replayed: true`); with a different request, 409. A request still running
//! under a key makes a concurrent one with the same key a 409 too.
//!
//! Stored responses are sealed with the master key (they may carry a secret shown at
//! creation), so the database never holds a secret in clear.

use std::future::Future;

use crate::crypto;
use crate::errors::{ApiError, ApiErrorType, StoreError};
use crate::state::AppState;
use crate::store;
use crate::store::idempotency::IN_PROGRESS;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);

fn conflict(msg: &'static str) -> ApiError {
    ApiError::new(ApiErrorType::Conflict, "idempotency_key_in_use", msg)
}

/// Run `f` at most once per (`owner`, `Idempotency-Key`).
pub async fn run<F, Fut>(
    state: &AppState,
    owner: &str,
    req: &HttpRequest,
    body: &[u8],
    f: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let Some(key) = req.headers().get("idempotency-key") else {
        let (status, v) = f().await?;
        return Ok(HttpResponse::build(status).json(v));
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::invalid_request(
                "idempotency_key_invalid",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?;
    let mut h = Vec::with_capacity(body.len() + 64);
    h.extend_from_slice(req.method().as_str().as_bytes());
    h.push(0);
    h.extend_from_slice(req.path().as_bytes());
    h.push(0);
    h.extend_from_slice(body);
    let request_hash = crypto::b64url(&crypto::sha256(&h));
    let aad = format!("{owner}\0{key}");
    let sealer = &state.sealer;
    let now = state.clock.now();

    let existing = store::idempotency::find(&state.db, owner, key).await?;
    if let Some(row) = existing {
        if row.created_at + RETENTION > now {
            if row.request_hash != request_hash {
                return Err(conflict(
                    "This Idempotency-Key was already used with a different request",
                ));
            }
            if row.status == IN_PROGRESS {
                return Err(conflict(
                    "A request with this Idempotency-Key is still being processed",
                ));
            }
            let body = sealer.open(&row.body, &aad).ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("stored response cannot be opened"))
            })?;
            let status = StatusCode::from_u16(row.status as u16).map_err(ApiError::internal)?;
            return Ok(HttpResponse::build(status)
                .insert_header(("Idempotent-Replayed", "true"))
                .content_type("application/json")
                .body(body));
        }
        store::idempotency::delete(&state.db, &row.id).await?;
    }
    // Claim the key first, so a concurrent duplicate cannot run the operation too.
    let id = crypto::new_id("idem");
    match store::idempotency::claim(&state.db, &id, owner, key, request_hash, now).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(conflict(
                "A request with this Idempotency-Key is still being processed",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let result = f().await;
    let (status, v) = match result {
        Ok(ok) => ok,
        Err(e) => {
            // Only completed answers are kept; a failure frees the key for a retry.
            let _ = store::idempotency::delete(&state.db, &id).await;
            return Err(e);
        }
    };
    let text = v.to_string();
    store::idempotency::complete(
        &state.db,
        &id,
        status.as_u16(),
        sealer.seal(text.as_bytes(), &aad),
    )
    .await?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(text))
}

/// Delete records past retention.
pub async fn sweep(
    db: &impl store::Conn,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    store::idempotency::sweep(db, now - RETENTION).await
}
