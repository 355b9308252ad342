//! `trailship run`: the SQS worker loop. Receives notifications while there is room, processes
//! each message in its own task with a visibility heartbeat, acknowledges a message only after
//! every event it points to is settled, and on shutdown lets in-flight work finish for a grace
//! period before releasing what is left.

use super::{ObjectReport, ProcessError, Sink, process_reader};
use crate::fetch::{self, FetchError};
use crate::index::BatchReport;
use crate::notification::{self, Notification};
use crate::pipeline::object::ObjectDecoder;
use crate::queue::{Message, sqs::SqsQueue};
use crate::route;
use crate::source::{ObjectRef, Origin};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::io::SyncIoBridge;

/// What the worker needs to process messages.
pub struct Worker {
    /// The notification queue.
    pub queue: SqsQueue,
    /// S3, to fetch objects.
    pub s3: aws_sdk_s3::Client,
    /// Turns files into batches.
    pub decoder: Arc<ObjectDecoder>,
    /// The indexer tasks' input.
    pub sink: Sink,
    /// Messages processed at once.
    pub max_in_flight: usize,
    /// How long in-flight messages may finish after a stop signal.
    pub shutdown_grace: Duration,
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
    /// Messages made visible again at shutdown.
    pub released: usize,
    /// CloudTrail files processed.
    pub files: usize,
    /// Objects skipped (digests, other files).
    pub skipped: usize,
    /// Events read.
    pub events: usize,
    /// How events were settled.
    pub indexed: BatchReport,
}

#[derive(Debug, Default)]
struct MessageStats {
    files: usize,
    skipped: usize,
    events: usize,
    indexed: BatchReport,
}

#[derive(Debug, thiserror::Error)]
enum ObjectFailure {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// Consecutive receive failures after which `--drain` gives up.
const DRAIN_RECEIVE_ATTEMPTS: u32 = 5;

impl Worker {
    /// Runs until `shutdown` completes or, with `drain`, until the queue stays empty for a full
    /// long-poll with nothing in flight.
    pub async fn run(self: Arc<Self>, drain: bool, shutdown: impl Future<Output = ()>) -> anyhow::Result<RunSummary> {
        let semaphore = Arc::new(Semaphore::new(self.max_in_flight));
        let mut tasks: JoinSet<(bool, MessageStats)> = JoinSet::new();
        let mut receipts: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut summary = RunSummary::default();
        let mut receive_failures = 0u32;
        tokio::pin!(shutdown);

        loop {
            while let Some(done) = tasks.try_join_next_with_id() {
                self.record(done, &mut receipts, &mut summary).await;
            }
            let permit = tokio::select! {
                p = semaphore.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = &mut shutdown => break,
            };
            let room = (semaphore.available_permits() + 1).min(10);
            let received = tokio::select! {
                r = self.queue.receive(room) => r,
                _ = &mut shutdown => break,
            };
            let messages = match received {
                Ok(m) => {
                    receive_failures = 0;
                    m
                }
                Err(e) => {
                    receive_failures += 1;
                    if drain && receive_failures >= DRAIN_RECEIVE_ATTEMPTS {
                        return Err(anyhow::anyhow!("{e} ({receive_failures} attempts)"));
                    }
                    let delay = Duration::from_secs(1 << receive_failures.min(5));
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
                let permit = first
                    .take()
                    .or_else(|| semaphore.clone().try_acquire_owned().ok())
                    .expect("received no more messages than free slots");
                summary.messages += 1;
                let receipt = msg.receipt.clone();
                let this = self.clone();
                let handle = tasks.spawn(async move {
                    let _permit = permit;
                    this.handle_message(msg).await
                });
                receipts.insert(handle.id(), receipt);
            }
        }

        self.stop(tasks, receipts, &mut summary).await;
        Ok(summary)
    }

    /// Lets in-flight messages finish for the grace period, then releases the rest.
    async fn stop(
        &self,
        mut tasks: JoinSet<(bool, MessageStats)>,
        mut receipts: HashMap<tokio::task::Id, String>,
        summary: &mut RunSummary,
    ) {
        if !tasks.is_empty() {
            tracing::info!(in_flight = tasks.len(), grace = ?self.shutdown_grace, "stopping: finishing in-flight messages");
        }
        let deadline = tokio::time::sleep(self.shutdown_grace);
        tokio::pin!(deadline);
        let mut aborted = false;
        loop {
            tokio::select! {
                done = tasks.join_next_with_id() => match done {
                    Some(done) => self.record(done, &mut receipts, summary).await,
                    None => break,
                },
                _ = &mut deadline, if !aborted => {
                    aborted = true;
                    tracing::warn!(in_flight = tasks.len(), "grace period over, releasing in-flight messages");
                    tasks.abort_all();
                }
            }
        }
    }

    async fn record(
        &self,
        done: Result<(tokio::task::Id, (bool, MessageStats)), tokio::task::JoinError>,
        receipts: &mut HashMap<tokio::task::Id, String>,
        summary: &mut RunSummary,
    ) {
        match done {
            Ok((id, (acked, stats))) => {
                receipts.remove(&id);
                if acked {
                    summary.acked += 1
                } else {
                    summary.failed += 1
                }
                summary.files += stats.files;
                summary.skipped += stats.skipped;
                summary.events += stats.events;
                summary.indexed += stats.indexed;
            }
            Err(e) => {
                // Cancelled at shutdown, or panicked: make the message visible again at once.
                if e.is_panic() {
                    tracing::error!(error = %e, "message task panicked");
                }
                if let Some(receipt) = receipts.remove(&e.id()) {
                    summary.released += 1;
                    if let Err(err) = self.queue.release(&receipt).await {
                        tracing::warn!(error = %err, "could not release message; it returns after its visibility timeout");
                    }
                }
            }
        }
    }

    /// Processes one message with a visibility heartbeat; acknowledges it on success.
    async fn handle_message(&self, msg: Message) -> (bool, MessageStats) {
        let period = (self.queue.visibility_timeout() / 3).max(Duration::from_secs(1));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let work = self.process_message(&msg);
        tokio::pin!(work);
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = heartbeat.tick() => {
                    tracing::debug!(message_id = %msg.id, "extending visibility");
                    if let Err(e) = self.queue.extend(&msg.receipt).await {
                        tracing::warn!(message_id = %msg.id, error = %e, "could not extend visibility");
                    }
                }
            }
        };
        match result {
            Ok(stats) => match self.queue.ack(&msg.receipt).await {
                Ok(()) => (true, stats),
                Err(e) => {
                    tracing::error!(message_id = %msg.id, error = %e, "could not delete processed message; it will be redelivered (harmless)");
                    (false, stats)
                }
            },
            Err(stats) => (false, stats),
        }
    }

