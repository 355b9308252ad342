//! The notification queue: receive, acknowledge, extend and release messages. SQS is the only
//! implementation ([`sqs::SqsQueue`]); the pipeline decides when to call what.

pub mod sqs;

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
