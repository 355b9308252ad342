//! One log file → batches: gunzip, frame, parse, build documents, cut batches. Synchronous and
//! free of I/O beyond the reader it is given; the pipeline runs it on a blocking thread.

use crate::decode::{DecodeError, RawEvent, RecordReader, maybe_gunzip};
use crate::enrich::Enricher;
use crate::index::bulk::{Batch, BatchBuilder, BatchLimits, ItemKind, write_create_action};
use crate::index::deadletter;
use crate::source::Origin;
use std::io::Read;
use std::sync::Arc;

/// Counts for one decoded object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    /// Records read.
    pub events: usize,
    /// Records that could not become documents (dead-lettered before indexing).
    pub invalid: usize,
    /// Batches emitted.
    pub batches: usize,
}

/// The receiver of batches went away (shutdown): stop decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Why decoding an object stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The file is corrupt or not a CloudTrail log.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The batch receiver is gone.
    #[error("pipeline is shutting down")]
    Closed,
}

impl From<Closed> for ObjectError {
    fn from(_: Closed) -> Self {
        ObjectError::Closed
    }
}

/// Everything needed to turn a file into batches.
#[derive(Debug, Clone)]
pub struct ObjectDecoder {
    /// Builds documents.
    pub enricher: Enricher,
    /// Batch caps.
    pub limits: BatchLimits,
    /// Daily index prefix.
    pub index_prefix: String,
    /// Dead-letter index.
    pub deadletter_index: String,
}

impl ObjectDecoder {
    /// Decodes `reader` (gzip or plain) and hands every full batch to `emit`.
    pub fn decode<R: Read + Send>(
        &self,
        reader: R,
        origin: Arc<Origin>,
        emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
    ) -> Result<DecodeStats, ObjectError> {
        let mut records = RecordReader::new(maybe_gunzip(reader).map_err(DecodeError::Io)?);
        let mut builder = BatchBuilder::new(self.limits, origin.clone());
        let mut stats = DecodeStats::default();
        while let Some((offset, record)) = records.next_record()? {
            stats.events += 1;
            let event = RawEvent::parse(record).map_err(|e| DecodeError::Syntax {
                offset,
                msg: format!("record {} is not a valid json object: {e}", stats.events),
            })?;
            let full = match self.enricher.target(&event) {
                Ok(target) => builder.push(
                    ItemKind::Event,
                    |o| write_create_action(o, &self.index_prefix, target.date_str(), target.id_json),
                    |o| self.enricher.write_document(&event, &target, o),
                    record,
                ),
                Err(e) => {
                    stats.invalid += 1;
                    tracing::warn!(%origin, record = stats.events, error = %e, "invalid record, dead-lettering it");
                    let event_id = event.get_str("eventID");
                    let raw_text = String::from_utf8_lossy(record);
                    let key = origin.key();
                    let dead = deadletter::DeadLetter {
                        timestamp: &deadletter::now(),
                        error_type: e.kind(),
                        reason: &e.to_string(),
                        status: None,
                        target_index: None,
                        event_id: event_id.as_deref(),
                        source: deadletter::SourceRef { bucket: origin.bucket(), key: &key },
                        event: &raw_text,
                    };
                    builder.push(
                        ItemKind::DeadLetter,
                        |o| deadletter::write_action(o, &self.deadletter_index, dead.event_id, &origin, record),
                        |o| deadletter::write_document(o, &dead),
                        record,
                    )
                }
            };
            if let Some(batch) = full {
                stats.batches += 1;
                emit(batch)?;
            }
        }
        if let Some(batch) = builder.finish() {
            stats.batches += 1;
            emit(batch)?;
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn decoder(max_actions: usize) -> ObjectDecoder {
        ObjectDecoder {
            enricher: Enricher::new(),
            limits: BatchLimits { max_bytes: 1 << 20, max_actions },
            index_prefix: "cloudtrail".into(),
            deadletter_index: "trailship-deadletter".into(),
        }
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
        let mut batches = Vec::new();
        let origin = Arc::new(Origin::File("f.json".into()));
        let stats = decoder(2)
            .decode(&file[..], origin, &mut |b| {
                batches.push(b);
                Ok(())
            })
            .unwrap();
        assert_eq!(stats, DecodeStats { events: 3, invalid: 1, batches: 2 });
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
    fn invalid_json_fails_the_object() {
        let origin = Arc::new(Origin::File("f.json".into()));
        let err =
            decoder(10).decode(&br#"{"Records":[{"eventID":}]}"#[..], origin.clone(), &mut |_| Ok(())).unwrap_err();
        assert!(matches!(err, ObjectError::Decode(DecodeError::Syntax { .. })), "{err}");
        let err = decoder(10).decode(&b"\x1f\x8bnot really gzip"[..], origin, &mut |_| Ok(())).unwrap_err();
        assert!(matches!(err, ObjectError::Decode(DecodeError::Io(_))), "{err}");
    }

    #[test]
    fn a_closed_receiver_stops_decoding() {
        let origin = Arc::new(Origin::File("f.json".into()));
        let file = br#"[{"eventID":"a","eventTime":"2024-08-01T00:00:00Z"},{"eventID":"b","eventTime":"2024-08-01T00:00:00Z"}]"#;
        let err = decoder(1).decode(&file[..], origin, &mut |_| Err(Closed)).unwrap_err();
        assert!(matches!(err, ObjectError::Closed));
    }
}
