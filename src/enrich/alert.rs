//! Alert documents: one per (rule, event) match, for the daily `trailship-alerts-*` indices.
//! Small and flat (what a triage view or a notification needs, and the index the event went
//! to), with an `_id` derived from the rule id and the `eventID`, so a redelivered or
//! re-ingested file never adds a second alert. Pure.

use super::facts::Facts;
use super::{Target, addr, write_str};
use crate::decode::{RawEvent, json_string};
use crate::detect::Match;
use sha2::{Digest, Sha256};
use std::io::Write;

/// What every alert of one event shares, read once from the record.
pub struct AlertSubject<'e> {
    facts: Facts<'e>,
    user_name: Option<String>,
    user_type: Option<String>,
}

impl<'e> AlertSubject<'e> {
    /// Reads the fields alerts carry from `ev`.
    pub fn new(ev: &'e RawEvent<'e>) -> Self {
        let mut facts = Facts::default();
        for (key, value) in &ev.fields {
            facts.observe(key, value);
        }
        let identity = facts.identity().unwrap_or_default();
        let user_name = identity.user_name();
        let user_type = identity.kind.as_deref().filter(|k| !k.is_empty()).map(str::to_owned);
        AlertSubject { facts, user_name, user_type }
    }

    /// The alert's `_id` as a JSON string literal: 128 bits of SHA-256 over the rule id and
    /// the `eventID` (`id_json`, the literal), in hex.
    pub fn id_json(rule_id: &str, id_json: &str) -> String {
        let mut h = Sha256::new();
        h.update(rule_id.as_bytes());
        h.update([0]);
        h.update(id_json.as_bytes());
        let digest = h.finalize();
        let mut out = String::with_capacity(34);
        out.push('"');
        for b in &digest[..16] {
            // Writing to a String cannot fail.
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{b:02x}"));
        }
        out.push('"');
        out
    }

    /// Writes the alert document of match `m` for the event bound for `event_index`.
    pub fn write(&self, target: &Target<'_>, m: &Match, event_index: &str, out: &mut Vec<u8>) {
        let f = &self.facts;
        out.extend_from_slice(b"{\"@timestamp\":");
        write_str(out, &target.timestamp);
        out.extend_from_slice(b",\"rule\":{\"id\":");
        write_str(out, &m.id);
        out.extend_from_slice(b",\"name\":");
        write_str(out, &m.title);
        out.extend_from_slice(b",\"level\":");
        write_str(out, m.level.as_str());
        out.extend_from_slice(b",\"tags\":[");
        for (i, tag) in m.tags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, tag);
        }
        out.extend_from_slice(b"]},\"eventID\":");
        out.extend_from_slice(target.id_json.as_bytes());
        for (name, value) in [("eventName", &f.event_name), ("eventSource", &f.event_source)] {
            if let Some(v) = value {
                let _ = write!(out, ",\"{name}\":");
                write_str(out, v);
            }
        }
        if self.user_name.is_some() || self.user_type.is_some() {
            out.extend_from_slice(b",\"user\":{");
            let mut first = true;
            for (name, value) in [("name", &self.user_name), ("type", &self.user_type)] {
                if let Some(v) = value {
                    let _ = write!(out, "{}\"{name}\":", if first { "" } else { "," });
                    write_str(out, v);
                    first = false;
                }
            }
            out.push(b'}');
        }
        if let Some(raw) = f.source_ip {
            out.extend_from_slice(b",\"source\":{\"address\":");
            out.extend_from_slice(raw.get().as_bytes());
            if let Some(ip) = json_string(raw).and_then(|s| addr::parse(&s)) {
                let _ = write!(out, ",\"ip\":\"{ip}\"");
            }
            out.push(b'}');
        }
        if f.account.is_some() || f.region.is_some() {
            out.extend_from_slice(b",\"cloud\":{");
            if let Some(account) = f.account {
                out.extend_from_slice(b"\"account\":{\"id\":");
                out.extend_from_slice(account.get().as_bytes());
                out.push(b'}');
            }
            if let Some(region) = f.region {
                if f.account.is_some() {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"region\":");
                out.extend_from_slice(region.get().as_bytes());
            }
            out.push(b'}');
        }
        out.extend_from_slice(b",\"event\":{\"kind\":\"alert\",\"index\":");
        write_str(out, event_index);
        out.extend_from_slice(b"}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Level;
    use serde_json::{Value, json};

    fn alert(record: &str, m: &Match) -> Value {
        let ev = RawEvent::parse(record.as_bytes()).unwrap();
        let target = crate::enrich::Enricher::new().target(&ev).unwrap();
        let mut out = Vec::new();
        AlertSubject::new(&ev).write(&target, m, "cloudtrail-2024.07.31", &mut out);
        serde_json::from_slice(&out).expect("valid json")
    }

    fn rule() -> Match {
        Match {
            id: "4ef9b5b4".into(),
            title: "Root \"console\" login".into(),
            level: Level::High,
            tags: vec!["attack.t1078".into()],
        }
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
    fn what_the_record_lacks_the_alert_lacks() {
        let doc = alert(
            r#"{"eventID":"e-2","eventTime":"2024-07-31T12:46:41Z","sourceIPAddress":"ec2.amazonaws.com"}"#,
            &Match { tags: vec![], ..rule() },
        );
        assert_eq!(doc["source"], json!({"address": "ec2.amazonaws.com"}));
        assert_eq!(doc["rule"]["tags"], json!([]));
        for absent in ["user", "cloud", "eventName", "eventSource"] {
            assert!(doc.get(absent).is_none(), "{absent}: {doc}");
        }
    }

    #[test]
    fn the_id_follows_the_rule_and_the_event_only() {
        let a = AlertSubject::id_json("rule-a", "\"e-1\"");
        assert_eq!(a.len(), 34);
        assert_eq!(a, AlertSubject::id_json("rule-a", "\"e-1\""));
        assert_ne!(a, AlertSubject::id_json("rule-b", "\"e-1\""));
        assert_ne!(a, AlertSubject::id_json("rule-a", "\"e-2\""));
        assert_ne!(AlertSubject::id_json("ab", "\"c\""), AlertSubject::id_json("a", "b\"c\""), "separated");
    }
}
