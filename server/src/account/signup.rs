//! `GET/POST /signup`: create an account (when `LATCH_SIGNUP` allows it). The first account
//! on a fresh server becomes its admin.
//!
//! Sign-up must not tell anyone whether an email already has an account (OWASP
//! Authentication CS, "account enumeration"). Latch sends no email, so it cannot answer "check
//! your inbox"; instead a new email and a taken one end exactly alike: the same work (one
//! argon2 hash), the same `303` to `/signup/done`, the same page there ("Your account is
//! ready — sign in"), and in neither case a signed-in session (signing a new account in at
//! once would be the difference an attacker looks for). The real owner of a taken email gets
//! a `signup.duplicate` warning in their activity instead. What remains is inherent to
//! sign-up without email verification: trying to sign in with the password just chosen
//! tells whether the account was new; that attempt is an ordinary, rate-limited and
//! audited sign-in, no cheaper than guessing at `/login`.

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::safe_next;
use crate::audit::{AuditKind, Event};
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::pages::{SignupView, message_page, signup_page};
use crate::session::{check_origin, csrf_token, verify_csrf};
use crate::state::AppState;
use crate::store;
use crate::users::{self, UserError, password};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/signup", web::get().to(get_signup))
        .route("/signup", web::post().to(post_signup))
        .route("/signup/done", web::get().to(get_done));
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// `next` as carried in links: empty when it is the default.
fn next_param(next: Option<&str>) -> String {
    match safe_next(next) {
        n if n == "/" => String::new(),
        n => n,
    }
}

fn enabled(state: &AppState) -> Result<(), HtmlError> {
    if state.settings.signup {
        Ok(())
    } else {
        Err(HtmlError::not_found())
    }
}

async fn get_signup(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, HtmlError> {
    enabled(&state)?;
    let csrf = csrf_token(&session)?;
    let next = next_param(q.next.as_deref());
    Ok(signup_page(
        StatusCode::OK,
        &SignupView {
            csrf: &csrf,
            email: "",
            error: None,
            next: &next,
        },
    ))
}

#[derive(Deserialize)]
struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// Missing → 403 like a wrong token (RFC 6749 §10.12).
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

async fn post_signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<SignupForm>,
) -> Result<HttpResponse, HtmlError> {
    enabled(&state)?;
    check_origin(&req, &state)?;
    verify_csrf(&session, &form.csrf)?;
    // Per-IP limit on account creation (LATCH_LIMIT_SIGNUP_IP), a friendly 429 page.
    if let Some(ip) = crate::middleware::ClientIp::limit_key(&req) {
        let policy = crate::rate_limit::Policy::SignupIp;
        crate::rate_limit::enforce(&state.limiter, &state.db, &req, policy, &ip).await?;
    }
    let next = next_param(form.next.as_deref());
    let typed = form.email.trim();

    // Input errors depend only on what was typed, never on whether the email is taken.
    // The address is kept NFKC-normalised, and refused when it could pass for another one
    // (invisible or bidi characters, mixed scripts; `users::email`).
    let checked = users::email::check_new(typed);
    let invalid = match &checked {
        Err(problem) => Some(problem.message()),
        Ok(_) if !users::valid_password(&form.password) => {
            Some("Choose a password of at least 10 characters.")
        }
        Ok(_) => None,
    };
    let email = match (checked, invalid) {
        (Ok(email), None) => email,
        (_, error) => {
            let csrf = csrf_token(&session)?;
            return Ok(signup_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SignupView {
                    csrf: &csrf,
                    email: typed,
                    error,
                    next: &next,
                },
            ));
        }
    };
    let email = email.as_str();

    let ip = ClientIp::of(&req).map(|i| i.to_string());
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let existing = store::users::by_email(&state.db, email).await?;
    let owner = match existing {
        Some(owner) => {
            // The same argon2 work a new account costs, so timing does not tell either.
            password::hash(form.password.clone())
                .await
                .map_err(HtmlError::internal)?;
            Some(owner)
        }
        None => {
            // The first account on a fresh server administers it. (Two sign-ups racing for
            // "first" on an empty server could both become admins; both were eligible.)
            let first = store::users::count(&state.db).await? == 0;
            match users::create(&state.db, email, &form.password, first).await {
                Ok(user) => {
                    Event::new(AuditKind::AccountCreated)
                        .user(&user.id)
                        .ip(ip.clone())
                        .user_agent(ua)
                        .detail(json!({"admin": user.is_admin}))
                        .record(&state.db)
                        .await?;
                    // Ask the new account to verify its address (`account::verify`). The
                    // account exists either way: a failure here leaves the resend button.
                    if state.mail.enabled()
                        && let Err(e) = super::verify::send(&state, &user, &req).await
                    {
                        tracing::warn!(user = %user.id, error = %e.message, "sign-up: could not queue the verification mail");
                    }
                    None
                }
                // Lost a race with another sign-up for the same email.
                Err(UserError::EmailTaken) => store::users::by_email(&state.db, email).await?,
                Err(UserError::Store(e)) => return Err(e.into()),
                Err(e) => return Err(HtmlError::internal(anyhow::anyhow!("sign-up: {e}"))),
            }
        }
    };
    if let Some(owner) = owner {
        Event::new(AuditKind::SignupDuplicate)
            .user(&owner.id)
            .ip(ip)
            .user_agent(ua)
            .record(&state.db)
            .await?;
    }
    let target = if next.is_empty() {
        "/signup/done".to_owned()
    } else {
        format!(
            "/signup/done?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        )
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish())
}

/// The one page both a new and a taken email lead to.
async fn get_done(
    state: web::Data<AppState>,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, HtmlError> {
    enabled(&state)?;
    let next = next_param(q.next.as_deref());
    let href = if next.is_empty() {
        "/login?next=/dashboard".to_owned()
    } else {
        format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        )
    };
    // With mail, a new account was also sent a verification link; said for both cases alike.
    let message = if state.mail.enabled() {
        "Sign in with your email and the password you just chose; a new account also gets a \
         mail with a link to verify its address. If this email already had a Latch account, \
         sign in with that account's password instead."
    } else {
        "Sign in with your email and the password you just chose. If this email already had a \
         Latch account, sign in with that account's password instead."
    };
    Ok(message_page(
        StatusCode::OK,
        "Your account is ready",
        message,
        Some((&href, "Continue to sign in")),
    ))
}
