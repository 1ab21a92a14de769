//! The HTTP side of rate limiting: [`enforce`], the one call shape every limited endpoint
//! uses (check, audit the hit, refuse), and the `RateLimit` headers on `/v1` answers
//! (draft-ietf-httpapi-ratelimit-headers; `Retry-After` on 429 is RFC 9110 §10.2.3).

use actix_web::HttpRequest;

use super::limiter::Limiter;
use super::policy::{Decision, Policy};

/// A request refused by a rate limit; each error dialect turns it into its 429
/// (`impl From<Refused>` in `errors`), so `enforce(..).await?` answers in the caller's dialect.
#[derive(Clone, Debug)]
pub struct Refused(pub Decision);

/// Take one request from `policy`'s bucket for `key`. A refusal is recorded as an audit
/// event (`note_limited`) and returned as [`Refused`]; an allowed request gets its
/// [`Decision`] back, for the `RateLimit` headers.
pub async fn enforce(
    limiter: &Limiter,
    db: &crate::store::Db,
    req: &HttpRequest,
    policy: Policy,
    key: &str,
) -> Result<Decision, Refused> {
    let d = limiter
        .check(policy.name(), policy.rate(&limiter.limits), key)
        .await;
    if !d.allowed {
        note_limited(limiter, db, req, policy, key).await;
        return Err(Refused(d));
    }
    Ok(d)
}

/// Record a limit hit as an audit event, at most once a minute per policy and key.
async fn note_limited(
    limiter: &Limiter,
    db: &crate::store::Db,
    req: &HttpRequest,
    policy: Policy,
    key: &str,
) {
    let k = format!("{}:{key}", policy.name());
    if limiter.noted.contains_key(&k) {
        return;
    }
    limiter.noted.insert(k, ());
    let user_id = match policy {
        Policy::ApiKey { .. } => crate::store::api_keys::by_id(db, key)
            .await
            .ok()
            .flatten()
            .map(|k| k.user_id),
        _ => None,
    };
    let _ = crate::audit::Event::new(crate::audit::AuditKind::RateLimitExceeded)
        .user_opt(user_id.as_deref())
        .client_ip(crate::client_ip::ClientIp::of(req))
        .detail(serde_json::json!({"policy": policy.name()}))
        .record(db)
        .await;
}

/// Put the `RateLimit` headers of the request's decision on a `/v1` response.
pub async fn v1_headers(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    let mut res = next.call(req).await?;
    let d = res.request().extensions().get::<Decision>().cloned();
    if let Some(d) = d {
        for (k, v) in d.headers() {
            if let (Ok(name), Ok(value)) = (
                actix_web::http::header::HeaderName::try_from(k),
                actix_web::http::header::HeaderValue::from_str(&v),
            ) {
                res.headers_mut().insert(name, value);
            }
        }
    }
    Ok(res)
}
