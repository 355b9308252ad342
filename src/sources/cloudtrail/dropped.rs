//! Tallies of the events filter rules dropped, for the trend indices. The daily trend counts
//! are computed from the indexed events, so a dropped event is not in them; beside them, each
//! object's dropped events are written as one document per day, account, region, service, API
//! and filter rule (the trends' own field names, plus `count`, `dropped: true` and
//! `filter.rule`). "Never seen" and "dropped by a filter" can then be told apart for as long as
//! the trends are kept. The key is coarser than a trend document's (no outcome, error or
//! identity type): a tally per object and key, so fewer keys mean fewer documents. The `_id` is
//! made of the day, the key, the rule and the eventIDs counted (order aside), so the same
//! events read again, from the same object or a copy, write the same document. Pure: the
//! counts and their documents. Counting an event borrows its values and hashes them; only a
//! key not seen before in the object is copied.

use crate::accounts::Accounts;
use crate::decode::RawEvent;
use crate::detect::Match;
use crate::index::deadletter::fnv1a;
use crate::json::write_str;
use std::borrow::Cow;
use std::collections::HashMap;

/// The fields a tally is kept per (beside the day and the rule), as the event document
/// writes them, and the record fields they come from.
pub const DIMS: [(&str, &str); 4] = [
    ("cloud.account.id", "recipientAccountId"),
    ("cloud.region", "awsRegion"),
    ("eventSource", "eventSource"),
    ("eventName", "eventName"),
];

/// One tally: its day (`YYYY-MM-DD`), rule position and key, the events it counts, and the
/// wrapping sum of their eventIDs' hashes.
#[derive(Debug)]
struct Tally {
    day: String,
    rule: usize,
    values: Vec<Option<String>>,
    count: u64,
    ids: u64,
}

/// The dropped events of one object, counted per day, rule and key.
#[derive(Debug, Default)]
pub struct Tallies {
    /// By the index day (`YYYY.MM.DD`), the rule position and the hash of the key's values.
    counts: HashMap<([u8; 10], usize, u64), Tally>,
}

/// The key of a CloudTrail record, in the order of [`DIMS`], borrowed.
fn key_values<'a>(ev: &RawEvent<'a>) -> [Option<Cow<'a, str>>; 4] {
    DIMS.map(|(_, field)| ev.get_str(field))
}

