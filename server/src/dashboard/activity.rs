//! The signed-in person's activity: their audit events, newest first, paginated.

use actix_web::{HttpResponse, web};

use askama::Template;
use chrono::Utc;

use super::format::{When, span};
use super::views::{self, Chrome};
use super::{Dash, PageQuery, paginate};
use crate::audit::AuditKind;
use crate::errors::HtmlError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/activity", web::get().to(list));
}

pub const PAGE: usize = 50;

async fn list(
    state: web::Data<AppState>,
    dash: Dash,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, HtmlError> {
    let mut events = store::audit::page(
        &state.db,
        Some(&dash.user.id),
        store::audit::ModeFilter::All,
        crate::cursor::fetch(PAGE as u64),
        q.after(),
    )
    .await?;
    let next = paginate(&mut events, PAGE, |e| &e.id).map(|id| format!("starting_after={id}"));
    Ok(views::page(&ActivityPage {
        c: dash.chrome("activity"),
        title: "Activity",
        lede: "Sign-ins, changes to your keys and apps, and anything suspicious on your account.",
        base: "/dashboard/activity",
        events: event_rows(&events, None),
        server_wide: false,
        first_page: q.after().is_none(),
        next_page: next,
    }))
}

// ---------------------------------------------------------------------------------------------
// Views

/// One audit event.
pub struct EventRow {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub warning: bool,
    pub when: When,
    /// Where it came from, in words: "From 203.0.113.9", "From the command line".
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
        ProfileUpdated => "Display name changed",
        PasswordResetRequested => "Password reset link sent",
        PasswordReset => "Password reset with an email link",
        EmailVerificationSent => "Verification email sent",
        EmailVerified => "Email address verified",
        TotpEnabled => "Two-step sign-in turned on (authenticator app)",
        TotpDisabled => "Two-step sign-in turned off",
        RecoveryCodeUsed => "Signed in with a recovery code",
        SecondStepFailed => "Wrong code at the second step of sign-in",
        SessionEnded => "Signed out a session from Settings",
        PasskeyAdded => "Passkey added",
        PasskeyRemoved => "Passkey removed",
        ApiKeyCreated => "API key created",
        ApiKeyRolled => "API key rolled",
        ApiKeyRevoked => "API key revoked",
        ApiKeyRenamed => "API key renamed",
        ClientCreated => "OAuth app registered",
        ClientUpdated => "OAuth app updated",
        ClientSecretRotated => "OAuth app secret rotated",
        ClientDeleted => "OAuth app deleted",
        ClientDisabled => "OAuth app disabled",
        ClientEnabled => "OAuth app enabled",
        ClientVerified => "OAuth app verified by an admin",
        ClientUnverified => "OAuth app verification withdrawn by an admin",
        ConsentGranted => "App authorized",
        ConsentRevoked => "App access revoked",
        AuthorizationCodeReused => "Authorization code used twice: its tokens were revoked",
        RefreshTokenReused => "Refresh token reuse detected: the app's session was revoked",
        RefreshTokenInvalidated => "An app's session ended after a sign-out everywhere",
        UserDisabled => "Account disabled by an admin",
        UserEnabled => "Account enabled by an admin",
        UserAdminGranted => "Made an admin",
        UserAdminRevoked => "Admin rights removed",
        ApiCreated => "API registered",
        ApiUpdated => "API updated",
        ApiDeleted => "API deleted",
        ApiScopeAdded => "Scope added to an API",
        ApiScopeRemoved => "Scope removed from an API",
        TokenExchanged => "An app exchanged your token for one to another API",
        DeviceApproved => "Device signed in",
        DeviceDenied => "Device sign-in denied",
        DeviceCodeRejected => "Wrong device code entered",
        AccountDeleted => "Account deleted",
        EmailChangeRequested => "Email change requested: confirmation link sent to the new address",
        EmailChanged => "Email address changed",
        RecoveryCodesRegenerated => "New recovery codes made; the old ones no longer work",
        RegistrationTokenCreated => "Initial access token made for client registration",
        // Shown by name until they get a sentence (as before AuditKind existed).
        ApiKeyExpiring => "API key expiring soon",
        ApiKeyUpdated | ApiKeyNewIp | RateLimitExceeded => k.as_str(),
    }
    .into()
}

