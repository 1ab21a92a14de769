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
    Ok(Some(CurrentUser { user, auth_time }))
}
