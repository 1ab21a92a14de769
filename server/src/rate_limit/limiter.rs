//! The limiter: GCRA buckets and failure locks, in Redis when it is reachable (one atomic
//! Lua script each), in-process (`governor`, a `moka` cache) otherwise.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};

use super::policy::{Decision, Limits, Rate, lock_for};

type Keyed = RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// GCRA in Redis: returns {allowed, remaining, ms until reset or retry}.
/// Uses Redis' clock so instances with skewed clocks agree.
const GCRA_LUA: &str = r#"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tau = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - tau > now then
  return {0, 0, math.ceil((new_tat - tau - now) / 1000)}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
local remaining = math.floor((now + tau - new_tat) / interval)
return {1, remaining, math.ceil((new_tat - now) / 1000)}
"#;

/// Failure counting with exponential lock: returns {locked_ms}.
/// ARGV: threshold, base_ms, max_ms, window_ms, mode ([`FailureOp::lua_mode`]).
const FAIL_LUA: &str = r#"
local threshold = tonumber(ARGV[1]); local base = tonumber(ARGV[2]); local max = tonumber(ARGV[3])
local window = tonumber(ARGV[4]); local mode = tonumber(ARGV[5])
if mode == 2 then redis.call('DEL', KEYS[1], KEYS[2]); return 0 end
local locked = redis.call('PTTL', KEYS[2])
if mode == 0 then if locked > 0 then return locked end return 0 end
local n = redis.call('INCR', KEYS[1]); redis.call('PEXPIRE', KEYS[1], window)
if n >= threshold then
  local lock = math.min(max, base * (2 ^ (n - threshold)))
  redis.call('SET', KEYS[2], 1, 'PX', math.floor(lock))
  return math.floor(lock)
end
return 0
"#;

struct RedisBackend {
    conn: tokio::sync::RwLock<Option<redis::aio::ConnectionManager>>,
    client: redis::Client,
    up: AtomicBool,
    gcra: redis::Script,
    fail: redis::Script,
}

/// Local failure state: (failures in window, locked until).
#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Option<std::time::Instant>,
}

pub struct Limiter {
    enabled: bool,
    pub limits: Limits,
    local: Mutex<HashMap<(&'static str, Rate), Arc<Keyed>>>,
    failures: moka::sync::Cache<String, Failures>,
    /// Limit hits already written to the audit log this minute (see `note_limited`).
    pub(super) noted: moka::sync::Cache<String, ()>,
    redis: Option<Arc<RedisBackend>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    LoginIp,
    LoginAccount,
    ClientAuth,
    ApiKeyIp,
}

impl FailureKind {
    fn name(self) -> &'static str {
        match self {
            FailureKind::LoginIp => "login_ip",
            FailureKind::LoginAccount => "login_account",
            FailureKind::ClientAuth => "client_auth",
            FailureKind::ApiKeyIp => "api_key_ip",
        }
    }
}

/// What [`Limiter::failure_op`] does with a failure count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailureOp {
    /// Only report the lock still running, if any.
    Peek,
    /// Count one more failure, locking past the threshold.
    Fail,
    /// Forget the failures (after a success).
    Reset,
}

impl FailureOp {
    /// The mode argument of `FAIL_LUA`.
    fn lua_mode(self) -> u8 {
        match self {
            FailureOp::Peek => 0,
            FailureOp::Fail => 1,
            FailureOp::Reset => 2,
        }
    }
}

const FAILURE_WINDOW: Duration = Duration::from_secs(900);
/// At most this many in-process limiters (one per policy and rate).
const MAX_LOCAL_LIMITERS: usize = 256;

