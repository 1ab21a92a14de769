//! `/v1` request bodies: form-encoded (Stripe's convention, arrays as `scopes[]=read`) or
//! JSON, read into one shape so handlers do not care which.

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::errors::ApiError;

#[derive(Debug, Default)]
pub struct Params(HashMap<String, Vec<String>>);

impl Params {
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(map));
        }
        if ct.starts_with("application/json") {
            let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::invalid_request(
                    "parameter_invalid",
                    format!("The JSON body could not be read: {e}"),
                )
            })?;
            let obj = v.as_object().ok_or_else(|| {
                ApiError::invalid_request("parameter_invalid", "The JSON body must be an object")
            })?;
            for (k, v) in obj {
                // One level of object (`metadata`, `refill`) reads as the form's
                // `metadata[k]=v` keys, so handlers see one shape.
                if let serde_json::Value::Object(inner) = v {
                    for (ik, iv) in inner {
                        let val = json_scalar(iv).map_err(|_| {
                            ApiError::invalid_request(
                                "parameter_invalid",
                                format!("{k}[{ik}] has an unsupported type"),
                            )
                            .with_param(format!("{k}[{ik}]"))
                        })?;
                        map.insert(format!("{k}[{ik}]"), vec![val]);
                    }
                    if inner.is_empty() {
                        map.insert(k.clone(), vec![String::new()]);
                    }
                    continue;
                }
                let vals = match v {
                    serde_json::Value::Array(items) => {
                        items.iter().map(json_scalar).collect::<Result<Vec<_>, _>>()
                    }
                    other => json_scalar(other).map(|s| vec![s]),
                }
                .map_err(|_| {
                    ApiError::invalid_request(
                        "parameter_invalid",
                        format!("{k} has an unsupported type"),
                    )
                    .with_param(k.clone())
                })?;
                map.insert(k.clone(), vals);
            }
        } else if ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty() {
            for (k, v) in url::form_urlencoded::parse(body) {
                let key = k.strip_suffix("[]").unwrap_or(&k).to_owned();
                map.entry(key).or_default().push(v.into_owned());
            }
        } else {
            return Err(ApiError::invalid_request(
                "parameter_invalid",
                "Send application/x-www-form-urlencoded or application/json",
            ));
        }
        // No parameter of the API carries control characters: a NUL byte would reach the
        // database (PostgreSQL refuses it in text), the others only make names lie.
        let mut names: Vec<&String> = map.keys().collect();
        names.sort();
        for k in names {
            if k.chars().any(char::is_control)
                || map[k].iter().any(|v| v.chars().any(char::is_control))
            {
                let shown: String = k.chars().filter(|c| !c.is_control()).take(64).collect();
                return Err(ApiError::invalid_request(
                    "parameter_invalid",
                    format!("{shown} must not contain control characters"),
                )
                .with_param(shown));
            }
        }
        Ok(Self(map))
    }

    /// A single-valued parameter.
    pub fn one(&self, k: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(k).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([v]) => Ok(Some(v.as_str())),
            Some(_) => Err(ApiError::invalid_request(
                "parameter_invalid",
                format!("{k} must be given once"),
            )
            .with_param(k.to_owned())),
        }
    }

    pub fn list(&self, k: &str) -> Option<Vec<String>> {
        self.0.get(k).map(|v| {
            v.iter()
                .flat_map(|s| s.split(' '))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    pub fn bool(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.one(k)? {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid_request(
                "parameter_invalid",
                format!("{k} must be true or false"),
            )
            .with_param(k.to_owned())),
        }
    }

    /// The `name[k]=v` pairs of a map parameter (`metadata[team]=billing`), sorted by key.
    pub fn map(&self, name: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let inner = k.strip_prefix(name)?.strip_prefix('[')?.strip_suffix(']')?;
                Some((inner.to_owned(), v.last().cloned().unwrap_or_default()))
            })
            .collect();
        out.sort();
        out
    }

    /// Refuse parameters the endpoint does not know, naming the first. A known name
    /// `metadata[*]` admits every `metadata[k]`.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        let mut keys: Vec<&String> = self.0.keys().collect();
        keys.sort();
        let knows = |k: &str| {
            known.iter().any(|n| match n.strip_suffix("[*]") {
                Some(base) => k
                    .strip_prefix(base)
                    .is_some_and(|r| r.starts_with('[') && r.ends_with(']')),
                None => *n == k,
            })
        };
        match keys.into_iter().find(|k| !knows(k)) {
            Some(k) => Err(ApiError::invalid_request(
                "parameter_unknown",
                format!("Received unknown parameter: {k}"),
            )
            .with_param(k.clone())),
            None => Ok(()),
        }
    }
}

fn json_scalar(v: &serde_json::Value) -> Result<String, ()> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    fn request(ct: &str) -> HttpRequest {
        TestRequest::post()
            .insert_header((header::CONTENT_TYPE, ct))
            .to_http_request()
    }

    fn no_control(p: &Params) -> bool {
        p.0.iter().all(|(k, vs)| {
            !k.chars().any(char::is_control) && vs.iter().all(|v| !v.chars().any(char::is_control))
        })
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Any body under any of the content types never panics, and nothing accepted
        /// carries a control character (a NUL would reach the database).
        #[test]
        fn prop_arbitrary_bodies_never_panic(
            ct in prop::sample::select(vec![
                "", "application/json", "application/x-www-form-urlencoded",
                "APPLICATION/JSON; charset=utf-8", "text/plain", "multipart/form-data",
            ]),
            body in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            if let Ok(p) = Params::parse(&request(ct), &body) {
                prop_assert!(no_control(&p));
                for k in p.0.keys() {
                    let _ = p.one(k);
                    let _ = p.bool(k);
                    let _ = p.list(k);
                }
            }
        }

        /// Arbitrary JSON never panics; an object of strings and string arrays is read
        /// as sent (when it carries no control characters), one level of object (`metadata`)
        /// as the form's `k[inner]` keys, anything else is refused.
        #[test]
        fn prop_json_objects_of_strings_are_read_as_sent(
            obj in prop::collection::hash_map(
                "\\PC{0,8}",
                prop_oneof![
                    any::<String>().prop_map(serde_json::Value::from),
                    prop::collection::vec(any::<String>(), 0..3).prop_map(serde_json::Value::from),
                    Just(serde_json::Value::Null),
                    Just(serde_json::json!({"nested": 1})),
                ],
                0..5,
            ),
        ) {
            let body = serde_json::to_vec(&obj).unwrap();
            let unsupported = obj.values().any(serde_json::Value::is_null);
            let has_control = |s: &str| s.chars().any(char::is_control);
            let control = obj.iter().any(|(k, v)| {
                has_control(k)
                    || v.as_str().is_some_and(has_control)
                    || v.as_array().is_some_and(|a| a.iter().filter_map(|s| s.as_str()).any(has_control))
            });
            match Params::parse(&request("application/json"), &body) {
                Ok(p) => {
                    prop_assert!(!unsupported && !control);
                    for (k, v) in &obj {
                        if v.is_object() {
                            prop_assert_eq!(p.0.get(&format!("{k}[nested]")), Some(&vec!["1".to_owned()]));
                            continue;
                        }
                        let want: Vec<String> = match v {
                            serde_json::Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
                            s => vec![s.as_str().unwrap().to_owned()],
                        };
                        prop_assert_eq!(p.0.get(k), Some(&want));
                    }
                }
                Err(_) => prop_assert!(unsupported || control),
            }
        }
    }
}
