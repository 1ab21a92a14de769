//! Periodic clean-up of rows that can no longer matter: expired deny-list entries,
//! expired authorization codes and refresh-token families past their absolute expiry.

use std::time::Duration;

use sea_orm::DatabaseConnection;

pub const EVERY: Duration = Duration::from_secs(600);

pub fn spawn(db: DatabaseConnection) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = crate::store::tokens::sweep(&db, crate::store::now()).await {
                tracing::warn!(error = ?e, "sweeping expired rows failed");
            }
        }
    });
}
