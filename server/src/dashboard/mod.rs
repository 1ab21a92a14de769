//! The developer dashboard (`/dashboard/...`): server-rendered pages for a signed-in person's
//! API keys, OAuth apps, authorized apps and activity, and for admins the users and the whole
//! server's activity, and the account's settings (password change).
//!
//! Every page needs a valid session ([`Dash`]: otherwise a 303 to `/login?next=…`). Every
//! POST checks the `Origin` and the session's CSRF token (RFC 6749 §10.12) before anything
//! else, and answers 303 (post/redirect/get) — except the pages that show a new secret, which
//! render directly, once, with `Cache-Control: no-store`. Handlers stay thin: they call the
//! same domain functions as `/v1` and the CLI (`api_keys`, `clients`, `users`, `store`).

pub mod account;
pub mod activity;
pub mod admin;
pub mod admin_apis;
pub mod apps;
pub mod authorized;
pub mod format;
pub mod keys;
pub mod passkeys;
pub mod security;
pub mod settings;
pub mod views;

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::audit::{AuditKind, Event};
use crate::errors::HtmlError;
use crate::middleware::ClientIp;
use crate::session::{check_origin, csrf_token, current_user, verify_csrf};
use crate::state::AppState;
use crate::store;
use activity::EventRow;
use askama::Template;
use views::{Chrome, Flash};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(get_root))
        .route("/dashboard", web::get().to(get_overview))
        .route("/dashboard/", web::get().to(get_root))
        .route(SHOWN_ONCE_PATH, web::get().to(shown_once));
    keys::routes(cfg);
    apps::routes(cfg);
    authorized::routes(cfg);
    activity::routes(cfg);
    admin::routes(cfg);
    admin_apis::routes(cfg);
    settings::routes(cfg);
    security::routes(cfg);
    account::routes(cfg);
    passkeys::routes(cfg);
}

/// `/` has nothing of its own: a person lands on their dashboard (or its sign-in).
async fn get_root() -> HttpResponse {
    see_other("/dashboard")
}

/// A 303 to a path on this site.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}

const FLASH: &str = "flash";
/// The session entry holding a new secret until its one view.
const SHOWN_ONCE: &str = "shown_once";
const SHOWN_ONCE_PATH: &str = "/dashboard/shown-once";
/// A secret not viewed within this long after it was made is not shown at all.
const SHOWN_ONCE_MAX_AGE_SECS: i64 = 600;

/// A new secret waiting for its one view.
#[derive(serde::Serialize, Deserialize)]
struct ShownOnce {
    nav: String,
    at: i64,
    body: views::SecretBody,
}

/// The one view of a secret made by the previous POST (POST-redirect-GET): the entry
/// leaves the session as it is shown, so reloading or going back shows it no more and
/// never repeats the POST that made it (#15).
async fn shown_once(state: web::Data<AppState>, dash: Dash) -> HttpResponse {
    let entry = dash
        .session
        .remove_as::<ShownOnce>(SHOWN_ONCE)
        .and_then(Result::ok);
    match entry {
        Some(e) if state.clock.now().timestamp() - e.at <= SHOWN_ONCE_MAX_AGE_SECS => {
            let nav = match e.nav.as_str() {
                "keys" => "keys",
                "apps" => "apps",
                "admin_apps" => "admin_apps",
                "settings" => "settings",
                _ => "overview",
            };
            views::secret(views::SecretPage {
                c: dash.chrome(nav),
                body: e.body,
            })
        }
        _ => {
            dash.flash(
                "A secret is shown only once. If you did not copy it, roll the key or rotate \
                 the app's secret.",
            );
            see_other("/dashboard")
        }
    }
}

/// A signed-in person on a dashboard page, with the session's CSRF token.
pub struct Dash {
    pub user: entity::user::Model,
    pub csrf: String,
    pub session: Session,
    /// Mail is configured (`LATCH_SMTP_URL`): the verify banner can offer a resend.
    pub mail: bool,
}

impl Dash {
    /// For every state-changing POST: a cross-site `Origin` or a missing or foreign CSRF
    /// token is refused with 403 before anything changes.
    pub fn check(&self, req: &HttpRequest, state: &AppState, csrf: &str) -> Result<(), HtmlError> {
        check_origin(req, state)?;
        verify_csrf(&self.session, csrf)
    }

    /// The layout's data for a page under the nav item `nav`; takes the pending flash.
    pub fn chrome(&self, nav: &'static str) -> Chrome {
        let flash = self.session.remove_as::<Flash>(FLASH).and_then(Result::ok);
        let mut c = Chrome::new(&self.user, &self.csrf, nav, flash);
        c.verify_banner = self.mail && self.user.email_verified_at.is_none();
        c
    }

