//! Authorization codes. Consumption is one atomic `UPDATE … WHERE consumed_at IS NULL`, so
//! two instances racing on one code give exactly one winner (SECURITY.md §5.3); on
//! PostgreSQL the refresh token is stored by the same statement, and exchanges arriving
//! together share one statement and one commit ([`consume_and_issue`], [`GroupConsume`]).

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
) -> Result<Option<CodeWithUser>, StoreError> {
    Ok(with_user()
        .filter(Column::CodeHash.eq(code_hash))
        .one(db)
        .await?)
}

/// Codes joined to their users; a `LEFT JOIN`, so a code is found even when its user is not.
fn with_user() -> sea_orm::SelectTwo<Entity, user::Entity> {
    let to_user: RelationDef = Entity::belongs_to(user::Entity)
        .from(Column::UserId)
        .to(user::Column::Id)
        .into();
    Entity::find()
        .join(JoinType::LeftJoin, to_user)
        .select_also(user::Entity)
}

/// A code and its user (`None` when the account is gone), as an exchange reads it.
pub type CodeWithUser = (authorization_code::Model, Option<user::Model>);

/// The code with this hash and its user, for an exchange: [`by_hash_with_user`], except
/// that on PostgreSQL the read joins a group ([`GroupRead`]): the exchanges that arrive
/// while other reads are out go to the database together, in one statement.
pub async fn read_for_exchange(
    db: &DatabaseConnection,
    group: &GroupRead,
    code_hash: &str,
) -> Result<Option<CodeWithUser>, StoreError> {
    if db.get_database_backend() == DbBackend::Postgres {
        return group.submit(db, code_hash.to_owned()).await;
    }
    by_hash_with_user(db, code_hash).await
}

/// Reads of codes for exchanges on PostgreSQL, grouped ([`super::group_commit`]): under load
/// a round trip, a wake-up of a PostgreSQL backend and an executor start per exchange were
/// most of what a read cost either side. Nothing about the exchange's checks changes: the
/// read only tells the request what to check before it consumes the code, and the consuming
/// statement checks the code's row again under its lock ([`CONSUME_AND_ISSUE_PG`]).
pub type GroupRead = super::group_commit::GroupCommit<Reads>;

/// The grouped read of codes (with their users) by hash.
#[derive(Default)]
pub struct Reads;

impl super::group_commit::Batch for Reads {
    type Item = String;
    type Outcome = Option<CodeWithUser>;
    /// The hashes go as one bound JSON array; this caps the rows one statement returns.
    const MAX: usize = 128;
    /// Reads take no locks, so two batches may run at once and a read need not wait for a
    /// slow one. (Four made the batches smaller and exchanges no faster, BENCHMARKS.md.)
    const IN_FLIGHT: usize = 2;
    const NAME: &'static str = "code read batch";

    async fn run(
        &self,
        db: &super::Db,
        hashes: &[String],
    ) -> Result<Vec<Self::Outcome>, StoreError> {
        // The hashes as one JSON array: one statement text for every batch size, so each
        // connection prepares it once (an `IN ($1, $2, …)` list would be a new statement,
        // parsed and planned again, for every size).
        let list = serde_json::Value::from(hashes.to_vec());
        let found: std::collections::HashMap<String, CodeWithUser> = with_user()
            .filter(Expr::cust_with_values(
                "\"authorization_code\".\"code_hash\" = \
                 ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
                [Value::Json(Some(Box::new(list)))],
            ))
            .all(db)
            .await?
            .into_iter()
            .map(|(code, user)| (code.code_hash.clone(), (code, user)))
            .collect();
        // A hash twice in one batch (the same code sent twice at once) gets the row twice.
        Ok(hashes.iter().map(|h| found.get(h).cloned()).collect())
    }
}

