//! `LATCH_REQUIRE_VERIFIED_EMAIL` (DESIGN.md "Accounts people can trust"): a signed-in
//! person whose address is not verified is not signed in to OAuth apps. Instead of consent
//! or a code, the page says why, offers a new link (`POST /email/verify/resend`, the
//! `account` module's) and a way back to this very request once verified.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::request::Params;
use crate::errors::HtmlError;
use crate::pages::{asset_version, render};

#[derive(Template)]
#[template(path = "verify_required.html")]
struct VerifyRequired<'a> {
    version: &'static str,
    csrf: &'a str,
    client_name: &'a str,
    email: &'a str,
    next: &'a str,
}

/// 403: the account may not sign in to `client_name` yet.
pub fn page(
    session: &Session,
    params: &Params,
    client_name: &str,
    email: &str,
) -> Result<HttpResponse, HtmlError> {
    let back = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            params
                .iter()
                .filter(|(k, _)| k != super::fresh_login::PARAM),
        )
        .finish();
    let next = format!("/oauth/authorize?{back}");
    let csrf = crate::session::csrf_token(session)?;
    Ok(render(
        StatusCode::FORBIDDEN,
        &VerifyRequired {
            version: asset_version(),
            csrf: &csrf,
            client_name,
            email,
            next: &next,
        },
    ))
}
