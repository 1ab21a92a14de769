//! Used DPoP proofs (RFC 9449 §11.1) when there is no Redis: every instance sharing the
//! database accepts a proof's key and `jti` once within the proof's window.
//!
//! **SQLite: an append-only log judged in order.** A used proof is a row of
//! `dpop_proof_log`: its fingerprint (the first 64 bits of SHA-256 over the key's thumbprint
//! and the `jti`), the end of its window, and an `id` that SQLite hands out in commit order
//! (one writer at a time; never reused, as the sweep keeps the newest row: [`SWEEP_LOG`]). The
//! table has no other index and no `AUTOINCREMENT`, so a commit writes the table's last page
//! and nothing else (migration 24). A fingerprint's *first* row in `id`
//! order is its one accepted use, and every instance reads the log in that order, so they all
//! agree on it. Each instance keeps the fingerprints it has read, until their windows end
//! ([`Judged`]); a batch appends the proofs it has not seen in one transaction, reads the rows
//! other instances appended since its last read (none when it is alone: its own new `id`s
//! follow the last one it knew), and then judges its own rows in `id` order.
//!
//! Why not a primary key on the digest (which PostgreSQL keeps): a random key lands each
//! proof on its own leaf page of the index, so a batch of 31 proofs wrote ~54 pages to the
//! WAL and again at checkpoint (~20 µs a proof; BENCHMARKS.md, session 9). Appending in `id`
//! order rewrites the table's last page, one page a batch (BENCHMARKS.md, sessions 10, 11).
//!
//! **PostgreSQL: one row per proof under a primary key** (`dpop_proof`), `INSERT … ON
//! CONFLICT DO NOTHING RETURNING`: concurrent transactions there commit out of `id` order,
//! so a log could not be read in the order it was decided.
//!
//! A 64-bit fingerprint can collide: with a million proofs within one window, the odds that
//! an honest proof is refused as used are about one in 10¹³ (and the client sends a new one);
//! a collision never lets a used proof through.

use std::collections::{BTreeMap, HashSet};

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
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            SWEEP_LOG,
            [now.timestamp().into()],
        ))
        .await?;
        return Ok(());
    }
    Entity::delete_many()
        .filter(Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(())
}

/// SQLite: delete the log's rows in `id` order up to the first one still in its window, and
/// never the newest row. Rows are appended with their batch's latest window end, so windows
/// end in about `id` order (a row behind a later-ending one waits for it: kept a few seconds
/// longer, which is always safe); the scan reads what it deletes and stops, without an index.
/// Keeping the newest row keeps `id`s from being handed out again (SQLite gives a new row the
/// highest `id` plus one), so no instance's "read up to here" mark can skip a newer row.
const SWEEP_LOG: &str = "DELETE FROM \"dpop_proof_log\" WHERE \"id\" < coalesce(\
                         (SELECT \"id\" FROM \"dpop_proof_log\" WHERE \"expires\" >= ?1 \
                          ORDER BY \"id\" LIMIT 1), \
                         (SELECT max(\"id\") FROM \"dpop_proof_log\"))";

/// The end of each recorded proof's window, in log order (tests, diagnosis). On SQLite the
/// newest row is kept by the sweep whatever its window.
pub async fn recorded(
    db: &impl ConnectionTrait,
) -> Result<Vec<chrono::DateTime<chrono::Utc>>, StoreError> {
    if db.get_database_backend() == DbBackend::Sqlite {
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT \"expires\" FROM \"dpop_proof_log\" ORDER BY \"id\"",
            ))
            .await?;
        return rows
            .into_iter()
            .map(|row| {
                let at: i64 = row.try_get("", "expires")?;
                Ok(chrono::DateTime::from_timestamp(at, 0).unwrap_or_default())
            })
            .collect();
    }
    use sea_orm::QueryOrder;
    Ok(Entity::find()
        .order_by_asc(Column::ExpiresAt)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.expires_at)
        .collect())
}

/// A used proof's fingerprint: the first 64 bits of its key (SHA-256 in hex), as SQLite's
/// integer; defined beside the migration that made the log, which moved rows with it.
pub use migration::dpop_proof_fingerprint as fingerprint;