/// Consume the code, record what it issued and store the family's first refresh token, all
/// or nothing. `false` when the code was already consumed (or expired): nothing is written.
///
/// On PostgreSQL the exchange joins a group commit ([`GroupConsume`]): exchanges that arrive
/// while another batch is being written go together in ONE autocommit statement
/// ([`CONSUME_AND_ISSUE_PG`]), one transaction and one WAL flush for all of them, and each
/// learns its own outcome. The statement is atomic, so a code is consumed exactly when its
/// refresh token is stored; two racing redemptions (in one batch, or from two instances)
/// meet on the code row's lock and the loser updates nothing and so inserts nothing.
/// On SQLite (in process, no round trips to save) it is two statements in one write
/// transaction, under the process's writer lock ([`super::begin_write`]).
pub async fn consume_and_issue(
    db: &DatabaseConnection,
    group: &GroupConsume,
    code_hash: &str,
    client_id: &str,
    now: DateTime<Utc>,
    issued: Issued<'_>,
    refresh: Option<&refresh_token::Model>,
) -> Result<bool, StoreError> {
    if db.get_database_backend() == DbBackend::Postgres {
        let rt = match refresh {
            Some(rt) => refresh_json(rt)?,
            None => serde_json::Value::Null,
        };
        let row = serde_json::json!({
            "code_hash": code_hash,
            "client_id": client_id,
            "now": ts(now),
            "family_id": issued.family_id,
            "jti": issued.jti,
            "access_expires": ts(issued.access_expires),
            "rt": rt,
        });
        return group.submit(db, row).await;
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

/// A timestamp as PostgreSQL reads it back equal (microseconds, UTC).
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Every column of the refresh token as a JSON object keyed by column name (PostgreSQL's
/// `jsonb_populate_record(NULL::refresh_token, …)` turns it back into a row). Taken from the
/// entity, so a new column cannot be left out; a column of a type not handled here is an
/// error, not a silently dropped value.
fn refresh_json(rt: &refresh_token::Model) -> Result<serde_json::Value, StoreError> {
    let am = rt.clone().into_active_model();
    let mut obj = serde_json::Map::new();
    for c in refresh_token::Column::iter() {
        let unset = || {
            StoreError::Other(sea_orm::DbErr::Custom(format!(
                "refresh_token.{} unset or of an unexpected type",
                c.as_str()
            )))
        };
        let v = match am.get(c).into_value().ok_or_else(unset)? {
            Value::String(s) => s.map_or(serde_json::Value::Null, |s| (*s).into()),
            Value::Bool(b) => b.map_or(serde_json::Value::Null, Into::into),
            Value::ChronoDateTimeUtc(t) => t.map_or(serde_json::Value::Null, |t| ts(t).into()),
            _ => return Err(unset()),
        };
        obj.insert(c.as_str().to_owned(), v);
    }
    Ok(serde_json::Value::Object(obj))
}

/// Code exchanges on PostgreSQL are group-committed ([`super::group_commit`]): exchanges
/// that arrive while another batch is being written go together in one statement
/// ([`CONSUME_AND_ISSUE_PG`]), one transaction and one WAL flush for all of them.
pub type GroupConsume = super::group_commit::GroupCommit<Exchanges>;

/// The grouped write of code exchanges; an item is one exchange's row (see
/// [`CONSUME_AND_ISSUE_PG`] for its fields, less `ord`).
#[derive(Default)]
pub struct Exchanges;

impl super::group_commit::Batch for Exchanges {
    type Item = serde_json::Value;
    type Outcome = bool;
    const MAX: usize = 64;
    const NAME: &'static str = "code exchange batch";

    async fn run(
        &self,
        db: &super::Db,
        chunk: &[serde_json::Value],
    ) -> Result<Vec<bool>, StoreError> {
        let won = consume_many(db, chunk).await?;
        Ok((0..chunk.len())
            .map(|i| i32::try_from(i).is_ok_and(|i| won.contains(&i)))
            .collect())
    }
}

/// One statement for every exchange of `chunk`; the positions (in `chunk`) whose code it
/// consumed.
async fn consume_many(
    db: &DatabaseConnection,
    chunk: &[serde_json::Value],
) -> Result<std::collections::HashSet<i32>, StoreError> {
    let rows: Vec<serde_json::Value> = chunk
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut row = row.clone();
            if let Some(o) = row.as_object_mut() {
                o.insert("ord".to_owned(), i.into());
            }
            row
        })
        .collect();
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        CONSUME_AND_ISSUE_PG,
        [Value::Json(Some(Box::new(serde_json::Value::Array(rows))))],
    );
    db.query_all_raw(stmt)
        .await?
        .into_iter()
        .map(|r| r.try_get::<i32>("", "ord").map_err(StoreError::from))
        .collect()
}

/// The statement of a batch of exchanges on PostgreSQL; `$1` is a JSON array of
/// `{ord, code_hash, client_id, now, family_id, jti, access_expires, rt}` (`rt` the refresh
/// token's row, or null). The codes' rows are locked first in `code_hash` order (two
/// instances' batches over the same codes cannot deadlock), then each is consumed only if
/// it is still unconsumed, unexpired (at that exchange's `now`) and issued to that client —
/// checked again on the newest row version after any wait for a lock — and the refresh
/// tokens of exactly the consumed ones are inserted. A code twice in one batch is consumed
/// once: `UPDATE … FROM` updates a row once and returns the one input row it used. Returns
/// the `ord` of each exchange that won.
const CONSUME_AND_ISSUE_PG: &str = "\
WITH i AS MATERIALIZED (\
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ord int, code_hash text, client_id text, \
  now timestamptz, family_id text, jti text, access_expires timestamptz, rt jsonb)), \
locked AS (SELECT c.id FROM \"authorization_code\" c \
  WHERE c.code_hash = ANY(ARRAY(SELECT code_hash FROM i)) ORDER BY c.code_hash FOR UPDATE OF c), \
consumed AS (UPDATE \"authorization_code\" c SET consumed_at = i.now, family_id = i.family_id, \
  access_token_jti = i.jti, access_token_expires_at = i.access_expires FROM i \
  WHERE c.id IN (SELECT id FROM locked) AND c.code_hash = i.code_hash \
  AND c.client_id = i.client_id AND c.consumed_at IS NULL AND c.expires_at > i.now \
  RETURNING i.ord, i.rt), \
issued AS (INSERT INTO \"refresh_token\" SELECT r.* FROM consumed, \
  jsonb_populate_record(NULL::\"refresh_token\", consumed.rt) r WHERE consumed.rt IS NOT NULL) \
SELECT ord FROM consumed";
