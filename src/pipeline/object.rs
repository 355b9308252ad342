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
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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

/// When the work on one object must stop: at shutdown, or once fetching and decoding it took
/// longer than its limit. Time spent waiting for the indexers (a slow or blocked cluster) does
/// not count: it pushes the deadline back.
#[derive(Debug)]
pub struct Watch {
    /// Cancelled when the shutdown grace period is over.
    pub cancel: CancellationToken,
    /// When the work started.
    pub started: Instant,
    /// The time the work may take (`limits.max_object_seconds`).
    pub limit: Duration,
    /// Nanoseconds spent waiting for the indexers so far.
    waited: AtomicU64,
}

impl Watch {
    /// A watch with `limit` from now.
    pub fn new(cancel: CancellationToken, limit: Duration) -> Self {
        Watch { cancel, started: Instant::now(), limit, waited: AtomicU64::new(0) }
    }

    /// The deadline now.
    pub fn deadline(&self) -> Instant {
        self.started + self.limit + Duration::from_nanos(self.waited.load(Ordering::Relaxed))
    }

    /// Pushes the deadline back by `waited`, spent waiting for the indexers.
    pub fn waited(&self, waited: Duration) {
        self.waited.fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }

    /// `Err` once cancelled or past the deadline.
    pub fn check(&self) -> Result<(), ObjectError> {
        if self.cancel.is_cancelled() {
            return Err(ObjectError::Cancelled);
        }
        if Instant::now() >= self.deadline() {
            return Err(ObjectError::TimedOut(self.limit));
        }
        Ok(())
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
    /// The event times that may become daily indices.
    pub window: EventWindow,
    /// Daily index prefix.
    pub index_prefix: String,
    /// Daily index prefix of S3 server access logs (`s3access.index_prefix`).
    pub access_index_prefix: String,
    /// Dead-letter index.
    pub deadletter_index: String,
    /// Which keys are access logs (`s3access.prefixes` besides the names).
    pub router: crate::route::Router,
    /// The Sigma rules every CloudTrail record is checked against; none when empty.
    pub detector: Arc<crate::detect::Detector>,
}

/// The plausible event times: a forged or broken file must not create an index per day of the
/// calendar. Days are compared as the daily index suffix `YYYY.MM.DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventWindow {
    /// The oldest day accepted.
    pub oldest: [u8; 10],
    /// How many days after today (UTC) are accepted.
    pub days_ahead: u32,
}

impl Default for EventWindow {
    /// From 2013-01-01 (CloudTrail was launched in November 2013) to one day ahead.
    fn default() -> Self {
        EventWindow { oldest: *b"2013.01.01", days_ahead: 1 }
    }
}

