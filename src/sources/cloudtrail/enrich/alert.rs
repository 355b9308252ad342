//! Alert documents: one per (rule, event) match, for the daily `trailship-alerts-*` indices.
//! Small and flat (what a triage view or a notification needs, and the index the event went
//! to), with an `_id` made of the `eventID` and the rule id, so a redelivered or re-ingested
//! file never adds a second alert. Pure.

use super::facts::Facts;
use super::target::Target;
use crate::detect::Match;
use crate::json::write_str;
use sha2::{Digest, Sha256};

/// The longest `_id` OpenSearch takes, in bytes.
const MAX_ID_BYTES: usize = 512;

/// What every alert of one event shares, written once per event: the document around the
/// rule (`{"@timestamp":…,` before it; `,"eventID":…,"eventName":…,"eventSource":…,"user":{…},
/// "source":{…},"cloud":{…},"event":{"kind":"alert",` after it, the event's index (or that a
/// filter dropped it) to come).
pub struct AlertSubject {
    doc: Vec<u8>,
    /// Where the rule goes.
    head: usize,
    /// Where the `eventID` literal ends.
    id_end: usize,
}

/// `,"eventID":`
const EVENT_ID: &[u8] = b",\"eventID\":";

impl AlertSubject {
    /// What the document writer read from the record: its target, facts, the actor's type and
    /// name, and the event document's `,"source":{…` members without GeoIP (empty when it has
    /// none).
    pub(crate) fn new(
        target: &Target<'_>,
        f: &Facts<'_>,
        kind: Option<&str>,
        name: Option<&str>,
        source: &[u8],
    ) -> Self {
        let mut out = Vec::with_capacity(384 + target.id_json.len() + source.len());
        // The timestamp as the event document writes it (normalised, nothing to escape).
        out.extend_from_slice(b"{\"@timestamp\":\"");
        out.extend_from_slice(target.timestamp.as_bytes());
        out.extend_from_slice(b"\",");
        let head = out.len();
        out.extend_from_slice(EVENT_ID);
        out.extend_from_slice(target.id_json.as_bytes());
        let id_end = out.len();
        for (field, value) in [(&b",\"eventName\":"[..], &f.event_name), (b",\"eventSource\":", &f.event_source)] {
            if let Some(v) = value {
                out.extend_from_slice(field);
                write_str(&mut out, v);
            }
        }
        if name.is_some() || kind.is_some() {
            out.extend_from_slice(b",\"user\":{");
            let mut first = true;
            for (field, value) in [(&b"\"name\":"[..], name), (b"\"type\":", kind)] {
                if let Some(v) = value {
                    if !first {
                        out.push(b',');
                    }
                    out.extend_from_slice(field);
                    write_str(&mut out, v);
                    first = false;
                }
            }
            out.push(b'}');
        }
        // The event document's own `source` (without GeoIP) and `cloud` objects.
        if !source.is_empty() {
            out.extend_from_slice(source);
            out.push(b'}');
        }
        f.write_cloud(&mut out);
        out.extend_from_slice(b",\"event\":{\"kind\":\"alert\",");
        AlertSubject { doc: out, head, id_end }
    }

    /// The alert's `_id` as a JSON string literal: `<eventID>:<rule id>` (readable: `GET
    /// trailship-alerts-*/_doc/…` finds the alert of an event and a rule), or, when that would
    /// pass OpenSearch's 512-byte limit, `sha256:` and 128 bits of SHA-256 over both, in hex.
    /// `id_json` is the `eventID` as its JSON literal.
    pub fn id_json(rule_id: &str, id_json: &str) -> String {
        let mut rule_json = Vec::with_capacity(rule_id.len() + 2);
        write_str(&mut rule_json, rule_id);
        // JSON written from a string: valid UTF-8.
        Self::id_of(rule_id, std::str::from_utf8(&rule_json).unwrap_or_default(), id_json)
    }

