//! API keys (DESIGN.md): a prefix + 32 random base62 + CRC32 checksum, stored as a SHA-256
//! digest with the display prefix and the last four characters. Two types, as at Stripe:
//! a **secret** key (`sk_live_`/`sk_test_`) holds every scope of every API in the catalog,
//! now and later; a **restricted** key (`rk_live_`/`rk_test_`) holds exactly its `scopes`.
//! Keys carry optional policies (expiry, a use cap with refill, an IP allowlist, metadata):
//! the rules are in [`policy`], applied to the cached key by [`enforce`].

pub mod policy;

use crate::audit::{AuditKind, Event};
use crate::catalog::Snapshot;
use crate::crypto;
use crate::errors::{ApiError, StoreError};
use crate::store::{self, Conn};
use policy::{Cidr, Interval};

pub const LIVE_PREFIX: &str = "sk_live_";
pub const TEST_PREFIX: &str = "sk_test_";
pub const RESTRICTED_LIVE_PREFIX: &str = "rk_live_";
pub const RESTRICTED_TEST_PREFIX: &str = "rk_test_";
pub const SECRET: &str = "secret";
pub const RESTRICTED: &str = "restricted";

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

/// Whether a bearer string claims to be an API key (secret or restricted), by prefix only.
pub fn is_key_token(s: &str) -> bool {
    s.starts_with("sk_") || s.starts_with("rk_")
}

/// Whether a presented string is shaped like one of our keys with a valid checksum.
/// Costs no database read: garbage is refused here (SECURITY.md K3).
pub fn looks_valid(key: &str) -> bool {
    [
        LIVE_PREFIX,
        TEST_PREFIX,
        RESTRICTED_LIVE_PREFIX,
        RESTRICTED_TEST_PREFIX,
    ]
    .iter()
    .any(|p| crypto::check_secret(key, p))
}

fn prefix_for(secret: bool, livemode: bool) -> &'static str {
    match (secret, livemode) {
        (true, true) => LIVE_PREFIX,
        (true, false) => TEST_PREFIX,
        (false, true) => RESTRICTED_LIVE_PREFIX,
        (false, false) => RESTRICTED_TEST_PREFIX,
    }
}

pub fn is_secret(k: &entity::api_key::Model) -> bool {
    k.key_type == SECRET
}

/// The Latch API's per-resource narrowing forms (`clients:read`, `users:write`, …).
pub fn resource_scopes() -> impl Iterator<Item = String> {
    crate::catalog::V1_RESOURCES
        .iter()
        .flat_map(|r| [format!("{r}:read"), format!("{r}:write")])
}

/// What a key may do now: a secret key, every scope of every API in `catalog` (it also
/// covers the per-resource forms implicitly); a restricted key, its stored scopes.
pub fn effective_scopes(k: &entity::api_key::Model, catalog: &Snapshot) -> Vec<String> {
    if is_secret(k) {
        catalog.api_scopes().map(str::to_owned).collect()
    } else {
        store::words(&k.scopes).map(str::to_owned).collect()
    }
}

/// Whether `s` may be held by a key: a scope of an API in the catalog (not an OpenID one),
/// or a Latch API per-resource form (`clients:read`).
pub fn key_scope_known(catalog: &Snapshot, s: &str) -> bool {
    (catalog.knows(s) && !crate::scope::OPENID.contains(&s))
        || s.split_once(':').is_some_and(|(r, a)| {
            crate::catalog::V1_RESOURCES.contains(&r) && (a == "read" || a == "write")
        })
}

/// Validate and dedupe a restricted key's scopes against the catalog. An empty result
/// means a secret key.
pub fn check_scopes(catalog: &Snapshot, requested: &[String]) -> Result<Vec<String>, KeyError> {
    let unknown = |s: &str| {
        KeyError::Invalid(
            format!(
                "unknown scope {:?}; a key holds scopes of registered APIs or resource:read|write",
                s.chars().take(64).collect::<String>()
            ),
            "scopes",
        )
    };
    // One scope per element (a list element with a space is not a scope); `ScopeSet` checks
    // the RFC 6749 §3.3 syntax and drops repeats, keeping the order given.
    let set = crate::scope::ScopeSet::from_tokens(requested.iter().map(String::as_str))
        .map_err(unknown)?;
    if let Some(bad) = set.iter().find(|s| !key_scope_known(catalog, s)) {
        return Err(unknown(bad));
    }
    Ok(set.to_vec())
}

