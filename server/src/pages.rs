//! Server-rendered HTML pages (askama templates in `templates/`) and the static CSS/JS they use.
//!
//! This module owns how a page looks, never what it decides: handlers build a `*View` and call a
//! `*_page` function. Every user-supplied string goes through askama's HTML escaping; nothing here
//! uses `|safe`. Pages carry no inline script or style, so the CSP can stay `'self'`-only.
//!
//! The shell (`templates/base.html`, `templates/dashboard/layout.html`) reads the brand of
//! the request (`brand::current()`): its name in the header and every title, its logo, and
//! its accent as a second stylesheet, `/static/brand.css?v=…`, served from this site. A
//! linked stylesheet rather than a `<style>` element: `style-src 'self'` stays as it is, with
//! no hash or nonce to keep in step with each instance's colour. "Secured by Latch" in the
//! footer stays under any brand: Latch is the software that secures the sign-in.

use std::sync::LazyLock;

use actix_web::{HttpResponse, http::StatusCode, http::header};
use askama::Template;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Static assets compiled into the binary (one binary, no files to ship).
pub const CSS: &str = include_str!("../../static/latch.css");
pub const JS: &str = include_str!("../../static/latch.js");

const HTML: &str = "text/html; charset=utf-8";
/// Assets are addressed by content (`?v=`), so a browser may keep them for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    h.update(CSS.as_bytes());
    h.update([0u8]);
    h.update(JS.as_bytes());
    let digest = h.finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..9])
});

/// Short content hash of CSS+JS (12 URL-safe base64 characters), used as `?v=` on asset links so
/// a new build busts caches and an unchanged one keeps them.
pub fn asset_version() -> &'static str {
    ASSET_VERSION.as_str()
}

/// `GET /static/latch.css`
pub async fn get_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .body(CSS)
}

/// `GET /static/latch.js`
pub async fn get_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .body(JS)
}

/// The passkey script of the sign-in page and Settings (`account::passkey`,
/// `dashboard::passkeys`): same origin, so the page CSP's `script-src 'self'` allows it.
pub const PASSKEY_JS: &str = include_str!("../../static/passkey.js");

/// Content hash of [`PASSKEY_JS`] for its `?v=`.
pub fn passkey_js_version() -> &'static str {
    static V: LazyLock<String> =
        LazyLock::new(|| crate::crypto::b64url(&crate::crypto::sha256(PASSKEY_JS.as_bytes())[..9]));
    &V
}

/// `GET /static/passkey.js`
pub async fn get_passkey_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .body(PASSKEY_JS)
}

/// `GET /static/brand.css`: the accent variables computed from `LATCH_BRAND_COLOR`.
/// Addressed by content (`?v=`), like the other assets.
pub async fn get_brand_css() -> HttpResponse {
    let brand = crate::brand::current();
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .body(brand.css().to_owned())
}

/// `GET /static/brand/logo.{ext}`: the `LATCH_BRAND_LOGO` file read at start-up, with the
/// type its magic bytes showed and `nosniff` (the type is never guessed from the content
/// again). Any other extension, or no logo configured: 404.
pub async fn get_brand_logo(path: actix_web::web::Path<String>) -> HttpResponse {
    let brand = crate::brand::current();
    match brand.logo().filter(|l| l.kind().ext() == path.as_str()) {
        Some(logo) => HttpResponse::Ok()
            .content_type(logo.kind().mime())
            .insert_header((header::CACHE_CONTROL, IMMUTABLE))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(logo.bytes()),
        None => error_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is no logo at this address.",
        ),
    }
}

/// Renders `t` as an HTML response. Pages may carry a CSRF token or personal data, so they are
/// never stored by caches.
pub(crate) fn render<T: Template>(status: StatusCode, t: &T) -> HttpResponse {
    match t.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type(HTML)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = ?e, template = std::any::type_name::<T>(), "failed to render page");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body("Internal server error")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Error and message pages

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    version: &'static str,
    code: u16,
    title: &'a str,
    message: &'a str,
}

/// A full-page error shown in place of the page the person asked for.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    render(
        status,
        &ErrorTemplate {
            version: asset_version(),
            code: status.as_u16(),
            title,
            message,
        },
    )
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessageTemplate<'a> {
    version: &'static str,
    is_error: bool,
    title: &'a str,
    message: &'a str,
    link: Option<(&'a str, &'a str)>,
}

