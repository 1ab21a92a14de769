//! How dashboard pages look: the askama templates under `templates/dashboard/`, the rows
//! they show (already formatted: templates hold no logic), and small formatting helpers.
//! Every string reaches the page through askama's HTML escaping; nothing here uses `|safe`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditKind;
use crate::pages::{asset_version, render};

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
        }
    }
}

/// The first letter or digit of `s`, upper-cased, for an avatar.
pub fn initial(s: &str) -> String {
    s.chars()
        .find(|c| c.is_alphanumeric())
        .map_or_else(|| "?".to_owned(), |c| c.to_uppercase().collect())
}

// ---------------------------------------------------------------------------------------------
// Formatting

/// `Mar 4, 2026`
pub fn date(t: DateTime<Utc>) -> String {
    t.format("%b %-d, %Y").to_string()
}

/// `Mar 4, 2026, 14:05 UTC`: the exact time, for a `title`.
pub fn full(t: DateTime<Utc>) -> String {
    t.format("%b %-d, %Y, %H:%M UTC").to_string()
}

/// `2026-03-04T14:05:09Z`, for `<time datetime>`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// A duration in words, rounded down to its largest unit: `59 minutes`, `23 hours`, `7 days`.
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        plural(s, "second")
    } else if s < 3600 {
        plural(s / 60, "minute")
    } else if s < 86_400 {
        plural(s / 3600, "hour")
    } else {
        plural(s / 86_400, "day")
    }
}

/// `just now`, `5 minutes ago`, `3 days ago`; older than a month: the date.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    if s < 45 {
        "just now".to_owned()
    } else if s < 30 * 86_400 {
        format!("{} ago", span(s.max(60)))
    } else {
        date(t)
    }
}

/// A moment shown relative to now, with the exact time on hover and for machines.
pub struct When {
    pub text: String,
    pub iso: String,
    pub full: String,
}

