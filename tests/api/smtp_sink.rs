//! A small SMTP server for the tests (RFC 5321: EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT): it accepts every message and keeps it, so a test reads the
//! mail Latch really sent over a real socket. Dropping it closes it (the "mail server is down"
//! case) and `start_on(port)` brings one back on the same port.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA as sent (RFC 5322 message, dot-unstuffed).
    pub data: String,
    /// The AUTH credentials used, `user:password`, if any.
    pub auth: Option<String>,
}

impl Received {
    /// A header's value (the first), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut out: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = out.as_mut()
                && (line.starts_with(' ') || line.starts_with('\t'))
            {
                v.push_str(line.trim_start());
                continue;
            }
            if out.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                out = Some(v.trim().to_owned());
            }
        }
        out
    }

    /// The decoded body of the first part of this content type (`text/plain`,
    /// `text/html`): quoted-printable, base64 or 7/8 bit.
    pub fn part(&self, content_type: &str) -> Option<String> {
        for chunk in self.data.split("\r\n--") {
            let Some((head, body)) = chunk.split_once("\r\n\r\n") else {
                continue;
            };
            let head_l = head.to_ascii_lowercase();
            if !head_l.contains(&format!("content-type: {content_type}")) {
                continue;
            }
            // The body ends where the next boundary starts (already split off).
            let body = body.trim_end_matches("\r\n");
            if head_l.contains("content-transfer-encoding: quoted-printable") {
                return Some(decode_qp(body));
            }
            if head_l.contains("content-transfer-encoding: base64") {
                use base64::Engine;
                let joined: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .ok()?;
                return String::from_utf8(bytes)
                    .ok()
                    .map(|s| s.replace("\r\n", "\n"));
            }
            return Some(body.replace("\r\n", "\n"));
        }
        None
    }

    pub fn text(&self) -> String {
        self.part("text/plain").expect("a text/plain part")
    }

    /// The link of the text part whose path starts with `path` (`/password/reset?token=`):
    /// a line of its own holding an absolute URL; returns its path and query (the test app
    /// listens on another port than its issuer names).
    pub fn link(&self, path: &str) -> String {
        let text = self.text();
        let line = text
            .lines()
            .find(|l| l.starts_with("http") && l.contains(path))
            .unwrap_or_else(|| panic!("no line with {path} in {text}"));
        let at = line.find(path).expect("found");
        assert!(
            !line.contains(' '),
            "the link is alone on its line: {line:?}"
        );
        line[at..].to_owned()
    }
}

fn decode_qp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_on(0).await
    }

    /// Listen on `port` (0: any free one).
    pub async fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the SMTP sink");
        let port = listener.local_addr().expect("addr").port();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = messages.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(stream, store).await;
                });
            }
        });
        SmtpSink {
            port,
            messages,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().expect("lock").clone()
    }

    /// Wait (polling, up to `secs`) until at least `n` messages arrived.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} mails within {secs} s, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Dropping the sink closes it (the "mail server is down" case).
impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    use base64::Engine;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut auth = None;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            w.write_all(b"250-sink\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            w.write_all(b"250 sink\r\n").await?;
        } else if upper.starts_with("AUTH PLAIN") {
            let arg = cmd[10..].trim().to_owned();
            let arg = if arg.is_empty() {
                w.write_all(b"334 \r\n").await?;
                line.clear();
                r.read_line(&mut line).await?;
                line.trim().to_owned()
            } else {
                arg
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(arg)
                .unwrap_or_default();
            let parts: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            auth = parts.get(1..3).map(|p| format!("{}:{}", p[0], p[1]));
            w.write_all(b"235 2.7.0 ok\r\n").await?;
        } else if upper.starts_with("AUTH LOGIN") {
            let mut got = Vec::new();
            for prompt in [&b"334 VXNlcm5hbWU6\r\n"[..], b"334 UGFzc3dvcmQ6\r\n"] {
                w.write_all(prompt).await?;
                line.clear();
                r.read_line(&mut line).await?;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(line.trim())
                    .unwrap_or_default();
                got.push(String::from_utf8_lossy(&raw).into_owned());
            }
            auth = Some(got.join(":"));
            w.write_all(b"235 2.7.0 ok\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().trim_matches(['<', '>']).to_owned();
            to.clear();
            w.write_all(b"250 ok\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().trim_matches(['<', '>']).to_owned());
            w.write_all(b"250 ok\r\n").await?;
        } else if upper == "DATA" {
            w.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // RFC 5321 §4.5.2: a leading dot was doubled by the sender.
                let l = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(l);
            }
            store.lock().expect("lock").push(Received {
                from: from.clone(),
                to: to.clone(),
                data,
                auth: auth.clone(),
            });
            w.write_all(b"250 ok: queued\r\n").await?;
        } else if upper == "RSET" || upper == "NOOP" {
            w.write_all(b"250 ok\r\n").await?;
        } else if upper == "QUIT" {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"502 not implemented\r\n").await?;
        }
    }
}

/// Mail settings sending to `url` (`smtp://…`, `file:///…`), from a fixed address.
pub fn mail_settings(url: &str) -> latch::config::MailSettings {
    latch::config::MailSettings {
        transport: latch::config::MailTransport::parse(url).expect("mail URL"),
        from: "Latch Test <no-reply@latch.test>".to_owned(),
        max_attempts: 10,
    }
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
