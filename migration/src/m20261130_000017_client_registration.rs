//! Dynamic client registration (RFC 7591, RFC 7592), issue #13 item 5:
//! - `registration_token`: initial access tokens (RFC 7591 §3) an admin made, under the
//!   SHA-256 of the token (never the token), single use, with an expiry;
//! - `client.registration_access_token_hash`: the SHA-256 of the RFC 7592 registration
//!   access token of a client registered at `/oauth/register`; set only for those clients,
//!   so it also tells them apart (registered by an outside party, not the operator).

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
                    ColumnDef::new(Client::RegistrationAccessTokenHash)
                        .string_len(64)
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RegistrationToken::Table)
                .col(
                    ColumnDef::new(RegistrationToken::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(RegistrationToken::CreatedBy)
                        .string_len(64)
                        .null(),
                )
                .col(
                    ColumnDef::new(RegistrationToken::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RegistrationToken::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RegistrationToken::UsedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(
                    ColumnDef::new(RegistrationToken::ClientId)
                        .string_len(64)
                        .null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RegistrationToken::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .drop_column(Client::RegistrationAccessTokenHash)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum Client {
    Table,
    RegistrationAccessTokenHash,
}

#[derive(DeriveIden)]
enum RegistrationToken {
    Table,
    Id,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    ClientId,
}