impl When {
    pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        When {
            text: ago(t, now),
            iso: iso(t),
            full: full(t),
        }
    }

    pub fn date(t: DateTime<Utc>) -> Self {
        When {
            text: date(t),
            iso: iso(t),
            full: full(t),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rows

/// One scope, as the person reads it.
pub struct ScopeRow {
    pub name: String,
    pub description: &'static str,
}

pub fn scope_rows(scopes: &str) -> Vec<ScopeRow> {
    crate::clients::list(scopes)
        .map(|s| ScopeRow {
            name: s.to_owned(),
            description: crate::clients::scope_description(s),
        })
        .collect()
}

/// An API key in a list or on its page.
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub redacted: String,
    pub livemode: bool,
    pub scopes: Vec<String>,
    pub created: When,
    pub last_used: Option<When>,
    /// `active`, `expiring`, `expired` or `revoked` (also the badge's class).
    pub status: &'static str,
    pub status_label: String,
    /// For a rolled key still working: "Stops working in 59 minutes".
    pub note: Option<String>,
}

impl KeyRow {
    pub fn new(k: &entity::api_key::Model, now: DateTime<Utc>) -> Self {
        let status = crate::api_keys::status(k);
        let (status_label, note) = match (status, k.expires_at) {
            ("expiring", Some(t)) => {
                let left = (t - now).num_seconds();
                (
                    format!("Expires in {}", span(left)),
                    Some(format!("Stops working {}", full(t))),
                )
            }
            ("expired", Some(t)) => ("Expired".to_owned(), Some(format!("Expired {}", full(t)))),
            ("revoked", _) => (
                "Revoked".to_owned(),
                k.revoked_at.map(|t| format!("Revoked {}", full(t))),
            ),
            _ => ("Active".to_owned(), None),
        };
        KeyRow {
            id: k.id.clone(),
            name: k.name.clone(),
            redacted: crate::api_keys::redacted(k),
            livemode: k.livemode,
            scopes: crate::clients::list(&k.scopes).map(str::to_owned).collect(),
            created: When::date(k.created_at),
            last_used: k.last_used_at.map(|t| When::ago(t, now)),
            status,
            status_label,
            note,
        }
    }
}

/// An OAuth app the person registered.
pub struct AppRow {
    pub id: String,
    pub name: String,
    pub initial: String,
    pub livemode: bool,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<(String, &'static str)>,
    pub scopes: Vec<ScopeRow>,
    pub secret_last4: Option<String>,
    pub created: When,
    pub secret_rotated: Option<When>,
}

pub fn grant_label(g: &str) -> &'static str {
    match g {
        "authorization_code" => "Authorization code",
        "refresh_token" => "Refresh tokens",
        "client_credentials" => "Client credentials",
        _ => "Other",
    }
}

impl AppRow {
    pub fn new(c: &entity::client::Model) -> Self {
        AppRow {
            id: c.id.clone(),
            name: c.name.clone(),
            initial: initial(&c.name),
            livemode: c.livemode,
            public: c.is_public,
            redirect_uris: crate::clients::list(&c.redirect_uris)
                .map(str::to_owned)
                .collect(),
            grant_types: crate::clients::list(&c.grant_types)
                .map(|g| (g.to_owned(), grant_label(g)))
                .collect(),
            scopes: scope_rows(&c.scopes),
            secret_last4: c.secret_last4.clone(),
            created: When::date(c.created_at),
            secret_rotated: c.secret_rotated_at.map(When::date),
        }
    }
}

/// An app the person authorized (a live consent).
pub struct ConsentRow {
    pub client_id: String,
    pub name: String,
    pub initial: String,
    pub livemode: bool,
    pub scopes: Vec<ScopeRow>,
    pub granted: When,
}

/// One audit event.
pub struct EventRow {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub warning: bool,
    pub when: When,
    pub ip: Option<String>,
    pub details: Vec<(String, String)>,
    /// The account's email (server-wide activity only).
    pub user: Option<String>,
}

/// What an event kind means, in words. Kinds without a sentence of their own are shown by
/// their stored name, as are kinds this build does not know.
pub fn event_title(kind: &str) -> std::borrow::Cow<'_, str> {
    use AuditKind::*;
    let Ok(k) = kind.parse::<AuditKind>() else {
        return kind.into();
    };
    match k {
        SigninSucceeded => "Signed in",
        SigninFailed => "Failed sign-in attempt",
        SigninLocked => "Sign-in locked after repeated failures",
        AccountCreated => "Account created",
        SignupDuplicate => "Someone tried to sign up with this email",
        PasswordChanged => "Password changed",
        PasswordChangeFailed => "Wrong current password when changing the password",
        ApiKeyCreated => "API key created",
        ApiKeyRolled => "API key rolled",
        ApiKeyRevoked => "API key revoked",
        ApiKeyRenamed => "API key renamed",
        ClientCreated => "OAuth app registered",
        ClientUpdated => "OAuth app updated",
        ClientSecretRotated => "OAuth app secret rotated",
        ClientDeleted => "OAuth app deleted",
        ConsentGranted => "App authorized",
        ConsentRevoked => "App access revoked",
        AuthorizationCodeReused => "Authorization code used twice: its tokens were revoked",
        RefreshTokenReused => "Refresh token reuse detected: the app's session was revoked",
        RefreshTokenInvalidated => "An app's session ended after a sign-out everywhere",
        UserDisabled => "Account disabled by an admin",
        UserEnabled => "Account enabled by an admin",
        UserAdminGranted => "Made an admin",
        UserAdminRevoked => "Admin rights removed",
        // Shown by name until they get a sentence (as before AuditKind existed).
        ApiKeyUpdated | ApiKeyNewIp | RateLimitExceeded => k.as_str(),
    }
    .into()
}

/// Event details shown first, in this order; then any others except [`HIDDEN_DETAILS`].
const DETAIL_ORDER: &[&str] = &[
    "name",
    "client",
    "redacted",
    "livemode",
    "expires_in",
    "by",
    "client_id",
];
/// Internal ids that mean nothing to a person reading their activity.
const HIDDEN_DETAILS: &[&str] = &["api_key", "new_api_key", "family"];

fn detail_label(key: &str) -> String {
    match key {
        "name" => "Name".to_owned(),
        "redacted" => "Key".to_owned(),
        "api_key" => "Key ID".to_owned(),
        "new_api_key" => "New key ID".to_owned(),
        "client_id" => "App ID".to_owned(),
        "client" => "App".to_owned(),
        "livemode" => "Mode".to_owned(),
        "expires_in" => "Old key works for".to_owned(),
        "by" => "By".to_owned(),
        "admin" => "Admin".to_owned(),
        "family" => "Token family".to_owned(),
        "revoked" => "Tokens revoked".to_owned(),
        other => other.replace('_', " "),
    }
}

