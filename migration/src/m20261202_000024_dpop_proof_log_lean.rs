//! SQLite's DPoP replay log (`dpop_proof_log`, migration 23) without the two things each append
//! paid for beyond its own row: the index on `expires` and `AUTOINCREMENT`'s row in
//! `sqlite_sequence`. A commit of the log wrote three B-tree pages (the table's last leaf, the
//! index's, `sqlite_sequence`'s); now it writes one (BENCHMARKS.md, session 11).
//!
//! What they were for is kept another way (`server/src/store/dpop_proofs.rs`):
//! - an `id` is still never reused: the sweep never deletes the newest row, and SQLite gives a
//!   new row the highest `id` plus one, so an instance's "read up to here" mark never skips a
//!   newer row. When the log is empty here (everything swept), one row at the highest `id`
//!   `sqlite_sequence` recorded, its window long ended, carries the mark over;
//! - the sweep deletes a prefix of the log in `id` order (rows are appended with the end of
//!   their batch's window, so windows end in about `id` order), up to the first row still in
//!   its window: it reads what it deletes and stops, no index needed.
//!
//! SQLite only, like migration 23. The rows keep their `id`s.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rebuild the log with `id_column` as its `id`, keeping every row and its `id`; with
/// `keep_mark`, also the highest `id` AUTOINCREMENT handed out.
async fn rebuild(m: &SchemaManager<'_>, id_column: &str, keep_mark: bool) -> Result<(), DbErr> {
    let db = m.get_connection();
    db.execute_unprepared(&format!(
        "CREATE TABLE \"dpop_proof_log_new\" ({id_column}, \
           \"fp\" INTEGER NOT NULL, \
           \"expires\" INTEGER NOT NULL)"
    ))
    .await?;
    db.execute_unprepared(
        "INSERT INTO \"dpop_proof_log_new\" (\"id\", \"fp\", \"expires\") \
         SELECT \"id\", \"fp\", \"expires\" FROM \"dpop_proof_log\" ORDER BY \"id\"",
    )
    .await?;
    if keep_mark {
        // The highest `id` ever handed out, when the rows holding it were swept: the mark row
        // (window ended at the epoch: no instance notes its fingerprint).
        db.execute_unprepared(
            "INSERT INTO \"dpop_proof_log_new\" (\"id\", \"fp\", \"expires\") \
             SELECT \"seq\", 0, 0 FROM \"sqlite_sequence\" \
             WHERE \"name\" = 'dpop_proof_log' \
               AND \"seq\" > coalesce((SELECT max(\"id\") FROM \"dpop_proof_log_new\"), 0)",
        )
        .await?;
    }
    // Drops the old table's index with it.
    db.execute_unprepared("DROP TABLE \"dpop_proof_log\"")
        .await?;
    db.execute_unprepared("ALTER TABLE \"dpop_proof_log_new\" RENAME TO \"dpop_proof_log\"")
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction, so one connection: SQLite checks `RENAME TO`'s name against the
    /// schema the connection has cached, and a pooled connection that did not run the
    /// `DROP TABLE` still sees the old table ("there is already another table"). Also: the
    /// log is rebuilt whole or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_connection().get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        rebuild(m, "\"id\" INTEGER PRIMARY KEY", true).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        // Migration 23's shape; AUTOINCREMENT then counts on from the highest `id` copied.
        rebuild(m, "\"id\" INTEGER PRIMARY KEY AUTOINCREMENT", false).await?;
        db.execute_unprepared(
            "CREATE INDEX \"idx_dpop_proof_log_expires\" ON \"dpop_proof_log\" (\"expires\")",
        )
        .await?;
        Ok(())
    }
}