impl Limiter {
    pub fn new(
        enabled: bool,
        limits: Limits,
        redis_url: Option<&str>,
    ) -> Result<Arc<Self>, String> {
        let redis = match redis_url {
            None => None,
            Some(url) => {
                let client =
                    redis::Client::open(url).map_err(|e| format!("LATCH_REDIS_URL: {e}"))?;
                Some(Arc::new(RedisBackend {
                    conn: tokio::sync::RwLock::new(None),
                    client,
                    up: AtomicBool::new(false),
                    gcra: redis::Script::new(GCRA_LUA),
                    fail: redis::Script::new(FAIL_LUA),
                }))
            }
        };
        let limiter = Arc::new(Limiter {
            enabled,
            limits,
            local: Mutex::new(HashMap::new()),
            failures: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(FAILURE_WINDOW)
                .build(),
            noted: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            redis,
        });
        metrics::gauge!("latch_rate_limit_redis_up").set(0.0);
        Ok(limiter)
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `None` without Redis; otherwise whether Redis is in use right now.
    pub fn redis_up(&self) -> Option<bool> {
        self.redis.as_ref().map(|r| r.up.load(Ordering::Relaxed))
    }

    /// Connect to Redis in the background and keep probing it while it is down.
    pub fn spawn_probe(self: &Arc<Self>) {
        let Some(r) = self.redis.clone() else { return };
        tokio::spawn(async move {
            loop {
                let up = r.up.load(Ordering::Relaxed);
                if !up {
                    let cfg = redis::aio::ConnectionManagerConfig::new()
                        .set_connection_timeout(Duration::from_millis(500))
                        .set_response_timeout(Duration::from_millis(500))
                        .set_number_of_retries(1);
                    match redis::aio::ConnectionManager::new_with_config(r.client.clone(), cfg)
                        .await
                    {
                        Ok(mut conn) => {
                            if redis::cmd("PING")
                                .query_async::<String>(&mut conn)
                                .await
                                .is_ok()
                            {
                                *r.conn.write().await = Some(conn);
                                r.up.store(true, Ordering::Relaxed);
                                metrics::gauge!("latch_rate_limit_redis_up").set(1.0);
                                tracing::info!("rate limits: using Redis");
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "Redis still unreachable"),
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }

    fn mark_down(r: &RedisBackend, e: &redis::RedisError) {
        if r.up.swap(false, Ordering::Relaxed) {
            metrics::gauge!("latch_rate_limit_redis_up").set(0.0);
            tracing::warn!(error = %e, "Redis unreachable: rate limits fall back to this instance until it is back");
        }
    }

    async fn redis_conn(r: &RedisBackend) -> Option<redis::aio::ConnectionManager> {
        if !r.up.load(Ordering::Relaxed) {
            return None;
        }
        r.conn.read().await.clone()
    }

    /// `SET key 1 NX PX ttl` in Redis: `Some(true)` the first time `key` is set,
    /// `Some(false)` while it is still set (from any instance), `None` when Redis is not in
    /// use right now (the caller keeps its own record instead). Single-use markers such as
    /// DPoP proof `jti`s (RFC 9449 §11.1) live here next to the limits that share Redis.
    pub async fn set_once(&self, key: &str, ttl: Duration) -> Option<bool> {
        let r = self.redis.as_ref()?;
        let mut conn = Self::redis_conn(r).await?;
        let res: Result<Option<String>, _> = redis::cmd("SET")
            .arg(format!("latch:once:{key}"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut conn)
            .await;
        match res {
            Ok(v) => Some(v.is_some()),
            Err(e) => {
                Self::mark_down(r, &e);
                None
            }
        }
    }

    /// Take one request from `policy`'s bucket for `key`.
    pub async fn check(&self, policy: &'static str, rate: Rate, key: &str) -> Decision {
        if !self.enabled {
            return Decision::allow_all(policy, rate);
        }
        let d = match &self.redis {
            Some(r) => match Self::redis_conn(r).await {
                Some(mut conn) => {
                    let interval_us = rate.interval().as_micros().max(1) as u64;
                    let res: Result<(i64, i64, i64), _> = r
                        .gcra
                        .key(format!("latch:rl:{policy}:{key}"))
                        .arg(interval_us)
                        .arg(rate.burst)
                        .invoke_async(&mut conn)
                        .await;
                    match res {
                        Ok((allowed, remaining, ms)) => Decision {
                            policy,
                            rate,
                            allowed: allowed == 1,
                            remaining: remaining.max(0) as u32,
                            reset: Duration::from_millis(ms.max(0) as u64),
                        },
                        Err(e) => {
                            Self::mark_down(r, &e);
                            self.check_local(policy, rate, key)
                        }
                    }
                }
                None => self.check_local(policy, rate, key),
            },
            None => self.check_local(policy, rate, key),
        };
        if !d.allowed {
            metrics::counter!("latch_rate_limited_total", "policy" => policy).increment(1);
        }
        d
    }

    fn check_local(&self, policy: &'static str, rate: Rate, key: &str) -> Decision {
        let limiter = {
            let mut map = self.local.lock().unwrap_or_else(|e| e.into_inner());
            // One limiter per (policy, rate): per-key rates make more of them, so the map is
            // bounded. Past the bound the custom-rate limiters start afresh (their buckets
            // refill), which costs a caller at most one burst; /v1 caps a key's rate at the
            // mode's limit, so only the operator's CLI can add many distinct rates.
            if map.len() >= MAX_LOCAL_LIMITERS && !map.contains_key(&(policy, rate)) {
                let defaults = [
                    self.limits.api_key_live,
                    self.limits.api_key_test,
                    self.limits.token_ip,
                    self.limits.token_client,
                    self.limits.authorize_ip,
                    self.limits.login_ip,
                    self.limits.signup_ip,
                    self.limits.device_code,
                    self.limits.register_ip,
                ];
                map.retain(|(_, r), _| defaults.contains(r));
            }
            map.entry((policy, rate))
                .or_insert_with(|| {
                    let quota = Quota::with_period(rate.interval())
                        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                        .allow_burst(NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN));
                    Arc::new(
                        RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
                    )
                })
                .clone()
        };
        match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = rate.burst.saturating_sub(remaining);
                Decision {
                    policy,
                    rate,
                    allowed: true,
                    remaining,
                    reset: rate.interval() * used,
                }
            }
            Err(not_until) => Decision {
                policy,
                rate,
                allowed: false,
                remaining: 0,
                reset: not_until.wait_time_from(DefaultClock::default().now()),
            },
        }
    }

    /// Drop in-process buckets that are full again (memory bound).
    pub fn prune(&self) {
        let map = self.local.lock().unwrap_or_else(|e| e.into_inner());
        for l in map.values() {
            l.retain_recent();
        }
    }

    fn failure_params(&self, kind: FailureKind) -> u32 {
        match kind {
            FailureKind::LoginIp => self.limits.login_failures_per_ip,
            FailureKind::LoginAccount => self.limits.login_failures_per_account,
            FailureKind::ClientAuth => self.limits.client_auth_failures,
            FailureKind::ApiKeyIp => self.limits.api_key_failures_per_ip,
        }
    }

    /// How long `key` is still locked out for `kind`, if it is.
    pub async fn locked(&self, kind: FailureKind, key: &str) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        self.failure_op(kind, key, FailureOp::Peek).await
    }

    /// Record a failure; returns the lock it caused, if any.
    pub async fn fail(&self, kind: FailureKind, key: &str) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        self.failure_op(kind, key, FailureOp::Fail).await
    }

    /// Forget failures after a success.
    pub async fn succeed(&self, kind: FailureKind, key: &str) {
        if self.enabled {
            let _ = self.failure_op(kind, key, FailureOp::Reset).await;
        }
    }

    async fn failure_op(&self, kind: FailureKind, key: &str, op: FailureOp) -> Option<Duration> {
        let threshold = self.failure_params(kind);
        if let Some(r) = &self.redis
            && let Some(mut conn) = Self::redis_conn(r).await
        {
            let k = format!("latch:fail:{}:{key}", kind.name());
            let res: Result<i64, _> = r
                .fail
                .key(&k)
                .key(format!("{k}:lock"))
                .arg(threshold)
                .arg(self.limits.base_lock.as_millis() as u64)
                .arg(self.limits.max_lock.as_millis() as u64)
                .arg(FAILURE_WINDOW.as_millis() as u64)
                .arg(op.lua_mode())
                .invoke_async(&mut conn)
                .await;
            match res {
                Ok(ms) => return (ms > 0).then(|| Duration::from_millis(ms as u64)),
                Err(e) => Self::mark_down(r, &e),
            }
        }
        let k = format!("{}:{key}", kind.name());
        let now = std::time::Instant::now();
        let mut f = self.failures.get(&k).unwrap_or(Failures {
            count: 0,
            locked_until: None,
        });
        match op {
            FailureOp::Peek => f
                .locked_until
                .and_then(|t| t.checked_duration_since(now))
                .filter(|d| !d.is_zero()),
            FailureOp::Reset => {
                self.failures.invalidate(&k);
                None
            }
            FailureOp::Fail => {
                f.count += 1;
                let lock = (f.count >= threshold).then(|| {
                    lock_for(
                        f.count - threshold,
                        self.limits.base_lock,
                        self.limits.max_lock,
                    )
                });
                if let Some(l) = lock {
                    f.locked_until = Some(now + l);
                }
                self.failures.insert(k, f);
                lock
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_bucket_allows_the_burst_then_refuses_with_retry_after() {
        let l = Limiter::new(true, Limits::default(), None).unwrap();
        let rate = Rate {
            count: 1,
            period: Duration::from_secs(10),
            burst: 3,
        };
        for i in 0..3 {
            let d = l.check("t", rate, "k").await;
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 2 - i);
        }
        let d = l.check("t", rate, "k").await;
        assert!(!d.allowed);
        assert!(
            d.retry_after_secs() >= 9 && d.retry_after_secs() <= 10,
            "{:?}",
            d.reset
        );
        assert!(
            l.check("t", rate, "other").await.allowed,
            "buckets are per key"
        );
        let h = d.headers();
        assert_eq!(h[0].1, "\"t\";q=1;w=10");
        assert!(h[1].1.starts_with("\"t\";r=0;t="));
    }

    #[tokio::test]
    async fn failures_lock_after_the_threshold_and_success_resets() {
        let limits = Limits {
            client_auth_failures: 2,
            ..Limits::default()
        };
        let l = Limiter::new(true, limits, None).unwrap();
        assert!(l.fail(FailureKind::ClientAuth, "c").await.is_none());
        assert!(l.locked(FailureKind::ClientAuth, "c").await.is_none());
        assert!(l.fail(FailureKind::ClientAuth, "c").await.is_some());
        assert!(l.locked(FailureKind::ClientAuth, "c").await.is_some());
        l.succeed(FailureKind::ClientAuth, "c").await;
        assert!(l.locked(FailureKind::ClientAuth, "c").await.is_none());
    }
}
