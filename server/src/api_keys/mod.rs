//! API keys (DESIGN.md): `sk_live_`/`sk_test_` + 32 random base62 + CRC32 checksum, stored
//! as a SHA-256 digest with a display prefix and the last four characters.

use crate::audit::{AuditKind, Event};
use crate::crypto;
use crate::errors::{ApiError, StoreError};
use crate::store::{self, Conn};

pub const LIVE_PREFIX: &str = "sk_live_";
pub const TEST_PREFIX: &str = "sk_test_";
pub const KEY_SCOPES: &[&str] = &["read", "write"];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Invalid(m, p) => {
                ApiError::invalid_request("parameter_invalid", m).with_param(p)
            }
            KeyError::Store(s) => s.into(),
        }
    }
}

/// Whether a presented string is shaped like one of our keys with a valid checksum.
/// Costs no database read: garbage is refused here (SECURITY.md K3).
pub fn looks_valid(key: &str) -> bool {
    crypto::check_secret(key, LIVE_PREFIX) || crypto::check_secret(key, TEST_PREFIX)
}

pub struct NewKey {
    pub user_id: String,
    pub livemode: bool,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Validate and dedupe a key's scopes: `read`, `write`, or `resource:read|write`. None
/// means a full key (`read write`).
pub fn check_scopes(requested: &[String]) -> Result<Vec<String>, KeyError> {
    let unknown = |s: &str| {
        KeyError::Invalid(
            format!(
                "unknown scope {:?}; use read, write or resource:read|write",
                s.chars().take(64).collect::<String>()
            ),
            "scopes",
        )
    };
    // One scope per element (a list element with a space is not a scope); `ScopeSet` checks
    // the RFC 6749 §3.3 syntax and drops repeats, keeping the order given.
    let set = crate::scope::ScopeSet::from_tokens(requested.iter().map(String::as_str))
        .map_err(unknown)?;
    let key_scope = |s: &str| {
        KEY_SCOPES.contains(&s)
            || s.split_once(':').is_some_and(|(res, act)| {
                !res.is_empty()
                    && res.len() <= 64
                    && res.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    && (act == "read" || act == "write")
            })
    };
    if let Some(bad) = set.iter().find(|s| !key_scope(s)) {
        return Err(unknown(bad));
    }
    if set.is_empty() {
        return Ok(KEY_SCOPES.iter().map(|s| s.to_string()).collect());
    }
    Ok(set.to_vec())
}

/// Create a key; the secret is returned here and never again.
pub async fn create(
    db: &impl Conn,
    k: NewKey,
) -> Result<(entity::api_key::Model, String), KeyError> {
    let name = k.name.trim().to_owned();
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(KeyError::Invalid(
            "name must be at most 100 characters, without control characters".into(),
            "name",
        ));
    }
    let scopes = check_scopes(&k.scopes)?;
    let prefix = if k.livemode { LIVE_PREFIX } else { TEST_PREFIX };
    let secret = crypto::mint_secret(prefix);
    let model = entity::api_key::Model {
        id: crypto::new_id("key"),
        key_hash: crypto::sha256_hex(&secret),
        prefix: prefix.to_owned(),
        last4: secret[secret.len() - 4..].to_owned(),
        livemode: k.livemode,
        name: if name.is_empty() {
            "Secret key".to_owned()
        } else {
            name
        },
        scopes: scopes.join(" "),
        user_id: k.user_id,
        rate_limit: None,
        created_at: store::now(),
        last_used_at: None,
        last_used_ip: None,
        expires_at: k.expires_at,
        revoked_at: None,
        rolled_to: None,
    };
    let row = store::api_keys::insert(db, model).await?;
    Ok((row, secret))
}

/// `sk_test_…a1b2`: what lists show instead of the secret.
pub fn redacted(m: &entity::api_key::Model) -> String {
    format!("{}…{}", m.prefix, m.last4)
}

/// What a verified key grants.
#[derive(Clone, Debug)]
pub struct VerifiedKey {
    pub key: entity::api_key::Model,
    pub user_disabled: bool,
}

