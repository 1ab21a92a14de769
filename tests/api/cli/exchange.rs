//! `client create|update --exchange-audience`: the token-exchange policy (RFC 8693) from the
//! command line, checked against the API catalog.

use super::*;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

#[tokio::test]
async fn exchange_audiences_are_set_checked_and_cleared_from_the_cli() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&[
        "api",
        "create",
        "--identifier",
        "https://billing.example.com",
        "--name",
        "Billing API",
        "--scope",
        "invoices:read=See your invoices",
        "--json",
    ]);

    // Act: an unknown identifier is a usage error naming it; a registered one is kept.
    let bad = cli.run(&[
        "client",
        "create",
        "--name",
        "Gateway",
        "--grant-type",
        GRANT,
        "--exchange-audience",
        "https://nowhere.example.com",
    ]);
    let created = cli.json(&[
        "client",
        "create",
        "--name",
        "Gateway",
        "--grant-type",
        GRANT,
        "--exchange-audience",
        "https://billing.example.com",
        "--json",
    ]);
    let id = created["client_id"].as_str().expect("client_id");
    let shown = cli.json(&["client", "show", id, "--json"]);
    let cleared = cli.json(&["client", "update", id, "--exchange-audience", "", "--json"]);

    // Assert
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("token_exchange_audiences"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(created["grant_types"], serde_json::json!([GRANT]));
    assert_eq!(
        shown["token_exchange_audiences"],
        serde_json::json!(["https://billing.example.com"])
    );
    assert_eq!(cleared["token_exchange_audiences"], serde_json::json!([]));
}
