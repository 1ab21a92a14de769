//! Group commit: many requests' writes of one kind in ONE autocommit statement, so under load
//! one commit (SQLite: the writer lock and the WAL append; PostgreSQL: one WAL flush, with
//! `synchronous_commit` still on) serves a batch instead of a single request, and alone a
//! request waits for nothing but its own write. Used by the DPoP replay records
//! ([`super::dpop_proofs`]) and by code exchanges on PostgreSQL ([`super::codes`]), whose
//! reads of the code are grouped the same way: one statement (one round trip, one wake-up of
//! a PostgreSQL backend, one executor start) serves every exchange that arrived meanwhile.
//!
//! How it goes: every request queues its item; whoever then finds fewer than
//! [`Batch::IN_FLIGHT`] batches running takes everything queued so far and runs it
//! ([`Batch::run`], at most [`Batch::MAX`] items per statement) on a task of its own, then
//! waits for its own answer, which may come from a batch another request started. The wait
//! for a place among the running batches is bounded by the pool's acquire timeout (the bound
//! on every wait for the database, issue #16 defect 3); after it a request no batch has taken
//! yet leaves the queue with "unavailable" (503 + `Retry-After`) and nothing was done for it,
//! while one a batch already took waits for that batch's answer. Each request learns ITS
//! outcome. A batch that fails for a reason other than the database being out of reach is
//! retried one item at a time, so one bad row cannot fail the others; once the database is
//! out of reach every item left in the batch fails at once (503): nothing is answered as
//! done that was not committed.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{Db, StoreError};

/// One kind of statement that many requests' items can share: a write, or a read.
pub trait Batch: Default + Send + Sync + 'static {
    /// One request's part of the statement (a row to write, a key to look up).
    type Item: Send + 'static;
    /// What one request learns: for a write, whether it took effect (the code was consumed,
    /// the proof was new); for a read, what was found. The default is the answer for an item
    /// the statement said nothing about.
    type Outcome: Default + Send + 'static;
    /// The most items in one statement.
    const MAX: usize;
    /// How many batches may run at once. One for writes that contend on the same rows
    /// or lock (the batch grows while the one ahead commits); reads can overlap.
    const IN_FLIGHT: usize = 1;
    /// What a batch is, for the error of a request whose batch vanished.
    const NAME: &'static str;
    /// Whether the request that takes a batch first lets the other ready requests of its
    /// thread reach the queue (one yield to the scheduler). For a statement that costs
    /// little beyond its commit, that commit then serves more requests.
    const GATHER: bool = false;
    /// Run `chunk` (at most [`Self::MAX`] items) as one atomic statement; each item's
    /// outcome, in order. `self` is the kind's own state, if it keeps any (one per
    /// [`GroupCommit`]; the DPoP replay records keep what they have judged).
    fn run(
        &self,
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

/// The queue and the running batches of one kind of grouped statement (see the module's
/// documentation).
pub struct GroupCommit<B: Batch> {
    queue: std::sync::Mutex<Vec<Pending<B::Item, B::Outcome>>>,
    /// One permit held per running batch: at most [`Batch::IN_FLIGHT`] at once.
    writing: std::sync::Arc<tokio::sync::Semaphore>,
    /// The most items taken into one batch so far (tests, diagnosis).
    largest: AtomicUsize,
    /// The next request's queue id.
    next: AtomicU64,
    /// The kind's state, shared with the running batches.
    kind: std::sync::Arc<B>,
}

impl<B: Batch> Default for GroupCommit<B> {
    fn default() -> Self {
        Self {
            queue: Default::default(),
            writing: std::sync::Arc::new(tokio::sync::Semaphore::new(B::IN_FLIGHT.max(1))),
            largest: AtomicUsize::new(0),
            next: AtomicU64::new(0),
            kind: Default::default(),
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
                    // Still queued: withdrawn, nothing was done for it.
                    return Err(StoreError::Unavailable(sea_orm::DbErr::ConnectionAcquire(
                        sea_orm::ConnAcquireErr::Timeout,
                    )));
                }
                // A batch took it: the answer follows that batch's commit (or failure).
                return rx.await.unwrap_or_else(|_| Err(vanished::<B>()));
            }
        };
        // A batch that ran while this request waited may have carried it already.
        if let Ok(answer) = rx.try_recv() {
            return answer;
        }
        if B::GATHER {
            tokio::task::yield_now().await;
            if let Ok(answer) = rx.try_recv() {
                return answer;
            }
        }
        let batch = std::mem::take(&mut *self.lock_queue());
        if batch.is_empty() {
            drop(guard);
        } else {
            self.largest.fetch_max(batch.len(), Ordering::Relaxed);
            // On a task of its own, so that a request dropped mid-write (its client went
            // away) cannot leave the others in the batch without an answer.
            // This request waits for its own answer only: its item may be in a batch another
            // request started, and the batch it starts here answers the others by itself.
            let (db, kind) = (db.clone(), self.kind.clone());
            tokio::spawn(async move {
                let _guard = guard;
                run_all(&*kind, &db, batch).await;
            });
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
        "the {} did not run",
        B::NAME
    )))
}

