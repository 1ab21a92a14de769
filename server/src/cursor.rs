//! One cursor for every list, `/v1` and the dashboard alike (Stripe's convention): rows are
//! fetched newest first, `limit + 1` of them after the `starting_after` id, so whether another
//! page exists is known without a count query. Imports nothing of ours.

/// Whether `s` can be a `starting_after` value: an object id (`key_…`, `cl_…`, `evt_…`),
/// never anything that could reach a query unchecked.
pub fn valid_after(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Rows to ask the store for, to show `limit` and know whether there are more.
pub const fn fetch(limit: u64) -> u64 {
    limit + 1
}

/// One page of a list.
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Cut rows fetched with [`fetch`]`(limit)` down to `limit`.
    pub fn split(mut rows: Vec<T>, limit: u64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Page { rows, has_more }
    }

    /// The `starting_after` of the next page, if there is one.
    pub fn next_after(&self, id: impl Fn(&T) -> &str) -> Option<String> {
        if !self.has_more {
            return None;
        }
        self.rows.last().map(|r| id(r).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_knows_whether_more_follow_and_where_they_start() {
        let p = Page::split(vec!["c", "b", "a"], 2);
        assert_eq!(p.rows, ["c", "b"]);
        assert!(p.has_more);
        assert_eq!(p.next_after(|s| s).as_deref(), Some("b"));
        let last = Page::split(vec!["a"], 2);
        assert!(!last.has_more);
        assert_eq!(last.next_after(|s| s), None);
        assert_eq!(fetch(10), 11);
    }

    #[test]
    fn only_object_ids_can_be_cursors() {
        assert!(valid_after("key_0123abcXYZ"));
        for bad in ["", "key\u{0}x", "a b", "x'--", &"a".repeat(65)] {
            assert!(!valid_after(bad), "{bad:?}");
        }
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(hostile_config!())]

            /// A cursor is 1–64 of `[A-Za-z0-9_]`, nothing else.
            #[test]
            fn prop_only_plain_ids_are_cursors(s in "\\PC{0,70}|[A-Za-z0-9_]{0,70}|[\\x00-\\x7f]{0,10}") {
                let expected = !s.is_empty()
                    && s.len() <= 64
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                prop_assert_eq!(valid_after(&s), expected);
            }

            /// A page never holds more than `limit` rows, says whether more follow, and
            /// the next cursor is its last row.
            #[test]
            fn prop_pages_split_at_the_limit(n in 0usize..50, limit in 0u64..60) {
                let rows: Vec<String> = (0..n).map(|i| format!("id_{i}")).collect();
                let page = Page::split(rows, limit);
                let l = limit as usize;
                prop_assert_eq!(page.rows.len(), n.min(l));
                prop_assert_eq!(page.has_more, n > l);
                let next = page.next_after(|s| s.as_str());
                if n > l && l > 0 {
                    prop_assert_eq!(next, Some(format!("id_{}", l - 1)));
                } else {
                    prop_assert_eq!(next, None);
                }
            }
        }
    }
}
