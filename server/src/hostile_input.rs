//! Property tests (issue #16, "Fuzzing and hostile input") of public parsers that live in
//! modules other work owns: the API-key format (`api_keys::looks_valid`, DESIGN.md) and
//! redirect-URI registration (`clients::validate_redirect_uri`, RFC 6749 §3.1.2, RFC 8252
//! §7.1 and §7.3). The other parsers are tested beside their code.

use proptest::prelude::*;

use crate::api_keys::{
    LIVE_PREFIX, RESTRICTED_LIVE_PREFIX, RESTRICTED_TEST_PREFIX, TEST_PREFIX, looks_valid,
};
use crate::clients::validate_redirect_uri;
use crate::crypto::mint_secret;

proptest! {
    #![proptest_config(hostile_config!())]

    /// Random strings never pass as API keys, also with a key's prefix and shape.
    #[test]
    fn prop_random_strings_are_never_api_keys(
        s in any::<String>(),
        prefix in prop::sample::select(vec![LIVE_PREFIX, TEST_PREFIX, "sk_", "cs_", ""]),
        body in "[0-9A-Za-z]{36,40}",
    ) {
        prop_assert!(!looks_valid(&s));
        let prefixed = format!("{prefix}{s}");
    prop_assert!(!looks_valid(&prefixed));
        let shaped = format!("{prefix}{body}");
    prop_assert!(!looks_valid(&shaped));
    }

    /// A valid key with any one character changed never passes (SECURITY.md K3: refused
    /// without a database read).
    #[test]
    fn prop_a_key_with_one_changed_character_never_passes(
        live in any::<bool>(),
        i in any::<prop::sample::Index>(),
        c in prop_oneof![any::<char>(), prop::char::range('0', 'z')],
    ) {
        let key = mint_secret(if live { LIVE_PREFIX } else { TEST_PREFIX });
        prop_assert!(looks_valid(&key));
        let mut chars: Vec<char> = key.chars().collect();
        let i = i.index(chars.len());
        prop_assume!(chars[i] != c);
        chars[i] = c;
        let bad: String = chars.into_iter().collect();
        // The checksum covers the random part (DESIGN.md, "Credentials"), so one change in
        // the prefix may only turn a secret key's prefix into a restricted key's (`sk_` →
        // `rk_`): still well-formed, and refused by the digest lookup, since the digest is
        // of the whole key. Any other change fails the format check.
        let other_type = i == 0
            && matches!(c, 'r' | 's')
            && [RESTRICTED_LIVE_PREFIX, RESTRICTED_TEST_PREFIX, LIVE_PREFIX, TEST_PREFIX]
                .iter()
                .any(|p| bad.starts_with(p));
        prop_assert!(other_type || !looks_valid(&bad), "{bad}");
    }

    /// Whatever is accepted as a redirect URI is absolute, has no fragment, wildcard,
    /// userinfo, whitespace or control character, and is `https`, `http` on loopback, or a
    /// reverse-domain private-use scheme.
    #[test]
    fn prop_accepted_redirect_uris_follow_the_rules(
        raw in "\\PC{0,60}|[a-z.]{1,12}://[a-zA-Z0-9.:@#*/?%\\[\\] \t-]{0,40}|[ -~]{0,40}"
    ) {
        if validate_redirect_uri(&raw).is_ok() {
            let u = url::Url::parse(&raw).unwrap();
            prop_assert!(raw.len() <= 2000);
            prop_assert!(!raw.contains(['#', '*']));
            prop_assert!(!raw.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert!(u.username().is_empty() && u.password().is_none());
            let loopback = match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            prop_assert!(
                u.scheme() == "https" || (u.scheme() == "http" && loopback) || u.scheme().contains('.'),
                "{raw:?}"
            );
        }
    }
}