/// An event as a sentence about its object ("You authorized Billing for read, openid";
/// server-wide: "ann@example.com rolled API key “Server”"), when its details name the object.
/// `subject` is who the event belongs to: "You", or their email for admins. Kinds without a
/// sentence, or whose details lack the name, fall back to [`event_title`].
pub fn event_sentence(
    kind: &str,
    detail: &serde_json::Map<String, serde_json::Value>,
    subject: &str,
) -> Option<String> {
    use AuditKind::*;
    let text = |k: &str| {
        detail
            .get(k)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(120).collect::<String>())
    };
    let app = || {
        text("client_name")
            .or_else(|| text("client"))
            .or_else(|| text("name"))
    };
    let by = || text("by").map(|b| format!(" by {b}")).unwrap_or_default();
    let did = |phrase: String| Some(format!("{subject} {phrase}"));
    match kind.parse::<AuditKind>().ok()? {
        ConsentGranted => {
            let app = app()?;
            match text("scope") {
                Some(scope) => did(format!("authorized {app} for {}", scope.replace(' ', ", "))),
                None => did(format!("authorized {app}")),
            }
        }
        ConsentRevoked => did(format!("revoked the access of {}", app()?)),
        ApiKeyCreated => did(format!("created API key “{}”", text("name")?)),
        ApiKeyRolled => did(format!("rolled API key “{}”", text("name")?)),
        ApiKeyRevoked => did(format!("revoked API key “{}”", text("name")?)),
        ApiKeyRenamed => match text("previous_name") {
            Some(old) => did(format!("renamed API key “{old}” to “{}”", text("name")?)),
            None => did(format!("renamed an API key to “{}”", text("name")?)),
        },
        ClientCreated => did(format!("registered the app “{}”", app()?)),
        ClientUpdated => did(format!("updated the app “{}”", app()?)),
        ClientSecretRotated => did(format!("rotated the secret of the app “{}”", app()?)),
        ClientDeleted => did(format!("deleted the app “{}”", app()?)),
        ClientDisabled => Some(format!("The app “{}” was disabled{}", app()?, by())),
        ClientEnabled => Some(format!("The app “{}” was enabled{}", app()?, by())),
        ClientVerified => Some(format!("The app “{}” was verified{}", app()?, by())),
        ClientUnverified => Some(format!(
            "The app “{}” is no longer verified{}",
            app()?,
            by()
        )),
        UserDisabled if detail.contains_key("by") => {
            Some(format!("The account was disabled{}", by()))
        }
        UserEnabled if detail.contains_key("by") => {
            Some(format!("The account was enabled{}", by()))
        }
        _ => None,
    }
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
        "expires_in" => "The old one works for".to_owned(),
        "by" => "By".to_owned(),
        "admin" => "Admin".to_owned(),
        "family" => "Token family".to_owned(),
        "revoked" => "Tokens revoked".to_owned(),
        "api" => "API ID".to_owned(),
        "identifier" => "Identifier".to_owned(),
        "scope" => "Scope".to_owned(),
        "via" => "Through".to_owned(),
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
            let object = match serde_json::from_str::<serde_json::Value>(&e.detail) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            };
            let email = emails.map(|m| match &e.user_id {
                // An id with no account any more: a deleted one (its email is gone).
                Some(id) => m
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| crate::users::lifecycle::DELETED_USER.to_owned()),
                None => "—".to_owned(),
            });
            let subject = match &email {
                Some(email) if email != "—" => email.as_str(),
                Some(_) => "The operator",
                None => "You",
            };
            let title = event_sentence(&e.kind, &object, subject)
                .unwrap_or_else(|| event_title(&e.kind).into_owned());
            // Where it came from: the address, or the command line for the operator's
            // commands (which have none).
            let ip = match &e.ip {
                Some(ip) => Some(format!("From {ip}")),
                None => (object.get("via").and_then(serde_json::Value::as_str) == Some("cli"))
                    .then(|| "From the command line".to_owned()),
            };
            let details = match serde_json::Value::Object(object) {
                serde_json::Value::Object(map) if !map.is_empty() => {
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
            EventRow {
                id: e.id.clone(),
                kind: e.kind.clone(),
                title,
                warning: e.severity == "warning",
                when: When::ago(e.created_at, now),
                ip,
                details,
                user: email,
            }
        })
        .collect()
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
