//! Used DPoP proofs (RFC 9449 §11.1) when there is no Redis: one row per (key, `jti`),
//! inserted once; the primary key makes the second insert, from any instance, a no-op.

use entity::dpop_proof::{Column, Entity};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, Value,
};

use super::StoreError;

/// Forget proofs whose window has passed.
pub async fn sweep(
    db: &impl ConnectionTrait,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    Entity::delete_many()
        .filter(Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(())
}

/// Used proofs are group-committed ([`super::group_commit`]): every request that must record
/// a `jti` queues it, and one autocommit statement records everything queued so far,
/// `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING key`, so under load SQLite's writer
/// lock and WAL append are paid per batch instead of per proof.
///
/// Single use is unchanged (RFC 9449 §11.1): the row's primary key is still the judge, across
/// every instance sharing the database; a key that appears twice in one batch is "first"
/// for its first request only; a batch that cannot be written fails every request in it
/// (503), so nothing is accepted unrecorded.
pub type GroupInsert = super::group_commit::GroupCommit<UsedProofs>;

/// A used proof's key and the end of its window.
pub type UsedProof = (String, chrono::DateTime<chrono::Utc>);

/// The grouped write of used proofs.
pub struct UsedProofs;

impl super::group_commit::Batch for UsedProofs {
    type Item = UsedProof;
    type Outcome = bool;
    /// The keys go as one bound JSON array (two parameters in all); this bounds the rows one
    /// statement writes.
    const MAX: usize = 256;
    const NAME: &'static str = "DPoP replay batch";

    async fn run(db: &super::Db, chunk: &[UsedProof]) -> Result<Vec<bool>, StoreError> {
        let inserted = insert_many_once(db, chunk).await?;
        let mut answered = std::collections::HashSet::new();
        // A key twice in one batch: the first request only.
        Ok(chunk
            .iter()
            .map(|(key, _)| inserted.contains(key) && answered.insert(key))
            .collect())
    }
}

/// Record every key of `rows` in one statement; the keys that were new.
///
/// One statement text for every batch size: the keys go as one bound JSON array, so each
/// connection prepares and caches one statement (with a `VALUES` tuple per proof it was one
/// per batch size, up to 256 rows and 512 parameters each). The batch's rows share the latest
/// end of window among them: a row kept a little longer is still correct (it only has to
/// outlive its own proof's `iat` window), and it spares a second array.
async fn insert_many_once(
    db: &super::Db,
    rows: &[UsedProof],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let Some(expires_at) = rows.iter().map(|(_, at)| *at).max() else {
        return Ok(Default::default());
    };
    let keys = serde_json::Value::from(rows.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>());
    let keys = Value::String(Some(keys.to_string()));
    let backend = db.get_database_backend();
    // Built by hand: sea-orm asks SQLite for `RETURNING` only behind a feature flag that
    // would change every other insert; SQLite ≥ 3.35 and PostgreSQL both return exactly
    // the rows a `DO NOTHING` insert wrote. SQLite needs the `WHERE true` to read
    // `ON CONFLICT` as the upsert clause rather than a join's.
    let (sql, values) = match backend {
        DbBackend::Postgres => (
            "INSERT INTO \"dpop_proof\" (\"key\", \"expires_at\") \
             SELECT k, $2 FROM jsonb_array_elements_text($1::jsonb) AS k \
             ON CONFLICT (\"key\") DO NOTHING RETURNING \"key\"",
            vec![keys, expires_at.into()],
        ),
        _ => (
            "INSERT INTO \"dpop_proof\" (\"key\", \"expires_at\") \
             SELECT \"value\", ? FROM json_each(?) WHERE true \
             ON CONFLICT (\"key\") DO NOTHING RETURNING \"key\"",
            vec![expires_at.into(), keys],
        ),
    };
    // One statement is atomic on its own: no `BEGIN` / `COMMIT` round trips (two of the
    // three the batch cost). On SQLite the writer lock is still taken first, so the batch
    // queues behind other writers in process instead of in SQLite's busy handler.
    let _writer = super::lock_writer(db).await?;
    let inserted = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "key"))
        .collect::<Result<_, _>>()?;
    Ok(inserted)
}
