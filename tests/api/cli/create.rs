//! `latch user create`, `latch client create` and `latch key create`: secrets shown once, exit code 2 on bad input.

use super::*;

// ---------------------------------------------------------------------------------------------
// latch user create

#[tokio::test]
async fn user_create_prints_a_generated_password_once_when_no_password_is_given() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Assert
    assert_eq!(
        keys_of(&v),
        sorted(&["id", "email", "admin", "email_verified", "password"])
    );
    assert_eq!(v["email"], "ann@example.com");
    assert_eq!(
        v["admin"], true,
        "the first user of an empty server is its admin"
    );
    assert!(v["id"].as_str().is_some_and(|s| !s.is_empty()));
    let password = v["password"].as_str().expect("password");
    assert!(password.len() >= 16, "{password}");
    let db = Database::connect(&cli.db_url).await.expect("connect");
    let user = latch::store::users::by_email(&db, "ann@example.com")
        .await
        .unwrap()
        .expect("user");
    assert!(latch::users::password::verify_blocking(
        &user.password_hash,
        password
    ));
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_does_not_print_it_when_password_stdin_is_set()
 {
    // Arrange
    let cli = Cli::new().await;
    let password = "correct horse battery staple";

    // Act
    let out = cli.run_with_stdin(
        &[
            "user",
            "create",
            "--email",
            "bob@example.com",
            "--password-stdin",
            "--json",
        ],
        &format!("{password}\n"),
    );

    // Assert
    let v = parse_json(&out);
    assert_eq!(
        keys_of(&v),
        sorted(&["id", "email", "admin", "email_verified"])
    );
    assert!(!stdout(&out).contains(password) && !stderr(&out).contains(password));
    let db = Database::connect(&cli.db_url).await.expect("connect");
    let user = latch::store::users::by_email(&db, "bob@example.com")
        .await
        .unwrap()
        .expect("user");
    assert!(latch::users::password::verify_blocking(
        &user.password_hash,
        password
    ));
}

#[tokio::test]
async fn user_create_makes_an_admin_when_admin_is_set() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&[
        "user",
        "create",
        "--email",
        "root@example.com",
        "--admin",
        "--json",
    ]);

    // Assert
    assert_eq!(v["admin"], true);
}

#[tokio::test]
async fn user_create_fails_with_a_clear_message_when_the_email_is_taken() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Act
    let out = cli.run(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Assert
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[tokio::test]
async fn user_create_fails_when_the_email_is_taken_in_another_case() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Act
    let out = cli.run(&["user", "create", "--email", "Ann@Example.COM", "--json"]);

    // Assert
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

#[tokio::test]
async fn user_create_exits_2_when_the_email_is_invalid() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let out = cli.run(&["user", "create", "--email", "not-an-email", "--json"]);

    // Assert
    assert_usage_error(&out, "email");
}

// ---------------------------------------------------------------------------------------------
// latch client create

#[tokio::test]
async fn client_create_prints_the_documented_fields_and_a_secret_when_confidential() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&[
        "client",
        "create",
        "--name",
        "Billing",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--json",
    ]);

    // Assert
    assert_eq!(
        keys_of(&v),
        sorted(&[
            "client_id",
            "client_secret",
            "name",
            "redirect_uris",
            "grant_types",
            "scopes",
            "livemode",
            "public"
        ])
    );
    assert!(v["client_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        v["client_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("cs_")),
        "{v}"
    );
    assert_eq!(v["name"], "Billing");
    assert_eq!(
        v["redirect_uris"],
        serde_json::json!(["https://app.example.com/cb"])
    );
    assert_eq!(
        v["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    let scopes: Vec<&str> = v["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&"read") && scopes.contains(&"write"),
        "{scopes:?}"
    );
    assert_eq!(v["livemode"], true);
    assert_eq!(v["public"], false);
}

#[tokio::test]
async fn client_create_prints_no_secret_when_the_client_is_public() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&[
        "client",
        "create",
        "--name",
        "Mobile",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--public",
        "--json",
    ]);

    // Assert
    assert_eq!(v["public"], true);
    assert!(v.get("client_secret").is_none_or(Value::is_null), "{v}");
    assert!(!v.to_string().contains("cs_"), "{v}");
}

#[tokio::test]
async fn client_create_needs_no_redirect_uri_when_the_only_grant_is_client_credentials() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&[
        "client",
        "create",
        "--name",
        "Cron",
        "--grant-type",
        "client_credentials",
        "--json",
    ]);

    // Assert
    assert_eq!(v["grant_types"], serde_json::json!(["client_credentials"]));
    assert_eq!(v["redirect_uris"], serde_json::json!([]));
    assert!(
        v["client_secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("cs_")),
        "{v}"
    );
}

#[tokio::test]
async fn client_create_exits_2_naming_the_uri_when_a_redirect_uri_is_http_off_loopback() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let out = cli.run(&[
        "client",
        "create",
        "--name",
        "Old",
        "--redirect-uri",
        "http://app.example.com/cb",
        "--json",
    ]);

    // Assert
    assert_usage_error(&out, "http://app.example.com/cb");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

// ---------------------------------------------------------------------------------------------
// latch key create

