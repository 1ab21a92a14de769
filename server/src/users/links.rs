//! Single-use links mailed to a person: password reset (`/password/reset?token=…`, 30
//! minutes) and email verification (`/email/verify?token=…`, 24 hours). A token is 256 bits
//! of randomness, stored only as its SHA-256 (a fast digest suffices for a random secret,
//! RFC 6749 §10.10 reasoning; SECURITY.md §4); using one is a single conditional update
//! (`store::user_tokens::consume`), so it works once. Lifetimes read the application clock.
//!
//! The rules live here, shared by the pages (`account::reset`, `account::verify`) and the
//! operator's `latch user reset-link`.

use chrono::{DateTime, TimeDelta, Utc};
use entity::user;

use super::{UserError, password, valid_password};
use crate::errors::StoreError;
use crate::store::{self, Conn};

pub const RESET_TTL: TimeDelta = TimeDelta::minutes(30);
pub const VERIFY_TTL: TimeDelta = TimeDelta::hours(24);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    EmailVerify,
}

impl Purpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::PasswordReset => "password_reset",
            Purpose::EmailVerify => "email_verify",
        }
    }

    pub const fn ttl(self) -> TimeDelta {
        match self {
            Purpose::PasswordReset => RESET_TTL,
            Purpose::EmailVerify => VERIFY_TTL,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Purpose::PasswordReset => "/password/reset",
            Purpose::EmailVerify => "/email/verify",
        }
    }
}

/// The stored form of a presented token. Anything not shaped like one of ours is refused
/// before a lookup (it could never match, and bounds what reaches the database).
pub fn digest(token: &str) -> Option<String> {
    (token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| crate::crypto::sha256_hex(token))
}

/// The link for `token` on this server.
pub fn link(issuer: &str, purpose: Purpose, token: &str) -> String {
    format!(
        "{}{}?token={token}",
        issuer.trim_end_matches('/'),
        purpose.path()
    )
}

/// Make a token for `user` and store its digest (pass the transaction the mail goes in);
/// returns the token, to be mailed or printed, never stored.
pub async fn issue(
    db: &impl Conn,
    user: &user::Model,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    // 43 base62 characters: ~256 bits.
    let token = crate::crypto::random_base62(43);
    store::user_tokens::insert(
        db,
        store::user_tokens::NewToken {
            token_hash: &crate::crypto::sha256_hex(&token),
            user_id: &user.id,
            purpose: purpose.as_str(),
            email: &user.email,
            now,
            expires_at: now + purpose.ttl(),
        },
    )
    .await?;
    Ok(token)
}

