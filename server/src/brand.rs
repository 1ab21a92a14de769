//! The brand on every page (and on every mail, once Latch sends mail): the product name, the
//! logo and the accent colour, from `LATCH_BRAND_NAME`, `LATCH_BRAND_LOGO` and
//! `LATCH_BRAND_COLOR`. `config` reads and checks them once at start-up into
//! `Settings::brand`; this module owns the rules (what a name, a logo and a colour may be) and
//! what is derived from them (the stylesheet of accent variables, computed here, and the
//! versioned URLs). A leaf: it imports nothing of ours.
//!
//! The brand of the request being handled is a task-local set by the middleware from the
//! instance's settings, so page functions need no extra argument and two instances in one
//! process (the tests) keep their own brands; outside a request it is Latch's own.
//!
//! Decisions:
//! - A colour is exactly `#rrggbb`: it is written into CSS, so nothing else (names,
//!   `rgb()`, `;`, `}`) can reach the stylesheet.
//! - Buttons keep white text. A colour on which white text has a contrast below 4.5:1
//!   (WCAG 2.x, success criterion 1.4.3, level AA) is refused at start-up, with a darker
//!   shade of it that passes suggested in the message, rather than silently switching to dark
//!   text (icons and marks drawn in white on the accent would become invisible).
//! - A logo is PNG, JPEG, WebP or GIF, recognised by its magic bytes, at most 256 KiB. SVG is
//!   refused: an SVG document can carry script.

use std::fmt;
use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The product name when `LATCH_BRAND_NAME` is not set.
pub const DEFAULT_NAME: &str = "Latch";
/// Latch's accent (`--accent` in `static/latch.css`).
pub const DEFAULT_COLOR: Rgb = Rgb(0x4f, 0x46, 0xe5);
/// Longest name, in characters: it sits in a header line and in every page title.
pub const MAX_NAME_CHARS: usize = 40;
/// Largest logo file: it is held in memory and sent with every first page view.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// WCAG 2.x SC 1.4.3 (AA): the least contrast of normal-size text on its background.
pub const MIN_CONTRAST: f64 = 4.5;

/// The brand of one instance.
pub struct Brand {
    name: String,
    color: Rgb,
    logo: Option<Logo>,
    css: String,
    css_href: String,
}

impl Brand {
    /// A brand from checked parts; the accent stylesheet is computed here, once.
    pub fn new(name: BrandName, color: Accent, logo: Option<Logo>) -> Self {
        let css = stylesheet(color.0);
        let css_href = format!("/static/brand.css?v={}", short_digest(css.as_bytes()));
        Self {
            name: name.0,
            color: color.0,
            logo,
            css,
            css_href,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn color(&self) -> Rgb {
        self.color
    }

    /// The accent as six hex digits (the default icon's fill, `%23` + these).
    pub fn color_digits(&self) -> String {
        self.color.hex().split_off(1)
    }

    pub fn logo(&self) -> Option<&Logo> {
        self.logo.as_ref()
    }

    /// `/static/brand/logo.<ext>?v=<digest>` when a logo is configured.
    pub fn logo_href(&self) -> Option<&str> {
        self.logo.as_ref().map(|l| l.href.as_str())
    }

    /// The MIME type of the configured logo (for `<link rel="icon" type=…>`).
    pub fn logo_mime(&self) -> &'static str {
        self.logo.as_ref().map_or("", |l| l.kind.mime())
    }

    /// The stylesheet of accent variables served at `/static/brand.css`.
    pub fn css(&self) -> &str {
        &self.css
    }

    /// `/static/brand.css?v=<digest>` when the colour is not Latch's own: pages with the
    /// default colour need no second stylesheet.
    pub fn stylesheet_href(&self) -> Option<&str> {
        (self.color != DEFAULT_COLOR).then_some(self.css_href.as_str())
    }
}

impl Default for Brand {
    fn default() -> Self {
        Self::new(
            BrandName(DEFAULT_NAME.to_owned()),
            Accent(DEFAULT_COLOR),
            None,
        )
    }
}

impl fmt::Debug for Brand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Brand")
            .field("name", &self.name)
            .field("color", &self.color.hex())
            .field("logo", &self.logo)
            .finish()
    }
}

