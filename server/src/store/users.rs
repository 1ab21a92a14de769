//! User rows. Emails are unique case-insensitively through `email_normalized`.

use chrono::{DateTime, Utc};
use entity::user::{self, ActiveModel, Column, Entity};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::StoreError;

/// The unique lookup form of an address: NFKC, trimmed, lower case (`email`), so
/// `ＡＬＩＣＥ@example.com` finds `alice@example.com`.
pub fn normalize_email(email: &str) -> String {
    crate::email::lookup_key(email)
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
    /// The operator vouches for the address (`latch user create --email-verified`).
    pub email_verified: bool,
    pub now: DateTime<Utc>,
}

pub async fn insert(db: &impl ConnectionTrait, u: NewUser<'_>) -> Result<user::Model, StoreError> {
    let m = ActiveModel {
        id: Set(u.id.to_owned()),
        email: Set(crate::email::normalize(u.email)),
        email_normalized: Set(normalize_email(u.email)),
        email_verified_at: Set(u.email_verified.then_some(u.now)),
        password_hash: Set(u.password_hash.to_owned()),
        name: Set(None),
        is_admin: Set(u.is_admin),
        disabled_at: Set(None),
        sessions_valid_after: Set(u.now),
        failed_login_count: Set(0),
        locked_until: Set(None),
        created_at: Set(u.now),
        updated_at: Set(u.now),
    };
    Entity::insert(m.clone()).exec_without_returning(db).await?;
    by_id(db, u.id)
        .await?
        .ok_or_else(|| StoreError::Other(sea_orm::DbErr::RecordNotFound(u.id.to_owned())))
}

pub async fn by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<user::Model>, StoreError> {
    Ok(Entity::find_by_id(id.to_owned()).one(db).await?)
}

pub async fn by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::EmailNormalized.eq(normalize_email(email)))
        .one(db)
        .await?)
}

pub async fn count(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    Ok(Entity::find().count(db).await?)
}

/// Newest first; `starting_after` is the id of the last object of the previous page.
pub async fn page(
    db: &impl ConnectionTrait,
    limit: u64,
    starting_after: Option<&str>,
) -> Result<Vec<user::Model>, StoreError> {
    let mut q = Entity::find().order_by_desc(Column::Id).limit(limit);
    if let Some(after) = starting_after {
        q = q.filter(Column::Id.lt(after));
    }
    Ok(q.all(db).await?)
}

pub async fn update(
    db: &impl ConnectionTrait,
    m: user::ActiveModel,
) -> Result<user::Model, StoreError> {
    use sea_orm::ActiveModelTrait;
    Ok(m.update(db).await?)
}

/// A user row for the hot read paths (introspection, `/v1`, client checks), from this
/// instance's cache (see [`super::cache`]).
pub async fn by_id_cached(
    db: &impl ConnectionTrait,
    rows: &super::RowCaches,
    id: &str,
) -> Result<Option<std::sync::Arc<user::Model>>, StoreError> {
    if let Some(hit) = rows.users.get(id) {
        return Ok(hit);
    }
    let row = by_id(db, id).await?.map(std::sync::Arc::new);
    rows.users.insert(id.to_owned(), row.clone());
    Ok(row)
}

/// The users with these ids (for labelling events); unknown ids are skipped.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<user::Model>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(Entity::find()
        .filter(Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?)
}

/// Set or clear the display name (`name`, OIDC Core §5.1).
pub async fn set_name(
    db: &impl ConnectionTrait,
    u: &user::Model,
    name: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<user::Model, StoreError> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let mut m = u.clone().into_active_model();
    m.name = Set(name);
    m.updated_at = Set(now);
    Ok(m.update(db).await?)
}

/// Store a new password hash; sessions from before `now` end (`sessions_valid_after`).
pub async fn set_password(
    db: &impl ConnectionTrait,
    u: &user::Model,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<user::Model, StoreError> {
    use sea_orm::IntoActiveModel;
    let mut m = u.clone().into_active_model();
    m.password_hash = Set(password_hash);
    m.sessions_valid_after = Set(now);
    m.updated_at = Set(now);
    update(db, m).await
}

/// Replace the account's password hash `old` by `new` (the same password, hashed with
/// today's settings), only while the row still holds `old`; whether it did. Sessions stay.
pub async fn replace_password_hash(
    db: &super::Db,
    id: &str,
    old: &str,
    new: String,
) -> Result<bool, StoreError> {
    use sea_orm::sea_query::Expr;
    let _writer = super::lock_writer(db).await?;
    let done = Entity::update_many()
        .col_expr(Column::PasswordHash, Expr::value(new))
        .filter(Column::Id.eq(id))
        .filter(Column::PasswordHash.eq(old))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Disable (from `now`, ending its sessions) or re-enable an account.
pub async fn set_disabled(
    db: &impl ConnectionTrait,
    u: &user::Model,
    disabled: bool,
    now: DateTime<Utc>,
) -> Result<user::Model, StoreError> {
    use sea_orm::IntoActiveModel;
    let mut m = u.clone().into_active_model();
    m.updated_at = Set(now);
    if disabled {
        m.disabled_at = Set(Some(now));
        m.sessions_valid_after = Set(now);
    } else {
        m.disabled_at = Set(None);
    }
    update(db, m).await
}

/// Grant or withdraw admin rights.
pub async fn set_admin(
    db: &impl ConnectionTrait,
    u: &user::Model,
    admin: bool,
    now: DateTime<Utc>,
) -> Result<user::Model, StoreError> {
    use sea_orm::IntoActiveModel;
    let mut m = u.clone().into_active_model();
    m.is_admin = Set(admin);
    m.updated_at = Set(now);
    update(db, m).await
}

/// Mark the account's address verified at `now`, if it is still `email` (a link mailed to
/// an old address proves nothing about a new one). `true` when it was marked.
pub async fn set_email_verified(
    db: &impl ConnectionTrait,
    id: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use sea_orm::sea_query::Expr;
    let r = Entity::update_many()
        .col_expr(Column::EmailVerifiedAt, Expr::value(Some(now)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::EmailNormalized.eq(normalize_email(email)))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Enabled admins other than `except`: deleting `except` must leave at least one.
pub async fn count_other_admins(
    db: &impl ConnectionTrait,
    except: &str,
) -> Result<u64, StoreError> {
    Ok(Entity::find()
        .filter(Column::IsAdmin.eq(true))
        .filter(Column::DisabledAt.is_null())
        .filter(Column::Id.ne(except))
        .count(db)
        .await?)
}

/// Delete the account row; every table keyed by it cascades (clients it owns with their
/// codes, tokens and consents; its keys, consents, refresh tokens, device codes, TOTP
/// factor, recovery codes and browser sessions). `true` when it existed.
pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    Ok(Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Give the account a new address, proven by the caller (a mailed link): stored NFKC,
/// unique by its lookup form (a race with another account is a `Conflict`), and verified
/// at `now`. `true` when the row was changed.
pub async fn set_email(
    db: &impl ConnectionTrait,
    id: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use sea_orm::sea_query::Expr;
    let r = Entity::update_many()
        .col_expr(Column::Email, Expr::value(crate::email::normalize(email)))
        .col_expr(Column::EmailNormalized, Expr::value(normalize_email(email)))
        .col_expr(Column::EmailVerifiedAt, Expr::value(Some(now)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}
