//! Writing batches to OpenSearch: send, classify every item, retry throttled items alone with
//! jittered backoff, hold the batch while the cluster refuses writes (permissions, blocks,
//! missing index), split a batch the cluster finds too large, dead-letter refused events, and
//! report. A batch's result is only `Ok` when every item is indexed, already present, or
//! recorded in the dead-letter index. Every wait ends at once when the pipeline is cancelled.

pub mod buffers;
pub mod bulk;
pub mod client;
pub mod deadletter;
pub mod item;
pub mod response;
pub mod shards;
pub mod sigv4;
pub mod template;

use crate::decode::HEAD_BYTES;
use crate::telemetry;
use bulk::{Batch, ItemKind};
use bytes::Bytes;
use client::{BulkClient, Client, ClientError};
use response::{ItemOutcome, ResponseError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What happened to a batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    /// Events indexed now.
    pub created: usize,
    /// Events that were already indexed (redeliveries).
    pub duplicates: usize,
    /// Events recorded in the dead-letter index.
    pub dead_lettered: usize,
    /// Alert documents indexed now (not counting those already there).
    pub alerts: usize,
}

impl std::ops::AddAssign for BatchReport {
    fn add_assign(&mut self, o: BatchReport) {
        self.created += o.created;
        self.duplicates += o.duplicates;
        self.dead_lettered += o.dead_lettered;
        self.alerts += o.alerts;
    }
}

/// A settled batch: its counts, and the alert documents it created (those already present
/// from an earlier delivery are not among them: they were notified then).
#[derive(Debug, Default)]
pub struct Settled {
    /// The counts.
    pub report: BatchReport,
    /// The level and document line of every alert indexed now.
    pub new_alerts: Vec<(crate::detect::Level, Vec<u8>)>,
}

/// Why a batch could not be fully written. The caller must not acknowledge its source.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The request failed (after retries, if transient).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The response made no sense for the request.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// Items were still throttled or failing after every retry.
    #[error("{remaining} items still failing after {retries} retries: {reason}")]
    RetriesExhausted {
        /// Items left.
        remaining: usize,
        /// Retries made.
        retries: usize,
        /// The last reason given.
        reason: String,
    },
    /// The dead-letter index refused a record: nothing safe is left to do with the event.
    #[error("dead-letter index refused a record ({status} {error_type}): {reason}")]
    DeadLetterRefused {
        /// Item status.
        status: u16,
        /// Error type.
        error_type: String,
        /// Reason.
        reason: String,
    },
    /// The pipeline was cancelled (shutdown grace over) before the batch settled.
    #[error("cancelled at shutdown")]
    Cancelled,
}

/// Sends batches and settles every item.
#[derive(Clone)]
pub struct Indexer<B = Client> {
    client: B,
    deadletter_index: String,
    max_retries: usize,
    /// Whether a batch the cluster refuses for its own reasons waits without end (the worker)
    /// or fails after `max_retries` (a one-shot command).
    hold_when_blocked: bool,
    /// Whether the alert documents created are handed back (only webhooks need them).
    hand_back_alerts: bool,
    min_delay: Duration,
    max_delay: Duration,
}

impl Indexer<Client> {
    /// The connection, for requests other than bulk writes (templates).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Retries warn at most once per [`WARN_EVERY`] and kind, saying how many went unlogged.
static RETRY_WARNINGS: RateLimit = RateLimit::new();
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A warning rate limit for the two retry kinds (`throttled`, `unavailable`).
struct RateLimit {
    /// Per kind: when it last warned (ms since the first call, 0 = never) and retries since.
    state: std::sync::Mutex<[(u64, u64); 2]>,
    start: std::sync::OnceLock<std::time::Instant>,
}

impl RateLimit {
    const fn new() -> Self {
        RateLimit { state: std::sync::Mutex::new([(0, 0); 2]), start: std::sync::OnceLock::new() }
    }

    /// `Some(retries not logged since the last warning)` when `kind` may warn now.
    fn due(&self, kind: &str) -> Option<u64> {
        let now = self.start.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64 + 1;
        self.due_at(kind, now)
    }