static DEFAULT: LazyLock<Arc<Brand>> = LazyLock::new(|| Arc::new(Brand::default()));

tokio::task_local! {
    /// The brand of the instance handling this request (set by the middleware).
    pub static CURRENT: Arc<Brand>;
}

/// The brand of the request being handled on this task, else Latch's own.
pub fn current() -> Arc<Brand> {
    CURRENT
        .try_with(Arc::clone)
        .unwrap_or_else(|_| DEFAULT.clone())
}

/// Latch's own brand (no configuration).
pub fn default_brand() -> Arc<Brand> {
    DEFAULT.clone()
}

// ---------------------------------------------------------------------------------------------
// Name

/// A product name: 1 to [`MAX_NAME_CHARS`] characters after trimming, no control characters
/// (a line break or escape would break headers of a future mail and the page title).
#[derive(Clone, Debug)]
pub struct BrandName(String);

impl BrandName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("must not be empty".to_owned());
        }
        // Bidirectional overrides and zero-width characters are invisible formatting that
        // can make a title read as something else (UTS #39 §3.1 flags them too).
        let hidden = |c: char| {
            c.is_control()
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
        };
        if s.chars().any(hidden) {
            return Err("must not contain control or invisible formatting characters".to_owned());
        }
        let n = s.chars().count();
        if n > MAX_NAME_CHARS {
            return Err(format!(
                "is {n} characters long; at most {MAX_NAME_CHARS} are allowed"
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// Colour

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Exactly `#rrggbb` (either case): nothing else can reach a stylesheet.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("expected a colour as #rrggbb (such as #0f766e), got {s:?}");
        let hex = s.strip_prefix('#').ok_or_else(bad)?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(Self(byte(0)?, byte(2)?, byte(4)?))
    }

    /// `#rrggbb`, lower case.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// WCAG 2.x relative luminance (sRGB channels linearised).
    pub fn luminance(self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// WCAG 2.x contrast ratio, 1 to 21.
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (hi, lo) = if a > b { (a, b) } else { (b, a) };
        (hi + 0.05) / (lo + 0.05)
    }

    /// `self` moved a fraction `t` (0 to 1) of the way to `other`.
    pub fn mix(self, other: Rgb, t: f64) -> Rgb {
        let ch = |a: u8, b: u8| {
            let v = f64::from(a) + (f64::from(b) - f64::from(a)) * t.clamp(0.0, 1.0);
            // In 0..=255 by construction.
            v.round().clamp(0.0, 255.0) as u8
        };
        Rgb(
            ch(self.0, other.0),
            ch(self.1, other.1),
            ch(self.2, other.2),
        )
    }

    fn rgba(self, alpha: f64) -> String {
        format!("rgba({}, {}, {}, {alpha:.2})", self.0, self.1, self.2)
    }
}

const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);
const BLACK: Rgb = Rgb(0, 0, 0);
/// `--surface` of the dark scheme in `static/latch.css`: links and focus rings sit on it.
const DARK_SURFACE: Rgb = Rgb(0x13, 0x16, 0x1e);

/// An accent colour: `#rrggbb` on which white text reaches [`MIN_CONTRAST`].
#[derive(Clone, Copy, Debug)]
pub struct Accent(Rgb);

impl Accent {
    pub fn parse(s: &str) -> Result<Self, String> {
        let c = Rgb::parse(s.trim())?;
        let ratio = c.contrast(WHITE);
        if ratio < MIN_CONTRAST {
            let fix = toward(c, BLACK, WHITE, MIN_CONTRAST + 0.05);
            return Err(format!(
                "white text on {} has a contrast of {ratio:.2}:1, below the {MIN_CONTRAST}:1 of WCAG AA; \
                 choose a darker colour, such as {}",
                c.hex(),
                fix.hex()
            ));
        }
        Ok(Self(c))
    }
}

/// The first step from `c` toward `to` that reaches `ratio` against `against` (or `to`).
fn toward(c: Rgb, to: Rgb, against: Rgb, ratio: f64) -> Rgb {
    (0..=20)
        .map(|i| c.mix(to, f64::from(i) / 20.0))
        .find(|m| m.contrast(against) >= ratio)
        .unwrap_or(to)
}

