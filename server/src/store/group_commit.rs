//! Group commit: many requests' writes of one kind in ONE autocommit statement, so under load
//! one commit (SQLite: the writer lock and the WAL append; PostgreSQL: one WAL flush, with
//! `synchronous_commit` still on) serves a batch instead of a single request, and alone a
//! request waits for nothing but its own write. Used by the DPoP replay records
//! ([`super::dpop_proofs`]) and by code exchanges on PostgreSQL ([`super::codes`]), whose
//! reads of the code are grouped the same way: one statement (one round trip, one wake-up of
//! a PostgreSQL backend, one executor start) serves every exchange that arrived meanwhile.
//!
//! How it goes: every request queues its item; whoever then finds fewer than
//! [`Batch::IN_FLIGHT`] batches being written takes everything queued so far and writes it
//! ([`Batch::write`], at most [`Batch::MAX`] items per statement). The wait for the batch
//! ahead is bounded by the pool's acquire timeout (the bound on every wait for the database,
//! issue #16 defect 3); after it a request
//! no batch has taken yet leaves the queue with "unavailable" (503 + `Retry-After`) and
//! nothing was written for it, while one a batch already took waits for that batch's answer.
//! Each request learns ITS outcome. A batch that fails for a reason other than the database
//! being out of reach is retried one item at a time, so one bad row cannot fail the others;
//! one that cannot reach the database fails every item in it: nothing is answered that was
//! not committed.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{Db, StoreError};

/// One kind of write (or read) that can be grouped.
pub trait Batch: Send + Sync + 'static {
    /// One request's write.
    type Item: Send + 'static;
    /// What one request learns: for a write, whether it took effect (the code was consumed,
    /// the proof was new); for a read, what was found. The default is the answer for an item
    /// the statement said nothing about.
    type Outcome: Default + Send + 'static;
    /// The most items written in one statement.
    const MAX: usize;
    /// How many batches may be written at once. One for writes that contend on the same rows
    /// or lock (the batch grows while the one ahead commits); reads can overlap.
    const IN_FLIGHT: usize = 1;
    /// What a batch is, for the error of a request whose batch vanished.
    const NAME: &'static str;
    /// Write `chunk` (at most [`Self::MAX`] items) in one atomic statement; each item's
    /// outcome, in order.
    fn write(
        db: &Db,
        chunk: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Outcome>, StoreError>> + Send;
}

struct Pending<I, O> {
    /// Finds it in the queue to withdraw it.
    id: u64,
    item: I,
    reply: tokio::sync::oneshot::Sender<Result<O, StoreError>>,
}

/// The queue and the writer of one kind of grouped write (see the module's documentation).
pub struct GroupCommit<B: Batch> {
    queue: std::sync::Mutex<Vec<Pending<B::Item, B::Outcome>>>,
    /// One permit held per batch being written: at most [`Batch::IN_FLIGHT`] at once.
    writing: std::sync::Arc<tokio::sync::Semaphore>,
    /// The most items taken into one batch so far (tests, diagnosis).
    largest: AtomicUsize,
    /// The next request's queue id.
    next: AtomicU64,
}

impl<B: Batch> Default for GroupCommit<B> {
    fn default() -> Self {
        Self {
            queue: Default::default(),
            writing: std::sync::Arc::new(tokio::sync::Semaphore::new(B::IN_FLIGHT.max(1))),
            largest: AtomicUsize::new(0),
            next: AtomicU64::new(0),
        }
    }
}

impl<B: Batch> GroupCommit<B> {
    /// The most items one batch has carried since start-up.
    pub fn largest_batch(&self) -> usize {
        self.largest.load(Ordering::Relaxed)
    }

    /// Write `item` with whatever else is queued; its outcome.
    pub async fn submit(&self, db: &Db, item: B::Item) -> Result<B::Outcome, StoreError> {
        let (reply, mut rx) = tokio::sync::oneshot::channel();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock_queue().push(Pending { id, item, reply });
        let bound = super::acquire_timeout(db);
        let permit = tokio::time::timeout(bound, self.writing.clone().acquire_owned()).await;
        // The semaphore is never closed: an error is as good as a timeout.
        let guard = match permit {
            Ok(Ok(guard)) => guard,
            _ => {
                let withdrawn = {
                    let mut queue = self.lock_queue();
                    let at = queue.iter().position(|p| p.id == id);
                    at.map(|at| queue.remove(at)).is_some()
                };
                if withdrawn {
                    // Still queued: withdrawn, nothing was written for it.
                    return Err(StoreError::Unavailable(sea_orm::DbErr::ConnectionAcquire(
                        sea_orm::ConnAcquireErr::Timeout,
                    )));
                }
                // A batch took it: the answer follows that batch's commit (or failure).
                return rx.await.unwrap_or_else(|_| Err(vanished::<B>()));
            }
        };
        // A batch written while this request waited may have carried it already.
        if let Ok(answer) = rx.try_recv() {
            return answer;
        }
        let batch = std::mem::take(&mut *self.lock_queue());
        if batch.is_empty() {
            drop(guard);
        } else {
            self.largest.fetch_max(batch.len(), Ordering::Relaxed);
            // On a task of its own, so that a request dropped mid-write (its client went
            // away) cannot leave the others in the batch without an answer.
            let db = db.clone();
            let task = tokio::spawn(async move {
                let _guard = guard;
                write_all::<B>(&db, batch).await;
            });
            let _ = task.await;
        }
        rx.await.unwrap_or_else(|_| Err(vanished::<B>()))
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending<B::Item, B::Outcome>>> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn vanished<B: Batch>() -> StoreError {
    StoreError::Unavailable(sea_orm::DbErr::Custom(format!(
        "the {} was not written",
        B::NAME
    )))
}

async fn write_all<B: Batch>(db: &Db, mut batch: Vec<Pending<B::Item, B::Outcome>>) {
    while !batch.is_empty() {
        let rest = batch.split_off(batch.len().min(B::MAX.max(1)));
        let chunk = std::mem::replace(&mut batch, rest);
        let (items, replies): (Vec<_>, Vec<_>) =
            chunk.into_iter().map(|p| (p.item, p.reply)).unzip();
        match B::write(db, &items).await {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for reply in replies {
                    let _ = reply.send(Ok(outcomes.next().unwrap_or_default()));
                }
            }
            Err(e) if items.len() > 1 && !matches!(e, StoreError::Unavailable(_)) => {
                // Not the database's absence but something in a row (say, a user deleted
                // meanwhile): each item alone, so only that one fails.
                tracing::warn!(error = %e, size = items.len(), batch = B::NAME, "batch failed; retrying one by one");
                for (item, reply) in items.into_iter().zip(replies) {
                    let one = [item];
                    let r = B::write(db, &one)
                        .await
                        .map(|o| o.into_iter().next().unwrap_or_default());
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                // Each request gets the same kind of error (503 when the database is out of
                // reach), with the cause's text.
                let unavailable = matches!(e, StoreError::Unavailable(_));
                let cause = std::error::Error::source(&e).map(ToString::to_string);
                let msg = cause.unwrap_or_else(|| e.to_string());
                for reply in replies {
                    let err = sea_orm::DbErr::Custom(msg.clone());
                    let _ = reply.send(Err(if unavailable {
                        StoreError::Unavailable(err)
                    } else {
                        StoreError::Other(err)
                    }));
                }
            }
        }
    }
}
