//! The dashboard's layout (`Chrome`, flash messages) and the pages every section shares
//! (a new secret shown once, a confirmation). Each section's own pages and rows sit beside
//! its handlers; formatting helpers are in [`super::format`]. Every string reaches the page
//! through askama's HTML escaping; nothing here uses `|safe`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use serde::{Deserialize, Serialize};

use super::format::initial;
use crate::pages::asset_version;
pub(crate) use crate::pages::render;

// ---------------------------------------------------------------------------------------------
// The layout

/// A one-time message shown on the page after a redirect ("API key revoked.").
#[derive(Serialize, Deserialize)]
pub struct Flash {
    pub error: bool,
    pub message: String,
}

/// What the shared layout needs: who is signed in, the nav item to mark, the CSRF token for
/// the sign-out form.
pub struct Chrome {
    pub version: &'static str,
    pub email: String,
    pub initial: String,
    pub is_admin: bool,
    pub csrf: String,
    pub nav: &'static str,
    pub flash: Option<Flash>,
    /// The "Verify your email" banner with its resend button (mail configured, address
    /// not verified).
    pub verify_banner: bool,
}

impl Chrome {
    pub fn new(
        user: &entity::user::Model,
        csrf: &str,
        nav: &'static str,
        flash: Option<Flash>,
    ) -> Self {
        Chrome {
            version: asset_version(),
            email: user.email.clone(),
            initial: initial(&user.email),
            is_admin: user.is_admin,
            csrf: csrf.to_owned(),
            nav,
            flash,
            verify_banner: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

/// A page with 200 OK.
pub fn page<T: Template>(t: &T) -> HttpResponse {
    render(StatusCode::OK, t)
}

/// One value on a "shown once" page.
#[derive(Serialize, Deserialize)]
pub struct SecretItem {
    /// DOM id, for the copy button.
    pub id: String,
    pub label: String,
    pub value: String,
    /// A secret (shown once, with the warning) or an identifier (may be looked up again).
    pub secret: bool,
}

/// What a "shown once" page says: kept in the (encrypted) session between the POST that
/// made the secret and the one GET that shows it ([`super::Dash::show_once`]).
#[derive(Serialize, Deserialize)]
pub struct SecretBody {
    /// The breadcrumb back to the section ("API keys" → its list).
    pub crumb: String,
    pub crumb_href: String,
    pub title: String,
    pub lede: String,
    pub livemode: bool,
    pub items: Vec<SecretItem>,
    pub details: Vec<(String, String)>,
    /// An extra note (e.g. when a rolled key stops working).
    pub note: Option<String>,
    pub done_href: String,
    pub done_label: String,
}

impl SecretBody {
    pub fn has_secret(&self) -> bool {
        self.items.iter().any(|i| i.secret)
    }
}

#[derive(Template)]
#[template(path = "dashboard/secret.html")]
pub struct SecretPage {
    pub c: Chrome,
    pub body: SecretBody,
}

/// The template reads the body's fields as its own.
impl std::ops::Deref for SecretPage {
    type Target = SecretBody;
    fn deref(&self) -> &SecretBody {
        &self.body
    }
}

/// The one view of a new secret: `no-store` (and `Pragma: no-cache`) keep it out of caches.
pub fn secret(p: SecretPage) -> HttpResponse {
    let mut res = page(&p);
    res.headers_mut().insert(
        actix_web::http::header::PRAGMA,
        actix_web::http::header::HeaderValue::from_static("no-cache"),
    );
    res
}

#[derive(Template)]
#[template(path = "dashboard/confirm.html")]
pub struct ConfirmPage {
    pub c: Chrome,
    pub title: String,
    pub message: String,
    /// What will be affected, shown in a box (a key's name and redacted value…).
    pub subject: Vec<(&'static str, String)>,
    pub action: String,
    pub button: &'static str,
    pub cancel_href: String,
}
