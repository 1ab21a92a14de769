//! The browser session: who is signed in and since when, CSRF tokens (synchronizer-token
//! pattern, RFC 6749 §10.12), the same-origin check for form posts, and session validity
//! (OWASP Session Management CS: renew on sign-in, end on sign-out everywhere).
//!
//! The session is an encrypted actix-session cookie (`HttpOnly`, `SameSite=Lax`, `Secure`
//! on https). A session older than the account's `sessions_valid_after` (password change,
//! forced sign-out), older than `LATCH_SESSION_TTL`, signed out, or belonging to a disabled
//! account is void, on every instance, at the next request. Used by `account` (sign-in and
//! sign-out), `authorize` (who is consenting) and `dashboard` (every page). A new value
//! kept in the session gets its key here.
//!
//! Each sign-in also has a server-side record (`browser_session`, keyed by the cookie's
//! `sid`) so Settings can list where the account is signed in and end any one: ending it
//! deletes the record and deny-lists the id (at once on every instance, within the deny-list
//! sync); a session whose record is gone is signed out at its next once-a-minute check
//! (the same check stamps "last seen", so the record costs one write a minute per session).
//! Between the password and the second step (`account::two_step`) the session holds only a
//! [`Pending`] sign-in, which expires after [`PENDING_SECS`].

use actix_session::Session;
use actix_web::HttpRequest;
use actix_web::http::header;
use chrono::Utc;

use crate::crypto;
use crate::errors::HtmlError;
use crate::state::AppState;
use crate::store;

const UID: &str = "uid";
const AUTH_TIME: &str = "auth_time";
/// Sign-in time in milliseconds: `sessions_valid_after` is compared at this precision, so a
/// password change voids every other session, even one started earlier in the same second,
/// while the session that made the change (signed in again right after) stays valid.
/// `auth_time` keeps whole seconds for OIDC (`auth_time` claim, `max_age`).
const AUTH_MS: &str = "auth_ms";
const CSRF: &str = "csrf";
const SID: &str = "sid";
/// How the person signed in (OIDC Core §2 `amr`, RFC 8176 values): `["pwd"]`, `["pwd","otp"]`.
const AMR: &str = "amr";
/// When the record was last stamped seen (seconds, app clock).
const SEEN: &str = "seen";
/// This session has a `browser_session` record: if it is gone, the session was ended.
const REC: &str = "rec";
/// The half-finished sign-in waiting for its second step.
const PENDING: &str = "pending";
/// How long a password stays good for its second step.
pub const PENDING_SECS: i64 = 300;
/// "Last seen" is written at most this often.
const SEEN_EVERY_SECS: i64 = 60;
/// The `prompt=login` records (`authorize::fresh_login`). Sign-in keeps them across the
/// session renewal: that sign-in is what the records wait for.
pub const FRESH_LOGIN: &str = "fresh_login";
/// The pushed requests (RFC 9126) this browser redeemed (`authorize::pushed`). Sign-in
/// keeps them too: the request continues after it.
pub const PUSHED: &str = "pushed_requests";

/// The signed-in user and when they signed in.
pub struct CurrentUser {
    pub user: entity::user::Model,
    pub auth_time: i64,
    /// How they signed in (`amr`); `["pwd"]` for sessions begun before it was recorded.
    pub amr: Vec<String>,
    /// This browser's `browser_session` id.
    pub sid: String,
}

/// This browser's session id (its `browser_session` record), if signed in.
pub fn sid(session: &Session) -> Option<String> {
    session.get::<String>(SID).ok().flatten()
}

/// How this session signed in (`amr`).
pub fn amr(session: &Session) -> Vec<String> {
    session
        .get::<Vec<String>>(AMR)
        .ok()
        .flatten()
        .unwrap_or_else(|| vec!["pwd".to_owned()])
}

/// A sign-in whose password was right, waiting for its second step (or, under
/// `LATCH_REQUIRE_MFA`, for an authenticator to be set up).
#[derive(serde::Serialize, serde::Deserialize, Clone)]
pub struct Pending {
    pub uid: String,
    /// When the password was checked (seconds, app clock).
    pub at: i64,
    /// The local path to continue to (`account::safe_next`).
    pub next: String,
    /// The account has no authenticator yet and must set one up first.
    pub setup: bool,
}