/// The account a live (unused, unexpired) token is for, without using it: for showing the
/// reset form. `None` for anything else, alike.
pub async fn peek(
    db: &impl Conn,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<user::Model>, StoreError> {
    let Some(hash) = digest(token) else {
        return Ok(None);
    };
    let Some(t) = store::user_tokens::live(db, &hash, purpose.as_str(), now).await? else {
        return Ok(None);
    };
    let user = store::users::by_id(db, &t.user_id).await?;
    Ok(user.filter(|u| u.disabled_at.is_none() && u.email == t.email))
}

/// Why a reset did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, used, expired, or its account is gone or disabled: one answer for all.
    #[error("the link is not valid")]
    InvalidLink,
    #[error(transparent)]
    User(#[from] UserError),
}

impl From<StoreError> for ResetError {
    fn from(e: StoreError) -> Self {
        ResetError::User(UserError::Store(e))
    }
}

/// Set a new password with a reset token: the token is used (once), every other reset link
/// of the account ends, and, like a password change, every session and refresh token from
/// before ends (`sessions_valid_after`, `revoke_user_grants`), all in one transaction. The
/// link proved the mailbox, so the address counts as verified too.
pub async fn reset_password(
    db: &store::Db,
    token: &str,
    new: &str,
    now: DateTime<Utc>,
) -> Result<user::Model, ResetError> {
    if !valid_password(new) {
        return Err(UserError::WeakPassword.into());
    }
    let hash = digest(token).ok_or(ResetError::InvalidLink)?;
    // Cheap refusal before the argon2 work; the use below decides.
    if store::user_tokens::live(db, &hash, Purpose::PasswordReset.as_str(), now)
        .await?
        .is_none()
    {
        return Err(ResetError::InvalidLink);
    }
    let password_hash = password::hash(new.to_owned())
        .await
        .map_err(UserError::from)?;
    let tx = store::begin_write(db).await?;
    let Some(t) =
        store::user_tokens::consume(&*tx, &hash, Purpose::PasswordReset.as_str(), now).await?
    else {
        return Err(ResetError::InvalidLink);
    };
    let user = store::users::by_id(&*tx, &t.user_id)
        .await?
        .filter(|u| u.disabled_at.is_none() && u.email == t.email)
        .ok_or(ResetError::InvalidLink)?;
    let updated = store::users::set_password(&*tx, &user, password_hash, now).await?;
    store::tokens::revoke_user_grants(&*tx, &user.id, None, now).await?;
    // OIDC Back-Channel Logout: every session of the account ended; tell its apps.
    crate::backchannel::user_sessions_ended(&*tx, &user.id, now).await?;
    store::user_tokens::use_all(&*tx, &user.id, Purpose::PasswordReset.as_str(), now).await?;
    if updated.email_verified_at.is_none() {
        store::users::set_email_verified(&*tx, &user.id, &user.email, now).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store::users::by_id(db, &user.id).await?.unwrap_or(updated))
}

/// Verify the address with a token: `Some(user)` once, when the token is live and the
/// account still has the address it was sent to.
pub async fn verify_email(
    db: &store::Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<user::Model>, StoreError> {
    let Some(hash) = digest(token) else {
        return Ok(None);
    };
    let tx = store::begin_write(db).await?;
    let Some(t) =
        store::user_tokens::consume(&*tx, &hash, Purpose::EmailVerify.as_str(), now).await?
    else {
        return Ok(None);
    };
    if !store::users::set_email_verified(&*tx, &t.user_id, &t.email, now).await? {
        // The address changed since: the link proves nothing about the new one.
        tx.commit().await.map_err(StoreError::from)?;
        return Ok(None);
    }
    store::user_tokens::use_all(&*tx, &t.user_id, Purpose::EmailVerify.as_str(), now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    store::users::by_id(db, &t.user_id).await
}

/// What a mailed link needs besides the account: the outbox, the sealing key, and the
/// server's issuer (the link's origin) and brand name (the mail's wording).
pub struct Outbox<'a> {
    pub mailer: &'a crate::mail::Mailer,
    pub sealer: &'a crate::crypto::Sealer,
    pub issuer: &'a str,
    pub brand: &'a str,
}

/// Put a reset or verification mail for `user` in the outbox, with a fresh token, in `db`
/// (a write transaction, so the token and its mail exist together). The caller commits and
/// wakes the mailer.
pub async fn mail(
    db: &impl Conn,
    out: &Outbox<'_>,
    user: &user::Model,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<(), UserError> {
    let token = issue(db, user, purpose, now).await?;
    let url = link(out.issuer, purpose, &token);
    let m = match purpose {
        Purpose::PasswordReset => {
            crate::mail::templates::password_reset(out.brand, &user.email, &url, purpose.ttl())
        }
        Purpose::EmailVerify => {
            crate::mail::templates::verify_email(out.brand, &user.email, &url, purpose.ttl())
        }
    }?;
    out.mailer.enqueue(db, out.sealer, &m).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_token_shape_is_looked_up() {
        let t = crate::crypto::random_base62(43);
        assert_eq!(digest(&t), Some(crate::crypto::sha256_hex(&t)));
        for bad in ["", "short", &"a".repeat(44), &format!("{}!", &t[..42]), "é"] {
            assert_eq!(digest(bad), None, "{bad}");
        }
        assert_eq!(
            link("https://id.x/", Purpose::PasswordReset, "T"),
            "https://id.x/password/reset?token=T"
        );
        assert_eq!(
            link("https://id.x", Purpose::EmailVerify, "T"),
            "https://id.x/email/verify?token=T"
        );
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Whatever arrives as `token`, only our exact shape (43 ASCII letters and digits)
        /// reaches a lookup, as its 64-hex-digit digest; nothing panics.
        #[test]
        fn prop_only_well_formed_tokens_are_digested(t in "\\PC{0,60}|[A-Za-z0-9]{40,46}") {
            match digest(&t) {
                Some(d) => {
                    prop_assert_eq!(t.len(), 43);
                    prop_assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
                    prop_assert_eq!(d.len(), 64);
                }
                None => prop_assert!(t.len() != 43 || !t.bytes().all(|b| b.is_ascii_alphanumeric())),
            }
        }
    }
}
