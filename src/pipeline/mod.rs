//! The only module that spawns tasks and wires channels.
//!
//! ```text
//! run:      SQS receive ─► message task ─► fetch (S3 stream) ─► decode+build (blocking thread)
//! backfill: S3 listing ──► object task ──────┘                        │ bounded channel of jobs
//! ingest:   local files ─► decode+build (blocking thread) ────────────┤
//!                                                                     ▼
//!                                                 indexer tasks (N concurrent _bulk) ─► oneshot per batch
//!                                              or the --output file, written by the decoding thread
//! ```
//! A message task awaits the result of every batch its objects produced before it acknowledges
//! the message, so a message is deleted only once all its events are indexed or dead-lettered.
//!
//! Memory: every object being decoded first reserves its worst case from the [`Budget`] (one
//! record in the framer, one batch being filled, one batch being indexed), and an object never
//! has more than one batch out at a time, so what all objects hold together stays within
//! `limits.memory_mb` whatever they contain. Objects wait for room instead of overrunning it.
//! Once decoded, an object keeps only the size of its last batch until that settles.
//!
//! Trends: `run` also spawns the periodic trend pass ([`trends::spawn_trends`]), which
//! recomputes the days indexed objects touched.
//!
//! Alerts: once every batch of an object is settled, the alert documents it created go to the
//! notification [`Outbox`] (never waiting) when webhooks are configured; one task
//! ([`spawn_notifier`]) delivers them.
//!
//! Cancellation: one token, cancelled when the shutdown grace is over, reaches the decode loop
//! (between records and in every read of the body), the indexers' requests and their retry
//! sleeps.

pub mod accounts;
pub mod backfill;
pub mod detect;
pub mod findings;
pub mod geoip;
pub mod ingest;
pub mod object;
mod output;
pub mod replay;
mod sink;
pub mod trends;
pub mod worker;

use crate::fetch::{FetchError, ObjectStore, Watched};
use crate::index::client::BulkClient;
use crate::index::{BatchReport, IndexError, Indexer, Settled, bulk::Batch};
use crate::source::{ObjectRef, Origin};
use crate::webhooks::{Outbox, Webhook};
use object::{Closed, DecodeStats, ObjectDecoder, ObjectError, Watch};
pub use output::Output;
use sink::IndexerQueue;
pub use sink::{BatchSink, HandOverError, Handed, Job, ProcessError, Sink};
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The memory budget for object buffers, reserved per object being decoded.
#[derive(Clone, Debug)]
pub struct Budget {
    units: Arc<Semaphore>,
    per_object: u32,
}

/// The budget is counted in KiB.
const UNIT: usize = 1024;

impl Budget {
    /// A budget of `total` bytes, of which every object being decoded reserves `per_object`.
    pub fn new(total: usize, per_object: usize) -> Self {
        let per_object = per_object.div_ceil(UNIT).max(1);
        let units = (total / UNIT).max(per_object);
        Budget { units: Arc::new(Semaphore::new(units)), per_object: per_object as u32 }
    }

    /// How many objects can be decoded at once.
    pub fn objects(&self) -> usize {
        self.units.available_permits() / self.per_object as usize
    }

    /// Waits for room for one more object.
    async fn reserve(&self) -> OwnedSemaphorePermit {
        self.units.clone().acquire_many_owned(self.per_object).await.expect("the budget is never closed")
    }

    /// Waits for room for one more object, blocking the thread (a decoding thread of `ingest`,
    /// in the runtime's blocking pool).
    fn reserve_blocking(&self) -> OwnedSemaphorePermit {
        tokio::runtime::Handle::current().block_on(self.reserve())
    }

    /// Gives back all of `reserved` but `keep` bytes (an object done decoding keeps only its
    /// last batch while that is indexed).
    fn shrink(reserved: &mut OwnedSemaphorePermit, keep: usize) {
        let excess = reserved.num_permits().saturating_sub(keep.div_ceil(UNIT));
        drop(reserved.split(excess));
    }
}

/// The result of one object: how it decoded and how its batches settled.
#[derive(Debug, Default, Clone, Copy)]
pub struct ObjectReport {
    /// Decoding counts.
    pub decoded: DecodeStats,
    /// Indexing counts (all zero when writing to `--output`).
    pub indexed: BatchReport,
}

/// Why an S3 object was not fully processed: it could not be opened, or processing failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectFailure {
    /// GetObject failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Decoding or indexing failed (or was cancelled).
    #[error(transparent)]
    Process(#[from] ProcessError),
}

