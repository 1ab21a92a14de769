//! The `/v1` JSON API.
use actix_web::{HttpResponse, web};

use crate::errors::ApiError;

pub fn routes(_cfg: &mut web::ServiceConfig) {}

/// Unknown paths under `/v1` answer in the API dialect.
pub async fn unknown_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        crate::errors::ApiErrorType::NotFound,
        "unknown_route",
        "Unrecognized request URL",
    ))
}