/// Used proofs are group-committed ([`super::group_commit`]): every request that must record
/// a `jti` queues it, and one transaction records everything queued so far, so under load the
/// writer lock and the commit are paid per batch instead of per proof.
///
/// Single use is unchanged (RFC 9449 §11.1): across every instance sharing the database, a
/// proof is accepted once (see the module's documentation for how each database judges); a
/// key twice in one batch is "first" for one request only; a batch that cannot be written or
/// judged fails every request in it (503), so nothing is accepted unrecorded.
pub type GroupInsert = super::group_commit::GroupCommit<UsedProofs>;

/// A used proof's key and the end of its window.
pub type UsedProof = (String, chrono::DateTime<chrono::Utc>);

/// The grouped write of used proofs, and on SQLite what this instance has read of the log.
#[derive(Default)]
pub struct UsedProofs {
    /// Batches of one instance run one at a time (`IN_FLIGHT` = 1); the lock is for the
    /// one-by-one retry's sake and costs nothing uncontended.
    judged: tokio::sync::Mutex<Judged>,
}

impl super::group_commit::Batch for UsedProofs {
    type Item = UsedProof;
    type Outcome = bool;
    /// On PostgreSQL (and SQLite's pool path) the keys go as one bound JSON array, two
    /// parameters in all; this bounds the rows one transaction writes.
    const MAX: usize = 256;
    const NAME: &'static str = "DPoP replay batch";
    /// On SQLite an append costs little beyond its commit (locks, one WAL page), so without
    /// a yield a batch held ~7 proofs (BENCHMARKS.md, session 10).
    const GATHER: bool = true;

    async fn run(&self, db: &super::Db, chunk: &[UsedProof]) -> Result<Vec<bool>, StoreError> {
        if db.get_database_backend() == DbBackend::Sqlite {
            let mut judged = self.judged.lock().await;
            return append_and_judge(db, &mut judged, chunk).await;
        }
        let inserted = insert_many_once(db, chunk).await?;
        let mut answered = HashSet::new();
        // A key twice in one batch: the first request only.
        Ok(chunk
            .iter()
            .map(|(key, _)| inserted.contains(key) && answered.insert(key))
            .collect())
    }
}

/// How long one generation of [`Judged`] spans, in seconds of window end: a lookup asks
/// every live generation (five for the default 60-second window), and a generation is
/// dropped whole once its last window has ended.
const GENERATION_SECS: i64 = 16;

/// What one instance has read of the SQLite log: every fingerprint up to `last`, until its
/// window ends.
#[derive(Default)]
struct Judged {
    /// The highest log `id` read; every row up to it has been noted.
    last: i64,
    /// Fingerprints by generation (the end of their window / [`GENERATION_SECS`]). A lookup
    /// asks every live generation: hashed with foldhash (a multiply and a fold, seeded per
    /// process) rather than SipHash, which was ~0.3 µs of a DPoP request (BENCHMARKS.md,
    /// session 11). The values are SHA-256 bits, and the seed is unknown to whoever picks a
    /// `jti`, so grinding `jti`s cannot aim them at one bucket.
    generations: BTreeMap<i64, foldhash::HashSet<i64>>,
    /// Where the log's statements run.
    log: LogIo,
}

impl Judged {
    fn contains(&self, fp: i64) -> bool {
        self.generations.values().any(|g| g.contains(&fp))
    }

    /// Note a fingerprint whose window ends at `expires`; whether it was new (its first use).
    fn note(&mut self, fp: i64, expires: i64) -> bool {
        !self.contains(fp) && self.note_unseen(fp, expires)
    }

    /// Note a fingerprint known to be in no generation but perhaps already in this one;
    /// whether it was new. (A batch's own rows, when no other rows came before them: one
    /// lookup instead of one per generation.)
    fn note_unseen(&mut self, fp: i64, expires: i64) -> bool {
        self.generations
            .entry(expires.div_euclid(GENERATION_SECS))
            .or_default()
            .insert(fp)
    }

    /// Drop the generations whose every window ended before `now`.
    fn forget_before(&mut self, now: i64) {
        self.generations = self.generations.split_off(&now.div_euclid(GENERATION_SECS));
    }
}

