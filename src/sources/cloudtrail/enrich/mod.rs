//! One CloudTrail record → one OpenSearch document. Pure.
//!
//! The document's schema is the event template, [`TEMPLATE`] (`../template.json`).
//!
//! [`Enricher::target`] validates what indexing needs (the `eventID` for `_id`, the `eventTime`
//! that picks the daily index and becomes `@timestamp`); [`Enricher::write_document`] then
//! writes the document in one pass over the record (see [`document`] for the layout): the
//! record's fields made to fit the template, then `cloud`, `source` (with GeoIP), `user_agent`,
//! `user`, `aws` (access key, S3 bytes, world-open ports), `event.outcome`, `tags`, `rule`
//! (detections) and `search_text`. Records without a usable `eventID` or `eventTime` are not guessed at: the
//! caller dead-letters them with the [`EventError`].

pub mod alert;
pub mod aws;
pub mod document;
pub mod facts;
pub mod flat;
mod listed;
mod scan;
pub mod shape;
pub mod tags;
pub mod target;
pub mod time;
mod walk;

pub use document::TEMPLATE;
pub use target::Target;

use crate::decode::{Raw, RawEvent};
use crate::geo::GeoIp;
use std::sync::Arc;

/// The `_id` length limit of OpenSearch.
const MAX_ID_BYTES: usize = 512;

/// Why a record cannot become a document. The record goes to the dead-letter index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// No `eventID`, or it is not a string.
    #[error("record has no eventID string")]
    MissingEventId,
    /// An `eventID` longer than OpenSearch's `_id` limit.
    #[error("eventID is longer than {MAX_ID_BYTES} bytes")]
    EventIdTooLong,
    /// No `eventTime`, or it is not a string.
    #[error("record has no eventTime string")]
    MissingEventTime,
    /// An `eventTime` that is not an RFC 3339 timestamp.
    #[error("eventTime {0:?} is not an rfc 3339 timestamp")]
    InvalidEventTime(String),
}

impl EventError {
    /// A stable machine-readable type for the dead-letter record.
    pub fn kind(&self) -> &'static str {
        match self {
            EventError::MissingEventId => "missing_event_id",
            EventError::EventIdTooLong => "event_id_too_long",
            EventError::MissingEventTime => "missing_event_time",
            EventError::InvalidEventTime(_) => "invalid_event_time",
        }
    }
}

/// Turns records into documents. Built once per process (the GeoIP databases are opened then,
/// and `run` swaps in files replaced on disk);
/// clones share everything.
#[derive(Debug, Clone, Default)]
pub struct Enricher {
    /// GeoIP databases, when configured.
    geo: Option<Arc<GeoIp>>,
    /// Account names (`cloud.account.name`).
    accounts: crate::accounts::Accounts,
}

impl Enricher {
    /// An enricher without GeoIP.
    pub fn new() -> Self {
        Enricher::default()
    }

    /// The GeoIP databases, when configured.
    pub fn geo(&self) -> Option<&GeoIp> {
        self.geo.as_deref()
    }

    /// An enricher that adds `source.geo.*` and `source.as.*` from `geo`.
    /// Also compiles the embedded schema and tag rules now, so the first event does not wait
    /// for them (the user-agent parsers compile on first use).
    pub fn with_geoip(geo: Option<Arc<GeoIp>>) -> Self {
        document::warm_up();
        Enricher { geo, accounts: Default::default() }
    }

    /// The account names it writes.
    pub fn accounts(&self) -> &crate::accounts::Accounts {
        &self.accounts
    }

    /// The same, naming accounts with `accounts`.
    pub fn with_accounts(self, accounts: crate::accounts::Accounts) -> Self {
        Enricher { accounts, ..self }
    }

    /// Validates the fields indexing depends on.
    pub fn target<'a>(&self, ev: &RawEvent<'a>) -> Result<Target<'a>, EventError> {
        let id = ev.get("eventID").filter(|v| is_string(*v)).ok_or(EventError::MissingEventId)?;
        let id_json = id.get();
        if id_json.len() - 2 > MAX_ID_BYTES {
            return Err(EventError::EventIdTooLong);
        }
        let time = ev.get_str("eventTime").ok_or(EventError::MissingEventTime)?;
        let (timestamp, date) = time::normalise(time).map_err(EventError::InvalidEventTime)?;
        Ok(Target { id_json, timestamp, date })
    }

    /// Writes the document for `ev` into `out`, in one pass over the record: `@timestamp`,
    /// every field of the record (free-form ones made fit for `flat_object`, misfits kept
    /// aside in `trailship.unmapped`), then the enrichment fields, and `rule` when `matches`
    /// (the detection rules the record matched, most severe first) is not empty. See
    /// [`document`].
    pub fn write_document<'a>(
        &self,
        ev: &RawEvent<'a>,
        target: &Target<'_>,
        matches: &[crate::detect::Match],
        out: &mut Vec<u8>,
    ) -> Option<alert::AlertSubject> {
        document::write((self.geo.as_deref(), &self.accounts), ev, target, matches, out)
    }
}

