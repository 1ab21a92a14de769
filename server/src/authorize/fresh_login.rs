//! `prompt=login` (OIDC Core §3.1.2.1: "the Authorization Server SHOULD prompt the End-User
//! for reauthentication"): when Latch sends the person to sign in again, it records in the
//! session that this request needs a sign-in made after now. The URL back carries only a
//! random handle (`login_after`) naming that record. The record is bound to this browser's
//! session (the session cookie is encrypted), to the request it was made for (a digest of
//! its parameters) and is used once, so a `login_after` copied from another person's flow,
//! from another request, or from an earlier completed flow satisfies nothing: the request
//! keeps `prompt=login` and the person is asked to sign in again.

use actix_session::Session;
use serde::{Deserialize, Serialize};

use super::request::Params;
use crate::crypto;
use crate::errors::HtmlError;

/// Session key of the records. Sign-in keeps it across the session renewal (see
/// `session::sign_in`): that sign-in is what the records wait for.
pub const SESSION_KEY: &str = crate::session::FRESH_LOGIN;
/// The parameter naming a record.
pub const PARAM: &str = "login_after";
/// Records per session (older ones are dropped) and how long one stays usable.
const MAX_RECORDS: usize = 5;
const MAX_AGE_SECS: i64 = 3600;

#[derive(Serialize, Deserialize)]
struct Record {
    handle: String,
    /// Digest of the request's parameters other than `login_after`.
    digest: String,
    /// The session must have signed in at or after this time (unix seconds).
    after: i64,
}

fn session_err(e: impl std::fmt::Display) -> HtmlError {
    HtmlError::internal(anyhow::anyhow!("session: {e}"))
}

fn digest(params: &Params) -> String {
    let rest: Params = params.iter().filter(|(k, _)| k != PARAM).cloned().collect();
    super::digest_params(&rest)
}

fn records(session: &Session, now: i64) -> Vec<Record> {
    let mut v: Vec<Record> = session.get(SESSION_KEY).ok().flatten().unwrap_or_default();
    v.retain(|r| now - r.after <= MAX_AGE_SECS);
    v
}

/// Record that the request `params` needs a sign-in made at or after `after`; returns the
/// handle to put in the URL as `login_after`.
pub fn demand(session: &Session, params: &Params, after: i64) -> Result<String, HtmlError> {
    let handle = crypto::random_base62(32);
    let mut v = records(session, after);
    v.push(Record {
        handle: handle.clone(),
        digest: digest(params),
        after,
    });
    if v.len() > MAX_RECORDS {
        v.drain(..v.len() - MAX_RECORDS);
    }
    session.insert(SESSION_KEY, &v).map_err(session_err)?;
    Ok(handle)
}

/// The record the request's `login_after` names, if this session holds one for exactly
/// these parameters: removed (single use) and its time returned. `None` when there is no
/// `login_after`, or it names nothing here.
pub fn take(session: &Session, params: &Params, now: i64) -> Result<Option<i64>, HtmlError> {
    let Some(handle) = params.iter().find(|(k, _)| k == PARAM).map(|(_, v)| v) else {
        return Ok(None);
    };
    let mut v = records(session, now);
    let d = digest(params);
    let Some(pos) = v.iter().position(|r| {
        crypto::constant_time_eq(r.handle.as_bytes(), handle.as_bytes()) && r.digest == d
    }) else {
        return Ok(None);
    };
    let record = v.remove(pos);
    session.insert(SESSION_KEY, &v).map_err(session_err)?;
    Ok(Some(record.after))
}
