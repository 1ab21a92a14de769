//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document, #13 item 5):
//! a client whose `client_id` is an `https` URL gets a row of its own, keyed by a digest of
//! the URL (client ids are at most 64 characters everywhere they are stored), holding the
//! URL and until when the fetched document may be used before it is fetched again.

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
                .add_column(ColumnDef::new(Client::MetadataDocumentUrl).text().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Client::Table)
                .add_column(
                    ColumnDef::new(Client::MetadataDocumentExpiresAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            Client::MetadataDocumentUrl,
            Client::MetadataDocumentExpiresAt,
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
    MetadataDocumentUrl,
    MetadataDocumentExpiresAt,
}
