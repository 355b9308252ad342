//! The `[sqs]` section: the queue of the bucket's notifications, how many messages are worked
//! on at once, their visibility, the shutdown grace, and which buckets and owners are allowed.

use super::values::ConfigError;
use super::values::{StringList, check_url, int_in, non_empty, secs};
use serde::Deserialize;
use std::time::Duration;

/// The SQS queue that receives the bucket's notifications.
#[derive(Debug, Clone)]
pub struct SqsConfig {
    /// Queue URL; required by `trailship run`.
    pub queue_url: Option<String>,
    /// Messages processed at the same time.
    pub max_messages_in_flight: usize,
    /// Visibility timeout set on receive and renewed while a message is processed.
    pub visibility_timeout: Duration,
    /// Long-poll wait per receive (0–20 s).
    pub wait_time: Duration,
    /// How long a stopping worker lets in-flight messages finish before releasing them.
    pub shutdown_grace: Duration,
    /// The buckets and key prefixes notifications may name.
    pub allowlist: crate::route::Allowlist,
    /// The account that must own the bucket of every object read (S3 `ExpectedBucketOwner`).
    pub expected_bucket_owner: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSqs {
    queue_url: Option<String>,
    max_messages_in_flight: Option<i64>,
    visibility_timeout_secs: Option<i64>,
    wait_time_secs: Option<i64>,
    shutdown_grace_secs: Option<i64>,
    allowed_buckets: Option<StringList>,
    allowed_prefixes: Option<StringList>,
    expected_bucket_owner: Option<String>,
}

impl RawSqs {
    pub(super) fn validate(self) -> Result<SqsConfig, ConfigError> {
        let queue_url = non_empty(self.queue_url);
        if let Some(url) = &queue_url {
            check_url("sqs.queue_url", url)?;
        }
        Ok(SqsConfig {
            queue_url,
            max_messages_in_flight: int_in("sqs.max_messages_in_flight", self.max_messages_in_flight, 8, 1, 1000)?
                as usize,
            visibility_timeout: secs(int_in(
                "sqs.visibility_timeout_secs",
                self.visibility_timeout_secs,
                300,
                1,
                43_200,
            )?),
            wait_time: secs(int_in("sqs.wait_time_secs", self.wait_time_secs, 20, 0, 20)?),
            shutdown_grace: secs(int_in("sqs.shutdown_grace_secs", self.shutdown_grace_secs, 30, 0, 3600)?),
            allowlist: crate::route::Allowlist {
                buckets: self.allowed_buckets.map(StringList::into_vec).unwrap_or_default(),
                prefixes: self.allowed_prefixes.map(StringList::into_vec).unwrap_or_default(),
            },
            expected_bucket_owner: match non_empty(self.expected_bucket_owner) {
                Some(id) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => Some(id),
                Some(id) => {
                    return Err(ConfigError::new(
                        "sqs.expected_bucket_owner",
                        format!("{id:?} is not a 12-digit account id"),
                    ));
                }
                None => None,
            },
        })
    }
}

impl SqsConfig {
    /// The queue URL, which `trailship run` cannot do without.
    pub fn require_queue_url(&self) -> Result<&str, ConfigError> {
        self.queue_url.as_deref().ok_or_else(|| ConfigError::new("sqs.queue_url", "is required by trailship run"))
    }
}
