//! One log file → batches: gunzip, frame, parse, build documents, cut batches (S3 server
//! access log files, routed by name, take the line path in [`access`]). Synchronous and
//! free of I/O beyond the reader it is given; the pipeline runs it on a blocking thread. A bad
//! record (not a JSON object, over the record limit, no usable id or time) is dead-lettered and
//! the file goes on; only a broken container fails it. Cancellation and the object's deadline
//! are checked between records.

use crate::decode::{DecodeError, FrameLimits, Framed, RawEvent, RecordReader, maybe_gunzip};
use crate::enrich::Enricher;
use crate::index::bulk::{Batch, BatchBuilder, BatchLimits, ItemKind, write_create_action};
use crate::index::deadletter;
use crate::source::Origin;
pub use crate::watch::{Stop, Watch};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

mod access;

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
}

/// The receiver of batches went away (shutdown): stop decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Why decoding an object stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The file is corrupt, too large, or not a CloudTrail log.
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

/// Everything needed to turn a file into batches.
#[derive(Debug, Clone)]
pub struct ObjectDecoder {
    /// Builds documents.
    pub enricher: Enricher,
    /// Batch caps.
    pub limits: BatchLimits,
    /// Record and decompressed-size caps.
    pub frame: FrameLimits,
    /// The CloudTrail event times that may become indices.
    pub window: EventWindow,
    /// The S3 server access log times that may become indices.
    pub access_window: EventWindow,
    /// Event index prefix.
    pub index_prefix: String,
    /// A day or a month per event, access log and alert index (`opensearch.index_period`).
    pub index_period: crate::config::IndexPeriod,
    /// Daily index prefix of S3 server access logs (`s3access.index_prefix`).
    pub access_index_prefix: String,
    /// Dead-letter index.
    pub deadletter_index: String,
    /// Which keys are access logs (`s3access.prefixes` besides the names).
    pub router: crate::route::Router,
    /// The Sigma rules every CloudTrail record is checked against; none when empty.
    pub detector: Arc<crate::detect::Detector>,
    /// Daily index prefix of alert documents (`alerts.index_prefix`).
    pub alerts_index_prefix: String,
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
    /// CloudTrail's default: from 2013-01-01 (CloudTrail was launched in November 2013) to one
    /// day ahead.
    pub fn cloudtrail() -> Self {
        EventWindow { oldest: *b"2013.01.01", oldest_key: "limits.oldest_event_date", days_ahead: 1 }
    }

    /// S3 server access logs' default: from 2006-03-01 (Amazon S3 was launched in March 2006,
    /// with server access logging) to one day ahead.
    pub fn s3access() -> Self {
        EventWindow { oldest: *b"2006.03.01", oldest_key: "s3access.oldest_event_date", days_ahead: 1 }
    }

    /// The newest day accepted now.
    fn newest(&self) -> [u8; 10] {
        let day = chrono::Utc::now() + chrono::Duration::days(i64::from(self.days_ahead));
        let text = day.format("%Y.%m.%d").to_string();
        text.as_bytes().try_into().unwrap_or(*b"9999.12.31")
    }
}

/// A record that cannot become a document.
struct Invalid<'a> {
    error_type: &'a str,
    reason: String,
    event_id: Option<&'a str>,
    raw: &'a [u8],
    /// Set when `raw` is only the start of the record.
    size: Option<u64>,
}

impl ObjectDecoder {
    /// Decodes `reader` (gzip or plain) and hands every full batch to `emit`.
    pub fn decode<R: Read + Send>(
        &self,
        reader: R,
        origin: Arc<Origin>,
        watch: &Watch,
        emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
    ) -> Result<DecodeStats, ObjectError> {
        let kind = match &*origin {
            Origin::S3 { key, .. } => self.router.classify_key(key),
            Origin::File(path) => crate::route::classify_local_path(path),
        };
        if kind == crate::route::LogKind::S3Access {
            return self.decode_access_log(reader, origin, watch, emit);
        }
        let mut records = RecordReader::with_limits(maybe_gunzip(reader).map_err(DecodeError::Io)?, self.frame);
        let mut builder = BatchBuilder::with_pool(self.limits, origin.clone(), self.pool.clone());
        let mut stats = DecodeStats::default();
        let mut span = Span::default();
        let newest_day = self.window.newest();
        // The rules each record matched, one vector for all of them.
        let mut matches = Vec::new();
        while let Some(framed) = records.next_record()? {
            watch.check()?;
            stats.events += 1;
            let full = match framed {
                Framed::TooLarge { offset, size, head } => {
                    let reason = format!(
                        "record {} at byte {offset} is {size} bytes, over limits.max_record_bytes ({})",
                        stats.events, self.frame.max_record_bytes
                    );
                    let bad =
                        Invalid { error_type: "record_too_large", reason, event_id: None, raw: head, size: Some(size) };
                    self.dead_letter(&mut builder, &mut stats, bad)
                }
                Framed::Record { offset, bytes } => {
                    let mut at = Record { builder: &mut builder, stats: &mut stats, span: &mut span, emit };
                    self.push_record(&mut at, (offset, bytes), &newest_day, &mut matches)?
                }
            };
            send(full, &mut stats, emit)?;
        }
        finish(builder, stats, span.ends(), emit)
    }