    fn due_at(&self, kind: &str, now_ms: u64) -> Option<u64> {
        let slot = usize::from(kind != "throttled");
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, since) = &mut state[slot];
        if *last != 0 && now_ms.saturating_sub(*last) < WARN_EVERY.as_millis() as u64 {
            *since += 1;
            return None;
        }
        *last = now_ms;
        Some(std::mem::take(since))
    }
}

/// Why the current attempt did not settle everything: what decides how long to wait.
enum Wait {
    /// Items answered 429/5xx.
    Throttled(String),
    /// The request failed: no answer, or 429/5xx for all of it.
    Unavailable(String),
    /// The cluster refuses writes for a reason of its own.
    Blocked(String),
}

impl Wait {
    /// The `reason` label of the retry metric.
    fn label(&self) -> &'static str {
        match self {
            Wait::Throttled(_) => "throttled",
            Wait::Unavailable(_) => "unavailable",
            Wait::Blocked(_) => "blocked",
        }
    }
}

impl<B: BulkClient> Indexer<B> {
    /// An indexer over `client`.
    pub fn new(client: B, deadletter_index: String, max_retries: usize) -> Self {
        Indexer {
            client,
            deadletter_index,
            max_retries,
            hold_when_blocked: false,
            hand_back_alerts: true,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
        }
    }

    /// Makes batches that the cluster refuses for reasons of its own wait until it accepts them
    /// (or the pipeline is cancelled) instead of failing after `max_retries`.
    pub fn holding_when_blocked(mut self, hold: bool) -> Self {
        self.hold_when_blocked = hold;
        self
    }

    /// Whether [`Indexer::index_batch`] hands back the alert documents it created (a copy of
    /// each): only worth it when someone is notified of them.
    pub fn handing_back_alerts(mut self, hand_back: bool) -> Self {
        self.hand_back_alerts = hand_back;
        self
    }

    /// Sets the retry delays (tests use short ones).
    pub fn with_delays(mut self, min: Duration, max: Duration) -> Self {
        (self.min_delay, self.max_delay) = (min, max);
        self
    }

    /// Writes `batch`; `Ok` only when every item is settled.
    pub async fn index(&self, batch: Batch, cancel: &CancellationToken) -> Result<BatchReport, IndexError> {
        self.index_batch(batch, cancel).await.map(|s| s.report)
    }

