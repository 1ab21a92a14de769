//! `/v1` request bodies: form-encoded (Stripe's convention, arrays as `scopes[]=read`) or
//! JSON, read into one shape so handlers do not care which.

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::errors::ApiError;

#[derive(Debug, Default)]
pub struct Params(HashMap<String, Vec<String>>);

impl Params {
    /// Every name with its values, for the fuzz targets (`crate::fuzzing`).
    #[cfg(feature = "fuzzing")]
    pub fn into_map(self) -> HashMap<String, Vec<String>> {
        self.0
    }

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
                // A list of objects (`scopes: [{name, description}]`) reads as the form's
                // `scopes[0][name]=…` keys: `Params::objects` reads either.
                if let serde_json::Value::Array(items) = v
                    && items.iter().any(serde_json::Value::is_object)
                {
                    for (i, item) in items.iter().enumerate() {
                        let bad = || {
                            ApiError::invalid_request(
                                "parameter_invalid",
                                format!("{k} must be a list of objects"),
                            )
                            .with_param(k.clone())
                        };
                        let fields = item.as_object().ok_or_else(bad)?;
                        if fields.is_empty() {
                            map.insert(format!("{k}[{i}]"), vec![String::new()]);
                        }
                        for (f, fv) in fields {
                            let val = json_scalar(fv).map_err(|_| bad())?;
                            map.insert(format!("{k}[{i}][{f}]"), vec![val]);
                        }
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

    /// An indexed list of objects: `name[0][field]=v` in a form, `"name": [{"field": v}]` in
    /// JSON, in index order (indices may skip). Each object may carry only `fields`; at most
    /// `max` objects. `None` when the parameter is absent.
    pub fn objects(
        &self,
        name: &str,
        fields: &[&str],
        max: usize,
    ) -> Result<Option<Vec<HashMap<String, String>>>, ApiError> {
        let bad = || {
            ApiError::invalid_request(
                "parameter_invalid",
                format!(
                    "{name} must be a list of objects with the fields {}",
                    fields.join(", ")
                ),
            )
            .with_param(name.to_owned())
        };
        let mut found: std::collections::BTreeMap<u32, HashMap<String, String>> =
            Default::default();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(name).and_then(|r| r.strip_prefix('[')) else {
                continue;
            };
            let (i, field) = rest
                .split_once("][")
                .and_then(|(i, f)| Some((i.parse::<u32>().ok()?, f.strip_suffix(']')?)))
                .ok_or_else(bad)?;
            if !fields.contains(&field) {
                return Err(bad());
            }
            if i as usize >= max {
                return Err(ApiError::invalid_request(
                    "parameter_invalid",
                    format!("{name} may hold at most {max} objects"),
                )
                .with_param(name.to_owned()));
            }
            let [v] = v.as_slice() else {
                return Err(ApiError::invalid_request(
                    "parameter_invalid",
                    format!("{name}[{i}][{field}] must be given once"),
                )
                .with_param(name.to_owned()));
            };
            found
                .entry(i)
                .or_default()
                .insert(field.to_owned(), v.clone());
        }
        if found.is_empty() && !self.0.contains_key(name) {
            return Ok(None);
        }
        if self
            .0
            .get(name)
            .is_some_and(|v| v.iter().any(|v| !v.is_empty()))
        {
            return Err(bad());
        }
        Ok(Some(found.into_values().collect()))
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
        // `null` unsets, as the form's empty value does (Stripe's convention).
        serde_json::Value::Null => Ok(String::new()),
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
        /// as sent (when it carries no control characters), `null` as the empty value, one
        /// level of object (`metadata`) as the form's `k[inner]` keys.
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
            let has_control = |s: &str| s.chars().any(char::is_control);
            let control = obj.iter().any(|(k, v)| {
                has_control(k)
                    || v.as_str().is_some_and(has_control)
                    || v.as_array().is_some_and(|a| a.iter().filter_map(|s| s.as_str()).any(has_control))
            });
            match Params::parse(&request("application/json"), &body) {
                Ok(p) => {
                    prop_assert!(!control);
                    for (k, v) in &obj {
                        if v.is_object() {
                            prop_assert_eq!(p.0.get(&format!("{k}[nested]")), Some(&vec!["1".to_owned()]));
                            continue;
                        }
                        let want: Vec<String> = match v {
                            serde_json::Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
                            serde_json::Value::Null => vec![String::new()],
                            s => vec![s.as_str().unwrap().to_owned()],
                        };
                        prop_assert_eq!(p.0.get(k), Some(&want));
                    }
                }
                Err(_) => prop_assert!(control),
            }
        }

        /// A list of objects reads the same from a form and from JSON, in index order.
        #[test]
        fn prop_objects_read_alike_from_form_and_json(
            items in prop::collection::vec(("[a-z:]{1,12}", prop::option::of("[ -~]{0,20}")), 0..6),
        ) {
            let json = serde_json::json!({
                "scopes": items.iter().map(|(n, d)| match d {
                    Some(d) => serde_json::json!({"name": n, "description": d}),
                    None => serde_json::json!({"name": n}),
                }).collect::<Vec<_>>(),
            });
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (i, (n, d)) in items.iter().enumerate() {
                form.append_pair(&format!("scopes[{i}][name]"), n);
                if let Some(d) = d {
                    form.append_pair(&format!("scopes[{i}][description]"), d);
                }
            }
            let form = form.finish();
            let from_json = Params::parse(&request("application/json"), json.to_string().as_bytes()).unwrap();
            let from_form = Params::parse(&request("application/x-www-form-urlencoded"), form.as_bytes()).unwrap();
            let a = from_json.objects("scopes", &["name", "description"], 10).unwrap().unwrap_or_default();
            let b = from_form.objects("scopes", &["name", "description"], 10).unwrap().unwrap_or_default();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.len(), items.len());
            for (got, (n, d)) in a.iter().zip(&items) {
                prop_assert_eq!(got.get("name"), Some(n));
                prop_assert_eq!(got.get("description"), d.as_ref());
            }
        }
    }

    #[test]
    fn objects_refuse_unknown_fields_too_many_and_scalars() {
        let form = |body: &str| Params::parse(&request(""), body.as_bytes()).unwrap();
        let read = |p: &Params| {
            p.objects("scopes", &["name"], 2)
                .map_err(|e| format!("{e:?}"))
        };
        assert!(read(&form("scopes[0][owner]=x")).is_err());
        assert!(read(&form("scopes[2][name]=x")).is_err());
        assert!(read(&form("scopes[x][name]=x")).is_err());
        assert!(read(&form("scopes=read")).is_err());
        assert!(read(&form("scopes[0][name]=a&scopes[0][name]=b")).is_err());
        assert_eq!(read(&form("other=1")).unwrap(), None);
        assert_eq!(read(&form("scopes=")).unwrap(), Some(vec![]));
        let json = Params::parse(
            &request("application/json"),
            br#"{"scopes": [{"name": "a"}, "b"]}"#,
        );
        assert!(json.is_err());
    }
}