/// A short informational page ("Signed out", "Check your email") with an optional call to action.
/// `link` is `(href, label)`; the href must be chosen by the server (a same-site path such as
/// `/login`, or an http(s) URL): anything else, such as `javascript:`, is dropped.
pub fn message_page(
    status: StatusCode,
    title: &str,
    message: &str,
    link: Option<(&str, &str)>,
) -> HttpResponse {
    let link = link.filter(|(href, _)| {
        let ok = is_safe_href(href);
        if !ok {
            tracing::warn!("message_page: dropped a link with an unsafe href");
        }
        ok
    });
    render(
        status,
        &MessageTemplate {
            version: asset_version(),
            is_error: status.as_u16() >= 400,
            title,
            message,
            link,
        },
    )
}

/// The error page for an authorization request whose error Latch does not redirect on its
/// own (RFC 9700 §4.11.2: the client's redirect URI is not trusted before sign-in): says what
/// went wrong and offers the redirect as a link the person may follow. `href` is the
/// client's verified, registered redirect URI with the error response added; it is shown
/// only when it is http(s) or an app's private-use scheme (RFC 8252 §7.1), never
/// `javascript:` or the like.
pub fn untrusted_redirect_page(
    status: StatusCode,
    client_name: &str,
    destination: &str,
    description: &str,
    href: &str,
) -> HttpResponse {
    let brand = crate::brand::current();
    let message = format!(
        "{client_name} sent a request that could not be completed: {description}. {} did \
         not send you back to the app automatically, because the app was registered by one of \
         its users rather than by this service. Go back only if you trust {destination}.",
        brand.name()
    );
    let label = format!("Return to {destination}");
    let link = (is_safe_href(href) || is_app_scheme_href(href)).then_some((href, label.as_str()));
    render(
        status,
        &MessageTemplate {
            version: asset_version(),
            is_error: true,
            title: "This request could not be completed",
            message: &message,
            link,
        },
    )
}

/// A native app's private-use URI scheme in reverse-domain form (`com.example.app:/cb`, RFC
/// 8252 §7.1), which is what client registration accepts besides http(s).
fn is_app_scheme_href(href: &str) -> bool {
    href.split_once(':').is_some_and(|(scheme, _)| {
        scheme.contains('.')
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))
    })
}

/// An absolute http(s) URL (links to an app's own pages).
fn is_http_href(href: &str) -> bool {
    let lower = href.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Escaping keeps an attribute well-formed, not a URL harmless: only allow a path on this site
/// (not `//host` or `/\host`, which browsers treat as another host) or an http(s) URL.
fn is_safe_href(href: &str) -> bool {
    let lower = href.trim_start().to_ascii_lowercase();
    (href.starts_with('/') && !href.starts_with("//") && !href.starts_with("/\\"))
        || lower.starts_with("https://")
        || lower.starts_with("http://")
}

// ---------------------------------------------------------------------------------------------
// Login and signup

/// What the sign-in page shows.
pub struct LoginView<'a> {
    /// Offer "Sign in with a passkey" (the issuer's host is a domain name, so it can be a
    /// WebAuthn RP ID; `account::passkey`).
    pub passkeys: bool,
    /// Hidden input `csrf`.
    pub csrf: &'a str,
    /// Prefilled value of the email field.
    pub email: &'a str,
    /// Shown above the form, e.g. "Incorrect email or password."
    pub error: Option<&'a str>,
    /// Hidden input `next`: where to go after signing in (a relative URL).
    pub next: &'a str,
    /// Show a "Create an account" link to `/signup?next=…`.
    pub signup_enabled: bool,
    /// When signing in for an OAuth app: "to continue to {client_name}".
    pub client_name: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginTemplate<'a, 'b> {
    version: &'static str,
    passkey_version: &'static str,
    v: &'a LoginView<'b>,
}

/// The sign-in form: posts `email`, `password`, `csrf` and `next` to `/login`.
pub fn login_page(status: StatusCode, v: &LoginView) -> HttpResponse {
    render(
        status,
        &LoginTemplate {
            version: asset_version(),
            passkey_version: passkey_js_version(),
            v,
        },
    )
}

/// What the sign-up page shows.
pub struct SignupView<'a> {
    pub csrf: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
    pub next: &'a str,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupTemplate<'a, 'b> {
    version: &'static str,
    v: &'a SignupView<'b>,
}

