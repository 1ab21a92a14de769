//! Logos follow their image (#15 item 6): a stored logo is checked again every
//! `LATCH_LOGO_REFRESH` with a conditional request; a new image replaces it (a new
//! digest-named path on the consent page), `304` changes nothing and downloads nothing, a
//! failure keeps the old logo; several instances check each due logo once. And the logo
//! is written in the client's transaction: a client write that fails after the fetch
//! leaves no logo behind.
//!
//! The app's own background refresher is set to the longest period (30 days), so only the
//! passes these tests run (with a 24 h period, after moving the manual clock) check logos.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::TimeDelta;
use latch::clients::logo_refresh;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::helpers::*;

const CB: &str = "https://app.example.com/callback";
const OWNER: &str = "mallory@example.com";
const ANN: &str = "ann@example.com";
const DAY: TimeDelta = TimeDelta::hours(24);

/// A PNG's signature and some bytes: enough for Latch's checks, distinct per `tag`.
fn png(tag: &str) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(tag.as_bytes());
    b
}

/// What the image server answers, and what it was asked.
struct Image {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    etag: Option<String>,
    /// Full answers (200 with the body) and `304`s.
    full: usize,
    not_modified: usize,
    /// Deleted from the database while the request is answered (a write failing after the
    /// fetch).
    delete_user: Option<(sea_orm::DatabaseConnection, String)>,
}

type Shared = Arc<Mutex<Image>>;

async fn serve(req: HttpRequest, s: web::Data<Shared>) -> HttpResponse {
    let (answer, delete) = {
        let mut g = s.lock().expect("lock");
        let if_none_match = req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let answer = if g.status == 200 && g.etag.is_some() && if_none_match == g.etag {
            g.not_modified += 1;
            HttpResponse::NotModified().finish()
        } else {
            g.full += 1;
            let mut r = HttpResponse::build(
                actix_web::http::StatusCode::from_u16(g.status).expect("status"),
            );
            r.content_type(g.content_type);
            if let Some(e) = &g.etag {
                r.insert_header(("etag", e.clone()));
            }
            r.body(g.body.clone())
        };
        (answer, g.delete_user.take())
    };
    if let Some((db, id)) = delete {
        entity::user::Entity::delete_by_id(id)
            .exec(&db)
            .await
            .expect("owner deleted");
    }
    answer
}

/// An image server on 127.0.0.1 serving `/logo.png` as `Image` says.
async fn image_server(body: Vec<u8>, etag: Option<&str>) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Image {
        status: 200,
        content_type: "image/png",
        body,
        etag: etag.map(str::to_owned),
        full: 0,
        not_modified: 0,
        delete_user: None,
    }));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let data = web::Data::new(shared.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/logo.png", web::get().to(serve))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/logo.png"), shared)
}

async fn spawn() -> TestApp {
    spawn_app_with(|s| s.logo_refresh = TimeDelta::days(30)).await
}

async fn owner(app: &TestApp) -> entity::user::Model {
    app.create_user(ANN, PASSWORD).await;
    app.create_user(OWNER, PASSWORD).await
}

/// Register an app with `logo_uri` through `/v1/clients`; its id.
async fn app_with_logo(app: &TestApp, owner: &entity::user::Model, logo_uri: &str) -> String {
    let (_, key) = key_for(app, &owner.id, true, &[]).await;
    let res = app
        .http
        .post(app.url("/v1/clients"))
        .bearer_auth(key)
        .json(&json!({"name": "Billing", "redirect_uris": [CB], "scopes": ["read"], "logo_uri": logo_uri}))
        .send()
        .await
        .expect("POST /v1/clients");
    assert_eq!(res.status(), 200);
    json(res).await["id"].as_str().expect("id").to_owned()
}

/// The logo path on the consent page `ANN` sees for `client_id`.
async fn consent_logo(app: &TestApp, client_id: &str) -> String {
    let browser = app.signed_in_browser(ANN).await;
    let html = browser
        .get(app.authorize_url(&[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "read"),
            ("state", "xyz"),
        ]))
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("html");
    let start = html.find("src=\"/logos/").expect("a logo served by Latch") + 5;
    html[start..start + html[start..].find('"').expect("end")].to_owned()
}

async fn served(app: &TestApp, path: &str) -> (u16, Vec<u8>) {
    let res = app.http.get(app.url(path)).send().await.expect("logo");
    let status = res.status().as_u16();
    (status, res.bytes().await.expect("bytes").to_vec())
}

/// A pass on `app` a day and an hour after the logos were checked.
async fn pass_a_day_later(app: &TestApp) -> logo_refresh::Pass {
    app.advance(25 * 3600);
    logo_refresh::pass(&app.db, &app.state.logos, app.clock.now(), DAY)
        .await
        .expect("pass")
}

#[tokio::test]
async fn a_changed_image_replaces_the_logo_under_a_new_path_after_a_refresh_pass() {
    let app = spawn().await;
    let owner = owner(&app).await;
    let (uri, image) = image_server(png("one"), None).await;
    let id = app_with_logo(&app, &owner, &uri).await;
    let before = consent_logo(&app, &id).await;

    // Not due yet: a pass checks nothing.
    let p = logo_refresh::pass(&app.db, &app.state.logos, app.clock.now(), DAY)
        .await
        .expect("pass");
    assert_eq!(p.checked, 0);

    image.lock().expect("lock").body = png("two");
    let p = pass_a_day_later(&app).await;
    assert_eq!((p.checked, p.changed), (1, 1), "{p:?}");

    let after = consent_logo(&app, &id).await;
    assert_ne!(before, after, "the path follows the image's digest");
    assert_eq!(served(&app, &after).await, (200, png("two")));
    assert_eq!(served(&app, &before).await.0, 404);
}

