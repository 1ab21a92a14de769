//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document) and the
//! Model Context Protocol's 2025-11-25 authorization flow end to end: an MCP-style resource
//! answers 401 with `resource_metadata` (RFC 9728 §5.1), the client reads the protected
//! resource metadata, then Latch's AS metadata (RFC 8414), names itself by the URL of a
//! metadata document it serves on loopback, runs code + PKCE (S256) with `resource` (RFC
//! 8707), and the resource verifies the token it gets (latch-verify). Then the refusals:
//! documents too large, slow, redirecting, on a refused address, naming another client,
//! without the redirect URI, over plain http, and the feature off.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use latch_verify::Verifier;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const EMAIL: &str = "agent-user@example.com";

/// One answer of the little servers below.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
}

impl Reply {
    fn json(v: &serde_json::Value) -> Self {
        Reply {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "max-age=600".into()),
            ],
            body: v.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }
}

type Handler = Arc<
    dyn Fn(String, Option<String>) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync,
>;

/// A tiny HTTP/1.1 server on 127.0.0.1: `handler(path, authorization)` answers each request.
async fn serve(handler: Handler) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let auth = head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .map(|l| l["authorization:".len()..].trim().to_owned());
                let r = handler(path, auth).await;
                tokio::time::sleep(r.delay).await;
                let mut out = format!("HTTP/1.1 {} X\r\n", r.status);
                for (k, v) in &r.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str(&format!(
                    "content-length: {}\r\nconnection: close\r\n\r\n",
                    r.body.len()
                ));
                let _ = s.write_all(out.as_bytes()).await;
                let _ = s.write_all(&r.body).await;
            });
        }
    });
    addr
}

/// A metadata document for `client_id` with one redirect URI.
fn document(client_id: &str, redirect_uri: &str, scope: &str) -> serde_json::Value {
    json!({
        "client_id": client_id,
        "client_name": "Example MCP Agent",
        "client_uri": "https://agent.example.com",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": scope,
    })
}

async fn cimd_app(loopback: bool) -> TestApp {
    spawn_app_with(|s| {
        s.issuer = "http://127.0.0.1:0".into();
        s.client_id_metadata_documents = true;
        s.allow_loopback_fetch = loopback;
    })
    .await
}

/// The `WWW-Authenticate` parameter `name` of a challenge.
fn challenge_param(h: &str, name: &str) -> Option<String> {
    let start = h.find(&format!("{name}=\""))? + name.len() + 2;
    let end = h[start..].find('"')? + start;
    Some(h[start..end].to_owned())
}

