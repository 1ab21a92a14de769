//! Accounts: creation and lookup rules shared by the CLI, sign-up and the admin API.

pub use crate::email;
pub mod lifecycle;
pub mod links;
pub mod mfa;
pub mod passkeys;
pub mod password;

use crate::errors::{ApiError, StoreError};
use crate::store::{self, Conn};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("the email address is not valid")]
    InvalidEmail,
    /// Well formed, but could pass for another address (see [`email::check_new`]).
    #[error("{0}")]
    LookalikeEmail(email::EmailProblem),
    #[error(
        "the password must be between {} and {} characters",
        password::MIN_LEN,
        password::MAX_LEN
    )]
    WeakPassword,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("the current password is not correct")]
    WrongPassword,
    #[error("admins cannot disable or demote their own account")]
    SelfLockout,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::InvalidEmail | UserError::LookalikeEmail(_) => {
                ApiError::invalid_request("invalid_email", e.to_string()).with_param("email")
            }
            UserError::WeakPassword => {
                ApiError::invalid_request("invalid_password", e.to_string()).with_param("password")
            }
            UserError::EmailTaken => ApiError::new(
                crate::errors::ApiErrorType::Conflict,
                "email_taken",
                e.to_string(),
            )
            .with_param("email"),
            UserError::WrongPassword => {
                ApiError::invalid_request("invalid_password", e.to_string())
                    .with_param("current_password")
            }
            UserError::SelfLockout => ApiError::new(
                crate::errors::ApiErrorType::Permission,
                "self_lockout",
                e.to_string(),
            ),
            UserError::Store(s) => s.into(),
            UserError::Unexpected(u) => ApiError::internal(u),
        }
    }
}

/// A plausible email address once normalised (NFKC, trimmed): one `@`, something on each
/// side, a dot in the domain, no spaces or control characters, at most 254 characters (RFC
/// 5321 §4.5.3.1.3). Enough to look an account up; a new account needs
/// [`email::check_new`] too.
pub fn valid_email(email: &str) -> bool {
    email::well_formed(email)
}

pub fn valid_password(pw: &str) -> bool {
    let n = pw.chars().count();
    (password::MIN_LEN..=password::MAX_LEN).contains(&n)
}

pub async fn create(
    db: &impl Conn,
    email: &str,
    password: &str,
    is_admin: bool,
) -> Result<entity::user::Model, UserError> {
    create_with(db, email, password, is_admin, false).await
}

/// [`create`], with the address marked verified when an operator vouches for it
/// (`latch user create --email-verified`).
pub async fn create_with(
    db: &impl Conn,
    email: &str,
    password: &str,
    is_admin: bool,
    email_verified: bool,
) -> Result<entity::user::Model, UserError> {
    // Stored NFKC-normalised, and refused when it could pass for another address.
    let email = match email::check_new(email) {
        Ok(e) => e,
        Err(email::EmailProblem::Invalid) => return Err(UserError::InvalidEmail),
        Err(p) => return Err(UserError::LookalikeEmail(p)),
    };
    let email = email.as_str();
    if !valid_password(password) {
        return Err(UserError::WeakPassword);
    }
    if store::users::by_email(db, email).await?.is_some() {
        return Err(UserError::EmailTaken);
    }
    let hash = password::hash(password.to_owned()).await?;
    let id = crate::crypto::new_id("user");
    let now = store::now();
    match store::users::insert(
        db,
        store::users::NewUser {
            id: &id,
            email,
            password_hash: &hash,
            is_admin,
            email_verified,
            now,
        },
    )
    .await
    {
        Err(StoreError::Conflict(_)) => Err(UserError::EmailTaken),
        other => Ok(other?),
    }
}

