//! Passkeys (W3C WebAuthn Level 3; DESIGN.md "Accounts people can trust"): the relying-party
//! rules behind Settings (register, list, remove) and "Sign in with a passkey". The
//! ceremonies and their checks (challenge, origin, RP ID hash, flags, signature, signature
//! counter) are `webauthn-rs`; this module keeps the state and the account rules:
//!
//! - The relying party is the issuer: RP ID = its host, origin = its origin (§5.1.1, §13.4.9).
//!   An issuer on an IP address has no RP ID (browsers refuse one, §5.1.1 "valid domain"),
//!   so passkeys are then off ([`relying_party`] is `None`).
//! - A ceremony's state (the challenge) is kept server-side in `passkey_ceremony`, used once
//!   and for [`CEREMONY_SECS`] (§13.4.3); the browser's session holds only its id.
//! - Credentials are discoverable (resident, `residentKey: required`, §5.4.6) so the sign-in
//!   page can ask for "any passkey of this site" with no email typed, and user verification is
//!   required at registration and sign-in (`webauthn-rs` passkey policy), which makes a
//!   passkey sign-in multi-factor: something you have (the key) and something you know or
//!   are (the PIN or biometric that unlocked it), RFC 8176 `mfa`.
//! - A credential id is registered to one account only (§7.1 step 22, unique index).
//! - The user handle is a UUID derived from the account id with the master key (§14.6.1: no
//!   personal data in it); the sign-in checks the handle the authenticator returns against
//!   the one stored with the credential.
//! - After each sign-in the stored credential is updated as `webauthn-rs` asks
//!   (`Passkey::update_credential`: signature counter, backup state); a counter that did
//!   not go up is refused by `webauthn-rs` (§7.2 step 21, possible clone).

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::crypto::{self, Sealer};
use crate::errors::StoreError;
use crate::store::{self, Conn};

/// How long a ceremony's challenge stays good (the browser's own timeout is 5 minutes).
pub const CEREMONY_SECS: i64 = 300;
/// The longest name a person may give a passkey (characters).
pub const NAME_MAX: usize = 64;
pub use store::passkeys::MAX_PER_USER;

const REGISTER: &str = "register";
const SIGNIN: &str = "signin";

/// Why a ceremony did not succeed. The messages are for the person; none holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("Passkeys are not available on this site: its address is not a domain name.")]
    Unavailable,
    #[error("This passkey request has expired or was already used. Try again.")]
    Expired,
    #[error("The passkey could not be verified.")]
    Rejected,
    #[error("This passkey is not registered here.")]
    UnknownCredential,
    #[error("This passkey is already registered.")]
    Duplicate,
    #[error("You have as many passkeys as an account may have. Remove one first.")]
    TooMany,
    #[error("Give the passkey a name of up to 64 characters.")]
    BadName,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The relying party of this issuer: RP ID its host, the only origin its origin, the RP name
/// the brand's. None when the issuer's host is not a domain name.
pub fn relying_party(issuer: &str, rp_name: &str) -> Option<Webauthn> {
    let origin = Url::parse(issuer).ok()?;
    let host = origin.domain()?.to_owned();
    let origin = Url::parse(&origin.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name(rp_name)
        .build()
        .ok()
}

/// The account's WebAuthn user handle: 16 bytes of a keyed digest of its id, as a UUID.
pub fn user_handle(sealer: &Sealer, user_id: &str) -> Uuid {
    let hex = sealer.keyed_digest("passkey-user-handle", user_id.as_bytes());
    let mut b = [0u8; 16];
    for (i, out) in b.iter_mut().enumerate() {
        *out = u8::from_str_radix(hex.get(i * 2..i * 2 + 2).unwrap_or("00"), 16).unwrap_or(0);
    }
    Uuid::from_bytes(b)
}

/// A stored passkey's `webauthn-rs` record.
fn parse(row: &entity::passkey::Model) -> Option<Passkey> {
    serde_json::from_str(&row.credential).ok()
}

/// A name as given: trimmed, 1 to [`NAME_MAX`] characters, no control characters.
pub fn clean_name(name: &str) -> Result<String, PasskeyError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > NAME_MAX || n.chars().any(char::is_control) {
        return Err(PasskeyError::BadName);
    }
    Ok(n.to_owned())
}

async fn keep_ceremony(
    db: &impl Conn,
    kind: &str,
    user_id: Option<&str>,
    state: String,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let id = crypto::new_id("pkc");
    store::passkeys::put_ceremony(
        db,
        entity::passkey_ceremony::Model {
            id: id.clone(),
            kind: kind.to_owned(),
            user_id: user_id.map(str::to_owned),
            state,
            expires_at: now + TimeDelta::seconds(CEREMONY_SECS),
        },
        now,
    )
    .await?;
    Ok(id)
}

