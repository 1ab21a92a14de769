//! Black-box tests: the real app on a random port against a fresh database.
//! Run on SQLite by default; set `DATABASE_URL=postgres://…` to run on PostgreSQL.

mod helpers;

mod authorize;
mod branding;
mod catalog;
mod cli;
mod consent_truth;
mod dashboard;
mod deny_sync;
mod discovery;
mod dpop;
mod foundation;
mod hostile_input;
mod key_policies;
mod oauth_flow;
mod rate_limit;
mod reliability;
mod resource;
mod resource_indicators;
mod security_authorize;
mod security_infra;
mod security_v1;
mod session_ui;
mod tls;
mod token_code;
mod token_misc;
mod token_refresh;
mod v1_keys;
mod verify;