impl ObjectFailure {
    /// Whether the work stopped because the pipeline was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ObjectFailure::Process(e) if e.is_cancelled())
    }
}

/// Streams one S3 object from `store` through decode → enrich → index: what `run` does for
/// each object a notification names, and `backfill` for each object it lists.
pub async fn process_object<S: ObjectStore>(
    store: &S,
    obj: &ObjectRef,
    decoder: Arc<ObjectDecoder>,
    sink: Sink,
    budget: &Budget,
    cancel: &CancellationToken,
    max_object_time: std::time::Duration,
) -> Result<ObjectReport, ObjectFailure> {
    let watch = Arc::new(Watch::new(cancel.clone(), max_object_time));
    let body = tokio::select! {
        b = store.open(obj) => b?,
        _ = cancel.cancelled() => return Err(ProcessError::Object(ObjectError::Cancelled).into()),
    };
    let reader = tokio_util::io::SyncIoBridge::new(Watched::new(body, watch.clone()));
    let origin = Arc::new(Origin::from(obj));
    Ok(process_reader(reader, origin, decoder, sink, watch, budget).await?)
}

/// Counts an object whose events are all settled (metrics).
pub fn object_indexed(r: &ObjectReport, touched: &crate::touched::Touched) {
    touched.record(r.decoded.oldest_event, r.decoded.newest_event);
    metrics::counter!(crate::telemetry::OBJECTS, "outcome" => "indexed").increment(1);
    for (outcome, n) in [
        ("indexed", r.indexed.created),
        ("duplicate", r.indexed.duplicates),
        ("dead_lettered", r.indexed.dead_lettered),
        ("dropped", r.decoded.dropped),
    ] {
        metrics::counter!(crate::telemetry::EVENTS, "outcome" => outcome).increment(n as u64);
    }
    if let Some(newest) = r.decoded.newest_event {
        crate::telemetry::newest_event(newest);
    }
}

/// Starts `n` indexer tasks fed by the returned channel. They stop when every sender is dropped;
/// once `cancel` fires, every job still queued or in flight answers [`IndexError::Cancelled`].
pub fn spawn_indexers<B: BulkClient>(
    indexer: Indexer<B>,
    n: usize,
    cancel: CancellationToken,
) -> (Sink, Vec<JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel::<Job>(n * 2);
    let rx = Arc::new(Mutex::new(rx));
    let handles = (0..n)
        .map(|_| {
            let (rx, indexer, cancel) = (rx.clone(), indexer.clone(), cancel.clone());
            tokio::spawn(async move {
                loop {
                    let job = rx.lock().await.recv().await;
                    let Some(job) = job else { break };
                    let result = indexer.index_batch(job.batch, &cancel).await;
                    // The requester may have given up (shutdown); nothing to do then.
                    let _ = job.reply.send(result);
                }
            })
        })
        .collect();
    (Sink { target: Arc::new(IndexerQueue(tx)), outbox: None }, handles)
}

/// Starts the task that delivers alert notifications to `urls`, fed by the returned outbox
/// (holding up to `capacity` bodies). It ends once every clone of the outbox is dropped and the
/// queue is delivered, or at once when `cancel` fires.
pub fn spawn_notifier<W: Webhook>(
    webhook: W,
    urls: Vec<crate::config::Secret>,
    retries: crate::webhooks::Retries,
    min_level: crate::detect::Level,
    capacity: usize,
    cancel: CancellationToken,
) -> (Outbox, JoinHandle<crate::webhooks::Delivered>) {
    let (outbox, rx) = Outbox::new(capacity, min_level);
    (outbox, tokio::spawn(crate::webhooks::deliver(rx, webhook, urls, retries, cancel)))
}

/// Waits `interval`; `false` when `stop` fired first (a periodic task's tick).
async fn waited(interval: std::time::Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(interval) => true,
        _ = stop.cancelled() => false,
    }
}

/// Starts the metrics listener and the dependency checks behind `/readyz`; both stop with `stop`.
pub fn spawn_telemetry(
    listener: tokio::net::TcpListener,
    handle: metrics_exporter_prometheus::PrometheusHandle,
    checks: Vec<crate::telemetry::Dependency>,
    stop: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let readiness = crate::telemetry::Readiness::default();
    vec![
        tokio::spawn(crate::telemetry::check_dependencies(readiness.clone(), checks, handle.clone(), stop.clone())),
        tokio::spawn(crate::telemetry::serve(listener, handle, readiness, stop)),
    ]
}