    /// One framed CloudTrail record: its event document and alert documents, or its dead
    /// letter. Returns a full batch when one is, like [`BatchBuilder::push`].
    fn push_record(
        &self,
        at: &mut Record<'_, '_>,
        (offset, bytes): (u64, &[u8]),
        newest_day: &[u8; 10],
        matches: &mut Vec<crate::detect::Match>,
    ) -> Result<Option<Batch>, Closed> {
        let event = match RawEvent::parse(bytes) {
            Ok(event) => event,
            Err(e) => {
                let reason = format!("record {} at byte {offset} is not a valid json object: {e}", at.stats.events);
                let bad = Invalid { error_type: "invalid_record", reason, event_id: None, raw: bytes, size: None };
                return Ok(self.dead_letter(at.builder, at.stats, bad));
            }
        };
        let target = match self.enricher.target(&event) {
            Ok(target) if target.date < self.window.oldest || target.date > *newest_day => {
                let event_id = event.get_str("eventID");
                let reason = Self::outside_window("eventTime", &target.timestamp, &self.window, newest_day);
                let bad = Invalid {
                    error_type: "implausible_event_time",
                    reason,
                    event_id: event_id.as_deref(),
                    raw: bytes,
                    size: None,
                };
                return Ok(self.dead_letter(at.builder, at.stats, bad));
            }
            Ok(target) => target,
            Err(e) => {
                let event_id = event.get_str("eventID");
                let bad = Invalid {
                    error_type: e.kind(),
                    reason: e.to_string(),
                    event_id: event_id.as_deref(),
                    raw: bytes,
                    size: None,
                };
                return Ok(self.dead_letter(at.builder, at.stats, bad));
            }
        };
        at.span.see(&target.timestamp);
        self.detector.matches_into(&event, matches);
        let mut subject = None;
        let full = at.builder.push(
            ItemKind::Event,
            |o| write_create_action(o, &self.index_prefix, self.index_period.suffix(target.date_str()), target.id_json),
            |o| subject = self.enricher.write_document(&event, &target, matches, o),
            bytes,
        );
        match subject {
            None => Ok(full),
            Some(subject) => {
                send(full, at.stats, at.emit)?;
                self.push_alerts(at.builder, at.stats, (subject, &target, bytes), matches, at.emit)
            }
        }
    }

    /// Adds one alert document per rule in `matches` after the event's own document, sending
    /// all but the last batch this fills; the last is returned like [`BatchBuilder::push`]'s.
    fn push_alerts(
        &self,
        builder: &mut BatchBuilder,
        stats: &mut DecodeStats,
        (subject, target, raw): (crate::enrich::alert::AlertSubject, &crate::enrich::Target<'_>, &[u8]),
        matches: &[crate::detect::Match],
        emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
    ) -> Result<Option<Batch>, Closed> {
        let suffix = self.index_period.suffix(target.date_str());
        let alerts = subject.alerts(&self.index_prefix, suffix);
        let mut full = None;
        for m in matches {
            send(full.take(), stats, emit)?;
            stats.alerts += 1;
            let id = alerts.id(m);
            full = builder.push(
                ItemKind::Alert,
                |o| write_create_action(o, &self.alerts_index_prefix, suffix, &id),
                |o| alerts.write(m, o),
                raw,
            );
        }
        Ok(full)
    }

    /// Why a record's time is outside `window` (its oldest day to `newest`).
    fn outside_window(what: &str, timestamp: &str, window: &EventWindow, newest: &[u8; 10]) -> String {
        let day = |d: &[u8; 10]| String::from_utf8_lossy(d).replace('.', "-");
        format!(
            "{what} {timestamp} is outside {} to {} ({}, limits.event_days_ahead)",
            day(&window.oldest),
            day(newest),
            window.oldest_key
        )
    }

    /// Adds the dead-letter record of a record that cannot become a document.
    fn dead_letter(&self, builder: &mut BatchBuilder, stats: &mut DecodeStats, bad: Invalid) -> Option<Batch> {
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
fn send(
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
pub(super) struct Span {
    oldest: String,
    newest: String,
}

impl Span {
    /// Widens the span to `timestamp`.
    pub(super) fn see(&mut self, timestamp: &str) {
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
    pub(super) fn ends(&self) -> (&str, &str) {
        (&self.oldest, &self.newest)
    }
}

/// Where a record of a file goes: the file's batches, counts, time span and batch sink.
struct Record<'a, 'e> {
    builder: &'a mut BatchBuilder,
    stats: &'a mut DecodeStats,
    span: &'a mut Span,
    emit: &'a mut (dyn FnMut(Batch) -> Result<(), Closed> + 'e),
}

/// Sends the last batch and records the oldest and newest times seen (canonical RFC 3339 UTC).
fn finish(
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

#[cfg(test)]
#[path = "object_tests.rs"]
mod tests;