#[tokio::test]
async fn not_modified_changes_nothing_and_downloads_nothing() {
    let app = spawn().await;
    let owner = owner(&app).await;
    let (uri, image) = image_server(png("one"), Some("\"v1\"")).await;
    let id = app_with_logo(&app, &owner, &uri).await;
    let stored = entity::client_logo::Entity::find_by_id(id.clone())
        .one(&app.db)
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(stored.etag.as_deref(), Some("\"v1\""));
    let before = consent_logo(&app, &id).await;

    let p = pass_a_day_later(&app).await;
    assert_eq!((p.checked, p.unchanged, p.changed), (1, 1, 0), "{p:?}");
    {
        let g = image.lock().expect("lock");
        assert_eq!((g.full, g.not_modified), (1, 1), "one download, then a 304");
    }
    let again = entity::client_logo::Entity::find_by_id(id.clone())
        .one(&app.db)
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(again.digest, stored.digest);
    assert_eq!(again.fetched_at, stored.fetched_at, "not downloaded again");
    assert!(again.checked_at > stored.checked_at, "but checked");
    assert_eq!(consent_logo(&app, &id).await, before);
}

#[tokio::test]
async fn a_failed_fetch_keeps_the_old_logo_and_is_tried_again_next_period() {
    let app = spawn().await;
    let owner = owner(&app).await;
    let (uri, image) = image_server(png("one"), None).await;
    let id = app_with_logo(&app, &owner, &uri).await;
    let before = consent_logo(&app, &id).await;

    // A 404, then something that is not an image: the old logo stays.
    image.lock().expect("lock").status = 404;
    let p = pass_a_day_later(&app).await;
    assert_eq!((p.checked, p.failed), (1, 1), "{p:?}");
    {
        let mut g = image.lock().expect("lock");
        g.status = 200;
        g.content_type = "text/html";
        g.body = b"<html>moved</html>".to_vec();
    }
    let p = pass_a_day_later(&app).await;
    assert_eq!((p.checked, p.failed), (1, 1), "{p:?}");
    assert_eq!(consent_logo(&app, &id).await, before);
    assert_eq!(served(&app, &before).await, (200, png("one")));

    // Not again within the period; the next period picks up the image once it is back.
    let p = logo_refresh::pass(&app.db, &app.state.logos, app.clock.now(), DAY)
        .await
        .expect("pass");
    assert_eq!(p.checked, 0);
    {
        let mut g = image.lock().expect("lock");
        g.content_type = "image/png";
        g.body = png("three");
    }
    let p = pass_a_day_later(&app).await;
    assert_eq!(p.changed, 1, "{p:?}");
    assert_eq!(
        served(&app, &consent_logo(&app, &id).await).await,
        (200, png("three"))
    );
}

#[tokio::test]
async fn two_instances_check_each_due_logo_once() {
    let app = spawn().await;
    let sibling = spawn_sibling(&app).await;
    let owner = owner(&app).await;
    let (uri, image) = image_server(png("one"), None).await;
    for _ in 0..3 {
        app_with_logo(&app, &owner, &uri).await;
    }
    assert_eq!(image.lock().expect("lock").full, 3);

    app.advance(25 * 3600);
    let now = app.clock.now();
    let (a, b) = tokio::join!(
        logo_refresh::pass(&app.db, &app.state.logos, now, DAY),
        logo_refresh::pass(&sibling.db, &sibling.state.logos, now, DAY),
    );
    let (a, b) = (a.expect("pass"), b.expect("pass"));
    assert_eq!(a.checked + b.checked, 3, "{a:?} {b:?}");
    assert_eq!(image.lock().expect("lock").full, 6, "one fetch per logo");
}

#[tokio::test]
async fn a_client_write_that_fails_after_the_fetch_leaves_no_logo() {
    let app = spawn().await;
    let owner = owner(&app).await;
    let (uri, image) = image_server(png("one"), None).await;
    // The owner disappears while the logo is fetched: the client row cannot be written.
    image.lock().expect("lock").delete_user = Some((app.db.clone(), owner.id.clone()));
    let res = latch::clients::create(
        &app.db,
        &app.state.catalog.get(),
        &app.state.logos,
        latch::clients::NewClient {
            name: "Billing".into(),
            redirect_uris: vec![CB.into()],
            public: false,
            grant_types: vec!["authorization_code".into()],
            scopes: vec!["read".into()],
            livemode: true,
            first_party: false,
            resource_server: false,
            owner_id: Some(owner.id.clone()),
            metadata: latch::clients::Metadata {
                logo_uri: Some(uri),
                ..Default::default()
            },
            allowed_origins: None,
        },
    )
    .await;
    assert!(res.is_err(), "the client write fails");
    assert_eq!(image.lock().expect("lock").full, 1, "after the fetch");
    let logos = entity::client_logo::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(logos, 0, "no logo without its client");
}
