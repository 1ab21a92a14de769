//! `/v1/api_keys`: list, create, retrieve, update (name, rate, policies), roll, delete
//! (revoke). Without `scopes`, create makes a secret key (only a secret key may); with them,
//! a restricted key. A key sees and
//! changes only keys of its own mode (a `sk_test_` key never touches live keys). The secret
//! appears only in the create and roll responses; elsewhere `redacted` (prefix + last 4).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::auth::{Action, Principal};
use super::params::Params;
use super::{ListQuery, idempotency, list_response};
use crate::api_keys;
use crate::audit::AuditKind;
use crate::errors::ApiError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api_keys", web::get().to(list))
        .route("/api_keys", web::post().to(create))
        .route("/api_keys/{id}", web::get().to(retrieve))
        .route("/api_keys/{id}", web::post().to(update))
        .route("/api_keys/{id}", web::delete().to(delete))
        .route("/api_keys/{id}/roll", web::post().to(roll));
}

const RESOURCE: &str = "api_keys";

fn ts(t: Option<chrono::DateTime<chrono::Utc>>) -> serde_json::Value {
    t.map(|t| json!(t.timestamp()))
        .unwrap_or(serde_json::Value::Null)
}

/// The `api_key` object. A secret key's `scopes` are every scope of every API in `catalog`
/// now (what it holds at this moment).
pub fn key_object(
    k: &entity::api_key::Model,
    catalog: &crate::catalog::Snapshot,
    now: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    json!({
        "id": k.id,
        "object": "api_key",
        "type": k.key_type,
        "name": k.name,
        "livemode": k.livemode,
        "scopes": api_keys::effective_scopes(k, catalog),
        "redacted": api_keys::redacted(k),
        "status": api_keys::status(k, now),
        "created": k.created_at.timestamp(),
        "last_used": ts(k.last_used_at),
        "expires_at": ts(k.expires_at),
        "revoked_at": ts(k.revoked_at),
        "rolled_to": k.rolled_to,
        "rate_limit": k.rate_limit,
        "remaining": k.remaining,
        "refill": match (k.refill_amount, &k.refill_interval) {
            (Some(a), Some(i)) => json!({"amount": a, "interval": i, "last_refill": ts(k.refilled_at)}),
            _ => serde_json::Value::Null,
        },
        "allowed_ips": api_keys::allowed_ips(k),
        "metadata": api_keys::metadata_json(k),
    })
}

/// The policy parameters of create and update.
const POLICY_PARAMS: &[&str] = &[
    "expires_at",
    "remaining",
    "refill[amount]",
    "refill[interval]",
    "allowed_ips",
    "metadata",
    "metadata[*]",
];

/// Read the policy parameters. `metadata[k]=` (empty) removes `k`; `metadata=` removes all.
fn policies(
    params: &Params,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<api_keys::Policies, ApiError> {
    for n in [
        "expires_at",
        "remaining",
        "refill[amount]",
        "refill[interval]",
    ] {
        params.one(n)?;
    }
    let pairs = params.map("metadata");
    let clear_all = match params.one("metadata")? {
        Some("") => true,
        Some(_) => {
            return Err(ApiError::invalid_request(
                "parameter_invalid",
                "metadata must be given as metadata[key]=value pairs",
            )
            .with_param("metadata"));
        }
        None => false,
    };
    let mut p = api_keys::Policies::parse(
        |n| params.one(n).ok().flatten().map(str::to_owned),
        params.list("allowed_ips"),
        (!pairs.is_empty()).then_some(pairs),
        now,
    )?;
    if clear_all {
        p.metadata = Some(None);
    }
    Ok(p)
}

/// `rate_limit`: requests per second for this key, or empty for the mode default. A user
/// may lower their key's rate but never raise it above the operator's limit for the mode
/// (`LATCH_LIMIT_API_KEY_LIVE` / `_TEST`); only the operator's CLI sets more.
fn parse_rate_limit(state: &AppState, livemode: bool, s: &str) -> Result<Option<i32>, ApiError> {
    if s.is_empty() {
        return Ok(None);
    }
    let limits = &state.settings.limits;
    let mode = if livemode {
        limits.api_key_live
    } else {
        limits.api_key_test
    };
    // Per second, whatever period the operator's rate is written in.
    let max = (f64::from(mode.count) / mode.period.as_secs_f64())
        .floor()
        .max(1.0) as i32;
    s.parse::<i32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid_request(
                "parameter_invalid",
                format!("rate_limit must be 1 to {max} requests per second (this mode's limit)"),
            )
            .with_param("rate_limit")
        })
}

