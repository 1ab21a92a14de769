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
//!
//! `policy` (the limits, `Policy`, `Decision`) imports nothing of ours; `limiter` holds
//! the buckets and failure locks; `http` is what endpoints call (`enforce`) and the `/v1`
//! headers middleware. A new limit is a `Policy` variant and a `LATCH_LIMIT_*` setting.

mod http;
mod limiter;
mod policy;

pub use http::{Refused, enforce, v1_headers};
pub use limiter::{FailureKind, Limiter};
pub use policy::{Decision, Limits, Policy, Rate, lock_for};
