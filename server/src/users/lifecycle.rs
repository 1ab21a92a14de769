//! The end and the change of an account (issue #12 item 7, #15 item 7; DESIGN.md "Accounts
//! people can trust"): deleting an account, changing its email through a mailed link, and
//! the rules both share. The dashboard, `latch user delete` and `DELETE /v1/users/{id}`
//! call [`delete_account`]; the Settings page and `/email/change` call the email-change
//! functions.
//!
//! Deleting removes the `user` row, so everything keyed by it goes with it (foreign keys
//! cascade): the apps the person registered (with their codes, refresh tokens, consents,
//! device codes and logos — deleted, not merely disabled: an app whose owner is gone has
//! nobody to manage it, and a kept row would keep its secret's digest and name for
//! nothing), their API keys, consents, refresh tokens, TOTP factor, recovery codes and
//! browser sessions. Before the row goes, every access token those grants issued is put on
//! the deny list (RFC 7009 §2.2 reasoning: a revoked grant's tokens stop), so they stop
//! within the revocation delay (the deny-list sync, 1 s); what checks the account row
//! (sessions, API keys, `/v1` and userinfo tokens) stops at once here and within the row
//! caches' TTL on other instances. Audit events stay, with the address replaced by
//! [`DELETED_USER`]. The address is free again: it can sign up as a new account.

use chrono::{DateTime, Utc};
use entity::user;

use super::links::{Outbox, Purpose};
use super::{UserError, email};
use crate::errors::StoreError;
use crate::store::{self, Conn};

/// What audit events show where a deleted account's email was.
pub const DELETED_USER: &str = "deleted user";

/// The `user_token.purpose` of an email-change link; its `email` is the new address.
pub const EMAIL_CHANGE: &str = "email_change";

/// Why an account was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// A server keeps at least one enabled admin (who else would manage it?).
    #[error("this is the only admin account of this server; make another account an admin first")]
    LastAdmin,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Delete `target` and everything it owns (see the module doc), in one transaction; the
