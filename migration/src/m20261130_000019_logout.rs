//! Logout for OpenID apps (issue #13 item 6; OIDC RP-Initiated Logout 1.0, Back-Channel
//! Logout 1.0):
//! - `client.post_logout_redirect_uris` (space-separated, exact match, like redirect URIs),
//!   `client.backchannel_logout_uri`, `client.backchannel_logout_session_required`.
//! - `authorization_code.sid`, `refresh_token.sid`: the public session id (`sid` claim) of
//!   the browser session the grant was made in, for the ID tokens of the grant.
//! - `session_client`: which clients got tokens in which browser session (by public `sid`),
//!   so ending the session knows whom to tell.
//! - `backchannel_logout`: the outbox of logout tokens to POST (claimed, retried with
//!   backoff, given up on after `LATCH_BACKCHANNEL_MAX_ATTEMPTS`), like `mail_outbox`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for col in [
            ColumnDef::new(Client::PostLogoutRedirectUris)
                .text()
                .not_null()
                .default("")
                .to_owned(),
            ColumnDef::new(Client::BackchannelLogoutUri)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Client::BackchannelLogoutSessionRequired)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(Client::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(AuthorizationCode::Table)
                .add_column(ColumnDef::new(AuthorizationCode::Sid).string_len(64).null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RefreshToken::Table)
                .add_column(ColumnDef::new(RefreshToken::Sid).string_len(64).null())
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SessionClient::Table)
                .col(ColumnDef::new(SessionClient::Sid).string_len(64).not_null())
                .col(
                    ColumnDef::new(SessionClient::ClientId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SessionClient::UserId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SessionClient::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(SessionClient::Sid)
                        .col(SessionClient::ClientId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("session_client_client_id_fkey")
                        .from(SessionClient::Table, SessionClient::ClientId)
                        .to(Client::Table, Client::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("session_client_user_id_fkey")
                        .from(SessionClient::Table, SessionClient::UserId)
                        .to(User::Table, User::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("session_client_user_id_idx")
                .table(SessionClient::Table)
                .col(SessionClient::UserId)
                .to_owned(),
        )
        .await?;

        let ts_null = |c: BackchannelLogout| {
            ColumnDef::new(c)
                .timestamp_with_time_zone()
                .null()
                .to_owned()
        };
        m.create_table(
            Table::create()
                .table(BackchannelLogout::Table)
                .col(
                    ColumnDef::new(BackchannelLogout::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(BackchannelLogout::ClientId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(BackchannelLogout::UserId)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(BackchannelLogout::Sid).string_len(64).null())
                .col(
                    ColumnDef::new(BackchannelLogout::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(BackchannelLogout::NextAttemptAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ts_null(BackchannelLogout::ClaimedUntil))
                .col(ColumnDef::new(BackchannelLogout::LastError).text().null())
                .col(ts_null(BackchannelLogout::FailedAt))
                .col(
                    ColumnDef::new(BackchannelLogout::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("backchannel_logout_client_id_fkey")
                        .from(BackchannelLogout::Table, BackchannelLogout::ClientId)
                        .to(Client::Table, Client::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("backchannel_logout_next_attempt_at_idx")
                .table(BackchannelLogout::Table)
                .col(BackchannelLogout::NextAttemptAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BackchannelLogout::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(SessionClient::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(RefreshToken::Table)
                .drop_column(RefreshToken::Sid)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AuthorizationCode::Table)
                .drop_column(AuthorizationCode::Sid)
                .to_owned(),
        )
        .await?;
        for col in [
            Client::PostLogoutRedirectUris,
            Client::BackchannelLogoutUri,
            Client::BackchannelLogoutSessionRequired,
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

#[derive(DeriveIden)]
enum Client {
    Table,
    Id,
    PostLogoutRedirectUris,
    BackchannelLogoutUri,
    BackchannelLogoutSessionRequired,
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AuthorizationCode {
    Table,
    Sid,
}

#[derive(DeriveIden)]
enum RefreshToken {
    Table,
    Sid,
}

#[derive(DeriveIden)]
enum SessionClient {
    Table,
    Sid,
    ClientId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BackchannelLogout {
    Table,
    Id,
    ClientId,
    UserId,
    Sid,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    LastError,
    FailedAt,
    CreatedAt,
}
