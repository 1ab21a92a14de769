//! The private parsers the cargo-fuzz targets in `fuzz/` reach (issue #16, "Fuzzing and
//! hostile input"): thin wrappers, no logic of their own, compiled only with the `fuzzing`
//! feature. The public parsers (`oauth::form`, `bearer`, `signing`, `scope`, …) are fuzzed
//! through their own API.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;

use crate::middleware::ProxyTrust;

/// `Authorization: Basic` at the token endpoint (`oauth::client_auth`, RFC 6749 §2.3.1):
/// `Ok(None)` without the header, `Ok(Some((id, secret)))` decoded, `Err(())` refused.
#[allow(clippy::result_unit_err)]
pub fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, ()> {
    crate::oauth::client_auth::basic_credentials(req).map_err(|_| ())
}

/// The client's address as the middleware determines it (`X-Forwarded-For` from a trusted
/// proxy, else the peer).
pub fn client_ip(trust: &ProxyTrust, req: &ServiceRequest) -> Option<IpAddr> {
    trust.client_ip_of(req)
}

/// A `/v1` body as [`crate::api::params::Params::parse`] reads it: every name with its
/// values.
#[allow(clippy::result_unit_err)]
pub fn v1_params(
    req: &HttpRequest,
    body: &[u8],
) -> Result<std::collections::HashMap<String, Vec<String>>, ()> {
    crate::api::params::Params::parse(req, body)
        .map(crate::api::params::Params::into_map)
        .map_err(|_| ())
}

/// What a dynamic client registration would create, as [`registration`] reads it.
#[derive(Debug)]
pub struct Registered {
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub auth_method: String,
}

/// A dynamic client registration (RFC 7591 §2, `clients::registration`) of a JSON body, at
/// the open door or with an initial access token: `None` when the body is not a request,
/// else the client it would create or `Err`. Every rule `registration::register` applies
/// before it reads or writes the store: the request's own
/// ([`prepare`](crate::clients::registration::prepare)), then the client's
/// ([`check_new`](crate::clients::check_new), against a catalog of the built-in API).
#[allow(clippy::result_unit_err)]
pub fn registration(body: &[u8], open: bool) -> Option<Result<Registered, ()>> {
    use crate::clients::registration::{Door, Request, prepare};
    static CATALOG: std::sync::LazyLock<std::sync::Arc<crate::catalog::Snapshot>> =
        std::sync::LazyLock::new(|| crate::catalog::Catalog::new("https://api.example").get());
    let r: Request = serde_json::from_slice(body).ok()?;
    let door = if open { Door::Open } else { Door::Initial("x") };
    Some(
        prepare(r, door)
            .map_err(|_| ())
            .and_then(|(_, new, protocol)| {
                crate::clients::check_new(&CATALOG, &new, &protocol)
                    .map(|c| Registered {
                        redirect_uris: c.redirect_uris,
                        public: new.public,
                        grant_types: c.grant_types,
                        auth_method: c.auth_method,
                    })
                    .map_err(|_| ())
            }),
    )
}