/// Change a password after checking the current one (argon2id, off the executor). Every
/// session and grant from before the change ends: `sessions_valid_after` moves to now
/// (sessions, compared in milliseconds) and every refresh token of the account is revoked
/// with the access tokens it issued (on the deny list). The caller signs its own session in
/// again afterwards. Returns the updated user.
pub async fn change_password(
    db: &store::Db,
    user: &entity::user::Model,
    current: &str,
    new: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<entity::user::Model, UserError> {
    let ok = password::verify(Some(user.password_hash.clone()), current.to_owned()).await?;
    if !ok {
        return Err(UserError::WrongPassword);
    }
    if !valid_password(new) {
        return Err(UserError::WeakPassword);
    }
    let hash = password::hash(new.to_owned()).await?;
    let tx = store::begin_write(db).await?;
    let updated = store::users::set_password(&*tx, user, hash, now).await?;
    store::tokens::revoke_user_grants(&*tx, &user.id, None, now).await?;
    // OIDC Back-Channel Logout: every session of the account ended; tell its apps.
    crate::backchannel::user_sessions_ended(&*tx, &user.id, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(updated)
}

/// Store a new hash of `password` (just verified at sign-in) when the account's hash was made
/// with older argon2 settings ([`password::needs_rehash`]; OWASP Password Storage Cheat
/// Sheet: upgrade on the next sign-in). In the background: the sign-in does not wait for a
/// second hash. The password is unchanged, so sessions and grants stay; a password change
/// meanwhile wins (the row is updated only while it still holds the old hash).
pub fn upgrade_hash_in_background(db: &store::Db, user: &entity::user::Model, password: String) {
    if !password::needs_rehash(&user.password_hash) {
        return;
    }
    let (db, id, old) = (db.clone(), user.id.clone(), user.password_hash.clone());
    tokio::spawn(async move {
        let outcome = match password::hash(password).await {
            Ok(new) => store::users::replace_password_hash(&db, &id, &old, new)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "could not store an upgraded password hash; the next sign-in tries again");
        }
    });
}

/// Set a new password for an account without its current one (the operator's
/// `latch user set-password`): like [`change_password`], every session and grant from
/// before ends.
pub async fn reset_password(
    db: &store::Db,
    user: &entity::user::Model,
    new: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<entity::user::Model, UserError> {
    if !valid_password(new) {
        return Err(UserError::WeakPassword);
    }
    let hash = password::hash(new.to_owned()).await?;
    let tx = store::begin_write(db).await?;
    let updated = store::users::set_password(&*tx, user, hash, now).await?;
    store::tokens::revoke_user_grants(&*tx, &user.id, None, now).await?;
    // OIDC Back-Channel Logout: every session of the account ended; tell its apps.
    crate::backchannel::user_sessions_ended(&*tx, &user.id, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(updated)
}

/// The longest display name, in characters.
pub const MAX_NAME_LEN: usize = 100;

/// Set the display name people and apps see (`name` with the `profile` scope, OIDC Core
/// §5.1): trimmed, at most [`MAX_NAME_LEN`] characters, no control characters; empty clears
/// it. Returns `None` when the name is refused.
pub fn clean_name(raw: &str) -> Option<Option<String>> {
    let name = raw.trim();
    if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return None;
    }
    Some((!name.is_empty()).then(|| name.to_owned()))
}

/// Disable or re-enable an account. Disabling ends its sessions (also for good: they stay
/// void after re-enabling), revokes its grants and, through the API-key cache, its keys: at
/// once on this instance (`keys.clear()`), on others within `api_keys::CACHE_TTL`.
pub async fn set_disabled(
    db: &store::Db,
    keys: &crate::api_keys::KeyCache,
    rows: &store::RowCaches,
    acting: Option<&entity::user::Model>,
    target: &entity::user::Model,
    disabled: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<entity::user::Model, UserError> {
    if acting.is_some_and(|a| a.id == target.id) && disabled {
        return Err(UserError::SelfLockout);
    }
    if target.disabled_at.is_some() == disabled {
        return Ok(target.clone());
    }
    let tx = store::begin_write(db).await?;
    let updated = store::users::set_disabled(&*tx, target, disabled, now).await?;
    if disabled {
        store::tokens::revoke_user_grants(&*tx, &target.id, None, now).await?;
        // OIDC Back-Channel Logout: its sessions ended; tell their apps.
        crate::backchannel::user_sessions_ended(&*tx, &target.id, now).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    keys.clear();
    rows.forget_user(&target.id);
    Ok(updated)
}

/// Grant or withdraw admin rights; an admin cannot demote themselves (so a server always
/// keeps the admin who is acting). `acting: None` is the operator at the command line.
pub async fn set_admin(
    db: &impl Conn,
    acting: Option<&entity::user::Model>,
    target: &entity::user::Model,
    admin: bool,
) -> Result<entity::user::Model, UserError> {
    if acting.is_some_and(|a| a.id == target.id) && !admin {
        return Err(UserError::SelfLockout);
    }
    if target.is_admin == admin {
        return Ok(target.clone());
    }
    Ok(store::users::set_admin(db, target, admin, store::now()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_bounded_and_printable() {
        assert_eq!(clean_name("  Ann Lee "), Some(Some("Ann Lee".to_owned())));
        assert_eq!(clean_name("   "), Some(None));
        assert_eq!(clean_name("Ann\u{0}"), None);
        assert_eq!(clean_name("a\nb"), None);
        assert_eq!(clean_name(&"é".repeat(100)), Some(Some("é".repeat(100))));
        assert_eq!(clean_name(&"é".repeat(101)), None);
    }

    #[test]
    fn email_validation() {
        assert!(valid_email("ann@example.com"));
        assert!(valid_email(" Ann@Example.COM "));
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@example.com",
            "a@b@c.com",
            "ann@.com",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