#[tokio::test]
async fn an_mcp_client_discovers_and_gets_a_token_for_an_mcp_server_with_a_metadata_document() {
    // Arrange: Latch with the feature on, a user, and the MCP server's API in the catalog.
    let app = cimd_app(true).await;
    app.create_user(EMAIL, PASSWORD).await;

    // The MCP server: its resource identifier is its own URL; it verifies with latch-verify.
    // Its identifier is known once it listens, so its verifier is set just after.
    let verifier: Arc<tokio::sync::OnceCell<(Verifier, String)>> = Arc::new(Default::default());
    let issuer = app.settings.issuer.clone();
    let v2 = verifier.clone();
    let mcp = serve(Arc::new(move |path, auth| {
        let v = v2.clone();
        let issuer = issuer.clone();
        Box::pin(async move {
            let (verifier, resource) = v.get().expect("set before use").clone();
            let prm = format!("{resource}/.well-known/oauth-protected-resource");
            if path == "/.well-known/oauth-protected-resource" {
                return Reply::json(&json!({
                    "resource": resource,
                    "authorization_servers": [issuer],
                    "scopes_supported": ["mcp:tools"],
                    "bearer_methods_supported": ["header"],
                }));
            }
            let challenge = Reply {
                status: 401,
                headers: vec![(
                    "www-authenticate".into(),
                    format!("Bearer resource_metadata=\"{prm}\""),
                )],
                body: vec![],
                delay: Duration::ZERO,
            };
            let Some(token) = auth.and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
            else {
                return challenge;
            };
            match verifier.verify(&token).await {
                Ok(claims) => Reply::json(&json!({
                    "jsonrpc": "2.0",
                    "id": 1,
                    "result": {"tools": [], "sub": claims.sub},
                })),
                Err(_) => challenge,
            }
        })
    }))
    .await;
    let resource = mcp.clone();
    create_api(
        &app,
        &resource,
        "MCP server",
        &[("mcp:tools", "Use the tools")],
        None,
    )
    .await;
    let v = Verifier::builder(&app.settings.issuer)
        .api_identifier(&resource)
        .discover()
        .await
        .expect("discover Latch");
    assert!(verifier.set((v, resource.clone())).is_ok(), "set once");

    // The MCP client publishes its metadata document on loopback.
    let client_doc = Arc::new(tokio::sync::OnceCell::<serde_json::Value>::new());
    let cd = client_doc.clone();
    let docs = serve(Arc::new(move |path, _| {
        let cd = cd.clone();
        Box::pin(async move {
            match (path.as_str(), cd.get()) {
                ("/oauth/client-metadata.json", Some(d)) => Reply::json(d),
                ("/logo.png", _) => Reply {
                    status: 200,
                    headers: vec![("content-type".into(), "image/png".into())],
                    body: b"\x89PNG\r\n\x1a\n0000".to_vec(),
                    delay: Duration::ZERO,
                },
                _ => Reply {
                    status: 404,
                    headers: vec![],
                    body: vec![],
                    delay: Duration::ZERO,
                },
            }
        })
    }))
    .await;
    let client_id = format!("{docs}/oauth/client-metadata.json");
    let redirect_uri = "http://127.0.0.1:33418/callback";
    let mut doc = document(&client_id, redirect_uri, "mcp:tools");
    doc["logo_uri"] = json!(format!("{docs}/logo.png"));
    client_doc.set(doc).unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Act 1: the MCP request without a token → 401 naming the protected resource metadata.
    let res = http.post(format!("{mcp}/mcp")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let prm_url = challenge_param(&www, "resource_metadata").expect("resource_metadata");
    let prm: serde_json::Value = http
        .get(&prm_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], resource);
    let as_issuer = prm["authorization_servers"][0].as_str().unwrap().to_owned();
    assert_eq!(as_issuer, app.settings.issuer);

    // Act 2: RFC 8414 metadata of the authorization server.
    let meta: serde_json::Value = http
        .get(format!(
            "{as_issuer}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    assert!(
        meta["code_challenge_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("S256"))
    );
    let authorization_endpoint = meta["authorization_endpoint"].as_str().unwrap();
    let token_endpoint = meta["token_endpoint"].as_str().unwrap().to_owned();

    // Act 3: code + PKCE with `resource`, signed in and consented in a browser.
    let (verifier_str, challenge) = pkce_pair();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", "mcp:tools"),
            ("state", "mcp-state"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", &resource),
        ])
        .finish();
    let browser = app.new_browser();
    let auth_url = format!("{authorization_endpoint}?{query}");
    // The consent page names the app, the publishing host and says nobody verified it.
    let first = browser.get(&auth_url).send().await.unwrap();
    let next = query_of(&location(&first))
        .get("next")
        .cloned()
        .expect("to sign-in");
    assert_eq!(
        app.sign_in(&browser, EMAIL, PASSWORD, &next).await.status(),
        303
    );
    let consent = browser.get(&auth_url).send().await.unwrap();
    assert_eq!(consent.status(), 200);
    let html = html_unescape(&consent.text().await.unwrap());
    assert!(html.contains("Example MCP Agent"), "{html}");
    assert!(html.contains("127.0.0.1"), "the publishing host");
    assert!(html.contains("Unverified app"), "unverified notice");
    // The logo was fetched by Latch and is served from Latch, never hot-linked.
    assert!(html.contains("src=\"/logos/cimd_"), "logo served by Latch");
    assert!(
        !html.contains(&format!("{docs}/logo.png")),
        "not hot-linked"
    );
    let res = app
        .authorize_in_browser(&browser, &auth_url, EMAIL, "allow")
        .await;
    assert_eq!(res.status(), 303);
    let loc = location(&res);
    assert!(loc.starts_with(redirect_uri), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["state"], "mcp-state");
    let code = q["code"].clone();

    // Act 4: the token, public client (no secret), `resource` again.
    let res = http
        .post(&token_endpoint)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier_str),
            ("resource", &resource),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_claims(&access);
    assert_eq!(claims["aud"], resource, "{claims}");
    assert_eq!(claims["scope"], "mcp:tools");
    // RFC 9068 §2.2: the client as it names itself, the URL (not the row id it is kept under).
    assert_eq!(claims["client_id"], client_id.as_str(), "{claims}");

    // Act 5: the MCP call with the token.
    let res = http
        .post(format!("{mcp}/mcp"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rpc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(rpc["jsonrpc"], "2.0");

    // A refresh works with the URL as client_id, from the cached document.
    let rt = body["refresh_token"].as_str().expect("refresh token");
    let res = http
        .post(&token_endpoint)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Introspection (RFC 7662 §2.2) names the client by its URL too, and revocation by the
    // client (RFC 7009 §2.1, client_id = the URL) ends the token.
    let rs = app
        .create_client(ClientSpec {
            resource_server: true,
            ..ClientSpec::default()
        })
        .await;
    let introspect = |t: String| {
        let req = http
            .post(app.url("/oauth/introspect"))
            .basic_auth(&rs.id, Some(rs.secret()))
            .form(&[("token", t)]);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    let seen = introspect(access.clone()).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], client_id.as_str(), "{seen}");
    let res = http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", access.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = introspect(access.clone()).await;
    assert_eq!(seen["active"], false, "{seen}");

    // The row id is not a second name for the client.
    let row_id = latch::clients::metadata_document::row_id(&client_id);
    let res = app
        .get(&format!(
            "/oauth/authorize?client_id={row_id}&response_type=code&redirect_uri={}",
            urlencode(redirect_uri)
        ))
        .await;
    assert_error_page(&res, "row id as client_id");
}

/// `/oauth/authorize` with `client_id` answers the error page; its text.
async fn refused_at_authorize(app: &TestApp, client_id: &str, redirect_uri: &str) -> String {
    let res = app
        .new_browser()
        .get(app.authorize_url(&[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("code_challenge", &pkce_pair().1),
            ("code_challenge_method", "S256"),
        ]))
        .send()
        .await
        .unwrap();
    assert_error_page(&res, client_id);
    html_unescape(&res.text().await.unwrap())
}

async fn refused_at_token(app: &TestApp, client_id: &str) {
    let res = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("client_id", client_id),
            ("code_verifier", "x".repeat(43).as_str()),
        ])
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(json(res).await["error"], "invalid_client");
}

