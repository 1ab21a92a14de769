//! Secrets at rest (only digests in the database), `latch secret generate`, `latch migrate`, `latch signing-key`.

use super::*;

// ---------------------------------------------------------------------------------------------
// Secrets at rest

/// Every row of every table, one line per row, every column rendered as text.
async fn dump_database(db: &DatabaseConnection) -> String {
    let backend = db.get_database_backend();
    let list = match backend {
        DatabaseBackend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
              WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, list))
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("name"))
        .collect();
    assert!(tables.len() > 5, "found only {tables:?}");
    let mut dump = String::new();
    for table in tables {
        let select = match backend {
            DatabaseBackend::Sqlite => {
                let columns: Vec<String> = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .expect("columns")
                    .iter()
                    .map(|r| r.try_get_by_index::<String>(0).expect("column"))
                    .collect();
                // quote() renders every type, BLOBs as X'…' hex.
                let row = columns
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                format!("SELECT {row} FROM \"{table}\"")
            }
            _ => format!("SELECT row_to_json(t)::text FROM \"{table}\" t"),
        };
        for r in db
            .query_all_raw(Statement::from_string(backend, select))
            .await
            .expect("select rows")
        {
            dump.push_str(&table);
            dump.push_str(": ");
            dump.push_str(&r.try_get_by_index::<String>(0).expect("row text"));
            dump.push('\n');
        }
    }
    dump
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn cli_stores_no_plaintext_secret_when_creating_a_user_a_client_and_keys() {
    // Arrange
    let cli = Cli::new().await;
    let user = cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);
    let client = cli.json(&[
        "client",
        "create",
        "--name",
        "Billing",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--json",
    ]);
    let test_key = cli.json(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "test",
        "--json",
    ]);
    let live_key = cli.json(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "live",
        "--json",
    ]);
    let password = user["password"].as_str().expect("generated password");
    let client_secret = client["client_secret"].as_str().expect("client secret");
    let keys = [
        test_key["key"].as_str().expect("test key"),
        live_key["key"].as_str().expect("live key"),
    ];

    // Act
    let db = Database::connect(&cli.db_url).await.expect("connect");
    let dump = dump_database(&db).await;

    // Assert
    let lower = dump.to_lowercase();
    let mut plaintexts = vec![
        password.to_owned(),
        client_secret.to_owned(),
        client_secret.trim_start_matches("cs_").to_owned(),
    ];
    for k in keys {
        plaintexts.push(k.to_owned());
        plaintexts.push(k[8..].to_owned());
    }
    for p in &plaintexts {
        assert!(
            !lower.contains(&p.to_lowercase()),
            "plaintext {p} is stored:\n{dump}"
        );
        assert!(
            !lower.contains(&hex(p)),
            "plaintext {p} is stored as bytes:\n{dump}"
        );
    }
    for secret in [client_secret, keys[0], keys[1]] {
        let digest = latch::crypto::sha256_hex(secret);
        assert!(
            dump.contains(&digest),
            "no SHA-256 digest of {secret} in:\n{dump}"
        );
    }
    assert!(
        dump.contains("ann@example.com"),
        "the dump sees the user row:\n{dump}"
    );
}

// ---------------------------------------------------------------------------------------------
// latch secret generate, latch migrate, latch signing-key

#[tokio::test]
async fn secret_generate_prints_base64_of_at_least_32_bytes() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let first = cli.run(&["secret", "generate"]);
    let second = cli.run(&["secret", "generate"]);

    // Assert
    assert!(first.status.success(), "{}", stderr(&first));
    let printed = stdout(&first).trim().to_owned();
    let bytes = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ]
    .iter()
    .find_map(|e| e.decode(&printed).ok())
    .unwrap_or_else(|| panic!("not base64: {printed:?}"));
    assert!(bytes.len() >= 32, "{} bytes", bytes.len());
    assert_ne!(
        printed,
        stdout(&second).trim(),
        "every run prints a fresh key"
    );
    assert!(
        latch::config::SecretKey::parse(&printed).is_ok(),
        "LATCH_SECRET_KEY accepts it"
    );
}

#[tokio::test]
async fn migrate_succeeds_and_is_idempotent_when_run_twice() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let first = cli.run(&["migrate"]);
    let second = cli.run(&["migrate"]);

    // Assert
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(second.status.success(), "{}", stderr(&second));
    let db = Database::connect(&cli.db_url).await.expect("connect");
    use migration::MigratorTrait;
    assert!(
        migration::Migrator::get_pending_migrations(&db)
            .await
            .expect("status")
            .is_empty()
    );
}

#[tokio::test]
async fn signing_key_list_shows_both_keys_when_rotated_twice() {
    // Arrange
    let cli = Cli::new().await;
    let first = cli.json(&["signing-key", "rotate", "--json"]);
    let second = cli.json(&["signing-key", "rotate", "--json"]);

    // Act
    let list = cli.json(&["signing-key", "list", "--json"]);

    // Assert
    let keys = list["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys: {list}"));
    assert_eq!(keys.len(), 2, "{list}");
    let mut kids: Vec<&str> = keys.iter().filter_map(|k| k["kid"].as_str()).collect();
    kids.sort();
    let mut rotated = vec![
        first["kid"].as_str().expect("kid"),
        second["kid"].as_str().expect("kid"),
    ];
    rotated.sort();
    assert_ne!(rotated[0], rotated[1]);
    assert_eq!(kids, rotated);
}