/// How long a key lookup is reused on one instance. A revocation, roll expiry or account
/// disablement is therefore seen by every instance within this delay (on the instance that
/// made the change, at once).
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// `last_used_at` is written at most this often per key and instance.
pub const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Per-instance cache of key lookups by digest, with bounded staleness ([`CACHE_TTL`]) and
/// size; also remembers when each key's use was last written.
#[derive(Clone)]
pub struct KeyCache {
    by_digest: moka::sync::Cache<String, Option<std::sync::Arc<VerifiedKey>>>,
    touched: moka::sync::Cache<String, ()>,
    /// (key, ip) pairs already reported as a new address (once a day per instance).
    seen_ips: moka::sync::Cache<String, ()>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            by_digest: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CACHE_TTL)
                .build(),
            touched: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOUCH_EVERY)
                .build(),
            seen_ips: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(86_400))
                .build(),
        }
    }
}

impl KeyCache {
    /// Forget everything about a key (after revoke/roll/rename on this instance).
    pub fn forget(&self, key_hash: &str) {
        self.by_digest.invalidate(key_hash);
    }

    pub fn clear(&self) {
        self.by_digest.invalidate_all();
    }
}

/// Why a presented key was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyRejection {
    /// Bad shape or checksum: refused without a database read.
    Malformed,
    Unknown,
    Revoked,
    Expired,
    UserDisabled,
    /// The caller's address is locked out of uncached lookups for this long.
    Locked(std::time::Duration),
}

/// Verify a presented API key: checksum first (no I/O), then the digest, served from the
/// cache when fresh. The digest lookup is by unique index, so the comparison is the
/// database's equality on a SHA-256 digest of a 190-bit secret (no timing signal on the
/// secret itself).
pub async fn verify(
    db: &store::Db,
    cache: &KeyCache,
    presented: &str,
    ip: Option<std::net::IpAddr>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Result<std::sync::Arc<VerifiedKey>, KeyRejection>, StoreError> {
    verify_gated(db, cache, presented, ip, now, async || None).await
}

/// [`verify`], asking `gate` before a lookup that the cache cannot answer (the only case
/// that costs a query): `Some(wait)` refuses it as [`KeyRejection::Locked`]. Cached keys
/// never call the gate, so the hot path pays nothing for it.
pub async fn verify_gated(
    db: &store::Db,
    cache: &KeyCache,
    presented: &str,
    ip: Option<std::net::IpAddr>,
    now: chrono::DateTime<chrono::Utc>,
    gate: impl AsyncFnOnce() -> Option<std::time::Duration>,
) -> Result<Result<std::sync::Arc<VerifiedKey>, KeyRejection>, StoreError> {
    if !looks_valid(presented) {
        return Ok(Err(KeyRejection::Malformed));
    }
    let digest = crypto::sha256_hex(presented);
    let found = match cache.by_digest.get(&digest) {
        Some(hit) => hit,
        None => {
            if let Some(wait) = gate().await {
                return Ok(Err(KeyRejection::Locked(wait)));
            }
            let row = store::api_keys::by_hash(db, &digest).await?;
            let v = match row {
                Some(key) => {
                    let user = store::users::by_id(db, &key.user_id).await?;
                    Some(std::sync::Arc::new(VerifiedKey {
                        user_disabled: user.is_none_or(|u| u.disabled_at.is_some()),
                        key,
                    }))
                }
                None => None,
            };
            cache.by_digest.insert(digest, v.clone());
            v
        }
    };
    let Some(v) = found else {
        return Ok(Err(KeyRejection::Unknown));
    };
    if v.key.revoked_at.is_some_and(|t| t <= now) {
        return Ok(Err(KeyRejection::Revoked));
    }
    if v.key.expires_at.is_some_and(|t| t <= now) {
        return Ok(Err(KeyRejection::Expired));
    }
    if v.user_disabled {
        return Ok(Err(KeyRejection::UserDisabled));
    }
    // A key used from another address than last time: worth a line in the owner's activity.
    if let Some(ip) = ip {
        let ip_s = ip.to_string();
        let seen_key = format!("{}:{ip_s}", v.key.id);
        if v.key
            .last_used_ip
            .as_deref()
            .is_some_and(|prev| prev != ip_s)
            && !cache.seen_ips.contains_key(&seen_key)
        {
            cache.seen_ips.insert(seen_key, ());
            cache.touched.invalidate(&v.key.id);
            let (db, key_id, user_id, prev) = (
                db.clone(),
                v.key.id.clone(),
                v.key.user_id.clone(),
                v.key.last_used_ip.clone(),
            );
            let ip_for_event = ip_s.clone();
            tokio::spawn(async move {
                let _ = Event::new(AuditKind::ApiKeyNewIp)
                    .user(&user_id)
                    .ip(Some(ip_for_event.clone()))
                    .detail(serde_json::json!({"api_key": key_id, "previous_ip": prev, "ip": ip_for_event}))
                    .record(&db)
                    .await;
            });
        }
    }
    if !cache.touched.contains_key(&v.key.id) {
        cache.touched.insert(v.key.id.clone(), ());
        let id = v.key.id.clone();
        let ip = ip.map(|i| i.to_string());
        let db = db.clone();
        tokio::spawn(async move {
            if let Err(e) = store::api_keys::touch(&db, &id, store::now(), ip).await {
                tracing::warn!(error = ?e, "recording API key use failed");
            }
        });
    }
    Ok(Ok(v))
}

/// How long the old key keeps working after a roll (Stripe's choices).
pub fn parse_roll_expiry(s: &str) -> Option<i64> {
    match s {
        "now" | "0" => Some(0),
        "1h" | "3600" => Some(3600),
        "24h" | "86400" => Some(86_400),
        "7d" | "604800" => Some(604_800),
        other => other
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=604_800).contains(n)),
    }
}

