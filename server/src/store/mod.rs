//! Persistence: the only module that talks to sea-orm. Functions are generic over the
//! connection (`&impl ConnectionTrait`) so callers can run several in one transaction,
//! and return entity models; endpoint modules turn those into their own response types.

pub mod api_keys;
pub mod audit;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod signing_keys;
pub mod tokens;
pub mod users;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::config::Settings;
pub use crate::errors::StoreError;

/// Timestamps are kept at microsecond precision, PostgreSQL's, so a value reads back equal.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// Connect with bounded waits: a database that is down makes requests fail fast with a 503
/// (acquire timeout), never hang. SQLite runs in WAL mode with a busy timeout so readers
/// and the single writer do not block each other.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut opts = ConnectOptions::new(settings.database_url.clone());
    opts.max_connections(settings.db_max_connections)
        .min_connections(1)
        .acquire_timeout(settings.db_acquire_timeout)
        .connect_timeout(settings.db_acquire_timeout.max(Duration::from_secs(2)))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false);
    if settings.is_sqlite() {
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    } else {
        opts.statement_timeout(Duration::from_secs(10));
    }
    Database::connect(opts).await
}

/// Whether the database answers (readiness).
pub async fn ping(db: &DatabaseConnection) -> Result<(), StoreError> {
    db.ping().await.map_err(StoreError::from)
}

/// Begin a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`IMMEDIATE`), so concurrent writers queue on the busy timeout instead of failing with
/// `SQLITE_BUSY_SNAPSHOT` when a read snapshot would have to be upgraded.
pub async fn begin_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, StoreError> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    Ok(db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?)
}