/// Keep a half-finished sign-in (replacing any earlier one).
pub fn set_pending(session: &Session, p: &Pending) -> Result<(), HtmlError> {
    session.insert(PENDING, p).map_err(session_err)
}

/// The half-finished sign-in, if one is under way and younger than [`PENDING_SECS`].
pub fn pending(session: &Session, now: i64) -> Option<Pending> {
    let p = session.get::<Pending>(PENDING).ok().flatten()?;
    if now - p.at > PENDING_SECS || now < p.at {
        session.remove(PENDING);
        return None;
    }
    Some(p)
}

pub fn clear_pending(session: &Session) {
    session.remove(PENDING);
}

/// Finish a sign-in: a fresh session ([`sign_in`]) with its `amr`, and its server-side
/// record (device summary and IP from the request).
pub async fn start(
    state: &AppState,
    session: &Session,
    req: &HttpRequest,
    user_id: &str,
    amr: &[&str],
) -> Result<(), HtmlError> {
    let now = state.clock.now();
    sign_in(session, user_id, now)?;
    session.insert(AMR, amr).map_err(session_err)?;
    let sid = session
        .get::<String>(SID)
        .ok()
        .flatten()
        .ok_or_else(|| session_err("no sid after sign-in"))?;
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    store::browser_sessions::insert(
        &state.db,
        entity::browser_session::Model {
            id: sid,
            user_id: user_id.to_owned(),
            device: crate::user_agent::summary(ua),
            ip: crate::client_ip::ClientIp::of(req).map(|i| i.to_string()),
            created_at: now,
            last_seen_at: now,
        },
    )
    .await?;
    session.insert(REC, true).map_err(session_err)?;
    session.insert(SEEN, now.timestamp()).map_err(session_err)?;
    Ok(())
}

/// End another session of the account (from Settings): its record goes and its id is
/// deny-listed until it would have expired, so that browser is signed out at its next
/// request on every instance. False if it was not this account's.
pub async fn end_other(state: &AppState, user_id: &str, sid: &str) -> Result<bool, HtmlError> {
    let Some(row) = store::browser_sessions::delete(&state.db, user_id, sid).await? else {
        return Ok(false);
    };
    deny_until_expiry(state, &row).await?;
    state.denied.catch_up(&state.db).await?;
    tell_apps(state, &[row.id]).await?;
    Ok(true)
}

/// End every session of the account but `keep` (this one); how many ended.
pub async fn end_all_but(
    state: &AppState,
    user_id: &str,
    keep: Option<&str>,
) -> Result<usize, HtmlError> {
    let rows = store::browser_sessions::delete_others(&state.db, user_id, keep).await?;
    for row in &rows {
        deny_until_expiry(state, row).await?;
    }
    state.denied.catch_up(&state.db).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    tell_apps(state, &ids).await?;
    Ok(rows.len())
}

/// OIDC Back-Channel Logout: the sessions `ids` ended, so each app that got tokens in one
/// of them and asked to be told gets a logout token (queued; `backchannel::worker` sends).
async fn tell_apps(state: &AppState, ids: &[String]) -> Result<(), HtmlError> {
    let sids: Vec<String> = ids
        .iter()
        .map(|id| crate::backchannel::public_sid(id))
        .collect();
    if crate::backchannel::sessions_ended(&state.db, &sids, state.clock.now()).await? > 0 {
        state.backchannel.wake();
    }
    Ok(())
}

/// The public `sid` (OIDC Back-Channel Logout §2.1) of this browser's session, if signed in.
pub fn public_sid(session: &Session) -> Option<String> {
    sid(session).map(|s| crate::backchannel::public_sid(&s))
}

async fn deny_until_expiry(
    state: &AppState,
    row: &entity::browser_session::Model,
) -> Result<(), HtmlError> {
    let now = state.clock.now();
    let expires = row.created_at + state.settings.session_ttl;
    if expires > now {
        store::tokens::deny(&state.db, &ended_key(&row.id), expires, now).await?;
    }
    Ok(())
}

