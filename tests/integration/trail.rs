//! A trail on moto: a bucket whose object-created notifications go to a queue with a
//! dead-letter queue (real S3 → SQS notifications), and helpers to fill and inspect them.

use crate::harness::Moto;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

/// A bucket whose object-created notifications go to a queue with a dead-letter queue.
pub struct Trail {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub bucket: String,
    pub queue_url: String,
    pub dlq_url: String,
}

impl Trail {
    pub async fn create(moto: &Moto, max_receive_count: u32, visibility_secs: u32) -> Trail {
        let (s3, sqs) = (moto.s3(), moto.sqs());
        let bucket = "org-cloudtrail-logs".to_owned();
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let dlq_url = sqs.create_queue().queue_name("trailship-dlq").send().await.unwrap().queue_url.unwrap();
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive =
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count.to_string()}).to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name("trailship")
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = queue_arn(&sqs, &queue_url).await;
        let config = aws_sdk_s3::types::NotificationConfiguration::builder()
            .queue_configurations(
                aws_sdk_s3::types::QueueConfiguration::builder()
                    .queue_arn(arn)
                    .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                    .build()
                    .unwrap(),
            )
            .build();
        // S3 (and moto) answer this with an s3:TestEvent on the queue.
        s3.put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(config)
            .send()
            .await
            .unwrap();
        Trail { s3, sqs, bucket, queue_url, dlq_url }
    }

    pub async fn put(&self, key: &str, body: Vec<u8>) {
        self.s3.put_object().bucket(&self.bucket).key(key).body(body.into()).send().await.unwrap();
    }

    pub async fn send_raw(&self, body: &str) {
        self.sqs.send_message().queue_url(&self.queue_url).message_body(body).send().await.unwrap();
    }

    /// (visible, in flight) messages of a queue.
    pub async fn depth(&self, url: &str) -> (u64, u64) {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let n = |a: QueueAttributeName| attrs.get(&a).unwrap().parse::<u64>().unwrap();
        (
            n(QueueAttributeName::ApproximateNumberOfMessages),
            n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    pub async fn dlq_bodies(&self) -> Vec<String> {
        let out = self.sqs.receive_message().queue_url(&self.dlq_url).max_number_of_messages(10).send().await.unwrap();
        out.messages.unwrap_or_default().into_iter().map(|m| m.body.unwrap_or_default()).collect()
    }
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attrs =
        sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap();
    attrs.attributes.unwrap()[&QueueAttributeName::QueueArn].clone()
}
