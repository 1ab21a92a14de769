//! List cursors on `/v1` (`api::ListQuery`, `cursor`): any query string either is refused
//! or gives `limit` in 1–100 (10 when absent) and a `starting_after` of 1–64 `[A-Za-z0-9_]`,
//! both as sent; a refusal names a value that breaks one of those rules; a page holds at
//! most `limit` rows and the next cursor is its last row.
#![no_main]

use actix_web::web::Query;
use arbitrary::Arbitrary;
use latch::api::ListQuery;
use latch::cursor::Page;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Value<'a> {
    Number(u64),
    /// An object id as the store makes them (`key_…`).
    Id(u64),
    Text(&'a str),
}

/// The parameters by name, so the fuzzer reaches the checks without guessing `limit=`.
#[derive(Arbitrary, Debug)]
enum Part<'a> {
    Limit(Value<'a>),
    After(Value<'a>),
    Raw(&'a str),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    parts: Vec<Part<'a>>,
    rows: u8,
}

fn query(parts: &[Part<'_>]) -> String {
    let value = |v: &Value<'_>| match v {
        Value::Number(n) => n.to_string(),
        Value::Id(n) => format!("key_{n}"),
        Value::Text(s) => (*s).to_owned(),
    };
    let pair = |k: &str, v: &Value<'_>| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair(k, &value(v))
            .finish()
    };
    parts
        .iter()
        .take(4)
        .map(|p| match p {
            Part::Limit(v) => pair("limit", v),
            Part::After(v) => pair("starting_after", v),
            Part::Raw(s) => (*s).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fuzz_target!(|i: Input<'_>| {
    let qs = query(&i.parts);
    let Ok(q) = Query::<ListQuery>::from_query(&qs) else {
        return;
    };
    // What was sent, decoded as the query parser decodes it (a repeated name was refused
    // above, so there is at most one of each).
    let sent = |name: &str| {
        url::form_urlencoded::parse(qs.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let limit_ok = |l: &str| l.parse::<u64>().is_ok_and(|n| (1..=100).contains(&n));
    let after_ok = |s: &str| {
        s.is_empty()
            || ((1..=64).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    };
    let page = match q.page() {
        Ok(page) => page,
        Err(_) => {
            assert!(
                !sent("limit").is_none_or(|l| limit_ok(&l))
                    || !sent("starting_after").is_none_or(|s| after_ok(&s)),
                "{qs:?} refused"
            );
            return;
        }
    };
    assert!((1..=100).contains(&page.limit));
    match sent("limit") {
        Some(l) => assert_eq!(l.parse::<u64>().ok(), Some(page.limit), "{qs:?}"),
        None => assert_eq!(page.limit, 10),
    }
    assert_eq!(
        page.starting_after,
        sent("starting_after").filter(|s| !s.is_empty()),
        "{qs:?}"
    );
    if let Some(s) = &page.starting_after {
        assert!((1..=64).contains(&s.len()));
        assert!(
            s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{s:?}"
        );
    }
    let ids: Vec<String> = (0..i.rows).map(|n| format!("key_{n}")).collect();
    let p = Page::split(ids, page.limit);
    assert!(p.rows.len() as u64 <= page.limit);
    assert_eq!(p.has_more, u64::from(i.rows) > page.limit);
    match p.next_after(|r| r.as_str()) {
        Some(next) => assert!(p.has_more && p.rows.last() == Some(&next)),
        None => assert!(!p.has_more || p.rows.is_empty()),
    }
});
