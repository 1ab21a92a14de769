//! `GET/POST /oauth/authorize`, black-box: SECURITY.md section 1a (A1, A3–A11, A13, A14,
//! A16–A19), `prompt`, remembered consent, first-party clients, the consent answer, and
//! loopback redirect URIs (RFC 8252 §7.3).
//!
//! "Error page" = HTML 400 without `Location`; "redirect error" = 302/303 to the registered
//! redirect URI with `error`, `state` and `iss` in the query.

use std::collections::HashMap;

use crate::helpers::*;

mod loopback;
mod prompt_consent;
mod request;
mod responses;

const EMAIL: &str = "ann@example.com";
const CB: &str = "https://app.example.com/callback";
/// A syntactically valid S256 challenge (RFC 7636 Appendix B).
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The base request for `c`: `client_id`, `redirect_uri`, `response_type=code`, `scope=read`,
/// `state=xyz`. Each change replaces the parameter of that name in place (or is appended);
/// an empty value removes it.
fn params(c: &TestClient, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = vec![
        ("client_id".into(), c.id.clone()),
        ("redirect_uri".into(), c.redirect_uri.clone()),
        ("response_type".into(), "code".into()),
        ("scope".into(), "read".into()),
        ("state".into(), "xyz".into()),
    ];
    for (k, v) in changes {
        match p.iter().position(|(pk, _)| pk == k) {
            Some(i) if v.is_empty() => {
                p.remove(i);
            }
            Some(i) => p[i].1 = (*v).to_owned(),
            None if v.is_empty() => {}
            None => p.push(((*k).to_owned(), (*v).to_owned())),
        }
    }
    p
}

fn url_of(app: &TestApp, p: &[(String, String)]) -> String {
    let pairs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.authorize_url(&pairs)
}

async fn get(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    browser.get(url).send().await.expect("request")
}

async fn public_first_party(app: &TestApp, redirect_uris: Vec<&'static str>) -> TestClient {
    app.create_client(ClientSpec {
        public: true,
        first_party: true,
        grant_types: vec!["authorization_code", "refresh_token"],
        redirect_uris,
        ..ClientSpec::default()
    })
    .await
}

/// A signed-in browser for a fresh user [`EMAIL`].
async fn signed_in(app: &TestApp) -> reqwest::Client {
    app.create_user(EMAIL, PASSWORD).await;
    app.signed_in_browser(EMAIL).await
}

fn is_redirect(res: &reqwest::Response) -> bool {
    matches!(res.status().as_u16(), 302 | 303)
}

/// A redirect error (RFC 6749 §4.1.2.1, RFC 9207 §2): to `redirect_uri`, in the query,
/// with `error` and `iss`, and no code or token. Returns the query.
fn assert_redirect_error(
    app: &TestApp,
    res: &reqwest::Response,
    redirect_uri: &str,
    error: &str,
) -> HashMap<String, String> {
    assert!(
        is_redirect(res),
        "expected a redirect, got {}",
        res.status()
    );
    let loc = location(res);
    assert!(
        loc.starts_with(&format!("{redirect_uri}?")),
        "redirect error went to {loc}, not {redirect_uri}"
    );
    assert!(!loc.contains('#'), "response in a fragment: {loc}");
    let q = query_of(&loc);
    assert_eq!(q.get("error").map(String::as_str), Some(error), "{loc}");
    assert_eq!(q.get("iss"), Some(&app.settings.issuer), "{loc}");
    for k in ["code", "access_token", "id_token", "token_type"] {
        assert!(!q.contains_key(k), "{k} in an error response: {loc}");
    }
    q
}

/// A successful authorization response carrying a code to `redirect_uri`. Returns the query.
fn assert_code(
    app: &TestApp,
    res: &reqwest::Response,
    redirect_uri: &str,
) -> HashMap<String, String> {
    assert!(
        is_redirect(res),
        "expected a redirect with a code, got {} (Location {:?})",
        res.status(),
        res.headers().get("location")
    );
    let loc = location(res);
    assert!(
        loc.starts_with(&format!("{redirect_uri}?")),
        "code went to {loc}, not {redirect_uri}"
    );
    assert!(!loc.contains('#'), "response in a fragment: {loc}");
    let q = query_of(&loc);
    assert!(!q.contains_key("error"), "unexpected error: {loc}");
    assert!(
        q.get("code").is_some_and(|c| !c.is_empty()),
        "no code: {loc}"
    );
    assert_eq!(q.get("iss"), Some(&app.settings.issuer), "{loc}");
    q
}

fn assert_login_redirect(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), 303, "expected the sign-in redirect");
    let loc = location(res);
    assert!(loc.starts_with("/login?"), "expected /login, got {loc}");
    query_of(&loc).remove("next").expect("next")
}

async fn consent_page(res: reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(res.status(), 200, "expected the consent page");
    let html = res.text().await.expect("body");
    consent_form_of(&html)
}

async fn answer(
    app: &TestApp,
    browser: &reqwest::Client,
    form: &[(String, String)],
    decision: &str,
) -> reqwest::Response {
    let mut form = form.to_vec();
    form.push(("decision".into(), decision.into()));
    browser
        .post(app.url("/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .expect("consent")
}

/// Give consent to `c` for `scope` in `browser` (already signed in).
async fn consent_once(app: &TestApp, browser: &reqwest::Client, c: &TestClient, scope: &str) {
    let form =
        consent_page(get(browser, &url_of(app, &params(c, &[("scope", scope)]))).await).await;
    let res = answer(app, browser, &form, "allow").await;
    assert_code(app, &res, &c.redirect_uri);
}