const CB: &str = "http://127.0.0.1:33418/callback";

/// Serve `make(url)` at `/c.json` and return the URL.
async fn one_document(make: impl FnOnce(&str) -> Reply) -> String {
    // The URL is known only once the port is: serve a cell filled afterwards.
    let cell = Arc::new(tokio::sync::OnceCell::<Reply>::new());
    let c2 = cell.clone();
    let base = serve(Arc::new(move |path, _| {
        let c = c2.clone();
        Box::pin(async move {
            match (path.as_str(), c.get()) {
                ("/c.json", Some(r)) => r.clone(),
                _ => Reply {
                    status: 404,
                    headers: vec![],
                    body: vec![],
                    delay: Duration::ZERO,
                },
            }
        })
    }))
    .await;
    let url = format!("{base}/c.json");
    let _ = cell.set(make(&url));
    url
}

#[tokio::test]
async fn documents_that_are_too_large_slow_redirecting_or_wrong_are_refused() {
    let app = cimd_app(true).await;

    let big = one_document(|u| {
        let mut d = document(u, CB, "read");
        d["client_name"] = json!("x");
        d["padding"] = json!("p".repeat(9 * 1024));
        Reply::json(&d)
    })
    .await;
    let html = refused_at_authorize(&app, &big, CB).await;
    assert!(html.contains("larger than 8 KiB"), "{html}");
    refused_at_token(&app, &big).await;

    let slow = one_document(|u| Reply {
        delay: Duration::from_secs(5),
        ..Reply::json(&document(u, CB, "read"))
    })
    .await;
    let html = refused_at_authorize(&app, &slow, CB).await;
    assert!(html.contains("in time"), "{html}");

    let redirecting = one_document(|u| Reply {
        status: 302,
        headers: vec![("location".into(), format!("{u}?elsewhere"))],
        body: vec![],
        delay: Duration::ZERO,
    })
    .await;
    let html = refused_at_authorize(&app, &redirecting, CB).await;
    assert!(html.contains("redirects"), "{html}");

    let mismatch =
        one_document(|_| Reply::json(&document("https://other.example.com/c.json", CB, "read")))
            .await;
    let html = refused_at_authorize(&app, &mismatch, CB).await;
    assert!(html.contains("client_id is not exactly the URL"), "{html}");
    refused_at_token(&app, &mismatch).await;

    let not_json = one_document(|u| Reply {
        headers: vec![("content-type".into(), "text/html".into())],
        ..Reply::json(&document(u, CB, "read"))
    })
    .await;
    let html = refused_at_authorize(&app, &not_json, CB).await;
    assert!(html.contains("Content-Type"), "{html}");

    let secret = one_document(|u| {
        let mut d = document(u, CB, "read");
        d["token_endpoint_auth_method"] = json!("client_secret_basic");
        Reply::json(&d)
    })
    .await;
    refused_at_authorize(&app, &secret, CB).await;

    // A good document, but the redirect URI asked for is not in it.
    let good = one_document(|u| Reply::json(&document(u, CB, "read"))).await;
    let html = refused_at_authorize(&app, &good, "http://127.0.0.1:33418/elsewhere").await;
    assert!(html.contains("redirect_uri"), "{html}");
}

