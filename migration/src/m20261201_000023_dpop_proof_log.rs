//! Used DPoP proofs on SQLite become an append-only log (`dpop_proof_log`): one row per used
//! proof, `id` in commit order, the proof's 64-bit fingerprint and the end of its window in
//! Unix seconds. Each instance judges single use by reading the log in `id` order
//! (`server/src/store/dpop_proofs.rs` says how and why); the unique index on a random digest
//! that `dpop_proof` needs wrote about one B-tree page per proof, the log about one per batch.
//!
//! SQLite only: PostgreSQL commits concurrent transactions out of `id` order, so it keeps
//! `dpop_proof` and its primary key. The rows of `dpop_proof` still within their window move
//! to the log, so no proof used before the upgrade can be used again after it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The fingerprint of a used proof's key (the SHA-256 of its thumbprint and `jti`, in hex):
/// its first 64 bits as SQLite's (signed) integer. The one definition: the server's replay
/// log (`store::dpop_proofs`) uses it too, so rows moved here and rows it appends agree.
pub fn fingerprint(key: &str) -> Option<i64> {
    let bits = u64::from_str_radix(key.get(..16)?, 16).ok()?;
    Some(i64::from_be_bytes(bits.to_be_bytes()))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        // AUTOINCREMENT: an `id` is never reused, even once the sweep has emptied the log,
        // so an instance's "read up to here" mark never skips a newer row.
        db.execute_unprepared(
            "CREATE TABLE \"dpop_proof_log\" (\
               \"id\" INTEGER PRIMARY KEY AUTOINCREMENT, \
               \"fp\" INTEGER NOT NULL, \
               \"expires\" INTEGER NOT NULL)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX \"idx_dpop_proof_log_expires\" ON \"dpop_proof_log\" (\"expires\")",
        )
        .await?;
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT \"key\", unixepoch(\"expires_at\") AS \"expires\" FROM \"dpop_proof\"",
            ))
            .await?;
        for row in rows {
            let key: String = row.try_get("", "key")?;
            let expires: Option<i64> = row.try_get("", "expires")?;
            let (Some(fp), Some(expires)) = (fingerprint(&key), expires) else {
                continue;
            };
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO \"dpop_proof_log\" (\"fp\", \"expires\") VALUES (?, ?)",
                [fp.into(), expires.into()],
            ))
            .await?;
        }
        db.execute_unprepared("DELETE FROM \"dpop_proof\"").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        db.execute_unprepared("DROP TABLE \"dpop_proof_log\"")
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn the_fingerprint_is_the_first_64_bits_of_the_key() {
        assert_eq!(fingerprint("0000000000000001ab"), Some(1));
        assert_eq!(fingerprint("ffffffffffffffff"), Some(-1));
        assert_eq!(fingerprint("8000000000000000cd"), Some(i64::MIN));
        assert_eq!(fingerprint("short"), None);
        assert_eq!(fingerprint("zzzzzzzzzzzzzzzz"), None);
    }
}
