//! Validation: every raw string becomes a typed value, or a [`ConfigError`] that names its
//! key (`LATCH_*`).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::raw::Raw;
use super::{ConfigError, LogFormat, Overrides, SecretKey, Settings, SigningAlg, invalid};

fn parse_bool(key: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(key, format!("expected true or false, got {v:?}"))),
    }
}

fn parse_secs(key: &'static str, v: &str, min: u64, max: u64) -> Result<Duration, ConfigError> {
    let n: u64 = v.trim().parse().map_err(|_| {
        invalid(
            key,
            format!("expected a whole number of seconds, got {v:?}"),
        )
    })?;
    if n < min || n > max {
        return Err(invalid(
            key,
            format!("must be between {min} and {max} seconds, got {n}"),
        ));
    }
    Ok(Duration::from_secs(n))
}

pub(super) fn parse_num<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
    key: &'static str,
    v: &str,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    let n: T = v
        .trim()
        .parse()
        .map_err(|_| invalid(key, format!("expected a number, got {v:?}")))?;
    if n < min || n > max {
        return Err(invalid(
            key,
            format!("must be between {min} and {max}, got {n}"),
        ));
    }
    Ok(n)
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Type and check every layered value; CLI flags (`o`) win over the raw layers.
pub(super) fn settings(raw: Raw, o: &Overrides) -> Result<Settings, ConfigError> {
    let bind = o
        .bind
        .clone()
        .or(raw.bind)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let bind_addr: SocketAddr = bind.parse().map_err(|_| {
        invalid(
            "LATCH_BIND",
            format!("expected host:port such as 127.0.0.1:8080, got {bind:?}"),
        )
    })?;
    let database_url = o
        .database_url
        .clone()
        .or(raw.database_url)
        .unwrap_or_else(|| "sqlite://latch.db?mode=rwc".to_owned());
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        return Err(invalid(
            "LATCH_DATABASE_URL",
            "must start with sqlite:, postgres:// or postgresql://",
        ));
    }
    let tls = match (raw.tls_cert, raw.tls_key) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid(
                "LATCH_TLS_KEY",
                "is required when LATCH_TLS_CERT is set",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "LATCH_TLS_CERT",
                "is required when LATCH_TLS_KEY is set",
            ));
        }
    };
    let behind_proxy = raw
        .behind_proxy
        .as_deref()
        .map(|v| parse_bool("LATCH_BEHIND_PROXY", v))
        .transpose()?
        .unwrap_or(false);
    let issuer_raw = o.issuer.clone().or(raw.issuer).unwrap_or_else(|| {
        let scheme = if tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{bind_addr}")
    });
    let issuer_url = Url::parse(&issuer_raw)
        .map_err(|e| invalid("LATCH_ISSUER", format!("is not a URL: {e}")))?;
    if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
        return Err(invalid(
            "LATCH_ISSUER",
            "must not have a query or fragment (RFC 8414 §2)",
        ));
    }
    match issuer_url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&issuer_url) || behind_proxy => {}
        "http" => {
            return Err(invalid(
                "LATCH_ISSUER",
                "an http:// issuer is only allowed on a loopback address; use https, set LATCH_TLS_CERT/LATCH_TLS_KEY, or set LATCH_BEHIND_PROXY=true when a proxy terminates TLS",
            ));
        }
        other => {
            return Err(invalid(
                "LATCH_ISSUER",
                format!("unsupported scheme {other:?}"),
            ));
        }
    }
    let issuer = issuer_raw.trim_end_matches('/').to_owned();
    let audience = raw.audience.unwrap_or_else(|| issuer.clone());
    let secret_key = raw
        .secret_key
        .as_deref()
        .map(SecretKey::parse)
        .transpose()?;
    let data_dir = match raw.data_dir {
        Some(d) => PathBuf::from(d),
        None => sqlite_dir(&database_url).unwrap_or_else(|| PathBuf::from(".")),
    };
    let log_format = match raw.log_format.as_deref().unwrap_or("pretty") {
        "pretty" | "text" => LogFormat::Pretty,
        "json" => LogFormat::Json,
        other => {
            return Err(invalid(
                "LATCH_LOG_FORMAT",
                format!("expected pretty or json, got {other:?}"),
            ));
        }
    };
    let signing_alg = match raw.signing_alg.as_deref() {
        None => SigningAlg::ES256,
        Some(s) => SigningAlg::parse(s).ok_or_else(|| {
            invalid(
                "LATCH_SIGNING_ALG",
                format!("expected ES256, RS256, EdDSA or HS256, got {s:?}"),
            )
        })?,
    };
    let year = 366 * 24 * 3600;
    let secs = |key, v: Option<String>, default: u64, min, max| -> Result<Duration, ConfigError> {
        v.map(|v| parse_secs(key, &v, min, max))
            .transpose()
            .map(|d| d.unwrap_or(Duration::from_secs(default)))
    };
    // Lifetimes are kept as `TimeDelta`, the type token and session arithmetic uses, so no
    // call site converts (or repeats a default). The bounds keep them far inside its range.
    let lifetime = |key, v: Option<String>, default: u64, min, max| {
        secs(key, v, default, min, max)
            .map(|d| chrono::TimeDelta::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
    };
    let flag = |key, v: Option<String>, default| -> Result<bool, ConfigError> {
        v.map(|v| parse_bool(key, &v))
            .transpose()
            .map(|b| b.unwrap_or(default))
    };
    let rate_limit = match raw.rate_limit.as_deref() {
        None => true,
        Some(v) => parse_bool("LATCH_RATE_LIMIT", v)?,
    };
    let mut limits = crate::rate_limit::Limits::default();
    for (key, raw_value, slot) in [
        (
            "LATCH_LIMIT_API_KEY_LIVE",
            &raw.limit_api_key_live,
            &mut limits.api_key_live,
        ),
        (
            "LATCH_LIMIT_API_KEY_TEST",
            &raw.limit_api_key_test,
            &mut limits.api_key_test,
        ),
        (
            "LATCH_LIMIT_TOKEN_IP",
            &raw.limit_token_ip,
            &mut limits.token_ip,
        ),
        (
            "LATCH_LIMIT_TOKEN_CLIENT",
            &raw.limit_token_client,
            &mut limits.token_client,
        ),
        (
            "LATCH_LIMIT_AUTHORIZE_IP",
            &raw.limit_authorize_ip,
            &mut limits.authorize_ip,
        ),
        (
            "LATCH_LIMIT_LOGIN_IP",
            &raw.limit_login_ip,
            &mut limits.login_ip,
        ),
        (
            "LATCH_LIMIT_SIGNUP_IP",
            &raw.limit_signup_ip,
            &mut limits.signup_ip,
        ),
        (
            "LATCH_LIMIT_PASSWORD_RESET_IP",
            &raw.limit_password_reset_ip,
            &mut limits.password_reset_ip,
        ),
        (
            "LATCH_LIMIT_PASSWORD_RESET_ACCOUNT",
            &raw.limit_password_reset_account,
            &mut limits.password_reset_account,
        ),
        (
            "LATCH_LIMIT_VERIFY_RESEND",
            &raw.limit_verify_resend,
            &mut limits.verify_resend,
        ),
        (
            "LATCH_LIMIT_DEVICE_CODE",
            &raw.limit_device_code,
            &mut limits.device_code,
        ),
        (
            "LATCH_LIMIT_REGISTER_IP",
            &raw.limit_register_ip,
            &mut limits.register_ip,
        ),
    ] {
        if let Some(v) = raw_value {
            *slot = crate::rate_limit::Rate::parse(v).ok_or_else(|| {
                invalid(
                    key,
                    format!(
                        "expected a rate such as 100/s, 10/m or 5/h (optionally :burst), got {v:?}"
                    ),
                )
            })?;
        }
    }
    if let Some(v) = &raw.login_lockout_threshold {
        limits.login_failures_per_account =
            parse_num("LATCH_LOGIN_LOCKOUT_THRESHOLD", v, 1u32, 1000)?;
    }
    let audit_retention = chrono::TimeDelta::days(
        raw.audit_retention_days
            .as_deref()
            .map(|v| parse_num("LATCH_AUDIT_RETENTION_DAYS", v, 1i64, 3650))
            .transpose()?
            .unwrap_or(90),
    );
    let session_ttl = lifetime(
        "LATCH_SESSION_TTL",
        raw.session_ttl.clone(),
        12 * 3600,
        60,
        30 * 24 * 3600,
    )?;
    // A body sent a byte at a time holds a connection and a file descriptor for as long
    // as the server waits; 1 s is the least that still serves slow mobile links.
    let body_timeout = secs("LATCH_BODY_TIMEOUT", raw.body_timeout.clone(), 10, 1, 300)?;
    let max_connections_per_ip = raw
        .max_connections_per_ip
        .as_deref()
        .map(|v| parse_num("LATCH_MAX_CONNECTIONS_PER_IP", v, 1u32, 1_000_000))
        .transpose()?
        .unwrap_or(256);
    // RFC 6177 / RFC 7421: a /64 is the usual assignment to one subscriber, so a shorter
    // key than the full address is needed to stop rotation inside it; below /32 one key
    // would span whole providers.
    let ipv6_prefix = raw
        .ipv6_prefix
        .as_deref()
        .map(|v| parse_num("LATCH_IPV6_PREFIX", v, 32u8, 128))
        .transpose()?
        .unwrap_or(64);
    let mail = super::mail::settings(raw.smtp_url, raw.mail_from, raw.mail_max_attempts)?;
    let require_verified_email = flag(
        "LATCH_REQUIRE_VERIFIED_EMAIL",
        raw.require_verified_email,
        false,
    )?;
    if require_verified_email && mail.is_none() {
        // Nobody could ever verify: every sign-in to an app would be refused.
        return Err(invalid(
            "LATCH_REQUIRE_VERIFIED_EMAIL",
            "needs mail (LATCH_SMTP_URL): without it no address can be verified",
        ));
    }
    let client_id_metadata_documents = flag(
        "LATCH_CLIENT_ID_METADATA_DOCUMENTS",
        raw.client_id_metadata_documents,
        false,
    )?;
    let allow_loopback_fetch = flag(
        "LATCH_ALLOW_LOOPBACK_FETCH",
        raw.allow_loopback_fetch,
        false,
    )?;
    if allow_loopback_fetch {
        tracing::warn!(
            "LATCH_ALLOW_LOOPBACK_FETCH is on: outbound fetches may reach loopback; use it for tests only"
        );
    }
    Ok(Settings {
        client_id_metadata_documents,
        allow_loopback_fetch,
        mail,
        require_verified_email,
        brand: brand(raw.brand_name, raw.brand_logo, raw.brand_color)?,
        session_ttl,
        body_timeout,
        max_connections_per_ip,
        ipv6_prefix,
        limits,
        audit_retention,
        bind,
        database_url,
        issuer,
        audience,
        redis_url: raw.redis_url.filter(|s| !s.is_empty()),
        secret_key,
        data_dir,
        access_token_ttl: lifetime(
            "LATCH_ACCESS_TOKEN_TTL",
            raw.access_token_ttl,
            3600,
            1,
            24 * 3600,
        )?,
        refresh_token_ttl: lifetime(
            "LATCH_REFRESH_TOKEN_TTL",
            raw.refresh_token_ttl,
            30 * 24 * 3600,
            1,
            year,
        )?,
        refresh_token_idle_ttl: lifetime(
            "LATCH_REFRESH_TOKEN_IDLE_TTL",
            raw.refresh_token_idle_ttl,
            14 * 24 * 3600,
            1,
            year,
        )?,
        refresh_token_grace: lifetime(
            "LATCH_REFRESH_TOKEN_GRACE",
            raw.refresh_token_grace,
            0,
            0,
            60,
        )?,
        // RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
        code_ttl: lifetime("LATCH_CODE_TTL", raw.code_ttl, 60, 1, 600)?,
        // RFC 9449 §11.1: a short window bounds the replay cache and a stolen proof's use;
        // below 5 s ordinary clock skew would refuse honest clients.
        dpop_proof_max_age: lifetime(
            "LATCH_DPOP_PROOF_MAX_AGE",
            raw.dpop_proof_max_age,
            60,
            5,
            300,
        )?,
        dpop_require_nonce: flag("LATCH_DPOP_REQUIRE_NONCE", raw.dpop_require_nonce, false)?,
        log_format,
        signing_alg,
        // At least one key reload plus one JWKS max-age, so no instance signs with a key
        // that another instance or a verifier's cached JWKS does not have yet.
        key_prepublish: secs(
            "LATCH_KEY_PREPUBLISH",
            raw.key_prepublish,
            3600,
            crate::signing::MIN_PREPUBLISH.as_secs(),
            7 * 24 * 3600,
        )?,
        tls,
        behind_proxy,
        migrate: flag("LATCH_MIGRATE", raw.migrate, true)?,
        signup: flag("LATCH_SIGNUP", raw.signup, true)?,
        require_par: flag("LATCH_REQUIRE_PAR", raw.require_par, false)?,
        open_registration: flag("LATCH_OPEN_REGISTRATION", raw.open_registration, false)?,
        require_mfa: flag("LATCH_REQUIRE_MFA", raw.require_mfa, false)?,
        rate_limit,
        db_max_connections: raw
            .db_max_connections
            .map(|v| parse_num("LATCH_DB_MAX_CONNECTIONS", &v, 1u32, 1000))
            .transpose()?
            .unwrap_or(16),
        db_acquire_timeout: Duration::from_millis(
            raw.db_acquire_timeout_ms
                .map(|v| parse_num("LATCH_DB_ACQUIRE_TIMEOUT_MS", &v, 50u64, 60_000))
                .transpose()?
                .unwrap_or(2000),
        ),
        workers: raw
            .workers
            .map(|v| parse_num("LATCH_WORKERS", &v, 1usize, 512))
            .transpose()?
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            }),
        // With the backoff of `backchannel::worker` (1 s doubling, capped at 1 h), 8
        // attempts span about two minutes: enough for an app's restart, short enough that a
        // session the app still shows is not believed alive for long.
        backchannel_max_attempts: raw
            .backchannel_max_attempts
            .map(|v| parse_num("LATCH_BACKCHANNEL_MAX_ATTEMPTS", &v, 1u32, 50))
            .transpose()?
            .unwrap_or(8),
        // Each check is a request to the app's server: at least an hour apart, so many
        // apps' logos do not turn Latch into a poller of other people's servers.
        logo_refresh: lifetime(
            "LATCH_LOGO_REFRESH",
            raw.logo_refresh,
            24 * 3600,
            3600,
            30 * 24 * 3600,
        )?,
        // Each running hash holds 7 MiB: the bound is memory (issue #16), 1 by default.
        hashing_threads: raw
            .hashing_threads
            .map(|v| parse_num("LATCH_HASHING_THREADS", &v, 1usize, 64))
            .transpose()?
            .unwrap_or(super::DEFAULT_HASHING_THREADS),
    })
}

