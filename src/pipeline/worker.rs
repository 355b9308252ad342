//! `trailship run`: the worker loop. Receives notifications while there is room, processes
//! each message in its own task with a visibility heartbeat, acknowledges a message only after
//! every event it points to is settled, and on shutdown lets in-flight work finish for a grace
//! period, then cancels what is left (decoding, requests, retry sleeps) and releases those
//! messages. A message that finishes within the grace is acknowledged, not released: a release
//! counts toward the queue's `maxReceiveCount`.

use super::object::ObjectDecoder;
use super::{Budget, ObjectFailure, ObjectReport, Sink, process_object};
use crate::fetch::ObjectStore;
use crate::index::BatchReport;
use crate::notification::{self, Notification};
use crate::queue::{Message, Queue};
use crate::route::Allowlist;
use crate::source::ObjectRef;
use crate::telemetry;
use backon::BackoffBuilder;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// What the worker needs to process messages.
pub struct Worker<Q, S> {
    /// The notification queue.
    pub queue: Q,
    /// Where the objects are.
    pub store: S,
    /// Turns files into batches.
    pub decoder: Arc<ObjectDecoder>,
    /// The indexer tasks' input.
    pub sink: Sink,
    /// The memory budget objects reserve from.
    pub budget: Budget,
    /// Messages processed at once.
    pub max_in_flight: usize,
    /// How long in-flight messages may finish after a stop signal.
    pub shutdown_grace: Duration,
    /// How long fetching and decoding one object may take.
    pub max_object_time: Duration,
    /// Cancelled when the grace period is over; the indexer tasks hold it too.
    pub cancel: CancellationToken,
    /// The first and the largest wait after a failed receive.
    pub receive_delays: (Duration, Duration),
    /// The buckets and prefixes notifications may name.
    pub allowlist: Allowlist,
    /// The days indexed into, for the trend pass.
    pub touched: crate::touched::Touched,
}

/// Totals over a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunSummary {
    /// Messages received.
    pub messages: usize,
    /// Messages deleted after processing.
    pub acked: usize,
    /// Messages left for redelivery after a failure.
    pub failed: usize,
    /// Messages left for the redrive policy because they name objects outside the allowlist.
    pub refused: usize,
    /// Messages made visible again (at shutdown, or received beyond the room asked for).
    pub released: usize,
    /// CloudTrail files processed.
    pub files: usize,
    /// Objects skipped (digests, other files).
    pub skipped: usize,
    /// Events read.
    pub events: usize,
    /// How events were settled.
    pub indexed: BatchReport,
    /// The time at least one message was being processed (idle long-polls left out): what a
    /// throughput figure divides by.
    pub busy: Duration,
}

/// Adds up the time some message is in flight.
#[derive(Debug, Default)]
struct Busy {
    since: Option<std::time::Instant>,
    total: Duration,
}

impl Busy {
    /// Called as a message task starts, with the tasks already running.
    fn starting(&mut self, running: usize) {
        if running == 0 {
            self.since = Some(std::time::Instant::now());
        }
    }

    /// Called as a message task has ended, with the tasks still running.
    fn ended(&mut self, running: usize) {
        if running == 0 {
            if let Some(since) = self.since.take() {
                self.total += since.elapsed();
            }
        }
    }
}

/// How a message task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageEnd {
    /// Processed and deleted.
    Acked,
    /// Failed: left for redelivery after its visibility timeout.
    Failed,
    /// Stopped by the cancellation: to be released.
    Cancelled,
    /// Names an object outside the allowlist: left, unread, for the redrive policy.
    Refused,
}

#[derive(Debug, Default)]
struct MessageStats {
    files: usize,
    skipped: usize,
    events: usize,
    indexed: BatchReport,
}

/// Consecutive receive failures after which `--drain` gives up.
const DRAIN_RECEIVE_ATTEMPTS: usize = 5;
/// How long a receive under way at a stop signal may still answer.
const RECEIVE_WIND_DOWN: Duration = Duration::from_secs(2);
/// How long cancelled tasks get to wind down before they are aborted.
const CANCEL_WIND_DOWN: Duration = Duration::from_secs(3);