/// SQLite: append the proofs of `chunk` not already known used, read what other instances
/// appended before them, and judge them in log order (the module's documentation).
async fn append_and_judge(
    db: &super::Db,
    judged: &mut Judged,
    chunk: &[UsedProof],
) -> Result<Vec<bool>, StoreError> {
    // Windows are judged on the system time, like every proof's `iat`.
    let now = chrono::Utc::now().timestamp();
    judged.forget_before(now);
    let fps: Vec<Option<i64>> = chunk
        .iter()
        .map(|(key, _)| fingerprint(key).filter(|fp| !judged.contains(*fp)))
        .collect();
    let fresh: Vec<i64> = fps.iter().flatten().copied().collect();
    // The rows of a batch share its latest window end: a row kept a little longer is still
    // correct (it only has to outlive its own proof's window), and it spares a second array.
    let Some(expires) = chunk
        .iter()
        .zip(&fps)
        .filter(|(_, fp)| fp.is_some())
        .map(|((_, until), _)| until.timestamp())
        .max()
    else {
        // Every proof of the batch was known used: nothing to write.
        return Ok(vec![false; chunk.len()]);
    };
    let mut appended = {
        let _writer = super::lock_writer(db).await?;
        judged.log.append(db, &fresh, expires).await?
    };
    // RETURNING's order is not defined; the log's is.
    appended.sort_unstable();
    let (Some(&(first, _)), Some(&(newest, _))) = (appended.first(), appended.last()) else {
        return Err(StoreError::Other(sea_orm::DbErr::Custom(
            "the DPoP replay log returned no rows".into(),
        )));
    };
    // Our rows are committed from here on: a failure to judge them must not be retried one by
    // one (each retry would find the row before it and refuse an honest proof), so it is
    // "unavailable" for the whole batch, and the rows count as used.
    if first <= judged.last {
        // The log was emptied and its `id`s restarted (recreated by hand): read it again.
        judged.last = 0;
    }
    let others_first = first > judged.last + 1;
    if others_first {
        // Rows appended meanwhile by other instances (or before this one started).
        let rows = judged
            .log
            .between(db, judged.last, first)
            .await
            .map_err(|e| match e {
                StoreError::Other(e) | StoreError::Conflict(e) => StoreError::Unavailable(e),
                e => e,
            })?;
        for (fp, ends) in rows {
            if ends >= now {
                judged.note(fp, ends);
            }
        }
    }
    judged.last = newest;
    // Judge our rows in log order; hand each fingerprint's one acceptance to the first
    // request of the batch that carried it.
    let mut accepted: foldhash::HashSet<i64> = appended
        .iter()
        .filter(|&&(_, fp)| {
            // Without other rows read, the batch's own fingerprints were checked unseen
            // above; only a copy within the batch (same window end) can repeat one.
            if others_first {
                judged.note(fp, expires)
            } else {
                judged.note_unseen(fp, expires)
            }
        })
        .map(|&(_, fp)| fp)
        .collect();
    Ok(fps
        .iter()
        .map(|fp| fp.is_some_and(|fp| accepted.remove(&fp)))
        .collect())
}

/// The pool's append: every row in one statement, `id`s from `RETURNING`.
const APPEND: &str = "INSERT INTO \"dpop_proof_log\" (\"fp\", \"expires\") \
                      SELECT \"value\", ?1 FROM json_each(?2) RETURNING \"id\", \"fp\"";
/// The own connection's append: one row a statement within one transaction, each `id` read
/// back with `sqlite3_last_insert_rowid` (no `RETURNING`, whose rows SQLite buffers in a
/// temporary B-tree it opens and closes per statement, and no JSON to parse).
const APPEND_ONE: &str = "INSERT INTO \"dpop_proof_log\" (\"fp\", \"expires\") VALUES (?1, ?2)";
const BETWEEN: &str = "SELECT \"fp\", \"expires\" FROM \"dpop_proof_log\" \
                       WHERE \"id\" > ?1 AND \"id\" < ?2 ORDER BY \"id\"";

/// How many appends between two checkpoints asked of the pool: each append writes about one
/// WAL page (migration 24), and SQLite's own default is a checkpoint per 1000 pages.
const APPENDS_PER_CHECKPOINT: u32 = 256;

