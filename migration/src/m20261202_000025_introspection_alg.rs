//! RFC 9701 §6 client metadata `introspection_signed_response_alg`: the JWS algorithm a
//! resource server registered for the signed introspection responses it asks for. `NULL`:
//! not registered (Latch signs with its access tokens' algorithm, which its metadata
//! advertises).

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
                    ColumnDef::new(Client::IntrospectionSignedResponseAlg)
                        .string_len(16)
                        .null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .drop_column(Client::IntrospectionSignedResponseAlg)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum Client {
    Table,
    IntrospectionSignedResponseAlg,
}