#[tokio::test]
async fn documents_on_loopback_plain_http_or_with_the_feature_off_are_refused() {
    // Loopback not allowed (the test flag off): the fence refuses 127.0.0.1 / localhost.
    let app = cimd_app(false).await;
    let doc = one_document(|u| Reply::json(&document(u, CB, "read"))).await;
    let html = refused_at_authorize(&app, &doc, CB).await;
    assert!(html.contains("must use https"), "{html}");
    let https_private = "https://10.0.0.1/c.json";
    let html = refused_at_authorize(&app, https_private, CB).await;
    assert!(html.contains("private, local or reserved"), "{html}");
    let https_localhost = format!("https://localhost:{}/c.json", 1);
    let html = refused_at_authorize(&app, &https_localhost, CB).await;
    assert!(html.contains("private, local or reserved"), "{html}");
    refused_at_token(&app, https_private).await;
    // Plain http to a public host: never.
    let html = refused_at_authorize(&app, "http://client.example.com/c.json", CB).await;
    assert!(html.contains("must use https"), "{html}");
    // No path.
    let html = refused_at_authorize(&app, "https://client.example.com", CB).await;
    assert!(html.contains("path"), "{html}");

    // The feature off: a URL is an unknown client, as before, and no fetch is made.
    let off = spawn_app_with(|s| s.allow_loopback_fetch = true).await;
    let html = refused_at_authorize(&off, &doc, CB).await;
    assert!(html.contains("unknown client_id"), "{html}");
    refused_at_token(&off, &doc).await;
    let meta = json(off.get("/.well-known/oauth-authorization-server").await).await;
    assert!(meta.get("client_id_metadata_document_supported").is_none());
}

