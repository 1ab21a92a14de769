//! `GET /logos/{client_id}/{digest}.{ext}`: the client logos Latch fetched (`clients::logo`)
//! and serves from its own origin, so the consent page never loads an app's URL. The digest
//! in the path names the image, so a new logo gets a new URL and this one may be cached for
//! a year; `X-Content-Type-Options: nosniff` (every response, `middleware`) keeps browsers
//! to the declared raster type, and the image carries a `default-src 'none'` policy of its
//! own in case it is opened as a document.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::clients::logo;
use crate::errors::HtmlError;
use crate::state::AppState;
use crate::store;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/logos/{client_id}/{file}", web::get().to(get_logo));
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

async fn get_logo(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HtmlError> {
    let (client_id, file) = path.into_inner();
    let Some((digest, ext)) = file.split_once('.') else {
        return Err(HtmlError::not_found());
    };
    let id_ok = client_id.len() <= 64
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !id_ok || digest.len() != 16 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HtmlError::not_found());
    }
    let Some(l) = store::client_logos::by_client(&state.db, &client_id).await? else {
        return Err(HtmlError::not_found());
    };
    if !l.digest.starts_with(digest) || logo::extension(&l.content_type) != ext {
        return Err(HtmlError::not_found());
    }
    Ok(HttpResponse::Ok()
        .content_type(l.content_type.as_str())
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ))
        .insert_header((header::ETAG, format!("\"{}\"", l.digest)))
        .body(l.bytes))
}