/// The accent variables of `static/latch.css`, derived from one colour for both schemes.
/// Every value is formatted from numbers, never from configuration text.
fn stylesheet(c: Rgb) -> String {
    // Light: hover and pressed are darker; links use the hover shade (darker than the accent,
    // so at least as readable on white); the soft tint is almost white.
    let hover = c.mix(BLACK, 0.15);
    let active = c.mix(BLACK, 0.30);
    let soft = c.mix(WHITE, 0.92);
    // Dark: links and focus must be readable on the dark surface, so they are lightened
    // until they are.
    let dark_text = toward(c, WHITE, DARK_SURFACE, 7.0);
    let dark_focus = toward(c, WHITE, DARK_SURFACE, 4.5);
    let dark_hover = c.mix(BLACK, 0.10);
    let dark_active = c.mix(BLACK, 0.20);
    format!(
        "/* Brand accent ({hex}), computed by Latch from LATCH_BRAND_COLOR. */\n\
         :root {{\n  --accent: {hex};\n  --accent-hover: {hover};\n  --accent-active: {active};\n  \
         --accent-text: {hover};\n  --accent-soft: {soft};\n  --on-accent: #ffffff;\n  \
         --focus: {hex};\n  --focus-ring: {ring};\n  --bg-glow: {glow};\n}}\n\
         @media (prefers-color-scheme: dark) {{\n  :root {{\n    --accent: {hex};\n    \
         --accent-hover: {dark_hover};\n    --accent-active: {dark_active};\n    \
         --accent-text: {dark_text};\n    --accent-soft: {dark_soft};\n    --on-accent: #ffffff;\n    \
         --focus: {dark_focus};\n    --focus-ring: {dark_ring};\n    --bg-glow: {dark_glow};\n  }}\n}}\n",
        hex = c.hex(),
        hover = hover.hex(),
        active = active.hex(),
        soft = soft.hex(),
        ring = c.rgba(0.28),
        glow = c.rgba(0.10),
        dark_hover = dark_hover.hex(),
        dark_active = dark_active.hex(),
        dark_text = dark_text.hex(),
        dark_soft = c.rgba(0.16),
        dark_focus = dark_focus.hex(),
        dark_ring = dark_focus.rgba(0.38),
        dark_glow = c.rgba(0.14),
    )
}

// ---------------------------------------------------------------------------------------------
// Logo

/// The raster formats a logo may be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Webp,
    Gif,
}

impl ImageKind {
    /// The format by its magic bytes (PNG spec §5.2, JFIF SOI marker, RIFF/WEBP, GIF87a/89a).
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else {
            None
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
            Self::Gif => "gif",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
        }
    }
}

/// A checked logo file, kept in memory and served by Latch (never hot-linked).
pub struct Logo {
    kind: ImageKind,
    /// Shared by every response that sends it (a reference count, not a copy).
    bytes: actix_web::web::Bytes,
    href: String,
}

impl Logo {
    /// The file's bytes: a PNG, JPEG, WebP or GIF by its magic bytes, at most
    /// [`MAX_LOGO_BYTES`]. The file name's extension is not trusted.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(format!(
                "is larger than {MAX_LOGO_BYTES} bytes (256 KiB), the most allowed"
            ));
        }
        let kind = ImageKind::sniff(&bytes).ok_or_else(|| {
            let svg = std::str::from_utf8(&bytes[..bytes.len().min(512)])
                .is_ok_and(|s| s.contains("<svg") || s.trim_start().starts_with("<?xml"));
            if svg {
                "is an SVG image; only PNG, JPEG, WebP or GIF are allowed (an SVG can carry script)"
                    .to_owned()
            } else {
                "is not a PNG, JPEG, WebP or GIF image".to_owned()
            }
        })?;
        let href = format!(
            "/static/brand/logo.{}?v={}",
            kind.ext(),
            short_digest(&bytes)
        );
        Ok(Self {
            kind,
            bytes: bytes.into(),
            href,
        })
    }

    pub fn kind(&self) -> ImageKind {
        self.kind
    }

    pub fn bytes(&self) -> actix_web::web::Bytes {
        self.bytes.clone()
    }
}

impl fmt::Debug for Logo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logo")
            .field("kind", &self.kind)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// 12 URL-safe characters of SHA-256: a cache-busting version.
