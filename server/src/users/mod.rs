//! Accounts: creation and lookup rules shared by the CLI, sign-up and the admin API.

pub mod password;

use sea_orm::ConnectionTrait;

use crate::errors::{ApiError, StoreError};
use crate::store;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("the email address is not valid")]
    InvalidEmail,
    #[error(
        "the password must be between {} and {} characters",
        password::MIN_LEN,
        password::MAX_LEN
    )]
    WeakPassword,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::InvalidEmail => {
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
            UserError::Store(s) => s.into(),
            UserError::Unexpected(u) => ApiError::internal(u),
        }
    }
}

/// A plausible email address: one `@`, something on each side, a dot in the domain, no
/// spaces or control characters, at most 254 characters (RFC 5321 §4.5.3.1.3).
pub fn valid_email(email: &str) -> bool {
    let e = email.trim();
    if e.is_empty() || e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

pub fn valid_password(pw: &str) -> bool {
    let n = pw.chars().count();
    (password::MIN_LEN..=password::MAX_LEN).contains(&n)
}

pub async fn create(
    db: &impl ConnectionTrait,
    email: &str,
    password: &str,
    is_admin: bool,
) -> Result<entity::user::Model, UserError> {
    if !valid_email(email) {
        return Err(UserError::InvalidEmail);
    }
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
            now,
        },
    )
    .await
    {
        Err(StoreError::Conflict(_)) => Err(UserError::EmailTaken),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
