//! Branding (issue #15 item 8): `LATCH_BRAND_NAME`, `LATCH_BRAND_LOGO` and `LATCH_BRAND_COLOR`
//! on every page (sign-in, consent, dashboard, admin, error pages), the logo served by Latch
//! with its type and `nosniff`, the accent as a stylesheet from this site (the CSP unchanged),
//! and bad values refusing to start with exit code 2 naming the key.

use std::sync::Arc;

use latch::brand::{Accent, Brand, BrandName, Logo};

use crate::helpers::*;

const NAME: &str = "Acme ID";
const TEAL: &str = "#0f766e";

/// A PNG's signature and a few more bytes: the server recognises images by magic bytes.
fn png_bytes() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend_from_slice(b"\0\0\0\rIHDR fake but typed by its signature");
    b
}

fn acme() -> Arc<Brand> {
    Arc::new(Brand::new(
        BrandName::parse(NAME).unwrap(),
        Accent::parse(TEAL).unwrap(),
        Some(Logo::parse(png_bytes()).unwrap()),
    ))
}

async fn branded_app() -> TestApp {
    spawn_app_with(|s| s.brand = acme()).await
}

/// The shell of a branded page: name in the title and header, the logo, the accent stylesheet.
fn assert_branded(html: &str, what: &str) {
    let brand = acme();
    assert!(
        html.contains(&format!(" · {NAME}</title>")),
        "{what}: title without the brand name:\n{html}"
    );
    assert!(
        html.contains(&format!("<span class=\"brand-name\">{NAME}</span>")),
        "{what}: header without the brand name"
    );
    let logo = brand.logo_href().unwrap();
    assert!(
        html.contains(&format!("<img class=\"brand-logo\" src=\"{logo}\"")),
        "{what}: no logo {logo}"
    );
    assert!(
        html.contains(&format!(
            "<link rel=\"stylesheet\" href=\"{}\">",
            brand.stylesheet_href().unwrap()
        )),
        "{what}: no brand stylesheet"
    );
    assert!(
        !html.contains("· Latch</title>"),
        "{what}: Latch in the title"
    );
    assert!(!html.contains("<style"), "{what}: inline style");
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn sign_in_page_shows_the_configured_name_logo_and_accent() {
    // Arrange
    let app = branded_app().await;

    // Act
    let res = app.get("/login").await;

    // Assert
    assert_eq!(res.status(), 200);
    // The CSP is the site's own: the accent needs no inline style.
    assert_eq!(
        header(&res, "content-security-policy"),
        latch::middleware::CSP
    );
    let html = res.text().await.unwrap();
    assert_branded(&html, "sign-in");
    assert!(html.contains("<title>Sign in · Acme ID</title>"));
    // The favicon is the logo too.
    assert!(
        html.contains("<link rel=\"icon\" type=\"image/png\" href=\"/static/brand/logo.png?v=")
    );
    // Latch is the software that secures the sign-in: the footer keeps saying so.
    assert!(html.contains("Secured by Latch"));
}

#[tokio::test]
async fn the_accent_stylesheet_is_computed_from_the_colour_and_cached_by_version() {
    // Arrange
    let app = branded_app().await;
    let href = acme().stylesheet_href().unwrap().to_owned();

    // Act
    let res = app.get(&href).await;

    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/css; charset=utf-8");
    assert!(header(&res, "cache-control").contains("immutable"));
    let css = res.text().await.unwrap();
    assert!(css.contains("--accent: #0f766e;"), "{css}");
    assert!(css.contains("--on-accent: #ffffff;"));
    assert!(css.contains("prefers-color-scheme: dark"));
}

#[tokio::test]
async fn logo_is_served_with_its_type_nosniff_and_long_caching() {
    // Arrange
    let app = branded_app().await;
    let href = acme().logo_href().unwrap().to_owned();

    // Act
    let res = app.get(&href).await;

    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "image/png");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&res, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.bytes().await.unwrap().to_vec(), png_bytes());

    // Another extension is not the logo.
    for other in ["/static/brand/logo.svg", "/static/brand/logo.gif"] {
        assert_eq!(app.get(other).await.status(), 404, "{other}");
    }
}

