//! Pushed authorization requests at the authorization endpoint (RFC 9126 §4): a request
//! naming `request_uri` and `client_id` is the request the client pushed to `/oauth/par`,
//! loaded from the database (so any instance redeems it) and validated again like any other.
//!
//! **Single use at first use.** §4: the server "SHOULD treat a `request_uri` as one-time
//! use". The stored request is consumed the first time a browser presents it (an atomic
//! update, so two instances racing on it give one winner); a second presentation, an
//! expired one (§2.2, on the app clock), another client's or an unknown one is refused
//! with an error page (no redirect: nothing about the request can be trusted). The flow
//! then goes on with the pushed parameters — through sign-in and consent, whose URLs
//! carry them — and this session keeps a record of that exact request (a digest of its
//! parameters, kept across sign-in like `fresh_login`'s), which is how a client that must
//! use PAR (`require_par`, `LATCH_REQUIRE_PAR`) is told apart from one that typed the
//! same parameters into a URL: only a request this browser redeemed counts as pushed.
//!
//! Beside `request_uri`, only `client_id` is read (§4: the server "MUST only use the
//! parameters contained in the pushed authorization request" and ignores the others).

use actix_session::Session;
use serde::{Deserialize, Serialize};

use super::request::{Params, Rejection};
use crate::crypto;
use crate::errors::HtmlError;
use crate::state::AppState;
use crate::store;

/// RFC 9126 §2.2: "urn:ietf:params:oauth:request_uri:" followed by a reference.
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Session key of the records.
const SESSION_KEY: &str = crate::session::PUSHED;
/// Records per session (older ones are dropped) and how long one stays usable: the time a
/// person has to sign in and consent after following the pushed request.
const MAX_RECORDS: usize = 5;
const MAX_AGE_SECS: i64 = 3600;

/// The stored key of a `request_uri`: its SHA-256, never the URI itself.
pub fn stored_id(request_uri: &str) -> String {
    crypto::sha256_hex(request_uri)
}

/// The parameters of a pushed request as stored.
pub fn encode(params: &Params) -> String {
    serde_json::to_string(params).unwrap_or_else(|_| "[]".to_owned())
}

#[derive(Serialize, Deserialize)]
struct Record {
    digest: String,
    at: i64,
}

fn session_err(e: impl std::fmt::Display) -> HtmlError {
    HtmlError::internal(anyhow::anyhow!("session: {e}"))
}

/// The digest naming a request: its parameters but `login_after`, which sign-in adds.
fn digest(params: &Params) -> String {
    let rest: Params = params
        .iter()
        .filter(|(k, _)| k != super::fresh_login::PARAM)
        .cloned()
        .collect();
    super::digest_params(&rest)
}

fn records(session: &Session, now: i64) -> Vec<Record> {
    let mut v: Vec<Record> = session.get(SESSION_KEY).ok().flatten().unwrap_or_default();
    v.retain(|r| now - r.at <= MAX_AGE_SECS);
    v
}

fn page(msg: &'static str) -> Rejection {
    Rejection::Page(HtmlError::bad_request(msg))
}

/// A request as the authorization endpoint goes on with it.
pub struct Resolved {
    pub params: Params,
    /// It came through `/oauth/par` (now, or earlier in this session's flow).
    pub pushed: bool,
}

/// Resolve `request_uri`, if the request has one, into the pushed parameters; otherwise
/// tell whether these parameters are a request this session redeemed earlier.
pub async fn resolve(
    state: &AppState,
    session: &Session,
    params: Params,
) -> Result<Resolved, Rejection> {
    let now = state.clock.now();
    let count = |name: &str| params.iter().filter(|(k, _)| k == name).count();
    let value = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(uri) = value("request_uri") else {
        let d = digest(&params);
        let pushed = records(session, now.timestamp())
            .iter()
            .any(|r| r.digest == d);
        return Ok(Resolved { params, pushed });
    };
    if count("request_uri") > 1 || count("client_id") > 1 {
        return Err(page(
            "The request_uri or client_id parameter was sent more than once.",
        ));
    }
    // §4: the client_id must be sent, and must be the client that pushed the request.
    let Some(client_id) = value("client_id") else {
        return Err(page("The request is missing the client_id parameter."));
    };
    if !uri.starts_with(URN_PREFIX) || uri.len() > 200 {
        return Err(page(
            "The request_uri was not issued by this server's pushed authorization endpoint.",
        ));
    }
    // A client ID metadata document client pushed under its row id (its URL names it).
    let row_id = if super::request::plausible_client_id(client_id) {
        client_id.to_owned()
    } else if state.settings.client_id_metadata_documents
        && crate::clients::metadata_document::looks_like_url(client_id)
    {
        crate::clients::metadata_document::row_id(client_id)
    } else {
        return Err(page(
            "The application that sent you here is not registered (unknown client_id).",
        ));
    };
    let row = store::pushed_requests::take(&state.db, &stored_id(uri), &row_id, now).await?;
    let Some(row) = row else {
        return Err(page(
            "This authorization request has expired or was already used. Go back to the application and start again.",
        ));
    };
    let pushed: Params = serde_json::from_str(&row.params).map_err(|e| {
        Rejection::Page(HtmlError::internal(anyhow::anyhow!(
            "stored pushed request does not parse: {e}"
        )))
    })?;
    let mut v = records(session, now.timestamp());
    v.push(Record {
        digest: digest(&pushed),
        at: now.timestamp(),
    });
    if v.len() > MAX_RECORDS {
        v.drain(..v.len() - MAX_RECORDS);
    }
    session
        .insert(SESSION_KEY, &v)
        .map_err(|e| Rejection::Page(session_err(e)))?;
    Ok(Resolved {
        params: pushed,
        pushed: true,
    })
}