impl EventWindow {
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
        let mut builder = BatchBuilder::new(self.limits, origin.clone());
        let mut stats = DecodeStats::default();
        // The newest @timestamp so far: canonical UTC RFC 3339, so the string order is the time
        // order (to the second).
        let mut newest = String::new();
        let (oldest_day, newest_day) = (self.window.oldest, self.window.newest());
        while let Some(framed) = records.next_record()? {
            watch.check()?;
            stats.events += 1;
            let n = stats.events;
            let full = match framed {
                Framed::TooLarge { offset, size, head } => self.dead_letter(
                    &mut builder,
                    &mut stats,
                    Invalid {
                        error_type: "record_too_large",
                        reason: format!(
                            "record {n} at byte {offset} is {size} bytes, over limits.max_record_bytes ({})",
                            self.frame.max_record_bytes
                        ),
                        event_id: None,
                        raw: head,
                        size: Some(size),
                    },
                ),
                Framed::Record { offset, bytes } => match RawEvent::parse(bytes) {
                    Err(e) => self.dead_letter(
                        &mut builder,
                        &mut stats,
                        Invalid {
                            error_type: "invalid_record",
                            reason: format!("record {n} at byte {offset} is not a valid json object: {e}"),
                            event_id: None,
                            raw: bytes,
                            size: None,
                        },
                    ),
                    Ok(event) => match self.enricher.target(&event) {
                        Ok(target) if target.date < oldest_day || target.date > newest_day => {
                            let event_id = event.get_str("eventID");
                            self.dead_letter(
                                &mut builder,
                                &mut stats,
                                Invalid {
                                    error_type: "implausible_event_time",
                                    reason: Self::outside_window(
                                        "eventTime",
                                        &target.timestamp,
                                        &oldest_day,
                                        &newest_day,
                                    ),
                                    event_id: event_id.as_deref(),
                                    raw: bytes,
                                    size: None,
                                },
                            )
                        }
                        Ok(target) => {
                            if *target.timestamp > *newest {
                                newest.clear();
                                newest.push_str(&target.timestamp);
                            }
                            let matches = self.detector.matches(&event);
                            builder.push(
                                ItemKind::Event,
                                |o| write_create_action(o, &self.index_prefix, target.date_str(), target.id_json),
                                |o| self.enricher.write_document(&event, &target, &matches, o),
                                bytes,
                            )
                        }
                        Err(e) => {
                            let event_id = event.get_str("eventID");
                            self.dead_letter(
                                &mut builder,
                                &mut stats,
                                Invalid {
                                    error_type: e.kind(),
                                    reason: e.to_string(),
                                    event_id: event_id.as_deref(),
                                    raw: bytes,
                                    size: None,
                                },
                            )
                        }
                    },
                },
            };
            send(full, &mut stats, emit)?;
        }
        finish(builder, stats, &newest, emit)
    }

    /// Why a record's time is outside [`EventWindow`] (`oldest` to `newest` day).
    fn outside_window(what: &str, timestamp: &str, oldest: &[u8; 10], newest: &[u8; 10]) -> String {
        let day = |d: &[u8; 10]| String::from_utf8_lossy(d).replace('.', "-");
        format!(
            "{what} {timestamp} is outside {} to {} (limits.oldest_event_date, limits.event_days_ahead)",
            day(oldest),
            day(newest)
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

/// Sends the last batch and records the newest time seen (canonical RFC 3339 UTC).
fn finish(
    builder: BatchBuilder,
    mut stats: DecodeStats,
    newest: &str,
    emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
) -> Result<DecodeStats, ObjectError> {
    send(builder.finish(), &mut stats, emit)?;
    stats.newest_event = chrono::DateTime::parse_from_rfc3339(newest).ok().map(|t| t.timestamp());
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn decoder(max_actions: usize) -> ObjectDecoder {
        crate::testing::decoder(max_actions, 64 << 10)
    }

    /// Decodes `file` as `f.json` with batches of `max_actions`; the stats and every batch.
    fn decode_all(max_actions: usize, file: &[u8]) -> (DecodeStats, Vec<Batch>) {
        let mut batches = Vec::new();
        let origin = Arc::new(Origin::File("f.json".into()));
        let stats = decoder(max_actions)
            .decode(file, origin, &watch(), &mut |b| {
                batches.push(b);
                Ok(())
            })
            .unwrap();
        (stats, batches)
    }

    fn watch() -> Watch {
        Watch::new(CancellationToken::new(), Duration::from_secs(60))
    }

    fn lines(batches: &[Batch]) -> Vec<Value> {
        batches
            .iter()
            .flat_map(|b| {
                b.body.split(|c| *c == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap())
            })
            .collect()
    }

    #[test]
    fn a_file_becomes_create_actions_in_daily_indices() {
        let file = br#"{"Records":[
            {"eventID":"a","eventTime":"2024-08-01T23:59:59Z","eventName":"RunInstances"},
            {"eventID":"b","eventTime":"2024-08-02T00:00:00Z","eventName":"StopInstances"},
            {"eventTime":"2024-08-02T00:00:01Z","eventName":"NoId"}
        ]}"#;
        let (stats, batches) = decode_all(2, &file[..]);
        assert_eq!(stats, DecodeStats { events: 3, invalid: 1, batches: 2, newest_event: Some(1_722_556_800) });
        let l = lines(&batches);
        assert_eq!(l[0]["create"]["_index"], "cloudtrail-2024.08.01");
        assert_eq!(l[0]["create"]["_id"], "a");
        assert_eq!(l[1]["eventName"], "RunInstances");
        assert_eq!(l[2]["create"]["_index"], "cloudtrail-2024.08.02");
        assert_eq!(l[4]["create"]["_index"], "trailship-deadletter");
        assert_eq!(l[5]["error_type"], "missing_event_id");
        assert_eq!(l[5]["source"]["key"], "f.json");
        assert_eq!(serde_json::from_str::<Value>(l[5]["event"].as_str().unwrap()).unwrap()["eventName"], "NoId");
        assert_eq!(batches[1].items[0].kind, ItemKind::DeadLetter);
    }

    #[test]
    fn bad_records_are_dead_lettered_and_the_file_goes_on() {
        let big = format!(r#"{{"eventID":"big","p":"{}"}}"#, "x".repeat(100 << 10));
        let file = format!(
            r#"{{"Records":[{{"eventID":"a","eventTime":"2024-08-01T00:00:00Z"}},{{"eventID":}},"text",[1],{big},{{"eventID":"b","eventTime":"2024-08-01T00:00:01Z"}}]}}"#
        );
        let (stats, batches) = decode_all(100, file.as_bytes());
        assert_eq!(stats, DecodeStats { events: 6, invalid: 4, batches: 1, newest_event: Some(1_722_470_401) });
        let docs: Vec<Value> = lines(&batches).into_iter().skip(1).step_by(2).collect();
        assert_eq!(docs[0]["eventID"], "a");
        assert_eq!(docs[5]["eventID"], "b");
        for d in &docs[1..4] {
            assert_eq!(d["error_type"], "invalid_record", "{d}");
        }
        assert_eq!(docs[1]["event"], r#"{"eventID":}"#);
        assert_eq!(docs[2]["event"], r#""text""#);
        assert_eq!(docs[4]["error_type"], "record_too_large");
        assert_eq!(docs[4]["event_size"], big.len());
        assert_eq!(docs[4]["event"].as_str().unwrap().len(), crate::decode::framing::HEAD_BYTES);
        assert!(big.starts_with(docs[4]["event"].as_str().unwrap()));
    }

    #[test]
    fn events_outside_the_plausible_window_are_dead_lettered_not_given_an_index() {
        let day = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%dT12:00:00Z").to_string();
        let now = chrono::Utc::now();
        let times = [
            "2012-12-31T23:59:59Z".to_owned(),
            "2013-01-01T00:00:00Z".to_owned(),
            day(now),
            day(now + chrono::Duration::days(1)),
            day(now + chrono::Duration::days(2)),
            "9999-01-01T00:00:00Z".to_owned(),
        ];
        let records: Vec<String> =
            times.iter().enumerate().map(|(i, t)| format!(r#"{{"eventID":"e{i}","eventTime":"{t}"}}"#)).collect();
        let file = format!("[{}]", records.join(","));
        let (stats, batches) = decode_all(100, file.as_bytes());
        assert_eq!(stats.invalid, 3);
        let l = lines(&batches);
        let dead: Vec<&str> = l
            .chunks(2)
            .filter(|p| p[0]["create"]["_index"] == "trailship-deadletter")
            .map(|p| p[1]["event_id"].as_str().unwrap())
            .collect();
        assert_eq!(dead, ["e0", "e4", "e5"]);
        assert!(l.iter().any(|d| d["error_type"] == "implausible_event_time"));
        let days: Vec<&str> =
            l.iter().filter_map(|a| a["create"]["_index"].as_str()).filter(|i| i.starts_with("cloudtrail-")).collect();
        assert_eq!(days.len(), 3);
        assert_eq!(days[0], "cloudtrail-2013.01.01");
    }

    #[test]
    fn broken_containers_fail_the_object() {
        let origin = Arc::new(Origin::File("f.json".into()));
        let err = decoder(10)
            .decode(&br#"{"Records":[{"eventID":"a"} {"eventID":"b"}]}"#[..], origin.clone(), &watch(), &mut |_| Ok(()))
            .unwrap_err();
        assert!(matches!(err, ObjectError::Decode(DecodeError::Syntax { .. })), "{err}");
        let err =
            decoder(10).decode(&b"\x1f\x8bnot really gzip"[..], origin.clone(), &watch(), &mut |_| Ok(())).unwrap_err();
        assert!(matches!(err, ObjectError::Decode(DecodeError::Io(_))), "{err}");
        let err =
            decoder(10).decode(&br#"{"Records":[{"eventID":"a"}"#[..], origin, &watch(), &mut |_| Ok(())).unwrap_err();
        assert!(matches!(err, ObjectError::Decode(DecodeError::Truncated { .. })), "{err}");
    }

    #[test]
    fn cancellation_and_the_deadline_stop_decoding_between_records() {
        let origin = Arc::new(Origin::File("f.json".into()));
        let file = br#"[{"eventID":"a","eventTime":"2024-08-01T00:00:00Z"}]"#;
        let cancelled = watch();
        cancelled.cancel.cancel();
        let err = decoder(1).decode(&file[..], origin.clone(), &cancelled, &mut |_| Ok(())).unwrap_err();
        assert!(matches!(err, ObjectError::Cancelled), "{err}");
        let late = Watch::new(CancellationToken::new(), Duration::ZERO);
        let err = decoder(1).decode(&file[..], origin, &late, &mut |_| Ok(())).unwrap_err();
        assert!(matches!(err, ObjectError::TimedOut(_)), "{err}");
    }

    #[test]
    fn a_closed_receiver_stops_decoding() {
        let origin = Arc::new(Origin::File("f.json".into()));
        let file = br#"[{"eventID":"a","eventTime":"2024-08-01T00:00:00Z"},{"eventID":"b","eventTime":"2024-08-01T00:00:00Z"}]"#;
        let err = decoder(1).decode(&file[..], origin, &watch(), &mut |_| Err(Closed)).unwrap_err();
        assert!(matches!(err, ObjectError::Closed));
    }
}