impl Tallies {
    /// Counts `ev`, of index day `date` (`YYYY.MM.DD`) and eventID `id`, as dropped by rule
    /// `rule`.
    pub fn count(&mut self, ev: &RawEvent<'_>, date: &[u8; 10], id: &str, rule: usize) {
        let values = key_values(ev);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * DIMS.len());
        for v in &values {
            // A missing value and an empty one hash apart.
            parts.push(if v.is_some() { b"\x01" } else { b"\x00" });
            parts.push(v.as_deref().unwrap_or_default().as_bytes());
        }
        let key = (*date, rule, fnv1a(&parts));
        let tally = self.counts.entry(key).or_insert_with(|| Tally {
            day: String::from_utf8_lossy(date).replace('.', "-"),
            rule,
            values: values.iter().map(|v| v.as_deref().map(str::to_owned)).collect(),
            count: 0,
            ids: 0,
        });
        tally.count += 1;
        tally.ids = tally.ids.wrapping_add(fnv1a(&[id.as_bytes()]));
    }

    /// Whether nothing was dropped.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The tally documents in the order of their day, rule and key: `(index, _id, document)`,
    /// into the yearly trend index of `trend_prefix` (`trailship-trends-{prefix}`), `rule`
    /// naming each rule by position and `accounts` each account; each document one line of
    /// JSON.
    pub fn documents<'a>(
        &'a self,
        trend_prefix: &'a str,
        rule: impl Fn(usize) -> &'a Match + 'a,
        accounts: &'a Accounts,
    ) -> impl Iterator<Item = (String, String, Vec<u8>)> + 'a {
        let mut all: Vec<&Tally> = self.counts.values().collect();
        all.sort_by(|a, b| (&a.day, a.rule, &a.values).cmp(&(&b.day, b.rule, &b.values)));
        all.into_iter().map(move |t| {
            let rule = rule(t.rule);
            let mut doc = Vec::with_capacity(256);
            doc.extend_from_slice(b"{\"day\":\"");
            doc.extend_from_slice(t.day.as_bytes());
            doc.push(b'"');
            let value = |i: usize| t.values[i].as_deref();
            if value(0).is_some() || value(1).is_some() {
                doc.extend_from_slice(b",\"cloud\":{");
                if let Some(account) = value(0) {
                    doc.extend_from_slice(b"\"account\":{\"id\":");
                    write_str(&mut doc, account);
                    if let Some(name) = accounts.name_json(account) {
                        doc.extend_from_slice(b",\"name\":");
                        doc.extend_from_slice(name.as_bytes());
                    }
                    doc.push(b'}');
                }
                if let Some(region) = value(1) {
                    if value(0).is_some() {
                        doc.push(b',');
                    }
                    doc.extend_from_slice(b"\"region\":");
                    write_str(&mut doc, region);
                }
                doc.push(b'}');
            }
            for (i, field) in [(2, &b",\"eventSource\":"[..]), (3, b",\"eventName\":")] {
                if let Some(v) = value(i) {
                    doc.extend_from_slice(field);
                    write_str(&mut doc, v);
                }
            }
            doc.extend_from_slice(
                format!(",\"count\":{},\"dropped\":true,\"filter\":{{\"rule\":{{", t.count).as_bytes(),
            );
            doc.extend_from_slice(b"\"id\":");
            doc.extend_from_slice(rule.id_json.as_bytes());
            doc.extend_from_slice(b",\"name\":");
            doc.extend_from_slice(rule.title_json.as_bytes());
            doc.extend_from_slice(b"}}}");
            let mut hashed: Vec<&[u8]> = Vec::with_capacity(3 * DIMS.len() + 4);
            for v in &t.values {
                let present: &[u8] = if v.is_some() { b"\x01" } else { b"\x00" };
                hashed.extend([present, v.as_deref().unwrap_or_default().as_bytes(), b"\xff"]);
            }
            let ids = t.ids.to_le_bytes();
            hashed.extend([t.day.as_bytes(), b"\xff", rule.id.as_bytes(), b"\xff", &ids]);
            let hash = fnv1a(&hashed);
            (format!("{trend_prefix}-{}", &t.day[..4]), format!("dropped-{}-{hash:016x}", t.day), doc)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Level;

    use serde_json::{Value, json};

    fn ev(text: &str) -> RawEvent<'_> {
        RawEvent::parse(text.as_bytes()).unwrap()
    }

    const READ: &str = r#"{"eventID":"e1","eventName":"GetObject","eventSource":"s3.amazonaws.com","recipientAccountId":"111122223333",
        "awsRegion":"eu-west-1","userIdentity":{"type":"AssumedRole"}}"#;

    #[test]
    fn a_tally_has_the_trend_documents_field_names_and_the_rule() {
        let mut t = Tallies::default();
        t.count(&ev(READ), b"2024.08.01", "e1", 0);
        t.count(&ev(&READ.replace("e1", "e2").replace("AssumedRole", "IAMUser")), b"2024.08.01", "e2", 0);
        let rule = Match::new("r-reads", "S3 reads", Level::Informational, Vec::new());
        let named = Accounts::new([("111122223333".to_owned(), "prod".to_owned())].into());
        let docs: Vec<_> = t.documents("trailship-trends-cloudtrail", |_| &rule, &named).collect();
        assert_eq!(docs.len(), 1, "the identity type is not part of the key");
        let (index, id, doc) = &docs[0];
        let doc: Value = serde_json::from_slice(doc).unwrap();
        assert_eq!(index, "trailship-trends-cloudtrail-2024");
        assert!(id.starts_with("dropped-2024-08-01-"), "{id}");
        assert_eq!(
            doc,
            json!({"day": "2024-08-01", "cloud": {"account": {"id": "111122223333", "name": "prod"}, "region": "eu-west-1"},
                "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "count": 2, "dropped": true,
                "filter": {"rule": {"id": "r-reads", "name": "S3 reads"}}})
        );
        for (field, _) in DIMS {
            assert!(super::super::TRENDS.dims.contains(&field), "{field} is a trend dimension too");
        }
    }

    #[test]
    fn the_id_follows_the_events_counted_not_their_order_or_object() {
        let rule = Match::new("r", "r", Level::Informational, Vec::new());
        let ids = |events: &[&str]| {
            let mut t = Tallies::default();
            for id in events {
                t.count(&ev(&READ.replace("e1", id)), b"2024.08.01", id, 0);
            }
            t.documents("p", |_| &rule, &Accounts::default()).map(|(_, id, _)| id).collect::<Vec<_>>()
        };
        assert_eq!(ids(&["a", "b"]), ids(&["b", "a"]));
        assert_ne!(ids(&["a", "b"]), ids(&["a", "c"]));
        assert_ne!(ids(&["a"]), ids(&["a", "b"]));
    }

    #[test]
    fn a_rule_a_day_and_a_missing_field_each_make_a_tally_of_their_own() {
        let mut t = Tallies::default();
        t.count(&ev(READ), b"2024.08.01", "a", 0);
        t.count(&ev(READ), b"2024.08.01", "b", 1);
        t.count(&ev(READ), b"2024.08.02", "c", 0);
        t.count(&ev(&READ.replace(r#""awsRegion":"eu-west-1","#, "")), b"2024.08.01", "d", 0);
        t.count(&ev(&READ.replace(r#""eu-west-1""#, r#""""#)), b"2024.08.01", "e", 0);
        t.count(&ev(READ), b"2024.08.01", "f", 0);
        assert_eq!(t.counts.len(), 5);
        let rule = Match::new("r", "r", Level::Informational, Vec::new());
        let docs: Vec<Value> = t
            .documents("p", |_| &rule, &Accounts::default())
            .map(|(_, _, d)| serde_json::from_slice(&d).unwrap())
            .collect();
        assert_eq!(docs.iter().map(|d| d["count"].as_u64().unwrap()).sum::<u64>(), 6);
        let regions: Vec<&Value> = docs.iter().map(|d| &d["cloud"]["region"]).collect();
        assert!(regions.contains(&&Value::Null) && regions.contains(&&json!("")), "{docs:?}");
    }
}