/// `/oauth/authorize` for `client_id` in a fresh browser: 303 to sign-in when the client is
/// usable, the error page when not.
async fn authorize_status(app: &TestApp, client_id: &str) -> u16 {
    app.new_browser()
        .get(app.authorize_url(&[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("code_challenge", &pkce_pair().1),
            ("code_challenge_method", "S256"),
        ]))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_document_is_cached_per_max_age_and_a_stale_copy_stands_in_while_its_server_is_down() {
    use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
    let app = cimd_app(true).await;
    let fetches = Arc::new(AtomicU32::new(0));
    let status = Arc::new(AtomicU16::new(200));
    let cell = Arc::new(tokio::sync::OnceCell::<String>::new());
    let (f2, s2, c2) = (fetches.clone(), status.clone(), cell.clone());
    let base = serve(Arc::new(move |_, _| {
        let (f, s, c) = (f2.clone(), s2.clone(), c2.clone());
        Box::pin(async move {
            f.fetch_add(1, Ordering::SeqCst);
            let url = c.get().cloned().unwrap_or_default();
            Reply {
                status: s.load(Ordering::SeqCst),
                ..Reply::json(&document(&url, CB, "read"))
            }
        })
    }))
    .await;
    let url = format!("{base}/c.json");
    cell.set(url.clone()).unwrap();

    // Fresh for max-age=600: one fetch for two requests.
    assert_eq!(authorize_status(&app, &url).await, 303);
    assert_eq!(authorize_status(&app, &url).await, 303);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // Expired: fetched again.
    app.advance(601);
    assert_eq!(authorize_status(&app, &url).await, 303);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    // Expired and its server answers 503: the stored copy stands in (within 24 h)…
    status.store(503, Ordering::SeqCst);
    app.advance(601);
    assert_eq!(authorize_status(&app, &url).await, 303);
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
    // …and a failure is not retried at once.
    assert_eq!(authorize_status(&app, &url).await, 303);
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
    // Beyond the grace, the client is refused.
    app.advance(25 * 3600);
    assert_eq!(authorize_status(&app, &url).await, 400);

    // A 404 refuses at once, stored copy or not.
    let gone = one_document(|_| Reply {
        status: 404,
        headers: vec![],
        body: vec![],
        delay: Duration::ZERO,
    })
    .await;
    assert_eq!(authorize_status(&app, &gone).await, 400);
}

#[tokio::test]
async fn a_metadata_document_client_pushes_its_request_and_a_refused_one_cannot() {
    // Arrange
    let app = cimd_app(true).await;
    let url = one_document(|u| Reply::json(&document(u, CB, "read"))).await;
    let challenge = pkce_pair().1;
    let request = |client_id: &str| {
        vec![
            ("client_id", client_id.to_owned()),
            ("response_type", "code".to_owned()),
            ("redirect_uri", CB.to_owned()),
            ("scope", "read".to_owned()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ]
    };

    // Act: RFC 9126 §2.1, a public client names itself with client_id only.
    let res = app
        .post_form(
            "/oauth/par",
            &request(&url)
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;

    // Assert
    let body = json(res).await;
    assert!(body["request_uri"].is_string(), "{body}");
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    let res = app
        .new_browser()
        .get(app.authorize_url(&[("client_id", &url), ("request_uri", &request_uri)]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "on to sign-in");
    assert!(location(&res).starts_with("/login"));

    // A document naming another client is invalid_client at PAR.
    let wrong =
        one_document(|_| Reply::json(&document("https://x.example.com/c.json", CB, "read"))).await;
    let res = app
        .post_form(
            "/oauth/par",
            &request(&wrong)
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(res.status(), 401);
    let body = json(res).await;
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("metadata document was refused"),
        "{body}"
    );
}

#[tokio::test]
async fn an_id_token_of_a_metadata_document_client_is_for_its_url() {
    // Arrange
    let app = cimd_app(true).await;
    app.create_user(EMAIL, PASSWORD).await;
    let url = one_document(|u| Reply::json(&document(u, CB, "openid read"))).await;
    let client = TestClient {
        id: url.clone(),
        secret: None,
        redirect_uri: CB.to_owned(),
    };
    let (verifier, challenge) = pkce_pair();

    // Act
    let code = app
        .obtain_code(
            &client,
            EMAIL,
            &[
                ("scope", "openid read"),
                ("nonce", "n-0S6"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let res = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("client_id", &url),
            ("code_verifier", &verifier),
        ])
        .await;

    // Assert: OIDC Core §2, `aud` and `azp` are the client_id the client knows.
    assert_eq!(res.status(), 200);
    let body = json(res).await;
    let id = jwt_claims(body["id_token"].as_str().expect("an ID token"));
    assert_eq!(id["aud"], url);
    assert_eq!(id["azp"], url);
    assert_eq!(id["nonce"], "n-0S6");
}