fn short_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..9])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_exactly_six_hex_digits() {
        assert_eq!(Rgb::parse("#0F766e"), Ok(Rgb(0x0f, 0x76, 0x6e)));
        for bad in [
            "red",
            "red;}body{",
            "#0f766e;}body{background:red",
            "#fff",
            "0f766e",
            "#0f766e0",
            "#0g766e",
            "#+f766e",
            "rgb(0,0,0)",
            "",
            "#",
        ] {
            assert!(Rgb::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn contrast_matches_wcag_reference_values() {
        assert!((BLACK.contrast(WHITE) - 21.0).abs() < 1e-9);
        assert!((WHITE.contrast(WHITE) - 1.0).abs() < 1e-9);
        // #767676 is the classic lightest grey passing 4.5:1 on white (4.54:1).
        assert!((Rgb(0x76, 0x76, 0x76).contrast(WHITE) - 4.54).abs() < 0.01);
    }

    #[test]
    fn accent_refuses_low_contrast_and_suggests_a_shade_that_passes() {
        assert!(Accent::parse("#0f766e").is_ok());
        assert!(Accent::parse(&DEFAULT_COLOR.hex()).is_ok());
        let err = Accent::parse("#ffcc00").unwrap_err();
        assert!(err.contains("4.5:1"), "{err}");
        let suggested = err.rsplit(' ').next().unwrap();
        assert!(Accent::parse(suggested).is_ok(), "{err}");
    }

    #[test]
    fn stylesheet_holds_only_computed_values_and_readable_dark_links() {
        let css = stylesheet(Rgb(0x0f, 0x76, 0x6e));
        assert!(css.contains("--accent: #0f766e;"));
        assert!(css.contains("--accent-hover: #0d645e;"));
        assert!(css.contains("prefers-color-scheme: dark"));
        assert_eq!(css.matches('{').count(), css.matches('}').count());
        let dark_text = css
            .split("--accent-text: ")
            .nth(2)
            .and_then(|s| Rgb::parse(&s[..7]).ok())
            .unwrap();
        assert!(dark_text.contrast(DARK_SURFACE) >= 7.0);
    }

    #[test]
    fn names_are_trimmed_short_and_free_of_control_characters() {
        assert_eq!(BrandName::parse("  Acme ID ").unwrap().0, "Acme ID");
        assert!(BrandName::parse(&"é".repeat(40)).is_ok());
        assert!(BrandName::parse(&"x".repeat(41)).is_err());
        assert!(BrandName::parse("   ").is_err());
        assert!(BrandName::parse("Acme\nBcc: x").is_err());
        assert!(BrandName::parse("Acme\u{1b}[31m").is_err());
        assert!(BrandName::parse("Ac\u{85}me").is_err());
        assert!(BrandName::parse("Acme\u{202e}DI").is_err());
    }

    #[test]
    fn logos_are_recognised_by_magic_bytes_and_bounded() {
        let png = b"\x89PNG\r\n\x1a\n....".to_vec();
        let logo = Logo::parse(png).unwrap();
        assert_eq!(logo.kind(), ImageKind::Png);
        assert!(logo.href.starts_with("/static/brand/logo.png?v="));
        assert_eq!(
            Logo::parse(b"\xff\xd8\xff\xe0".to_vec()).unwrap().kind(),
            ImageKind::Jpeg
        );
        assert_eq!(
            Logo::parse(b"RIFF\0\0\0\0WEBPVP8 ".to_vec())
                .unwrap()
                .kind(),
            ImageKind::Webp
        );
        assert_eq!(
            Logo::parse(b"GIF89a..".to_vec()).unwrap().kind(),
            ImageKind::Gif
        );
        let svg = Logo::parse(b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>".to_vec())
            .unwrap_err();
        assert!(svg.contains("SVG"), "{svg}");
        assert!(Logo::parse(b"hello".to_vec()).is_err());
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(MAX_LOGO_BYTES + 1, 0);
        assert!(Logo::parse(big).unwrap_err().contains("256 KiB"));
    }

    #[test]
    fn the_default_brand_needs_no_stylesheet_and_has_no_logo() {
        let b = Brand::default();
        assert_eq!(b.name(), "Latch");
        assert!(b.stylesheet_href().is_none());
        assert!(b.logo_href().is_none());
        assert_eq!(current().name(), "Latch");
    }
}
