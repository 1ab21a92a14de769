//! `/v1` request bodies (`api::params::Params`): arbitrary bytes under a form, JSON or any
//! content type never panic, and nothing accepted carries a control character; a JSON object
//! of strings is read as sent.
#![no_main]

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use latch::fuzzing::v1_params;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    kind: u8,
    content_type: &'a [u8],
    body: &'a [u8],
    object: Vec<(String, String)>,
}

fn request(ct: &[u8]) -> actix_web::HttpRequest {
    let mut req = TestRequest::post();
    if let Ok(v) = HeaderValue::from_bytes(ct) {
        req = req.insert_header((CONTENT_TYPE, v));
    }
    req.to_http_request()
}

fuzz_target!(|i: Input<'_>| {
    let ct: &[u8] = match i.kind % 3 {
        0 => b"application/x-www-form-urlencoded",
        1 => b"application/json",
        _ => i.content_type,
    };
    if let Ok(map) = v1_params(&request(ct), i.body) {
        for (k, vs) in &map {
            assert!(!k.chars().any(char::is_control), "{k:?}");
            for v in vs {
                assert!(!v.chars().any(char::is_control), "{k:?}={v:?}");
            }
        }
    }
    // A JSON object of strings comes back as sent (the last value of a repeated name).
    let mut obj = serde_json::Map::new();
    for (k, v) in &i.object {
        obj.insert(k.clone(), serde_json::json!(v));
    }
    let body = serde_json::Value::Object(obj.clone()).to_string();
    if let Ok(map) = v1_params(&request(b"application/json"), body.as_bytes()) {
        for (k, v) in &obj {
            assert_eq!(
                map.get(k),
                Some(&vec![v.as_str().expect("a string").to_owned()]),
                "{k:?}"
            );
        }
    } else {
        // Refused only for a control character (or an empty body).
        assert!(
            obj.iter().any(|(k, v)| k
                .chars()
                .chain(v.as_str().unwrap_or("").chars())
                .any(char::is_control)),
            "{body}"
        );
    }
});