    /// Answer the POST that made a secret with a redirect to its one view
    /// ([`SHOWN_ONCE_PATH`]); the page waits in the encrypted session cookie.
    pub fn show_once(
        &self,
        state: &AppState,
        nav: &'static str,
        body: views::SecretBody,
    ) -> HttpResponse {
        let entry = ShownOnce {
            nav: nav.to_owned(),
            at: state.clock.now().timestamp(),
            body,
        };
        match self.session.insert(SHOWN_ONCE, &entry) {
            Ok(()) => see_other(SHOWN_ONCE_PATH),
            // Cannot happen with a serialisable body; show it here rather than lose it.
            Err(e) => {
                tracing::warn!(error = %e, "could not keep a secret for its view");
                views::secret(views::SecretPage {
                    c: self.chrome(nav),
                    body: entry.body,
                })
            }
        }
    }

    /// A message for the next page (after a redirect).
    pub fn flash(&self, message: impl Into<String>) {
        self.set_flash(false, message.into());
    }

    pub fn flash_error(&self, message: impl Into<String>) {
        self.set_flash(true, message.into());
    }

    fn set_flash(&self, error: bool, message: String) {
        if let Err(e) = self.session.insert(FLASH, Flash { error, message }) {
            tracing::warn!(error = %e, "could not store a flash message");
        }
    }

    /// Record an event in this account's activity, done by this person from this browser.
    pub async fn audit(
        &self,
        state: &AppState,
        req: &HttpRequest,
        kind: AuditKind,
        detail: serde_json::Value,
    ) -> Result<(), HtmlError> {
        Event::new(kind)
            .user(&self.user.id)
            .client_ip(ClientIp::of(req))
            .user_agent_of(req)
            .detail(detail)
            .record(&state.db)
            .await?;
        Ok(())
    }
}

/// Where to send someone who is not signed in: the sign-in page, coming back to this page
/// (for a GET; a POST's target cannot be re-opened, so back to the dashboard).
fn login_redirect(req: &HttpRequest) -> HttpResponse {
    let back = if req.method() == actix_web::http::Method::GET {
        match req.uri().path_and_query() {
            Some(pq) => pq.as_str().to_owned(),
            None => "/dashboard".to_owned(),
        }
    } else {
        "/dashboard".to_owned()
    };
    see_other(&format!(
        "/login?next={}",
        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
    ))
}

async fn extract_dash(req: HttpRequest) -> Result<Dash, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| HtmlError::internal(anyhow::anyhow!("no app state")))?
        .clone();
    let session = req.get_session();
    match current_user(&state, &session).await? {
        Some(cu) => {
            let csrf = csrf_token(&session)?;
            Ok(Dash {
                user: cu.user,
                csrf,
                session,
                mail: state.mail.enabled(),
            })
        }
        None => Err(actix_web::error::InternalError::from_response(
            "sign-in required",
            login_redirect(&req),
        )
        .into()),
    }
}

impl FromRequest for Dash {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        Box::pin(extract_dash(req.clone()))
    }
}

/// A signed-in admin; anyone else signed in gets a 403 page.
pub struct AdminDash(pub Dash);

impl FromRequest for AdminDash {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let dash = extract_dash(req).await?;
            if !dash.user.is_admin {
                return Err(HtmlError::forbidden(
                    "This page is for administrators of this Latch server.",
                )
                .into());
            }
            Ok(AdminDash(dash))
        })
    }
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    /// Missing → 403 like a wrong token.
    #[serde(default)]
    pub csrf: String,
}

/// `?starting_after=` for the paginated pages: an object id, or nothing.
#[derive(Deserialize)]
pub struct PageQuery {
    pub starting_after: Option<String>,
}

impl PageQuery {
    pub fn after(&self) -> Option<&str> {
        self.starting_after
            .as_deref()
            .filter(|s| crate::cursor::valid_after(s))
    }
}

/// Rows `limit + 1` were asked for: trim to `limit` and give the id to continue after.
pub fn paginate<T>(rows: &mut Vec<T>, limit: usize, id: impl Fn(&T) -> &str) -> Option<String> {
    let page = crate::cursor::Page::split(std::mem::take(rows), limit as u64);
    let next = page.next_after(id);
    *rows = page.rows;
    next
}

/// The overview: counts and the latest activity.
async fn get_overview(state: web::Data<AppState>, dash: Dash) -> Result<HttpResponse, HtmlError> {
    let uid = &dash.user.id;
    let now = state.clock.now();
    let live_keys = store::api_keys::count_working(&state.db, uid, true, now).await?;
    let test_keys = store::api_keys::count_working(&state.db, uid, false, now).await?;
    let apps = store::clients::count_owned(&state.db, uid).await?;
    let authorized = store::consents::for_user(&state.db, uid).await?.len() as u64;
    let events =
        store::audit::page(&state.db, Some(uid), store::audit::ModeFilter::All, 6, None).await?;
    Ok(views::page(&OverviewPage {
        c: dash.chrome("overview"),
        live_keys,
        test_keys,
        apps,
        authorized,
        events: activity::event_rows(&events, None),
        server_wide: false,
        issuer: state.settings.issuer.clone(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Views

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
pub struct OverviewPage {
    pub c: Chrome,
    pub live_keys: u64,
    pub test_keys: u64,
    pub apps: u64,
    pub authorized: u64,
    pub events: Vec<EventRow>,
    /// For the events partial: this account's events only.
    pub server_wide: bool,
    pub issuer: String,
}