fn is_string(v: Raw<'_>) -> bool {
    v.get().starts_with('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn build(record: &str) -> Result<(String, String, Value), EventError> {
        let ev = RawEvent::parse(record.as_bytes()).unwrap();
        let e = Enricher::new();
        let t = e.target(&ev)?;
        let mut out = Vec::new();
        e.write_document(&ev, &t, &[], &mut out);
        Ok((t.id_json.to_owned(), t.date_str().to_owned(), serde_json::from_slice(&out).expect("valid json")))
    }

    #[test]
    fn document_keeps_every_field_and_adds_timestamp() {
        let rec = r#"{"eventVersion":"1.09","eventID":"083dc4ad","eventTime":"2024-08-01T13:33:28Z","requestParameters":{"x":{"y":[1,"2",null]}},"responseElements":null,"odd\"key":1,"readOnly":false}"#;
        let (id, date, doc) = build(rec).unwrap();
        assert_eq!(id, "\"083dc4ad\"");
        assert_eq!(date, "2024.08.01");
        assert_eq!(doc["@timestamp"], "2024-08-01T13:33:28Z");
        let original: Value = serde_json::from_str(rec).unwrap();
        for (k, v) in original.as_object().unwrap() {
            assert_eq!(&doc[k], v, "field {k}");
        }
        let added: Vec<_> = doc.as_object().unwrap().keys().filter(|k| original.get(k.as_str()).is_none()).collect();
        assert_eq!(added, ["@timestamp", "event", "search_text"]);
    }

    #[test]
    fn an_enricher_hands_back_the_geoip_and_account_names_it_was_built_with() {
        let dir = tempfile::tempdir().unwrap();
        let asn = dir.path().join("asn.csv");
        std::fs::write(&asn, "18.0.0.0,18.255.255.255,16509,AMAZON-02\n").unwrap();
        let geo = GeoIp::open(&[], &[asn]).unwrap().map(Arc::new);
        let names = [("111122223333".to_owned(), "prod".to_owned())].into_iter().collect();
        let e = Enricher::with_geoip(geo).with_accounts(crate::accounts::Accounts::new(names));
        assert!(e.geo().is_some_and(|g| !g.databases().is_empty()), "the geoip it was given");
        assert_eq!(e.accounts().name("111122223333").as_deref(), Some("prod"));
        assert!(Enricher::new().geo().is_none());

        let rec = r#"{"eventID":"a","eventTime":"2024-08-01T13:33:28Z","sourceIPAddress":"18.1.2.3","recipientAccountId":"111122223333"}"#;
        let ev = RawEvent::parse(rec.as_bytes()).unwrap();
        let mut out = Vec::new();
        e.write_document(&ev, &e.target(&ev).unwrap(), &[], &mut out);
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["source"]["as"]["number"], 16509);
        assert_eq!(doc["cloud"]["account"]["name"], "prod");
    }

    #[test]
    fn event_time_picks_the_utc_day() {
        let (_, date, doc) = build(r#"{"eventID":"a","eventTime":"2024-12-31T23:30:00-02:00"}"#).unwrap();
        assert_eq!(date, "2025.01.01");
        assert_eq!(doc["@timestamp"], "2025-01-01T01:30:00.000Z");
    }

    #[test]
    fn a_logstash_timestamp_is_replaced_not_duplicated() {
        let (_, _, doc) =
            build(r#"{"@timestamp":"2000-01-01T00:00:00.000Z","eventID":"a","eventTime":"2020-09-14T00:44:23Z"}"#)
                .unwrap();
        assert_eq!(doc["@timestamp"], "2020-09-14T00:44:23Z");
    }

    #[test]
    fn records_without_id_or_time_are_rejected() {
        assert_eq!(build(r#"{"eventTime":"2024-08-01T13:33:28Z"}"#).unwrap_err(), EventError::MissingEventId);
        assert_eq!(
            build(r#"{"eventID":7,"eventTime":"2024-08-01T13:33:28Z"}"#).unwrap_err(),
            EventError::MissingEventId
        );
        assert_eq!(build(r#"{"eventID":"a"}"#).unwrap_err(), EventError::MissingEventTime);
        assert_eq!(build(r#"{"eventID":"a","eventTime":null}"#).unwrap_err(), EventError::MissingEventTime);
        assert!(matches!(
            build(r#"{"eventID":"a","eventTime":"yesterday"}"#).unwrap_err(),
            EventError::InvalidEventTime(_)
        ));
        let long = format!(r#"{{"eventID":"{}","eventTime":"2024-08-01T13:33:28Z"}}"#, "i".repeat(513));
        assert_eq!(build(&long).unwrap_err(), EventError::EventIdTooLong);
        let longest = format!(r#"{{"eventID":"{}","eventTime":"2024-08-01T13:33:28Z"}}"#, "i".repeat(512));
        assert!(build(&longest).is_ok(), "an eventID of exactly the limit is kept");
    }
}