/// caller records [`crate::audit::AuditKind::AccountDeleted`] afterwards and catches its
/// deny-list replica up. The caches of this instance forget the account, its keys and its
/// apps at once.
pub async fn delete_account(
    db: &store::Db,
    keys: &crate::api_keys::KeyCache,
    rows: &store::RowCaches,
    target: &user::Model,
    now: DateTime<Utc>,
) -> Result<(), DeleteError> {
    let tx = store::begin_write(db).await?;
    if target.is_admin && store::users::count_other_admins(&*tx, &target.id).await? == 0 {
        return Err(DeleteError::LastAdmin);
    }
    // The apps it registered: every token they were issued, for anyone, is revoked first
    // (their rows go with the account).
    let apps = store::clients::ids_owned(&*tx, &target.id).await?;
    for id in &apps {
        store::tokens::revoke_client_grants(&*tx, id, now).await?;
    }
    // Its own grants to every app, and what was exchanged from its keys (RFC 8693).
    store::tokens::revoke_user_grants(&*tx, &target.id, None, now).await?;
    for key in store::api_keys::ids_of_user(&*tx, &target.id).await? {
        store::tokens::deny_derived(&*tx, &key, now).await?;
    }
    // Its address, in the stored and lookup forms, and those its links were sent to
    // (earlier addresses, while their links are kept).
    let mut emails = vec![target.email.clone(), email::lookup_key(&target.email)];
    for e in store::user_tokens::emails_of(&*tx, &target.id).await? {
        if !emails.contains(&e) {
            emails.push(e);
        }
    }
    store::user_tokens::delete_for_user(&*tx, &target.id).await?;
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    store::audit::redact(&*tx, &emails, DELETED_USER).await?;
    store::users::delete(&*tx, &target.id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    keys.clear();
    rows.forget_user(&target.id);
    for id in &apps {
        rows.forget_client(id);
    }
    Ok(())
}

/// Why an email change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{0}")]
    Email(email::EmailProblem),
    #[error("that is already the account's address")]
    Same,
    #[error("an account with this email already exists")]
    Taken,
    #[error(transparent)]
    User(#[from] UserError),
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> Self {
        ChangeError::User(UserError::Store(e))
    }
}

/// `ann@example.com` → `a**@example.com`: enough for the old address's owner to recognise
/// their own new address, not enough to hand a stranger someone's mailbox.
pub fn mask(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            let stars = "*".repeat(local.chars().count().saturating_sub(1).clamp(2, 8));
            format!("{first}{stars}@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// Start an email change: the new address must pass the rules of a new account's
/// ([`email::check_new`]: well formed, no look-alikes) and be free. A link to
/// `/email/change?token=…` (single use, 24 hours, stored as its digest) is mailed to the
/// new address, and a notice to the old one; earlier change links of the account stop
/// working. Nothing about the account changes until the link is used. `db` is a write
/// transaction: the token and both mails commit together; the caller wakes the mailer.
/// Returns the new address as stored.
pub async fn request_email_change(
    db: &impl Conn,
    out: &Outbox<'_>,
    user: &user::Model,
    new_raw: &str,
    now: DateTime<Utc>,
) -> Result<String, ChangeError> {
    let new = email::check_new(new_raw).map_err(ChangeError::Email)?;
    if email::lookup_key(&new) == email::lookup_key(&user.email) {
        return Err(ChangeError::Same);
    }
    if store::users::by_email(db, &new).await?.is_some() {
        return Err(ChangeError::Taken);
    }
    store::user_tokens::use_all(db, &user.id, EMAIL_CHANGE, now).await?;
    let token = crate::crypto::random_base62(43);
    let ttl = Purpose::EmailVerify.ttl();
    store::user_tokens::insert(
        db,
        store::user_tokens::NewToken {
            token_hash: &crate::crypto::sha256_hex(&token),
            user_id: &user.id,
            purpose: EMAIL_CHANGE,
            email: &new,
            now,
            expires_at: now + ttl,
        },
    )
    .await?;
    let url = format!(
        "{}/email/change?token={token}",
        out.issuer.trim_end_matches('/')
    );
    let m = crate::mail::templates::email_change(out.brand, &user.email, &new, &url, ttl)
        .map_err(UserError::from)?;
    out.mailer
        .enqueue(db, out.sealer, &m)
        .await
        .map_err(UserError::from)?;
    let notice = crate::mail::templates::email_change_notice(out.brand, &user.email, &mask(&new))
        .map_err(UserError::from)?;
    out.mailer
        .enqueue(db, out.sealer, &notice)
        .await
        .map_err(UserError::from)?;
    Ok(new)
}

/// Use an email-change link: once, while live, and only while no other account took the
/// address meanwhile. The account's email becomes the new one, verified (the link proved
/// the mailbox); its other pending links (reset, verification, change) stop. Returns the
/// account before and after, or `None` for a link that is not (or no longer) valid.
pub async fn confirm_email_change(
    db: &store::Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(user::Model, user::Model)>, ChangeError> {
    let Some(hash) = super::links::digest(token) else {
        return Ok(None);
    };
    let tx = store::begin_write(db).await?;
    let Some(t) = store::user_tokens::consume(&*tx, &hash, EMAIL_CHANGE, now).await? else {
        return Ok(None);
    };
    let Some(before) = store::users::by_id(&*tx, &t.user_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
    else {
        tx.commit().await.map_err(StoreError::from)?;
        return Ok(None);
    };
    if store::users::by_email(&*tx, &t.email)
        .await?
        .is_some_and(|u| u.id != before.id)
    {
        // Taken since the link was mailed: the link is used up, the account unchanged.
        tx.commit().await.map_err(StoreError::from)?;
        return Err(ChangeError::Taken);
    }
    match store::users::set_email(&*tx, &before.id, &t.email, now).await {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Err(ChangeError::Taken),
        Err(e) => return Err(e.into()),
    }
    for p in [Purpose::PasswordReset, Purpose::EmailVerify] {
        store::user_tokens::use_all(&*tx, &before.id, p.as_str(), now).await?;
    }
    store::user_tokens::use_all(&*tx, &before.id, EMAIL_CHANGE, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    let after = store::users::by_id(db, &before.id).await?;
    Ok(after.map(|a| (before, a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_addresses_keep_the_first_letter_and_the_domain() {
        assert_eq!(mask("ann@example.com"), "a**@example.com");
        assert_eq!(mask("a@x.io"), "a**@x.io");
        assert_eq!(mask("bartholomew.long@x.io"), "b********@x.io");
        assert_eq!(mask("nope"), "***");
    }
}