/// Start registering a passkey for `user`: the ceremony id (for the session) and the
/// `PublicKeyCredentialCreationOptions` for `navigator.credentials.create` (JSON).
pub async fn begin_registration(
    db: &impl Conn,
    rp: &Webauthn,
    sealer: &Sealer,
    user: &entity::user::Model,
    now: DateTime<Utc>,
) -> Result<(String, Value), PasskeyError> {
    let existing = store::passkeys::for_user(db, &user.id).await?;
    if existing.len() as u64 >= MAX_PER_USER {
        return Err(PasskeyError::TooMany);
    }
    // §5.4.3 excludeCredentials: an authenticator that already holds one of this account's
    // passkeys says so instead of making a second.
    let exclude: Vec<_> = existing
        .iter()
        .filter_map(parse)
        .map(|p| p.cred_id().clone())
        .collect();
    let display = user
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(&user.email);
    let (ccr, reg) = rp
        .start_passkey_registration(
            user_handle(sealer, &user.id),
            &user.email,
            display,
            Some(exclude),
        )
        .map_err(|_| PasskeyError::Rejected)?;
    let state = serde_json::to_string(&reg).map_err(|_| PasskeyError::Rejected)?;
    let id = keep_ceremony(db, REGISTER, Some(&user.id), state, now).await?;
    let mut options = serde_json::to_value(&ccr).map_err(|_| PasskeyError::Rejected)?;
    // A discoverable credential (§5.4.6 residentKey "required"), so that sign-in needs no
    // email: `webauthn-rs` leaves the choice to the authenticator ("discouraged" with
    // `requireResidentKey: false`); its verification of the result does not depend on it.
    if let Some(sel) = options.pointer_mut("/publicKey/authenticatorSelection")
        && let Some(obj) = sel.as_object_mut()
    {
        obj.insert("residentKey".into(), Value::from("required"));
        obj.insert("requireResidentKey".into(), Value::from(true));
    }
    Ok((id, options))
}

/// What the browser sent to finish a registration.
pub struct Registration<'a> {
    /// The ceremony id from the session.
    pub ceremony: &'a str,
    /// The person's name for the passkey.
    pub name: &'a str,
    pub response: &'a RegisterPublicKeyCredential,
}

