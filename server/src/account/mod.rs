//! Browser sign-in: `GET/POST /login`, `POST /logout` and sign-up. The session itself
//! (CSRF, the current user, validity) is [`crate::session`]; account settings pages are
//! the dashboard's (`dashboard::settings`).

pub mod email_change;
pub mod passkey;
pub mod reset;
pub mod signup;
pub mod two_step;
pub mod verify;

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::audit::{AuditKind, Event};
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::pages::{LoginView, login_page};
use crate::rate_limit::FailureKind;
use crate::state::AppState;
use crate::store;
use crate::users::password;

use crate::session::{self, check_origin, csrf_token, verify_csrf};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(get_login))
        .route("/login", web::post().to(post_login))
        .route("/logout", web::post().to(post_logout));
    signup::routes(cfg);
    reset::routes(cfg);
    verify::routes(cfg);
    two_step::routes(cfg);
    email_change::routes(cfg);
    passkey::routes(cfg);
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Only local paths are followed after sign-in (no open redirect): `/x`, never `//host`
/// or `/\host`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 8192
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The OAuth app a sign-in is for (when `next` is an authorization request): its name, to
/// show on the sign-in page, and its redirect URI when the request names one that is
/// registered (exact match, RFC 9700 §4.1.3), for the page's `form-action`.
struct SignInFor {
    client_name: String,
    redirect_uri: Option<String>,
}

