//! Latch serving HTTPS itself (`LATCH_TLS_CERT` / `LATCH_TLS_KEY`).

use crate::helpers::*;

#[tokio::test]
async fn serve_answers_over_https_when_tls_is_configured() {
    // Arrange
    let app = spawn_app_with(|s| {
        s.tls = Some((fixture("tls-cert.pem"), fixture("tls-key.pem")));
        s.issuer = "https://127.0.0.1:0".into();
    })
    .await;
    let pem = std::fs::read(fixture("tls-cert.pem")).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();

    // Act
    let res = client
        .get(format!("https://127.0.0.1:{}/healthz", app.port))
        .send()
        .await
        .expect("https request");
    let meta = client
        .get(format!(
            "https://127.0.0.1:{}/.well-known/oauth-authorization-server",
            app.port
        ))
        .send()
        .await
        .unwrap();
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", app.port)).await;

    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(meta).await["issuer"],
        format!("https://127.0.0.1:{}", app.port)
    );
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plain HTTP must not be served on the TLS port"
    );
}

#[tokio::test]
async fn login_cookie_is_secure_when_issuer_is_https() {
    let app = spawn_app_with(|s| {
        s.tls = Some((fixture("tls-cert.pem"), fixture("tls-key.pem")));
        s.issuer = "https://127.0.0.1:0".into();
    })
    .await;
    let pem = std::fs::read(fixture("tls-cert.pem")).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let res = client
        .get(format!("https://127.0.0.1:{}/login", app.port))
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get("set-cookie")
        .expect("session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
}
