//! `backfill --enqueue`: the S3 event notification a listed object would have produced, so that
//! `trailship run` (the whole fleet) handles it exactly like a delivered file.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What S3 leaves unescaped in a notification's key (besides alphanumerics); a space becomes
/// `+`, as S3 writes it.
const KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/').remove(b' ');

/// The notification body for `bucket`/`key` (`size` bytes), as S3 sends it to SQS.
pub fn notification(bucket: &str, key: &str, size: u64, region: &str, now: &str) -> String {
    let encoded = utf8_percent_encode(key, KEY).to_string().replace(' ', "+");
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": region,
            "eventTime": now,
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "trailship-backfill"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "trailship-backfill",
                "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                "object": {"key": encoded, "size": size}
            }
        }]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{Notification, parse};

    #[test]
    fn the_worker_reads_back_exactly_the_object() {
        for key in [
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/111122223333_CloudTrail_us-east-1_20240801T0000Z_a.json.gz",
            "trail logs+x/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2024/08/01/f%1 é.json.gz",
        ] {
            let body = notification("org-trail", key, 1234, "us-east-1", "2026-12-01T00:00:00.000Z");
            let Ok(Notification::Objects(objects)) = parse(&body) else { panic!("{body}") };
            assert_eq!(objects.len(), 1);
            assert_eq!((objects[0].bucket.as_str(), objects[0].key.as_str()), ("org-trail", key));
            assert_eq!(objects[0].size, Some(1234));
        }
    }
}
