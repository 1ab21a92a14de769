//! `GET,POST /oauth/logout` — the `end_session_endpoint` of OpenID Connect RP-Initiated
//! Logout 1.0 — and `POST /oauth/logout/confirm`, its confirmation form.
//!
//! **Who may call this, on whose objects:** anyone's browser, and it only ever ends *that
//! browser's own* session (the cookie), never another's; an app can at most ask. What the
//! request may steer is where the browser goes afterwards, so:
//! - `id_token_hint` (§2), when sent, must be an ID token Latch signed (expired allowed;
//!   `signing::Signer::verify_id_token_hint`); a foreign or tampered one is an error page.
//! - `client_id`, when sent with a hint, must be in the hint's `aud` (§2).
//! - `post_logout_redirect_uri` must be registered for that client, compared exactly (§3,
//!   like redirect URIs, RFC 9700 §4.1.3); otherwise an error page and **no redirect** (§3:
//!   the OP must not redirect to an unregistered URI). Without a client it is refused.
//! - The session is ended at once only when the hint names the signed-in person (§2: the
//!   hint is how the OP knows the app is asking about this session). With no hint, or a hint
//!   about someone else, the person is asked first (§2: "the OP SHOULD ask the End-User
//!   whether to log out"), on a page whose form carries the session's CSRF token: otherwise
//!   any site could sign people out with an image tag.
//! - `state` is echoed on the redirect (§3).
//!
//! Ending the session is the sign-out path (`session::end_session`, which queues the
//! back-channel logouts, plus SECURITY.md R5: the grants made in this session are revoked).
//! Errors are HTML pages (the caller is a browser), never an OAuth JSON body or a redirect.

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::errors::HtmlError;
use crate::session;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/logout", web::get().to(get_logout))
        .route("/oauth/logout", web::post().to(post_logout))
        .route("/oauth/logout/confirm", web::post().to(post_confirm));
}

/// The largest value of any parameter (an ID token is at most 8 KiB, `signing`).
const MAX_VALUE: usize = 8192;

/// The request's parameters (RP-Initiated Logout §2). `logout_hint` and `ui_locales` are
/// accepted and not used.
#[derive(Default, Debug)]
struct Params {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    /// The confirmation form's fields.
    csrf: Option<String>,
    decision: Option<String>,
}

fn bad(msg: &'static str) -> HtmlError {
    HtmlError::bad_request(msg)
}

/// Parse urlencoded pairs: each parameter at most once (RFC 6749 §3.1 holds the same rule
/// for the authorization endpoint), bounded, empty values treated as absent.
fn parse(raw: &[u8]) -> Result<Params, HtmlError> {
    let mut p = Params::default();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if v.len() > MAX_VALUE {
            return Err(bad("A parameter of this sign-out request is too long."));
        }
        let slot = match k.as_ref() {
            "id_token_hint" => &mut p.id_token_hint,
            "client_id" => &mut p.client_id,
            "post_logout_redirect_uri" => &mut p.post_logout_redirect_uri,
            "state" => &mut p.state,
            "csrf" => &mut p.csrf,
            "decision" => &mut p.decision,
            _ => continue,
        };
        if slot.is_some() {
            return Err(bad(
                "This sign-out request repeats a parameter; each may appear only once.",
            ));
        }
        if !v.is_empty() {
            *slot = Some(v.into_owned());
        }
    }
    Ok(p)
}

/// A checked request: the app (when named) and where to send the browser afterwards.
struct Checked {
    client: Option<entity::client::Model>,
    redirect: Option<String>,
    /// The hint's subject, when a valid hint was sent.
    hint_sub: Option<String>,
    state: Option<String>,
}

async fn check(state: &AppState, p: &Params) -> Result<Checked, HtmlError> {
    let hint = match &p.id_token_hint {
        Some(t) => Some(
            state
                .signer
                .verify_id_token_hint(t, &state.settings.issuer)
                .ok_or_else(|| {
                    bad("This sign-out request is not valid: its id_token_hint was not issued by this server.")
                })?,
        ),
        None => None,
    };
    let client_id = match (&p.client_id, &hint) {
        (Some(c), Some(h)) if !h.aud.iter().any(|a| a == c) => {
            return Err(bad(
                "This sign-out request is not valid: its id_token_hint was issued to another app.",
            ));
        }
        (Some(c), _) => Some(c.clone()),
        (None, Some(h)) => h.aud.first().cloned(),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => Some(store::clients::by_id(&state.db, id).await?.ok_or_else(|| {
            bad("This sign-out request is not valid: it names an app this server does not know.")
        })?),
        None => None,
    };
    let redirect = match (&p.post_logout_redirect_uri, &client) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(bad(
                "This sign-out request is not valid: post_logout_redirect_uri needs client_id or id_token_hint.",
            ));
        }
        (Some(u), Some(c)) => {
            if !crate::clients::logout::allows_post_logout(c, u) {
                return Err(bad(
                    "This sign-out request is not valid: the app did not register the address it asked to return to.",
                ));
            }
            Some(u.clone())
        }
    };
    Ok(Checked {
        client,
        redirect,
        hint_sub: hint.map(|h| h.sub),
        state: p.state.clone(),
    })
}

async fn get_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, HtmlError> {
    let p = parse(req.query_string().as_bytes())?;
    logout(&state, &session, &p).await
}

