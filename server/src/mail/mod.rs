//! Mail (DESIGN.md "Accounts people can trust"): what Latch mails, the outbox that makes
//! sending survive failures and restarts, and the worker that sends.
//!
//! The request path never talks to a mail server: it renders the message
//! ([`templates`]) and inserts one `mail_outbox` row with [`Mailer::enqueue`], in the
//! transaction of the token the mail carries, so either both exist or neither. The message
//! is sealed under the master key (it holds a single-use link). [`worker`] claims due rows
//! with a conditional update (two instances never send one mail twice), sends them over
//! SMTP (plain, STARTTLS, implicit TLS; `lettre` on tokio + rustls) or into `.eml` files,
//! deletes what was sent, and retries failures with exponential backoff up to
//! `LATCH_MAIL_MAX_ATTEMPTS`. A restart loses nothing: unsent rows stay, and a claim
//! left by a stopped instance runs out ([`worker::CLAIM`]).
//!
//! Failures are counted in `/metrics` (`latch_mail_*`) and shown in `/readyz` detail; a
//! mail outage does not make the instance unready: sign-in, tokens and everything else
//! still work, and the mail goes out when the server is back.

pub mod templates;
pub mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::MailSettings;
use crate::errors::StoreError;
use crate::store::{self, Conn};

/// What a mail is for (a bounded metrics label; the content is never logged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PasswordReset,
    EmailVerify,
    /// The link that confirms a new address (email change).
    EmailChange,
    /// The notice to the old address that the account's email is changing.
    EmailChangeNotice,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::PasswordReset => "password_reset",
            Kind::EmailVerify => "email_verify",
            Kind::EmailChange => "email_change",
            Kind::EmailChangeNotice => "email_change_notice",
        }
    }

    fn label(s: &str) -> &'static str {
        match s {
            "password_reset" => "password_reset",
            "email_verify" => "email_verify",
            "email_change" => "email_change",
            "email_change_notice" => "email_change_notice",
            _ => "other",
        }
    }
}

/// A rendered message, ready for the outbox.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Outgoing {
    #[serde(skip)]
    pub kind: Option<Kind>,
    #[serde(skip)]
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// This instance's view of sending, for `/readyz`.
#[derive(Default)]
pub struct Status {
    /// Failed attempts since the last success.
    pub consecutive_failures: AtomicU64,
    pub sent: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub given_up: AtomicU64,
    /// Set when the instance stops: the worker ends after its current pass.
    pub stopped: std::sync::atomic::AtomicBool,
}

/// The mail side of `AppState`: whether mail is configured, the outbox, and the worker's
/// wake-up and status.
pub struct Mailer {
    settings: Option<MailSettings>,
    wake: Arc<tokio::sync::Notify>,
    pub status: Arc<Status>,
}

impl Mailer {
    pub fn new(settings: Option<MailSettings>) -> Self {
        Mailer {
            settings,
            wake: Arc::new(tokio::sync::Notify::new()),
            status: Arc::new(Status::default()),
        }
    }

    /// Mail is configured (`LATCH_SMTP_URL`); otherwise pages say to ask an admin.
    pub fn enabled(&self) -> bool {
        self.settings.is_some()
    }

    pub fn settings(&self) -> Option<&MailSettings> {
        self.settings.as_ref()
    }

    /// Put `mail` in the outbox (pass the transaction of what the mail announces). Call
    /// [`Mailer::wake`] after the commit so this instance sends at once.
    pub async fn enqueue(
        &self,
        db: &impl Conn,
        sealer: &crate::crypto::Sealer,
        mail: &Outgoing,
    ) -> Result<(), StoreError> {
        let id = crate::crypto::new_id("mail");
        let payload = serde_json::to_vec(mail)
            .map_err(|e| StoreError::Other(sea_orm::DbErr::Custom(format!("mail payload: {e}"))))?;
        store::mail_outbox::insert(
            db,
            store::mail_outbox::NewMail {
                id: &id,
                kind: mail.kind.map_or("other", Kind::as_str),
                recipient: &mail.to,
                sealed: sealer.seal(&payload, &aad(&id)),
                now: store::now(),
            },
        )
        .await
    }

    /// Wake this instance's worker (after committing an enqueue).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The instance is stopping: end the worker.
    pub fn stop(&self) {
        self.status.stopped.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// `/readyz` detail: never fails readiness (see the module docs).
    pub async fn readiness(&self, db: &store::Db) -> serde_json::Value {
        let Some(s) = &self.settings else {
            return serde_json::json!("off (LATCH_SMTP_URL not set)");
        };
        // Bounded like the database check: a database outage must not slow `/readyz`.
        let counts = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            store::outbox::counts::<store::outbox::Mail>(db),
        )
        .await
        .ok()
        .and_then(Result::ok);
        let failing = self.status.consecutive_failures.load(Ordering::Relaxed);
        serde_json::json!({
            "transport": s.transport.describe(),
            "state": if failing == 0 { "ok" } else { "failing" },
            "consecutive_failures": failing,
            "pending": counts.map(|c| c.0),
            "given_up": counts.map(|c| c.1),
        })
    }
}

/// The additional data a sealed message is bound to: its row.
fn aad(id: &str) -> String {
    format!("mail_outbox:{id}")
}
