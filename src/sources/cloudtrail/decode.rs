//! One CloudTrail log file → batches: gunzip, frame ([`super::framing`]), parse each record
//! into a borrowed [`RawEvent`], check it against the Sigma rules, and write its document
//! ([`super::enrich`]) and one alert document per rule it matched, into the index of the
//! record's own day. Matches of grouped rules (`alerts.group_levels`) make no alert document
//! here: the findings pass counts them per group. A record a filter rule matches
//! (`filter.drop`) is not indexed, after detection: its alerts are still written (marked
//! `event.dropped`), a record matched by a rule whose alerts are counted from the indexed
//! events (grouped, or a correlation's) is indexed whatever the filters say, and the file's
//! dropped records are tallied into the trend indices after its last record ([`super::dropped`]).
//! A bad record (not a JSON object, over the
//! record limit, no usable id or time, outside the event window) is dead-lettered and the file
//! goes on; only a broken container fails it. Cancellation and the object's deadline are
//! checked between records.

use super::dropped::Tallies;
use super::framing::{Framed, RecordReader};
use super::source::CloudTrail;
use crate::decode::split::Listed;
use crate::decode::{DecodeError, RawEvent, maybe_gunzip};
use crate::index::bulk::{Batch, BatchBuilder, ItemKind, write_create_action};
use crate::source::Origin;
use crate::sources::output::{Closed, DecodeStats, Decoding, Invalid, ObjectError, Span, Watch, finish, send};
use std::io::Read;
use std::sync::Arc;

/// Decodes `reader` (gzip or plain) and hands every full batch to `emit`.
pub fn decode(
    source: &CloudTrail,
    with: &Decoding,
    reader: Box<dyn Read + Send + '_>,
    origin: Arc<Origin>,
    watch: &Watch,
    emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
) -> Result<DecodeStats, ObjectError> {
    let file = File { source, with };
    let mut records = RecordReader::with_limits(maybe_gunzip(reader).map_err(DecodeError::Io)?, with.frame);
    let mut builder = BatchBuilder::with_pool(with.limits, origin.clone(), with.pool.clone());
    let mut stats = DecodeStats::default();
    let mut span = Span::default();
    let newest_day = source.window.newest();
    // The rules each record matched, one vector for all of them.
    let mut matches = Vec::new();
    // What each filter rule dropped from this file, and per trend key.
    let mut dropped = vec![0u64; source.filter.rule_count()];
    let mut tallies = Tallies::default();
    while let Some(framed) = records.next_record()? {
        watch.check()?;
        stats.events += 1;
        let full = match framed {
            Framed::TooLarge { offset, size, head } => {
                let reason = format!(
                    "record {} at byte {offset} is {size} bytes, over limits.max_record_bytes ({})",
                    stats.events, with.frame.max_record_bytes
                );
                let bad =
                    Invalid { error_type: "record_too_large", reason, event_id: None, raw: head, size: Some(size) };
                with.dead_letter(&mut builder, &mut stats, bad)
            }
            Framed::Record { offset, bytes, members } => {
                let mut at = Record {
                    builder: &mut builder,
                    stats: &mut stats,
                    span: &mut span,
                    dropped: (&mut dropped, &mut tallies),
                    emit,
                };
                file.push_record(&mut at, (offset, bytes, members), &newest_day, &mut matches)?
            }
        };
        send(full, &mut stats, emit)?;
    }
    // Most files drop nothing: no trend index name to make.
    let trend_prefix =
        if tallies.is_empty() { String::new() } else { crate::config::trends::trend_prefix(&source.index_prefix) };
    for (index, id, doc) in tallies.documents(&trend_prefix, |i| source.filter.rule(i), source.enricher.accounts()) {
        let action = |o: &mut Vec<u8>| {
            // Index names and these ids hold nothing to escape.
            o.extend_from_slice(format!("{{\"index\":{{\"_index\":\"{index}\",\"_id\":\"{id}\"}}}}").as_bytes())
        };
        let full = builder.push(ItemKind::Tally, action, |o| o.extend_from_slice(&doc), &[]);
        send(full, &mut stats, emit)?;
    }
    source.filter.add(&dropped);
    finish(builder, stats, span.ends(), emit)
}

/// The source and shared tools a file is decoded with.
struct File<'a> {
    source: &'a CloudTrail,
    with: &'a Decoding,
}

