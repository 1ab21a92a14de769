//! The mail settings (DESIGN.md "Accounts people can trust"): `LATCH_SMTP_URL`,
//! `LATCH_MAIL_FROM`, `LATCH_MAIL_MAX_ATTEMPTS`. Parsing only; sending is `crate::mail`.
//!
//! `LATCH_SMTP_URL` forms:
//! - `smtp://host:port` — plain SMTP (RFC 5321), port 25 by default;
//! - `smtp://host:port?tls=starttls` — STARTTLS required (RFC 3207), port 587 by default;
//! - `smtps://user:pass@host:port` — implicit TLS (RFC 8314 §3.3), port 465 by default;
//! - any of them with `user:pass@` (percent-encoded) for AUTH (RFC 4954);
//! - `file:///dir` — each message written to `dir` as an `.eml` file (development).
//!
//! No error message repeats the URL: it may carry the password.

use std::fmt;
use std::path::PathBuf;

use super::{ConfigError, invalid};

const URL_KEY: &str = "LATCH_SMTP_URL";

/// How an SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text (a relay on the same host or network).
    None,
    /// STARTTLS, required (RFC 3207): the mail is never sent in the clear.
    StartTls,
    /// TLS from the first byte (RFC 8314 §3.3).
    Implicit,
}

/// SMTP AUTH credentials. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpAuth {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for SmtpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SmtpAuth {{ user: {:?}, password: <redacted> }}",
            self.user
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailTransport {
    Smtp {
        host: String,
        port: u16,
        security: SmtpSecurity,
        auth: Option<SmtpAuth>,
    },
    /// Write `<id>.eml` files into this directory.
    File(PathBuf),
}

impl MailTransport {
    /// What `/readyz` shows: the kind and where, never the credentials.
    pub fn describe(&self) -> String {
        match self {
            MailTransport::Smtp {
                host,
                port,
                security,
                ..
            } => {
                let how = match security {
                    SmtpSecurity::None => "smtp",
                    SmtpSecurity::StartTls => "smtp+starttls",
                    SmtpSecurity::Implicit => "smtps",
                };
                format!("{how}://{host}:{port}")
            }
            MailTransport::File(dir) => format!("file://{}", dir.display()),
        }
    }

    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        let url = url::Url::parse(s.trim()).map_err(|_| {
            invalid(
                URL_KEY,
                "is not a URL; expected smtp://host:port, smtp://host:port?tls=starttls, smtps://user:pass@host:port or file:///dir",
            )
        })?;
        let decode = |p: &str| {
            percent_decode(p)
                .ok_or_else(|| invalid(URL_KEY, "has a badly encoded user or password"))
        };
        match url.scheme() {
            "file" => {
                if url.host_str().is_some_and(|h| !h.is_empty()) || url.query().is_some() {
                    return Err(invalid(URL_KEY, "a file: URL is file:///absolute/dir"));
                }
                let path = url
                    .to_file_path()
                    .map_err(|_| invalid(URL_KEY, "a file: URL is file:///absolute/dir"))?;
                Ok(MailTransport::File(path))
            }
            scheme @ ("smtp" | "smtps") => {
                let host = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| invalid(URL_KEY, "names no host"))?
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                let mut security = if scheme == "smtps" {
                    SmtpSecurity::Implicit
                } else {
                    SmtpSecurity::None
                };
                for (k, v) in url.query_pairs() {
                    match (k.as_ref(), v.as_ref(), scheme) {
                        ("tls", "starttls", "smtp") => security = SmtpSecurity::StartTls,
                        ("tls", "none", "smtp") => security = SmtpSecurity::None,
                        ("tls", _, _) => {
                            return Err(invalid(
                                URL_KEY,
                                "tls= may be starttls or none, on smtp:// only (smtps:// is implicit TLS)",
                            ));
                        }
                        _ => {
                            return Err(invalid(
                                URL_KEY,
                                format!("unknown parameter {k:?} (only tls=starttls)"),
                            ));
                        }
                    }
                }
                if url.path() != "" && url.path() != "/" {
                    return Err(invalid(URL_KEY, "an smtp URL has no path"));
                }
                let port = url.port().unwrap_or(match security {
                    SmtpSecurity::None => 25,
                    SmtpSecurity::StartTls => 587,
                    SmtpSecurity::Implicit => 465,
                });
                let auth = match (url.username(), url.password()) {
                    ("", None) => None,
                    (user, Some(pass)) if !user.is_empty() => Some(SmtpAuth {
                        user: decode(user)?,
                        password: decode(pass)?,
                    }),
                    _ => {
                        return Err(invalid(
                            URL_KEY,
                            "credentials are user:password@ (both parts)",
                        ));
                    }
                };
                Ok(MailTransport::Smtp {
                    host,
                    port,
                    security,
                    auth,
                })
            }
            other => Err(invalid(
                URL_KEY,
                format!("unsupported scheme {other:?}; expected smtp, smtps or file"),
            )),
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}

