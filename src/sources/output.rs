//! What every log source decodes into: the shared tools and limits ([`Decoding`]), the counts
//! of one object ([`DecodeStats`]), why decoding stops early ([`ObjectError`]), a source's
//! plausible event times ([`EventWindow`]), and the dead letter of a record that cannot become a
//! document. A source's own decoder writes its batches with these, so every source cuts batches,
//! counts and dead-letters the same way.

use crate::decode::{DecodeError, FrameLimits};
use crate::index::bulk::{Batch, BatchBuilder, BatchLimits, ItemKind};
use crate::index::deadletter;
pub use crate::watch::{Stop, Watch};
use std::sync::Arc;
use std::time::Duration;

/// Counts for one decoded object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    /// Records read.
    pub events: usize,
    /// Records that could not become documents (dead-lettered before indexing).
    pub invalid: usize,
    /// Batches emitted.
    pub batches: usize,
    /// The newest `eventTime` among the events, as Unix seconds.
    pub newest_event: Option<i64>,
    /// The oldest `eventTime` among the events, as Unix seconds.
    pub oldest_event: Option<i64>,
    /// Alert documents made (one per rule matched by an event).
    pub alerts: usize,
    /// Records a filter rule dropped (not indexed; their alerts are).
    pub dropped: usize,
}

/// The receiver of batches went away (shutdown): stop decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Why decoding an object stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The file is corrupt, too large, or not a log of its source.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The batch receiver is gone.
    #[error("pipeline is shutting down")]
    Closed,
    /// The shutdown grace period is over.
    #[error("cancelled at shutdown")]
    Cancelled,
    /// The object took longer than `limits.max_object_seconds`.
    #[error("not done after {} s (limits.max_object_seconds)", .0.as_secs())]
    TimedOut(Duration),
    /// No log source claims the object (what it is instead: `digest`, `other`).
    #[error("not a log of any source ({0})")]
    NotALog(&'static str),
}

impl From<Closed> for ObjectError {
    fn from(_: Closed) -> Self {
        ObjectError::Closed
    }
}

impl From<Stop> for ObjectError {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Cancelled => ObjectError::Cancelled,
            Stop::TimedOut(limit) => ObjectError::TimedOut(limit),
        }
    }
}

/// What every source decodes with: batch and record caps, the index naming all sources share,
/// and the batch buffers.
#[derive(Debug, Clone)]
pub struct Decoding {
    /// Batch caps.
    pub limits: BatchLimits,
    /// Record and decompressed-size caps.
    pub frame: FrameLimits,
    /// A day or a month per event, access log and alert index (`opensearch.index_period`).
    pub index_period: crate::config::IndexPeriod,
    /// Dead-letter index.
    pub deadletter_index: String,
    /// The batch buffers kept for the next batches, shared by every object this decoder reads.
    pub pool: Arc<crate::index::buffers::Pool>,
}

/// The plausible event times of one log source: a forged or broken file must not create an
/// index per day of the calendar. Days are compared as the daily index suffix `YYYY.MM.DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventWindow {
    /// The oldest day accepted.
    pub oldest: [u8; 10],
    /// The configuration key that sets `oldest`, for the dead letter's reason.
    pub oldest_key: &'static str,
    /// How many days after today (UTC) are accepted.
    pub days_ahead: u32,
}

impl EventWindow {
    /// The newest day accepted now.
    pub fn newest(&self) -> [u8; 10] {
        let day = chrono::Utc::now() + chrono::Duration::days(i64::from(self.days_ahead));
        let text = day.format("%Y.%m.%d").to_string();
        text.as_bytes().try_into().unwrap_or(*b"9999.12.31")
    }
}

/// A record that cannot become a document.
pub struct Invalid<'a> {
    /// The dead letter's `error_type`.
    pub error_type: &'a str,
    /// Why, in one line.
    pub reason: String,
    /// The record's id, when it has one.
    pub event_id: Option<&'a str>,
    /// The record's bytes (or their start).
    pub raw: &'a [u8],
    /// Set when `raw` is only the start of the record.
    pub size: Option<u64>,
}

impl Decoding {
    /// Why a record's time is outside `window` (its oldest day to `newest`).
    pub fn outside_window(what: &str, timestamp: &str, window: &EventWindow, newest: &[u8; 10]) -> String {
        let day = |d: &[u8; 10]| String::from_utf8_lossy(d).replace('.', "-");
        format!(
            "{what} {timestamp} is outside {} to {} ({}, limits.event_days_ahead)",
            day(&window.oldest),
            day(newest),
            window.oldest_key
        )
    }

    /// Adds the dead-letter record of a record that cannot become a document.
    pub fn dead_letter(&self, builder: &mut BatchBuilder, stats: &mut DecodeStats, bad: Invalid) -> Option<Batch> {
        stats.invalid += 1;
        let origin = builder.origin().clone();
        tracing::warn!(%origin, record = stats.events, error_type = bad.error_type, reason = %bad.reason, "invalid record, dead-lettering it");
        let raw_text = String::from_utf8_lossy(bad.raw);
        let key = origin.key();
        let dead = deadletter::DeadLetter {
            timestamp: &deadletter::now(),
            error_type: bad.error_type,
            reason: &bad.reason,
            status: None,
            target_index: None,
            event_id: bad.event_id,
            source: deadletter::SourceRef { bucket: origin.bucket(), key: &key },
            event: &raw_text,
            event_size: bad.size,
        };
        builder.push(
            ItemKind::DeadLetter,
            |o| deadletter::write_action(o, &self.deadletter_index, dead.event_id, &origin, bad.raw),
            |o| deadletter::write_document(o, &dead),
            bad.raw,
        )
    }
}

/// Hands a full batch to `emit`, counting it.
pub fn send(
    full: Option<Batch>,
    stats: &mut DecodeStats,
    emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
) -> Result<(), Closed> {
    if let Some(batch) = full {
        stats.batches += 1;
        emit(batch)?;
    }
    Ok(())
}

/// The oldest and newest event times of a file so far: canonical UTC RFC 3339, so the string
/// order is the time order (to the second).
#[derive(Debug, Default)]
pub struct Span {
    oldest: String,
    newest: String,
}

impl Span {
    /// Widens the span to `timestamp`.
    pub fn see(&mut self, timestamp: &str) {
        if timestamp > self.newest.as_str() {
            self.newest.clear();
            self.newest.push_str(timestamp);
        }
        if self.oldest.is_empty() || timestamp < self.oldest.as_str() {
            self.oldest.clear();
            self.oldest.push_str(timestamp);
        }
    }

    /// `(oldest, newest)`.
    pub fn ends(&self) -> (&str, &str) {
        (&self.oldest, &self.newest)
    }
}

/// Sends the last batch and records the oldest and newest times seen (canonical RFC 3339 UTC).
pub fn finish(
    builder: BatchBuilder,
    mut stats: DecodeStats,
    (oldest, newest): (&str, &str),
    emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
) -> Result<DecodeStats, ObjectError> {
    send(builder.finish(), &mut stats, emit)?;
    let secs = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok().map(|t| t.timestamp());
    (stats.oldest_event, stats.newest_event) = (secs(oldest), secs(newest));
    Ok(stats)
}
