//! Rate limits (GCRA) and brute-force failure tracking, shared across instances through
//! Redis when `LATCH_REDIS_URL` is set, in-process otherwise.
//!
//! - Limits are GCRA buckets: in-process with `governor`, in Redis with one atomic Lua
//!   script (the same algorithm), keyed `latch:rl:{policy}:{key}`.
//! - When Redis cannot be reached Latch keeps serving with the in-process limiter, logs
//!   it, exposes it in `/metrics` (`latch_rate_limit_redis_up`) and `/readyz`, and goes back
//!   to Redis as soon as a background probe succeeds.
//! - Answers carry `RateLimit-Policy` / `RateLimit` (draft-ietf-httpapi-ratelimit-headers)
//!   and, on 429, `Retry-After` (RFC 9110 §10.2.3).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};

/// `count` requests per `period`, with bursts up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
    pub burst: u32,
}

impl Rate {
    pub const fn per_second(count: u32) -> Self {
        Rate {
            count,
            period: Duration::from_secs(1),
            burst: count,
        }
    }

    /// `100/s`, `10/m`, `5/h`, optionally `:burst` (`100/s:200`).
    pub fn parse(s: &str) -> Option<Rate> {
        let (rate, burst) = match s.split_once(':') {
            Some((r, b)) => (r, Some(b.trim().parse::<u32>().ok()?)),
            None => (s, None),
        };
        let (count, unit) = rate.trim().split_once('/')?;
        let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return None,
        };
        Some(Rate {
            count,
            period,
            burst: burst.unwrap_or(count).max(1),
        })
    }

    /// Time between two requests at the steady rate.
    fn interval(&self) -> Duration {
        self.period / self.count
    }

    /// The window the policy is expressed in, in seconds, for `RateLimit-Policy`.
    fn window_secs(&self) -> u64 {
        self.period.as_secs().max(1)
    }
}

/// The limits Latch applies, each configurable (`LATCH_LIMIT_<NAME>`, e.g. `100/s:200`).
#[derive(Clone, Debug)]
pub struct Limits {
    pub api_key_live: Rate,
    pub api_key_test: Rate,
    pub token_ip: Rate,
    pub token_client: Rate,
    pub authorize_ip: Rate,
    pub login_ip: Rate,
    pub signup_ip: Rate,
    /// Failed sign-ins per account before it is locked (then the lock doubles per failure).
    pub login_failures_per_account: u32,
    /// Failed sign-ins (any account) per IP before that IP is blocked.
    pub login_failures_per_ip: u32,
    /// Failed client authentications per client id before it is blocked.
    pub client_auth_failures: u32,
    /// Well-formed API keys that are unknown, revoked or expired, per IP, before that IP's
    /// uncached key lookups are refused for a while (each one costs a database query).
    pub api_key_failures_per_ip: u32,
    /// Base lock after the threshold; doubles with each further failure, up to `max_lock`.
    pub base_lock: Duration,
    pub max_lock: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            api_key_live: Rate::per_second(100),
            api_key_test: Rate::per_second(25),
            token_ip: Rate {
                count: 100,
                period: Duration::from_secs(1),
                burst: 200,
            },
            token_client: Rate {
                count: 100,
                period: Duration::from_secs(1),
                burst: 200,
            },
            authorize_ip: Rate {
                count: 30,
                period: Duration::from_secs(1),
                burst: 60,
            },
            login_ip: Rate {
                count: 30,
                period: Duration::from_secs(60),
                burst: 30,
            },
            signup_ip: Rate {
                count: 10,
                period: Duration::from_secs(3600),
                burst: 10,
            },
            login_failures_per_account: 5,
            login_failures_per_ip: 20,
            client_auth_failures: 10,
            api_key_failures_per_ip: 100,
            base_lock: Duration::from_secs(1),
            max_lock: Duration::from_secs(900),
        }
    }
}

/// The outcome of one check.
#[derive(Clone, Debug)]
pub struct Decision {
    pub policy: &'static str,
    pub rate: Rate,
    pub allowed: bool,
    pub remaining: u32,
    /// Until the bucket is full again (allowed) or until the next request may pass (denied).
    pub reset: Duration,
}

impl Decision {
    fn allow_all(policy: &'static str, rate: Rate) -> Self {
        Decision {
            policy,
            rate,
            allowed: true,
            remaining: rate.burst,
            reset: Duration::ZERO,
        }
    }

    pub fn retry_after_secs(&self) -> u64 {
        self.reset.as_secs() + u64::from(self.reset.subsec_nanos() > 0)
    }

