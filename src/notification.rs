//! SQS message bodies → the S3 objects they name. Pure; no I/O.
//!
//! Understood shapes: S3 event notifications sent straight to SQS (or through SNS with raw
//! delivery), SNS envelopes (`Type: Notification`, the S3 event as a JSON string in `Message`),
//! EventBridge `Object Created` events, CloudTrail's own SNS delivery notice
//! (`{"s3Bucket":…,"s3ObjectKey":[…]}`), and the `s3:TestEvent` S3 sends when a notification is
//! configured. A body is parsed once into a `serde_json::Value`: bodies are small and arrive once
//! per file, not per event.

use crate::source::ObjectRef;
use serde_json::Value;

/// What one SQS message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Objects were created: fetch and index them (after key routing).
    Objects(Vec<ObjectRef>),
    /// The `s3:TestEvent` S3 sends when a notification is configured: delete it.
    TestEvent,
    /// A well-formed notification about something other than object creation (deletes,
    /// restores, lifecycle transitions…): delete it. Holds the event names, for the log.
    Ignored(Vec<String>),
}

/// A body that is not a notification trailship understands. The message is left on the queue,
/// so the redrive policy eventually moves it to the dead-letter queue for a human to look at.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// The body (or an SNS `Message`) is not JSON.
    #[error("message body is not json: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but no known notification shape.
    #[error("unrecognised notification shape: {0}")]
    Unrecognised(String),
    /// A key that does not URL-decode to UTF-8.
    #[error("object key {} does not url-decode to utf-8", quoted(.0, 200))]
    BadKey(String),
}

/// Parses one SQS message body.
pub fn parse(body: &str) -> Result<Notification, NotificationError> {
    let value: Value = serde_json::from_str(body)?;
    parse_value(&value, 0)
}

fn parse_value(v: &Value, depth: u8) -> Result<Notification, NotificationError> {
    let obj = v.as_object().ok_or_else(|| NotificationError::Unrecognised("not a json object".into()))?;

    // SNS envelope (non-raw delivery): the payload is a JSON string in `Message`.
    if obj.get("Type").and_then(Value::as_str) == Some("Notification") && depth == 0 {
        let msg = obj
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| NotificationError::Unrecognised("sns envelope without a Message string".into()))?;
        let inner: Value = serde_json::from_str(msg)?;
        return parse_value(&inner, depth + 1);
    }

    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::TestEvent);
    }

    if let Some(records) = obj.get("Records") {
        return parse_s3_records(records);
    }

    if obj.get("source").and_then(Value::as_str) == Some("aws.s3") && obj.contains_key("detail-type") {
        return parse_eventbridge(obj);
    }

    if let (Some(bucket), Some(keys)) = (obj.get("s3Bucket"), obj.get("s3ObjectKey")) {
        return parse_cloudtrail_sns(bucket, keys);
    }

    let mut fields: Vec<&str> = obj.keys().map(String::as_str).take(8).collect();
    fields.sort_unstable();
    let fields: Vec<String> = fields.into_iter().map(|f| quoted(f, 40)).collect();
    Err(NotificationError::Unrecognised(format!("fields {}", fields.join(","))))
}

/// `text` quoted and escaped (one line whatever it holds), cut after `max` characters: for
/// messages that repeat what a sender wrote.
fn quoted(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => format!("{text:?}"),
        Some((end, _)) => format!("{:?}…", &text[..end]),
    }
}

fn parse_s3_records(records: &Value) -> Result<Notification, NotificationError> {
    let records =
        records.as_array().ok_or_else(|| NotificationError::Unrecognised("Records is not an array".into()))?;
    let mut objects = Vec::new();
    let mut ignored = Vec::new();
    for record in records {
        let name = record.get("eventName").and_then(Value::as_str).unwrap_or_default();
        let s3 = record.get("s3");
        let source = record.get("eventSource").and_then(Value::as_str);
        if source != Some("aws:s3") || s3.is_none() {
            return Err(NotificationError::Unrecognised(format!(
                "record from {} is not an s3 event notification",
                quoted(source.unwrap_or("?"), 40)
            )));
        }
        // `ObjectCreated:Put` from S3; some emulators and old docs prefix `s3:`.
        if !name.trim_start_matches("s3:").starts_with("ObjectCreated:") {
            ignored.push(name.to_owned());
            continue;
        }
        let bucket = s3.and_then(|s| s.pointer("/bucket/name")).and_then(Value::as_str);
        let key = s3.and_then(|s| s.pointer("/object/key")).and_then(Value::as_str);
        let (Some(bucket), Some(key)) = (bucket, key) else {
            return Err(NotificationError::Unrecognised("s3 record without bucket name or object key".into()));
        };
        let size = s3.and_then(|s| s.pointer("/object/size")).and_then(Value::as_u64);
        objects.push(ObjectRef { bucket: bucket.to_owned(), key: url_decode_key(key)?, size });
    }
    Ok(if objects.is_empty() { Notification::Ignored(ignored) } else { Notification::Objects(objects) })
}

fn parse_eventbridge(obj: &serde_json::Map<String, Value>) -> Result<Notification, NotificationError> {
    let detail_type = obj.get("detail-type").and_then(Value::as_str).unwrap_or_default();
    if detail_type != "Object Created" {
        return Ok(Notification::Ignored(vec![detail_type.to_owned()]));
    }
    let detail = obj.get("detail");
    let bucket = detail.and_then(|d| d.pointer("/bucket/name")).and_then(Value::as_str);
    let key = detail.and_then(|d| d.pointer("/object/key")).and_then(Value::as_str);
    let (Some(bucket), Some(key)) = (bucket, key) else {
        return Err(NotificationError::Unrecognised("eventbridge event without bucket name or object key".into()));
    };
    let size = detail.and_then(|d| d.pointer("/object/size")).and_then(Value::as_u64);
    Ok(Notification::Objects(vec![ObjectRef { bucket: bucket.to_owned(), key: url_decode_key(key)?, size }]))
}

/// CloudTrail's own "log file delivered" SNS notice. Its keys are plain, not URL-encoded.
fn parse_cloudtrail_sns(bucket: &Value, keys: &Value) -> Result<Notification, NotificationError> {
    let bucket = bucket.as_str().ok_or_else(|| NotificationError::Unrecognised("s3Bucket is not a string".into()))?;
    let keys = keys.as_array().ok_or_else(|| NotificationError::Unrecognised("s3ObjectKey is not an array".into()))?;
    let objects = keys
        .iter()
        .map(|k| {
            k.as_str()
                .map(|key| ObjectRef { bucket: bucket.to_owned(), key: key.to_owned(), size: None })
                .ok_or_else(|| NotificationError::Unrecognised("s3ObjectKey holds a non-string".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if objects.is_empty() { Notification::Ignored(Vec::new()) } else { Notification::Objects(objects) })
}

/// Decodes a notification key: `+` is a space, `%XX` a byte.
pub fn url_decode_key(key: &str) -> Result<String, NotificationError> {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| NotificationError::BadKey(key.to_owned()))
}

#[cfg(test)]
#[path = "notification_tests.rs"]
mod tests;
