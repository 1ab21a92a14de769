//! Persistence: the only module that talks to sea-orm. Functions are generic over the
//! connection (`&impl ConnectionTrait`) so callers can run several in one transaction,
//! and return entity models; endpoint modules turn those into their own response types.

pub mod api_keys;
pub mod apis;
pub mod backchannel_logouts;
pub mod cache;
pub use cache::RowCaches;
pub mod audit;
pub mod browser_sessions;
pub mod client_assertions;
pub mod client_logos;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod device_codes;
pub mod dpop_proofs;
mod error;
pub mod exchanged_tokens;
pub mod group_commit;
pub mod idempotency;
pub mod mail_outbox;
pub mod outbox;
pub mod passkeys;
pub mod pushed_requests;
pub mod registration_tokens;
pub mod session_clients;
pub mod signing_keys;
pub mod tokens;
pub mod totp;
pub mod user_tokens;
pub mod users;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

pub use error::StoreError;

/// The database handle the rest of the code passes around without naming sea-orm.
pub type Db = DatabaseConnection;

/// Anything a query can run on: a [`Db`] or a transaction ([`WriteTxn`] derefs to one).
/// Code outside `store` writes `&impl store::Conn` to pass either through.
pub use sea_orm::ConnectionTrait as Conn;

/// The system time at microsecond precision (PostgreSQL's, so a value reads back equal), for
/// stamps that decide nothing (audit events, `created_at`, deny-list sync). Expiry and age
/// decisions read `AppState::clock` instead and pass its `now` in.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    crate::clock::Clock::system().now()
}

/// What [`connect`] needs to know; `config::Settings::db_config` builds it.
/// No `Debug`: the URL may carry a password.
#[derive(Clone)]
pub struct DbConfig {
    pub url: String,
    /// Pool size (`LATCH_DB_MAX_CONNECTIONS`).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before it fails with a 503
    /// (`LATCH_DB_ACQUIRE_TIMEOUT_MS`). The same figure bounds each other wait on the
    /// database: SQLite's in-process writer lock and busy timeout, PostgreSQL's statement
    /// timeout (unless `statement_timeout` says otherwise). A request blocked by a lock is
    /// therefore answered 503 within two of it (issue #16, defects 3 and 5).
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout`; `None` for none (migrations, which may rewrite a
    /// large table).
    pub statement_timeout: Option<Duration>,
    /// SQLite gets WAL mode and a busy timeout; PostgreSQL a statement timeout.
    pub is_sqlite: bool,
}

/// Connect with bounded waits: a database that is down or locked makes requests fail fast
/// with a 503 (acquire timeout, then a busy or statement timeout of the same length), never
/// hang. SQLite runs in WAL mode so readers and the single writer do not block each other.
pub async fn connect(config: &DbConfig) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut opts = ConnectOptions::new(config.url.clone());
    opts.max_connections(config.max_connections)
        .min_connections(1)
        .acquire_timeout(config.acquire_timeout)
        .connect_timeout(config.acquire_timeout.max(Duration::from_secs(2)))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false);
    if config.is_sqlite {
        // No ping before each checkout: a SQLite connection is an open file in this process,
        // with nothing between that could drop it, and each ping was a round trip to the
        // connection's worker thread (two thread switches) before every statement
        // (BENCHMARKS.md, session 10).
        opts.test_before_acquire(false);
        let busy = config.acquire_timeout;
        opts.map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(busy)
                .foreign_keys(true)
        });
    } else if let Some(t) = config.statement_timeout {
        opts.statement_timeout(t);
    }
    Database::connect(opts).await
}

/// Whether the database answers (readiness).
pub async fn ping(db: &DatabaseConnection) -> Result<(), StoreError> {
    db.ping().await.map_err(StoreError::from)
}

/// A write transaction. On SQLite it also holds this process's writer lock for the
/// database file, so concurrent writers queue in an async mutex instead of spinning in
/// SQLite's busy handler (which sleeps up to 100 ms per try and made tail latency explode
/// under load). PostgreSQL needs no such lock.
pub struct WriteTxn {
    txn: sea_orm::DatabaseTransaction,
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTxn {
    type Target = sea_orm::DatabaseTransaction;
    fn deref(&self) -> &Self::Target {
        &self.txn
    }
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), sea_orm::DbErr> {
        self.txn.commit().await
    }
    pub async fn rollback(self) -> Result<(), sea_orm::DbErr> {
        self.txn.rollback().await
    }
}

fn sqlite_writer(db: &DatabaseConnection) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};
    static WRITERS: LazyLock<Mutex<HashMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    if db.get_database_backend() != sea_orm::DbBackend::Sqlite {
        return None;
    }
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let mut map = WRITERS.lock().unwrap_or_else(|e| e.into_inner());
    Some(map.entry(file).or_default().clone())
}

/// The pool's acquire timeout (`LATCH_DB_ACQUIRE_TIMEOUT_MS`): the bound on every wait for
/// the database, in the pool or in this process's own queues (issue #16 defect 3).
pub fn acquire_timeout(db: &DatabaseConnection) -> Duration {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => db
            .get_postgres_connection_pool()
            .options()
            .get_acquire_timeout(),
        _ => db
            .get_sqlite_connection_pool()
            .options()
            .get_acquire_timeout(),
    }
}

/// This process's writer lock of a SQLite database (`None` on PostgreSQL), waited for no
/// longer than the pool's acquire timeout (then "unavailable"), for a write that is one
/// autocommit statement: it queues behind [`begin_write`]'s transactions like they do, and
/// pays no `BEGIN` and `COMMIT` round trips.
pub async fn lock_writer(
    db: &DatabaseConnection,
) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>, StoreError> {
    let Some(m) = sqlite_writer(db) else {
        return Ok(None);
    };
    match tokio::time::timeout(acquire_timeout(db), m.lock_owned()).await {
        Ok(guard) => Ok(Some(guard)),
        Err(_) => Err(StoreError::Unavailable(sea_orm::DbErr::ConnectionAcquire(
            sea_orm::ConnAcquireErr::Timeout,
        ))),
    }
}

/// Begin a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`IMMEDIATE`) after the in-process writer lock, so concurrent writers neither spin nor
/// fail with `SQLITE_BUSY_SNAPSHOT` when a read snapshot would have to be upgraded.
///
/// The in-process lock is waited for no longer than the pool's acquire timeout, then the
/// write is "unavailable" (503 + `Retry-After`): while another process holds the file, each
/// writer queued here would otherwise wait for every writer ahead of it to time out in
/// turn (7.2 s measured, issue #16 defect 5).
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, StoreError> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let writer = lock_writer(db).await?;
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn {
        txn,
        _writer: writer,
    })
}

/// The parts of a space-separated column (redirect URIs, grant types, scopes): the one
/// encoding of lists in rows.
pub fn words(column: &str) -> impl Iterator<Item = &str> {
    column.split(' ').filter(|p| !p.is_empty())
}
