//! The only module that spawns tasks and wires channels.
//!
//! ```text
//! run:    SQS receive ─► message task ─► fetch (S3 stream) ─► decode+build (blocking thread)
//!                                                                  │ bounded channel of batches
//! ingest: local files ─► decode+build (blocking thread) ───────────┤
//!                                                                  ▼
//!                                              indexer tasks (N concurrent _bulk) ─► oneshot per batch
//!                                           or one writer thread (--output)
//! ```
//! A message task awaits the result of every batch its objects produced before it acknowledges
//! the message, so a message is deleted only once all its events are indexed or dead-lettered.

pub mod ingest;
pub mod object;
pub mod worker;

use crate::index::{BatchReport, IndexError, Indexer, bulk::Batch};
use crate::source::Origin;
use object::{Closed, DecodeStats, ObjectDecoder, ObjectError};
use std::io::Read;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

/// A batch for the indexer tasks and where to send its result.
pub struct Job {
    /// The batch.
    pub batch: Batch,
    /// Receives the batch's result.
    pub reply: oneshot::Sender<Result<BatchReport, IndexError>>,
}

/// Where decoded batches go.
#[derive(Clone)]
pub enum Sink {
    /// To the indexer tasks.
    Index(mpsc::Sender<Job>),
    /// To the `--output` writer, as NDJSON.
    Write(mpsc::Sender<Batch>),
}

/// The result of one object: how it decoded and how its batches settled.
#[derive(Debug, Default, Clone, Copy)]
pub struct ObjectReport {
    /// Decoding counts.
    pub decoded: DecodeStats,
    /// Indexing counts (all zero when writing to `--output`).
    pub indexed: BatchReport,
}

/// Why an object was not fully processed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Decoding failed or was stopped.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A batch could not be written.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// An indexer task went away without answering.
    #[error("indexer stopped before answering")]
    IndexerGone,
    /// The blocking decode task panicked or was cancelled.
    #[error("decode task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Starts `n` indexer tasks fed by the returned channel. They stop when every sender is dropped.
pub fn spawn_indexers(indexer: Indexer, n: usize) -> (mpsc::Sender<Job>, Vec<JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel::<Job>(n * 2);
    let rx = Arc::new(Mutex::new(rx));
    let handles = (0..n)
        .map(|_| {
            let rx = rx.clone();
            let indexer = indexer.clone();
            tokio::spawn(async move {
                loop {
                    let job = rx.lock().await.recv().await;
                    let Some(job) = job else { break };
                    let result = indexer.index(&job.batch).await;
                    // The requester may have given up (shutdown); nothing to do then.
                    let _ = job.reply.send(result);
                }
            })
        })
        .collect();
    (tx, handles)
}

/// Decodes `reader` on a blocking thread, sends its batches to `sink`, and waits until every
/// batch is settled.
pub async fn process_reader<R: Read + Send + 'static>(
    reader: R,
    origin: Arc<Origin>,
    decoder: Arc<ObjectDecoder>,
    sink: Sink,
) -> Result<ObjectReport, ProcessError> {
    let (decoded, pending) = tokio::task::spawn_blocking(move || {
        let mut pending = Vec::new();
        let mut emit = |batch: Batch| -> Result<(), Closed> {
            match &sink {
                Sink::Index(tx) => {
                    let (reply, rx) = oneshot::channel();
                    tx.blocking_send(Job { batch, reply }).map_err(|_| Closed)?;
                    pending.push(rx);
                }
                Sink::Write(tx) => tx.blocking_send(batch).map_err(|_| Closed)?,
            }
            Ok(())
        };
        let decoded = decoder.decode(reader, origin, &mut emit);
        (decoded, pending)
    })
    .await?;
    let mut report = ObjectReport::default();
    // Settle what was sent even when decoding failed part-way, so nothing is left in flight.
    let mut first_error = None;
    for rx in pending {
        match rx.await {
            Ok(Ok(r)) => report.indexed += r,
            Ok(Err(e)) => first_error = first_error.or(Some(ProcessError::Index(e))),
            Err(_) => first_error = first_error.or(Some(ProcessError::IndexerGone)),
        }
    }
    report.decoded = decoded?;
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}
