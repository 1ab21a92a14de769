//! `/v1` request bodies (`api::params::Params`): arbitrary bytes under a form, JSON or any
//! content type never panic, and nothing accepted carries a control character; a JSON body
//! of every shape the API reads (scalars, lists, an object, a list of objects) is read as
//! the rules of `api::params` say, and refused exactly when it holds a control character
//! or a shape they do not read.
#![no_main]

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use latch::fuzzing::v1_params;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::collections::HashMap;

/// A value of a JSON body, of each shape `Params` reads: scalars, a list of scalars, one
/// object (`metadata`), a list of objects (`scopes: [{name, description}]`), and a shape it
/// refuses (an object in an object).
#[derive(Arbitrary, Debug)]
enum JsonValue {
    Str(String),
    Num(i64),
    Bool(bool),
    Null,
    List(Vec<String>),
    Object(Vec<(String, String)>),
    Objects(Vec<Vec<(String, String)>>),
    Nested(String),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    kind: u8,
    content_type: &'a [u8],
    body: &'a [u8],
    object: Vec<(String, JsonValue)>,
}

fn request(ct: &[u8]) -> actix_web::HttpRequest {
    let mut req = TestRequest::post();
    if let Ok(v) = HeaderValue::from_bytes(ct) {
        req = req.insert_header((CONTENT_TYPE, v));
    }
    req.to_http_request()
}

/// The body and what `Params` must read from it (`None`: it must refuse it), by the rules
/// in `api::params`: `k[ik]` for an object's members, `k[i][f]` for a list of objects, an
/// empty object as `k` (or `k[i]`) with an empty value, `null` as an empty value.
fn json_body(object: &[(String, JsonValue)]) -> (String, Want) {
    let mut obj = serde_json::Map::new();
    for (k, v) in object {
        let v = match v {
            JsonValue::Str(s) => json!(s),
            JsonValue::Num(n) => json!(n),
            JsonValue::Bool(b) => json!(b),
            JsonValue::Null => Value::Null,
            JsonValue::List(l) => json!(l),
            JsonValue::Object(o) => {
                Value::Object(o.iter().map(|(a, b)| (a.clone(), json!(b))).collect())
            }
            JsonValue::Objects(l) => Value::Array(
                l.iter()
                    .map(|o| Value::Object(o.iter().map(|(a, b)| (a.clone(), json!(b))).collect()))
                    .collect(),
            ),
            JsonValue::Nested(s) => json!({ s: {} }),
        };
        obj.insert(k.clone(), v);
    }
    let mut want: HashMap<String, Vec<String>> = HashMap::new();
    let mut refused = false;
    // Two sources of one name (`"a": {"b": …}` beside `"a[b]"`): which one wins is not a
    // rule, so such a body is not compared.
    let mut clash = false;
    let mut put = |k: String, v: Vec<String>| clash |= want.insert(k, v).is_some();
    let scalar = |v: &Value| match v {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    for (k, v) in &obj {
        match v {
            Value::Object(inner) if inner.is_empty() => put(k.clone(), vec![String::new()]),
            Value::Object(inner) => {
                for (ik, iv) in inner {
                    match scalar(iv) {
                        Some(s) => put(format!("{k}[{ik}]"), vec![s]),
                        None => refused = true,
                    }
                }
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                for (i, item) in items.iter().enumerate() {
                    let fields = item.as_object().expect("lists of objects hold objects");
                    if fields.is_empty() {
                        put(format!("{k}[{i}]"), vec![String::new()]);
                    }
                    for (f, fv) in fields {
                        put(
                            format!("{k}[{i}][{f}]"),
                            vec![scalar(fv).expect("a string")],
                        );
                    }
                }
            }
            Value::Array(items) => put(
                k.clone(),
                items.iter().map(|x| scalar(x).expect("a string")).collect(),
            ),
            other => put(k.clone(), vec![scalar(other).expect("a scalar")]),
        }
    }
    let control = want.iter().any(|(k, vs)| {
        k.chars()
            .chain(vs.iter().flat_map(|v| v.chars()))
            .any(char::is_control)
    });
    let body = Value::Object(obj).to_string();
    let want = if clash {
        Want::Either
    } else if refused || control {
        Want::Refused
    } else {
        Want::Read(want)
    };
    (body, want)
}

enum Want {
    Read(HashMap<String, Vec<String>>),
    Refused,
    /// Two sources of one name: not compared.
    Either,
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
    // A JSON body of every shape comes back as the rules say, or is refused exactly when
    // it holds a control character or a shape the API does not read.
    let (body, want) = json_body(&i.object);
    let got = v1_params(&request(b"application/json"), body.as_bytes());
    match (got, want) {
        (Ok(map), Want::Read(want)) => assert_eq!(map, want, "{body}"),
        (Err(()), Want::Refused) | (_, Want::Either) => {}
        (Ok(_), Want::Refused) => panic!("{body} accepted"),
        (Err(()), Want::Read(_)) => panic!("{body} refused"),
    }
});
