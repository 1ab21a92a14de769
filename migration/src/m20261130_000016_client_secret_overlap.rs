//! A client secret can be rotated with an overlap, as API keys are rolled (#15 item 7): the
//! previous secret's digest and the moment it stops working. One previous secret at most:
//! rotating again ends the older one at once.

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
                .add_column(ColumnDef::new(Client::PreviousSecretHash).string().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(
                    ColumnDef::new(Client::PreviousSecretExpiresAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [Client::PreviousSecretHash, Client::PreviousSecretExpiresAt] {
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
    PreviousSecretHash,
    PreviousSecretExpiresAt,
}
