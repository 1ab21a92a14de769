//! Rate-limit policy: the limits, their rates, one check's [`Decision`] and the lock
//! arithmetic. At the bottom of the graph: it imports nothing of ours.

use std::time::Duration;

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
    pub(super) fn interval(&self) -> Duration {
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
    /// Password-reset requests and link uses per IP.
    pub password_reset_ip: Rate,
    /// Password-reset mails per account (beyond it the request is answered alike, unsent).
    pub password_reset_account: Rate,
    /// Verification mails an account may ask to be sent again.
    pub verify_resend: Rate,
    /// User codes entered on `/device`, per IP and per session (RFC 8628 §5.1).
    pub device_code: Rate,
    /// Open client registrations (RFC 7591 without an initial access token) per IP.
    pub register_ip: Rate,
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
            password_reset_ip: Rate {
                count: 20,
                period: Duration::from_secs(3600),
                burst: 20,
            },
            password_reset_account: Rate {
                count: 3,
                period: Duration::from_secs(3600),
                burst: 3,
            },
            verify_resend: Rate {
                count: 3,
                period: Duration::from_secs(3600),
                burst: 3,
            },
            // RFC 8628 §5.1: 20^8 codes, of which few are live; 10 tries a minute makes
            // guessing one hopeless within its 10 minutes.
            device_code: Rate {
                count: 10,
                period: Duration::from_secs(60),
                burst: 10,
            },
            // RFC 7591 §5: open registration invites client flooding; a few an hour per
            // address is plenty for a person's tools.
            register_ip: Rate {
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

/// Every rate limit Latch applies: its name (in `RateLimit-Policy`, metrics, audit events and
/// Redis keys) and its rate. A new limit is a new variant here, and the compiler lists the
/// places that must handle it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `/oauth/token`, `/introspect`, `/revoke` per IP, before any work (`LATCH_LIMIT_TOKEN_IP`).
    TokenIp,
    /// The same endpoints per authenticated client (`LATCH_LIMIT_TOKEN_CLIENT`).
    TokenClient,
    /// `/oauth/authorize` per IP (`LATCH_LIMIT_AUTHORIZE_IP`).
    AuthorizeIp,
    /// Sign-in attempts per IP (`LATCH_LIMIT_LOGIN_IP`).
    LoginIp,
    /// Account creation per IP (`LATCH_LIMIT_SIGNUP_IP`).
    SignupIp,
    /// `/password/forgot` and `/password/reset` per IP (`LATCH_LIMIT_PASSWORD_RESET_IP`).
    PasswordResetIp,
    /// Reset mails per account (`LATCH_LIMIT_PASSWORD_RESET_ACCOUNT`).
    PasswordResetAccount,
    /// Verification mails sent again per account (`LATCH_LIMIT_VERIFY_RESEND`).
    VerifyResend,
    /// User codes entered on `/device`, keyed per IP and per session (`LATCH_LIMIT_DEVICE_CODE`).
    DeviceCode,
    /// Open registrations at `/oauth/register` per IP (`LATCH_LIMIT_REGISTER_IP`).
    RegisterIp,
    /// A `/v1` call with an API key: the key's own rate if it has one, else its mode's.
    ApiKey { livemode: bool, own: Option<Rate> },
    /// A `/v1` call with an OAuth access token, at its mode's API-key rate.
    ApiToken { livemode: bool },
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::TokenIp => "token_ip",
            Policy::TokenClient => "token_client",
            Policy::AuthorizeIp => "authorize_ip",
            Policy::LoginIp => "login_ip",
            Policy::SignupIp => "signup_ip",
            Policy::PasswordResetIp => "password_reset_ip",
            Policy::PasswordResetAccount => "password_reset_account",
            Policy::VerifyResend => "verify_resend",
            Policy::DeviceCode => "device_code",
            Policy::RegisterIp => "register_ip",
            Policy::ApiKey { .. } => "api_key",
            Policy::ApiToken { .. } => "api_token",
        }
    }

    pub fn rate(self, limits: &Limits) -> Rate {
        match self {
            Policy::TokenIp => limits.token_ip,
            Policy::TokenClient => limits.token_client,
            Policy::AuthorizeIp => limits.authorize_ip,
            Policy::LoginIp => limits.login_ip,
            Policy::SignupIp => limits.signup_ip,
            Policy::PasswordResetIp => limits.password_reset_ip,
            Policy::PasswordResetAccount => limits.password_reset_account,
            Policy::VerifyResend => limits.verify_resend,
            Policy::DeviceCode => limits.device_code,
            Policy::RegisterIp => limits.register_ip,
            Policy::ApiKey {
                own: Some(rate), ..
            } => rate,
            Policy::ApiKey { livemode: true, .. } | Policy::ApiToken { livemode: true } => {
                limits.api_key_live
            }
            Policy::ApiKey {
                livemode: false, ..
            }
            | Policy::ApiToken { livemode: false } => limits.api_key_test,
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
    pub(super) fn allow_all(policy: &'static str, rate: Rate) -> Self {
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
}
