//! sea-orm entities for Latch, one module per table (singular names).
//!
//! Timestamps are UTC; every secret column holds a SHA-256 digest (hex), never the secret.
//! List-valued columns (scopes, redirect URIs, grant types) are space-separated strings,
//! the OAuth wire form (RFC 6749 §3.3), so they read the same on SQLite and PostgreSQL.

pub mod api;
pub mod api_key;
pub mod api_scope;
pub mod audit_event;
pub mod authorization_code;
pub mod backchannel_logout;
pub mod browser_session;
pub mod client;
pub mod client_assertion_jti;
pub mod client_logo;
pub mod consent;
pub mod device_code;
pub mod dpop_proof;
pub mod exchanged_token;
pub mod idempotency_key;
pub mod mail_outbox;
pub mod passkey;
pub mod passkey_ceremony;
pub mod prelude;
pub mod pushed_request;
pub mod recovery_code;
pub mod refresh_token;
pub mod registration_token;
pub mod revoked_token;
pub mod session_client;
pub mod signing_key;
pub mod totp_factor;
pub mod user;
pub mod user_token;
