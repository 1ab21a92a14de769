//! Pushed authorization requests (RFC 9126) and `private_key_jwt` client authentication
//! (RFC 7523 §2.2, OIDC Core §9), issue #13 items 3 and 4:
//! - `client.require_par`: the client's authorization requests must come through
//!   `/oauth/par` (RFC 9126 §6, `require_pushed_authorization_requests`);
//! - `client.jwks` / `client.jwks_uri`: the public keys of a `private_key_jwt` client,
//!   inline (a JWK Set, RFC 7517 §5) or by URL (OIDC Dynamic Client Registration §2);
//! - `pushed_request`: a pushed request's parameters under the SHA-256 of its
//!   `request_uri`, so any instance can redeem it, once, before it expires;
//! - `client_assertion_jti`: the `jti` of every accepted client assertion until its `exp`,
//!   so an assertion is single use across instances (RFC 7523 §3 item 7).
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
                    ColumnDef::new(Client::RequirePar)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;
        for col in [Client::Jwks, Client::JwksUri] {
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
                .table(PushedRequest::Table)
                .col(
                    ColumnDef::new(PushedRequest::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(PushedRequest::ClientId)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(PushedRequest::Params).text().not_null())
                .col(
                    ColumnDef::new(PushedRequest::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PushedRequest::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PushedRequest::ConsumedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("pushed_request_client_id_fkey")
                        .from(PushedRequest::Table, PushedRequest::ClientId)
                        .to(Client::Table, Client::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("pushed_request_expires_at_idx")
                .table(PushedRequest::Table)
                .col(PushedRequest::ExpiresAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ClientAssertionJti::Table)
                .col(
                    ColumnDef::new(ClientAssertionJti::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(ClientAssertionJti::ClientId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ClientAssertionJti::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("client_assertion_jti_client_id_fkey")
                        .from(ClientAssertionJti::Table, ClientAssertionJti::ClientId)
                        .to(Client::Table, Client::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("client_assertion_jti_expires_at_idx")
                .table(ClientAssertionJti::Table)
                .col(ClientAssertionJti::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ClientAssertionJti::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(PushedRequest::Table).to_owned())
            .await?;
        for col in [Client::RequirePar, Client::Jwks, Client::JwksUri] {
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

#[derive(DeriveIden, Clone, Copy)]
enum Client {
    Table,
    Id,
    RequirePar,
    Jwks,
    JwksUri,
}

#[derive(DeriveIden)]
enum PushedRequest {
    Table,
    Id,
    ClientId,
    Params,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum ClientAssertionJti {
    Table,
    Id,
    ClientId,
    ExpiresAt,
}