/// The sign-up form: posts `email`, `password` (at least 10 characters), `csrf` and `next` to `/signup`.
pub fn signup_page(status: StatusCode, v: &SignupView) -> HttpResponse {
    render(
        status,
        &SignupTemplate {
            version: asset_version(),
            v,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Consent

/// One requested scope, as the person will read it.
pub struct ScopeView<'a> {
    pub name: &'a str,
    pub description: &'a str,
    /// Already allowed by an earlier consent (shown as such, not as new).
    pub already: bool,
}

/// The requested scopes of one API (or the OpenID ones, "Your identity"), under its name.
pub struct ScopeGroup<'a> {
    pub title: &'a str,
    pub scopes: Vec<ScopeView<'a>>,
}

/// What the consent screen shows, and the authorization request it carries back.
pub struct ConsentView<'a> {
    /// Binds the consent answer to this pending request (single use).
    pub csrf: &'a str,
    /// The session's CSRF token, for the "Sign out" form.
    pub logout_csrf: &'a str,
    pub client_name: &'a str,
    pub client_id: &'a str,
    pub user_email: &'a str,
    /// The requested scopes, grouped by API in catalog order, the identity group first.
    pub groups: Vec<ScopeGroup<'a>>,
    /// Shown as "You will be redirected to {host}".
    pub redirect_host: &'a str,
    /// A "Test mode" badge is shown when false.
    pub livemode: bool,
    /// Extra hidden inputs `(name, value)` carrying the authorization request.
    pub hidden: Vec<(&'a str, &'a str)>,
    /// Who registered the app, as a phrase: "the operator of this service", "a Latch user".
    pub registered_by: &'a str,
    /// False: the "Unverified app" notice is shown (a user registered it; no admin vouched).
    pub verified: bool,
    /// The host of the app's `client_uri`, shown as its domain and linked to it.
    pub homepage: Option<(&'a str, &'a str)>,
    /// `(policy_uri, tos_uri)`, linked (validated http(s) URIs).
    pub policy_uri: Option<&'a str>,
    pub tos_uri: Option<&'a str>,
    /// The logo Latch serves (`/logos/…`), or `None` for the app's initial.
    pub logo_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentTemplate<'a, 'b> {
    version: &'static str,
    initial: String,
    v: &'a ConsentView<'b>,
    /// The view's links and logo, each checked again (see [`consent_page`]).
    homepage: Option<(&'b str, &'b str)>,
    policy_uri: Option<&'b str>,
    tos_uri: Option<&'b str>,
    logo_url: Option<&'b str>,
}

/// The consent screen: posts `csrf`, every hidden pair and `decision=allow|deny` to
/// `/oauth/authorize`; a separate "Sign out" form posts `csrf` to `/logout`.
pub fn consent_page(v: &ConsentView) -> HttpResponse {
    let initial = v
        .client_name
        .chars()
        .find(|c| c.is_alphanumeric())
        .map_or_else(|| "?".to_owned(), |c| c.to_uppercase().collect());
    render(
        StatusCode::OK,
        &ConsentTemplate {
            version: asset_version(),
            initial,
            v,
            // The app's registered metadata URIs: an attribute is escaped, but a
            // `javascript:` URL would still run, so only http(s) is linked; the logo is only
            // ever Latch's own copy.
            homepage: v.homepage.filter(|(href, _)| is_http_href(href)),
            policy_uri: v.policy_uri.filter(|h| is_http_href(h)),
            tos_uri: v.tos_uri.filter(|h| is_http_href(h)),
            logo_url: v
                .logo_url
                .filter(|h| h.starts_with("/logos/") && !h.contains("//")),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Device sign-in (RFC 8628 §3.3)

/// What the code-entry page of `/device` shows.
pub struct DeviceEntryView<'a> {
    /// The session's CSRF token (the code form and the "Sign out" form).
    pub csrf: &'a str,
    /// Prefilled code (from `verification_uri_complete`), shown as `XXXX-XXXX`.
    pub code: &'a str,
    pub error: Option<&'a str>,
    pub user_email: &'a str,
}

#[derive(Template)]
#[template(path = "device.html")]
struct DeviceEntryTemplate<'a, 'b> {
    version: &'static str,
    v: &'a DeviceEntryView<'b>,
}

/// `/device`: posts `csrf` and `user_code` to `/device`.
pub fn device_entry_page(status: StatusCode, v: &DeviceEntryView) -> HttpResponse {
    render(
        status,
        &DeviceEntryTemplate {
            version: asset_version(),
            v,
        },
    )
}

/// What the device consent screen shows.
pub struct DeviceConsentView<'a> {
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub client_id: &'a str,
    pub user_email: &'a str,
    /// `XXXX-XXXX`, for the person to compare with the device (RFC 8628 §5.4).
    pub user_code: &'a str,
    /// The code letter by letter, for screen readers.
    pub user_code_spelled: &'a str,
    pub groups: Vec<ScopeGroup<'a>>,
    pub livemode: bool,
    pub registered_by: &'a str,
    pub verified: bool,
    pub homepage: Option<(&'a str, &'a str)>,
    pub logo_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_consent.html")]
struct DeviceConsentTemplate<'a, 'b> {
    version: &'static str,
    initial: String,
    v: &'a DeviceConsentView<'b>,
    homepage: Option<(&'b str, &'b str)>,
    logo_url: Option<&'b str>,
}

/// The device consent screen: posts `csrf` and `decision=allow|deny` to `/device/decision`.
pub fn device_consent_page(v: &DeviceConsentView) -> HttpResponse {
    let initial = v
        .client_name
        .chars()
        .find(|c| c.is_alphanumeric())
        .map_or_else(|| "?".to_owned(), |c| c.to_uppercase().collect());
    render(
        StatusCode::OK,
        &DeviceConsentTemplate {
            version: asset_version(),
            initial,
            v,
            // As on the consent page: only http(s) links, only Latch's own logo copy.
            homepage: v.homepage.filter(|(href, _)| is_http_href(href)),
            logo_url: v
                .logo_url
                .filter(|h| h.starts_with("/logos/") && !h.contains("//")),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    const XSS: &str = "<script>alert(1)</script>";
    const ATTR: &str = "\"onmouseover=alert(1) x=\"";
    const SQ: &str = "' autofocus onfocus='alert(1)";

    fn body(res: HttpResponse) -> String {
        let bytes = res
            .into_body()
            .try_into_bytes()
            .expect("pages are rendered into one buffer");
        String::from_utf8(bytes.to_vec()).expect("askama renders UTF-8")
    }

    fn content_type(res: &HttpResponse) -> &str {
        res.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// No raw hostile markup and no attribute break-out survived.
    fn assert_escaped(html: &str) {
        assert!(!html.contains("<script>"), "raw <script> in:\n{html}");
        assert!(
            !html.contains("\"onmouseover"),
            "attribute break-out in:\n{html}"
        );
        assert!(
            !html.contains("' autofocus onfocus"),
            "single-quote break-out in:\n{html}"
        );
        assert!(!html.contains("style="), "inline style in:\n{html}");
        assert!(
            !html.contains("<script>") && !html.contains("onclick="),
            "inline script in:\n{html}"
        );
    }

    fn assert_page_shell(html: &str) {
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<meta name=\"viewport\""));
        assert!(html.contains("<main"));
        assert!(html.contains("Secured by Latch"));
        assert!(html.contains(&format!("/static/latch.css?v={}", asset_version())));
        assert!(html.contains(&format!(
            "<script src=\"/static/latch.js?v={}\" defer></script>",
            asset_version()
        )));
    }

    #[test]
    fn asset_version_is_short_url_safe_and_stable() {
        let v = asset_version();
        assert_eq!(v.len(), 12);
        assert!(
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(v, asset_version());
    }

    #[actix_web::test]
    async fn static_assets_have_their_types_and_are_immutable() {
        let css = get_css().await;
        assert_eq!(css.status(), StatusCode::OK);
        assert_eq!(content_type(&css), "text/css; charset=utf-8");
        assert_eq!(css.headers().get(header::CACHE_CONTROL).unwrap(), IMMUTABLE);
        assert_eq!(body(css), CSS);

        let js = get_js().await;
        assert_eq!(content_type(&js), "text/javascript; charset=utf-8");
        assert_eq!(js.headers().get(header::CACHE_CONTROL).unwrap(), IMMUTABLE);
        assert_eq!(body(js), JS);
    }

    #[test]
    fn login_page_escapes_hostile_input() {
        let v = LoginView {
            passkeys: true,
            csrf: ATTR,
            email: ATTR,
            error: Some(XSS),
            next: "/oauth/authorize?a=1&b=\"><script>alert(1)</script>",
            signup_enabled: true,
            client_name: Some(XSS),
        };
        let res = login_page(StatusCode::UNAUTHORIZED, &v);
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(content_type(&res), HTML);
        assert_eq!(
            res.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
        let html = body(res);
        assert_page_shell(&html);
        assert_escaped(&html);
        assert!(html.contains("<title>Sign in · Latch</title>"));
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&lt;script&gt;")
        );
        assert!(html.contains("to continue to"));
        assert!(html.contains("role=\"alert\""));
        assert!(html.contains("action=\"/login\""));
        assert!(html.contains("name=\"email\" type=\"email\""));
        assert!(html.contains("autocomplete=\"username\""));
        assert!(
            html.contains("name=\"password\" type=\"password\" autocomplete=\"current-password\"")
        );
        assert!(html.contains("name=\"csrf\""));
        assert!(
            html.contains("name=\"next\" value=\"/oauth/authorize?a=1&#38;b=&#34;&#62;")
                || html.contains("name=\"next\" value=\"/oauth/authorize?a=1&amp;b=")
        );
        // The signup link carries `next` percent-encoded.
        assert!(
            html.contains("href=\"/signup?next=/oauth/authorize%3Fa%3D1%26b%3D%22%3E%3Cscript%3E")
        );
    }

    #[test]
    fn login_page_without_client_or_error_or_signup() {
        let v = LoginView {
            passkeys: false,
            csrf: "c",
            email: "",
            error: None,
            next: "",
            signup_enabled: false,
            client_name: None,
        };
        let html = body(login_page(StatusCode::OK, &v));
        assert!(!html.contains("role=\"alert\""));
        assert!(!html.contains("/signup"));
        assert!(!html.contains("to continue to"));
        // Empty email: focus starts on the email field.
        assert!(html.contains("inputmode=\"email\" required autofocus"));
    }

    #[test]
    fn signup_page_escapes_hostile_input() {
        let v = SignupView {
            csrf: SQ,
            email: ATTR,
            error: Some(XSS),
            next: XSS,
        };
        let res = signup_page(StatusCode::UNPROCESSABLE_ENTITY, &v);
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(content_type(&res), HTML);
        let html = body(res);
        assert_page_shell(&html);
        assert_escaped(&html);
        assert!(html.contains("action=\"/signup\""));
        assert!(html.contains("autocomplete=\"new-password\" minlength=\"10\""));
        assert!(html.contains("role=\"alert\""));
        assert!(html.contains("href=\"/login?next=%3Cscript%3E"));
    }

    fn hostile_consent<'a>(livemode: bool) -> ConsentView<'a> {
        ConsentView {
            csrf: ATTR,
            logout_csrf: ATTR,
            client_name: XSS,
            client_id: ATTR,
            user_email: XSS,
            groups: vec![
                ScopeGroup {
                    title: "Latch API",
                    scopes: vec![ScopeView {
                        name: "read",
                        description: "Read your data",
                        already: true,
                    }],
                },
                ScopeGroup {
                    title: XSS,
                    scopes: vec![ScopeView {
                        name: XSS,
                        description: ATTR,
                        already: false,
                    }],
                },
            ],
            redirect_host: XSS,
            livemode,
            hidden: vec![
                ("client_id", "app_123"),
                ("state", ATTR),
                ("redirect_uri", "https://app.example/cb?x=1&y=2"),
                (ATTR, SQ),
            ],
            registered_by: "a Latch user",
            verified: false,
            homepage: Some(("javascript:alert(1)", XSS)),
            policy_uri: Some("https://app.example/privacy?a=\"x"),
            tos_uri: Some("javascript:alert(1)"),
            logo_url: Some("https://evil.example/logo.png"),
        }
    }

    #[test]
    fn consent_page_escapes_hostile_input_and_carries_the_request() {
        let res = consent_page(&hostile_consent(false));
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(content_type(&res), HTML);
        let html = body(res);
        assert_page_shell(&html);
        assert_escaped(&html);

        assert!(html.contains("action=\"/oauth/authorize\""));
        assert!(html.contains("name=\"decision\" value=\"allow\""));
        assert!(html.contains("name=\"decision\" value=\"deny\""));
        assert!(html.contains("<input type=\"hidden\" name=\"client_id\" value=\"app_123\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"redirect_uri\" value=\"https://app.example/cb?x=1&#38;y=2\">"));
        assert!(html.contains("name=\"state\" value=\"&#34;onmouseover=alert(1) x=&#34;\""));
        // The sign-out form is separate and also carries the CSRF token.
        assert!(html.contains("action=\"/logout\""));
        assert_eq!(html.matches("name=\"csrf\"").count(), 2);
        assert!(html.contains("Test mode"));
        assert!(html.contains("<li class=\"scope\">"));
        assert!(html.contains("Read your data"));
        assert!(html.contains("Already allowed"));
        assert!(html.contains("revoke"));
        // The app's initial is the first alphanumeric character, escaped like everything else.
        assert!(html.contains("<span class=\"avatar avatar-app\">S</span>"));
        // Who registered it, and the notice for an app no admin vouched for.
        assert!(html.contains("a Latch user"));
        assert!(html.contains("Unverified app"));
        // Only http(s) links to the app's pages, opened apart from this page.
        assert!(!html.contains("javascript:"));
        assert!(html.contains("href=\"https://app.example/privacy?a=&#34;x\" rel=\"noopener noreferrer\" target=\"_blank\""));
        // Never an image from elsewhere.
        assert!(!html.contains("evil.example"));
    }

    #[test]
    fn consent_page_hides_test_badge_in_live_mode() {
        let html = body(consent_page(&hostile_consent(true)));
        assert!(!html.contains("Test mode"));
    }

    #[test]
    fn error_page_escapes_and_keeps_the_status() {
        let res = error_page(StatusCode::BAD_REQUEST, XSS, ATTR);
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(content_type(&res), HTML);
        let html = body(res);
        assert_page_shell(&html);
        assert_escaped(&html);
        assert!(html.contains("Error 400"));
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62; · Latch</title>")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt; · Latch</title>")
        );
    }

    #[test]
    fn message_page_escapes_and_drops_unsafe_links() {
        let res = message_page(
            StatusCode::OK,
            XSS,
            ATTR,
            Some(("/login?next=/x&y=\"", XSS)),
        );
        assert_eq!(res.status(), StatusCode::OK);
        let html = body(res);
        assert_page_shell(&html);
        assert_escaped(&html);
        assert!(html.contains("href=\"/login?next=/x&#38;y=&#34;\""));

        for href in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "//evil.example",
            "/\\evil.example",
            "data:text/html,x",
        ] {
            let html = body(message_page(StatusCode::OK, "t", "m", Some((href, "Go"))));
            assert!(
                !html.contains("class=\"btn btn-primary btn-block\""),
                "kept unsafe href {href:?}"
            );
        }
        let html = body(message_page(
            StatusCode::OK,
            "t",
            "m",
            Some(("https://example.com/", "Go")),
        ));
        assert!(html.contains("href=\"https://example.com/\""));
    }

    #[actix_web::test]
    async fn the_shell_escapes_the_brand_name_and_links_the_accent_stylesheet() {
        use crate::brand::{Accent, Brand, BrandName, CURRENT};
        let brand = std::sync::Arc::new(Brand::new(
            BrandName::parse(XSS).unwrap(),
            Accent::parse("#0f766e").unwrap(),
            None,
        ));
        let href = brand.stylesheet_href().unwrap().to_owned();
        let html = CURRENT
            .scope(brand, async {
                body(error_page(StatusCode::NOT_FOUND, "Gone", "Not here."))
            })
            .await;
        assert_page_shell(&html);
        assert_escaped(&html);
        assert!(html.contains("<title>Gone · &#60;script&#62;alert(1)&#60;/script&#62;</title>"));
        assert!(html.contains(&format!("<link rel=\"stylesheet\" href=\"{href}\">")));
        // Outside a request, the brand is Latch's.
        assert!(body(error_page(StatusCode::NOT_FOUND, "Gone", "x")).contains("· Latch</title>"));
    }
}
