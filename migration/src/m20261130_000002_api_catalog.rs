//! The permission catalog (DESIGN.md "Your own APIs"): the operator's APIs (resource
//! servers, RFC 8707 resource identifiers) and their scopes. A scope name is the primary key
//! of `api_scope`, so names are unique across every API. The built-in "Latch API" is not
//! stored: it is derived from `LATCH_AUDIENCE` at start-up.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Api::Table)
                .col(
                    ColumnDef::new(Api::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Api::Identifier).text().not_null())
                .col(ColumnDef::new(Api::Name).string_len(255).not_null())
                .col(ColumnDef::new(Api::AccessTokenTtl).integer().null())
                .col(
                    ColumnDef::new(Api::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Api::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("api_identifier_key")
                .table(Api::Table)
                .col(Api::Identifier)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ApiScope::Table)
                .col(
                    ColumnDef::new(ApiScope::Name)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(ApiScope::ApiId).string_len(64).not_null())
                .col(ColumnDef::new(ApiScope::Description).text().not_null())
                .col(
                    ColumnDef::new(ApiScope::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("api_scope_api_id_fkey")
                        .from(ApiScope::Table, ApiScope::ApiId)
                        .to(Api::Table, Api::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("api_scope_api_id_idx")
                .table(ApiScope::Table)
                .col(ApiScope::ApiId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ApiScope::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Api::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Api {
    Table,
    Id,
    Identifier,
    Name,
    AccessTokenTtl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiScope {
    Table,
    Name,
    ApiId,
    Description,
    CreatedAt,
}
