//! Latch's schema migrations, run by `latch migrate` and at `latch serve` start-up.
//! They are the only source of the schema: tests run them on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

/// A used DPoP proof's fingerprint in SQLite's replay log.
pub use m20261201_000023_dpop_proof_log::fingerprint as dpop_proof_fingerprint;

mod m20261127_000001_create_schema;
mod m20261130_000001_event_livemode;
mod m20261130_000002_api_catalog;
mod m20261130_000003_key_policies;
mod m20261130_000005_client_disabled;
mod m20261130_000006_client_metadata;
mod m20261130_000010_dpop;
mod m20261130_000011_token_exchange;
mod m20261130_000012_cors_device;
mod m20261130_000013_par_private_key_jwt;
mod m20261130_000014_mail_reset_verify;
mod m20261130_000015_totp_sessions;
mod m20261130_000016_client_secret_overlap;
mod m20261130_000017_client_registration;
mod m20261130_000018_client_metadata_documents;
mod m20261130_000019_logout;
mod m20261130_000020_passkeys;
mod m20261130_000021_account_lifecycle;
mod m20261201_000022_logo_refresh;
mod m20261201_000023_dpop_proof_log;
mod m20261202_000024_dpop_proof_log_lean;
mod m20261202_000025_introspection_alg;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_schema::Migration),
            Box::new(m20261130_000001_event_livemode::Migration),
            Box::new(m20261130_000002_api_catalog::Migration),
            Box::new(m20261130_000003_key_policies::Migration),
            Box::new(m20261130_000005_client_disabled::Migration),
            Box::new(m20261130_000006_client_metadata::Migration),
            Box::new(m20261130_000010_dpop::Migration),
            Box::new(m20261130_000011_token_exchange::Migration),
            Box::new(m20261130_000012_cors_device::Migration),
            Box::new(m20261130_000013_par_private_key_jwt::Migration),
            Box::new(m20261130_000014_mail_reset_verify::Migration),
            Box::new(m20261130_000015_totp_sessions::Migration),
            Box::new(m20261130_000016_client_secret_overlap::Migration),
            Box::new(m20261130_000017_client_registration::Migration),
            Box::new(m20261130_000018_client_metadata_documents::Migration),
            Box::new(m20261130_000019_logout::Migration),
            Box::new(m20261130_000020_passkeys::Migration),
            Box::new(m20261130_000021_account_lifecycle::Migration),
            Box::new(m20261201_000022_logo_refresh::Migration),
            Box::new(m20261201_000023_dpop_proof_log::Migration),
            Box::new(m20261202_000024_dpop_proof_log_lean::Migration),
            Box::new(m20261202_000025_introspection_alg::Migration),
        ]
    }
}
