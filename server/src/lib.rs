//! Latch: an OAuth 2.0 authorization server with API keys.
#![warn(clippy::self_named_module_files)]
// The error types carry their response (status, body parts, headers); they are built only
// on the error path, so their size is not worth boxing.
#![allow(clippy::result_large_err)]

/// The configuration of every property test of hostile input (issue #16): 256 cases, so the
/// whole set runs in seconds in CI, unless `PROPTEST_CASES` asks for a longer run
/// (`PROPTEST_CASES=100000 cargo test -p latch --lib prop_`). A macro, not a module, so test
/// modules at the bottom of the import graph use it without importing anything of ours.
#[cfg(test)]
macro_rules! hostile_config {
    () => {{
        // `Config::default()` reads `PROPTEST_CASES`; `with_cases` would override it.
        let mut c = proptest::test_runner::Config::default();
        if std::env::var_os("PROPTEST_CASES").is_none() {
            c.cases = 256;
        }
        c
    }};
}

/// Sign-in, sign-up and sign-out pages.
pub mod account;
/// The `/v1` JSON API and its authentication.
pub mod api;
/// API keys: format, creation, verification.
pub mod api_keys;
/// The audit trail: event kinds, severities, recording.
pub mod audit;
/// `GET/POST /oauth/authorize` (RFC 6749 §4.1, RFC 7636, RFC 9207).
pub mod authorize;
/// Bearer tokens (RFC 6750): reading `Authorization` and the one challenge builder.
pub mod bearer;
/// The brand on every page: name, logo and accent colour (a task-local per request).
pub mod brand;
/// DPoP (RFC 9449): server nonces, the proof replay cache, the one proof check.
pub mod dpop;

/// OIDC Back-Channel Logout 1.0: the public `sid`, which apps had a session, the outbox and
/// its worker.
pub mod backchannel;
pub mod catalog;
/// The `latch` command line.
pub mod cli;
/// The client's address (a request extension) and the per-IP limit key.
pub mod client_ip;
/// OAuth client registration rules, consent-screen metadata, logos and trust.
pub mod clients;
/// The injectable clock every time decision reads (imports nothing of ours).
pub mod clock;
/// Settings from defaults, `latch.toml`, `LATCH_*` and flags.
pub mod config;
/// The per-address cap on open connections.
pub mod connections;
/// Randomness, digests, credential formats, encryption at rest.
pub mod crypto;
/// One cursor for every list (`limit`, `starting_after`, `has_more`).
pub mod cursor;
/// The developer dashboard: API keys, OAuth apps, authorized apps, activity, settings, admin pages.
pub mod dashboard;
/// The device authorization grant (RFC 8628): its endpoint and the `/device` page.
pub mod device;
/// RFC 8414 metadata and the JWKS document.
pub mod discovery;
/// Email addresses: the stored form, lookups, look-alikes (UTS #39).
pub mod email;
/// The OAuth, `/v1` and HTML error dialects.
pub mod errors;
/// Thin public wrappers of private parsers for the cargo-fuzz targets in `fuzz/` (issue
/// #16); only with the `fuzzing` feature, which the server build never enables.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
/// The grant types Latch supports: the one list (RFC 6749 §4, §6).
pub mod grant_type;
/// `/healthz`, `/readyz`, `/metrics`.
pub mod health;
/// Property tests of public parsers whose modules other work owns (API-key format, redirect
/// URI registration), kept apart so those files stay untouched.
#[cfg(test)]
mod hostile_input;
/// `POST /oauth/introspect` (RFC 7662).
pub mod introspect;
/// `GET /logos/…`: the client logos Latch fetched, served from its own origin.
pub mod logos;
/// `GET,POST /oauth/logout`: OIDC RP-Initiated Logout 1.0.
pub mod logout;
/// Mail: the outbox, its worker (SMTP or `.eml` files) and the mail templates.
pub mod mail;
/// Client IPs, body deadlines, metrics and security headers.
pub mod middleware;
/// The shared layer of the `/oauth` endpoints: form, client authentication, bearer tokens,
/// active access tokens, ID tokens.
pub mod oauth;
/// OpenID Connect: userinfo and discovery.
pub mod oidc;
/// Outbound fetches of addresses others chose (logos, JWKS, client ID metadata documents)
/// under one SSRF fence.
pub mod outbound;
/// Server-rendered pages and static assets.
pub mod pages;
/// `POST /oauth/par`: pushed authorization requests (RFC 9126).
pub mod par;
/// Rate limits and brute-force tracking (in-process or Redis).
pub mod rate_limit;
/// `/oauth/register`: dynamic client registration and management (RFC 7591, RFC 7592).
pub mod register;
/// The id of the request being handled (a task-local); imports nothing of ours.
pub mod request_id;
/// `POST /oauth/revoke` (RFC 7009).
pub mod revoke;
/// The URL map.
pub mod routes;
/// Scopes (RFC 6749 §3.3): the supported list and `ScopeSet`.
pub mod scope;
/// The browser session: CSRF tokens, the signed-in user, origin check, validity.
pub mod session;
/// JWS signing keys, JWKS, access-token signing and verification.
pub mod signing;
/// Building and running the server.
pub mod startup;
/// Shared application state.
pub mod state;
/// The only module that touches the database.
pub mod store;
/// Periodic clean-up of expired rows.
pub mod sweeper;
/// Logging and metrics set-up.
pub mod telemetry;
/// `POST /oauth/token` and its grants.
pub mod token;
/// Time-based one-time passwords (RFC 6238), base32, the `otpauth://` URI and its QR code.
pub mod totp;
/// The one-line device summary of a `User-Agent` ("Firefox on Linux") for the sessions list.
pub mod user_agent;
/// Accounts and passwords.
pub mod users;