/// The caller's key `id` in the caller's mode, or 404 (never another user's or mode's).
async fn owned(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> Result<entity::api_key::Model, ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "No such api_key: '{}'",
            id.chars().take(64).collect::<String>()
        ))
        .with_param("id")
    };
    // Ids are `key_` + base62: anything else (a NUL byte, say) is nobody's, without a query.
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(not_found());
    }
    let k = store::api_keys::by_id(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    if !p.owns(Some(&k.user_id), k.livemode) {
        return Err(not_found());
    }
    Ok(k)
}

async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow(RESOURCE, Action::Read)?;
    let page = q.page()?;
    let rows = store::api_keys::page(
        &state.db,
        user_id,
        Some(p.livemode),
        false,
        crate::cursor::fetch(page.limit),
        page.starting_after.as_deref(),
    )
    .await?;
    let now = state.clock.now();
    let catalog = state.catalog.get();
    Ok(list_response("/v1/api_keys", rows, page.limit, |k| {
        key_object(k, &catalog, now)
    }))
}

async fn retrieve(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    p.allow(RESOURCE, Action::Read)?;
    Ok(HttpResponse::Ok().json(key_object(
        &owned(&state, &p, &id).await?,
        &state.catalog.get(),
        state.clock.now(),
    )))
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow(RESOURCE, Action::Manage)?.to_owned();
    let params = Params::parse(&req, &body)?;
    let mut known = vec!["name", "scopes", "expires_in", "rate_limit"];
    known.extend_from_slice(POLICY_PARAMS);
    params.only(&known)?;
    let catalog = state.catalog.get();
    // Without `scopes`: a secret key, which only a secret key may mint. With them: a
    // restricted key, no broader than the caller.
    let scopes = match params.list("scopes") {
        Some(s) if !s.is_empty() => api_keys::check_scopes(&catalog, &s)?,
        _ => Vec::new(),
    };
    if scopes.is_empty() {
        p.covers_secret()?;
    } else {
        p.covers(scopes.iter().map(String::as_str))?;
    }
    let key_policies = policies(&params, state.clock.now())?;
    if key_policies.expires_at.is_some() && params.one("expires_in")?.is_some() {
        return Err(ApiError::invalid_request(
            "parameter_invalid",
            "Give expires_at or expires_in, not both",
        )
        .with_param("expires_at"));
    }
    let rate_limit = params
        .one("rate_limit")?
        .map(|r| parse_rate_limit(&state, p.livemode, r))
        .transpose()?;
    idempotency::run(&state, &p.owner(), &req, &body, || async {
        let mut key_policies = key_policies.clone();
        if let Some(s) = params.one("expires_in")? {
            let secs = s
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0 && *n <= 366 * 86_400)
                .ok_or_else(|| {
                    ApiError::invalid_request(
                        "parameter_invalid",
                        "expires_in must be seconds, 1 to 31622400",
                    )
                    .with_param("expires_in")
                })?;
            key_policies.expires_at =
                Some(Some(state.clock.now() + chrono::Duration::seconds(secs)));
        }
        let new = api_keys::NewKey {
            user_id: user_id.clone(),
            livemode: p.livemode,
            name: params.one("name")?.unwrap_or_default().to_owned(),
            scopes: scopes.clone(),
            policies: key_policies,
        };
        let (mut key, secret) = api_keys::create(&state.db, &catalog, new).await?;
        if let Some(r) = rate_limit {
            key = api_keys::set_rate_limit(&state.db, &state.keys, &key, r).await?;
        }
        audit(&state, &req, &user_id, AuditKind::ApiKeyCreated, &key).await?;
        let mut v = key_object(&key, &catalog, state.clock.now());
        v["secret"] = json!(secret);
        Ok((StatusCode::OK, v))
    })
    .await
}

