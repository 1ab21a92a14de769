//! Settings: defaults → optional `latch.toml` → `LATCH_*` environment → CLI flags.
//!
//! Everything is validated once, here, into typed values; an invalid value is a
//! [`ConfigError`] naming the key, which the CLI turns into exit code 2.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use url::Url;

pub use crate::signing::SigningAlg;

/// A configuration problem, always naming the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("invalid configuration: {0}")]
    Source(String),
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// The master secret (≥ 32 bytes). Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let s = s.trim();
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|e| e.decode(s).ok())
            .ok_or_else(|| invalid("LATCH_SECRET_KEY", "is not valid base64"))?;
        if bytes.len() < 32 {
            return Err(invalid(
                "LATCH_SECRET_KEY",
                format!(
                    "decodes to {} bytes; at least 32 are required (`latch secret generate` prints one)",
                    bytes.len()
                ),
            ));
        }
        Ok(Self(bytes))
    }

    pub fn generate() -> Self {
        Self(crate::crypto::random_bytes(32))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.0)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Raw values as read from file and environment, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Raw {
    bind: Option<String>,
    database_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    redis_url: Option<String>,
    secret_key: Option<String>,
    data_dir: Option<String>,
    access_token_ttl: Option<String>,
    refresh_token_ttl: Option<String>,
    refresh_token_idle_ttl: Option<String>,
    refresh_token_grace: Option<String>,
    code_ttl: Option<String>,
    log_format: Option<String>,
    signing_alg: Option<String>,
    key_prepublish: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    behind_proxy: Option<String>,
    migrate: Option<String>,
    signup: Option<String>,
    rate_limit: Option<String>,
    db_max_connections: Option<String>,
    db_acquire_timeout_ms: Option<String>,
    workers: Option<String>,
    limit_api_key_live: Option<String>,
    limit_api_key_test: Option<String>,
    limit_token_ip: Option<String>,
    limit_token_client: Option<String>,
    limit_authorize_ip: Option<String>,
    limit_login_ip: Option<String>,
    limit_signup_ip: Option<String>,
    login_lockout_threshold: Option<String>,
    audit_retention_days: Option<String>,
    session_ttl: Option<String>,
    body_timeout: Option<String>,
    max_connections_per_ip: Option<String>,
    ipv6_prefix: Option<String>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub bind: Option<String>,
    pub database_url: Option<String>,
    pub issuer: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    pub database_url: String,
    /// Issuer identifier (RFC 8414 §2): no trailing slash, no query or fragment.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    pub redis_url: Option<String>,
    /// `None` only before [`Settings::ensure_secret_key`] ran.
    pub secret_key: Option<SecretKey>,
    pub data_dir: PathBuf,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub refresh_token_idle_ttl: Duration,
    /// Window in which a just-rotated refresh token may be replayed (lost response).
    pub refresh_token_grace: Duration,
    pub code_ttl: Duration,
    pub log_format: LogFormat,
    pub signing_alg: SigningAlg,
    /// How long a new signing key is published in JWKS before it signs.
    pub key_prepublish: Duration,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub behind_proxy: bool,
    pub migrate: bool,
    pub signup: bool,
    pub rate_limit: bool,
    pub db_max_connections: u32,
    pub db_acquire_timeout: Duration,
    pub workers: usize,
    pub limits: crate::rate_limit::Limits,
    /// Audit events older than this are pruned.
    pub audit_retention: Duration,
    /// A browser session ends this long after sign-in.
    pub session_ttl: Duration,
    /// A request body must arrive completely within this time (slow-body clients).
    pub body_timeout: Duration,
    /// Open connections one address (see [`Self::ipv6_prefix`]) may hold at once.
    pub max_connections_per_ip: u32,
    /// Per-IP limits key an IPv6 address by its first this-many bits (one /64 is one host).
    pub ipv6_prefix: u8,
}

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

fn parse_num<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
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

