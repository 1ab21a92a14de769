//! Browser apps and devices (issue #13 items 1, 2):
//! - `client.allowed_origins`: the origins a browser app may call the token, revocation,
//!   userinfo and device endpoints from (CORS). NULL is "the default": a public client's
//!   redirect URI origins, none for a confidential client; a stored value (space-separated,
//!   possibly empty) replaces it.
//! - `device_code`: the device authorization grant (RFC 8628 §3.2): the device code as its
//!   SHA-256 digest, the user code people type, and what the person decided.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(ColumnDef::new(Client::AllowedOrigins).text().null())
                .to_owned(),
        )
        .await?;
        let ts = |c: DeviceCode| {
            ColumnDef::new(c)
                .timestamp_with_time_zone()
                .not_null()
                .to_owned()
        };
        let ts_null = |c: DeviceCode| {
            ColumnDef::new(c)
                .timestamp_with_time_zone()
                .null()
                .to_owned()
        };
        m.create_table(
            Table::create()
                .table(DeviceCode::Table)
                .col(
                    ColumnDef::new(DeviceCode::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(DeviceCode::DeviceCodeHash)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(DeviceCode::UserCode)
                        .string_len(16)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(DeviceCode::ClientId)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(DeviceCode::Scope).text().not_null())
                .col(ColumnDef::new(DeviceCode::UserId).string_len(64).null())
                .col(ts_null(DeviceCode::AuthTime))
                .col(
                    ColumnDef::new(DeviceCode::IntervalSecs)
                        .integer()
                        .not_null()
                        .default(5),
                )
                .col(ts_null(DeviceCode::LastPolledAt))
                .col(ts(DeviceCode::CreatedAt))
                .col(ts(DeviceCode::ExpiresAt))
                .col(ts_null(DeviceCode::ApprovedAt))
                .col(ts_null(DeviceCode::DeniedAt))
                .col(ts_null(DeviceCode::ConsumedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("device_code_client_id_fkey")
                        .from(DeviceCode::Table, DeviceCode::ClientId)
                        .to(Client::Table, Client::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("device_code_user_id_fkey")
                        .from(DeviceCode::Table, DeviceCode::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("device_code_expires_at_idx")
                .table(DeviceCode::Table)
                .col(DeviceCode::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DeviceCode::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .drop_column(Client::AllowedOrigins)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum Client {
    Table,
    Id,
    AllowedOrigins,
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

// The column `device_code_hash` repeats the table's name.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden, Clone, Copy)]
enum DeviceCode {
    Table,
    Id,
    DeviceCodeHash,
    UserCode,
    ClientId,
    Scope,
    UserId,
    AuthTime,
    IntervalSecs,
    LastPolledAt,
    CreatedAt,
    ExpiresAt,
    ApprovedAt,
    DeniedAt,
    ConsumedAt,
}
