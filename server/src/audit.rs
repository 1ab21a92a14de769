//! The audit trail: what happened to an account, recorded as events (the dashboard's
//! activity pages and `GET /v1/events`).
//!
//! Every kind of event is an [`AuditKind`]: its stored name ([`AuditKind::as_str`], returned
//! by `/v1/events` as `type`, so it never changes) and its severity live here, and the
//! dashboard's titles are an exhaustive `match` over it, so a new kind is a new variant and
//! the compiler lists what to update. Events are built and recorded through [`Event`];
//! `store::audit` only persists them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::store::{self, StoreError};

/// Declares [`AuditKind`] with its stored names, in one list.
macro_rules! audit_kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)+) => {
        /// A kind of audit event.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum AuditKind {
            $($(#[$doc])* $variant,)+
        }

        impl AuditKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [AuditKind] = &[$(AuditKind::$variant,)+];

            /// The stored name (`audit_event.kind`, `/v1/events` `type`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditKind::$variant => $name,)+
                }
            }
        }

        impl FromStr for AuditKind {
            type Err = UnknownKind;

            fn from_str(s: &str) -> Result<Self, UnknownKind> {
                match s {
                    $($name => Ok(AuditKind::$variant),)+
                    _ => Err(UnknownKind),
                }
            }
        }
    };
}

audit_kinds! {
    SigninSucceeded = "signin.succeeded",
    SigninFailed = "signin.failed",
    /// Repeated failures locked sign-in to the account (RFC 6819 §5.1.4.2.3).
    SigninLocked = "signin.locked",
    AccountCreated = "account.created",
    /// Someone tried to sign up with the email of an existing account.
    SignupDuplicate = "signup.duplicate",
    PasswordChanged = "password.changed",
    PasswordChangeFailed = "password.change_failed",
    /// The account's display name changed.
    ProfileUpdated = "profile.updated",
    /// A reset link was mailed (or, with `via: cli`, made by an operator).
    PasswordResetRequested = "password.reset_requested",
    /// The password was set with a reset link; every session ended.
    PasswordReset = "password.reset",
    EmailVerificationSent = "email.verification_sent",
    EmailVerified = "email.verified",
    ApiKeyCreated = "api_key.created",
    ApiKeyRolled = "api_key.rolled",
    ApiKeyRevoked = "api_key.revoked",
    /// Renamed on the dashboard.
    ApiKeyRenamed = "api_key.renamed",
    /// Changed through `/v1`.
    ApiKeyUpdated = "api_key.updated",
    /// A key was used from an address other than its last one.
    ApiKeyNewIp = "api_key.new_ip",
    /// A key expires within 7 days (then 1 day): sent once per threshold by the sweeper.
    ApiKeyExpiring = "api_key.expiring",
    ClientCreated = "client.created",
    ClientUpdated = "client.updated",
    ClientSecretRotated = "client.secret_rotated",
    ClientDeleted = "client.deleted",
    ClientDisabled = "client.disabled",
    ClientEnabled = "client.enabled",
    /// An admin vouched for an app a user registered: consent stops calling it unverified.
    ClientVerified = "client.verified",
    /// An admin withdrew that: consent calls the app unverified again.
    ClientUnverified = "client.unverified",
    ConsentGranted = "consent.granted",
    ConsentRevoked = "consent.revoked",
    /// RFC 6749 §4.1.2: a code used twice; the tokens it issued were revoked.
    AuthorizationCodeReused = "authorization_code.reused",
    /// RFC 9700 §4.14.2: a rotated refresh token was replayed; its family was revoked.
    RefreshTokenReused = "refresh_token.reused",
    /// A refresh-token family ended because the account's sessions were ended.
    RefreshTokenInvalidated = "refresh_token.invalidated",
    UserDisabled = "user.disabled",
    UserEnabled = "user.enabled",
    UserAdminGranted = "user.admin_granted",
    UserAdminRevoked = "user.admin_revoked",
    RateLimitExceeded = "rate_limit.exceeded",
    /// The permission catalog (DESIGN.md "Your own APIs"): an API registered.
    ApiCreated = "api.created",
    /// Renamed, a new token lifetime or new scope descriptions.
    ApiUpdated = "api.updated",
    ApiDeleted = "api.deleted",
    ApiScopeAdded = "api.scope_added",
    ApiScopeRemoved = "api.scope_removed",
    /// RFC 8693: a client exchanged a token of the account for one to another API.
    TokenExchanged = "token.exchanged",
    /// Two-step sign-in: an authenticator app was set up (RFC 6238).
    TotpEnabled = "totp.enabled",
    /// The authenticator app and its recovery codes were removed.
    TotpDisabled = "totp.disabled",
    /// A recovery code passed the second step (it is now used up).
    RecoveryCodeUsed = "recovery_code.used",
    /// A wrong code at the second step of sign-in.
    SecondStepFailed = "signin.second_step_failed",
    /// A browser session was ended from Settings (one, or all others).
    SessionEnded = "session.ended",
    DeviceApproved = "device.approved",
    DeviceDenied = "device.denied",
    DeviceCodeRejected = "device.code_rejected",
    /// The account was deleted (by the person, an admin or the operator); its events stay,
    /// with its email replaced.
    AccountDeleted = "account.deleted",
    /// A link to confirm a new address was mailed to it (the email has not changed yet).
    EmailChangeRequested = "email.change_requested",
    /// The new address was confirmed with the mailed link: the account's email changed.
    EmailChanged = "email.changed",
    /// Ten new recovery codes replaced the old ones.
    RecoveryCodesRegenerated = "recovery_codes.regenerated",
    /// A passkey (WebAuthn credential) was registered to the account.
    PasskeyAdded = "passkey.added",
    /// A passkey was removed from the account.
    PasskeyRemoved = "passkey.removed",
    /// An initial access token for `/oauth/register` was made (RFC 7591 §3).
    RegistrationTokenCreated = "registration_token.created",
}

