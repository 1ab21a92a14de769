//! Two-step sign-in and the sessions list (DESIGN.md "Accounts people can trust", #12):
//! - `totp_factor`: one authenticator per account, its RFC 6238 secret sealed with the master
//!   key (AES-GCM, never stored in clear), `confirmed_at` once a first code proved the app
//!   has it, and `last_step`, the last time step accepted (RFC 6238 §5.2: a code is used once).
//! - `recovery_code`: ten single-use codes per account, stored as keyed digests.
//! - `browser_session`: one row per browser sign-in (its id is in the session cookie): the
//!   device summary, IP, start and last seen, so Settings can list and end sessions.
//! - `amr` on codes and refresh tokens: how the person signed in (OIDC Core §2 `amr`),
//!   carried into the ID tokens minted from them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn user_fk(name: &str, from: (impl IntoIden, impl IntoIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(User::Table, User::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TotpFactor::Table)
                .col(
                    ColumnDef::new(TotpFactor::UserId)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(TotpFactor::SecretSealed).text().not_null())
                .col(
                    ColumnDef::new(TotpFactor::ConfirmedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new(TotpFactor::LastStep).big_integer().null())
                .col(ts(TotpFactor::CreatedAt))
                .foreign_key(&mut user_fk(
                    "fk_totp_factor_user",
                    (TotpFactor::Table, TotpFactor::UserId),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RecoveryCode::Table)
                .col(
                    ColumnDef::new(RecoveryCode::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(RecoveryCode::UserId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RecoveryCode::CodeHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RecoveryCode::UsedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ts(RecoveryCode::CreatedAt))
                .foreign_key(&mut user_fk(
                    "fk_recovery_code_user",
                    (RecoveryCode::Table, RecoveryCode::UserId),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_recovery_code_user")
                .table(RecoveryCode::Table)
                .col(RecoveryCode::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BrowserSession::Table)
                .col(
                    ColumnDef::new(BrowserSession::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(BrowserSession::UserId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BrowserSession::Device)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(BrowserSession::Ip).string_len(64).null())
                .col(ts(BrowserSession::CreatedAt))
                .col(ts(BrowserSession::LastSeenAt))
                .foreign_key(&mut user_fk(
                    "fk_browser_session_user",
                    (BrowserSession::Table, BrowserSession::UserId),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_browser_session_user")
                .table(BrowserSession::Table)
                .col(BrowserSession::UserId)
                .to_owned(),
        )
        .await?;
        // SQLite alters one column per statement.
        m.alter_table(
            Table::alter()
                .table(AuthorizationCode::Table)
                .add_column(ColumnDef::new(AuthorizationCode::Amr).string_len(64).null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RefreshToken::Table)
                .add_column(ColumnDef::new(RefreshToken::Amr).string_len(64).null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(RefreshToken::Table)
                .drop_column(RefreshToken::Amr)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AuthorizationCode::Table)
                .drop_column(AuthorizationCode::Amr)
                .to_owned(),
        )
        .await?;
        for t in [
            BrowserSession::Table.into_iden(),
            RecoveryCode::Table.into_iden(),
            TotpFactor::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TotpFactor {
    Table,
    UserId,
    SecretSealed,
    ConfirmedAt,
    LastStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RecoveryCode {
    Table,
    Id,
    UserId,
    CodeHash,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BrowserSession {
    Table,
    Id,
    UserId,
    Device,
    Ip,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum AuthorizationCode {
    Table,
    Amr,
}

#[derive(DeriveIden)]
enum RefreshToken {
    Table,
    Amr,
}
