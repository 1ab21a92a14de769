//! Authorization codes. Consumption is one atomic `UPDATE … WHERE consumed_at IS NULL
//! RETURNING`, so two instances racing on one code give exactly one winner (SECURITY.md §5.3).

use chrono::{DateTime, Utc};
use entity::authorization_code::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    m: authorization_code::Model,
) -> Result<(), StoreError> {
    Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// What a code's redemption issued, recorded so a replay can revoke it (RFC 6749 §4.1.2).
pub struct Issued<'a> {
    pub family_id: Option<&'a str>,
    pub jti: &'a str,
    pub access_expires: DateTime<Utc>,
}

/// Consume the code and record what it issued, in one atomic statement
/// (`UPDATE … WHERE consumed_at IS NULL AND expires_at > now`, SECURITY.md §5.3).
/// `false` when it was already consumed (or expired) — then [`by_hash`] tells which.
pub async fn consume(
    db: &impl ConnectionTrait,
    code_hash: &str,
    client_id: &str,
    now: DateTime<Utc>,
    issued: Issued<'_>,
) -> Result<bool, StoreError> {
    let r = Entity::update_many()
        .col_expr(Column::ConsumedAt, Expr::value(now))
        .col_expr(
            Column::FamilyId,
            Expr::value(issued.family_id.map(str::to_owned)),
        )
        .col_expr(Column::AccessTokenJti, Expr::value(issued.jti.to_owned()))
        .col_expr(
            Column::AccessTokenExpiresAt,
            Expr::value(issued.access_expires),
        )
        .filter(Column::CodeHash.eq(code_hash))
        .filter(Column::ClientId.eq(client_id))
        .filter(Column::ConsumedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn by_hash(
    db: &impl ConnectionTrait,
    code_hash: &str,
) -> Result<Option<authorization_code::Model>, StoreError> {
    Ok(Entity::find()
        .filter(Column::CodeHash.eq(code_hash))
        .one(db)
        .await?)
}

/// Void the codes of `user_id` that were issued but not yet redeemed, so none of them can
/// still be exchanged for a token: for one client when consent is withdrawn, or those of one
/// browser session (`auth_time`) when it signs out. They are expired rather than marked
/// consumed, so a later redemption is an ordinary `invalid_grant` and not taken for a replay
/// (which would revoke, and audit, what the code "issued"). Call it before collecting the
/// access tokens codes issued: a redemption racing with it either loses (the code is
/// void) or has committed its `jti` by the time the caller reads them. Returns how many
/// were voided.
pub async fn void_unredeemed(
    db: &impl ConnectionTrait,
    user_id: &str,
    client_id: Option<&str>,
    auth_time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut q = Entity::update_many()
        // Expired as of its own creation: no redemption clock can still find it live, and
        // the row stays (for reuse diagnosis) until `sweep` removes it like any other.
        .col_expr(Column::ExpiresAt, Expr::col(Column::CreatedAt))
        .filter(Column::UserId.eq(user_id))
        .filter(Column::ConsumedAt.is_null())
        .filter(Column::ExpiresAt.gt(now));
    if let Some(c) = client_id {
        q = q.filter(Column::ClientId.eq(c));
    }
    if let Some(t) = auth_time {
        q = q.filter(Column::AuthTime.eq(t));
    }
    Ok(q.exec(db).await?.rows_affected)
}
