//! Logos that follow their image (#15 item 6): each stored `client_logo` is checked again
//! periodically (`LATCH_LOGO_REFRESH`) with a conditional request, so the validators the
//! app's server gave (`etag`, `last_modified`; RFC 9110 §8.8) are kept, and `checked_at`
//! says when it was last checked: a refresher claims a due row by moving it forward in one
//! conditional update, so of several instances one fetches it. `NULL` (rows stored before
//! this migration) is due at once.
//!
//! SQLite adds one column per `ALTER TABLE`, so each column is its own statement.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [ClientLogo::Etag, ClientLogo::LastModified] {
            m.alter_table(
                Table::alter()
                    .table(ClientLogo::Table)
                    .add_column(ColumnDef::new(col).string_len(256).null())
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(ClientLogo::Table)
                .add_column(
                    ColumnDef::new(ClientLogo::CheckedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("client_logo_checked_at_idx")
                .table(ClientLogo::Table)
                .col(ClientLogo::CheckedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("client_logo_checked_at_idx")
                .table(ClientLogo::Table)
                .to_owned(),
        )
        .await?;
        for col in [
            ClientLogo::Etag,
            ClientLogo::LastModified,
            ClientLogo::CheckedAt,
        ] {
            m.alter_table(
                Table::alter()
                    .table(ClientLogo::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ClientLogo {
    Table,
    Etag,
    LastModified,
    CheckedAt,
}