/// Finish a registration: the ceremony (taken, once) must be this account's; the
/// attestation is verified by `webauthn-rs`; the credential is stored under its name.
pub async fn finish_registration(
    db: &impl Conn,
    rp: &Webauthn,
    sealer: &Sealer,
    user_id: &str,
    r: Registration<'_>,
    now: DateTime<Utc>,
) -> Result<entity::passkey::Model, PasskeyError> {
    let (ceremony, response) = (r.ceremony, r.response);
    let name = clean_name(r.name)?;
    let Some(row) = store::passkeys::take_ceremony(db, ceremony, REGISTER, now).await? else {
        return Err(PasskeyError::Expired);
    };
    if row.user_id.as_deref() != Some(user_id) {
        return Err(PasskeyError::Expired);
    }
    let reg: PasskeyRegistration =
        serde_json::from_str(&row.state).map_err(|_| PasskeyError::Expired)?;
    let passkey = rp
        .finish_passkey_registration(response, &reg)
        .map_err(|e| {
            tracing::info!(error = %e, "passkey registration refused");
            PasskeyError::Rejected
        })?;
    if store::passkeys::count_for_user(db, user_id).await? >= MAX_PER_USER {
        return Err(PasskeyError::TooMany);
    }
    let credential_id = crypto::b64url(passkey.cred_id().as_slice());
    if store::passkeys::by_credential_id(db, &credential_id)
        .await?
        .is_some()
    {
        return Err(PasskeyError::Duplicate);
    }
    let model = entity::passkey::Model {
        id: crypto::new_id("pk"),
        user_id: user_id.to_owned(),
        credential_id,
        user_handle: user_handle(sealer, user_id).to_string(),
        name,
        credential: serde_json::to_string(&passkey).map_err(|_| PasskeyError::Rejected)?,
        created_at: now,
        last_used_at: None,
    };
    match store::passkeys::insert(db, model.clone()).await {
        Ok(()) => Ok(model),
        // Two registrations of one credential racing: the unique index decides.
        Err(StoreError::Conflict(_)) => Err(PasskeyError::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// Start a sign-in with any passkey of this site (discoverable credentials, no
/// `allowCredentials`): the ceremony id and the `PublicKeyCredentialRequestOptions` (JSON).
pub async fn begin_signin(
    db: &impl Conn,
    rp: &Webauthn,
    now: DateTime<Utc>,
) -> Result<(String, Value), PasskeyError> {
    let (rcr, auth) = rp
        .start_discoverable_authentication()
        .map_err(|_| PasskeyError::Rejected)?;
    let state = serde_json::to_string(&auth).map_err(|_| PasskeyError::Rejected)?;
    let id = keep_ceremony(db, SIGNIN, None, state, now).await?;
    let mut options = serde_json::to_value(&rcr).map_err(|_| PasskeyError::Rejected)?;
    // `webauthn-rs` asks for conditional mediation (autofill); this page asks on a button
    // press, a modal request (Credential Management §2.3.2 "optional" mediation).
    if let Some(obj) = options.as_object_mut() {
        obj.remove("mediation");
    }
    Ok((id, options))
}

/// A passkey sign-in that passed.
pub struct SignedIn {
    pub user_id: String,
    pub passkey_id: String,
    /// RFC 8176 `amr`: `hwk` for a device-bound credential, `swk` for one the authenticator
    /// may sync (backup eligible, §6.1.3: the key is copied between devices, so it is not
    /// bound to one piece of hardware); `user` (user presence, always tested); `mfa` when user
    /// verification was performed.
    pub amr: Vec<&'static str>,
}

/// What a failed sign-in is known to be about, for the failure locks and the audit log.
pub struct SigninFailure {
    pub error: PasskeyError,
    /// The account of the credential presented, when it is a registered one.
    pub user_id: Option<String>,
}

impl From<PasskeyError> for SigninFailure {
    fn from(error: PasskeyError) -> Self {
        SigninFailure {
            error,
            user_id: None,
        }
    }
}

impl From<StoreError> for SigninFailure {
    fn from(e: StoreError) -> Self {
        PasskeyError::Store(e).into()
    }
}

/// Finish a sign-in: the ceremony (taken, once), the credential (registered, with the user
/// handle it was made for), the assertion verified by `webauthn-rs` (challenge, origin, RP
/// ID, user verification, signature, counter); the stored record updated.
pub async fn finish_signin(
    db: &impl Conn,
    rp: &Webauthn,
    ceremony: &str,
    response: &PublicKeyCredential,
    now: DateTime<Utc>,
) -> Result<SignedIn, SigninFailure> {
    let Some(row) = store::passkeys::take_ceremony(db, ceremony, SIGNIN, now).await? else {
        return Err(PasskeyError::Expired.into());
    };
    let auth: DiscoverableAuthentication =
        serde_json::from_str(&row.state).map_err(|_| PasskeyError::Expired)?;
    let (handle, cred_id) = rp
        .identify_discoverable_authentication(response)
        .map_err(|_| PasskeyError::UnknownCredential)?;
    let Some(stored) = store::passkeys::by_credential_id(db, &crypto::b64url(cred_id)).await?
    else {
        return Err(PasskeyError::UnknownCredential.into());
    };
    let fail = |error| SigninFailure {
        error,
        user_id: Some(stored.user_id.clone()),
    };
    if stored.user_handle != handle.to_string() {
        return Err(fail(PasskeyError::UnknownCredential));
    }
    let Some(mut passkey) = parse(&stored) else {
        return Err(fail(PasskeyError::UnknownCredential));
    };
    let result = rp
        .finish_discoverable_authentication(response, auth, &[DiscoverableKey::from(&passkey)])
        .map_err(|e| {
            tracing::info!(error = %e, "passkey sign-in refused");
            fail(PasskeyError::Rejected)
        })?;
    // `webauthn-rs` requires user verification for passkeys; checked again, since `mfa`
    // rests on it.
    if !result.user_verified() {
        return Err(fail(PasskeyError::Rejected));
    }
    let updated = match passkey.update_credential(&result) {
        Some(true) => serde_json::to_string(&passkey).ok(),
        _ => None,
    };
    store::passkeys::mark_used(db, &stored.id, updated, now).await?;
    let kind = if result.backup_eligible() {
        "swk"
    } else {
        "hwk"
    };
    Ok(SignedIn {
        user_id: stored.user_id,
        passkey_id: stored.id,
        amr: vec![kind, "user", "mfa"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relying_party_is_the_issuer_host() {
        let rp = relying_party("https://id.example.com", "Latch").expect("rp");
        assert_eq!(
            rp.get_allowed_origins()[0].as_str(),
            "https://id.example.com/"
        );
        assert!(relying_party("http://localhost:8080", "Latch").is_some());
        // Browsers refuse an IP address as RP ID (WebAuthn §5.1.1).
        assert!(relying_party("http://127.0.0.1:8080", "Latch").is_none());
        assert!(relying_party("http://[::1]:8080", "Latch").is_none());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Laptop ").ok().as_deref(), Some("Laptop"));
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(NAME_MAX + 1)).is_err());
        assert!(clean_name("a\nb").is_err());
    }
}
