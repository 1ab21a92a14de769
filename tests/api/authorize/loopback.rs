//! Loopback redirect URIs (RFC 8252 §7.3) and registered queries.

use super::*;

// ---------------------------------------------------------------------------------------------
// Loopback redirect URIs (RFC 8252 §7.3) and registered queries

#[tokio::test]
async fn authorize_accepts_any_port_when_the_registered_redirect_uri_is_a_loopback_ip() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = public_first_party(&app, vec!["http://127.0.0.1/cb", "http://[::1]/cb"]).await;
    for presented in [
        "http://127.0.0.1:51004/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:9000/cb",
    ] {
        let (verifier, challenge) = pkce_pair();
        // Act
        let res = get(
            &browser,
            &url_of(
                &app,
                &params(
                    &c,
                    &[
                        ("redirect_uri", presented),
                        ("code_challenge", &challenge),
                        ("code_challenge_method", "S256"),
                    ],
                ),
            ),
        )
        .await;
        // Assert: the code goes to the port the app listens on, and redeems there.
        let q = assert_code(&app, &res, presented);
        let token = app
            .post_token(&[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", presented),
                ("client_id", &c.id),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_eq!(
            token.status(),
            200,
            "{presented}: {}",
            token.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn authorize_shows_error_page_when_a_localhost_redirect_uri_has_another_port() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = public_first_party(&app, vec!["http://localhost/cb"]).await;
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    // Act
    let mut changes = pkce.to_vec();
    changes.push(("redirect_uri", "http://localhost:5000/cb"));
    let res = get(&browser, &url_of(&app, &params(&c, &changes))).await;
    // Assert: `localhost` gets exact matching only.
    assert_error_page(&res, "localhost with a port");
    let res = get(&browser, &url_of(&app, &params(&c, &pkce))).await;
    assert_code(&app, &res, "http://localhost/cb");
}

#[tokio::test]
async fn authorize_shows_error_page_when_a_loopback_redirect_uri_differs_in_more_than_the_port() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let c = public_first_party(&app, vec!["http://127.0.0.1/cb"]).await;
    for presented in [
        "http://127.0.0.1:5000/other",
        "http://127.0.0.1:5000/cb/",
        "http://127.0.0.1:5000/cb?x=1",
        "http://127.0.0.2:5000/cb",
        "https://127.0.0.1:5000/cb",
        "http://localhost:5000/cb",
        "http://[::1]:5000/cb",
        "http://evil@127.0.0.1:5000/cb",
    ] {
        // Act
        let res = get(
            &browser,
            &url_of(
                &app,
                &params(
                    &c,
                    &[
                        ("redirect_uri", presented),
                        ("code_challenge", CHALLENGE),
                        ("code_challenge_method", "S256"),
                    ],
                ),
            ),
        )
        .await;
        // Assert
        assert_error_page(&res, presented);
    }
}

#[tokio::test]
async fn authorize_keeps_the_registered_query_when_the_redirect_uri_has_one() {
    // Arrange
    let app = spawn_app().await;
    let browser = signed_in(&app).await;
    let registered = "https://app.example.com/cb?foo=bar";
    let c = app
        .create_client(ClientSpec {
            first_party: true,
            redirect_uris: vec![registered],
            ..ClientSpec::default()
        })
        .await;
    // Act
    let ok = get(&browser, &url_of(&app, &params(&c, &[]))).await;
    let added = get(
        &browser,
        &url_of(
            &app,
            &params(
                &c,
                &[("redirect_uri", "https://app.example.com/cb?foo=bar&x=1")],
            ),
        ),
    )
    .await;
    let changed = get(
        &browser,
        &url_of(
            &app,
            &params(
                &c,
                &[("redirect_uri", "https://app.example.com/cb?foo=baz")],
            ),
        ),
    )
    .await;
    // Assert (OIDC redirect-uri-query-OK / -added / -mismatch)
    let q = assert_code(&app, &ok, "https://app.example.com/cb");
    assert_eq!(q.get("foo").map(String::as_str), Some("bar"));
    assert_error_page(&added, "query added");
    assert_error_page(&changed, "query changed");
}
