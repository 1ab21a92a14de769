//! Restricted keys and key policies (issue #11): a key's type (`secret` holds every scope
//! of every API, now and later; `restricted` holds exactly its `scopes`), and its policies:
//! a use cap with an optional refill, an IP allowlist, metadata, and the marker that keeps
//! the sweeper's `api_key.expiring` notices from repeating.
//!
//! Existing rows: a key whose scopes are exactly `read write` (the old full key) becomes a
//! secret key; any other is restricted. Keys keep their stored prefix (`sk_…`) and work on.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let cols = [
            ColumnDef::new(ApiKey::KeyType)
                .string()
                .not_null()
                .default("restricted")
                .to_owned(),
            ColumnDef::new(ApiKey::Remaining)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(ApiKey::RefillAmount)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(ApiKey::RefillInterval)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(ApiKey::RefilledAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(ApiKey::AllowedIps).text().null().to_owned(),
            ColumnDef::new(ApiKey::Metadata).text().null().to_owned(),
            ColumnDef::new(ApiKey::ExpiryNotice)
                .integer()
                .null()
                .to_owned(),
        ];
        for mut c in cols {
            m.alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .add_column(&mut c)
                    .to_owned(),
            )
            .await?;
        }
        m.exec_stmt(
            Query::update()
                .table(ApiKey::Table)
                .value(ApiKey::KeyType, "secret")
                .and_where(Expr::col(ApiKey::Scopes).eq("read write"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for c in [
            ApiKey::KeyType,
            ApiKey::Remaining,
            ApiKey::RefillAmount,
            ApiKey::RefillInterval,
            ApiKey::RefilledAt,
            ApiKey::AllowedIps,
            ApiKey::Metadata,
            ApiKey::ExpiryNotice,
        ] {
            m.alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .drop_column(c)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    Scopes,
    KeyType,
    Remaining,
    RefillAmount,
    RefillInterval,
    RefilledAt,
    AllowedIps,
    Metadata,
    ExpiryNotice,
}
