//! `latch api …` (issue #11): create, list, scope add/remove, update, delete with `--json`;
//! exit 2 naming a bad value; every change an audit event `via: cli`; `client create`
//! refuses a scope no API defines.

use super::*;

const BILLING: &[&str] = &[
    "api",
    "create",
    "--identifier",
    "https://billing.example.com",
    "--name",
    "Billing API",
    "--scope",
    "invoices:read=See your invoices",
    "--scope",
    "invoices:write=Send invoices",
    "--token-ttl",
    "300",
    "--json",
];

async fn cli_events(cli: &Cli) -> Vec<(String, Value)> {
    let db = Database::connect(&cli.db_url).await.expect("connect");
    latch::store::audit::page(&db, None, latch::store::audit::ModeFilter::All, 1000, None)
        .await
        .expect("readable")
        .into_iter()
        .rev()
        .filter(|e| e.kind.starts_with("api."))
        .map(|e| {
            (
                e.kind,
                serde_json::from_str(&e.detail).expect("json detail"),
            )
        })
        .collect()
}

#[tokio::test]
async fn api_create_list_scope_add_remove_update_and_delete_with_json() {
    // Arrange
    let cli = Cli::new().await;

    // Act
    let created = cli.json(BILLING);
    let id = created["id"].as_str().expect("id").to_owned();
    let list = cli.json(&["api", "list", "--json"]);
    let added = cli.json(&[
        "api",
        "scope",
        "add",
        "--api",
        "https://billing.example.com",
        "invoices:void=Cancel invoices",
        "--json",
    ]);
    let removed = cli.json(&["api", "scope", "remove", "invoices:void", "--json"]);
    let updated = cli.json(&[
        "api",
        "update",
        &id,
        "--name",
        "Billing",
        "--default-token-ttl",
        "--describe",
        "invoices:read=Read your invoices",
        "--json",
    ]);
    let deleted = cli.json(&["api", "delete", &id, "--json"]);
    let after = cli.json(&["api", "list", "--json"]);

    // Assert
    for k in ["id", "identifier", "name", "scopes", "access_token_ttl"] {
        assert!(created.get(k).is_some(), "{k} in {created}");
    }
    assert!(id.starts_with("api_"), "{id}");
    assert_eq!(created["identifier"], "https://billing.example.com");
    assert_eq!(created["access_token_ttl"], 300);
    assert_eq!(
        created["scopes"],
        serde_json::json!([
            {"name": "invoices:read", "description": "See your invoices"},
            {"name": "invoices:write", "description": "Send invoices"},
        ])
    );
    let data = list["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], "api_latch", "the built-in API first");
    assert_eq!(data[1]["id"], id.as_str());
    assert_eq!(added["scopes"].as_array().unwrap().len(), 3);
    assert_eq!(removed["scopes"].as_array().unwrap().len(), 2);
    assert_eq!(updated["name"], "Billing");
    assert_eq!(updated["access_token_ttl"], Value::Null);
    assert_eq!(updated["scopes"][0]["description"], "Read your invoices");
    assert_eq!(deleted["deleted"], true);
    assert_eq!(after["data"].as_array().unwrap().len(), 1);
    let events = cli_events(&cli).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "api.created",
            "api.scope_added",
            "api.scope_removed",
            "api.updated",
            "api.deleted"
        ]
    );
    assert!(
        events
            .iter()
            .all(|(_, d)| d["via"] == "cli" && d["api"] == id.as_str())
    );
    assert_eq!(events[1].1["scope"], "invoices:void");
}

#[tokio::test]
async fn api_list_without_json_prints_a_table_with_the_builtin_api_first() {
    let cli = Cli::new().await;
    cli.json(BILLING);
    let out = cli.run(&["api", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("api_latch") && lines[0].contains("built-in"));
    assert!(lines[1].contains("https://billing.example.com") && lines[1].contains("invoices:read"));
}

#[tokio::test]
async fn api_commands_refuse_bad_input_with_exit_2_naming_the_value() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(BILLING);
    let create = |scope: &'static str, extra: &[&'static str]| {
        let mut a = vec![
            "api",
            "create",
            "--identifier",
            "https://reports.example.com",
            "--name",
            "Reports",
            "--scope",
            scope,
        ];
        a.extend_from_slice(extra);
        a
    };

    // Act / Assert
    for (args, needle) in [
        (create("Reports=See reports", &[]), "Reports"),
        (create("reports", &[]), "reports"),
        (create("openid=Sign in", &[]), "openid"),
        (create("events:read=Events", &[]), "events:read"),
        (create("read=Read", &[]), "read"),
        (create("invoices:read=Again", &[]), "Billing API"),
        (
            create("reports=See reports", &["--token-ttl", "5"]),
            "--token-ttl 5",
        ),
        (
            create("reports=See reports", &["--token-ttl", "soon"]),
            "soon",
        ),
    ] {
        assert_usage_error(&cli.run(&args), needle);
    }
    assert_usage_error(
        &cli.run(&[
            "api",
            "create",
            "--identifier",
            "http://reports.example.com",
            "--name",
            "R",
        ]),
        "--identifier \"http://reports.example.com\"",
    );
    assert_usage_error(
        &cli.run(&[
            "api",
            "update",
            "https://billing.example.com",
            "--token-ttl",
            "100000",
        ]),
        "--token-ttl 100000",
    );
    assert_usage_error(
        &cli.run(&["api", "scope", "add", "--api", "api_nope", "x=y"]),
        "api_nope",
    );
    assert_usage_error(
        &cli.run(&["api", "scope", "add", "--api", "api_latch", "admin=Admin"]),
        "built-in",
    );
    assert_usage_error(&cli.run(&["api", "scope", "remove", "nope"]), "nope");
    assert_usage_error(&cli.run(&["api", "delete", "api_latch"]), "built-in");
    assert_usage_error(
        &cli.run(&[
            "api",
            "update",
            "https://billing.example.com",
            "--describe",
            "nope=Nothing",
        ]),
        "nope",
    );
    // Nothing was created by the refused commands.
    assert_eq!(
        cli.json(&["api", "list", "--json"])["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_scope_a_client_holds_cannot_be_removed_and_client_create_refuses_unknown_scopes() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(BILLING);

    // Act: an unknown scope is refused, naming it.
    let refused = cli.run(&[
        "client",
        "create",
        "--name",
        "Invoicer",
        "--redirect-uri",
        "https://invoicer.example/cb",
        "--scope",
        "reports:read",
    ]);
    let client = cli.json(&[
        "client",
        "create",
        "--name",
        "Invoicer",
        "--redirect-uri",
        "https://invoicer.example/cb",
        "--scope",
        "invoices:read",
        "--json",
    ]);

    // Assert
    assert_usage_error(&refused, "reports:read");
    assert_eq!(client["scopes"], serde_json::json!(["invoices:read"]));
    let client_id = client["client_id"].as_str().unwrap();
    let out = cli.run(&["api", "scope", "remove", "invoices:read"]);
    assert_usage_error(&out, client_id);
    assert_usage_error(
        &cli.run(&["api", "delete", "https://billing.example.com"]),
        client_id,
    );
    // The other scope, held by nobody, can go.
    assert!(
        cli.run(&["api", "scope", "remove", "invoices:write"])
            .status
            .success()
    );
}
