//! DPoP (RFC 9449): the per-client "DPoP required" flag (§5.2 metadata
//! `dpop_bound_access_tokens`) and "server nonce required" flag (§8, §9), the key a code (`dpop_jkt`, §10) or a public client's
//! refresh token (§5) is bound to, and the used proof `jti`s (§11.1) when there is no Redis:
//! one row per (key, `jti`) until the proof's `iat` window has passed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(
                    ColumnDef::new(Client::DpopBoundAccessTokens)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(
                    ColumnDef::new(Client::DpopRequireNonce)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RefreshToken::Table)
                .add_column(ColumnDef::new(RefreshToken::DpopJkt).string().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AuthorizationCode::Table)
                .add_column(ColumnDef::new(AuthorizationCode::DpopJkt).string().null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DpopProof::Table)
                .col(
                    ColumnDef::new(DpopProof::Key)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(DpopProof::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_dpop_proof_expires_at")
                .table(DpopProof::Table)
                .col(DpopProof::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DpopProof::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(AuthorizationCode::Table)
                .drop_column(AuthorizationCode::DpopJkt)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RefreshToken::Table)
                .drop_column(RefreshToken::DpopJkt)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .drop_column(Client::DpopRequireNonce)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .drop_column(Client::DpopBoundAccessTokens)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum Client {
    Table,
    DpopBoundAccessTokens,
    DpopRequireNonce,
}

#[derive(DeriveIden)]
enum RefreshToken {
    Table,
    DpopJkt,
}

#[derive(DeriveIden)]
enum AuthorizationCode {
    Table,
    DpopJkt,
}

#[derive(DeriveIden)]
enum DpopProof {
    Table,
    Key,
    ExpiresAt,
}
