//! `latch client update --public / --confidential` (issue #15 item 7, `clients::kind`).

use super::*;

#[tokio::test]
async fn client_update_changes_the_type_and_prints_a_new_secret_once() {
    // Arrange: a confidential client with the code grant only.
    let cli = Cli::new().await;
    let made = cli.json(&[
        "client",
        "create",
        "--name",
        "Web",
        "--redirect-uri",
        "https://web.example/cb",
        "--json",
    ]);
    let id = made["client_id"].as_str().unwrap().to_owned();
    assert!(made["client_secret"].is_string(), "{made}");

    // Act: public.
    let public = cli.json(&["client", "update", &id, "--public", "--json"]);

    // Assert
    assert_eq!(public["public"], true, "{public}");
    assert!(public["client_secret"].is_null());
    let shown = cli.json(&["client", "show", &id, "--json"]);
    assert_eq!(shown["public"], true);
    assert_eq!(shown["token_endpoint_auth_method"], "none", "{shown}");

    // Act: confidential again.
    let confidential = cli.json(&["client", "update", &id, "--confidential", "--json"]);

    // Assert: a new secret, once.
    let secret = confidential["client_secret"]
        .as_str()
        .expect("a new secret");
    assert!(secret.starts_with("cs_"));
    assert_ne!(Some(secret), made["client_secret"].as_str());
    let shown = cli.json(&["client", "show", &id, "--json"]);
    assert_eq!(shown["public"], false);
    assert!(shown["client_secret"].is_null());
    assert_eq!(shown["token_endpoint_auth_method"], "client_secret_basic");

    // Act + Assert: mixed with another change, or both flags: refused (exit 2), unchanged.
    let mixed = cli.run(&["client", "update", &id, "--public", "--name", "X"]);
    assert_eq!(mixed.status.code(), Some(2), "{}", stderr(&mixed));
    assert!(stderr(&mixed).contains("on their own"));
    let both = cli.run(&["client", "update", &id, "--public", "--confidential"]);
    assert_eq!(both.status.code(), Some(2));
    assert_eq!(
        cli.json(&["client", "show", &id, "--json"])["public"],
        false
    );
}

#[tokio::test]
async fn client_update_refuses_public_with_client_credentials_and_says_why() {
    // Arrange
    let cli = Cli::new().await;
    let made = cli.json(&[
        "client",
        "create",
        "--name",
        "Worker",
        "--grant-type",
        "client_credentials",
        "--json",
    ]);
    let id = made["client_id"].as_str().unwrap().to_owned();

    // Act
    let out = cli.run(&["client", "update", &id, "--public"]);

    // Assert
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("client_credentials"),
        "{}",
        stderr(&out)
    );
    let shown = cli.json(&["client", "show", &id, "--json"]);
    assert_eq!(shown["public"], false);
}