impl Settings {
    /// Load from the layers; `env` is the process environment (injected for tests).
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(overrides, std::env::vars())
    }

    pub fn load_from(
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: std::collections::HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("LATCH_"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let mut builder = config::Config::builder();
        let file = overrides
            .config_file
            .clone()
            .or_else(|| env.get("latch_config").map(PathBuf::from));
        match &file {
            Some(path) => {
                if !path.exists() {
                    return Err(invalid(
                        "LATCH_CONFIG",
                        format!("file {} does not exist", path.display()),
                    ));
                }
                builder = builder.add_source(
                    config::File::from(path.as_path()).format(config::FileFormat::Toml),
                );
            }
            None => {
                builder = builder.add_source(
                    config::File::with_name("latch.toml")
                        .format(config::FileFormat::Toml)
                        .required(false),
                );
            }
        }
        // Flat keys: LATCH_DATABASE_URL → database_url. (config-rs's own Environment source
        // would need `prefix_separator`; mapping by hand keeps every value a string.)
        for (k, v) in &env {
            let key = k.trim_start_matches("latch_");
            if key != "config" {
                builder = builder
                    .set_override(key, v.clone())
                    .map_err(|e| ConfigError::Source(e.to_string()))?;
            }
        }
        let raw: Raw = builder
            .build()
            .map_err(|e| ConfigError::Source(e.to_string()))?
            .try_deserialize()
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        Self::from_raw(raw, overrides)
    }

    fn from_raw(raw: Raw, o: &Overrides) -> Result<Self, ConfigError> {
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
        let secs =
            |key, v: Option<String>, default: u64, min, max| -> Result<Duration, ConfigError> {
                v.map(|v| parse_secs(key, &v, min, max))
                    .transpose()
                    .map(|d| d.unwrap_or(Duration::from_secs(default)))
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
        ] {
            if let Some(v) = raw_value {
                *slot = crate::rate_limit::Rate::parse(v)
                    .ok_or_else(|| invalid(key, format!("expected a rate such as 100/s, 10/m or 5/h (optionally :burst), got {v:?}")))?;
            }
        }
        if let Some(v) = &raw.login_lockout_threshold {
            limits.login_failures_per_account =
                parse_num("LATCH_LOGIN_LOCKOUT_THRESHOLD", v, 1u32, 1000)?;
        }
        let audit_retention = Duration::from_secs(
            86_400
                * raw
                    .audit_retention_days
                    .as_deref()
                    .map(|v| parse_num("LATCH_AUDIT_RETENTION_DAYS", v, 1u64, 3650))
                    .transpose()?
                    .unwrap_or(90),
        );
        let session_ttl = secs(
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
        Ok(Settings {
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
            access_token_ttl: secs(
                "LATCH_ACCESS_TOKEN_TTL",
                raw.access_token_ttl,
                3600,
                1,
                24 * 3600,
            )?,
            refresh_token_ttl: secs(
                "LATCH_REFRESH_TOKEN_TTL",
                raw.refresh_token_ttl,
                30 * 24 * 3600,
                1,
                year,
            )?,
            refresh_token_idle_ttl: secs(
                "LATCH_REFRESH_TOKEN_IDLE_TTL",
                raw.refresh_token_idle_ttl,
                14 * 24 * 3600,
                1,
                year,
            )?,
            refresh_token_grace: secs(
                "LATCH_REFRESH_TOKEN_GRACE",
                raw.refresh_token_grace,
                0,
                0,
                60,
            )?,
            // RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
            code_ttl: secs("LATCH_CODE_TTL", raw.code_ttl, 60, 1, 600)?,
            log_format,
            signing_alg,
            key_prepublish: secs(
                "LATCH_KEY_PREPUBLISH",
                raw.key_prepublish,
                3600,
                0,
                7 * 24 * 3600,
            )?,
            tls,
            behind_proxy,
            migrate: flag("LATCH_MIGRATE", raw.migrate, true)?,
            signup: flag("LATCH_SIGNUP", raw.signup, true)?,
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
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// The part of the settings [`crate::store::connect`] needs.
    pub fn db_config(&self) -> crate::store::DbConfig {
        crate::store::DbConfig {
            url: self.database_url.clone(),
            max_connections: self.db_max_connections,
            acquire_timeout: self.db_acquire_timeout,
            is_sqlite: self.is_sqlite(),
        }
    }

    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The master key, which must exist once start-up is past [`Self::ensure_secret_key`].
    pub fn secret(&self) -> &SecretKey {
        self.secret_key
            .as_ref()
            .expect("ensure_secret_key runs before the key is used")
    }

    /// On a single SQLite instance a missing master key is generated once and kept in the
    /// data directory (mode 0600). With PostgreSQL every instance must share one, so it is
    /// required. Returns the path when a key was created or loaded from disk.
    pub fn ensure_secret_key(&mut self) -> Result<Option<(PathBuf, bool)>, ConfigError> {
        if self.secret_key.is_some() {
            return Ok(None);
        }
        if !self.is_sqlite() {
            return Err(invalid(
                "LATCH_SECRET_KEY",
                "is required with PostgreSQL (every instance must share it); `latch secret generate` prints one",
            ));
        }
        let path = self.data_dir.join("latch-secret.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                invalid(
                    "LATCH_SECRET_KEY",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            self.secret_key = Some(SecretKey::parse(&text)?);
            return Ok(Some((path, false)));
        }
        let key = SecretKey::generate();
        write_private(&path, &key.to_base64()).map_err(|e| {
            invalid(
                "LATCH_SECRET_KEY",
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        self.secret_key = Some(key);
        Ok(Some((path, true)))
    }

    /// Settings for tests: fast, loopback, explicit key.
    pub fn for_tests(database_url: &str) -> Self {
        let mut s =
            Self::from_raw(Raw::default(), &Overrides::default()).expect("defaults are valid");
        s.bind = "127.0.0.1:0".to_owned();
        s.database_url = database_url.to_owned();
        s.secret_key = Some(SecretKey::generate());
        s.key_prepublish = Duration::ZERO;
        s.workers = 2;
        s
    }
}

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

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_from(
            &Overrides::default(),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_are_loopback_sqlite() {
        let s = load(&[]).unwrap();
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert!(s.is_sqlite());
        assert_eq!(s.code_ttl, Duration::from_secs(60));
    }

    #[test]
    fn env_overrides_and_errors_name_the_key() {
        let s = load(&[
            ("LATCH_DATABASE_URL", "postgres://x/y"),
            ("LATCH_ACCESS_TOKEN_TTL", "60"),
        ])
        .unwrap();
        assert_eq!(s.database_url, "postgres://x/y");
        assert_eq!(s.access_token_ttl, Duration::from_secs(60));
        let e = load(&[("LATCH_ACCESS_TOKEN_TTL", "soon")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATCH_ACCESS_TOKEN_TTL"), "{e}");
        let e = load(&[("LATCH_SECRET_KEY", "c2hvcnQ=")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATCH_SECRET_KEY") && e.contains("32"), "{e}");
    }

    #[test]
    fn http_issuer_off_loopback_needs_a_proxy() {
        let e = load(&[("LATCH_ISSUER", "http://auth.example.com")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATCH_ISSUER"));
        assert!(
            load(&[
                ("LATCH_ISSUER", "http://auth.example.com"),
                ("LATCH_BEHIND_PROXY", "true")
            ])
            .is_ok()
        );
        assert!(
            load(&[("LATCH_ISSUER", "https://auth.example.com/")])
                .unwrap()
                .issuer
                == "https://auth.example.com"
        );
    }

    /// A `latch.toml` in a temp dir, loaded with `env` and `flags` on top.
    fn load_layers(
        toml: &str,
        env: &[(&str, &str)],
        flags: Overrides,
    ) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latch.toml");
        std::fs::write(&path, toml).unwrap();
        Settings::load_from(
            &Overrides {
                config_file: Some(path),
                ..flags
            },
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn file_values_apply_when_neither_env_nor_flags_set_them() {
        let s = load_layers(
            "bind = \"127.0.0.1:7001\"\naccess_token_ttl = 120\n",
            &[],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.bind, "127.0.0.1:7001");
        assert_eq!(s.issuer, "http://127.0.0.1:7001");
        assert_eq!(s.access_token_ttl, Duration::from_secs(120));
    }

    #[test]
    fn env_overrides_the_file_and_flags_override_env() {
        let toml = "bind = \"127.0.0.1:7001\"\naccess_token_ttl = 120\n";
        let env = [
            ("LATCH_BIND", "127.0.0.1:7002"),
            ("LATCH_ACCESS_TOKEN_TTL", "300"),
        ];
        let s = load_layers(toml, &env, Overrides::default()).unwrap();
        assert_eq!(s.bind, "127.0.0.1:7002");
        assert_eq!(s.access_token_ttl, Duration::from_secs(300));
        let flags = Overrides {
            bind: Some("127.0.0.1:7003".into()),
            ..Overrides::default()
        };
        let s = load_layers(toml, &env, flags).unwrap();
        assert_eq!(s.bind, "127.0.0.1:7003");
        assert_eq!(s.access_token_ttl, Duration::from_secs(300));
    }

    #[test]
    fn invalid_file_values_name_the_key() {
        let e = load_layers("access_token_ttl = \"soon\"\n", &[], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATCH_ACCESS_TOKEN_TTL"), "{e}");
    }

    #[test]
    fn a_missing_config_file_names_latch_config() {
        let e = Settings::load_from(
            &Overrides {
                config_file: Some("/nonexistent/latch.toml".into()),
                ..Overrides::default()
            },
            std::iter::empty(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("LATCH_CONFIG"), "{e}");
    }

    #[test]
    fn connection_settings_have_safe_defaults_and_minimums() {
        let s = load(&[]).unwrap();
        assert_eq!(s.body_timeout, Duration::from_secs(10));
        assert_eq!(s.max_connections_per_ip, 256);
        for (key, bad) in [
            ("LATCH_BODY_TIMEOUT", "0"),
            ("LATCH_BODY_TIMEOUT", "301"),
            ("LATCH_MAX_CONNECTIONS_PER_IP", "0"),
        ] {
            let e = load(&[(key, bad)]).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        let s = load(&[
            ("LATCH_BODY_TIMEOUT", "3"),
            ("LATCH_MAX_CONNECTIONS_PER_IP", "8"),
        ])
        .unwrap();
        assert_eq!(s.body_timeout, Duration::from_secs(3));
        assert_eq!(s.max_connections_per_ip, 8);
    }

    #[test]
    fn ipv6_prefix_defaults_to_64_within_32_to_128() {
        assert_eq!(load(&[]).unwrap().ipv6_prefix, 64);
        assert_eq!(
            load(&[("LATCH_IPV6_PREFIX", "56")]).unwrap().ipv6_prefix,
            56
        );
        for bad in ["16", "129", "x"] {
            let e = load(&[("LATCH_IPV6_PREFIX", bad)]).unwrap_err().to_string();
            assert!(e.contains("LATCH_IPV6_PREFIX"), "{e}");
        }
    }

    #[test]
    fn secret_key_accepts_every_base64_alphabet() {
        let raw = [0xfbu8; 32];
        for e in [
            base64::engine::general_purpose::STANDARD.encode(raw),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
        ] {
            assert_eq!(SecretKey::parse(&e).unwrap().expose(), &raw);
        }
        assert!(
            format!(
                "{:?}",
                SecretKey::parse(&base64::engine::general_purpose::STANDARD.encode(raw)).unwrap()
            )
            .contains("redacted")
        );
    }
}