/// Where the log's statements run. On a database file, on a connection of the log's own,
/// on the runtime's blocking threads (`spawn_blocking`), never on the request's thread: an
/// append writes the WAL, and the first append after each checkpoint restarts the WAL and
/// fsyncs its header (SQLite does so whatever `synchronous` short of `OFF`: without it a
/// write reordered by the disk could corrupt the database, sqlite.org/src/info/ff5be73dee).
/// On the request thread, a slow fsync stopped every request of the worker: session 11 saw
/// two runs with a p99 near 0.5 s and the CPU idle (BENCHMARKS.md; `tests/faults`' F8 makes
/// every fsync take 2 s and checks that the worker answers meanwhile). A statement on the
/// blocking pool costs a thread hand-off a batch, where a statement on a sqlx-sqlite worker
/// cost ~10 µs a batch more through sqlx's statement machinery (session 10). It never waits
/// inside SQLite (no busy timeout: a busy database is retried after an async sleep, within
/// the pool's acquire timeout) and never checkpoints inline (a checkpoint writes and syncs
/// up to 1000 pages; it is asked of the pool instead, every [`APPENDS_PER_CHECKPOINT`]
/// appends). Anything else (an in-memory database, a file it cannot open) uses the pool.
#[derive(Default)]
struct LogIo {
    /// `None` until the first batch; then `Some(None)` when the pool is to be used. Batches
    /// run one at a time (`UsedProofs::judged`), so the lock is never contended; it is what
    /// lets a blocking thread borrow the connection.
    own: Option<Option<OwnConnection>>,
    appends: u32,
}

type OwnConnection = std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>;

impl LogIo {
    fn connection(&mut self, db: &super::Db) -> Option<OwnConnection> {
        self.own
            .get_or_insert_with(|| {
                let file = db
                    .get_sqlite_connection_pool()
                    .connect_options()
                    .get_filename()
                    .to_path_buf();
                open_own(&file)
                    .inspect_err(|e| {
                        tracing::warn!(error = %e, "the DPoP replay log uses the pool");
                    })
                    .ok()
                    .flatten()
                    .map(|c| std::sync::Arc::new(std::sync::Mutex::new(c)))
            })
            .clone()
    }

    /// Append one row per fingerprint of `fps`, in one transaction; their `(id, fp)`.
    async fn append(
        &mut self,
        db: &super::Db,
        fps: &[i64],
        expires: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        if self.connection(db).is_none() {
            let json = serde_json::Value::from(fps).to_string();
            return on_pool(db, APPEND, [expires.into(), json.into()]).await;
        }
        self.appends += 1;
        if self.appends >= APPENDS_PER_CHECKPOINT {
            self.appends = 0;
            let db = db.clone();
            tokio::spawn(async move {
                if let Err(e) = db
                    .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                    .await
                {
                    tracing::warn!(error = %e, "WAL checkpoint after the DPoP replay log");
                }
            });
        }
        let fps = fps.to_vec();
        self.own_retrying(db, move |conn| {
            // IMMEDIATE: the write lock at `BEGIN` (busy now, or never within); dropped
            // without `commit`, the transaction rolls back, so a retry starts clean.
            let txn = rusqlite::Transaction::new_unchecked(
                conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            let mut ids = Vec::with_capacity(fps.len());
            {
                let mut stmt = txn.prepare_cached(APPEND_ONE)?;
                for &fp in &fps {
                    stmt.execute(rusqlite::params![fp, expires])?;
                    ids.push((txn.last_insert_rowid(), fp));
                }
            }
            txn.commit()?;
            Ok(ids)
        })
        .await
    }

    /// The `(fp, expires)` of the rows with `after < id < before`, in `id` order (the first
    /// batch after start-up reads the whole log: up to a window's worth of proofs, ~0.3 s at
    /// 10k a second, on the blocking thread like every statement of the log).
    async fn between(
        &mut self,
        db: &super::Db,
        after: i64,
        before: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        if self.connection(db).is_none() {
            return on_pool(db, BETWEEN, [after.into(), before.into()]).await;
        }
        self.own_retrying(db, move |conn| {
            let mut stmt = conn.prepare_cached(BETWEEN)?;
            let rows = stmt.query_map(rusqlite::params![after, before], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect()
        })
        .await
    }

    /// Run `f` on the log's own connection on a blocking thread; while the database is busy
    /// (another process writing), again after a millisecond, for at most the pool's acquire
    /// timeout.
    async fn own_retrying<T, F>(&mut self, db: &super::Db, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Connection) -> rusqlite::Result<T> + Send + Sync + 'static,
    {
        let deadline = tokio::time::Instant::now() + super::acquire_timeout(db);
        let f = std::sync::Arc::new(f);
        loop {
            let Some(conn) = self.connection(db) else {
                return Err(own_error("the log's connection is gone"));
            };
            let run = f.clone();
            let result = tokio::task::spawn_blocking(move || {
                let conn = conn
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                run(&conn)
            })
            .await;
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    self.own = None;
                    return Err(own_error(&format!("the log's thread failed: {e}")));
                }
            };
            match result {
                Ok(t) => return Ok(t),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) =>
                {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(StoreError::Unavailable(sea_orm::DbErr::Custom(
                            "the database stayed locked".into(),
                        )));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err(e) => {
                    // Opened again at the next batch, in case the connection is what broke.
                    self.own = None;
                    return Err(own_error(&e.to_string()));
                }
            }
        }
    }
}

