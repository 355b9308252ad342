//! SQS: long-poll receive, delete on acknowledgement, visibility heartbeats and release.

use super::{Message, Queue, QueueError};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use std::time::Duration;

/// One SQS queue.
#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    visibility_timeout: Duration,
    wait_time: Duration,
}

fn err<E: std::error::Error + 'static>(operation: &'static str) -> impl FnOnce(E) -> QueueError {
    move |e| {
        let text = crate::cause::one_line(&e);
        // A queue encrypted with a KMS key the worker may not use: say so, with the key and the fix.
        let message = crate::kms::denial(&text).map_or(text, |d| d.for_queue());
        QueueError { operation, message }
    }
}

impl SqsQueue {
    /// A queue at `url`; received messages stay invisible for `visibility_timeout`.
    pub fn new(client: aws_sdk_sqs::Client, url: String, visibility_timeout: Duration, wait_time: Duration) -> Self {
        SqsQueue { client, url, visibility_timeout, wait_time }
    }

    /// Whether the queue answers (for `/readyz`).
    pub async fn check(&self) -> Result<(), String> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::cause::one_line(&e))
    }

    async fn set_visibility(&self, receipt: &str, secs: i32) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(err("change visibility"))?;
        Ok(())
    }
}

impl SqsQueue {
    /// Sends up to 10 messages in one `SendMessageBatch`; returns the ids of the entries SQS
    /// did not accept (each worth sending again).
    pub async fn send_batch(&self, entries: &[(String, String)]) -> Result<Vec<String>, QueueError> {
        let batch: Vec<aws_sdk_sqs::types::SendMessageBatchRequestEntry> = entries
            .iter()
            .map(|(id, body)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(batch))
            .send()
            .await
            .map_err(err("send batch"))?;
        for f in out.failed() {
            tracing::warn!(
                id = f.id(),
                code = f.code(),
                message = f.message().unwrap_or_default(),
                "sqs did not accept a message"
            );
        }
        Ok(out.failed().iter().map(|f| f.id().to_owned()).collect())
    }
}

impl Queue for SqsQueue {
    fn visibility_timeout(&self) -> Duration {
        self.visibility_timeout
    }

    async fn receive(&self, max: usize) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(self.wait_time.as_secs() as i32)
            .visibility_timeout(self.visibility_timeout.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(err("receive"))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Some(Message {
                    id: m.message_id.unwrap_or_default(),
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect())
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(err("delete"))?;
        Ok(())
    }

    async fn extend(&self, receipt: &str) -> Result<(), QueueError> {
        self.set_visibility(receipt, self.visibility_timeout.as_secs() as i32).await
    }

    async fn release(&self, receipt: &str) -> Result<(), QueueError> {
        self.set_visibility(receipt, 0).await
    }
}
