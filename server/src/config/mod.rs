//! Settings: defaults → optional `latch.toml` → `LATCH_*` environment → CLI flags.
//!
//! `raw` layers the sources into strings; `validate` turns them, once, into typed
//! `Settings`; an invalid value is a `ConfigError` naming the key, which the CLI turns
//! into exit code 2. A new setting is a `Raw` field, a `Settings` field and one line in
//! `validate::settings`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;

pub use crate::signing::SigningAlg;

mod mail;
mod raw;
mod validate;

pub use mail::{MailSettings, MailTransport, SmtpAuth, SmtpSecurity};

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

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub bind: Option<String>,
    pub database_url: Option<String>,
    pub issuer: Option<String>,
}

/// Password hashes (argon2id, 7 MiB each) computed at once unless `LATCH_HASHING_THREADS`
/// says otherwise: one, so the peak memory holds one hash (issue #16).
pub const DEFAULT_HASHING_THREADS: usize = 1;

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
    pub access_token_ttl: chrono::TimeDelta,
    pub refresh_token_ttl: chrono::TimeDelta,
    pub refresh_token_idle_ttl: chrono::TimeDelta,
    /// Window in which a just-rotated refresh token may be replayed (lost response).
    pub refresh_token_grace: chrono::TimeDelta,
    pub code_ttl: chrono::TimeDelta,
    /// How old a DPoP proof's `iat` may be (RFC 9449 §11.1); also the life of a server
    /// nonce's time slot (§8).
    pub dpop_proof_max_age: chrono::TimeDelta,
    /// Every DPoP proof must carry a server nonce (RFC 9449 §8, §9).
    pub dpop_require_nonce: bool,
    pub log_format: LogFormat,
    pub signing_alg: SigningAlg,
    /// How long a new signing key is published in JWKS before it signs.
    pub key_prepublish: Duration,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub behind_proxy: bool,
    pub migrate: bool,
    pub signup: bool,
    /// `LATCH_REQUIRE_MFA`: an account without a second factor sets one up at its next
    /// sign-in before it can continue (default off).
    pub require_mfa: bool,
    pub rate_limit: bool,
    pub db_max_connections: u32,
    pub db_acquire_timeout: Duration,
    pub workers: usize,
    pub limits: crate::rate_limit::Limits,
    /// Audit events older than this are pruned.
    pub audit_retention: chrono::TimeDelta,
    /// A browser session ends this long after sign-in.
    pub session_ttl: chrono::TimeDelta,
    /// A request body must arrive completely within this time (slow-body clients).
    pub body_timeout: Duration,
    /// Open connections one address (see [`Self::ipv6_prefix`]) may hold at once.
    pub max_connections_per_ip: u32,
    /// Per-IP limits key an IPv6 address by its first this-many bits (one /64 is one host).
    pub ipv6_prefix: u8,
    /// The product name, logo and accent colour on every page (and, once Latch sends mail,
    /// every mail): `LATCH_BRAND_NAME`, `LATCH_BRAND_LOGO`, `LATCH_BRAND_COLOR`.
    pub brand: std::sync::Arc<crate::brand::Brand>,
    /// Every authorization request must be pushed first (RFC 9126 §5), `LATCH_REQUIRE_PAR`;
    /// otherwise only for clients registered with `require_pushed_authorization_requests`.
    pub require_par: bool,
    /// `LATCH_SMTP_URL`, `LATCH_MAIL_FROM`, `LATCH_MAIL_MAX_ATTEMPTS`; `None`: no mail (the
    /// pages say so; admins make reset links with `latch user reset-link`).
    pub mail: Option<MailSettings>,
    /// `LATCH_REQUIRE_VERIFIED_EMAIL`: no sign-in to OAuth apps until the address is verified.
    pub require_verified_email: bool,
    /// `LATCH_BACKCHANNEL_MAX_ATTEMPTS`: how many times a back-channel logout is POSTed to
    /// an app before Latch gives up on it (OIDC Back-Channel Logout §2.8).
    pub backchannel_max_attempts: u32,
    /// `LATCH_LOGO_REFRESH` (seconds, default 86400, at least 3600): how often each stored
    /// client logo is checked again against its `logo_uri` (`clients::logo_refresh`).
    pub logo_refresh: chrono::TimeDelta,
    /// `LATCH_HASHING_THREADS`: password hashes (argon2id, 7 MiB each) computed at once.
    pub hashing_threads: usize,
    /// `LATCH_OPEN_REGISTRATION`: `/oauth/register` takes public clients without an initial
    /// access token (RFC 7591 §3), limited per IP (`LATCH_LIMIT_REGISTER_IP`). Off by default.
    pub open_registration: bool,
    /// `LATCH_CLIENT_ID_METADATA_DOCUMENTS` (default false): an `https` URL may be a
    /// `client_id`, its JSON document fetched and checked
    /// (draft-ietf-oauth-client-id-metadata-document; `clients::metadata_document`).
    pub client_id_metadata_documents: bool,
    /// `LATCH_ALLOW_LOOPBACK_FETCH` (default false; **for tests only**): Latch's outbound
    /// fetches (`outbound`) may go to loopback addresses and plain `http://` loopback URLs,
    /// so a test can serve documents from 127.0.0.1. Private, link-local and other
    /// non-public addresses stay refused.
    pub allow_loopback_fetch: bool,
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
        let raw = raw::layer(overrides, env)?;
        validate::settings(raw, overrides)
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
            statement_timeout: Some(self.db_acquire_timeout),
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
        let mut s = validate::settings(raw::Raw::default(), &Overrides::default())
            .expect("defaults are valid");
        s.bind = "127.0.0.1:0".to_owned();
        s.database_url = database_url.to_owned();
        s.secret_key = Some(SecretKey::generate());
        s.key_prepublish = Duration::ZERO;
        s.workers = 2;
        s
    }
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
        assert_eq!(s.code_ttl, chrono::TimeDelta::seconds(60));
    }

    #[test]
    fn logo_refresh_defaults_to_a_day_and_refuses_less_than_an_hour() {
        assert_eq!(
            load(&[]).unwrap().logo_refresh,
            chrono::TimeDelta::hours(24)
        );
        let s = load(&[("LATCH_LOGO_REFRESH", "3600")]).unwrap();
        assert_eq!(s.logo_refresh, chrono::TimeDelta::hours(1));
        for bad in ["60", "soon"] {
            let e = load(&[("LATCH_LOGO_REFRESH", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("LATCH_LOGO_REFRESH"), "{e}");
        }
    }

    #[test]
    fn env_overrides_and_errors_name_the_key() {
        let s = load(&[
            ("LATCH_DATABASE_URL", "postgres://x/y"),
            ("LATCH_ACCESS_TOKEN_TTL", "60"),
        ])
        .unwrap();
        assert_eq!(s.database_url, "postgres://x/y");
        assert_eq!(s.access_token_ttl, chrono::TimeDelta::seconds(60));
        let e = load(&[("LATCH_ACCESS_TOKEN_TTL", "soon")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATCH_ACCESS_TOKEN_TTL"), "{e}");
        let e = load(&[("LATCH_SECRET_KEY", "c2hvcnQ=")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATCH_SECRET_KEY") && e.contains("32"), "{e}");
    }

    /// RFC 7591 §3: registration needs an initial access token unless
    /// `LATCH_OPEN_REGISTRATION` opens it; its per-IP limit is a rate like the others.
    #[test]
    fn open_registration_defaults_off_and_bad_values_name_the_key() {
        let s = load(&[]).unwrap();
        assert!(!s.open_registration);
        assert_eq!(s.limits.register_ip.count, 10);
        let s = load(&[
            ("LATCH_OPEN_REGISTRATION", "true"),
            ("LATCH_LIMIT_REGISTER_IP", "3/h"),
        ])
        .unwrap();
        assert!(s.open_registration);
        assert_eq!(s.limits.register_ip.count, 3);
        for (k, v) in [
            ("LATCH_OPEN_REGISTRATION", "maybe"),
            ("LATCH_LIMIT_REGISTER_IP", "lots"),
        ] {
            let e = load(&[(k, v)]).unwrap_err().to_string();
            assert!(e.contains(k), "{e}");
        }
    }

    /// RFC 9126 §5: PAR is optional unless `LATCH_REQUIRE_PAR` says otherwise.
    #[test]
    fn client_id_metadata_documents_and_loopback_fetch_default_off() {
        let s = load(&[]).unwrap();
        assert!(!s.client_id_metadata_documents && !s.allow_loopback_fetch);
        let s = load(&[
            ("LATCH_CLIENT_ID_METADATA_DOCUMENTS", "true"),
            ("LATCH_ALLOW_LOOPBACK_FETCH", "true"),
        ])
        .unwrap();
        assert!(s.client_id_metadata_documents && s.allow_loopback_fetch);
        let e = load(&[("LATCH_ALLOW_LOOPBACK_FETCH", "maybe")]).unwrap_err();
        assert!(e.to_string().contains("LATCH_ALLOW_LOOPBACK_FETCH"), "{e}");
    }

    #[test]
    fn require_par_defaults_off_and_a_bad_value_names_the_key() {
        assert!(!load(&[]).unwrap().require_par);
        assert!(load(&[("LATCH_REQUIRE_PAR", "true")]).unwrap().require_par);
        let e = load(&[("LATCH_REQUIRE_PAR", "sometimes")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATCH_REQUIRE_PAR"), "{e}");
    }

    /// Issue #16, defect 4: with less than one key reload plus one JWKS max-age, an
    /// instance signs with a key other instances and cached JWKS do not have yet.
    #[test]
    fn key_prepublish_below_reload_plus_jwks_max_age_is_refused_naming_the_key() {
        for short in ["0", "15", "329"] {
            let e = load(&[("LATCH_KEY_PREPUBLISH", short)])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("LATCH_KEY_PREPUBLISH") && e.contains("330"),
                "{e}"
            );
        }
        let s = load(&[("LATCH_KEY_PREPUBLISH", "330")]).unwrap();
        assert_eq!(s.key_prepublish, crate::signing::MIN_PREPUBLISH);
        assert_eq!(load(&[]).unwrap().key_prepublish, Duration::from_secs(3600));
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
        assert_eq!(s.access_token_ttl, chrono::TimeDelta::seconds(120));
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
        assert_eq!(s.access_token_ttl, chrono::TimeDelta::seconds(300));
        let flags = Overrides {
            bind: Some("127.0.0.1:7003".into()),
            ..Overrides::default()
        };
        let s = load_layers(toml, &env, flags).unwrap();
        assert_eq!(s.bind, "127.0.0.1:7003");
        assert_eq!(s.access_token_ttl, chrono::TimeDelta::seconds(300));
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
    fn hashing_threads_default_to_one_within_1_to_64() {
        assert_eq!(load(&[]).unwrap().hashing_threads, 1);
        assert_eq!(
            load(&[("LATCH_HASHING_THREADS", "4")])
                .unwrap()
                .hashing_threads,
            4
        );
        for bad in ["0", "65", "x"] {
            let e = load(&[("LATCH_HASHING_THREADS", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("LATCH_HASHING_THREADS"), "{e}");
        }
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

    /// A file in a fresh temporary directory (kept alive by the returned guard).
    fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let path = path.to_string_lossy().into_owned();
        (dir, path)
    }

    fn brand_error(env: &[(&str, &str)]) -> String {
        load(env).unwrap_err().to_string()
    }

    #[test]
    fn brand_defaults_to_latch_and_takes_a_name_colour_and_logo() {
        let s = load(&[]).unwrap();
        assert_eq!(s.brand.name(), "Latch");
        assert_eq!(s.brand.color(), crate::brand::DEFAULT_COLOR);
        assert!(s.brand.logo().is_none());

        let (_dir, png) = temp_file("logo.svg", b"\x89PNG\r\n\x1a\n rest of a PNG");
        let s = load(&[
            ("LATCH_BRAND_NAME", "Acme ID"),
            ("LATCH_BRAND_COLOR", "#0F766E"),
            ("LATCH_BRAND_LOGO", &png),
        ])
        .unwrap();
        assert_eq!(s.brand.name(), "Acme ID");
        assert_eq!(s.brand.color().hex(), "#0f766e");
        // The type comes from the bytes, not from the file name.
        assert!(
            s.brand
                .logo_href()
                .unwrap()
                .starts_with("/static/brand/logo.png?v=")
        );
    }

    #[test]
    fn bad_brand_values_are_refused_naming_their_key() {
        for (key, value) in [
            ("LATCH_BRAND_COLOR", "red;}body{"),
            ("LATCH_BRAND_COLOR", "red"),
            ("LATCH_BRAND_COLOR", "#fff"),
            // White text on yellow: 1.6:1.
            ("LATCH_BRAND_COLOR", "#ffcc00"),
            (
                "LATCH_BRAND_NAME",
                "An over-long product name of forty-one ch",
            ),
            ("LATCH_BRAND_NAME", "Acme\u{7}"),
            ("LATCH_BRAND_NAME", " "),
        ] {
            let e = brand_error(&[(key, value)]);
            assert!(e.contains(key), "{value:?}: {e}");
        }

        let (_svg_dir, svg) = temp_file(
            "logo.png",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
        );
        let e = brand_error(&[("LATCH_BRAND_LOGO", &svg)]);
        assert!(e.contains("LATCH_BRAND_LOGO") && e.contains("SVG"), "{e}");

        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(crate::brand::MAX_LOGO_BYTES + 1, 0);
        let (_big_dir, big) = temp_file("big.png", &big);
        let e = brand_error(&[("LATCH_BRAND_LOGO", &big)]);
        assert!(
            e.contains("LATCH_BRAND_LOGO") && e.contains("256 KiB"),
            "{e}"
        );

        let e = brand_error(&[("LATCH_BRAND_LOGO", "/nonexistent/logo.png")]);
        assert!(
            e.contains("LATCH_BRAND_LOGO") && e.contains("/nonexistent/logo.png"),
            "{e}"
        );
    }

    #[test]
    fn brand_keys_are_read_from_latch_toml_too() {
        let (_dir, toml) = temp_file(
            "latch.toml",
            b"brand_name = \"Acme ID\"\nbrand_color = \"#0f766e\"\n",
        );
        let o = Overrides {
            config_file: Some(PathBuf::from(toml)),
            ..Overrides::default()
        };
        let s = Settings::load_from(&o, std::iter::empty()).unwrap();
        assert_eq!(s.brand.name(), "Acme ID");
        assert_eq!(s.brand.color().hex(), "#0f766e");
    }
}