async fn run_all<B: Batch>(kind: &B, db: &Db, mut batch: Vec<Pending<B::Item, B::Outcome>>) {
    // Once the database is out of reach, what is left of the batch is answered at once with
    // that error, instead of each statement waiting out its own timeout one after another.
    let mut unreachable: Option<String> = None;
    let unavailable = |msg: &str| StoreError::Unavailable(sea_orm::DbErr::Custom(msg.to_owned()));
    while !batch.is_empty() {
        let rest = batch.split_off(batch.len().min(B::MAX.max(1)));
        let chunk = std::mem::replace(&mut batch, rest);
        let (items, replies): (Vec<_>, Vec<_>) =
            chunk.into_iter().map(|p| (p.item, p.reply)).unzip();
        if let Some(msg) = &unreachable {
            for reply in replies {
                let _ = reply.send(Err(unavailable(msg)));
            }
            continue;
        }
        match kind.run(db, &items).await {
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
                    if let Some(msg) = &unreachable {
                        let _ = reply.send(Err(unavailable(msg)));
                        continue;
                    }
                    let one = [item];
                    let r = kind
                        .run(db, &one)
                        .await
                        .map(|o| o.into_iter().next().unwrap_or_default());
                    if let Err(e @ StoreError::Unavailable(_)) = &r {
                        unreachable = Some(cause_of(e));
                    }
                    let _ = reply.send(r);
                }
            }
            Err(e) => {
                // Each request gets the same kind of error (503 when the database is out of
                // reach), with the cause's text.
                let msg = cause_of(&e);
                let out_of_reach = matches!(e, StoreError::Unavailable(_));
                for reply in replies {
                    let _ = reply.send(Err(if out_of_reach {
                        unavailable(&msg)
                    } else {
                        StoreError::Other(sea_orm::DbErr::Custom(msg.clone()))
                    }));
                }
                if out_of_reach {
                    unreachable = Some(msg);
                }
            }
        }
    }
}

