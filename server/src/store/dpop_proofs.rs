//! Used DPoP proofs (RFC 9449 §11.1) when there is no Redis: one row per (key, `jti`),
//! inserted once; the primary key makes the second insert, from any instance, a no-op.

use entity::dpop_proof::{Column, Entity};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

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

/// The most proofs written in one statement (two bound values each: far below SQLite's
/// and PostgreSQL's limits on parameters).
const MAX_BATCH: usize = 256;

struct Pending {
    key: String,
    expires_at: chrono::DateTime<chrono::Utc>,
    reply: tokio::sync::oneshot::Sender<Result<bool, StoreError>>,
}

/// Group commit of used proofs: every request that must record a `jti` queues it, and one
/// autocommit statement records everything queued so far, `INSERT … ON CONFLICT DO
/// NOTHING RETURNING key`. Under load a commit (SQLite: one writer at a time, its lock,
/// the WAL append at commit) is paid per batch instead of per proof; alone, a request
/// waits for nothing but its own write.
///
/// Single use is unchanged (RFC 9449 §11.1): the row's primary key is still the judge, across
/// every instance sharing the database; a key that appears twice in one batch is "first"
/// for its first request only; a batch that fails fails every request in it (503), so
/// nothing is accepted unrecorded.
#[derive(Default)]
pub struct GroupInsert {
    queue: std::sync::Mutex<Vec<Pending>>,
    /// Held while a batch is written: batches go one after another.
    writing: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl GroupInsert {
    /// Record `key` until `expires_at`; `false` if it was already recorded (a replay).
    pub async fn insert_once(
        &self,
        db: &super::Db,
        key: String,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let (reply, mut rx) = tokio::sync::oneshot::channel();
        self.lock_queue().push(Pending {
            key,
            expires_at,
            reply,
        });
        let guard = self.writing.clone().lock_owned().await;
        // A batch written while this request waited may already hold its key.
        if let Ok(answer) = rx.try_recv() {
            return answer;
        }
        let batch = std::mem::take(&mut *self.lock_queue());
        if !batch.is_empty() {
            // On a task of its own, so that a request dropped mid-write (its client went
            // away) cannot leave the others in the batch without an answer.
            let db = db.clone();
            let task = tokio::spawn(async move {
                let _guard = guard;
                write_batch(&db, batch).await;
            });
            let _ = task.await;
        } else {
            drop(guard);
        }
        rx.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(sea_orm::DbErr::Custom(
                "the DPoP replay batch was not written".to_owned(),
            )))
        })
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn write_batch(db: &super::Db, mut batch: Vec<Pending>) {
    while !batch.is_empty() {
        let rest = batch.split_off(batch.len().min(MAX_BATCH));
        let chunk = std::mem::replace(&mut batch, rest);
        let rows: Vec<(String, chrono::DateTime<chrono::Utc>)> = chunk
            .iter()
            .map(|p| (p.key.clone(), p.expires_at))
            .collect();
        match insert_many_once(db, rows).await {
            Ok(inserted) => {
                let mut answered = std::collections::HashSet::new();
                for p in chunk {
                    // A key twice in one batch: the first request only.
                    let first = inserted.contains(&p.key) && answered.insert(p.key);
                    let _ = p.reply.send(Ok(first));
                }
            }
            Err(e) => {
                // Each request gets the same kind of error (503 when the database is out of
                // reach), with the cause's text.
                let unavailable = matches!(e, StoreError::Unavailable(_));
                let cause = std::error::Error::source(&e).map(ToString::to_string);
                let msg = cause.unwrap_or_else(|| e.to_string());
                for p in chunk {
                    let err = sea_orm::DbErr::Custom(msg.clone());
                    let _ = p.reply.send(Err(if unavailable {
                        StoreError::Unavailable(err)
                    } else {
                        StoreError::Other(err)
                    }));
                }
            }
        }
    }
}

/// Record every `(key, expires_at)` in one statement; the keys that were new.
async fn insert_many_once(
    db: &super::Db,
    rows: Vec<(String, chrono::DateTime<chrono::Utc>)>,
) -> Result<std::collections::HashSet<String>, StoreError> {
    // Built by hand: sea-orm asks SQLite for `RETURNING` only behind a feature flag that
    // would change every other insert; SQLite ≥ 3.35 and PostgreSQL both return exactly
    // the rows a `DO NOTHING` insert wrote.
    let mut q = Query::insert();
    q.into_table(Entity)
        .columns([Column::Key, Column::ExpiresAt])
        .on_conflict(OnConflict::column(Column::Key).do_nothing().to_owned())
        .returning_col(Column::Key);
    for (key, expires_at) in rows {
        q.values([key.into(), expires_at.into()])
            .map_err(|e| StoreError::Other(sea_orm::DbErr::Custom(e.to_string())))?;
    }
    // One statement is atomic on its own: no `BEGIN` / `COMMIT` round trips (two of the
    // three the batch cost). On SQLite the writer lock is still taken first, so the batch
    // queues behind other writers in process instead of in SQLite's busy handler.
    let _writer = super::lock_writer(db).await?;
    let inserted = db
        .query_all(&q)
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "key"))
        .collect::<Result<_, _>>()?;
    Ok(inserted)
}
