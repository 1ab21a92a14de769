//! API keys (DESIGN.md): `sk_live_`/`sk_test_` + 32 random base62 + CRC32 checksum, stored
//! as a SHA-256 digest with a display prefix and the last four characters.

use sea_orm::ConnectionTrait;

use crate::crypto;
use crate::errors::{ApiError, StoreError};
use crate::store;

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

/// Create a key; the secret is returned here and never again.
pub async fn create(
    db: &impl ConnectionTrait,
    k: NewKey,
) -> Result<(entity::api_key::Model, String), KeyError> {
    let name = k.name.trim().to_owned();
    if name.chars().count() > 100 {
        return Err(KeyError::Invalid(
            "name must be at most 100 characters".into(),
            "name",
        ));
    }
    let mut scopes: Vec<String> = Vec::new();
    for s in &k.scopes {
        let ok = KEY_SCOPES.contains(&s.as_str())
            || s.split_once(':').is_some_and(|(res, act)| {
                !res.is_empty()
                    && res.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    && (act == "read" || act == "write")
            });
        if !ok {
            return Err(KeyError::Invalid(
                format!("unknown scope {s:?}; use read, write or resource:read|write"),
                "scopes",
            ));
        }
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    if scopes.is_empty() {
        scopes = vec!["read".into(), "write".into()];
    }
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
