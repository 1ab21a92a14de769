//! Bad configuration and usage (exit code 2 naming the key) and the configuration layers.

use super::*;

// ---------------------------------------------------------------------------------------------
// Bad configuration and bad usage: exit code 2, a message naming the key, never a panic

#[tokio::test]
async fn migrate_exits_2_naming_the_key_when_a_token_ttl_is_not_a_number() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let out = cli.run_with_env(&["migrate"], &[("LATCH_ACCESS_TOKEN_TTL", "soon")]);

    // Assert
    assert_usage_error(&out, "LATCH_ACCESS_TOKEN_TTL");
}

#[tokio::test]
async fn migrate_exits_2_naming_the_key_when_the_secret_key_is_too_short() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let out = cli.run_with_env(&["migrate"], &[("LATCH_SECRET_KEY", "short")]);

    // Assert
    assert_usage_error(&out, "LATCH_SECRET_KEY");
}

#[tokio::test]
async fn migrate_exits_2_naming_the_key_when_the_database_is_not_sqlite_or_postgres() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let out = cli.run_with_env(&["migrate"], &[("LATCH_DATABASE_URL", "mysql://x")]);

    // Assert
    assert_usage_error(&out, "LATCH_DATABASE_URL");
}

#[tokio::test]
async fn migrate_exits_2_naming_the_key_when_a_brand_value_is_bad() {
    // Arrange
    let cli = Cli::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("logo.png");
    std::fs::write(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let svg = svg.to_string_lossy().into_owned();
    let missing = dir.path().join("missing.png");
    let missing = missing.to_string_lossy().into_owned();

    for (key, value) in [
        ("LATCH_BRAND_COLOR", "red;}body{"),
        (
            "LATCH_BRAND_NAME",
            "An over-long product name of forty-one ch",
        ),
        ("LATCH_BRAND_LOGO", svg.as_str()),
        ("LATCH_BRAND_LOGO", missing.as_str()),
    ] {
        // Act
        let out = cli.run_with_env(&["migrate"], &[(key, value)]);

        // Assert
        assert_usage_error(&out, key);
    }
}

#[tokio::test]
async fn latch_exits_2_when_the_subcommand_is_unknown() {
    // Arrange
    let cli = Cli::sqlite();

    // Act
    let out = cli.run(&["frobnicate"]);

    // Assert
    assert_usage_error(&out, "frobnicate");
}

// ---------------------------------------------------------------------------------------------
// Configuration layers: latch.toml in the working directory < LATCH_* < flags

#[tokio::test]
async fn latch_reads_latch_toml_from_the_working_directory_when_it_exists() {
    // Arrange
    let cli = Cli::sqlite();
    std::fs::write(
        cli.cwd.path().join("latch.toml"),
        "access_token_ttl = \"soon\"\n",
    )
    .expect("write");

    // Act
    let out = cli.run(&["migrate"]);

    // Assert
    assert_usage_error(&out, "LATCH_ACCESS_TOKEN_TTL");
}

#[tokio::test]
async fn env_overrides_latch_toml_when_both_set_a_value() {
    // Arrange
    let cli = Cli::sqlite();
    std::fs::write(
        cli.cwd.path().join("latch.toml"),
        "access_token_ttl = \"soon\"\n",
    )
    .expect("write");

    // Act
    let out = cli.run_with_env(&["migrate"], &[("LATCH_ACCESS_TOKEN_TTL", "60")]);

    // Assert
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn bind_flag_overrides_env_which_overrides_latch_toml_when_all_are_set() {
    // Arrange
    let cli = Cli::sqlite();
    std::fs::write(
        cli.cwd.path().join("latch.toml"),
        "bind = \"from-the-file\"\n",
    )
    .expect("write");

    // Act
    let env_wins = cli.run_with_env(&["migrate"], &[("LATCH_BIND", "from-the-env")]);
    let flag_wins = cli.run_with_env(
        &["migrate", "--bind", "127.0.0.1:9"],
        &[("LATCH_BIND", "from-the-env")],
    );

    // Assert
    assert_usage_error(&env_wins, "LATCH_BIND");
    assert!(
        stderr(&env_wins).contains("from-the-env"),
        "{}",
        stderr(&env_wins)
    );
    assert!(
        !stderr(&env_wins).contains("from-the-file"),
        "{}",
        stderr(&env_wins)
    );
    assert!(flag_wins.status.success(), "{}", stderr(&flag_wins));
}
