//! The operator's everyday commands (#15): `user list|promote|demote|set-password|disable|
//! enable`, `client list|show|rotate-secret|update|delete|disable|enable`, the first user of
//! an empty server being an admin, and every change an audit event `via: cli`. Effects are
//! checked against a running app on the same database.

use super::*;

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn cli_event_kinds(cli: &Cli) -> Vec<String> {
    let db = Database::connect(&cli.db_url).await.expect("connect");
    latch::store::audit::page(&db, None, latch::store::audit::ModeFilter::All, 1000, None)
        .await
        .expect("readable")
        .into_iter()
        .rev()
        .filter(|e| serde_json::from_str::<Value>(&e.detail).is_ok_and(|d| d["via"] == "cli"))
        .map(|e| e.kind)
        .collect()
}

async fn app_on(cli: &Cli) -> TestApp {
    let url = cli.db_url.clone();
    spawn_app_with(move |s| s.database_url = url).await
}

/// Poll until `status` answers `want` (another process's change reaches the app's row
/// caches within their 2 s lifetime).
async fn eventually<F, Fut>(what: &str, want: u16, mut status: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = status().await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still {got}, not {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_first_user_of_an_empty_server_is_an_admin_unless_told_otherwise() {
    let cli = Cli::new().await;
    let first = cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);
    let second = cli.json(&["user", "create", "--email", "bob@example.com", "--json"]);
    assert_eq!(first["admin"], true, "{first}");
    assert_eq!(second["admin"], false, "{second}");

    let other = Cli::sqlite();
    let v = other.json(&[
        "user",
        "create",
        "--email",
        "ann@example.com",
        "--no-admin",
        "--json",
    ]);
    assert_eq!(v["admin"], false, "{v}");
    let both = other.run(&[
        "user",
        "create",
        "--email",
        "x@example.com",
        "--admin",
        "--no-admin",
    ]);
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
}

#[tokio::test]
async fn user_list_promote_demote_set_password_disable_and_enable() {
    // Arrange
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);
    cli.json(&["user", "create", "--email", "bob@example.com", "--json"]);

    // Act and assert, command by command
    let list = cli.json(&["user", "list", "--json"]);
    let emails: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails.len(), 2, "{list}");
    assert!(emails.contains(&"ann@example.com") && emails.contains(&"bob@example.com"));

    assert_eq!(
        cli.json(&["user", "promote", "bob@example.com", "--json"])["admin"],
        true
    );
    assert_eq!(
        cli.json(&["user", "demote", "bob@example.com", "--json"])["admin"],
        false
    );
    let reset = parse_json(&cli.run_with_stdin(
        &[
            "user",
            "set-password",
            "bob@example.com",
            "--password-stdin",
            "--json",
        ],
        &format!("{NEW_PASSWORD}\n"),
    ));
    assert!(
        reset.get("password").is_none(),
        "a given password is not echoed"
    );
    let generated = cli.json(&["user", "set-password", "ann@example.com", "--json"]);
    let ann_password = generated["password"]
        .as_str()
        .expect("generated")
        .to_owned();
    assert_eq!(
        cli.json(&["user", "disable", "bob@example.com", "--json"])["disabled"],
        true
    );
    assert_eq!(
        cli.json(&["user", "enable", "bob@example.com", "--json"])["disabled"],
        false
    );
    cli.json(&["user", "disable", "ann@example.com", "--json"]);

    let unknown = cli.run(&["user", "promote", "nobody@example.com"]);
    assert_usage_error(&unknown, "nobody@example.com");
    let weak = cli.run_with_stdin(
        &[
            "user",
            "set-password",
            "bob@example.com",
            "--password-stdin",
        ],
        "short\n",
    );
    assert_eq!(weak.status.code(), Some(2), "{}", stderr(&weak));

    // The running app sees the new password and the disabled account.
    let app = app_on(&cli).await;
    let browser = app.new_browser();
    assert_eq!(
        app.sign_in(&browser, "bob@example.com", NEW_PASSWORD, "/")
            .await
            .status(),
        303,
        "bob signs in with the password the operator set"
    );
    let ann = app.new_browser();
    assert_ne!(
        app.sign_in(&ann, "ann@example.com", &ann_password, "/")
            .await
            .status(),
        303,
        "a disabled account cannot sign in"
    );

    assert_eq!(
        cli_event_kinds(&cli).await,
        [
            "user.admin_granted",
            "user.admin_revoked",
            "password.changed",
            "password.changed",
            "user.disabled",
            "user.enabled",
            "user.disabled",
        ]
    );
}