#[tokio::test]
async fn without_a_logo_there_is_none_to_serve_and_the_default_brand_is_latch() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let logo = app.get("/static/brand/logo.png").await;
    let html = app.get("/login").await.text().await.unwrap();

    // Assert
    assert_eq!(logo.status(), 404);
    assert!(html.contains("<title>Sign in · Latch</title>"));
    assert!(html.contains("<span class=\"brand-name\">Latch</span>"));
    assert!(html.contains("<svg class=\"brand-mark\""));
    assert!(
        !html.contains("/static/brand.css"),
        "default colour needs no stylesheet"
    );
}

#[tokio::test]
async fn consent_page_carries_the_brand() {
    // Arrange
    let app = branded_app().await;
    let client = app.confidential_client().await;
    app.create_user("ann@acme.dev", PASSWORD).await;
    let browser = app.signed_in_browser("ann@acme.dev").await;
    let url = app.authorize_url(&[
        ("client_id", &client.id),
        ("response_type", "code"),
        ("redirect_uri", &client.redirect_uri),
        ("scope", "read"),
        ("state", "s"),
    ]);

    // Act
    let res = browser.get(url).send().await.unwrap();

    // Assert
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("action=\"/oauth/authorize\""),
        "not the consent page"
    );
    assert_branded(&html, "consent");
}

#[tokio::test]
async fn dashboard_and_admin_pages_carry_the_brand() {
    // Arrange
    let app = branded_app().await;
    latch::users::create(&app.db, "ann@acme.dev", PASSWORD, true)
        .await
        .unwrap();
    let browser = app.signed_in_browser("ann@acme.dev").await;

    for path in ["/dashboard", "/dashboard/keys", "/dashboard/admin/users"] {
        // Act
        let res = browser.get(app.url(path)).send().await.unwrap();

        // Assert
        assert_eq!(res.status(), 200, "{path}");
        assert_branded(&res.text().await.unwrap(), path);
    }
}

#[tokio::test]
async fn error_and_message_pages_carry_the_brand() {
    // Arrange
    let app = branded_app().await;

    // Act
    let not_found = app.get("/no/such/page").await;
    let bad_authorize = app.get("/oauth/authorize?client_id=nope").await;

    // Assert
    assert_eq!(not_found.status(), 404);
    assert_branded(&not_found.text().await.unwrap(), "404");
    assert_eq!(bad_authorize.status(), 400);
    assert_branded(&bad_authorize.text().await.unwrap(), "authorize error");
}

#[tokio::test]
async fn two_instances_in_one_process_keep_their_own_brands() {
    // Arrange
    let acme = branded_app().await;
    let plain = spawn_app().await;

    // Act
    let (a, p) = tokio::join!(acme.get("/login"), plain.get("/login"));

    // Assert
    assert!(
        a.text()
            .await
            .unwrap()
            .contains("<title>Sign in · Acme ID</title>")
    );
    assert!(
        p.text()
            .await
            .unwrap()
            .contains("<title>Sign in · Latch</title>")
    );
}

#[tokio::test]
async fn a_colour_without_a_logo_draws_latchs_mark_and_favicon_in_that_colour() {
    // Arrange
    let app = spawn_app_with(|s| {
        s.brand = Arc::new(Brand::new(
            BrandName::parse(NAME).unwrap(),
            Accent::parse(TEAL).unwrap(),
            None,
        ))
    })
    .await;

    // Act
    let html = app.get("/login").await.text().await.unwrap();

    // Assert
    assert!(html.contains("<svg class=\"brand-mark\""));
    assert!(
        html.contains("fill='%230f766e'"),
        "favicon not in the accent"
    );
    assert!(html.contains("/static/brand.css?v="));
    assert!(!html.contains("brand-logo"));
}
