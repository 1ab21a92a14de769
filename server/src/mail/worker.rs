//! The outbox worker: claims due mails (one conditional update each, so of two instances
//! exactly one sends a given mail), sends them, deletes what was sent, and schedules a
//! failed mail again after `2^(attempts-1)` seconds (at most
//! [`store::outbox::MAX_BACKOFF`]) until `LATCH_MAIL_MAX_ATTEMPTS`, then gives up on it.
//! Claims and backoff are timers, so they read the system clock, not the application's.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Kind, Mailer, Outgoing, Status, aad};
use crate::config::{MailSettings, MailTransport, SmtpSecurity};
use crate::crypto::Sealer;
use crate::store::outbox::{Mail, backoff};
use crate::store::{self, Db};

/// How long a claim lasts: longer than one send may take (the SMTP timeout is
/// [`SMTP_TIMEOUT`]), so a live worker's claim never runs out under it; a stopped
/// instance's claim lets another instance send the mail this long later.
pub const CLAIM: Duration = Duration::from_secs(90);
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// A wake-up comes from this instance's enqueues; this poll finds other instances' mail
/// and retries that fell due.
const POLL: Duration = Duration::from_secs(1);
const BATCH: u64 = 20;

enum Sender {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(std::path::PathBuf),
}

impl Sender {
    fn new(s: &MailSettings) -> Result<Self, String> {
        match &s.transport {
            MailTransport::File(dir) => Ok(Sender::File(dir.clone())),
            MailTransport::Smtp {
                host,
                port,
                security,
                auth,
            } => {
                let tls = match security {
                    SmtpSecurity::None => Tls::None,
                    SmtpSecurity::StartTls => Tls::Required(
                        TlsParameters::new(host.clone()).map_err(|e| format!("TLS: {e}"))?,
                    ),
                    SmtpSecurity::Implicit => Tls::Wrapper(
                        TlsParameters::new(host.clone()).map_err(|e| format!("TLS: {e}"))?,
                    ),
                };
                let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                    .port(*port)
                    .tls(tls)
                    .timeout(Some(SMTP_TIMEOUT));
                if let Some(a) = auth {
                    b = b.credentials(Credentials::new(a.user.clone(), a.password.clone()));
                }
                Ok(Sender::Smtp(b.build()))
            }
        }
    }

    async fn send(&self, id: &str, message: Message) -> Result<(), String> {
        match self {
            Sender::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            Sender::File(dir) => {
                // Written whole then renamed, so a reader never sees half a file; a retry
                // of the same row rewrites the same file.
                let bytes = message.formatted();
                let dir = dir.clone();
                let id = id.to_owned();
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    std::fs::create_dir_all(&dir)?;
                    let tmp = dir.join(format!(".{id}.tmp"));
                    std::fs::write(&tmp, bytes)?;
                    std::fs::rename(&tmp, dir.join(format!("{id}.eml")))
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("writing the .eml file: {e}"))
            }
        }
    }
}

fn build(from: &Mailbox, to: &str, m: &Outgoing) -> Result<Message, String> {
    let to: Mailbox = to.parse().map_err(|_| "invalid recipient".to_owned())?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            m.text.clone(),
            m.html.clone(),
        ))
        .map_err(|e| e.to_string())
}

/// Start the worker when mail is configured.
pub fn spawn(db: Db, sealer: Sealer, mailer: &Mailer) {
    let Some(settings) = mailer.settings.clone() else {
        return;
    };
    let wake = mailer.wake.clone();
    let status = mailer.status.clone();
    tokio::spawn(async move {
        let sender = match Sender::new(&settings) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "mail: cannot set up the transport; nothing will be sent");
                return;
            }
        };
        let from: Option<Mailbox> = settings.from.parse().ok();
        let Some(from) = from else {
            return;
        };
        while !status.stopped.load(Ordering::Relaxed) {
            if let Err(e) = pass(&db, &sealer, &sender, &from, &settings, &status).await {
                tracing::warn!(error = ?e, "mail: outbox pass failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = wake.notified() => {}
            }
        }
    });
}

/// One pass over the due mails.
async fn pass(
    db: &Db,
    sealer: &Sealer,
    sender: &Sender,
    from: &Mailbox,
    settings: &MailSettings,
    status: &Arc<Status>,
) -> Result<(), crate::errors::StoreError> {
    let now = store::now();
    for row in store::outbox::due::<Mail>(db, now, BATCH).await? {
        let until = now + chrono::TimeDelta::from_std(CLAIM).unwrap_or_default();
        if !store::outbox::claim::<Mail>(db, &row, now, until).await? {
            continue; // another instance has it
        }
        let attempts = u32::try_from(row.attempts).unwrap_or(0).saturating_add(1);
        let kind = Kind::label(&row.kind);
        let message = sealer
            .open(&row.sealed, &aad(&row.id))
            .and_then(|p| serde_json::from_slice::<Outgoing>(&p).ok())
            .ok_or_else(|| "the sealed message cannot be opened (master key changed?)".to_owned())
            .and_then(|m| build(from, &row.recipient, &m));
        let result = match message {
            Ok(m) => sender.send(&row.id, m).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                store::outbox::delete::<Mail>(db, &row.id).await?;
                metrics::counter!("latch_mail_sent_total", "kind" => kind).increment(1);
                status.sent.fetch_add(1, Ordering::Relaxed);
                status.consecutive_failures.store(0, Ordering::Relaxed);
            }
            Err(e) => {
                let e: String = e.chars().take(300).collect();
                metrics::counter!("latch_mail_failed_attempts_total", "kind" => kind).increment(1);
                status.failed_attempts.fetch_add(1, Ordering::Relaxed);
                status.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                let next = (attempts < settings.max_attempts).then(|| {
                    store::now()
                        + chrono::TimeDelta::from_std(backoff(attempts)).unwrap_or_default()
                });
                if next.is_none() {
                    metrics::counter!("latch_mail_given_up_total", "kind" => kind).increment(1);
                    status.given_up.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(mail = %row.id, kind, attempts, error = %e, "mail: giving up");
                } else {
                    tracing::warn!(mail = %row.id, kind, attempts, error = %e, "mail: attempt failed; will retry");
                }
                store::outbox::failed::<Mail>(db, &row.id, &e, next, store::now()).await?;
            }
        }
    }
    Ok(())
}