    /// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-11).
    pub fn headers(&self) -> [(&'static str, String); 2] {
        [
            (
                "ratelimit-policy",
                format!(
                    "\"{}\";q={};w={}",
                    self.policy,
                    self.rate.count,
                    self.rate.window_secs()
                ),
            ),
            (
                "ratelimit",
                format!(
                    "\"{}\";r={};t={}",
                    self.policy,
                    self.remaining,
                    self.retry_after_secs()
                ),
            ),
        ]
    }
}

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
/// ARGV: threshold, base_ms, max_ms, window_ms, mode (0 peek, 1 fail, 2 reset).
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
        self.failure_op(kind, key, 0).await
    }

    /// Record a failure; returns the lock it caused, if any.
    pub async fn fail(&self, kind: FailureKind, key: &str) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        self.failure_op(kind, key, 1).await
    }

    /// Forget failures after a success.
    pub async fn succeed(&self, kind: FailureKind, key: &str) {
        if self.enabled {
            let _ = self.failure_op(kind, key, 2).await;
        }
    }

    async fn failure_op(&self, kind: FailureKind, key: &str, mode: u8) -> Option<Duration> {
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
                .arg(mode)
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
        match mode {
            0 => f
                .locked_until
                .and_then(|t| t.checked_duration_since(now))
                .filter(|d| !d.is_zero()),
            2 => {
                self.failures.invalidate(&k);
                None
            }
            _ => {
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

/// Record a limit hit as an audit event, at most once a minute per policy and key.
pub async fn note_limited(
    state: &crate::state::AppState,
    req: &actix_web::HttpRequest,
    policy: &'static str,
    key: &str,
) {
    static SEEN: std::sync::LazyLock<moka::sync::Cache<String, ()>> =
        std::sync::LazyLock::new(|| {
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build()
        });
    let k = format!("{policy}:{key}");
    if SEEN.contains_key(&k) {
        return;
    }
    SEEN.insert(k, ());
    let user_id = match policy {
        "api_key" => crate::store::api_keys::by_id(&state.db, key)
            .await
            .ok()
            .flatten()
            .map(|k| k.user_id),
        _ => None,
    };
    let _ = crate::audit::Event::new(crate::audit::AuditKind::RateLimitExceeded)
        .user_opt(user_id.as_deref())
        .client_ip(crate::middleware::ClientIp::of(req))
        .detail(serde_json::json!({"policy": policy}))
        .record(&state.db)
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

/// The key a per-IP limit or failure count uses for `ip`: an IPv4 address as it is, an IPv6
/// address cut to its first `v6_prefix` bits and written as a prefix (`2001:db8::/64`).
/// One subscriber is usually given a whole /64 (RFC 6177, RFC 7421), so keying on the full
/// address would let one host rotate through 2^64 fresh buckets. IPv4-mapped IPv6 addresses
/// (`::ffff:192.0.2.1`) are the IPv4 address they carry.
pub fn ip_key(ip: std::net::IpAddr, v6_prefix: u8) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            let net = Ipv6Addr::from(u128::from(v6) & mask);
            format!("{net}/{bits}")
        }
    }
}

/// `base × 2^n`, at most `max`.
pub fn lock_for(n: u32, base: Duration, max: Duration) -> Duration {
    base.checked_mul(1u32.checked_shl(n.min(30)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("100/s"), Some(Rate::per_second(100)));
        assert_eq!(
            Rate::parse("10/m:20"),
            Some(Rate {
                count: 10,
                period: Duration::from_secs(60),
                burst: 20
            })
        );
        assert_eq!(Rate::parse("0/s"), None);
        assert_eq!(Rate::parse("5/day"), None);
        assert_eq!(Rate::parse("x"), None);
    }

    #[test]
    fn locks_double_and_cap() {
        let b = Duration::from_secs(1);
        let m = Duration::from_secs(900);
        assert_eq!(lock_for(0, b, m), b);
        assert_eq!(lock_for(3, b, m), Duration::from_secs(8));
        assert_eq!(lock_for(40, b, m), m);
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_prefix_and_ipv4_as_is() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(ip_key(ip("192.0.2.7"), 64), "192.0.2.7");
        assert_eq!(ip_key(ip("::ffff:192.0.2.7"), 64), "192.0.2.7");
        assert_eq!(ip_key(ip("2001:db8:1:2:aaaa::1"), 64), "2001:db8:1:2::/64");
        assert_eq!(
            ip_key(ip("2001:db8:1:2:aaaa::1"), 64),
            ip_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 64)
        );
        assert_ne!(
            ip_key(ip("2001:db8:1:2::1"), 64),
            ip_key(ip("2001:db8:1:3::1"), 64)
        );
        assert_eq!(ip_key(ip("2001:db8:1:2::1"), 48), "2001:db8:1::/48");
        assert_eq!(ip_key(ip("2001:db8::1"), 128), "2001:db8::1/128");
        assert_eq!(ip_key(ip("2001:db8:ffff::1"), 32), "2001:db8::/32");
        assert_eq!(
            ip_key(ip("::1"), 0),
            "::/0",
            "out-of-range prefixes never panic"
        );
    }

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