/// A key's policies as given at create or update. Each field: `None` leaves it as it is,
/// `Some(None)` removes it, `Some(Some(v))` sets it.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    pub expires_at: Option<Option<chrono::DateTime<chrono::Utc>>>,
    pub remaining: Option<Option<i64>>,
    pub refill: Option<Option<(i64, Interval)>>,
    pub allowed_ips: Option<Option<Vec<Cidr>>>,
    /// Pairs to set; an empty value removes that key (Stripe's convention). `Some(None)`
    /// (an empty `metadata`) removes them all.
    pub metadata: Option<Option<Vec<(String, String)>>>,
}

fn bad(msg: impl Into<String>, param: &'static str) -> KeyError {
    KeyError::Invalid(msg.into(), param)
}

impl Policies {
    /// Read policies from named string values (the `/v1` parameters, the CLI flags, the
    /// dashboard form): `one(name)` a single value, `list(name)` a repeated one, `map` the
    /// `metadata[k]` pairs. An empty value clears the policy.
    pub fn parse(
        one: impl Fn(&'static str) -> Option<String>,
        allowed_ips: Option<Vec<String>>,
        metadata: Option<Vec<(String, String)>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Policies, KeyError> {
        let mut p = Policies::default();
        if let Some(s) = one("expires_at") {
            p.expires_at = Some(if s.is_empty() {
                None
            } else {
                let t = s
                    .parse::<i64>()
                    .ok()
                    .and_then(|n| chrono::DateTime::from_timestamp(n, 0))
                    .ok_or_else(|| bad("expires_at must be Unix seconds", "expires_at"))?;
                if t <= now {
                    return Err(bad("expires_at must be in the future", "expires_at"));
                }
                Some(t)
            });
        }
        if let Some(s) = one("remaining") {
            p.remaining = Some(if s.is_empty() {
                None
            } else {
                Some(
                    s.parse::<i64>()
                        .ok()
                        .filter(|n| (0..=1_000_000_000_000).contains(n))
                        .ok_or_else(|| {
                            bad(
                                "remaining must be a whole number of uses, 0 or more",
                                "remaining",
                            )
                        })?,
                )
            });
        }
        match (one("refill[amount]"), one("refill[interval]")) {
            (None, None) => {}
            (Some(a), _) if a.is_empty() => p.refill = Some(None),
            (Some(a), Some(i)) => {
                let amount = a
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=1_000_000_000_000).contains(n))
                    .ok_or_else(|| bad("refill[amount] must be 1 or more", "refill[amount]"))?;
                let interval = Interval::parse(&i).ok_or_else(|| {
                    bad("refill[interval] must be day or month", "refill[interval]")
                })?;
                p.refill = Some(Some((amount, interval)));
            }
            (Some(_), None) => {
                return Err(bad(
                    "refill[interval] is required with refill[amount]",
                    "refill[interval]",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "refill[amount] is required with refill[interval]",
                    "refill[amount]",
                ));
            }
        }
        if let Some(list) = allowed_ips {
            let cidrs = policy::parse_allowlist(list.iter().map(String::as_str))
                .map_err(|m| bad(m, "allowed_ips"))?;
            p.allowed_ips = Some((!cidrs.is_empty()).then_some(cidrs));
        }
        if let Some(pairs) = metadata {
            policy::check_metadata(&pairs).map_err(|m| bad(m, "metadata"))?;
            p.metadata = Some((!pairs.is_empty()).then_some(pairs));
        }
        Ok(p)
    }

