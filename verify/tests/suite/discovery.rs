//! `Verifier::discover`: RFC 8414 metadata and the mix-up defence.

use latch_verify::{Error, Verifier};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn discover_refuses_metadata_naming_another_issuer() {
    // Arrange: the document at our issuer's well-known URL claims to be someone else.
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    for other in [
        "https://evil.example".to_owned(),
        format!("{}/", mock.issuer),
        mock.issuer.to_uppercase(),
    ] {
        mock.state.metadata.lock().unwrap()["issuer"] = json!(other);

        // Act
        let err = Verifier::discover(&mock.issuer).await.unwrap_err();

        // Assert (RFC 8414 §3.3)
        match err {
            Error::IssuerMismatch {
                expected, found, ..
            } => {
                assert_eq!(expected, mock.issuer);
                assert_eq!(found, other);
            }
            e => panic!("expected IssuerMismatch, got {e}"),
        }
    }
    assert_eq!(
        mock.jwks_hits(),
        0,
        "the JWKS of an impostor is never fetched"
    );
}

#[tokio::test]
async fn discover_compares_the_issuer_exactly() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    // The metadata says "http://127.0.0.1:port"; asking with a trailing slash is a mismatch.
    let err = Verifier::discover(&format!("{}/", mock.issuer))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IssuerMismatch { .. }), "{err}");
    let v = Verifier::discover(&mock.issuer).await.unwrap();
    assert_eq!(v.issuer(), mock.issuer);
    assert_eq!(
        v.audience(),
        mock.issuer,
        "the audience defaults to the issuer"
    );
}

#[tokio::test]
async fn discover_reports_missing_documents_and_fields() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;

    mock.state
        .metadata
        .lock()
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("jwks_uri");
    let err = Verifier::discover(&mock.issuer).await.unwrap_err();
    assert!(matches!(err, Error::Metadata(_)), "{err}");

    mock.state.metadata.lock().unwrap()["jwks_uri"] = json!(mock.url("/missing"));
    let err = Verifier::discover(&mock.issuer).await.unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");

    mock.state.metadata.lock().unwrap()["jwks_uri"] = json!(mock.url("/jwks"));
    *mock.state.jwks.lock().unwrap() = json!({"no": "keys"});
    let err = Verifier::discover(&mock.issuer).await.unwrap_err();
    assert!(matches!(err, Error::Jwks(_)), "{err}");

    // Introspection credentials need an introspection endpoint.
    mock.set_keys(&[&k]);
    mock.state
        .metadata
        .lock()
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("introspection_endpoint");
    let err = Verifier::builder(&mock.issuer)
        .introspection("rs", "secret")
        .discover()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Metadata(_)), "{err}");
}

#[tokio::test]
async fn discover_fails_cleanly_when_nothing_listens() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = Verifier::discover(&issuer).await.unwrap_err();
    assert!(matches!(err, Error::Fetch { .. }), "{err}");
}

#[tokio::test]
async fn debug_output_never_shows_the_client_secret() {
    let k = TestKey::es256("k1");
    let mock = MockAs::start(&[&k]).await;
    let b = Verifier::builder(&mock.issuer).introspection("rs_client", "cs_very_secret");
    assert!(!format!("{b:?}").contains("cs_very_secret"));
    let v = b.discover().await.unwrap();
    let dbg = format!("{v:?}");
    assert!(
        dbg.contains("introspect") && !dbg.contains("cs_very_secret"),
        "{dbg}"
    );
}
