//! Token exchange (RFC 8693, issue #14): the audiences each client may exchange tokens into
//! (`client.token_exchange_audiences`, space-separated API identifiers; empty: none), and
//! `exchanged_token`, which access token was exchanged from which, so revoking the subject
//! (or actor) revokes what was exchanged from it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(
                    ColumnDef::new(Client::TokenExchangeAudiences)
                        .text()
                        .not_null()
                        .default(""),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ExchangedToken::Table)
                .col(
                    ColumnDef::new(ExchangedToken::Jti)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(ExchangedToken::SubjectJti)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ExchangedToken::ActorJti)
                        .string_len(64)
                        .null(),
                )
                .col(
                    ColumnDef::new(ExchangedToken::ClientId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ExchangedToken::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ExchangedToken::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_exchanged_subject", ExchangedToken::SubjectJti),
            ("idx_exchanged_actor", ExchangedToken::ActorJti),
            ("idx_exchanged_expires", ExchangedToken::ExpiresAt),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(ExchangedToken::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ExchangedToken::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .drop_column(Client::TokenExchangeAudiences)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Client {
    Table,
    TokenExchangeAudiences,
}

#[derive(DeriveIden, Clone, Copy)]
enum ExchangedToken {
    Table,
    Jti,
    SubjectJti,
    ActorJti,
    ClientId,
    ExpiresAt,
    CreatedAt,
}