    /// Write these policies onto a row (not yet stored), checking what needs the whole.
    fn apply(&self, m: &mut entity::api_key::Model) -> Result<(), KeyError> {
        if let Some(e) = self.expires_at {
            m.expires_at = e;
            m.expiry_notice = None;
        }
        if let Some(r) = self.remaining {
            m.remaining = r;
        }
        if let Some(r) = self.refill {
            m.refill_amount = r.map(|(a, _)| a);
            m.refill_interval = r.map(|(_, i)| i.as_str().to_owned());
            if r.is_some() && m.remaining.is_none() {
                // A refill without a cap starts full.
                m.remaining = r.map(|(a, _)| a);
            }
        }
        if m.refill_amount.is_some() && m.remaining.is_none() {
            return Err(bad("a refill needs a cap (remaining)", "remaining"));
        }
        if let Some(ips) = &self.allowed_ips {
            m.allowed_ips = ips.as_ref().map(|l| {
                l.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        }
        if let Some(md) = &self.metadata {
            let mut cur = metadata_pairs(m);
            match md {
                None => cur.clear(),
                Some(pairs) => {
                    for (k, v) in pairs {
                        cur.retain(|(ck, _)| ck != k);
                        if !v.is_empty() {
                            cur.push((k.clone(), v.clone()));
                        }
                    }
                }
            }
            policy::check_metadata(&cur).map_err(|e| bad(e, "metadata"))?;
            cur.sort();
            m.metadata = (!cur.is_empty()).then(|| {
                serde_json::Value::Object(
                    cur.into_iter()
                        .map(|(k, v)| (k, serde_json::Value::String(v)))
                        .collect(),
                )
                .to_string()
            });
        }
        Ok(())
    }
}

/// A key's metadata as pairs, in key order.
pub fn metadata_pairs(m: &entity::api_key::Model) -> Vec<(String, String)> {
    m.metadata
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(s).ok())
        .map(|o| {
            o.into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A key's metadata as a JSON object (`{}` when none).
pub fn metadata_json(m: &entity::api_key::Model) -> serde_json::Value {
    m.metadata
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| serde_json::json!({}))
}

pub fn allowed_ips(m: &entity::api_key::Model) -> Vec<&str> {
    m.allowed_ips
        .as_deref()
        .map(|s| store::words(s).collect())
        .unwrap_or_default()
}

pub struct NewKey {
    pub user_id: String,
    pub livemode: bool,
    pub name: String,
    /// Empty: a secret key (every scope of every API); else a restricted key.
    pub scopes: Vec<String>,
    pub policies: Policies,
}

/// Create a key; the secret is returned here and never again.
pub async fn create(
    db: &impl Conn,
    catalog: &Snapshot,
    k: NewKey,
) -> Result<(entity::api_key::Model, String), KeyError> {
    let name = k.name.trim().to_owned();
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(KeyError::Invalid(
            "name must be at most 100 characters, without control characters".into(),
            "name",
        ));
    }
    let scopes = check_scopes(catalog, &k.scopes)?;
    let is_secret = scopes.is_empty();
    let prefix = prefix_for(is_secret, k.livemode);
    let secret = crypto::mint_secret(prefix);
    let mut model = entity::api_key::Model {
        id: crypto::new_id("key"),
        key_hash: crypto::sha256_hex(&secret),
        prefix: prefix.to_owned(),
        last4: secret[secret.len() - 4..].to_owned(),
        livemode: k.livemode,
        name: match (name.is_empty(), is_secret) {
            (false, _) => name,
            (true, true) => "Secret key".to_owned(),
            (true, false) => "Restricted key".to_owned(),
        },
        scopes: scopes.join(" "),
        user_id: k.user_id,
        rate_limit: None,
        created_at: store::now(),
        last_used_at: None,
        last_used_ip: None,
        expires_at: None,
        revoked_at: None,
        rolled_to: None,
        key_type: if is_secret { SECRET } else { RESTRICTED }.to_owned(),
        remaining: None,
        refill_amount: None,
        refill_interval: None,
        refilled_at: None,
        allowed_ips: None,
        metadata: None,
        expiry_notice: None,
    };
    k.policies.apply(&mut model)?;
    if model.refill_amount.is_some() {
        // The key starts in the interval it was made in: the first refill is the next
        // boundary.
        model.refilled_at = model
            .refill_interval
            .as_deref()
            .and_then(Interval::parse)
            .map(|i| i.period_start(model.created_at));
    }
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
    /// The key's use-time policies, parsed once per cache fill; `None` for a plain key, so
    /// it pays nothing for them on the hot path.
    pub policy: Option<Box<Compiled>>,
}

/// A key's policies as the `/v1` guard checks them (expiry is checked with revocation).
#[derive(Clone, Debug)]
pub struct Compiled {
    pub allowed: Option<Vec<Cidr>>,
    pub capped: bool,
    pub refill: Option<(i64, Interval)>,
}

impl Compiled {
    fn of(k: &entity::api_key::Model) -> Option<Box<Compiled>> {
        let allowed = k.allowed_ips.as_deref().map(|s| {
            // Stored entries were validated at write time; one that no longer parses
            // matches nothing (fail closed).
            store::words(s).filter_map(Cidr::parse).collect::<Vec<_>>()
        });
        let capped = k.remaining.is_some();
        if allowed.is_none() && !capped {
            return None;
        }
        let refill = k
            .refill_amount
            .zip(k.refill_interval.as_deref().and_then(Interval::parse));
        Some(Box::new(Compiled {
            allowed,
            capped,
            refill,
        }))
    }
}

/// One instance's lease of uses from a capped key's row (see [`enforce`]).
#[derive(Debug, Default)]
struct Lease {
    /// Uses leased and not yet spent.
    left: i64,
    /// The refill period the lease belongs to; a new period drops what is left.
    period: Option<chrono::DateTime<chrono::Utc>>,
    /// The period whose refill this instance has already applied (or found applied).
    refilled: Option<chrono::DateTime<chrono::Utc>>,
    /// What the row had left when last seen, to size the next block.
    last_seen: Option<i64>,
    /// The row was found at 0: refuse without asking again until this instant.
    exhausted_until: Option<std::time::Instant>,
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
    /// Leased uses of capped keys, by digest. No expiry: a dropped lease strands its block.
    leases: moka::sync::Cache<String, std::sync::Arc<tokio::sync::Mutex<Lease>>>,
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
            leases: moka::sync::Cache::builder().max_capacity(100_000).build(),
        }
    }
}

