//! Session contents and CSRF protection.

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
/// a new CSRF token.
pub fn sign_in(session: &Session, user_id: &str) -> Result<(), HtmlError> {
    session.renew();
    session.clear();
    let now = Utc::now();
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
    Ok(())
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
    // Sessions from before `auth_ms` existed compare in whole seconds, as they always did.
    let void = match session.get::<i64>(AUTH_MS) {
        Ok(Some(ms)) => ms < user.sessions_valid_after.timestamp_millis(),
        _ => auth_time < user.sessions_valid_after.timestamp(),
    };
    if user.disabled_at.is_some() || void {
        session.purge();
        return Ok(None);
    }
    Ok(Some(CurrentUser { user, auth_time }))
}