fn detail_value(key: &str, v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match (key, v) {
        ("livemode", Value::Bool(b)) => Some(if *b { "Live" } else { "Test" }.to_owned()),
        ("expires_in", Value::Number(n)) => n.as_i64().map(|s| {
            if s == 0 {
                "no longer (stopped at once)".to_owned()
            } else {
                span(s)
            }
        }),
        (_, Value::Bool(b)) => Some(if *b { "yes" } else { "no" }.to_owned()),
        (_, Value::String(s)) => Some(s.chars().take(200).collect()),
        (_, Value::Number(n)) => Some(n.to_string()),
        (_, Value::Array(a)) => Some(
            a.iter()
                .filter_map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .or_else(|| Some(x.to_string()))
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

/// Event rows; `emails` maps user ids to emails for the server-wide view.
pub fn event_rows(
    events: &[entity::audit_event::Model],
    emails: Option<&std::collections::HashMap<String, String>>,
) -> Vec<EventRow> {
    let now = Utc::now();
    events
        .iter()
        .map(|e| {
            let details = match serde_json::from_str::<serde_json::Value>(&e.detail) {
                Ok(serde_json::Value::Object(map)) => {
                    // Object ids are noise next to a name; an id alone is still worth showing.
                    let named = map.contains_key("name") || map.contains_key("client");
                    DETAIL_ORDER
                        .iter()
                        .filter(|k| !(named && **k == "client_id"))
                        .filter_map(|k| map.get(*k).map(|v| (*k, v)))
                        .chain(
                            map.iter()
                                .filter(|(k, _)| {
                                    !DETAIL_ORDER.contains(&k.as_str())
                                        && !HIDDEN_DETAILS.contains(&k.as_str())
                                })
                                .map(|(k, v)| (k.as_str(), v)),
                        )
                        .filter_map(|(k, v)| detail_value(k, v).map(|v| (detail_label(k), v)))
                        .collect()
                }
                _ => Vec::new(),
            };
            let title = event_title(&e.kind).into_owned();
            EventRow {
                id: e.id.clone(),
                kind: e.kind.clone(),
                title,
                warning: e.severity == "warning",
                when: When::ago(e.created_at, now),
                ip: e.ip.clone(),
                details,
                user: emails.map(|m| match &e.user_id {
                    Some(id) => m.get(id).cloned().unwrap_or_else(|| id.clone()),
                    None => "—".to_owned(),
                }),
            }
        })
        .collect()
}

/// A user, for admins.
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub initial: String,
    pub admin: bool,
    pub disabled: bool,
    pub created: When,
    pub is_self: bool,
}

// ---------------------------------------------------------------------------------------------
// Pages

fn page<T: Template>(t: &T) -> HttpResponse {
    render(StatusCode::OK, t)
}

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

pub fn overview(p: OverviewPage) -> HttpResponse {
    page(&p)
}

#[derive(Template)]
#[template(path = "dashboard/keys.html")]
pub struct KeysPage {
    pub c: Chrome,
    pub livemode: bool,
    pub rows: Vec<KeyRow>,
    /// Revoked and expired keys are listed too.
    pub all: bool,
    /// The query string of the next page, if there is one.
    pub next_page: Option<String>,
}

pub fn keys(p: KeysPage) -> HttpResponse {
    page(&p)
}

#[derive(Template)]
#[template(path = "dashboard/key_new.html")]
pub struct KeyNewPage {
    pub c: Chrome,
    pub livemode: bool,
    pub name: String,
    pub read: bool,
    pub write: bool,
    pub error: Option<String>,
}

pub fn key_new(status: StatusCode, p: KeyNewPage) -> HttpResponse {
    render(status, &p)
}

#[derive(Template)]
#[template(path = "dashboard/key.html")]
pub struct KeyPage {
    pub c: Chrome,
    pub key: KeyRow,
    /// The key that replaced this one, when it was rolled.
    pub rolled_to: Option<String>,
    pub name_value: String,
    pub error: Option<String>,
}

pub fn key(status: StatusCode, p: KeyPage) -> HttpResponse {
    render(status, &p)
}

/// One value on a "shown once" page.
pub struct SecretItem {
    /// DOM id, for the copy button.
    pub id: &'static str,
    pub label: &'static str,
    pub value: String,
    /// A secret (shown once, with the warning) or an identifier (may be looked up again).
    pub secret: bool,
}

#[derive(Template)]
#[template(path = "dashboard/secret.html")]
pub struct SecretPage {
    pub c: Chrome,
    /// The breadcrumb back to the section ("API keys" → its list).
    pub crumb: &'static str,
    pub crumb_href: String,
    pub title: String,
    pub lede: String,
    pub livemode: bool,
    pub items: Vec<SecretItem>,
    pub details: Vec<(&'static str, String)>,
    /// An extra note (e.g. when a rolled key stops working).
    pub note: Option<String>,
    pub done_href: String,
    pub done_label: &'static str,
}

impl SecretPage {
    pub fn has_secret(&self) -> bool {
        self.items.iter().any(|i| i.secret)
    }
}

/// A page showing a new secret. It is rendered once, in answer to the POST that created the
/// secret: nothing stores it, and `Cache-Control: no-store` keeps it out of caches.
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

pub fn confirm(p: ConfirmPage) -> HttpResponse {
    page(&p)
}

#[derive(Template)]
#[template(path = "dashboard/apps.html")]
pub struct AppsPage {
    pub c: Chrome,
    pub rows: Vec<AppRow>,
    pub next_page: Option<String>,
}

pub fn apps(p: AppsPage) -> HttpResponse {
    page(&p)
}

#[derive(Template)]
#[template(path = "dashboard/admin_apps.html")]
pub struct OperatorAppsPage {
    pub c: Chrome,
    pub rows: Vec<AppRow>,
    pub next_page: Option<String>,
}

pub fn operator_apps(p: AppsPage) -> HttpResponse {
    page(&OperatorAppsPage {
        c: p.c,
        rows: p.rows,
        next_page: p.next_page,
    })
}

/// The registration form's values (kept when it is shown again with an error).
pub struct AppForm {
    pub name: String,
    pub redirect_uris: String,
    pub public: bool,
    pub livemode: bool,
    pub grant_code: bool,
    pub grant_refresh: bool,
    pub grant_client_credentials: bool,
}

#[derive(Template)]
#[template(path = "dashboard/app_new.html")]
pub struct AppNewPage {
    pub c: Chrome,
    pub f: AppForm,
    pub error: Option<String>,
}

pub fn app_new(status: StatusCode, p: AppNewPage) -> HttpResponse {
    render(status, &p)
}

#[derive(Template)]
#[template(path = "dashboard/app.html")]
pub struct AppPage {
    pub c: Chrome,
    pub app: AppRow,
    pub name_value: String,
    pub redirect_value: String,
    pub error: Option<String>,
    pub needs_redirect: bool,
}

pub fn app(status: StatusCode, p: AppPage) -> HttpResponse {
    render(status, &p)
}

#[derive(Template)]
#[template(path = "dashboard/authorized.html")]
pub struct AuthorizedPage {
    pub c: Chrome,
    pub rows: Vec<ConsentRow>,
}

pub fn authorized(p: AuthorizedPage) -> HttpResponse {
    page(&p)
}

#[derive(Template)]
#[template(path = "dashboard/activity.html")]
pub struct ActivityPage {
    pub c: Chrome,
    pub title: &'static str,
    pub lede: &'static str,
    pub base: &'static str,
    pub events: Vec<EventRow>,
    pub server_wide: bool,
    pub first_page: bool,
    pub next_page: Option<String>,
}

pub fn activity(p: ActivityPage) -> HttpResponse {
    page(&p)
}

#[derive(Template)]
#[template(path = "dashboard/users.html")]
pub struct UsersPage {
    pub c: Chrome,
    pub rows: Vec<UserRow>,
    pub first_page: bool,
    pub next_page: Option<String>,
}

pub fn users(p: UsersPage) -> HttpResponse {
    page(&p)
}

#[derive(Template)]
#[template(path = "dashboard/password.html")]
pub struct PasswordPage {
    pub c: Chrome,
    pub email: String,
    pub member_since: When,
    pub admin: bool,
    pub error: Option<String>,
}

pub fn password(status: StatusCode, p: PasswordPage) -> HttpResponse {
    render(status, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_ages_read_naturally() {
        assert_eq!(span(0), "0 seconds");
        assert_eq!(span(59), "59 seconds");
        assert_eq!(span(3599), "59 minutes");
        assert_eq!(span(3600), "1 hour");
        assert_eq!(span(86_399), "23 hours");
        assert_eq!(span(7 * 86_400), "7 days");
        let now = Utc::now();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(
            ago(now - chrono::Duration::seconds(61), now),
            "1 minute ago"
        );
        assert_eq!(ago(now - chrono::Duration::hours(5), now), "5 hours ago");
        let old = now - chrono::Duration::days(90);
        assert_eq!(ago(old, now), date(old));
    }

    #[test]
    fn initials() {
        assert_eq!(initial("ann@example.com"), "A");
        assert_eq!(initial("<script>"), "S");
        assert_eq!(initial("!!"), "?");
    }
}
