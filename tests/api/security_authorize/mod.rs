//! Findings of the security review (issue #9) on the authorization endpoint, sign-in,
//! sign-out, consent withdrawal and sign-up, each driven over HTTP like a browser or app.

use crate::helpers::*;

mod form_action;
mod login_after;
mod look_alike;
mod open_redirect;
mod sign_out;

const ANN: &str = "ann@example.com";

/// Whether introspection (RFC 7662) by the client itself calls `token` active.
async fn is_active(app: &TestApp, c: &TestClient, token: &str) -> bool {
    let res = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&c.id, Some(c.secret()))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect");
    assert_eq!(res.status(), 200);
    json(res).await["active"] == true
}

/// Exchange `code` (issued for `c`'s first redirect URI) for tokens.
async fn exchange(app: &TestApp, c: &TestClient, code: &str) -> reqwest::Response {
    app.post_token_basic(
        &c.id,
        c.secret(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &c.redirect_uri),
        ],
    )
    .await
}

/// Authorize `c` for `scope` in `browser` (signing in as `email` if needed), allow, and
/// return the code.
async fn code_in(
    app: &TestApp,
    browser: &reqwest::Client,
    c: &TestClient,
    email: &str,
    scope: &str,
) -> String {
    let url = app.authorize_url(&[
        ("client_id", &c.id),
        ("response_type", "code"),
        ("redirect_uri", &c.redirect_uri),
        ("scope", scope),
        ("state", "s1"),
    ]);
    let res = app
        .authorize_in_browser(browser, &url, email, "allow")
        .await;
    assert_eq!(res.status(), 303, "authorization did not redirect");
    query_of(&location(&res))
        .remove("code")
        .expect("a code in the redirect")
}

const CB: &str = "https://app.example.com/callback";

/// A request for `c` with `changes` applied (an empty value removes the parameter).
fn request_url(app: &TestApp, c: &TestClient, changes: &[(&str, &str)]) -> String {
    let mut p: Vec<(&str, &str)> = vec![
        ("client_id", &c.id),
        ("redirect_uri", &c.redirect_uri),
        ("response_type", "code"),
        ("scope", "read"),
        ("state", "xyz"),
    ];
    for (k, v) in changes {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    app.authorize_url(&p)
}

/// `next` of a redirect to the sign-in page, or `None` for any other answer.
fn login_next(res: &reqwest::Response) -> Option<String> {
    let loc = res.headers().get("location")?.to_str().ok()?;
    if res.status() != 303 || !loc.starts_with("/login?") {
        return None;
    }
    query_of(loc).remove("next")
}