type Tasks = JoinSet<(MessageEnd, MessageStats)>;

impl<Q: Queue, S: ObjectStore> Worker<Q, S> {
    /// Runs until `shutdown` completes or, with `drain`, until the queue stays empty for a full
    /// long-poll with nothing in flight. In-flight messages are finished or released either way,
    /// also when `--drain` gives up on a failing queue.
    pub async fn run(self: Arc<Self>, drain: bool, shutdown: impl Future<Output = ()>) -> anyhow::Result<RunSummary> {
        let semaphore = Arc::new(Semaphore::new(self.max_in_flight));
        let mut tasks: Tasks = JoinSet::new();
        let mut receipts: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut summary = RunSummary::default();
        let receive_backoff = || crate::retry::backoff(self.receive_delays.0, self.receive_delays.1, None).build();
        let mut receive_retry = receive_backoff();
        let mut receive_failures = 0;
        let mut failure = None;
        let mut busy = Busy::default();
        tokio::pin!(shutdown);

        loop {
            while let Some(done) = tasks.try_join_next_with_id() {
                self.record(done, &mut receipts, &mut summary).await;
                busy.ended(tasks.len());
            }
            let permit = tokio::select! {
                p = semaphore.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = &mut shutdown => break,
            };
            let room = (semaphore.available_permits() + 1).min(10);
            let receive = self.queue.receive(room);
            tokio::pin!(receive);
            let received = tokio::select! {
                r = &mut receive => r,
                _ = &mut shutdown => {
                    // The queue may already have handed messages to this request: give it a
                    // moment to answer and release what it brings, rather than leaving them
                    // invisible until their visibility timeout. An empty long-poll is dropped.
                    if let Ok(Ok(messages)) = tokio::time::timeout(RECEIVE_WIND_DOWN, &mut receive).await {
                        for msg in messages {
                            summary.messages += 1;
                            self.release(&msg.receipt, &mut summary).await;
                        }
                    }
                    break;
                }
            };
            let messages = match received {
                Ok(m) => {
                    receive_failures = 0;
                    receive_retry = receive_backoff();
                    m
                }
                Err(e) => {
                    receive_failures += 1;
                    if drain && receive_failures >= DRAIN_RECEIVE_ATTEMPTS {
                        failure = Some(anyhow::anyhow!("{e} ({receive_failures} attempts)"));
                        break;
                    }
                    let delay = receive_retry.next().unwrap_or(self.receive_delays.1);
                    tracing::warn!(error = %e, ?delay, "receive failed, retrying");
                    tokio::select! { _ = tokio::time::sleep(delay) => continue, _ = &mut shutdown => break }
                }
            };
            if messages.is_empty() {
                if drain && tasks.is_empty() {
                    tracing::info!("queue is empty and nothing is in flight, stopping (--drain)");
                    break;
                }
                continue;
            }
            let mut first = Some(permit);
            for msg in messages {
                let Some(permit) = first.take().or_else(|| semaphore.clone().try_acquire_owned().ok()) else {
                    // More than asked for: give it back for another receive (or worker).
                    tracing::warn!(message_id = %msg.id, "received more messages than asked for, releasing the extra one");
                    summary.messages += 1;
                    self.release(&msg.receipt, &mut summary).await;
                    continue;
                };
                summary.messages += 1;
                metrics::gauge!(telemetry::IN_FLIGHT).increment(1.0);
                let receipt = msg.receipt.clone();
                let this = self.clone();
                busy.starting(tasks.len());
                let handle = tasks.spawn(async move {
                    let _permit = permit;
                    this.handle_message(msg).await
                });
                receipts.insert(handle.id(), receipt);
            }
        }

        self.stop(tasks, receipts, &mut summary, &mut busy).await;
        summary.busy = busy.total;
        match failure {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }

    /// Lets in-flight messages finish for the grace period, then cancels the rest and releases
    /// their messages.
    async fn stop(
        &self,
        mut tasks: Tasks,
        mut receipts: HashMap<tokio::task::Id, String>,
        summary: &mut RunSummary,
        busy: &mut Busy,
    ) {
        if !tasks.is_empty() {
            tracing::info!(in_flight = tasks.len(), grace = ?self.shutdown_grace, "stopping: finishing in-flight messages");
        }
        let grace_over = tokio::time::Instant::now() + self.shutdown_grace;
        // Set once the grace is over: when the cancelled tasks must have stopped.
        let mut abort_at: Option<tokio::time::Instant> = None;
        let mut aborted = false;
        loop {
            tokio::select! {
                done = tasks.join_next_with_id() => match done {
                    Some(done) => {
                        self.record(done, &mut receipts, summary).await;
                        busy.ended(tasks.len());
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(grace_over), if abort_at.is_none() => {
                    tracing::warn!(in_flight = tasks.len(), "grace period over, cancelling in-flight messages and releasing them");
                    self.cancel.cancel();
                    abort_at = Some(tokio::time::Instant::now() + CANCEL_WIND_DOWN);
                }
                _ = tokio::time::sleep_until(abort_at.unwrap_or(grace_over)), if abort_at.is_some() && !aborted => {
                    tracing::warn!(in_flight = tasks.len(), "in-flight messages did not stop, aborting them");
                    tasks.abort_all();
                    aborted = true;
                }
            }
        }
        // Whatever is still queued for the indexers is cancelled too.
        self.cancel.cancel();
    }

    async fn release(&self, receipt: &str, summary: &mut RunSummary) {
        summary.released += 1;
        metrics::counter!(telemetry::MESSAGES, "outcome" => "released").increment(1);
        if let Err(err) = self.queue.release(receipt).await {
            tracing::warn!(error = %err, "could not release message; it returns after its visibility timeout");
        }
    }

    async fn record(
        &self,
        done: Result<(tokio::task::Id, (MessageEnd, MessageStats)), tokio::task::JoinError>,
        receipts: &mut HashMap<tokio::task::Id, String>,
        summary: &mut RunSummary,
    ) {
        metrics::gauge!(telemetry::IN_FLIGHT).decrement(1.0);
        let receipt = match done {
            Ok((id, (settled, stats))) => {
                let receipt = receipts.remove(&id);
                summary.files += stats.files;
                summary.skipped += stats.skipped;
                summary.events += stats.events;
                summary.indexed += stats.indexed;
                match settled {
                    MessageEnd::Acked => summary.acked += 1,
                    MessageEnd::Failed => summary.failed += 1,
                    MessageEnd::Refused => summary.refused += 1,
                    MessageEnd::Cancelled => {}
                }
                let outcome = match settled {
                    MessageEnd::Acked => Some("deleted"),
                    MessageEnd::Failed => Some("failed"),
                    MessageEnd::Refused => Some("refused"),
                    MessageEnd::Cancelled => None,
                };
                if let Some(outcome) = outcome {
                    metrics::counter!(telemetry::MESSAGES, "outcome" => outcome).increment(1);
                }
                if settled != MessageEnd::Cancelled {
                    return;
                }
                receipt
            }
            Err(e) => {
                // Aborted at shutdown, or panicked: make the message visible again at once.
                if e.is_panic() {
                    tracing::error!(error = %e, "message task panicked");
                }
                receipts.remove(&e.id())
            }
        };
        if let Some(receipt) = receipt {
            self.release(&receipt, summary).await;
        }
    }

    /// Processes one message with a visibility heartbeat; acknowledges it on success.
    async fn handle_message(&self, msg: Message) -> (MessageEnd, MessageStats) {
        let period = (self.queue.visibility_timeout() / 3).max(Duration::from_secs(1));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let work = self.process_message(&msg);
        tokio::pin!(work);
        let (settled, stats) = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = heartbeat.tick() => {
                    tracing::debug!(message_id = %msg.id, "extending visibility");
                    if let Err(e) = self.queue.extend(&msg.receipt).await {
                        tracing::warn!(message_id = %msg.id, error = %e, "could not extend visibility; another worker may get the message too (its events are not duplicated)");
                    }
                }
            }
        };
        if settled != MessageEnd::Acked {
            return (settled, stats);
        }
        // A delete that fails would mean fetching the whole file again after the visibility
        // timeout: worth a few more tries first (beside the SDK's own retries).
        let mut delays = crate::retry::backoff(Duration::from_millis(200), Duration::from_secs(4), Some(3)).build();
        loop {
            match self.queue.ack(&msg.receipt).await {
                Ok(()) => return (MessageEnd::Acked, stats),
                Err(e) => match delays.next() {
                    Some(delay) => {
                        tracing::warn!(message_id = %msg.id, error = %e, ?delay, "could not delete processed message, retrying");
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        tracing::error!(message_id = %msg.id, error = %e, "could not delete processed message; it will be redelivered (harmless)");
                        return (MessageEnd::Failed, stats);
                    }
                },
            }
        }
    }

    async fn process_message(&self, msg: &Message) -> (MessageEnd, MessageStats) {
        let mut stats = MessageStats::default();
        let objects = match notification::parse(&msg.body) {
            Ok(Notification::Objects(objects)) => objects,
            Ok(Notification::TestEvent) => {
                tracing::debug!(message_id = %msg.id, "s3:TestEvent, deleting it");
                return (MessageEnd::Acked, stats);
            }
            Ok(Notification::Ignored(events)) => {
                tracing::debug!(message_id = %msg.id, ?events, "not an object-created notification, deleting it");
                return (MessageEnd::Acked, stats);
            }
            Err(e) => {
                tracing::error!(message_id = %msg.id, receive_count = msg.receive_count, error = %e, "unrecognised message, leaving it for the queue's redrive policy");
                return (MessageEnd::Failed, stats);
            }
        };
        if let Some(obj) = objects.iter().find(|o| !self.allowlist.allows(&o.bucket, &o.key)) {
            tracing::warn!(bucket = %obj.bucket, key = %obj.key, message_id = %msg.id, receive_count = msg.receive_count,
                "notification names an object outside sqs.allowed_buckets/allowed_prefixes: not fetched, leaving the message for the queue's redrive policy");
            return (MessageEnd::Refused, stats);
        }
        for obj in objects {
            if let crate::sources::Routed::Skip(kind) = self.decoder.sources.route_key(&obj.key) {
                tracing::debug!(bucket = %obj.bucket, key = %obj.key, kind, "not a log of any source, skipping");
                metrics::counter!(telemetry::OBJECTS, "outcome" => "skipped").increment(1);
                stats.skipped += 1;
                continue;
            }
            match self.process_object(&obj).await {
                Ok(r) => {
                    tracing::info!(bucket = %obj.bucket, key = %obj.key, events = r.decoded.events, created = r.indexed.created,
                        duplicates = r.indexed.duplicates, dead_lettered = r.indexed.dead_lettered, "file indexed");
                    super::object_indexed(&r, &self.touched);
                    stats.files += 1;
                    stats.events += r.decoded.events;
                    stats.indexed += r.indexed;
                }
                Err(ObjectFailure::Process(e)) if e.is_cancelled() => {
                    tracing::info!(bucket = %obj.bucket, key = %obj.key, message_id = %msg.id, "file not finished within the shutdown grace period, releasing its message");
                    return (MessageEnd::Cancelled, stats);
                }
                Err(e) => {
                    let outcome =
                        if matches!(&e, ObjectFailure::Fetch(f) if f.kms_denied) { "kms_denied" } else { "failed" };
                    metrics::counter!(telemetry::OBJECTS, "outcome" => outcome).increment(1);
                    tracing::error!(bucket = %obj.bucket, key = %obj.key, message_id = %msg.id, receive_count = msg.receive_count,
                        error = %e, "file failed, leaving the message for redelivery");
                    return (MessageEnd::Failed, stats);
                }
            }
        }
        (MessageEnd::Acked, stats)
    }

    async fn process_object(&self, obj: &ObjectRef) -> Result<ObjectReport, ObjectFailure> {
        let (decoder, sink) = (self.decoder.clone(), self.sink.clone());
        process_object(&self.store, obj, decoder, sink, &self.budget, &self.cancel, self.max_object_time).await
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
