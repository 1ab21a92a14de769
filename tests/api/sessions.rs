//! Where an account is signed in, black-box: each sign-in has a server-side record listed
//! under Settings (device summary, IP, started, last seen; this browser marked), any other
//! one can be ended (that browser is signed out at its next request, on every instance), or
//! all others at once; last seen is written at most once a minute; a session whose record is
//! gone is signed out; a password change ends every other session.

use std::time::Duration;

use reqwest::redirect::Policy;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::*;

const EMAIL: &str = "sessions@example.com";
const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn browser_as(ua: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(true)
        .user_agent(ua)
        .build()
        .unwrap()
}

async fn signed_in_as(app: &TestApp, ua: &str) -> reqwest::Client {
    let b = browser_as(ua);
    let res = app.sign_in(&b, EMAIL, PASSWORD, "/").await;
    assert_eq!(res.status(), 303);
    b
}

async fn settings_html(app: &TestApp, b: &reqwest::Client) -> String {
    let res = b
        .get(app.url("/dashboard/settings/security"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn rows(app: &TestApp, user_id: &str) -> Vec<entity::browser_session::Model> {
    entity::browser_session::Entity::find()
        .filter(entity::browser_session::Column::UserId.eq(user_id))
        .all(&app.db)
        .await
        .unwrap()
}

/// The session ids listed on the settings page, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("data-session=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .collect()
}

/// The id of the listed session whose device is `device`.
fn session_for(html: &str, device: &str) -> String {
    html.split("data-session=\"")
        .skip(1)
        .find(|row| row[..row.len().min(200)].contains(&format!("data-label=\"Device\">{device}")))
        .map(|row| row[..row.find('"').unwrap()].to_owned())
        .unwrap_or_else(|| panic!("a session of {device}"))
}

async fn end(app: &TestApp, b: &reqwest::Client, id: &str) -> reqwest::Response {
    let csrf = settings_csrf(app, b).await;
    b.post(app.url("/dashboard/settings/sessions/end"))
        .form(&[("csrf", csrf.as_str()), ("session_id", id)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn settings_lists_two_browsers_and_marks_this_one() {
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let chrome = signed_in_as(&app, CHROME_LINUX).await;
    let _firefox = signed_in_as(&app, FIREFOX_WINDOWS).await;
    // Act
    let html = settings_html(&app, &chrome).await;
    // Assert: both, by device, with this one marked once; never the raw User-Agent.
    assert_eq!(listed(&html).len(), 2);
    assert!(html.contains("Chrome on Linux"));
    assert!(html.contains("Firefox on Windows"));
    assert_eq!(html.matches("This device").count(), 1);
    let this_row = &html[html.find("This device").unwrap().saturating_sub(300)..];
    assert!(this_row.contains("Chrome on Linux"));
    assert!(!html.contains("Gecko/20100101"));
    assert!(html.contains("127.0.0.1"));
    assert_eq!(rows(&app, &user.id).await.len(), 2);
}

#[tokio::test]
async fn ending_a_session_signs_that_browser_out() {
    // Arrange
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let a = signed_in_as(&app, CHROME_LINUX).await;
    let b = signed_in_as(&app, FIREFOX_WINDOWS).await;
    assert_eq!(dashboard_status(&app, &b).await, 200);
    let html = settings_html(&app, &a).await;
    let other = session_for(&html, "Firefox on Windows");
    // Act
    let res = end(&app, &a, &other).await;
    // Assert
    assert_eq!(res.status(), 303);
    assert_eq!(
        dashboard_status(&app, &b).await,
        303,
        "that browser is signed out"
    );
    assert_eq!(dashboard_status(&app, &a).await, 200, "this one is not");
    let html = settings_html(&app, &a).await;
    assert_eq!(listed(&html).len(), 1);
    assert!(!html.contains("Firefox on Windows"));
    // This session cannot be ended from the list (signing out does that).
    let this = listed(&html).remove(0);
    end(&app, &a, &this).await;
    assert_eq!(dashboard_status(&app, &a).await, 200);
}

#[tokio::test]
async fn an_ended_session_is_signed_out_on_another_instance_too() {
    let app = spawn_app().await;
    let sibling = spawn_sibling(&app).await;
    app.create_user(EMAIL, PASSWORD).await;
    let a = signed_in_as(&app, CHROME_LINUX).await;
    let b = signed_in_as(&app, FIREFOX_WINDOWS).await;
    let html = settings_html(&app, &a).await;
    let b_id = session_for(&html, "Firefox on Windows");
    end(&app, &a, &b_id).await;
    // The sibling's deny-list replica syncs within a second; its record check sees the
    // record gone at the next minute mark at the latest.
    app.advance(61);
    let mut out = false;
    for _ in 0..30 {
        let st = b
            .get(sibling.url("/dashboard"))
            .send()
            .await
            .unwrap()
            .status();
        if st == 303 {
            out = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(out, "signed out on the other instance");
}

#[tokio::test]
async fn end_all_others_keeps_this_one() {
    // Arrange: three browsers.
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let a = signed_in_as(&app, CHROME_LINUX).await;
    let b = signed_in_as(&app, FIREFOX_WINDOWS).await;
    let c = signed_in_as(&app, FIREFOX_WINDOWS).await;
    // Act
    let csrf = settings_csrf(&app, &a).await;
    let res = a
        .post(app.url("/dashboard/settings/sessions/end-others"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    // Assert
    assert_eq!(res.status(), 303);
    assert_eq!(dashboard_status(&app, &a).await, 200);
    assert_eq!(dashboard_status(&app, &b).await, 303);
    assert_eq!(dashboard_status(&app, &c).await, 303);
    assert_eq!(rows(&app, &user.id).await.len(), 1);
    let kinds: Vec<String> = latch::store::audit::page(
        &app.db,
        Some(&user.id),
        latch::store::audit::ModeFilter::All,
        50,
        None,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.kind)
    .collect();
    assert!(kinds.contains(&"session.ended".to_owned()));
}

#[tokio::test]
async fn another_accounts_session_cannot_be_ended() {
    let app = spawn_app().await;
    let victim = app.create_user(EMAIL, PASSWORD).await;
    app.create_user("mallory@example.com", PASSWORD).await;
    let v = signed_in_as(&app, CHROME_LINUX).await;
    let m = app.signed_in_browser("mallory@example.com").await;
    let victim_sid = rows(&app, &victim.id).await.remove(0).id;
    let res = end(&app, &m, &victim_sid).await;
    assert_eq!(res.status(), 303);
    assert_eq!(dashboard_status(&app, &v).await, 200);
    assert_eq!(rows(&app, &victim.id).await.len(), 1);
    // Forged posts are refused outright.
    let res = m
        .post(app.url("/dashboard/settings/sessions/end-others"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_a_minute() {
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let a = signed_in_as(&app, CHROME_LINUX).await;
    let started = rows(&app, &user.id).await[0].last_seen_at;
    app.advance(30);
    assert_eq!(dashboard_status(&app, &a).await, 200);
    assert_eq!(rows(&app, &user.id).await[0].last_seen_at, started);
    app.advance(31);
    assert_eq!(dashboard_status(&app, &a).await, 200);
    let seen = rows(&app, &user.id).await[0].last_seen_at;
    assert!(seen > started, "stamped after a minute");
    assert_eq!(seen.timestamp(), app.clock.now().timestamp());
}

#[tokio::test]
async fn a_session_whose_record_is_gone_is_signed_out() {
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let a = signed_in_as(&app, CHROME_LINUX).await;
    entity::browser_session::Entity::delete_many()
        .filter(entity::browser_session::Column::UserId.eq(&user.id))
        .exec(&app.db)
        .await
        .unwrap();
    app.advance(61);
    assert_eq!(dashboard_status(&app, &a).await, 303);
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let a = signed_in_as(&app, CHROME_LINUX).await;
    let b = signed_in_as(&app, FIREFOX_WINDOWS).await;
    let csrf = settings_csrf(&app, &a).await;
    let res = a
        .post(app.url("/dashboard/settings/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current_password", PASSWORD),
            ("new_password", "a brand new passphrase"),
            ("confirm_password", "a brand new passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(dashboard_status(&app, &a).await, 200);
    assert_eq!(dashboard_status(&app, &b).await, 303);
    let html = settings_html(&app, &a).await;
    assert_eq!(listed(&html).len(), 1);
    assert!(html.contains("This device"));
    assert_eq!(rows(&app, &user.id).await.len(), 1);
}

#[tokio::test]
async fn a_signed_out_browser_leaves_the_list() {
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let a = signed_in_as(&app, CHROME_LINUX).await;
    let b = signed_in_as(&app, FIREFOX_WINDOWS).await;
    let csrf = settings_csrf(&app, &b).await;
    let res = b
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let html = settings_html(&app, &a).await;
    assert_eq!(listed(&html).len(), 1);
    assert!(!html.contains("Firefox on Windows"));
    assert_eq!(rows(&app, &user.id).await.len(), 1);
}

#[tokio::test]
async fn the_settings_page_needs_a_session() {
    let app = spawn_app().await;
    app.create_user(EMAIL, PASSWORD).await;
    let res = app
        .new_browser()
        .get(app.url("/dashboard/settings/security"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?next="));
}

/// Issue #16 (peak memory): argon2id moved from OWASP's m = 19 MiB, t = 2 to its equivalent
/// m = 7 MiB, t = 5. A hash from the old settings still signs in, is replaced by a new one
/// in the background, and the session it opened (and the password) keep working.
#[tokio::test]
async fn a_hash_from_older_argon2_settings_signs_in_and_is_replaced_keeping_the_session() {
    use argon2::PasswordHasher;
    // Arrange
    let app = spawn_app().await;
    let user = app.create_user(EMAIL, PASSWORD).await;
    let old = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes())
        .unwrap()
        .to_string();
    assert!(old.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(
        latch::store::users::replace_password_hash(
            &app.db,
            &user.id,
            &user.password_hash,
            old.clone()
        )
        .await
        .unwrap()
    );

    // Act
    let b = signed_in_as(&app, "Firefox").await;
    let mut stored = old.clone();
    for _ in 0..200 {
        stored = latch::store::users::by_id(&app.db, &user.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        if stored != old {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert
    assert!(
        stored.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"),
        "{stored}"
    );
    assert!(
        !settings_html(&app, &b).await.is_empty(),
        "the session stays"
    );
    assert_eq!(rows(&app, &user.id).await.len(), 1);
    let again = signed_in_as(&app, "Chrome").await;
    assert!(!settings_html(&app, &again).await.is_empty());
}
