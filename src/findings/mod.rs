//! Findings: alert documents made from what is indexed rather than from one record: the
//! grouped alerts ([`group`]: one per rule, identity (`user.principal`), account and
//! `alerts.group_window` for the rules of `alerts.group_levels`, counting the events the rule
//! matched there), the bursts of Sigma correlation rules ([`correlate`]) and the built-in
//! behavioural detections ([`behaviour`]).
//!
//! A finding's `_id` is derived from what it is about and it is written with an external
//! version that only grows (the number of events it covers), so every worker's pass, run any
//! number of times and in any order, converges on the same documents: a stale count cannot
//! overwrite a larger one, an equal one is a no-op, and only the write that creates a
//! document (`201`) announces it. Pure: the queries, the documents and the reading of the bulk
//! answer; the requests are made in [`pass`].

pub mod behave;
pub mod behaviour;
pub mod correlate;
pub mod group;
pub mod pass;

use crate::config::IndexPeriod;
use crate::detect::{Level, Match};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The event fields an alert document copies from the event it is about (the shape of a single
/// alert).
pub const COPIED: [&str; 6] = ["eventID", "eventName", "eventSource", "user", "source", "cloud"];

/// What a findings pass needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The CloudTrail event indices, as a pattern (`cloudtrail-*`).
    pub events: String,
    /// The alert indices' prefix (`alerts.index_prefix`).
    pub alerts_prefix: String,
    /// A day or a month per alert index.
    pub period: IndexPeriod,
    /// The grouped alerts' window (`alerts.group_window`).
    pub group_window: Duration,
    /// The rules whose matches are grouped.
    pub grouped: Vec<Match>,
    /// The correlation rules.
    pub correlations: Vec<crate::detect::correlation::Correlation>,
    /// The behavioural detections' knobs, when they run (`anomalies.enabled`).
    pub behaviour: Option<crate::config::AnomaliesConfig>,
}

impl Settings {
    /// Whether a pass has anything to compute.
    pub fn is_empty(&self) -> bool {
        self.grouped.is_empty() && self.correlations.is_empty() && self.behaviour.is_none()
    }
}

/// One alert document to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The alert index it goes to (by the event time it is about).
    pub index: String,
    /// Its `_id`.
    pub id: String,
    /// Its external version: grows with what it covers.
    pub version: u64,
    /// Its level, for notification.
    pub level: Level,
    /// The newest event time it covers (Unix seconds), for `alerts.max_notify_age`.
    pub newest: i64,
    /// The document.
    pub doc: Value,
}

/// A finding id: `{kind}-` and 32 hex digits of the SHA-256 of its parts.
pub fn finding_id(kind: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0xff]);
    }
    let digest = hash.finalize();
    let mut id = String::with_capacity(kind.len() + 33);
    id.push_str(kind);
    id.push('-');
    for b in &digest[..16] {
        id.push(char::from_digit(u32::from(b >> 4), 16).expect("a nibble"));
        id.push(char::from_digit(u32::from(b & 15), 16).expect("a nibble"));
    }
    id
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

/// The alert index of an event time (Unix seconds).
pub fn alert_index(settings: &Settings, secs: i64) -> String {
    let day = chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%Y.%m.%d").to_string()).unwrap_or_default();
    format!("{}-{}", settings.alerts_prefix, settings.period.suffix(&day))
}

/// The `_bulk` body writing `findings`, each under its external version.
pub fn write_actions(findings: &[Finding]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in findings {
        let action =
            json!({"index": {"_index": f.index, "_id": f.id, "version": f.version, "version_type": "external"}});
        serde_json::to_writer(&mut out, &action).expect("json serializes");
        out.push(b'\n');
        serde_json::to_writer(&mut out, &f.doc).expect("json serializes");
        out.push(b'\n');
    }
    out
}

/// What became of the findings written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// The positions of the findings created by this write: they are announced.
    pub created: Vec<usize>,
    /// Findings updated to a larger count.
    pub updated: usize,
    /// Findings already there with this count or a larger one (another pass was first).
    pub current: usize,
}

/// Reads the `_bulk` answer to [`write_actions`] item by item: `201` created, `200` updated,
/// `409` already current; anything else fails the write (the pass gives its hours back).
pub fn read_answer(answer: &[u8], expected: usize) -> Result<Written, String> {
    let answer: Value = serde_json::from_slice(answer).map_err(|e| format!("unreadable _bulk answer: {e}"))?;
    let items = answer["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.len() != expected {
        return Err(format!("{} items answered for {expected}", items.len()));
    }
    let mut written = Written::default();
    for (i, item) in items.iter().enumerate() {
        match item["index"]["status"].as_u64() {
            Some(201) => written.created.push(i),
            Some(200) => written.updated += 1,
            Some(409) => written.current += 1,
            _ => {
                let text: String = item.to_string().chars().take(300).collect();
                return Err(format!("a finding was refused: {text}"));
            }
        }
    }
    Ok(written)
}

#[cfg(test)]
pub(crate) mod tests;
