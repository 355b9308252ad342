//! Writing batches to OpenSearch: send, classify every item, retry throttled items alone with
//! jittered backoff, dead-letter refused ones, and report. A batch's result is only `Ok` when
//! every item is indexed, already present, or recorded in the dead-letter index.

pub mod bulk;
pub mod client;
pub mod deadletter;
pub mod response;
pub mod template;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use bulk::{Batch, ItemKind};
use bytes::Bytes;
use client::{Client, ClientError};
use response::{ItemOutcome, ResponseError};
use std::time::Duration;

/// What happened to a batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    /// Events indexed now.
    pub created: usize,
    /// Events that were already indexed (redeliveries).
    pub duplicates: usize,
    /// Events recorded in the dead-letter index.
    pub dead_lettered: usize,
}

impl std::ops::AddAssign for BatchReport {
    fn add_assign(&mut self, o: BatchReport) {
        self.created += o.created;
        self.duplicates += o.duplicates;
        self.dead_lettered += o.dead_lettered;
    }
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
}

/// Sends batches and settles every item.
#[derive(Clone)]
pub struct Indexer {
    client: Client,
    deadletter_index: String,
    max_retries: usize,
    min_delay: Duration,
    max_delay: Duration,
}

impl Indexer {
    /// An indexer over `client`.
    pub fn new(client: Client, deadletter_index: String, max_retries: usize) -> Self {
        Indexer {
            client,
            deadletter_index,
            max_retries,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
        }
    }

    /// The connection, for requests other than bulk writes (templates).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
    }

    /// Writes `batch`; `Ok` only when every item is settled.
    pub async fn index(&self, batch: &Batch) -> Result<BatchReport, IndexError> {
        let mut report = BatchReport::default();
        let mut item_backoff = self.backoff().build();
        let mut owned: Option<Batch> = None;
        loop {
            let current = owned.as_ref().unwrap_or(batch);
            let body = self.send(Bytes::copy_from_slice(&current.body)).await?;
            let outcomes = response::classify(&body, current.len())?;

            let mut retry = Vec::new();
            let mut last_reason = String::new();
            let mut dead = Batch::new(current.origin.clone());
            for (i, outcome) in outcomes.into_iter().enumerate() {
                let item = &current.items[i];
                match outcome {
                    ItemOutcome::Created | ItemOutcome::Duplicate if item.kind == ItemKind::DeadLetter => {
                        report.dead_lettered += 1
                    }
                    ItemOutcome::Created => report.created += 1,
                    ItemOutcome::Duplicate => report.duplicates += 1,
                    ItemOutcome::Retry { reason, .. } => {
                        retry.push(i);
                        last_reason = reason;
                    }
                    ItemOutcome::Rejected { status, error_type, reason } => {
                        if item.kind == ItemKind::DeadLetter {
                            return Err(IndexError::DeadLetterRefused { status, error_type, reason });
                        }
                        tracing::warn!(origin = %current.origin, status, error_type, reason, "event refused, dead-lettering it");
                        dead_letter_refused(
                            &mut dead,
                            current,
                            item,
                            &self.deadletter_index,
                            status,
                            &error_type,
                            &reason,
                        );
                    }
                }
            }
            if retry.is_empty() && dead.is_empty() {
                return Ok(report);
            }
            if !retry.is_empty() {
                let Some(delay) = item_backoff.next() else {
                    return Err(IndexError::RetriesExhausted {
                        remaining: retry.len(),
                        retries: self.max_retries,
                        reason: last_reason,
                    });
                };
                tracing::debug!(items = retry.len(), ?delay, reason = last_reason, "retrying throttled items");
                tokio::time::sleep(delay).await;
            }
            let mut next = current.subset(&retry);
            next.append(dead);
            owned = Some(next);
        }
    }

    /// One `_bulk` request, retried with jittered backoff while the failure is transient.
    async fn send(&self, body: Bytes) -> Result<Bytes, ClientError> {
        (|| self.client.bulk(body.clone()))
            .retry(self.backoff())
            .when(ClientError::is_transient)
            .notify(|e, delay| tracing::warn!(error = %e, ?delay, "bulk request failed, retrying"))
            .await
    }
}

/// Adds the dead-letter record for a refused item of `from` to `dead`.
fn dead_letter_refused(
    dead: &mut Batch,
    from: &Batch,
    item: &bulk::Item,
    index: &str,
    status: u16,
    error_type: &str,
    reason: &str,
) {
    #[derive(serde::Deserialize)]
    struct Action<'a> {
        #[serde(borrow)]
        create: Meta<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(rename = "_index", borrow)]
        index: std::borrow::Cow<'a, str>,
        #[serde(rename = "_id", borrow, default)]
        id: Option<std::borrow::Cow<'a, str>>,
    }
    let action: Option<Action> = serde_json::from_slice(from.action(item)).ok();
    let raw = from.raw_record(item);
    let raw_text = String::from_utf8_lossy(raw);
    let origin = from.origin.clone();
    let key = origin.key();
    let record = deadletter::DeadLetter {
        timestamp: &deadletter::now(),
        error_type,
        reason,
        status: Some(status),
        target_index: action.as_ref().map(|a| a.create.index.as_ref()),
        event_id: action.as_ref().and_then(|a| a.create.id.as_deref()),
        source: deadletter::SourceRef { bucket: origin.bucket(), key: &key },
        event: &raw_text,
    };
    dead.push(
        ItemKind::DeadLetter,
        |o| deadletter::write_action(o, index, record.event_id, &origin, raw),
        |o| deadletter::write_document(o, &record),
        raw,
    );
}