#[tokio::test]
async fn key_create_prints_a_test_key_once_when_mode_is_test() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Act
    let v = cli.json(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "test",
        "--json",
    ]);

    // Assert
    assert_eq!(
        keys_of(&v),
        sorted(&["id", "key", "type", "livemode", "scopes", "name"])
    );
    assert!(
        v["key"].as_str().is_some_and(|k| k.starts_with("sk_test_")),
        "{v}"
    );
    assert_eq!(v["livemode"], false);
    assert_eq!(v["type"], "secret");
    assert!(v["scopes"].is_array(), "{v}");
    assert!(v["name"].is_string(), "{v}");
}

#[tokio::test]
async fn key_create_prints_a_live_key_when_mode_is_live() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Act
    let v = cli.json(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "live",
        "--name",
        "CI",
        "--json",
    ]);

    // Assert
    assert!(
        v["key"].as_str().is_some_and(|k| k.starts_with("sk_live_")),
        "{v}"
    );
    assert_eq!(v["livemode"], true);
    assert_eq!(v["name"], "CI");
}

#[tokio::test]
async fn key_create_exits_2_when_the_user_does_not_exist() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let out = cli.run(&[
        "key",
        "create",
        "--user",
        "ghost@example.com",
        "--mode",
        "test",
        "--json",
    ]);

    // Assert
    assert_usage_error(&out, "ghost@example.com");
}

#[tokio::test]
async fn client_create_resource_server_needs_no_redirect_uri() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let v = cli.json(&[
        "client",
        "create",
        "--name",
        "Billing API",
        "--resource-server",
        "--json",
    ]);

    // Assert: no user flow, so no redirect URI; it may get tokens of its own.
    assert_eq!(v["grant_types"], serde_json::json!(["client_credentials"]));
    assert_eq!(v["redirect_uris"], serde_json::json!([]));
    assert!(v["client_secret"].as_str().is_some(), "{v}");
}

#[tokio::test]
async fn key_create_with_scopes_makes_a_restricted_key_and_refuses_unknown_scopes_by_name() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);

    // Act
    let v = cli.json(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "test",
        "--scope",
        "clients:read",
        "--remaining",
        "5",
        "--allowed-ip",
        "10.0.0.0/8",
        "--metadata",
        "team=ops",
        "--json",
    ]);
    let bad = cli.run(&[
        "key",
        "create",
        "--user",
        "ann@example.com",
        "--mode",
        "test",
        "--scope",
        "invoices:frobnicate",
        "--json",
    ]);

    // Assert
    assert!(
        v["key"].as_str().is_some_and(|k| k.starts_with("rk_test_")),
        "{v}"
    );
    assert_eq!(v["type"], "restricted");
    assert_eq!(v["scopes"], serde_json::json!(["clients:read"]));
    assert_usage_error(&bad, "invoices:frobnicate");
    let list = cli.json(&["key", "list", "--user", "ann@example.com", "--json"]);
    let k = &list["data"][0];
    assert_eq!(k["remaining"], 5);
    assert_eq!(k["allowed_ips"], serde_json::json!(["10.0.0.0/8"]));
    assert_eq!(k["metadata"]["team"], "ops");
}

#[tokio::test]
async fn client_create_registers_a_private_key_jwt_client_from_a_jwks_file_with_par_required() {
    // Arrange: a public key in a JWK Set file, and one with its private part.
    let cli = Cli::new().await;
    let key = latch::signing::generate(latch::signing::SigningAlg::ES256).expect("key");
    let jwk: Value = serde_json::from_str(&key.public_jwk).expect("jwk");
    std::fs::write(
        cli.cwd.path().join("jwks.json"),
        serde_json::json!({"keys": [jwk.clone()]}).to_string(),
    )
    .expect("write");
    let mut private = jwk;
    private["d"] = Value::from("AAAA");
    std::fs::write(
        cli.cwd.path().join("private.json"),
        serde_json::json!({"keys": [private]}).to_string(),
    )
    .expect("write");
    let create = |extra: &[&str]| {
        let mut args = vec![
            "client",
            "create",
            "--name",
            "Keyed",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read",
        ];
        args.extend_from_slice(extra);
        cli.run(&args)
    };

    // Act
    let made = parse_json(&create(&[
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        "jwks.json",
        "--require-par",
        "--json",
    ]));
    let id = made["client_id"].as_str().expect("client_id").to_owned();
    let shown = cli.json(&["client", "show", &id, "--json"]);
    let updated = cli.json(&["client", "update", &id, "--require-par", "false", "--json"]);
    let no_keys = create(&["--auth-method", "private_key_jwt"]);
    let private_key = create(&["--auth-method", "private_key_jwt", "--jwks", "private.json"]);
    let unknown = create(&["--auth-method", "tls_client_auth"]);

    // Assert
    assert!(made["client_secret"].is_null(), "{made}");
    assert_eq!(shown["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(shown["require_pushed_authorization_requests"], true);
    assert_eq!(updated["require_pushed_authorization_requests"], false);
    assert_usage_error(&no_keys, "jwks");
    assert_usage_error(&private_key, "private");
    assert_usage_error(&unknown, "token_endpoint_auth_method");
}