/// Roll a key: a new key with the same name, mode and scopes now; the old one keeps
/// working for `expires_in` seconds (0: stops at once). Returns the new key and its secret.
pub async fn roll(
    db: &impl Conn,
    cache: &KeyCache,
    old: &entity::api_key::Model,
    expires_in: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(entity::api_key::Model, String), KeyError> {
    let (new, secret) = create(
        db,
        NewKey {
            user_id: old.user_id.clone(),
            livemode: old.livemode,
            name: old.name.clone(),
            scopes: crate::store::words(&old.scopes)
                .map(str::to_owned)
                .collect(),
            expires_at: None,
        },
    )
    .await?;
    let until = now + chrono::Duration::seconds(expires_in);
    let earlier = old.expires_at.is_some_and(|e| e <= until);
    store::api_keys::set_rolled(db, old, &new.id, (!earlier).then_some(until)).await?;
    cache.forget(&old.key_hash);
    Ok((new, secret))
}

pub async fn revoke(
    db: &impl Conn,
    cache: &KeyCache,
    key: &entity::api_key::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<entity::api_key::Model, KeyError> {
    if key.revoked_at.is_some() {
        return Ok(key.clone());
    }
    let updated = store::api_keys::set_revoked(db, key, now).await?;
    cache.forget(&key.key_hash);
    Ok(updated)
}

/// Give a key its own rate (requests per second), or `None` for its mode's default.
pub async fn set_rate_limit(
    db: &impl Conn,
    cache: &KeyCache,
    key: &entity::api_key::Model,
    rate: Option<i32>,
) -> Result<entity::api_key::Model, KeyError> {
    let updated = store::api_keys::set_rate_limit(db, key, rate).await?;
    cache.forget(&key.key_hash);
    Ok(updated)
}

pub async fn rename(
    db: &impl Conn,
    key: &entity::api_key::Model,
    name: &str,
) -> Result<entity::api_key::Model, KeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(KeyError::Invalid(
            "name must be 1 to 100 characters, without control characters".into(),
            "name",
        ));
    }
    Ok(store::api_keys::rename(db, key, name).await?)
}

/// `active`, `expiring` (rolled, still working), `expired` or `revoked`, at `now`.
pub fn status(k: &entity::api_key::Model, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    if k.revoked_at.is_some_and(|t| t <= now) {
        "revoked"
    } else if k.expires_at.is_some_and(|t| t <= now) {
        "expired"
    } else if k.expires_at.is_some() {
        "expiring"
    } else {
        "active"
    }
}
