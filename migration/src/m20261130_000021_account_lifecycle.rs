//! Account lifecycle (issue #12 item 7, #15 item 7): the device flow records how the person
//! signed in when they approved (`amr`, OIDC Core §2), so its ID token carries it like the
//! code flow's. Account deletion and email change need no new column: deletion removes the
//! `user` row (every table keyed by it cascades; `user_token` is cleared by hand) and an
//! email change is a `user_token` row of purpose `email_change` holding the new address.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(DeviceCode::Table)
                .add_column(ColumnDef::new(DeviceCode::Amr).string().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(DeviceCode::Table)
                .drop_column(DeviceCode::Amr)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum DeviceCode {
    Table,
    Amr,
}
