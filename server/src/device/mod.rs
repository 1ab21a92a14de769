//! The device authorization grant (RFC 8628) for devices without a browser: TVs, CLIs.
//!
//! - `POST /oauth/device_authorization` ([`authorization`]): a client (public or
//!   confidential, with the grant enabled) asks for a device code and a user code (§3.1,
//!   §3.2). It opens with `oauth::ClientRequest::open` like every client-facing endpoint.
//! - `/device` ([`page`]): the person enters the user code, signs in if needed, and approves
//!   or denies after a consent screen that names the app and warns about codes received
//!   from someone else (§5.4, remote phishing). Code entry is rate limited per IP and per
//!   session (§5.1, brute force).
//! - The device polls the token endpoint: `token::grants::device_code` (§3.4, §3.5).
//!
//! Who may call what: the endpoint, any authenticated client with the grant, for its own
//! device codes (the token endpoint checks the client again); the page, any signed-in
//! person, for the one authorization whose user code they typed in this session.

pub mod authorization;
pub mod page;
pub mod user_code;

use actix_web::web;

/// RFC 8628 §3.2 `expires_in`: how long the person has to answer.
pub const EXPIRES_IN_SECS: i64 = 600;
/// RFC 8628 §3.2 `interval`: the seconds a device waits between polls.
pub const INTERVAL_SECS: i32 = 5;

/// The endpoint for programs (no session).
pub fn machine_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/oauth/device_authorization",
        web::post().to(authorization::post),
    );
}

/// The page for people (behind the session middleware).
pub fn browser_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/device", web::get().to(page::get))
        .route("/device", web::post().to(page::enter))
        .route("/device/decision", web::post().to(page::decide));
}
