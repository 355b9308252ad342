//! Dead-letter records: what could not be indexed, why, and the raw event. Pure.
//!
//! The dead-letter index stores the raw event as an unindexed string, so it can never itself
//! hit a mapping conflict; an operator can fix the cause and re-ingest from it.

use crate::source::Origin;
use serde::Serialize;

/// One record for the dead-letter index.
#[derive(Debug, Serialize)]
pub struct DeadLetter<'a> {
    /// When trailship gave up on the event (UTC, RFC 3339).
    #[serde(rename = "@timestamp")]
    pub timestamp: &'a str,
    /// Machine-readable cause: an OpenSearch error type or a trailship check.
    pub error_type: &'a str,
    /// Human-readable cause.
    pub reason: &'a str,
    /// HTTP status of the refused item, when OpenSearch refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The index the event was meant for, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_index: Option<&'a str>,
    /// The event's `eventID`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<&'a str>,
    /// Where the event came from.
    pub source: SourceRef<'a>,
    /// The original record, as it was in the log file (only its start when `event_size` is set).
    pub event: &'a str,
    /// The full size in bytes of a record too large to keep whole: `event` is its start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_size: Option<u64>,
}

/// The object an event came from.
#[derive(Debug, Serialize)]
pub struct SourceRef<'a> {
    /// Bucket (empty for a local file).
    pub bucket: &'a str,
    /// Key, or the local path.
    pub key: &'a str,
}

/// Writes the `create` action for a dead-letter record. The `_id` is the event's id when it has
/// one, else a hash of the raw record, so a redelivery does not record the same failure twice.
pub fn write_action(out: &mut Vec<u8>, deadletter_index: &str, event_id: Option<&str>, origin: &Origin, raw: &[u8]) {
    let id = match event_id {
        Some(id) if id.len() <= 480 => id.to_owned(),
        _ => format!("raw-{:016x}", fnv1a(&[origin.bucket().as_bytes(), origin.key().as_bytes(), raw])),
    };
    let action = serde_json::json!({"create": {"_index": deadletter_index, "_id": id}});
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &action);
}

/// Writes the dead-letter document.
pub fn write_document(out: &mut Vec<u8>, record: &DeadLetter<'_>) {
    let _ = serde_json::to_writer(&mut *out, record);
}

/// The current time as the dead-letter `@timestamp`.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// FNV-1a, 64 bits: a stable, dependency-free content hash for ids and digests.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn record_holds_cause_target_source_and_raw_event() {
        let origin = Origin::S3 { bucket: "b".into(), key: "AWSLogs/1/CloudTrail/x.json.gz".into() };
        let raw = br#"{"eventID":"e1","readOnly":"maybe"}"#;
        let mut out = Vec::new();
        write_action(&mut out, "trailship-deadletter", Some("e1"), &origin, raw);
        let action: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(action["create"]["_index"], "trailship-deadletter");
        assert_eq!(action["create"]["_id"], "e1");

        let mut doc = Vec::new();
        let raw_str = std::str::from_utf8(raw).unwrap();
        let rec = DeadLetter {
            timestamp: "2026-01-01T00:00:00.000Z",
            error_type: "mapper_parsing_exception",
            reason: "failed to parse field [readOnly]",
            status: Some(400),
            target_index: Some("cloudtrail-2024.08.01"),
            event_id: Some("e1"),
            source: SourceRef { bucket: origin.bucket(), key: &origin.key() },
            event: raw_str,
            event_size: None,
        };
        write_document(&mut doc, &rec);
        let doc: Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(doc["status"], 400);
        assert_eq!(doc["source"]["key"], "AWSLogs/1/CloudTrail/x.json.gz");
        assert_eq!(serde_json::from_str::<Value>(doc["event"].as_str().unwrap()).unwrap()["readOnly"], "maybe");
    }

    #[test]
    fn records_without_event_id_get_a_stable_content_id() {
        let origin = Origin::File("/tmp/x.json".into());
        let id = |raw: &[u8]| {
            let mut out = Vec::new();
            write_action(&mut out, "dl", None, &origin, raw);
            serde_json::from_slice::<Value>(&out).unwrap()["create"]["_id"].as_str().unwrap().to_owned()
        };
        assert_eq!(id(b"{\"a\":1}"), id(b"{\"a\":1}"));
        assert_ne!(id(b"{\"a\":1}"), id(b"{\"a\":2}"));
        assert!(id(b"{}").starts_with("raw-"));
    }

    #[test]
    fn an_event_id_is_the_id_up_to_480_bytes_and_a_longer_one_is_hashed() {
        // OpenSearch refuses an _id over 512 bytes; an id a record chose longer than 480 bytes
        // would fail the dead letter in turn.
        let origin = Origin::File("/tmp/x.json".into());
        let id = |event_id: &str| {
            let mut out = Vec::new();
            write_action(&mut out, "dl", Some(event_id), &origin, b"{}");
            serde_json::from_slice::<Value>(&out).unwrap()["create"]["_id"].as_str().unwrap().to_owned()
        };
        let longest = "e".repeat(480);
        assert_eq!(id(&longest), longest);
        let longer = "e".repeat(481);
        assert_eq!(id(&longer), id(&"f".repeat(481)), "the content decides, not the too-long id");
        assert!(id(&longer).starts_with("raw-"));
    }

    #[test]
    fn the_content_hash_is_fnv1a_with_each_part_closed() {
        // FNV-1a's published offset basis and prime: "a" → af63dc4c8601ec8c.
        let fnv = |bytes: &[u8]| {
            bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        };
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(&[b"a"]), fnv(b"a\xff"), "each part is closed by a 0xff byte");
        assert_eq!(fnv1a(&[b"ab", b"c"]), fnv(b"ab\xffc\xff"));
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]), "where the bucket ends and the key starts counts");
    }

    #[test]
    fn now_is_utc_with_milliseconds() {
        let before = chrono::Utc::now() - chrono::Duration::seconds(1);
        let t = now();
        assert_eq!(t.len(), "2026-01-01T00:00:00.000Z".len(), "{t}");
        let parsed = chrono::DateTime::parse_from_rfc3339(&t).unwrap();
        assert!(parsed >= before && parsed <= chrono::Utc::now(), "{t}");
    }
}