/// The text of what went wrong: the database's own error where there is one.
fn cause_of(e: &StoreError) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    async fn db() -> Db {
        sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite")
    }

    /// Answers each item with ten times itself, slowly, two batches at once.
    #[derive(Default)]
    struct Tens;
    impl Batch for Tens {
        type Item = u32;
        type Outcome = u32;
        const MAX: usize = 8;
        const IN_FLIGHT: usize = 2;
        const NAME: &'static str = "test batch";
        async fn run(&self, _: &Db, chunk: &[u32]) -> Result<Vec<u32>, StoreError> {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(chunk.iter().map(|i| i * 10).collect())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn each_request_gets_its_own_outcome_while_batches_overlap() {
        // Arrange
        let db = db().await;
        let group = std::sync::Arc::new(GroupCommit::<Tens>::default());

        // Act: 200 requests from four threads, in batches of at most 8, two running at once.
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let (db, group) = (db.clone(), group.clone());
                tokio::spawn(async move { (i, group.submit(&db, i).await) })
            })
            .collect();

        // Assert
        for task in tasks {
            let (i, got) = task.await.expect("task");
            assert_eq!(
                got.expect("answer"),
                i * 10,
                "request {i} got another's outcome"
            );
        }
        assert!(group.largest_batch() > 1, "nothing was grouped");
    }

    /// As [`Tens`], one batch at a time, gathering or not.
    #[derive(Default)]
    struct Gathering<const GATHER: bool>;
    impl<const G: bool> Batch for Gathering<G> {
        type Item = u32;
        type Outcome = u32;
        const MAX: usize = 64;
        const NAME: &'static str = "test batch";
        const GATHER: bool = G;
        async fn run(&self, _: &Db, chunk: &[u32]) -> Result<Vec<u32>, StoreError> {
            Ok(chunk.iter().map(|i| i * 10).collect())
        }
    }

    /// Ten requests ready at once on one thread: the first to take a batch takes only itself
    /// unless the kind gathers, then all ten.
    #[tokio::test(flavor = "current_thread")]
    async fn a_gathering_batch_lets_the_ready_requests_of_its_thread_join_it() {
        let db = db().await;
        let plain = GroupCommit::<Gathering<false>>::default();
        let gathering = GroupCommit::<Gathering<true>>::default();

        let (a, b) = futures_util::future::join(
            futures_util::future::join_all((0..10u32).map(|i| plain.submit(&db, i))),
            futures_util::future::join_all((0..10u32).map(|i| gathering.submit(&db, i))),
        )
        .await;

        for answers in [a, b] {
            let got: Vec<u32> = answers.into_iter().map(|r| r.expect("answer")).collect();
            assert_eq!(got, (0..10).map(|i| i * 10).collect::<Vec<_>>());
        }
        assert_eq!(
            plain.largest_batch(),
            9,
            "the first went alone, the rest after it"
        );
        assert_eq!(gathering.largest_batch(), 10);
    }

    static SINGLES: AtomicUsize = AtomicUsize::new(0);

    /// A batch of several fails on "a row" (so it is retried one by one); each item alone
    /// finds the database out of reach after a while.
    #[derive(Default)]
    struct Unreachable;
    impl Batch for Unreachable {
        type Item = u32;
        type Outcome = bool;
        const MAX: usize = 64;
        const NAME: &'static str = "test batch";
        async fn run(&self, _: &Db, chunk: &[u32]) -> Result<Vec<bool>, StoreError> {
            if chunk.len() > 1 {
                return Err(StoreError::Other(sea_orm::DbErr::Custom(
                    "a bad row".into(),
                )));
            }
            SINGLES.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err(StoreError::Unavailable(sea_orm::DbErr::ConnectionAcquire(
                sea_orm::ConnAcquireErr::Timeout,
            )))
        }
    }

    #[tokio::test]
    async fn once_the_database_is_out_of_reach_the_rest_of_the_batch_fails_at_once() {
        // Arrange: the first request runs alone; the nine queued behind it make one batch.
        let db = db().await;
        let group = GroupCommit::<Unreachable>::default();

        // Act
        let answers =
            futures_util::future::join_all((0..10u32).map(|i| group.submit(&db, i))).await;

        // Assert: every request is told "unavailable"; the retry of the batch of nine stopped
        // at its first item: two statements alone in all, not ten.
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(StoreError::Unavailable(_)))),
            "{answers:?}"
        );
        assert_eq!(group.largest_batch(), 9);
        assert_eq!(SINGLES.load(Ordering::SeqCst), 2);
    }
}
