//! A one-line summary of a `User-Agent` header ("Chrome on Linux") for the sessions list, so
//! a person can tell their devices apart. Only the browser family and the platform are kept:
//! the raw header (versions, build ids) is never stored, since it is untrusted text and a
//! fingerprint. A leaf: it imports nothing of ours.

/// "Browser on Platform", or "Unknown browser" parts when nothing is recognised.
pub fn summary(ua: Option<&str>) -> String {
    let ua = ua.unwrap_or("");
    // Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari",
    // and every mobile UA names a desktop platform too.
    let browser = if ua.contains("Edg/") || ua.contains("Edge/") {
        "Edge"
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        "Opera"
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        "Firefox"
    } else if ua.contains("HeadlessChrome/") {
        "Headless Chrome"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") || ua.contains("Chromium/") {
        "Chrome"
    } else if ua.contains("Safari/") && ua.contains("Version/") {
        "Safari"
    } else if ua.starts_with("curl/") {
        "curl"
    } else if ua.starts_with("reqwest") {
        "reqwest"
    } else {
        "Unknown browser"
    };
    let platform = if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Android") {
        "Android"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("Linux") || ua.contains("X11") {
        "Linux"
    } else {
        return browser.to_owned();
    };
    format!("{browser} on {platform}")
}

#[cfg(test)]
mod tests {
    use super::summary;
    use proptest::prelude::*;

    #[test]
    fn common_browsers() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "curl"),
        ];
        for (ua, want) in cases {
            assert_eq!(summary(Some(ua)), want, "{ua}");
        }
        assert_eq!(summary(None), "Unknown browser");
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Whatever the header says, the summary is one of a few fixed words: nothing of the
        /// header itself is echoed.
        #[test]
        fn prop_summary_is_from_a_fixed_vocabulary(ua in "\\PC{0,80}|[A-Za-z/ ().;]{0,60}") {
            let s = summary(Some(&ua));
            prop_assert!(s.len() <= 40);
            prop_assert!(s.chars().all(|c| c.is_ascii_alphabetic() || c == ' '));
        }
    }
}