fn session_err(e: impl std::fmt::Display) -> HtmlError {
    HtmlError::internal(anyhow::anyhow!("session: {e}"))
}

/// The session's CSRF token, created on first use (synchronizer-token pattern).
pub fn csrf_token(session: &Session) -> Result<String, HtmlError> {
    if let Ok(Some(t)) = session.get::<String>(CSRF) {
        return Ok(t);
    }
    let t = crypto::random_base62(32);
    session.insert(CSRF, &t).map_err(session_err)?;
    Ok(t)
}

/// RFC 6749 §10.12: state-changing browser POSTs must carry the session's token.
pub fn verify_csrf(session: &Session, presented: &str) -> Result<(), HtmlError> {
    match session.get::<String>(CSRF) {
        Ok(Some(t)) if crypto::constant_time_eq(t.as_bytes(), presented.as_bytes()) => Ok(()),
        _ => Err(HtmlError::forbidden(
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        )),
    }
}

/// Refuse cross-site form posts: when the browser names another origin, refuse. Our pages
/// send `Referrer-Policy: no-referrer`, under which browsers post `Origin: null`, so `null`
/// is left to the CSRF token (and `SameSite=Lax`).
pub fn check_origin(req: &HttpRequest, state: &AppState) -> Result<(), HtmlError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let ours = url::Url::parse(&state.settings.issuer)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    match origin.to_str() {
        Ok(o) if o == ours || o == "null" => Ok(()),
        _ => Err(HtmlError::forbidden("Cross-site requests are not allowed.")),
    }
}

/// Start a fresh session for `user_id`: a new session id (renewal prevents fixation) and
/// a new CSRF token. Nothing else survives but the `prompt=login` records
/// (`authorize::fresh_login`): this sign-in is what they wait for, and they can only ever
/// be satisfied by a sign-in made after they were written, which this one is.
pub fn sign_in(
    session: &Session,
    user_id: &str,
    now: chrono::DateTime<Utc>,
) -> Result<(), HtmlError> {
    let fresh = session.get::<serde_json::Value>(FRESH_LOGIN).ok().flatten();
    let pushed = session.get::<serde_json::Value>(PUSHED).ok().flatten();
    session.renew();
    session.clear();
    if let Some(v) = fresh {
        session.insert(FRESH_LOGIN, v).map_err(session_err)?;
    }
    if let Some(v) = pushed {
        session.insert(PUSHED, v).map_err(session_err)?;
    }
    session.insert(UID, user_id).map_err(session_err)?;
    session
        .insert(AUTH_TIME, now.timestamp())
        .map_err(session_err)?;
    session
        .insert(AUTH_MS, now.timestamp_millis())
        .map_err(session_err)?;
    session
        .insert(CSRF, crypto::random_base62(32))
        .map_err(session_err)?;
    session
        .insert(SID, crypto::random_base62(22))
        .map_err(session_err)?;
    Ok(())
}

/// The deny-list entry that ends one session (sessions live in the cookie, so ending one
/// on every instance needs a server-side record until it would have expired anyway).
fn ended_key(sid: &str) -> String {
    format!("sess:{sid}")
}

/// End this session everywhere: a copy of the cookie stops working too. Returns the
/// session's user and sign-in time (seconds), if it was signed in.
pub async fn end_session(
    state: &AppState,
    session: &Session,
) -> Result<Option<(String, i64)>, HtmlError> {
    let uid = session.get::<String>(UID).ok().flatten();
    let auth_ms = session.get::<i64>(AUTH_MS).ok().flatten();
    let sid = session.get::<String>(SID).ok().flatten();
    session.purge();
    let (Some(uid), Some(auth_ms), Some(sid)) = (uid, auth_ms, sid) else {
        return Ok(None);
    };
    // Off the sessions list at once.
    store::browser_sessions::delete(&state.db, &uid, &sid).await?;
    tell_apps(state, std::slice::from_ref(&sid)).await?;
    let now = state.clock.now();
    let ttl = state.settings.session_ttl;
    let expires = chrono::DateTime::from_timestamp_millis(auth_ms).unwrap_or(now) + ttl;
    if expires > now {
        store::tokens::deny(&state.db, &ended_key(&sid), expires, now).await?;
        state.denied.catch_up(&state.db).await?;
    }
    Ok(Some((uid, auth_ms.div_euclid(1000))))
}

