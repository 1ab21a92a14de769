//! List cursors on `/v1` (`api::ListQuery`, `cursor`): any query string either is refused
//! or gives `limit` in 1–100 and a `starting_after` of 1–64 `[A-Za-z0-9_]`; a page holds at
//! most `limit` rows and the next cursor is its last row.
#![no_main]

use actix_web::web::Query;
use latch::api::ListQuery;
use latch::cursor::Page;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (&str, u8)| {
    let (qs, rows) = data;
    let Ok(q) = Query::<ListQuery>::from_query(qs) else {
        return;
    };
    let Ok(page) = q.page() else { return };
    assert!((1..=100).contains(&page.limit));
    if let Some(s) = &page.starting_after {
        assert!((1..=64).contains(&s.len()));
        assert!(
            s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{s:?}"
        );
    }
    let ids: Vec<String> = (0..rows).map(|n| format!("key_{n}")).collect();
    let p = Page::split(ids, page.limit);
    assert!(p.rows.len() as u64 <= page.limit);
    assert_eq!(p.has_more, u64::from(rows) > page.limit);
    match p.next_after(|r| r.as_str()) {
        Some(next) => assert!(p.has_more && p.rows.last() == Some(&next)),
        None => assert!(!p.has_more || p.rows.is_empty()),
    }
});