impl KeyCache {
    /// Forget everything about a key (after revoke/roll/rename on this instance).
    pub fn forget(&self, key_hash: &str) {
        self.by_digest.invalidate(key_hash);
        self.leases.invalidate(key_hash);
    }

    pub fn clear(&self) {
        self.by_digest.invalidate_all();
        self.leases.invalidate_all();
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
                        policy: Compiled::of(&key),
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
    catalog: &Snapshot,
    cache: &KeyCache,
    old: &entity::api_key::Model,
    expires_in: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(entity::api_key::Model, String), KeyError> {
    // The new key keeps the type (and so the prefix kind), scopes and policies, except the
    // expiry; the cap starts from what the old key had left.
    let policies = Policies {
        remaining: Some(old.remaining),
        refill: Some(
            old.refill_amount
                .zip(old.refill_interval.as_deref().and_then(Interval::parse)),
        ),
        allowed_ips: Some(
            old.allowed_ips
                .as_deref()
                .map(|s| store::words(s).filter_map(Cidr::parse).collect()),
        ),
        metadata: Some(Some(metadata_pairs(old)).filter(|m| !m.is_empty())),
        expires_at: None,
    };
    let (new, secret) = create(
        db,
        catalog,
        NewKey {
            user_id: old.user_id.clone(),
            livemode: old.livemode,
            name: old.name.clone(),
            scopes: if is_secret(old) {
                Vec::new()
            } else {
                crate::store::words(&old.scopes)
                    .map(str::to_owned)
                    .collect()
            },
            policies,
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
    // Access tokens a resource server exchanged the key for (RFC 8693) end with it.
    store::tokens::deny_derived(db, &key.id, now).await?;
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

/// Change a key's policies; the cached copy (and this instance's lease) is dropped.
pub async fn update_policies(
    db: &impl Conn,
    cache: &KeyCache,
    key: &entity::api_key::Model,
    p: &Policies,
) -> Result<entity::api_key::Model, KeyError> {
    let mut m = key.clone();
    p.apply(&mut m)?;
    if m.refill_amount.is_some() && m.refilled_at.is_none() {
        m.refilled_at = m
            .refill_interval
            .as_deref()
            .and_then(Interval::parse)
            .map(|i| i.period_start(store::now()));
    }
    if m == *key {
        return Ok(m);
    }
    let updated = store::api_keys::set_policies(db, &m).await?;
    cache.forget(&key.key_hash);
    Ok(updated)
}

/// Why the `/v1` guard refused a key that verified.
#[derive(Debug, PartialEq, Eq)]
pub enum PolicyRejection {
    /// The caller's address is outside the key's allowlist.
    IpNotAllowed,
    /// No uses left; `Some(secs)` until the next refill.
    Exhausted(Option<u64>),
}

/// Apply a verified key's use-time policies for one `/v1` request: the IP allowlist
/// against the address the middleware settled on, then one use of the cap.
///
/// Caps hold across instances without a write per request: each instance leases a block of
/// uses from the row with one conditional `UPDATE … SET remaining = remaining - n WHERE
/// remaining >= n` and spends it in memory. Blocks shrink as the row nears 0
/// ([`policy::block_size`]) and the row never goes below 0, so uses never exceed the cap;
/// an instance that stops strands at most its one unspent block. Refills are one
/// conditional `UPDATE` per period (`refilled_at` older than the period's start), so only
/// one instance applies each; a lease from a past period is dropped.
pub async fn enforce(
    db: &store::Db,
    cache: &KeyCache,
    v: &VerifiedKey,
    ip: Option<std::net::IpAddr>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Result<(), PolicyRejection>, StoreError> {
    let Some(p) = v.policy.as_deref() else {
        return Ok(Ok(()));
    };
    if let Some(list) = &p.allowed
        && !policy::allowed(list, ip)
    {
        return Ok(Err(PolicyRejection::IpNotAllowed));
    }
    if !p.capped {
        return Ok(Ok(()));
    }
    let exhausted = || {
        PolicyRejection::Exhausted(p.refill.map(|(_, i)| {
            // Rounded up: a client waiting this long finds the refill done.
            ((i.next_boundary(now) - now).num_milliseconds() + 999)
                .div_euclid(1000)
                .max(1) as u64
        }))
    };
    // A hit borrows the digest (no allocation on the hot path); a miss inserts.
    let lease = match cache.leases.get(&v.key.key_hash) {
        Some(l) => l,
        None => cache
            .leases
            .get_with(v.key.key_hash.clone(), std::sync::Arc::default),
    };
    let mut l = lease.lock().await;
    let period = p.refill.map(|(_, i)| i.period_start(now));
    if l.period != period {
        *l = Lease {
            period,
            ..Lease::default()
        };
    }
    if l.left > 0 {
        l.left -= 1;
        return Ok(Ok(()));
    }
    if l.exhausted_until
        .is_some_and(|t| t > std::time::Instant::now())
    {
        return Ok(Err(exhausted()));
    }
    if let (Some((amount, _)), Some(start)) = (p.refill, period)
        && l.refilled != Some(start)
    {
        store::api_keys::refill(db, &v.key.id, amount, start).await?;
        l.refilled = Some(start);
        l.last_seen = None;
    }
    // A handful of tries: another instance may take what this one saw.
    for _ in 0..8 {
        let (seen, fresh) = match l.last_seen {
            Some(n) => (n, false),
            None => match store::api_keys::remaining(db, &v.key.id).await? {
                // The cap was removed meanwhile (on another instance).
                None => return Ok(Ok(())),
                Some(n) => (n, true),
            },
        };
        if seen <= 0 {
            if fresh {
                break;
            }
            // Only an estimate: ask the row before refusing.
            l.last_seen = None;
            continue;
        }
        let n = policy::block_size(seen);
        if store::api_keys::take(db, &v.key.id, n).await? {
            l.left = n - 1;
            l.last_seen = Some(seen - n);
            l.exhausted_until = None;
            return Ok(Ok(()));
        }
        l.last_seen = None;
    }
    l.last_seen = None;
    l.exhausted_until = Some(std::time::Instant::now() + CACHE_TTL);
    Ok(Err(exhausted()))
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