/// `LATCH_BRAND_*`: each part checked by `brand`'s rules; the logo file is read here, once,
/// at start-up (a missing or unreadable file stops the start like any bad value).
fn brand(
    name: Option<String>,
    logo: Option<String>,
    color: Option<String>,
) -> Result<std::sync::Arc<crate::brand::Brand>, ConfigError> {
    use crate::brand::{Accent, Brand, BrandName, Logo, MAX_LOGO_BYTES};
    if name.is_none() && logo.is_none() && color.is_none() {
        return Ok(crate::brand::default_brand());
    }
    let name = BrandName::parse(name.as_deref().unwrap_or(crate::brand::DEFAULT_NAME))
        .map_err(|m| invalid("LATCH_BRAND_NAME", m))?;
    let color = Accent::parse(&color.unwrap_or_else(|| crate::brand::DEFAULT_COLOR.hex()))
        .map_err(|m| invalid("LATCH_BRAND_COLOR", m))?;
    let logo = match logo.filter(|p| !p.is_empty()) {
        None => None,
        Some(path) => {
            let cannot =
                |e: std::io::Error| invalid("LATCH_BRAND_LOGO", format!("cannot read {path}: {e}"));
            let file = std::fs::File::open(&path).map_err(cannot)?;
            // Read at most one byte past the limit, so a huge file is refused without
            // being read whole.
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(file, MAX_LOGO_BYTES as u64 + 1),
                &mut bytes,
            )
            .map_err(cannot)?;
            Some(
                Logo::parse(bytes)
                    .map_err(|m| invalid("LATCH_BRAND_LOGO", format!("{path} {m}")))?,
            )
        }
    };
    Ok(std::sync::Arc::new(Brand::new(name, color, logo)))
}

/// The directory of an SQLite database file (the default data directory).
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    let parent = Path::new(path).parent()?;
    Some(if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent.to_path_buf()
    })
}
