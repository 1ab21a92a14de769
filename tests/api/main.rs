//! Black-box tests: the real app on a random port against a fresh database.
//! Run on SQLite by default; set `DATABASE_URL=postgres://…` to run on PostgreSQL.

mod helpers;
mod smtp_sink;

mod authorize;
mod branding;
mod catalog;
mod cli;
mod client_type;
mod consent_truth;
mod cors;
mod dashboard;
mod deny_sync;
mod device_flow;
mod disable_v1;
mod discovery;
mod dpop;
mod email_verification;
mod foundation;
mod hostile_input;
mod introspection_jwt;
mod key_policies;
mod mail;
mod oauth_flow;
mod par;
mod password_reset;
mod private_key_jwt;
mod rate_limit;
mod reliability;
mod resource;
mod resource_indicators;
mod security_authorize;
mod security_infra;
mod security_v1;
mod session_ui;
mod sessions;
mod tls;
mod token_code;
mod token_exchange;
mod token_misc;
mod token_refresh;
mod totp;
mod v1_keys;
mod verify;
