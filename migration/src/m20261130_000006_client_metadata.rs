//! What the consent screen tells people about an app (#15): `verified_at` (an admin vouched
//! for an app a user registered), the OpenID client metadata people see (OIDC Dynamic Client
//! Registration 1.0 §2: `logo_uri`, `client_uri`, `policy_uri`, `tos_uri`), and
//! `client_logo`, the logo Latch fetched from `logo_uri` and serves itself (never hot-linked).
//!
//! SQLite adds one column per `ALTER TABLE`, so each column is its own statement.

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
                    ColumnDef::new(Client::VerifiedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        for col in [
            Client::LogoUri,
            Client::ClientUri,
            Client::PolicyUri,
            Client::TosUri,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Client::Table)
                    .add_column(ColumnDef::new(col).text().null())
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(ClientLogo::Table)
                .col(
                    ColumnDef::new(ClientLogo::ClientId)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(ClientLogo::ContentType)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(ClientLogo::Digest).string_len(64).not_null())
                .col(ColumnDef::new(ClientLogo::Bytes).blob().not_null())
                .col(
                    ColumnDef::new(ClientLogo::FetchedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("client_logo_client_id_fkey")
                        .from(ClientLogo::Table, ClientLogo::ClientId)
                        .to(Client::Table, Client::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ClientLogo::Table).to_owned())
            .await?;
        for col in [
            Client::VerifiedAt,
            Client::LogoUri,
            Client::ClientUri,
            Client::PolicyUri,
            Client::TosUri,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Client::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

// The column names are OIDC's (`client_uri`), so a variant repeats the table's name.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden, Clone, Copy)]
enum Client {
    Table,
    Id,
    VerifiedAt,
    LogoUri,
    ClientUri,
    PolicyUri,
    TosUri,
}

#[derive(DeriveIden)]
enum ClientLogo {
    Table,
    ClientId,
    ContentType,
    Digest,
    Bytes,
    FetchedAt,
}
