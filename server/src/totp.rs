//! Time-based one-time passwords (RFC 6238) as pure code: HOTP (RFC 4226 §5.3 dynamic
//! truncation) over HMAC-SHA-1, 6 digits, 30-second steps, accepted one step either side
//! (RFC 6238 §5.2: "at most one time step … for network delay"); the base32 secret
//! (RFC 4648 §6) and the `otpauth://totp/…` key URI authenticator apps scan, and its QR code
//! as inline SVG. A leaf: it imports nothing of ours. Where secrets live, replays and recovery
//! codes are `users::mfa`.

use aws_lc_rs::hmac;

/// RFC 6238 §4.1 `X`: the step, in seconds.
pub const STEP_SECS: i64 = 30;
/// Six digits: what every authenticator app shows by default.
pub const DIGITS: u32 = 6;
/// RFC 4226 §4 R6: the shared secret is at least 128 bits; 160 (the HMAC-SHA-1 block output)
/// is recommended.
pub const SECRET_LEN: usize = 20;
/// Steps accepted either side of the current one (RFC 6238 §5.2).
pub const WINDOW: i64 = 1;

/// RFC 4226 §5.3: HMAC-SHA-1 of the 8-byte big-endian counter, dynamically truncated to
/// `digits` decimal digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // SHA-1 is what RFC 6238 and every authenticator app use; HMAC-SHA-1 remains sound
    // (its security does not rest on SHA-1's collision resistance, RFC 4226 Appendix A).
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(digits)
}

/// RFC 6238 §4.2: the time step of a Unix time (T0 = 0); `None` before 1970.
pub fn step_at(unix_secs: i64) -> Option<u64> {
    u64::try_from(unix_secs.div_euclid(STEP_SECS)).ok()
}

/// The code of `step`, zero-padded to six digits as the apps show it.
pub fn code_at_step(secret: &[u8], step: u64) -> String {
    format!(
        "{:0width$}",
        hotp(secret, step, DIGITS),
        width = DIGITS as usize
    )
}

/// The six-digit code for a Unix time.
pub fn code_at(secret: &[u8], unix_secs: i64) -> Option<String> {
    step_at(unix_secs).map(|s| code_at_step(secret, s))
}

/// What a person typed, as the six digits: spaces and dashes (apps show `123 456`) are
/// dropped; anything else that is not a digit, or another length, is no code.
pub fn normalize(input: &str) -> Option<String> {
    let digits: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '\u{a0}'))
        .collect();
    (digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// The step whose code `input` is, looking `WINDOW` steps either side of `unix_secs`
/// (RFC 6238 §5.2); the caller refuses a step already used (§5.2: "MUST NOT accept the
/// second attempt of the OTP after the successful validation").
pub fn matching_step(secret: &[u8], input: &str, unix_secs: i64) -> Option<u64> {
    let code = normalize(input)?;
    let now = step_at(unix_secs)?;
    let mut found = None;
    // Every candidate is computed and compared in constant time, so the timing tells
    // nothing about which step (if any) matched.
    for d in -WINDOW..=WINDOW {
        let Some(step) = now.checked_add_signed(d) else {
            continue;
        };
        let candidate = code_at_step(secret, step);
        if subtle_eq(candidate.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 §6 base32 without padding, as key URIs carry secrets.
pub fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buf: u64 = 0;
    let mut bits = 0;
    for &b in data {
        buf = (buf << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(B32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decode RFC 4648 base32 (case-insensitive, padding and spaces ignored); `None` on any
/// other character.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut buf: u64 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        if c == b'=' || c == b' ' {
            continue;
        }
        let v = B32.iter().position(|&x| x == c.to_ascii_uppercase())? as u64;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// The key URI (Google Authenticator "Key Uri Format"): `otpauth://totp/<issuer>:<account>
/// ?secret=…&issuer=…`, the label and issuer percent-encoded; the defaults (SHA1, 6 digits,
/// 30 s) are stated too, for apps that do not assume them.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        // Path segment: percent-encode everything but unreserved characters (RFC 3986 §2.3).
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer),
        DIGITS,
        STEP_SECS
    )
}

/// The QR code of `text` as an inline SVG document fragment (dark modules on white, with the
/// quiet zone), sized by the page's CSS; `None` if it does not fit in a QR code.
pub fn qr_svg(text: &str) -> Option<String> {
    use qrcode::render::svg;
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#111111"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    // Drop the XML declaration: the SVG is inlined in HTML.
    let start = svg.find("<svg")?;
    Some(svg[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEED: &[u8] = b"12345678901234567890";

    /// RFC 4226 Appendix D: HOTP values for counters 0..9 of the test secret.
    #[test]
    fn rfc4226_appendix_d() {
        let want = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(hotp(SEED, c as u64, 6), *w, "counter {c}");
        }
    }

    /// RFC 6238 Appendix B, the SHA-1 rows (8 digits).
    #[test]
    fn rfc6238_appendix_b_sha1() {
        for (t, want) in [
            (59_i64, 94287082_u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            let step = step_at(t).unwrap();
            assert_eq!(hotp(SEED, step, 8), want, "T = {t}");
            // The six-digit code is the last six of the eight (the same modulus chain).
            assert_eq!(
                code_at(SEED, t).unwrap(),
                format!("{:06}", want % 1_000_000)
            );
        }
    }

    #[test]
    fn window_is_one_step_either_side() {
        let t = 1_111_111_111;
        let now = step_at(t).unwrap();
        for d in [-1_i64, 0, 1] {
            let code = code_at(SEED, t + d * STEP_SECS).unwrap();
            assert_eq!(matching_step(SEED, &code, t), now.checked_add_signed(d));
        }
        for d in [-2_i64, 2] {
            let code = code_at(SEED, t + d * STEP_SECS).unwrap();
            assert_eq!(matching_step(SEED, &code, t), None, "{d} steps away");
        }
    }

    #[test]
    fn codes_typed_with_spaces_count() {
        let code = code_at(SEED, 59).unwrap();
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(matching_step(SEED, &spaced, 59).is_some());
        assert_eq!(normalize("12345"), None);
        assert_eq!(normalize("１２３４５６"), None);
        assert_eq!(normalize("12a456"), None);
    }

    #[test]
    fn base32_rfc4648_vectors() {
        // RFC 4648 §10, without padding.
        for (i, o) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(i.as_bytes()), o);
            assert_eq!(base32_decode(o).unwrap(), i.as_bytes());
        }
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZ1"), None);
    }

    #[test]
    fn uri_names_issuer_and_account() {
        let u = otpauth_uri("Acme Corp", "ann@example.com", SEED);
        assert!(u.starts_with("otpauth://totp/Acme%20Corp:ann@example.com?secret="));
        assert!(u.contains("&issuer=Acme%20Corp"));
        assert!(u.contains(&base32(SEED)));
        let svg = qr_svg(&u).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<path"));
    }

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Whatever is typed, checking it never panics, and only six digits can match.
        #[test]
        fn prop_any_input_is_safe(s in "\\PC{0,20}", t in any::<i64>()) {
            if let Some(step) = matching_step(SEED, &s, t) {
                prop_assert_eq!(code_at_step(SEED, step), normalize(&s).unwrap());
            }
        }

        #[test]
        fn prop_base32_round_trips(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(base32_decode(&base32(&data)).unwrap(), data);
        }

        /// Decoding hostile text never panics.
        #[test]
        fn prop_base32_decode_is_total(s in "\\PC{0,40}") {
            let _ = base32_decode(&s);
        }
    }
}