    /// [`Indexer::index`], also handing back the alert documents created.
    pub async fn index_batch(&self, batch: Batch, cancel: &CancellationToken) -> Result<Settled, IndexError> {
        use backon::BackoffBuilder;
        let mut report = Settled::default();
        let mut throttled = crate::retry::backoff(self.min_delay, self.max_delay, Some(self.max_retries)).build();
        let hold_times = (!self.hold_when_blocked).then_some(self.max_retries);
        let mut blocked = crate::retry::backoff(self.min_delay, self.max_delay, hold_times).build();
        // Batches still to send: a 413 splits one into halves.
        let mut work = vec![batch];
        while let Some(mut current) = work.pop() {
            if cancel.is_cancelled() {
                return Err(IndexError::Cancelled);
            }
            let body = Bytes::from(std::mem::take(&mut current.body));
            let started = std::time::Instant::now();
            let sent = tokio::select! {
                r = self.client.bulk(body.clone()) => r,
                _ = cancel.cancelled() => return Err(IndexError::Cancelled),
            };
            metrics::histogram!(telemetry::BULK_DURATION).record(started.elapsed().as_secs_f64());
            // Handed back without a copy once the request has let go of it.
            current.body = Vec::from(body);
            let wait = match sent {
                Ok(response) => match self.settle(current, &response, &mut report)? {
                    Some((next, Some(wait))) => {
                        work.push(next);
                        wait
                    }
                    Some((next, None)) => {
                        work.push(next);
                        continue;
                    }
                    None => continue,
                },
                Err(e) => match self.refused(current, e, &mut work)? {
                    Some(wait) => wait,
                    None => continue,
                },
            };
            let remaining = work.last().map_or(0, Batch::len);
            let (delay, reason) = self.delay(wait, remaining, &mut throttled, &mut blocked)?;
            tracing::debug!(items = remaining, ?delay, reason, "retrying");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.cancelled() => return Err(IndexError::Cancelled),
            }
        }
        Ok(report)
    }

    /// What to do with `current` after its request failed with `e`: split it or dead-letter
    /// its one document (too large, pushed as new work), or wait and send it again (pushed
    /// back, with the reason). Anything else fails the batch.
    fn refused(&self, current: Batch, e: ClientError, work: &mut Vec<Batch>) -> Result<Option<Wait>, IndexError> {
        match e {
            e if e.is_too_large() && current.len() > 1 => {
                tracing::warn!(origin = %current.origin, actions = current.len(), bytes = current.body.len(),
                    "bulk request too large for the cluster, splitting it in halves");
                metrics::counter!(telemetry::BULK_RETRIES, "reason" => "too_large").increment(1);
                let mid = current.len() / 2;
                work.push(current.subset(&(mid..current.len()).collect::<Vec<_>>()));
                work.push(current.subset(&(0..mid).collect::<Vec<_>>()));
                Ok(None)
            }
            e if e.is_too_large() => {
                let item = &current.items[0];
                if item.kind == ItemKind::DeadLetter {
                    return Err(IndexError::DeadLetterRefused {
                        status: 413,
                        error_type: "request_too_large".into(),
                        reason: e.to_string(),
                    });
                }
                let reason = format!(
                    "the document alone ({} bytes) is over the cluster's request size limit (http.max_content_length)",
                    current.body.len()
                );
                tracing::warn!(origin = %current.origin, reason, "event too large for the cluster, dead-lettering it");
                let mut dead = Batch::new(current.origin.clone());
                let refusal = Refusal { status: 413, error_type: "request_too_large", reason: &reason };
                dead_letter_refused(&mut dead, &current, item, &self.deadletter_index, &refusal, true);
                work.push(dead);
                Ok(None)
            }
            e if e.is_blocked() => {
                work.push(current);
                Ok(Some(Wait::Blocked(e.to_string())))
            }
            e if e.is_transient() => {
                work.push(current);
                Ok(Some(Wait::Unavailable(e.to_string())))
            }
            e => Err(e.into()),
        }
    }

    /// How long to wait before sending again for `wait`, from its backoff (`throttled` for
    /// throttled items and failed requests, `blocked` for a cluster refusing writes), with the
    /// retry counted and logged; the retries exhausted fail the batch.
    fn delay(
        &self,
        wait: Wait,
        remaining: usize,
        throttled: &mut impl Iterator<Item = Duration>,
        blocked: &mut impl Iterator<Item = Duration>,
    ) -> Result<(Duration, String), IndexError> {
        metrics::counter!(telemetry::BULK_RETRIES, "reason" => wait.label()).increment(1);
        let label = wait.label();
        Ok(match wait {
            Wait::Throttled(reason) | Wait::Unavailable(reason) => match throttled.next() {
                Some(d) => {
                    if let Some(since) = RETRY_WARNINGS.due(label) {
                        let what = if label == "throttled" { "items refused for now" } else { "bulk request failed" };
                        tracing::warn!(items = remaining, ?d, reason, retries_not_logged = since, "{what}, retrying");
                    }
                    (d, reason)
                }
                None => {
                    return Err(IndexError::RetriesExhausted { remaining, retries: self.max_retries, reason });
                }
            },
            Wait::Blocked(reason) => match blocked.next() {
                Some(d) => {
                    tracing::warn!(
                        items = remaining,
                        ?d,
                        reason,
                        "the cluster refuses writes (permissions, read-only block or missing index): holding the batch until it accepts them"
                    );
                    (d, reason)
                }
                None => {
                    return Err(IndexError::RetriesExhausted { remaining, retries: self.max_retries, reason });
                }
            },
        })
    }

    /// Counts what `response` settled; returns what must be sent again (items to retry and new
    /// dead letters) and why, or `None` when everything is settled.
    fn settle(
        &self,
        current: Batch,
        response: &[u8],
        settled: &mut Settled,
    ) -> Result<Option<(Batch, Option<Wait>)>, IndexError> {
        let report = &mut settled.report;
        let ids: Vec<Option<String>> = current.items.iter().map(|i| current.action_id(i)).collect();
        let ids: Vec<Option<&str>> = ids.iter().map(Option::as_deref).collect();
        let outcomes = response::classify(response, &ids)?;
        let mut again = Vec::new();
        let (mut throttle_reason, mut block_reason) = (None, None);
        let mut dead = Batch::new(current.origin.clone());
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let item = &current.items[i];
            match outcome {
                ItemOutcome::Created | ItemOutcome::Duplicate if item.kind == ItemKind::DeadLetter => {
                    report.dead_lettered += 1
                }
                ItemOutcome::Created if item.kind == ItemKind::Alert => {
                    report.alerts += 1;
                    let doc = current.document(item);
                    // trailship wrote the document: it has a level.
                    if let Some(level) = crate::webhooks::message::level_of(doc) {
                        metrics::counter!(telemetry::ALERTS, "level" => level.as_str()).increment(1);
                        if self.hand_back_alerts {
                            settled.new_alerts.push((level, doc.to_vec()));
                        }
                    }
                }
                ItemOutcome::Duplicate if item.kind == ItemKind::Alert => {}
                ItemOutcome::Created | ItemOutcome::Duplicate if item.kind == ItemKind::Tally => {}
                ItemOutcome::Created => report.created += 1,
                ItemOutcome::Duplicate => report.duplicates += 1,
                ItemOutcome::Retry { status, reason } => {
                    again.push(i);
                    throttle_reason = Some(format!("{status}: {reason}"));
                }
                ItemOutcome::Blocked { status, error_type, reason } => {
                    again.push(i);
                    block_reason = Some(format!("{status} {error_type}: {reason}"));
                }
                ItemOutcome::Rejected { status, error_type, reason } => {
                    if item.kind == ItemKind::DeadLetter {
                        return Err(IndexError::DeadLetterRefused { status, error_type, reason });
                    }
                    tracing::warn!(origin = %current.origin, status, error_type, reason, "event refused, dead-lettering it");
                    let refusal = Refusal { status, error_type: &error_type, reason: &reason };
                    let too_large = status == 413;
                    dead_letter_refused(&mut dead, &current, item, &self.deadletter_index, &refusal, too_large);
                }
            }
        }
        if again.is_empty() && dead.is_empty() {
            return Ok(None);
        }
        let mut next = current.subset(&again);
        drop(current);
        next.append(dead);
        // Only new dead letters: they go at once.
        let wait = match (block_reason, throttle_reason) {
            (Some(reason), _) => Some(Wait::Blocked(reason)),
            (None, Some(reason)) => Some(Wait::Throttled(reason)),
            (None, None) => None,
        };
        Ok(Some((next, wait)))
    }
}