    /// [`Self::id_json`] of a rule whose id is also at hand as its JSON literal.
    fn id_of(rule_id: &str, rule_json: &str, id_json: &str) -> String {
        let mut out = Vec::with_capacity(id_json.len() + rule_json.len());
        out.extend_from_slice(&id_json.as_bytes()[..id_json.len() - 1]);
        out.push(b':');
        // The rule id without its opening quote.
        out.extend_from_slice(&rule_json.as_bytes()[1..]);
        if out.len() - 2 > MAX_ID_BYTES {
            let digest = Sha256::new().chain_update(rule_id).chain_update([0]).chain_update(id_json).finalize();
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.clear();
            out.extend_from_slice(b"\"sha256:");
            for b in &digest[..16] {
                out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
            out.push(b'"');
        }
        // A JSON literal and a JSON-escaped string: valid UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The alert documents of the event, whose own index is `<prefix>-<suffix>` (validated
    /// index-name characters, nothing to escape, as in `write_create_action`).
    pub fn alerts(mut self, prefix: &str, suffix: &str) -> Alerts {
        self.doc.extend_from_slice(b"\"index\":\"");
        self.doc.extend_from_slice(prefix.as_bytes());
        self.doc.push(b'-');
        self.doc.extend_from_slice(suffix.as_bytes());
        self.doc.extend_from_slice(b"\"}}");
        Alerts { doc: self.doc, head: self.head, id_end: self.id_end }
    }

    /// The alert documents of an event a filter dropped (`"event":{…,"dropped":true}`: no
    /// index holds it; the alert carries what an analyst needs).
    pub fn alerts_of_dropped(mut self) -> Alerts {
        self.doc.extend_from_slice(b"\"dropped\":true}}");
        Alerts { doc: self.doc, head: self.head, id_end: self.id_end }
    }
}

/// The alert documents of one event: all but the rule written once.
pub struct Alerts {
    doc: Vec<u8>,
    head: usize,
    id_end: usize,
}

impl Alerts {
    /// The `_id` of the alert of match `m` (see [`AlertSubject::id_json`]).
    pub fn id(&self, m: &Match) -> String {
        // The event's `eventID` literal, copied from a `&str`: valid UTF-8.
        let id_json = std::str::from_utf8(&self.doc[self.head + EVENT_ID.len()..self.id_end]).unwrap_or("\"\"");
        AlertSubject::id_of(&m.id, &m.id_json, id_json)
    }

    /// Writes the alert document of match `m`.
    pub fn write(&self, m: &Match, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.doc[..self.head]);
        out.extend_from_slice(m.alert_json.as_bytes());
        out.extend_from_slice(&self.doc[self.head..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::RawEvent;
    use crate::detect::Level;
    use serde_json::{Value, json};

    fn alert(record: &str, m: &Match) -> Value {
        alert_of(record, m, false)
    }

    fn alert_of(record: &str, m: &Match, dropped: bool) -> Value {
        let ev = RawEvent::parse(record.as_bytes()).unwrap();
        let enricher = crate::sources::cloudtrail::enrich::Enricher::new();
        let target = enricher.target(&ev).unwrap();
        let mut doc = Vec::new();
        let subject = enricher.write_document(&ev, &target, std::slice::from_ref(m), &mut doc).unwrap();
        let mut out = Vec::new();
        let alerts = if dropped { subject.alerts_of_dropped() } else { subject.alerts("cloudtrail", "2024.07.31") };
        alerts.write(m, &mut out);
        assert_eq!(alerts.id(m), AlertSubject::id_json(&m.id, target.id_json));
        serde_json::from_slice(&out).expect("valid json")
    }

    fn rule() -> Match {
        Match::new("4ef9b5b4", "Root \"console\" login", Level::High, vec!["attack.t1078".to_owned()])
    }

    #[test]
    fn an_alert_carries_the_rule_and_who_did_what_where() {
        let doc = alert(
            r#"{"eventID":"e-1","eventTime":"2024-07-31T12:46:41Z","eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com",
               "userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root"},"sourceIPAddress":"203.0.113.9",
               "recipientAccountId":"111122223333","awsRegion":"us-east-1","requestParameters":{"big":"ignored"}}"#,
            &rule(),
        );
        assert_eq!(
            doc,
            json!({
                "@timestamp": "2024-07-31T12:46:41Z",
                "rule": {"id": "4ef9b5b4", "name": "Root \"console\" login", "level": "high", "tags": ["attack.t1078"]},
                "eventID": "e-1", "eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com",
                "user": {"name": "root", "type": "Root"},
                "source": {"address": "203.0.113.9", "ip": "203.0.113.9"},
                "cloud": {"account": {"id": "111122223333"}, "region": "us-east-1"},
                "event": {"kind": "alert", "index": "cloudtrail-2024.07.31"}
            })
        );
    }

    #[test]
    fn the_alert_of_a_dropped_event_says_so_and_names_no_index() {
        let record = r#"{"eventID":"e-1","eventTime":"2024-07-31T12:46:41Z","eventName":"GetObject","sourceIPAddress":"203.0.113.9"}"#;
        let kept = alert_of(record, &rule(), false);
        let mut dropped = alert_of(record, &rule(), true);
        assert_eq!(dropped["event"], json!({"kind": "alert", "dropped": true}));
        dropped["event"] = kept["event"].clone();
        assert_eq!(dropped, kept, "the rest is the same");
    }

    #[test]
    fn what_the_record_lacks_the_alert_lacks() {
        let doc = alert(
            r#"{"eventID":"e-2","eventTime":"2024-07-31T12:46:41Z","sourceIPAddress":"ec2.amazonaws.com"}"#,
            &Match::new("4ef9b5b4", "Root \"console\" login", Level::High, Vec::new()),
        );
        assert_eq!(doc["source"], json!({"address": "ec2.amazonaws.com"}));
        assert_eq!(doc["rule"]["tags"], json!([]));
        for absent in ["user", "cloud", "eventName", "eventSource"] {
            assert!(doc.get(absent).is_none(), "{absent}: {doc}");
        }
    }

    #[test]
    fn the_id_is_the_event_and_the_rule_or_their_hash_when_too_long() {
        let a = AlertSubject::id_json("rule-a", "\"e-1\"");
        assert_eq!(a, "\"e-1:rule-a\"");
        assert_ne!(a, AlertSubject::id_json("rule-b", "\"e-1\""));
        let odd = AlertSubject::id_json("title:Say \"hi\"", "\"e\\u0031\"");
        assert_eq!(serde_json::from_str::<String>(&odd).unwrap(), "e1:title:Say \"hi\"");
        let long_event = format!("\"{}\"", "e".repeat(510));
        let long = AlertSubject::id_json("rule-a", &long_event);
        assert!(long.starts_with("\"sha256:") && long.len() == 2 + 7 + 32, "{long}");
        assert_ne!(long, AlertSubject::id_json("rule-b", &long_event));
        assert_eq!(long, AlertSubject::id_json("rule-a", &long_event));
        // `<eventID>:rule-a` of exactly the limit is kept readable; one byte more is hashed.
        let at_limit = format!("\"{}\"", "e".repeat(MAX_ID_BYTES - ":rule-a".len()));
        let kept = AlertSubject::id_json("rule-a", &at_limit);
        assert_eq!(kept.len(), MAX_ID_BYTES + 2, "{kept}");
        assert!(kept.ends_with(":rule-a\""), "{kept}");
        let over = format!("\"{}\"", "e".repeat(MAX_ID_BYTES + 1 - ":rule-a".len()));
        assert!(AlertSubject::id_json("rule-a", &over).starts_with("\"sha256:"));
    }
}
