//! The layering: defaults (absent keys) → optional `latch.toml` (or `LATCH_CONFIG`) →
//! `LATCH_*` environment, as strings; [`super::validate`] types them.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Overrides, invalid};

/// Raw values as read from file and environment, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Raw {
    pub(super) bind: Option<String>,
    pub(super) database_url: Option<String>,
    pub(super) issuer: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) redis_url: Option<String>,
    pub(super) secret_key: Option<String>,
    pub(super) data_dir: Option<String>,
    pub(super) access_token_ttl: Option<String>,
    pub(super) refresh_token_ttl: Option<String>,
    pub(super) refresh_token_idle_ttl: Option<String>,
    pub(super) refresh_token_grace: Option<String>,
    pub(super) dpop_proof_max_age: Option<String>,
    pub(super) dpop_require_nonce: Option<String>,
    pub(super) code_ttl: Option<String>,
    pub(super) log_format: Option<String>,
    pub(super) signing_alg: Option<String>,
    pub(super) key_prepublish: Option<String>,
    pub(super) tls_cert: Option<String>,
    pub(super) tls_key: Option<String>,
    pub(super) behind_proxy: Option<String>,
    pub(super) migrate: Option<String>,
    pub(super) signup: Option<String>,
    pub(super) require_mfa: Option<String>,
    pub(super) rate_limit: Option<String>,
    pub(super) db_max_connections: Option<String>,
    pub(super) db_acquire_timeout_ms: Option<String>,
    pub(super) workers: Option<String>,
    pub(super) limit_api_key_live: Option<String>,
    pub(super) limit_api_key_test: Option<String>,
    pub(super) limit_token_ip: Option<String>,
    pub(super) limit_token_client: Option<String>,
    pub(super) limit_authorize_ip: Option<String>,
    pub(super) limit_login_ip: Option<String>,
    pub(super) limit_signup_ip: Option<String>,
    pub(super) limit_device_code: Option<String>,
    pub(super) login_lockout_threshold: Option<String>,
    pub(super) audit_retention_days: Option<String>,
    pub(super) session_ttl: Option<String>,
    pub(super) body_timeout: Option<String>,
    pub(super) max_connections_per_ip: Option<String>,
    pub(super) ipv6_prefix: Option<String>,
    pub(super) brand_name: Option<String>,
    pub(super) brand_logo: Option<String>,
    pub(super) brand_color: Option<String>,
    pub(super) require_par: Option<String>,
    pub(super) smtp_url: Option<String>,
    pub(super) mail_from: Option<String>,
    pub(super) mail_max_attempts: Option<String>,
    pub(super) require_verified_email: Option<String>,
    pub(super) limit_password_reset_ip: Option<String>,
    pub(super) limit_password_reset_account: Option<String>,
    pub(super) limit_verify_resend: Option<String>,
    pub(super) backchannel_max_attempts: Option<String>,
    pub(super) logo_refresh: Option<String>,
    pub(super) hashing_threads: Option<String>,
    pub(super) open_registration: Option<String>,
    pub(super) limit_register_ip: Option<String>,
    pub(super) client_id_metadata_documents: Option<String>,
    pub(super) allow_loopback_fetch: Option<String>,
}

/// Read the file and environment layers into [`Raw`]; `env` is the process environment
/// (injected for tests).
pub(super) fn layer(
    overrides: &Overrides,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Raw, ConfigError> {
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
            builder = builder
                .add_source(config::File::from(path.as_path()).format(config::FileFormat::Toml));
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
    builder
        .build()
        .map_err(|e| ConfigError::Source(e.to_string()))?
        .try_deserialize()
        .map_err(|e| ConfigError::Source(e.to_string()))
}
