//! Events carry the mode of the object they are about (`livemode`), so a test-mode key
//! never reads live-mode activity (issue #9, finding 17). `NULL` marks account events
//! (sign-ins, password changes) that belong to no mode; those are live-mode reading.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AuditEvent::Table)
                .add_column(ColumnDef::new(AuditEvent::Livemode).boolean().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AuditEvent::Table)
                .drop_column(AuditEvent::Livemode)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Livemode,
}
