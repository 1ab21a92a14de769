//! Passkeys (DESIGN.md "Accounts people can trust", #12 item 4; W3C WebAuthn Level 3):
//! - `passkey`: one row per registered credential: its credential id (base64url, unique
//!   across accounts: WebAuthn §7.1 step 22 wants a credential registered once), the user
//!   handle it was made for, the person's name for it, the `webauthn-rs` credential record
//!   (public key, signature counter, backup flags; JSON, no secret in it), created and last
//!   used.
//! - `passkey_ceremony`: the server side of a registration or sign-in ceremony under way (its
//!   challenge; WebAuthn §13.4.3: kept by the relying party, used once), short-lived. The
//!   browser's session holds only its id.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Passkey::Table)
                .col(
                    ColumnDef::new(Passkey::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Passkey::UserId).string_len(64).not_null())
                .col(
                    ColumnDef::new(Passkey::CredentialId)
                        .string_len(1400)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Passkey::UserHandle)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(Passkey::Name).string_len(128).not_null())
                .col(ColumnDef::new(Passkey::Credential).text().not_null())
                .col(ts(Passkey::CreatedAt))
                .col(
                    ColumnDef::new(Passkey::LastUsedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_passkey_user")
                        .from(Passkey::Table, Passkey::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_passkey_credential")
                .table(Passkey::Table)
                .col(Passkey::CredentialId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_passkey_user")
                .table(Passkey::Table)
                .col(Passkey::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PasskeyCeremony::Table)
                .col(
                    ColumnDef::new(PasskeyCeremony::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(PasskeyCeremony::Kind)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PasskeyCeremony::UserId)
                        .string_len(64)
                        .null(),
                )
                .col(ColumnDef::new(PasskeyCeremony::State).text().not_null())
                .col(ts(PasskeyCeremony::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_passkey_ceremony_expires")
                .table(PasskeyCeremony::Table)
                .col(PasskeyCeremony::ExpiresAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            PasskeyCeremony::Table.into_iden(),
            Passkey::Table.into_iden(),
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
enum Passkey {
    Table,
    Id,
    UserId,
    CredentialId,
    UserHandle,
    Name,
    Credential,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum PasskeyCeremony {
    Table,
    Id,
    Kind,
    UserId,
    State,
    ExpiresAt,
}
