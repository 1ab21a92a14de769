//! Benchmark fixture: insert N authorization codes for one client and user straight into
//! the database and print them, one per line, so wrk can redeem each exactly once.
//!
//!   cargo run --release --example mint_codes -- <database_url> <client_id> <user_email> <n>

use latch::crypto;
use sea_orm::{Database, TransactionTrait};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, client_id, email, n] = args.as_slice() else {
        eprintln!("usage: mint_codes <database_url> <client_id> <user_email> <n>");
        std::process::exit(2);
    };
    let n: usize = n.parse()?;
    let db = Database::connect(url.as_str()).await?;
    let client = latch::store::clients::by_id(&db, client_id)
        .await?
        .ok_or("no such client")?;
    let user = latch::store::users::by_email(&db, email)
        .await?
        .ok_or("no such user")?;
    let now = latch::store::now();
    let redirect = client
        .redirect_uris
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let txn = db.begin().await?;
    for _ in 0..n {
        let code = crypto::mint_secret("ac_");
        let row = entity::authorization_code::Model {
            id: crypto::new_id("code"),
            code_hash: crypto::sha256_hex(&code),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            redirect_uri: redirect.clone(),
            redirect_uri_sent: false,
            scope: "read write".into(),
            code_challenge: None,
            code_challenge_method: None,
            nonce: None,
            auth_time: now,
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
            consumed_at: None,
            family_id: None,
            access_token_jti: None,
            access_token_expires_at: None,
        };
        latch::store::codes::insert(&txn, row).await?;
        println!("{code}");
    }
    txn.commit().await?;
    Ok(())
}