/// Decodes `reader` on a blocking thread once the budget has room for it, sends its batches to
/// `sink` one at a time, and returns when every batch is settled.
pub async fn process_reader<R: Read + Send + 'static>(
    reader: R,
    origin: Arc<Origin>,
    decoder: Arc<ObjectDecoder>,
    sink: Sink,
    watch: Arc<Watch>,
    budget: &Budget,
) -> Result<ObjectReport, ProcessError> {
    let waiting = Instant::now();
    let reserved = tokio::select! {
        r = budget.reserve() => r,
        _ = watch.cancel.cancelled() => return Err(ObjectError::Cancelled.into()),
    };
    watch.waited(waiting.elapsed());
    tokio::task::spawn_blocking(move || decode_reader(reader, origin, &decoder, &sink, &watch, reserved)).await?
}

/// The blocking part of [`process_reader`], with the object's memory `reserved`: decodes
/// `reader`, sends its batches to `sink` one at a time, settles every one, and announces the
/// alerts they created.
fn decode_reader<R: Read + Send + 'static>(
    reader: R,
    origin: Arc<Origin>,
    decoder: &ObjectDecoder,
    sink: &Sink,
    watch: &Watch,
    mut reserved: OwnedSemaphorePermit,
) -> Result<ObjectReport, ProcessError> {
    let mut out_bytes = 0;
    let mut indexed = BatchReport::default();
    let (mut new_alerts, mut left_out) = (Vec::new(), 0);
    let mut failed: Option<ProcessError> = None;
    let mut out: Option<oneshot::Receiver<Result<Settled, IndexError>>> = None;
    let mut settle = |rx: oneshot::Receiver<_>, failed: &mut Option<ProcessError>| {
        let waiting = Instant::now();
        match rx.blocking_recv() {
            Ok(Ok(Settled { report, new_alerts: created })) => {
                indexed += report;
                if let Some(outbox) = &sink.outbox {
                    outbox.keep(&mut new_alerts, &mut left_out, created);
                }
            }
            Ok(Err(e)) => *failed = failed.take().or(Some(ProcessError::Index(e))),
            Err(_) => *failed = failed.take().or(Some(ProcessError::IndexerGone)),
        }
        watch.waited(waiting.elapsed());
    };
    let mut emit = |batch: Batch| -> Result<(), Closed> {
        // One batch out at a time: wait for the previous one before handing over the next.
        if let Some(rx) = out.take() {
            settle(rx, &mut failed);
        }
        if failed.is_some() {
            return Err(Closed);
        }
        out_bytes = batch.footprint();
        match sink.target.hand_over(batch, watch) {
            Ok(Handed::Pending(rx)) => out = Some(rx),
            Ok(Handed::Done) => {}
            Err(HandOverError::Closed) => return Err(Closed),
            Err(HandOverError::Failed(e)) => {
                failed = Some(e);
                return Err(Closed);
            }
        }
        Ok(())
    };
    let decoded = decoder.decode(reader, origin.clone(), watch, &mut emit);
    // The framer and the batch being filled are gone: room for other objects.
    Budget::shrink(&mut reserved, out_bytes);
    // Settle what was sent even when decoding failed part-way, so nothing is left in flight.
    if let Some(rx) = out.take() {
        settle(rx, &mut failed);
    }
    let decoded = match decoded {
        // A read that failed because of the cancellation is the cancellation.
        Err(_) if watch.cancel.is_cancelled() => Err(ObjectError::Cancelled),
        other => other,
    };
    // The alerts created are announced even when the object failed later on: a redelivery
    // finds their documents present and would not announce them again.
    if let Some(outbox) = &sink.outbox {
        outbox.file_indexed(&origin, &new_alerts, left_out);
    }
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(ObjectReport { decoded: decoded?, indexed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_budget_admits_objects_while_their_worst_case_fits_and_takes_back_what_they_shrink() {
        let budget = Budget::new(100 * UNIT, 40 * UNIT);
        assert_eq!(budget.objects(), 2);
        let mut first = budget.reserve().await;
        let _second = budget.reserve().await;
        assert_eq!(budget.objects(), 0);
        let third = budget.reserve();
        tokio::pin!(third);
        assert!(futures_now(&mut third).is_none(), "a third object waits for room");
        // The first is done decoding and keeps 5 KiB for its last batch: room for the third.
        Budget::shrink(&mut first, 5 * UNIT);
        assert_eq!(first.num_permits(), 5);
        assert!(futures_now(&mut third).is_some());
    }

    /// Polls a future once.
    fn futures_now<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        match std::pin::Pin::new(f).poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