async fn post_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    if !req.query_string().is_empty() {
        return Err(bad(
            "Send the parameters of a sign-out request in the body of a POST, not in its address.",
        ));
    }
    let p = parse(&body)?;
    if session::current_user(&state, &session).await?.is_none() {
        // The session cookie is `SameSite=Lax`, and browsers do not send a Lax cookie with a
        // cross-site POST (RFC 6265bis §5.6.7.1): an app's form POST arrives here looking
        // signed out. Send the browser on to the same request as a GET, a top-level
        // navigation that does carry the cookie (RP-Initiated Logout §2 allows both). A
        // browser that really is signed out gets the same answer there.
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, as_get(&p)))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish());
    }
    logout(&state, &session, &p).await
}

/// The request's parameters as a `GET /oauth/logout` address.
fn as_get(p: &Params) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("id_token_hint", &p.id_token_hint),
        ("client_id", &p.client_id),
        ("post_logout_redirect_uri", &p.post_logout_redirect_uri),
        ("state", &p.state),
    ] {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    format!("/oauth/logout?{}", q.finish())
}

async fn logout(
    state: &AppState,
    session: &Session,
    p: &Params,
) -> Result<HttpResponse, HtmlError> {
    let c = check(state, p).await?;
    let Some(current) = session::current_user(state, session).await? else {
        // Nobody is signed in here: nothing to end (§2 leaves this to the OP).
        return Ok(finish(&c));
    };
    if c.hint_sub.as_deref() == Some(current.user.id.as_str()) {
        end(state, session).await?;
        return Ok(finish(&c));
    }
    confirm_page(state, session, &c, &current.user.email)
}

async fn post_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    session::check_origin(&req, &state)?;
    let p = parse(&body)?;
    session::verify_csrf(&session, p.csrf.as_deref().unwrap_or_default())?;
    // The form carries no hint: it re-checks client and redirect the same way.
    let c = check(&state, &p).await?;
    if p.decision.as_deref() != Some("sign_out") {
        // Stayed signed in: back to this server's home, never to the app (it would take
        // the return as a completed sign-out).
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .finish());
    }
    end(&state, &session).await?;
    Ok(finish(&c))
}

/// End this browser's session as signing out does: on every instance, with the grants made
/// in it (SECURITY.md R5) and the back-channel logouts of its apps (`session::end_session`).
async fn end(state: &AppState, session: &Session) -> Result<(), HtmlError> {
    if let Some((uid, auth_time)) = session::end_session(state, session).await? {
        store::tokens::revoke_session_grants(&state.db, &uid, auth_time, state.clock.now()).await?;
        state.denied.catch_up(&state.db).await?;
    }
    Ok(())
}

/// After sign-out: to the registered `post_logout_redirect_uri` with `state` (§3), or a
/// "signed out" page.
fn finish(c: &Checked) -> HttpResponse {
    if let Some(uri) = &c.redirect
        && let Ok(mut u) = url::Url::parse(uri)
    {
        if let Some(s) = &c.state {
            u.query_pairs_mut().append_pair("state", s);
        }
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, u.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    }
    let brand = crate::brand::current();
    crate::pages::message_page(
        StatusCode::OK,
        "You are signed out",
        &format!("You are no longer signed in to {}.", brand.name()),
        Some(("/login", "Sign in again")),
    )
}

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmTemplate<'a> {
    version: &'static str,
    brand_name: &'a str,
    client_name: Option<&'a str>,
    user_email: &'a str,
    csrf: &'a str,
    hidden: Vec<(&'static str, &'a str)>,
}

/// "Sign out of <brand>?": the form posts to `/oauth/logout/confirm` with the session's
/// CSRF token and the request's client, redirect and state (checked again there).
fn confirm_page(
    state: &AppState,
    session: &Session,
    c: &Checked,
    user_email: &str,
) -> Result<HttpResponse, HtmlError> {
    let _ = state;
    let csrf = session::csrf_token(session)?;
    let brand = crate::brand::current();
    let mut hidden = Vec::new();
    if let Some(cl) = &c.client {
        hidden.push(("client_id", cl.id.as_str()));
    }
    if let Some(r) = &c.redirect {
        hidden.push(("post_logout_redirect_uri", r.as_str()));
    }
    if let Some(s) = &c.state {
        hidden.push(("state", s.as_str()));
    }
    let mut res = crate::pages::render(
        StatusCode::OK,
        &ConfirmTemplate {
            version: crate::pages::asset_version(),
            brand_name: brand.name(),
            client_name: c.client.as_ref().map(|cl| cl.name.as_str()),
            user_email,
            csrf: &csrf,
            hidden,
        },
    );
    // The form's answer redirects to the app: Chrome applies `form-action` to that redirect
    // (see `authorize::csp`).
    if let Some(r) = &c.redirect
        && let Ok(v) = header::HeaderValue::from_str(&crate::authorize::csp::with_redirect(r))
    {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parameters_appear_once_and_empty_is_absent() {
        let p = parse(b"client_id=a&state=&post_logout_redirect_uri=https%3A%2F%2Fx%2Fy").unwrap();
        assert_eq!(p.client_id.as_deref(), Some("a"));
        assert_eq!(p.state, None);
        assert_eq!(p.post_logout_redirect_uri.as_deref(), Some("https://x/y"));
        assert!(parse(b"state=a&state=b").is_err());
        assert!(parse(b"unknown=1&ui_locales=fr").is_ok());
    }
}
