//! API-key rows, looked up by SHA-256 digest.

use entity::api_key::{self, Column, Entity};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    m: api_key::Model,
) -> Result<api_key::Model, StoreError> {
    let id = m.id.clone();
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Entity::find_by_id(id.clone())
        .one(db)
        .await?
        .ok_or_else(|| StoreError::Other(sea_orm::DbErr::RecordNotFound(id)))
}

pub async fn by_hash(
    db: &impl ConnectionTrait,
    key_hash: &str,
) -> Result<Option<api_key::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::KeyHash.eq(key_hash))
        .one(db)
        .await?)
}

pub async fn by_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<api_key::Model>, StoreError> {
    Ok(Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// A user's keys, newest first; `livemode` filters by mode.
pub async fn page(
    db: &impl ConnectionTrait,
    user_id: &str,
    livemode: Option<bool>,
    include_revoked: bool,
    limit: u64,
    starting_after: Option<&str>,
) -> Result<Vec<api_key::Model>, StoreError> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut q = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .order_by_desc(Column::Id)
        .limit(limit);
    if let Some(l) = livemode {
        q = q.filter(Column::Livemode.eq(l));
    }
    if !include_revoked {
        q = q.filter(Column::RevokedAt.is_null());
    }
    if let Some(after) = starting_after {
        q = q.filter(Column::Id.lt(after));
    }
    Ok(q.all(db).await?)
}

pub async fn update(
    db: &impl ConnectionTrait,
    m: api_key::ActiveModel,
) -> Result<api_key::Model, StoreError> {
    use sea_orm::ActiveModelTrait;
    Ok(m.update(db).await?)
}

/// Record use; callers throttle this to once a minute per key.
pub async fn touch(
    db: &impl ConnectionTrait,
    id: &str,
    at: chrono::DateTime<chrono::Utc>,
    ip: Option<String>,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    Entity::update_many()
        .col_expr(Column::LastUsedAt, Expr::value(at))
        .col_expr(Column::LastUsedIp, Expr::value(ip))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// How many of a user's keys in one mode still work (neither revoked nor expired).
pub async fn count_working(
    db: &impl ConnectionTrait,
    user_id: &str,
    livemode: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, StoreError> {
    use sea_orm::{Condition, PaginatorTrait};
    Ok(Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Livemode.eq(livemode))
        .filter(Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(Column::ExpiresAt.is_null())
                .add(Column::ExpiresAt.gt(now)),
        )
        .count(db)
        .await?)
}

/// Mark a key revoked at `at`.
pub async fn set_revoked(
    db: &impl ConnectionTrait,
    key: &api_key::Model,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<api_key::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut m = key.clone().into_active_model();
    m.revoked_at = Set(Some(at));
    update(db, m).await
}

/// Record that a key was rolled to `rolled_to`; `expires_at`, when given, becomes the
/// old key's expiry (`None` leaves the current one).
pub async fn set_rolled(
    db: &impl ConnectionTrait,
    key: &api_key::Model,
    rolled_to: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<api_key::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut m = key.clone().into_active_model();
    m.rolled_to = Set(Some(rolled_to.to_owned()));
    if let Some(until) = expires_at {
        m.expires_at = Set(Some(until));
    }
    update(db, m).await
}

/// A key's own rate (requests per second), or `None` for its mode's default.
pub async fn set_rate_limit(
    db: &impl ConnectionTrait,
    key: &api_key::Model,
    rate: Option<i32>,
) -> Result<api_key::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut m = key.clone().into_active_model();
    m.rate_limit = Set(rate);
    update(db, m).await
}

/// Store a new (already validated) name.
pub async fn rename(
    db: &impl ConnectionTrait,
    key: &api_key::Model,
    name: &str,
) -> Result<api_key::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut m = key.clone().into_active_model();
    m.name = Set(name.to_owned());
    update(db, m).await
}

/// Store a key's policy columns (already validated by `api_keys::Policies`).
pub async fn set_policies(
    db: &impl ConnectionTrait,
    m: &api_key::Model,
) -> Result<api_key::Model, StoreError> {
    use sea_orm::ActiveValue::Set;
    let mut a = m.clone().into_active_model();
    a.expires_at = Set(m.expires_at);
    a.expiry_notice = Set(m.expiry_notice);
    a.remaining = Set(m.remaining);
    a.refill_amount = Set(m.refill_amount);
    a.refill_interval = Set(m.refill_interval.clone());
    a.refilled_at = Set(m.refilled_at);
    a.allowed_ips = Set(m.allowed_ips.clone());
    a.metadata = Set(m.metadata.clone());
    update(db, a).await
}

/// What a capped key's row has left (`None`: uncapped, or no such key).
pub async fn remaining(db: &impl ConnectionTrait, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .and_then(|k| k.remaining))
}

/// Lease `n` uses: one atomic conditional decrement (`remaining >= n`), so concurrent
/// instances never take more than the row holds. Whether it succeeded.
pub async fn take(db: &impl ConnectionTrait, id: &str, n: i64) -> Result<bool, StoreError> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let r = Entity::update_many()
        .col_expr(
            Column::Remaining,
            Expr::col(Column::Remaining).sub(Expr::value(n)),
        )
        .filter(Column::Id.eq(id))
        .filter(Column::Remaining.gte(n))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Set `remaining` back to `amount` if the last refill is older than `period_start`: one
/// conditional statement, so of several instances exactly one applies each period's refill.
pub async fn refill(
    db: &impl ConnectionTrait,
    id: &str,
    amount: i64,
    period_start: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StoreError> {
    use sea_orm::Condition;
    use sea_orm::sea_query::Expr;
    let r = Entity::update_many()
        .col_expr(Column::Remaining, Expr::value(amount))
        .col_expr(Column::RefilledAt, Expr::value(period_start))
        .filter(Column::Id.eq(id))
        .filter(Column::RefillAmount.is_not_null())
        .filter(
            Condition::any()
                .add(Column::RefilledAt.is_null())
                .add(Column::RefilledAt.lt(period_start)),
        )
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Keys expiring before `until` (not yet expired, not revoked) whose last notice was not
/// already for `days` or fewer: the sweeper's `api_key.expiring` candidates.
pub async fn expiring(
    db: &impl ConnectionTrait,
    now: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
    days: i32,
) -> Result<Vec<api_key::Model>, StoreError> {
    use sea_orm::{Condition, QuerySelect};
    // A rolled key's expiry is its grace period, chosen by the one who rolled it: no notice.
    Ok(Entity::find()
        .filter(Column::RevokedAt.is_null())
        .filter(Column::RolledTo.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .filter(Column::ExpiresAt.lte(until))
        .filter(
            Condition::any()
                .add(Column::ExpiryNotice.is_null())
                .add(Column::ExpiryNotice.gt(days)),
        )
        .limit(1000)
        .all(db)
        .await?)
}

/// Mark that the `days`-before notice went out; conditional, so two sweepers send it once.
pub async fn mark_notice(
    db: &impl ConnectionTrait,
    id: &str,
    days: i32,
) -> Result<bool, StoreError> {
    use sea_orm::Condition;
    use sea_orm::sea_query::Expr;
    let r = Entity::update_many()
        .col_expr(Column::ExpiryNotice, Expr::value(days))
        .filter(Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(Column::ExpiryNotice.is_null())
                .add(Column::ExpiryNotice.gt(days)),
        )
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// The ids of every key of a user (revoked ones too), for deleting the account.
pub async fn ids_of_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<String>, StoreError> {
    use sea_orm::QuerySelect;
    Ok(Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::UserId.eq(user_id))
        .into_tuple::<String>()
        .all(db)
        .await?)
}
