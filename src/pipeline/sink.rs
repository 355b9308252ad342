//! Where decoded batches go: the [`BatchSink`] seam (the indexer tasks' queue, or the
//! `--output` file), what a batch handed over becomes, and why processing an object fails.

use crate::index::bulk::Batch;
use crate::index::{IndexError, Settled};
use crate::sources::output::{ObjectError, Watch};
use crate::webhooks::Outbox;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A batch for the indexer tasks (or the writer) and where to send its result.
pub struct Job {
    /// The batch.
    pub batch: Batch,
    /// Receives the batch's result.
    pub reply: oneshot::Sender<Result<Settled, IndexError>>,
}

/// Where decoded batches go (OpenSearch through the indexer tasks, or the `--output` file),
/// and where the alerts they create are announced.
#[derive(Debug, Clone)]
pub struct Sink {
    pub(super) target: Arc<dyn BatchSink>,
    pub(super) outbox: Option<Outbox>,
}

/// One implementation of where batches go. A decoding thread hands each batch over in turn:
/// the answer is the batch's settlement, now or later (a result per item, read by the
/// indexer), and nothing is acknowledged before every batch of an object is settled.
pub trait BatchSink: Send + Sync + std::fmt::Debug {
    /// Hands `batch` over from a decoding thread (it may block). Time spent waiting here is
    /// not the object's: it is given back to `watch`.
    fn hand_over(&self, batch: Batch, watch: &Watch) -> Result<Handed, HandOverError>;
}

/// What became of a batch handed over.
pub enum Handed {
    /// Settled later: the receiver gets its result.
    Pending(oneshot::Receiver<Result<Settled, IndexError>>),
    /// Done already (written whole).
    Done,
}

/// Why a batch could not be handed over.
pub enum HandOverError {
    /// The receiving side is gone (shutdown).
    Closed,
    /// The sink failed; the object fails with this.
    Failed(ProcessError),
}

/// The indexer tasks' queue: one batch out per object at a time.
#[derive(Debug)]
pub(super) struct IndexerQueue(pub(super) mpsc::Sender<Job>);

impl BatchSink for IndexerQueue {
    fn hand_over(&self, batch: Batch, _watch: &Watch) -> Result<Handed, HandOverError> {
        let (reply, rx) = oneshot::channel();
        self.0.blocking_send(Job { batch, reply }).map_err(|_| HandOverError::Closed)?;
        Ok(Handed::Pending(rx))
    }
}

impl Sink {
    /// Announces the alerts every object creates to `outbox`.
    pub fn notifying(mut self, outbox: Option<Outbox>) -> Self {
        self.outbox = outbox;
        self
    }
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
    /// The `--output` file could not be written.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
    /// The blocking decode task panicked or was cancelled.
    #[error("decode task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl ProcessError {
    /// Whether the work stopped because the pipeline was cancelled (not a fault of the object).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, ProcessError::Object(ObjectError::Cancelled) | ProcessError::Index(IndexError::Cancelled))
    }
}