async fn client_for(state: &AppState, next: &str) -> Option<SignInFor> {
    let rest = next.strip_prefix("/oauth/authorize?")?;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(rest.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let client_id = param("client_id")?;
    if !crate::authorize::request::plausible_client_id(client_id) {
        return None;
    }
    let client = store::clients::by_id(&state.db, client_id)
        .await
        .ok()
        .flatten()?;
    let registered: Vec<&str> = crate::store::words(&client.redirect_uris).collect();
    let redirect_uri = match param("redirect_uri") {
        Some(p)
            if registered
                .iter()
                .any(|r| crate::authorize::request::redirect_uri_matches(r, p)) =>
        {
            Some(p.clone())
        }
        Some(_) => None,
        None if registered.len() == 1 => Some(registered[0].to_owned()),
        None => None,
    };
    Some(SignInFor {
        client_name: client.name,
        redirect_uri,
    })
}

/// The sign-in page, for an OAuth app when `next` is its authorization request: then the
/// form's submission may end in a redirect to the app, which `form-action` must allow
/// (`authorize::csp`).
fn login_response(status: StatusCode, view: &LoginView, app: Option<&SignInFor>) -> HttpResponse {
    let mut res = login_page(status, view);
    if let Some(uri) = app.and_then(|a| a.redirect_uri.as_deref())
        && let Ok(v) = header::HeaderValue::from_str(&crate::authorize::csp::with_redirect(uri))
    {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

async fn get_login(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<LoginQuery>,
) -> Result<HttpResponse, HtmlError> {
    let next = safe_next(q.next.as_deref());
    let csrf = csrf_token(&session)?;
    let app = client_for(&state, &next).await;
    Ok(login_response(
        StatusCode::OK,
        &LoginView {
            passkeys: passkey::relying_party(&state).is_some(),
            csrf: &csrf,
            email: "",
            error: None,
            next: &next,
            signup_enabled: state.settings.signup,
            client_name: app.as_ref().map(|a| a.client_name.as_str()),
        },
        app.as_ref(),
    ))
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    /// Defaulted so a missing token is refused like a wrong one: 403, not a 400 from the
    /// form extractor (RFC 6749 §10.12; SECURITY.md U2).
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

async fn post_login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, HtmlError> {
    check_origin(&req, &state)?;
    verify_csrf(&session, &form.csrf)?;
    let next = safe_next(form.next.as_deref());
    let ip = ClientIp::of(&req).map(|i| i.to_string());
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    // Brute force (RFC 6819 §5.1.4.2.3; SECURITY.md §4): a per-IP rate, then per-IP and
    // per-account failure locks that double with each failure. Unknown emails lock exactly
    // like real ones, so a lock reveals nothing about which accounts exist.
    // Limits and failure counts key IPv6 by prefix (LATCH_IPV6_PREFIX); the audit log
    // keeps the full address.
    let ip_key = ClientIp::limit_key(&req).unwrap_or_default();
    let account_key = store::users::normalize_email(&form.email);
    let policy = crate::rate_limit::Policy::LoginIp;
    crate::rate_limit::enforce(&state.limiter, &state.db, &req, policy, &ip_key).await?;
    for (kind, key) in [
        (FailureKind::LoginIp, &ip_key),
        (FailureKind::LoginAccount, &account_key),
    ] {
        if let Some(wait) = state.limiter.locked(kind, key).await {
            return Err(HtmlError::too_many_requests(wait.as_secs().max(1)));
        }
    }

    let user = if crate::users::valid_email(&form.email) {
        store::users::by_email(&state.db, &form.email).await?
    } else {
        None
    };
    // Same work and the same answer for an unknown email and a wrong password.
    let ok = password::verify(
        user.as_ref().map(|u| u.password_hash.clone()),
        form.password.clone(),
    )
    .await
    .map_err(HtmlError::internal)?;
    let user = match user {
        Some(u) if ok && u.disabled_at.is_none() => u,
        other => {
            metrics::counter!("latch_signin_failed_total").increment(1);
            state.limiter.fail(FailureKind::LoginIp, &ip_key).await;
            let locked = state
                .limiter
                .fail(FailureKind::LoginAccount, &account_key)
                .await;
            if let (Some(u), Some(lock)) = (&other, locked) {
                Event::new(AuditKind::SigninLocked)
                    .user(&u.id)
                    .ip(ip.clone())
                    .user_agent(ua.as_deref())
                    .detail(json!({"reason": "repeated failed sign-ins", "locked_seconds": lock.as_secs().max(1)}))
                    .record(&state.db)
                    .await?;
            }
            if let Some(u) = &other {
                Event::new(AuditKind::SigninFailed)
                    .user(&u.id)
                    .ip(ip)
                    .user_agent(ua.as_deref())
                    .record(&state.db)
                    .await?;
            }
            let csrf = csrf_token(&session)?;
            let app = client_for(&state, &next).await;
            return Ok(login_response(
                StatusCode::UNAUTHORIZED,
                &LoginView {
                    passkeys: passkey::relying_party(&state).is_some(),
                    csrf: &csrf,
                    email: form.email.trim(),
                    error: Some("Incorrect email or password."),
                    next: &next,
                    signup_enabled: state.settings.signup,
                    client_name: app.as_ref().map(|a| a.client_name.as_str()),
                },
                app.as_ref(),
            ));
        }
    };
    state
        .limiter
        .succeed(FailureKind::LoginAccount, &account_key)
        .await;
    crate::users::upgrade_hash_in_background(&state.db, &user, form.password.clone());
    // Two-step sign-in: an account with an authenticator (or any, under
    // LATCH_REQUIRE_MFA) is not signed in until its second step.
    if let Some(second) = two_step::after_password(&state, &session, &user, &next).await? {
        return Ok(second);
    }
    session::start(&state, &session, &req, &user.id, &["pwd"]).await?;
    Event::new(AuditKind::SigninSucceeded)
        .user(&user.id)
        .ip(ip)
        .user_agent(ua.as_deref())
        .record(&state.db)
        .await?;
    // RFC 9700 §4.12: 303 so the browser does not re-POST the credentials.
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .finish())
}

#[derive(Deserialize)]
struct LogoutForm {
    /// Missing → 403 like a wrong token (RFC 6749 §10.12).
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

async fn post_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, HtmlError> {
    check_origin(&req, &state)?;
    verify_csrf(&session, &form.csrf)?;
    // SECURITY.md R5: signing out ends the session on every instance and revokes what the
    // apps authorized in this session received (their refresh-token families and access
    // tokens). Grants made in other sessions are left alone.
    if let Some((uid, auth_time)) = session::end_session(&state, &session).await? {
        store::tokens::revoke_session_grants(&state.db, &uid, auth_time, state.clock.now()).await?;
        state.denied.catch_up(&state.db).await?;
    }
    let next = safe_next(form.next.as_deref());
    let target = if next == "/" {
        "/login".to_owned()
    } else {
        format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        )
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::safe_next;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Whatever `next` holds, the page followed after sign-in is a local path: no
        /// scheme, no `//host` or `/\host` (browsers read both as another host), no control
        /// characters (browsers drop tabs and newlines, turning `/\t/host` into `//host`).
        #[test]
        fn prop_next_is_always_a_local_path(n in "\\PC{0,40}|[/\\\\\t\n a-z:.]{0,12}|(https?:)?//[a-z.]{1,12}") {
            let got = safe_next(Some(&n));
            prop_assert!(got.starts_with('/'));
            prop_assert!(!got.starts_with("//") && !got.starts_with("/\\"));
            prop_assert!(!got.chars().any(char::is_control));
            prop_assert!(got == "/" || got == n);
        }
    }
}
