//! The body of the `/oauth` endpoints that take a form (RFC 6749 §3.2): read with a size
//! limit, `application/x-www-form-urlencoded` only, every parameter at most once except
//! `resource` (RFC 8707 §2) and `audience` (RFC 8693 §2.1), and no credentials in the
//! query string.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, web};

use crate::errors::OAuthError;

/// Largest request body any endpoint reads (forms, JSON and raw bodies alike); defined with
/// the by-path answers in `errors`, applied here to the `/oauth` forms by [`read_body`].
pub use crate::errors::by_path::MAX_BODY;

/// The parameter that may repeat everywhere: RFC 8707 §2, "the `resource` parameter …
/// may be used multiple times to indicate that the requested token is intended to be used
/// at multiple resources".
pub const REPEATABLE: &str = "resource";
/// The other: RFC 8693 §2.1, "Multiple `audience` parameters MAY be used to indicate that
/// the issued token is intended to be used at the multiple audiences listed".
pub const AUDIENCE: &str = "audience";

/// A parsed form body with every parameter present at most once (`resource` and
/// `audience` aside, kept in order apart from the rest).
pub struct Form(pub HashMap<String, String>, Vec<String>, Vec<String>);

impl Form {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// Every `resource` value, in order (RFC 8707 §2).
    pub fn resources(&self) -> &[String] {
        &self.1
    }

    /// Every `audience` value, in order (RFC 8693 §2.1).
    pub fn audiences(&self) -> &[String] {
        &self.2
    }
}

/// Parse an `application/x-www-form-urlencoded` body, refusing repeated parameters
/// (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once")
/// other than [`REPEATABLE`] and [`AUDIENCE`].
pub fn parse_form(req: &HttpRequest, body: &[u8]) -> Result<Form, OAuthError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "The request body must be application/x-www-form-urlencoded",
        ));
    }
    if !req.query_string().is_empty()
        && url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, _)| {
            k == "client_secret" || k == "code" || k == "refresh_token" || k == "token"
        })
    {
        return Err(OAuthError::invalid_request(
            "Credentials must not be sent in the query string",
        ));
    }
    let mut map = HashMap::new();
    let mut resources = Vec::new();
    let mut audiences = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if k == REPEATABLE {
            resources.push(v.into_owned());
            continue;
        }
        if k == AUDIENCE {
            audiences.push(v.into_owned());
            continue;
        }
        if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "The {k} parameter was sent more than once"
            )));
        }
    }
    Ok(Form(map, resources, audiences))
}

/// Read the body of a token, introspection or revocation request, at most
/// [`MAX_BODY`]. [`super::ClientRequest::open`] calls it only after the per-IP limit, so an
/// address over its limit is refused before a single body byte is read. A larger body is
/// refused as an RFC 6749 §5.2 error (JSON, `no-store`, §5.1) instead of a plain-text 413.
pub async fn read_body(req: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, OAuthError> {
    let max = MAX_BODY;
    let too_large = || {
        OAuthError::invalid_request(format!(
            "The request body is too large (at most {} KiB)",
            max / 1024
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match payload.to_bytes_limited(max).await {
        Ok(Ok(body)) => Ok(body),
        // A client that disconnects or trickles past LATCH_BODY_TIMEOUT (the latter is
        // answered 408 by the middleware).
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            Err(OAuthError::invalid_request(
                "The request body could not be read",
            ))
        }
        Err(_) => Err(too_large()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    fn form_request(query: &str) -> HttpRequest {
        TestRequest::post()
            .uri(&format!("/oauth/token{query}"))
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .to_http_request()
    }

    fn encode(pairs: &[(String, String)]) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish()
    }

    /// Parameter names from a small set, so repeats are common; `resource` among them.
    fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
        let name = prop::sample::select(vec![
            "grant_type",
            "code",
            "client_id",
            "resource",
            "audience",
            "scope",
            "a&b",
            "",
            "é",
        ]);
        prop::collection::vec((name.prop_map(str::to_owned), any::<String>()), 0..8)
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Any body never panics; whatever is accepted has no repeated name but `resource`.
        #[test]
        fn prop_arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(form) = parse_form(&form_request(""), &body) {
                let names: Vec<_> = url::form_urlencoded::parse(&body)
                    .map(|(k, _)| k.into_owned())
                    .filter(|k| k != REPEATABLE && k != AUDIENCE)
                    .collect();
                prop_assert_eq!(form.0.len(), names.len());
            }
        }

        /// RFC 6749 §3.2: refused exactly when a name other than `resource` (RFC 8707 §2)
        /// or `audience` (RFC 8693 §2.1) repeats; accepted values and every `resource` and
        /// `audience`, in order, come back as sent.
        #[test]
        fn prop_repeats_are_refused_except_resource_and_audience(pairs in pairs()) {
            let body = encode(&pairs);
            let mut seen = std::collections::HashSet::new();
            let listed = |k: &str| k == REPEATABLE || k == AUDIENCE;
            let repeated = pairs.iter().any(|(k, _)| !listed(k) && !seen.insert(k.clone()));
            match parse_form(&form_request(""), body.as_bytes()) {
                Err(e) => prop_assert!(repeated, "{body:?}: {e:?}"),
                Ok(form) => {
                    prop_assert!(!repeated, "{body:?}");
                    for (k, v) in pairs.iter().filter(|(k, _)| !listed(k)) {
                        prop_assert_eq!(form.0.get(k), Some(v));
                    }
                    let of = |name: &str| -> Vec<String> {
                        pairs
                            .iter()
                            .filter(|(k, _)| k == name)
                            .map(|(_, v)| v.clone())
                            .collect()
                    };
                    prop_assert_eq!(form.resources(), &of(REPEATABLE)[..]);
                    prop_assert_eq!(form.audiences(), &of(AUDIENCE)[..]);
                }
            }
        }

        /// Only `application/x-www-form-urlencoded` (any parameters, any case) is read.
        #[test]
        fn prop_other_content_types_are_refused(ct in "[ -~]{0,40}", body in "[a-z=&]{0,40}") {
            let req = TestRequest::post()
                .insert_header((header::CONTENT_TYPE, ct.as_str()))
                .to_http_request();
            let ok = parse_form(&req, body.as_bytes()).is_ok();
            let form = ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded");
            if !form {
                prop_assert!(!ok);
            }
        }

        /// Credentials in the query string are refused, whatever else is there.
        #[test]
        fn prop_credentials_in_the_query_are_refused(
            name in prop::sample::select(vec!["client_secret", "code", "refresh_token", "token"]),
            before in "[a-z0-9=&]{0,20}",
            value in "[a-zA-Z0-9%]{0,20}",
        ) {
            let query = format!("?{before}&{name}={value}");
            prop_assert!(parse_form(&form_request(&query), b"grant_type=x").is_err());
        }
    }
}