impl File<'_> {
    /// One framed CloudTrail record: its event document and alert documents, or its dead
    /// letter. Returns a full batch when one is, like [`BatchBuilder::push`].
    fn push_record(
        &self,
        at: &mut Record<'_, '_>,
        (offset, bytes, members): (u64, &[u8], Option<Listed<'_>>),
        newest_day: &[u8; 10],
        matches: &mut Vec<crate::detect::Match>,
    ) -> Result<Option<Batch>, Closed> {
        // The framer's read gave the members of a valid object; anything else is read again
        // by the parser, for its error.
        let read = members.zip(std::str::from_utf8(bytes).ok()).and_then(|(m, text)| RawEvent::from_listed(text, m));
        let event = match read.map_or_else(|| RawEvent::parse(bytes), Ok) {
            Ok(event) => event,
            Err(e) => {
                let reason = format!("record {} at byte {offset} is not a valid json object: {e}", at.stats.events);
                let bad = Invalid { error_type: "invalid_record", reason, event_id: None, raw: bytes, size: None };
                return Ok(self.with.dead_letter(at.builder, at.stats, bad));
            }
        };
        let target = match self.source.enricher.target(&event) {
            Ok(target) if target.date < self.source.window.oldest || target.date > *newest_day => {
                let event_id = event.get_str("eventID");
                let reason = Decoding::outside_window("eventTime", &target.timestamp, &self.source.window, newest_day);
                let bad = Invalid {
                    error_type: "implausible_event_time",
                    reason,
                    event_id: event_id.as_deref(),
                    raw: bytes,
                    size: None,
                };
                return Ok(self.with.dead_letter(at.builder, at.stats, bad));
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
                return Ok(self.with.dead_letter(at.builder, at.stats, bad));
            }
        };
        at.span.see(&target.timestamp);
        self.source.detector.matches_into(&event, matches);
        if let Some(rule) = self.source.filter.dropping(&event) {
            if !matches.iter().any(|m| m.needs_event(&self.source.group_levels)) {
                at.stats.dropped += 1;
                at.dropped.0[rule] += 1;
                at.dropped.1.count(&event, &target.date, target.id_json, rule);
                if matches.is_empty() {
                    return Ok(None);
                }
                // Only the alerts, from a document written aside (a rare path: a record both
                // filtered and matched).
                let mut aside = Vec::new();
                return match self.source.enricher.write_document(&event, &target, matches, &mut aside) {
                    None => Ok(None),
                    Some(subject) => {
                        self.push_alerts(at.builder, at.stats, (subject, &target, bytes), matches, false, at.emit)
                    }
                };
            }
        }
        let mut subject = None;
        let full = at.builder.push(
            ItemKind::Event,
            |o| {
                write_create_action(
                    o,
                    &self.source.index_prefix,
                    self.with.index_period.suffix(target.date_str()),
                    target.id_json,
                )
            },
            |o| subject = self.source.enricher.write_document(&event, &target, matches, o),
            bytes,
        );
        match subject {
            None => Ok(full),
            Some(subject) => {
                send(full, at.stats, at.emit)?;
                self.push_alerts(at.builder, at.stats, (subject, &target, bytes), matches, true, at.emit)
            }
        }
    }

    /// Adds one alert document per rule in `matches` after the event's own document (but for
    /// the grouped ones, which the findings pass counts), sending all but the last batch this
    /// fills; the last is returned like [`BatchBuilder::push`]'s. Without `indexed`, the event
    /// was dropped by a filter and its alerts say so.
    fn push_alerts(
        &self,
        builder: &mut BatchBuilder,
        stats: &mut DecodeStats,
        (subject, target, raw): (super::enrich::alert::AlertSubject, &super::enrich::Target<'_>, &[u8]),
        matches: &[crate::detect::Match],
        indexed: bool,
        emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
    ) -> Result<Option<Batch>, Closed> {
        let suffix = self.with.index_period.suffix(target.date_str());
        let alerts =
            if indexed { subject.alerts(&self.source.index_prefix, suffix) } else { subject.alerts_of_dropped() };
        let mut full = None;
        for m in matches.iter().filter(|m| !m.silent && !self.source.is_grouped(m)) {
            send(full.take(), stats, emit)?;
            stats.alerts += 1;
            let id = alerts.id(m);
            full = builder.push(
                ItemKind::Alert,
                |o| write_create_action(o, &self.source.alerts_index_prefix, suffix, &id),
                |o| alerts.write(m, o),
                raw,
            );
        }
        Ok(full)
    }
}

/// Where a record of a file goes: the file's batches, counts, time span, what each filter rule
/// dropped, and the batch sink.
struct Record<'a, 'e> {
    builder: &'a mut BatchBuilder,
    stats: &'a mut DecodeStats,
    span: &'a mut Span,
    dropped: (&'a mut [u64], &'a mut Tallies),
    emit: &'a mut (dyn FnMut(Batch) -> Result<(), Closed> + 'e),
}