/// The user of this session, if the session is still valid.
pub async fn current_user(
    state: &AppState,
    session: &Session,
) -> Result<Option<CurrentUser>, HtmlError> {
    let (Ok(Some(uid)), Ok(Some(auth_time))) =
        (session.get::<String>(UID), session.get::<i64>(AUTH_TIME))
    else {
        return Ok(None);
    };
    let Some(user) = store::users::by_id(&state.db, &uid).await? else {
        session.purge();
        return Ok(None);
    };
    // A session is void when the account's sessions were ended after it began (password
    // change, disablement), when it is older than LATCH_SESSION_TTL, or when it was signed
    // out (its id is on the deny list, so copies of the cookie die with it).
    let (Ok(Some(ms)), Ok(Some(sid))) = (session.get::<i64>(AUTH_MS), session.get::<String>(SID))
    else {
        session.purge();
        return Ok(None);
    };
    let age_ms = state.clock.now().timestamp_millis() - ms;
    let void = ms < user.sessions_valid_after.timestamp_millis()
        || age_ms > state.settings.session_ttl.num_milliseconds()
        || state.denied.contains(&ended_key(&sid));
    if user.disabled_at.is_some() || void {
        session.purge();
        return Ok(None);
    }
    if !checked_record(state, session, &sid, &user.id).await? {
        session.purge();
        return Ok(None);
    }
    let amr = session
        .get::<Vec<String>>(AMR)
        .ok()
        .flatten()
        .unwrap_or_else(|| vec!["pwd".to_owned()]);
    Ok(Some(CurrentUser {
        user,
        auth_time,
        amr,
        sid,
    }))
}

/// At most once a minute: stamp the record seen, and tell whether it still exists. A
/// session with no record that never had one (begun by a bare [`sign_in`]) gets one now.
async fn checked_record(
    state: &AppState,
    session: &Session,
    sid: &str,
    user_id: &str,
) -> Result<bool, HtmlError> {
    let now = state.clock.now();
    let seen = session.get::<i64>(SEEN).ok().flatten().unwrap_or(i64::MIN);
    if now.timestamp().saturating_sub(seen) < SEEN_EVERY_SECS {
        return Ok(true);
    }
    if !store::browser_sessions::touch(&state.db, sid, None, now).await? {
        if session.get::<bool>(REC).ok().flatten().unwrap_or(false) {
            return Ok(false);
        }
        let started = session
            .get::<i64>(AUTH_MS)
            .ok()
            .flatten()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .unwrap_or(now);
        store::browser_sessions::insert(
            &state.db,
            entity::browser_session::Model {
                id: sid.to_owned(),
                user_id: user_id.to_owned(),
                device: crate::user_agent::summary(None),
                ip: None,
                created_at: started,
                last_seen_at: now,
            },
        )
        .await?;
        session.insert(REC, true).map_err(session_err)?;
    }
    session.insert(SEEN, now.timestamp()).map_err(session_err)?;
    Ok(true)
}

/// The passkey ceremony under way in this browser (`account::passkey`,
/// `dashboard::passkeys`): only its id; its challenge is kept server-side
/// (`store::passkeys`), used once. `kind` is `register` or `signin`.
const PASSKEY_CEREMONY: &str = "passkey_ceremony";

pub fn set_passkey_ceremony(session: &Session, kind: &str, id: &str) -> Result<(), HtmlError> {
    session
        .insert(PASSKEY_CEREMONY, (kind, id))
        .map_err(session_err)
}

/// Take the ceremony id of `kind` (removed from the session whatever its kind).
pub fn take_passkey_ceremony(session: &Session, kind: &str) -> Option<String> {
    let (k, id) = session
        .remove_as::<(String, String)>(PASSKEY_CEREMONY)
        .and_then(Result::ok)?;
    (k == kind).then_some(id)
}
