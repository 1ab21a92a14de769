//! Mail, password reset and email verification (issue #12 items 1–3):
//! - `mail_outbox`: mail waiting to be sent. The request path only inserts a row (in the
//!   transaction of the token it carries); the worker claims, sends, retries with backoff
//!   and gives up after `LATCH_MAIL_MAX_ATTEMPTS`. The message is sealed under the master
//!   key (it carries single-use links), so a database reader learns only the recipient.
//! - `user_token`: single-use links mailed to a person (password reset, email
//!   verification), stored as the SHA-256 of the token, never the token.
//! - `user.email_verified_at`: when the current address was proven by a link.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(MailOutbox::Table)
                .col(
                    ColumnDef::new(MailOutbox::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(MailOutbox::Kind).string_len(32).not_null())
                .col(ColumnDef::new(MailOutbox::Recipient).text().not_null())
                .col(ColumnDef::new(MailOutbox::Sealed).text().not_null())
                .col(
                    ColumnDef::new(MailOutbox::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(MailOutbox::NextAttemptAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(MailOutbox::ClaimedUntil)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new(MailOutbox::LastError).text().null())
                .col(
                    ColumnDef::new(MailOutbox::FailedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(
                    ColumnDef::new(MailOutbox::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("mail_outbox_due")
                .table(MailOutbox::Table)
                .col(MailOutbox::FailedAt)
                .col(MailOutbox::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserToken::Table)
                .col(
                    ColumnDef::new(UserToken::TokenHash)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(UserToken::UserId).string_len(64).not_null())
                .col(ColumnDef::new(UserToken::Purpose).string_len(32).not_null())
                .col(ColumnDef::new(UserToken::Email).text().not_null())
                .col(
                    ColumnDef::new(UserToken::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserToken::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(UserToken::UsedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("user_token_user")
                .table(UserToken::Table)
                .col(UserToken::UserId)
                .col(UserToken::Purpose)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(User::Table)
                .add_column(
                    ColumnDef::new(User::EmailVerifiedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(User::Table)
                .drop_column(User::EmailVerifiedAt)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(UserToken::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(MailOutbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    Kind,
    Recipient,
    Sealed,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    LastError,
    FailedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UserToken {
    Table,
    TokenHash,
    UserId,
    Purpose,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum User {
    Table,
    EmailVerifiedAt,
}