#[tokio::test]
async fn client_list_show_rotate_update_disable_enable_and_delete() {
    // Arrange
    let cli = Cli::new().await;
    let created = cli.json(&[
        "client",
        "create",
        "--name",
        "Nightly export",
        "--grant-type",
        "client_credentials",
        "--scope",
        "read",
        "--json",
    ]);
    let id = created["client_id"].as_str().expect("id").to_owned();
    let first_secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    // Act and assert
    let list = cli.json(&["client", "list", "--json"]);
    assert_eq!(list["data"][0]["client_id"], id.as_str(), "{list}");
    assert_eq!(
        cli.json(&["client", "list", "--operator", "--json"])["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let shown = cli.json(&["client", "show", &id, "--json"]);
    assert_eq!(shown["name"], "Nightly export");
    assert!(
        shown.get("client_secret").is_none(),
        "show never prints a secret"
    );

    let rotated = cli.json(&["client", "rotate-secret", &id, "--json"]);
    let mut secret = rotated["client_secret"]
        .as_str()
        .expect("new secret")
        .to_owned();
    assert_ne!(secret, first_secret);

    let renamed = cli.json(&[
        "client",
        "update",
        &id,
        "--name",
        "Nightly export v2",
        "--json",
    ]);
    assert_eq!(renamed["name"], "Nightly export v2");
    assert_usage_error(
        &cli.run(&["client", "update", &id, "--scope", "invoices:read"]),
        "invoices:read",
    );
    assert_usage_error(&cli.run(&["client", "update", &id]), "nothing to change");
    assert_usage_error(&cli.run(&["client", "show", "cl_nope"]), "cl_nope");

    let app = app_on(&cli).await;
    let token = |secret: String| {
        let (app, id) = (&app, id.clone());
        async move {
            app.post_token_basic(
                &id,
                &secret,
                &[("grant_type", "client_credentials"), ("scope", "read")],
            )
            .await
            .status()
            .as_u16()
        }
    };
    assert_eq!(
        token(first_secret.clone()).await,
        401,
        "the old secret is dead"
    );
    assert_eq!(token(secret.clone()).await, 200);
    // With --expire-old-in the current secret keeps working; a bad value is exit 2.
    let overlapped = cli.json(&[
        "client",
        "rotate-secret",
        &id,
        "--expire-old-in",
        "1h",
        "--json",
    ]);
    assert!(overlapped["previous_secret_expires"].as_i64().is_some());
    let old_secret = std::mem::replace(
        &mut secret,
        overlapped["client_secret"].as_str().unwrap().to_owned(),
    );
    // (The server caches the client's row for 2 s: the CLI is another process.)
    eventually("the new secret works", 200, || token(secret.clone())).await;
    assert_eq!(
        token(old_secret).await,
        200,
        "the old secret works for the hour"
    );
    assert_usage_error(
        &cli.run(&["client", "rotate-secret", &id, "--expire-old-in", "8d"]),
        "--expire-old-in",
    );

    assert_eq!(
        cli.json(&["client", "disable", &id, "--json"])["disabled"],
        true
    );
    eventually("a disabled client is refused", 401, || {
        token(secret.clone())
    })
    .await;
    assert_eq!(
        cli.json(&["client", "enable", &id, "--json"])["disabled"],
        false
    );
    eventually("an enabled client works again", 200, || {
        token(secret.clone())
    })
    .await;
    assert_eq!(
        cli.json(&["client", "delete", &id, "--json"])["deleted"],
        true
    );
    eventually("a deleted client is refused", 401, || token(secret.clone())).await;
    assert_eq!(
        cli.json(&["client", "list", "--json"])["data"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    assert_eq!(
        cli_event_kinds(&cli).await,
        [
            "client.created",
            "client.secret_rotated",
            "client.updated",
            "client.secret_rotated",
            "client.disabled",
            "client.enabled",
            "client.deleted",
        ]
    );
}

#[tokio::test]
async fn client_allowed_origins_are_set_by_create_and_update_and_invalid_ones_exit_2() {
    // Arrange
    let cli = Cli::new().await;
    let v = cli.json(&[
        "client",
        "create",
        "--name",
        "Back office",
        "--redirect-uri",
        "https://bo.example.com/cb",
        "--allowed-origin",
        "https://bo.example.com",
        "--allowed-origin",
        "http://localhost:5173",
        "--json",
    ]);
    let id = v["client_id"].as_str().expect("id").to_owned();

    // Act + Assert
    let shown = cli.json(&["client", "show", &id, "--json"]);
    assert_eq!(
        shown["allowed_origins"],
        serde_json::json!(["https://bo.example.com", "http://localhost:5173"])
    );
    let updated = cli.json(&[
        "client",
        "update",
        &id,
        "--allowed-origin",
        "https://new.example.com",
        "--json",
    ]);
    assert_eq!(
        updated["allowed_origins"],
        serde_json::json!(["https://new.example.com"])
    );
    let out = cli.run(&[
        "client",
        "update",
        &id,
        "--allowed-origin",
        "https://new.example.com/path",
    ]);
    assert_usage_error(&out, "https://new.example.com/path");
}

#[tokio::test]
async fn user_delete_removes_the_account_and_refuses_the_last_admin() {
    // Arrange: ann is the first user, so the only admin.
    let cli = Cli::new().await;
    cli.json(&["user", "create", "--email", "ann@example.com", "--json"]);
    cli.json(&["user", "create", "--email", "bob@example.com", "--json"]);

    // Act + Assert: the last admin stays.
    let refused = cli.run(&["user", "delete", "--email", "ann@example.com"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("only admin"),
        "{}",
        stderr(&refused)
    );

    let deleted = cli.json(&["user", "delete", "--email", "bob@example.com", "--json"]);
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let list = cli.json(&["user", "list", "--json"]);
    assert_eq!(list["data"].as_array().expect("data").len(), 1, "{list}");
    assert_eq!(
        cli_event_kinds(&cli).await.last().map(String::as_str),
        Some("account.deleted")
    );
    // The address is free again.
    cli.json(&["user", "create", "--email", "bob@example.com", "--json"]);
}

#[tokio::test]
async fn client_logout_uris_are_set_by_create_and_update_shown_and_invalid_ones_exit_2() {
    // Arrange
    let cli = Cli::new().await;
    let v = cli.json(&[
        "client",
        "create",
        "--name",
        "Logout app",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--post-logout-redirect-uri",
        "https://app.example.com/bye",
        "https://app.example.com/bye2",
        "--backchannel-logout-uri",
        "https://app.example.com/bc",
        "--json",
    ]);
    let id = v["client_id"].as_str().expect("id").to_owned();

    // Act + Assert
    let shown = cli.json(&["client", "show", &id, "--json"]);
    assert_eq!(
        shown["post_logout_redirect_uris"],
        serde_json::json!([
            "https://app.example.com/bye",
            "https://app.example.com/bye2"
        ])
    );
    assert_eq!(
        shown["backchannel_logout_uri"],
        "https://app.example.com/bc"
    );
    let updated = cli.json(&[
        "client",
        "update",
        &id,
        "--post-logout-redirect-uri",
        "https://app.example.com/later",
        "--backchannel-logout-uri",
        "",
        "--json",
    ]);
    assert_eq!(
        updated["post_logout_redirect_uris"],
        serde_json::json!(["https://app.example.com/later"])
    );
    assert_eq!(updated["backchannel_logout_uri"], serde_json::Value::Null);
    let out = cli.run(&[
        "client",
        "update",
        &id,
        "--post-logout-redirect-uri",
        "javascript:alert(1)",
    ]);
    assert_usage_error(&out, "javascript:alert(1)");
    let out = cli.run(&[
        "client",
        "update",
        &id,
        "--backchannel-logout-uri",
        "https://app.example.com/bc#x",
    ]);
    assert_usage_error(&out, "fragment");
}
