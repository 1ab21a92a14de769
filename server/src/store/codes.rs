//! Authorization codes. Consumption is one atomic `UPDATE … WHERE consumed_at IS NULL`, so
//! two instances racing on one code give exactly one winner (SECURITY.md §5.3); on
//! PostgreSQL the refresh token is stored by the same statement ([`consume_and_issue`]).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use entity::authorization_code::{self, Column, Entity};
use entity::{refresh_token, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    IdenStatic, IntoActiveModel, Iterable, JoinType, QueryFilter, QuerySelect, RelationDef,
    Statement, Value,
};

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

/// The code and its user (`None` when the account is gone) in one query: the exchange
/// needs both before it consumes the code, and reading them apart cost a round trip.
pub async fn by_hash_with_user(
    db: &impl ConnectionTrait,
    code_hash: &str,
) -> Result<Option<(authorization_code::Model, Option<user::Model>)>, StoreError> {
    let to_user: RelationDef = Entity::belongs_to(user::Entity)
        .from(Column::UserId)
        .to(user::Column::Id)
        .into();
    Ok(Entity::find()
        .join(JoinType::LeftJoin, to_user)
        .select_also(user::Entity)
        .filter(Column::CodeHash.eq(code_hash))
        .one(db)
        .await?)
}

/// Consume the code, record what it issued and store the family's first refresh token, all
/// or nothing. `false` when the code was already consumed (or expired): nothing is written.
///
/// On PostgreSQL this is ONE statement, a data-modifying CTE in autocommit:
/// `WITH consumed AS (UPDATE authorization_code … WHERE consumed_at IS NULL … RETURNING 1)
/// INSERT INTO refresh_token … SELECT … FROM consumed`. The statement is atomic (its own
/// transaction), so the code is consumed exactly when its refresh token is stored, and two
/// racing redemptions meet on the code row's lock as before: the loser re-checks
/// `consumed_at IS NULL` after the winner commits, updates nothing and so inserts nothing.
/// It replaces `BEGIN`, the `UPDATE`, the `INSERT` and `COMMIT` (four round trips).
/// On SQLite (in process, no round trips to save) it is the same two statements in one
/// write transaction, under the process's writer lock ([`super::begin_write`]).
pub async fn consume_and_issue(
    db: &DatabaseConnection,
    code_hash: &str,
    client_id: &str,
    now: DateTime<Utc>,
    issued: Issued<'_>,
    refresh: Option<&refresh_token::Model>,
) -> Result<bool, StoreError> {
    if db.get_database_backend() == DbBackend::Postgres {
        let Some(rt) = refresh else {
            // Nothing else to write: the `UPDATE` alone is already atomic.
            return consume(db, code_hash, client_id, now, issued).await;
        };
        let mut values: Vec<Value> = vec![
            now.into(),
            issued.family_id.map(str::to_owned).into(),
            issued.jti.to_owned().into(),
            issued.access_expires.into(),
            code_hash.to_owned().into(),
            client_id.to_owned().into(),
        ];
        let am = rt.clone().into_active_model();
        for c in refresh_token::Column::iter() {
            // Every column of the model, taken from the entity so a new column cannot be
            // left out (`into_active_model` sets them all).
            values.push(am.get(c).into_value().ok_or_else(|| {
                StoreError::Other(sea_orm::DbErr::Custom(format!(
                    "refresh_token.{} unset",
                    c.as_str()
                )))
            })?);
        }
        let stmt =
            Statement::from_sql_and_values(DbBackend::Postgres, &*CONSUME_AND_ISSUE_PG, values);
        return Ok(db.execute_raw(stmt).await?.rows_affected() == 1);
    }
    let txn = super::begin_write(db).await?;
    if !consume(&*txn, code_hash, client_id, now, issued).await? {
        txn.rollback().await?;
        return Ok(false);
    }
    if let Some(rt) = refresh {
        super::tokens::insert(&*txn, rt.clone()).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// The statement of [`consume_and_issue`] on PostgreSQL: $1–$6 are the code's (now, family,
/// jti, access expiry, hash, client), then one parameter per `refresh_token` column.
static CONSUME_AND_ISSUE_PG: LazyLock<String> = LazyLock::new(|| {
    let cols: Vec<&str> = refresh_token::Column::iter().map(|c| c.as_str()).collect();
    let names = cols
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let params = (7..7 + cols.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH consumed AS (UPDATE \"authorization_code\" SET \"consumed_at\" = $1, \"family_id\" = $2, \
         \"access_token_jti\" = $3, \"access_token_expires_at\" = $4 WHERE \"code_hash\" = $5 \
         AND \"client_id\" = $6 AND \"consumed_at\" IS NULL AND \"expires_at\" > $1 RETURNING 1) \
         INSERT INTO \"refresh_token\" ({names}) SELECT {params} FROM consumed"
    )
});
