//! Storage failures, classified by what the caller should tell the client. At the bottom of
//! the graph: it names sea-orm and nothing of ours; `errors` turns a [`StoreError`] into each
//! wire dialect.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// A storage failure, classified by what the caller should tell the client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached in time: 503 + Retry-After.
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// A unique constraint was violated.
    #[error("conflict")]
    Conflict(#[source] DbErr),
    #[error("database error")]
    Other(#[source] DbErr),
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            return StoreError::Conflict(e);
        }
        let unavailable = match &e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
                matches!(
                    s.as_ref(),
                    sea_orm::sqlx::Error::Io(_)
                        | sea_orm::sqlx::Error::PoolTimedOut
                        | sea_orm::sqlx::Error::PoolClosed
                        | sea_orm::sqlx::Error::Tls(_)
                        | sea_orm::sqlx::Error::WorkerCrashed
                ) || is_busy(s.as_ref())
            }
            _ => false,
        };
        if unavailable {
            StoreError::Unavailable(e)
        } else {
            StoreError::Other(e)
        }
    }
}

/// SQLite's "database is locked" and PostgreSQL's admin shutdown / cannot-connect classes
/// are transient: the request may succeed if retried. So are a statement canceled by the
/// statement timeout (57014: a lock held too long, issue #16 defect 3), a lock wait given up
/// (55P03), and a serialization failure or deadlock victim (40001, 40P01).
fn is_busy(e: &sea_orm::sqlx::Error) -> bool {
    if let sea_orm::sqlx::Error::Database(d) = e {
        let code = d.code();
        let code = code.as_deref().unwrap_or("");
        // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (and extended codes 261, 517, 262).
        // PostgreSQL: class 08 (connection exception), 57P01..57P03 (shutdown), 53300 (too many
        // connections), 57014 (query canceled), 55P03 (lock not available), 40001 and 40P01.
        return matches!(
            code,
            "5" | "6"
                | "261"
                | "517"
                | "262"
                | "53300"
                | "57P01"
                | "57P02"
                | "57P03"
                | "57014"
                | "55P03"
                | "40001"
                | "40P01"
        ) || code.starts_with("08");
    }
    false
}