async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow(RESOURCE, Action::Manage)?;
    let key = owned(&state, &p, &id).await?;
    let params = Params::parse(&req, &body)?;
    let mut known = vec!["name", "rate_limit"];
    known.extend_from_slice(POLICY_PARAMS);
    params.only(&known)?;
    let key_policies = policies(&params, state.clock.now())?;
    let rate_limit = params
        .one("rate_limit")?
        .map(|r| parse_rate_limit(&state, key.livemode, r))
        .transpose()?;
    idempotency::run(&state, &p.owner(), &req, &body, || async {
        let mut updated = match params.one("name")? {
            Some(name) => api_keys::rename(&state.db, &key, name).await?,
            None => key.clone(),
        };
        if let Some(r) = rate_limit {
            updated = api_keys::set_rate_limit(&state.db, &state.keys, &updated, r).await?;
        }
        updated =
            api_keys::update_policies(&state.db, &state.keys, &updated, &key_policies).await?;
        if updated != key {
            let mut d = key_detail(&updated);
            if updated.name != key.name {
                d["previous_name"] = json!(key.name);
            }
            if updated.rate_limit != key.rate_limit {
                d["rate_limit"] = json!(updated.rate_limit);
            }
            let changed: Vec<&str> = [
                ("expires_at", updated.expires_at != key.expires_at),
                ("remaining", updated.remaining != key.remaining),
                (
                    "refill",
                    updated.refill_amount != key.refill_amount
                        || updated.refill_interval != key.refill_interval,
                ),
                ("allowed_ips", updated.allowed_ips != key.allowed_ips),
                ("metadata", updated.metadata != key.metadata),
            ]
            .into_iter()
            .filter_map(|(n, c)| c.then_some(n))
            .collect();
            if !changed.is_empty() {
                d["policies_changed"] = json!(changed);
            }
            super::audit(&state, &req, user_id, AuditKind::ApiKeyUpdated, d).await?;
        }
        Ok((
            StatusCode::OK,
            key_object(&updated, &state.catalog.get(), state.clock.now()),
        ))
    })
    .await
}

async fn roll(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow(RESOURCE, Action::Manage)?.to_owned();
    let key = owned(&state, &p, &id).await?;
    // Rolling hands out a new secret with the old key's type and scopes: only a key that
    // holds them.
    if api_keys::is_secret(&key) {
        p.covers_secret()?;
    } else {
        p.covers(crate::store::words(&key.scopes))?;
    }
    let params = Params::parse(&req, &body)?;
    params.only(&["expires_in"])?;
    idempotency::run(&state, &p.owner(), &req, &body, || async {
        let now = state.clock.now();
        if matches!(api_keys::status(&key, now), "revoked" | "expired") {
            return Err(ApiError::invalid_request(
                "api_key_inactive",
                "A revoked or expired key cannot be rolled",
            ));
        }
        let expires_in = match params.one("expires_in")? {
            None => 0,
            Some(s) => api_keys::parse_roll_expiry(s).ok_or_else(|| {
                ApiError::invalid_request(
                    "parameter_invalid",
                    "expires_in must be 0 to 604800 seconds (or now, 1h, 24h, 7d)",
                )
                .with_param("expires_in")
            })?,
        };
        let catalog = state.catalog.get();
        let (new, secret) =
            api_keys::roll(&state.db, &catalog, &state.keys, &key, expires_in, now).await?;
        audit(&state, &req, &user_id, AuditKind::ApiKeyRolled, &key).await?;
        let mut v = key_object(&new, &catalog, now);
        v["secret"] = json!(secret);
        v["rolled_from"] = json!(key.id);
        Ok((StatusCode::OK, v))
    })
    .await
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user_id = p.allow(RESOURCE, Action::Manage)?;
    let key = owned(&state, &p, &id).await?;
    let now = state.clock.now();
    let revoked = api_keys::revoke(&state.db, &state.keys, &key, now).await?;
    // Tokens exchanged from the key (RFC 8693) stop here at once, elsewhere within a sync.
    state.denied.catch_up(&state.db).await?;
    audit(&state, &req, user_id, AuditKind::ApiKeyRevoked, &key).await?;
    let mut v = key_object(&revoked, &state.catalog.get(), now);
    v["deleted"] = json!(true);
    Ok(HttpResponse::Ok().json(v))
}

fn key_detail(key: &entity::api_key::Model) -> serde_json::Value {
    json!({"api_key": key.id, "name": key.name, "redacted": api_keys::redacted(key), "livemode": key.livemode, "via": "api"})
}

async fn audit(
    state: &AppState,
    req: &HttpRequest,
    user_id: &str,
    kind: AuditKind,
    key: &entity::api_key::Model,
) -> Result<(), ApiError> {
    super::audit(state, req, user_id, kind, key_detail(key)).await
}