/// Run `sql` (two parameters, two integer columns) on a pooled connection.
async fn on_pool(
    db: &super::Db,
    sql: &str,
    values: [Value; 2],
) -> Result<Vec<(i64, i64)>, StoreError> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect::<Result<_, sea_orm::DbErr>>()?)
}

fn own_error(msg: &str) -> StoreError {
    StoreError::Other(sea_orm::DbErr::Custom(format!("DPoP replay log: {msg}")))
}

/// The log's own connection to the database file, in WAL mode (as the pool set it); `None`
/// when there is no file to share (an in-memory database).
fn open_own(file: &std::path::Path) -> rusqlite::Result<Option<rusqlite::Connection>> {
    use rusqlite::OpenFlags;
    if file.as_os_str().is_empty() || file.to_str().is_some_and(|f| f.contains(":memory:")) {
        return Ok(None);
    }
    let conn = rusqlite::Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::ZERO)?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Ok(None);
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(Some(conn))
}

/// PostgreSQL: record every key of `rows` in one statement; the keys that were new.
///
/// One statement text for every batch size: the keys go as one bound JSON array, so each
/// connection prepares and caches one statement (with a `VALUES` tuple per proof it was one
/// per batch size, up to 256 rows and 512 parameters each). The batch's rows share the latest
/// end of window among them: a row kept a little longer is still correct (it only has to
/// outlive its own proof's `iat` window), and it spares a second array.
async fn insert_many_once(
    db: &super::Db,
    rows: &[UsedProof],
) -> Result<HashSet<String>, StoreError> {
    let Some(expires_at) = rows.iter().map(|(_, at)| *at).max() else {
        return Ok(Default::default());
    };
    let keys = serde_json::Value::from(rows.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>());
    // Built by hand: sea-orm asks for `RETURNING` on SQLite only behind a feature flag that
    // would change every other insert, and this statement's text is PostgreSQL's alone.
    let sql = "INSERT INTO \"dpop_proof\" (\"key\", \"expires_at\") \
               SELECT k, $2 FROM jsonb_array_elements_text($1::jsonb) AS k \
               ON CONFLICT (\"key\") DO NOTHING RETURNING \"key\"";
    let values = vec![Value::String(Some(keys.to_string())), expires_at.into()];
    let inserted = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "key"))
        .collect::<Result<_, _>>()?;
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_noted_once_until_its_generation_ends() {
        let mut j = Judged::default();
        assert!(j.note(7, 100));
        assert!(!j.note(7, 100), "second use");
        assert!(!j.note(7, 500), "second use, whatever its window");
        assert!(j.note(8, 130));
        // 100 is in generation 6 (96..=111): kept while any of it may be live.
        j.forget_before(111);
        assert!(j.contains(7));
        j.forget_before(112);
        assert!(!j.contains(7));
        assert!(j.contains(8), "a later generation stays");
        assert!(
            j.note(7, 200),
            "a window that has ended frees its fingerprint"
        );
    }

    #[test]
    fn every_key_the_server_makes_has_a_fingerprint() {
        // The function's own cases are the migration's test; here, the keys `Dpop::check`
        // makes (SHA-256 in hex) are what it reads.
        let key = crate::crypto::sha256_hex("jkt:jti");
        let bits = u64::from_str_radix(&key[..16], 16).unwrap();
        assert_eq!(
            fingerprint(&key),
            Some(i64::from_be_bytes(bits.to_be_bytes()))
        );
    }
}