    async fn process_message(&self, msg: &Message) -> Result<MessageStats, MessageStats> {
        let mut stats = MessageStats::default();
        let objects = match notification::parse(&msg.body) {
            Ok(Notification::Objects(objects)) => objects,
            Ok(Notification::TestEvent) => {
                tracing::debug!(message_id = %msg.id, "s3:TestEvent, deleting it");
                return Ok(stats);
            }
            Ok(Notification::Ignored(events)) => {
                tracing::debug!(message_id = %msg.id, ?events, "not an object-created notification, deleting it");
                return Ok(stats);
            }
            Err(e) => {
                tracing::error!(message_id = %msg.id, receive_count = msg.receive_count, error = %e, "unrecognised message, leaving it for the queue's redrive policy");
                return Err(stats);
            }
        };
        for obj in objects {
            let kind = route::classify_key(&obj.key);
            if !kind.is_indexed() {
                tracing::debug!(bucket = %obj.bucket, key = %obj.key, kind = kind.as_str(), "not a cloudtrail log, skipping");
                stats.skipped += 1;
                continue;
            }
            match self.process_object(&obj).await {
                Ok(r) => {
                    tracing::info!(bucket = %obj.bucket, key = %obj.key, events = r.decoded.events, created = r.indexed.created,
                        duplicates = r.indexed.duplicates, dead_lettered = r.indexed.dead_lettered, "file indexed");
                    stats.files += 1;
                    stats.events += r.decoded.events;
                    stats.indexed += r.indexed;
                }
                Err(e) => {
                    tracing::error!(bucket = %obj.bucket, key = %obj.key, message_id = %msg.id, receive_count = msg.receive_count,
                        error = %e, "file failed, leaving the message for redelivery");
                    return Err(stats);
                }
            }
        }
        Ok(stats)
    }

    async fn process_object(&self, obj: &ObjectRef) -> Result<ObjectReport, ObjectFailure> {
        let stream = fetch::open(&self.s3, obj).await?;
        let reader = SyncIoBridge::new(stream);
        Ok(process_reader(reader, Arc::new(Origin::from(obj)), self.decoder.clone(), self.sink.clone()).await?)
    }
}
