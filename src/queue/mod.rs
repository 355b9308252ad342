//! The notification queue: receive, acknowledge, extend and release messages, behind the small
//! [`Queue`] trait. SQS ([`sqs::SqsQueue`]) is the real one; the worker's unit tests use an
//! in-memory twin. The pipeline decides when to call what.

pub mod sqs;

use std::future::Future;
use std::time::Duration;

/// What the worker needs from a queue.
pub trait Queue: Send + Sync + 'static {
    /// Long-polls for up to `max` (1–10) messages; empty after a full wait with nothing there.
    fn receive(&self, max: usize) -> impl Future<Output = Result<Vec<Message>, QueueError>> + Send;
    /// Deletes a fully processed message.
    fn ack(&self, receipt: &str) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Keeps a message invisible for another visibility timeout while it is processed.
    fn extend(&self, receipt: &str) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Makes a message visible again at once, for another worker to take. Each release counts
    /// toward the queue's `maxReceiveCount` when it is received again.
    fn release(&self, receipt: &str) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// The visibility timeout applied on receive and on every extension.
    fn visibility_timeout(&self) -> Duration;
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Message {
    /// SQS message id, for logs.
    pub id: String,
    /// Receipt handle: what acknowledging, extending and releasing need.
    pub receipt: String,
    /// The body: a notification.
    pub body: String,
    /// How many times SQS has delivered it (1 on first delivery).
    pub receive_count: u32,
}

/// A queue operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("sqs {operation} failed: {message}")]
pub struct QueueError {
    /// The operation (`receive`, `delete`, `change visibility`).
    pub operation: &'static str,
    /// The service's explanation.
    pub message: String,
}