/// Why OpenSearch refused an event.
struct Refusal<'a> {
    status: u16,
    error_type: &'a str,
    reason: &'a str,
}

/// Adds the dead-letter record for a refused item of `from` to `dead`; with `truncate`, only
/// the start of the raw event is kept (the whole of it is what the cluster found too large).
fn dead_letter_refused(dead: &mut Batch, from: &Batch, item: &bulk::Item, index: &str, why: &Refusal, truncate: bool) {
    let full = from.raw_record(item);
    let raw = if truncate && full.len() > HEAD_BYTES { &full[..HEAD_BYTES] } else { full };
    let raw_text = String::from_utf8_lossy(raw);
    let target_index = from.action_index(item);
    let event_id = from.action_id(item);
    let origin = from.origin.clone();
    let key = origin.key();
    let record = deadletter::DeadLetter {
        timestamp: &deadletter::now(),
        error_type: why.error_type,
        reason: why.reason,
        status: Some(why.status),
        target_index: target_index.as_deref(),
        event_id: event_id.as_deref(),
        source: deadletter::SourceRef { bucket: origin.bucket(), key: &key },
        event: &raw_text,
        event_size: (raw.len() < full.len()).then_some(full.len() as u64),
    };
    dead.push(
        ItemKind::DeadLetter,
        |o| deadletter::write_action(o, index, record.event_id, &origin, full),
        |o| deadletter::write_document(o, &record),
        raw,
    );
}

#[cfg(test)]
#[path = "indexer_tests.rs"]
mod tests;