/// Mail is configured: how to send, as whom, and how often to try one message.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// `LATCH_MAIL_FROM`, a valid RFC 5322 mailbox (`Name <addr>` or `addr`).
    pub from: String,
    /// Attempts per message before it is given up on (`LATCH_MAIL_MAX_ATTEMPTS`).
    pub max_attempts: u32,
}

/// The mail part of the settings: `None` when `LATCH_SMTP_URL` is unset (then the pages say
/// so and an admin makes links with the CLI).
pub(super) fn settings(
    url: Option<String>,
    from: Option<String>,
    max_attempts: Option<String>,
) -> Result<Option<MailSettings>, ConfigError> {
    let max_attempts = max_attempts
        .as_deref()
        .map(|v| super::validate::parse_num("LATCH_MAIL_MAX_ATTEMPTS", v, 1u32, 100))
        .transpose()?
        .unwrap_or(10);
    let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
        if from.is_some() {
            return Err(invalid(
                "LATCH_MAIL_FROM",
                "is set but LATCH_SMTP_URL is not; set both to send mail",
            ));
        }
        return Ok(None);
    };
    let transport = MailTransport::parse(&url)?;
    let from = match (from, &transport) {
        (Some(f), _) => f,
        // Development: the files are read by the developer, not delivered.
        (None, MailTransport::File(_)) => "Latch <latch@localhost>".to_owned(),
        (None, MailTransport::Smtp { .. }) => {
            return Err(invalid(
                "LATCH_MAIL_FROM",
                "is required with an SMTP LATCH_SMTP_URL (e.g. \"Example <no-reply@example.com>\")",
            ));
        }
    };
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(invalid(
            "LATCH_MAIL_FROM",
            "is not a mailbox such as no-reply@example.com or \"Example <no-reply@example.com>\"",
        ));
    }
    Ok(Some(MailSettings {
        transport,
        from,
        max_attempts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(s: &str) -> (String, u16, SmtpSecurity, Option<SmtpAuth>) {
        match MailTransport::parse(s).expect(s) {
            MailTransport::Smtp {
                host,
                port,
                security,
                auth,
            } => (host, port, security, auth),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_documented_forms_parse() {
        assert_eq!(
            smtp("smtp://mail.local:2525"),
            ("mail.local".into(), 2525, SmtpSecurity::None, None)
        );
        assert_eq!(smtp("smtp://mail.local").1, 25);
        let (_, port, sec, _) = smtp("smtp://mail.local?tls=starttls");
        assert_eq!((port, sec), (587, SmtpSecurity::StartTls));
        let (host, port, sec, auth) = smtp("smtps://me%40x.io:p%40ss%2Bw@smtp.x.io");
        assert_eq!(
            (host.as_str(), port, sec),
            ("smtp.x.io", 465, SmtpSecurity::Implicit)
        );
        assert_eq!(
            auth,
            Some(SmtpAuth {
                user: "me@x.io".into(),
                password: "p@ss+w".into()
            })
        );
        assert_eq!(
            MailTransport::parse("file:///tmp/mail").unwrap(),
            MailTransport::File("/tmp/mail".into())
        );
    }

    #[test]
    fn bad_urls_name_the_key_and_never_the_password() {
        for bad in [
            "http://x",
            "smtp://",
            "smtps://x?tls=starttls",
            "smtp://x?tls=maybe",
            "smtp://x?foo=1",
            "smtp://user@x",
            "smtp://x/path",
            "file://host/dir",
            "nonsense",
        ] {
            let e = MailTransport::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("LATCH_SMTP_URL"), "{e}");
        }
        let e = MailTransport::parse("smtp://u:hunter2@x?tls=no").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
        let ok = MailTransport::parse("smtp://u:hunter2@x").unwrap();
        assert!(!format!("{ok:?}").contains("hunter2"));
        assert!(!ok.describe().contains("hunter2"));
    }

    #[test]
    fn from_is_required_for_smtp_and_checked() {
        assert!(settings(Some("smtp://x".into()), None, None).is_err());
        assert!(settings(Some("smtp://x".into()), Some("not an address".into()), None).is_err());
        let s = settings(Some("smtp://x".into()), Some("A <a@x.io>".into()), None)
            .unwrap()
            .unwrap();
        assert_eq!(s.max_attempts, 10);
        assert!(settings(None, Some("a@x.io".into()), None).is_err());
        assert!(settings(None, None, None).unwrap().is_none());
        assert!(settings(Some("file:///tmp/m".into()), None, Some("0".into())).is_err());
    }
}