/// A stored kind this build does not know (written by another version); shown as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownKind;

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much an event deserves the account holder's attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    /// Security-relevant: shown highlighted on the activity page.
    Warning,
}

impl Severity {
    /// The stored name (`audit_event.severity`, `/v1/events` `severity`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
        }
    }
}

impl AuditKind {
    pub const fn severity(self) -> Severity {
        use AuditKind::*;
        match self {
            SigninSucceeded
            | ProfileUpdated
            | AccountCreated
            | ApiKeyCreated
            | ApiKeyRenamed
            | ApiKeyUpdated
            | ClientCreated
            | ClientUpdated
            | ClientEnabled
            | ClientVerified
            | ConsentGranted
            | ConsentRevoked
            | UserEnabled
            | UserAdminRevoked
            | ApiCreated
            | ApiUpdated
            | ApiScopeAdded
            | TokenExchanged
            | EmailVerificationSent
            | EmailVerified
            | TotpEnabled
            | DeviceApproved
            | DeviceDenied => Severity::Info,
            SigninFailed
            | SigninLocked
            | SignupDuplicate
            | PasswordChanged
            | PasswordChangeFailed
            | PasswordResetRequested
            | PasswordReset
            | ApiKeyRolled
            | ApiKeyRevoked
            | ApiKeyNewIp
            | ApiKeyExpiring
            | ClientSecretRotated
            | ClientDeleted
            | ClientDisabled
            | ClientUnverified
            | AuthorizationCodeReused
            | RefreshTokenReused
            | RefreshTokenInvalidated
            | UserDisabled
            | UserAdminGranted
            | RateLimitExceeded
            | ApiDeleted
            | ApiScopeRemoved
            | TotpDisabled
            | RecoveryCodeUsed
            | SecondStepFailed
            | SessionEnded => Severity::Warning,
            DeviceCodeRejected => Severity::Warning,
            EmailChangeRequested => Severity::Info,
            AccountDeleted | EmailChanged | RecoveryCodesRegenerated => Severity::Warning,
            PasskeyAdded | PasskeyRemoved => Severity::Warning,
            RegistrationTokenCreated => Severity::Info,
        }
    }
}

/// One event to record: `Event::new(kind).user(id).client_ip(ip).detail(json!(…))`, then
/// [`Event::record`]. This module takes the request's facts as values (it imports no
/// middleware), so the rate limiter can record events without a circle.
pub struct Event<'a> {
    kind: AuditKind,
    user_id: Option<&'a str>,
    actor: Option<&'a str>,
    ip: Option<String>,
    user_agent: Option<&'a str>,
    detail: serde_json::Value,
}

impl<'a> Event<'a> {
    pub fn new(kind: AuditKind) -> Self {
        Event {
            kind,
            user_id: None,
            actor: None,
            ip: None,
            user_agent: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// The account the event is about (its activity shows it).
    pub fn user(mut self, user_id: &'a str) -> Self {
        self.user_id = Some(user_id);
        self
    }

    /// The account the event is about, when there may be none.
    pub fn user_opt(mut self, user_id: Option<&'a str>) -> Self {
        self.user_id = user_id;
        self
    }

    /// Who did it, when not the account itself (an admin, an OAuth client).
    pub fn actor(mut self, actor: Option<&'a str>) -> Self {
        self.actor = actor;
        self
    }

    /// The client's IP (`middleware::ClientIp::of`): the full address (limits key IPv6 by
    /// prefix, the audit log does not).
    pub fn client_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip.map(|i| i.to_string());
        self
    }

    /// The client's IP, already formatted.
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    pub fn user_agent(mut self, ua: Option<&'a str>) -> Self {
        self.user_agent = ua;
        self
    }

    /// The user agent of a browser or `/v1` request (OAuth clients' back-channel calls
    /// record none).
    pub fn user_agent_of(self, req: &'a HttpRequest) -> Self {
        let ua = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        self.user_agent(ua)
    }

    /// What the event concerns, as shown on the activity page and returned by `/v1/events`
    /// as `data`. A `livemode` member sets the event's mode: a test-mode credential never
    /// reads live-mode events.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub async fn record(self, db: &impl store::Conn) -> Result<(), StoreError> {
        let livemode = self
            .detail
            .get("livemode")
            .and_then(serde_json::Value::as_bool);
        store::audit::insert(
            db,
            store::audit::NewEvent {
                user_id: self.user_id,
                actor: self.actor,
                kind: self.kind.as_str(),
                severity: self.kind.severity().as_str(),
                ip: self.ip,
                user_agent: self.user_agent,
                livemode,
                detail: self.detail.to_string(),
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_back_from_their_stored_names() {
        for k in AuditKind::ALL {
            assert_eq!(k.as_str().parse::<AuditKind>(), Ok(*k));
        }
        assert_eq!("something.else".parse::<AuditKind>(), Err(UnknownKind));
    }
}
