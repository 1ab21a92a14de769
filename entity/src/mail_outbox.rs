//! Mail waiting to be sent (the outbox): the message sealed under the master key (it carries
//! single-use links), claimed by one instance at a time (`claimed_until`), retried at
//! `next_attempt_at`, given up on at `failed_at`. A sent mail's row is deleted.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `password_reset`, `email_verify`: for metrics and the operator, never the content.
    pub kind: String,
    pub recipient: String,
    /// AES-GCM (`crypto::Sealer`) of the JSON subject, text and HTML.
    pub sealed: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub failed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
