//! Correlation findings: a correlation rule ([`crate::detect::correlation`]) evaluated on event
//! time over the indexed events its rules matched (`rule.id`), read in time order with the
//! fields it groups and counts by. In each group a sliding window of `timespan` ends at every
//! event; a **burst** starts at the event that makes the condition hold and lasts while it
//! holds: one finding per burst, counting its events, whatever the number of files, workers or
//! passes its events came through. A burst's `_id` is the rule, the group and the `timespan`
//! slot of the event that started it. Pure: the query, the evaluation and the documents.

use super::{COPIED, Finding, Settings, alert_index, finding_id, rfc3339};
use crate::detect::correlation::{Correlation, Kind};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Events read per page.
pub const PAGE_SIZE: usize = 1000;

/// Events read for one correlation and range at most; past it the range is evaluated on what
/// was read and a warning says so.
pub const MAX_EVENTS: usize = 100_000;

/// EventIDs kept per finding, the earliest first.
pub const SAMPLE: usize = 10;

/// One event as a correlation reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its time, Unix seconds.
    pub time: i64,
    /// Its `eventID`.
    pub id: String,
    /// The rules it matched (`rule.id`).
    pub rules: Vec<String>,
    /// Its group: the values of the group-by fields (`""` where absent).
    pub group: Vec<String>,
    /// The counted value (`value_count`), the fields' values joined.
    pub value: String,
    /// The copied fields and the index it is in.
    pub copy: Value,
}

/// The search for one page of the events `c` reads in `[from, to)`, after `after`.
pub fn query(c: &Correlation, (from, to): (i64, i64), after: Option<&Value>) -> Value {
    let mut fields: Vec<String> = COPIED.iter().map(|f| f.to_string()).collect();
    fields.extend(["@timestamp".to_owned(), "rule.id".to_owned()]);
    fields.extend(c.group_by.iter().cloned());
    if let Kind::ValueCount(counted) = &c.kind {
        fields.extend(counted.iter().cloned());
    }
    let range = json!({"range": {"@timestamp": {"gte": rfc3339(from), "lt": rfc3339(to)}}});
    let mut body = json!({
        "size": PAGE_SIZE,
        "track_total_hits": false,
        "_source": fields,
        "sort": [{"@timestamp": "asc"}, {"eventID": "asc"}],
        "query": {"bool": {"filter": [range, {"terms": {"rule.id": c.rules}}]}},
    });
    if let Some(after) = after {
        body["search_after"] = after.clone();
    }
    body
}

/// The value of a dotted field of a document, as text (`""` when absent).
fn text_at(doc: &Value, path: &str) -> String {
    let v = doc.get(path).or_else(|| path.split('.').try_fold(doc, |v, part| v.get(part)));
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The events of one page of [`query`]'s answer, and where the next page starts.
pub fn page(c: &Correlation, answer: &Value) -> Result<(Vec<Event>, Option<Value>), String> {
    let hits = answer["hits"]["hits"].as_array().ok_or_else(|| format!("no hits in the answer: {}", head(answer)))?;
    let mut events = Vec::with_capacity(hits.len());
    for hit in hits {
        let s = &hit["_source"];
        let time = s["@timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
            .ok_or_else(|| format!("an event without @timestamp: {}", head(hit)))?;
        let rules = match &s["rule"]["id"] {
            Value::String(id) => vec![id.clone()],
            Value::Array(ids) => ids.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        let value = match &c.kind {
            Kind::ValueCount(fields) => fields.iter().map(|f| text_at(s, f)).collect::<Vec<_>>().join("\u{1f}"),
            _ => String::new(),
        };
        let mut copy = Map::new();
        for field in COPIED {
            if let Some(v) = s.get(field) {
                copy.insert(field.into(), v.clone());
            }
        }
        if let Some(index) = hit["_index"].as_str() {
            copy.insert("_index".into(), json!(index));
        }
        events.push(Event {
            time,
            id: text_at(s, "eventID"),
            rules,
            group: c.group_by.iter().map(|f| text_at(s, f)).collect(),
            value,
            copy: Value::Object(copy),
        });
    }
    let after = if hits.len() >= PAGE_SIZE { hits.last().and_then(|h| h.get("sort")).cloned() } else { None };
    Ok((events, after))
}

/// A burst: from the event that made the condition hold, while it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// The group's values.
    pub group: Vec<String>,
    /// When the condition first held (the event that made it).
    pub start: i64,
    /// The events it counts (the window's when it started, and those while it held).
    pub events: Vec<usize>,
}

/// Whether `c`'s condition holds for the events `window` (indices into `events`).
fn holds(c: &Correlation, events: &[Event], window: &VecDeque<usize>) -> bool {
    let seen = |rule: &str| window.iter().any(|&i| events[i].rules.iter().any(|r| r == rule));
    match &c.kind {
        Kind::EventCount => c.meets(window.len() as u64),
        Kind::ValueCount(_) => {
            let distinct: BTreeSet<&str> = window.iter().map(|&i| events[i].value.as_str()).collect();
            c.meets(distinct.len() as u64)
        }
        Kind::Temporal(None) => c.rules.iter().all(|r| seen(r)),
        Kind::Temporal(Some(expr)) => expr.holds(&seen),
        Kind::TemporalOrdered => {
            // The rules in the listed order: each matched no later than the next one's match.
            let mut bound = i64::MAX;
            for rule in c.rules.iter().rev() {
                let latest = window
                    .iter()
                    .rev()
                    .map(|&i| &events[i])
                    .find(|e| e.time <= bound && e.rules.iter().any(|r| r == rule));
                match latest {
                    Some(e) => bound = e.time,
                    None => return false,
                }
            }
            true
        }
    }
}

/// The bursts of `events` (in time order), per group.
pub fn bursts(c: &Correlation, events: &[Event]) -> Vec<Burst> {
    let mut groups: BTreeMap<&[String], Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        groups.entry(&e.group).or_default().push(i);
    }
    let mut out = Vec::new();
    for (group, members) in groups {
        let mut window: VecDeque<usize> = VecDeque::new();
        let mut open: Option<Burst> = None;
        for &i in &members {
            let t = events[i].time;
            window.push_back(i);
            while window.front().is_some_and(|&f| events[f].time <= t - c.timespan) {
                window.pop_front();
            }
            match (holds(c, events, &window), open.as_mut()) {
                (true, Some(burst)) => burst.events.push(i),
                (true, None) => {
                    open = Some(Burst { group: group.to_vec(), start: t, events: window.iter().copied().collect() })
                }
                (false, _) => out.extend(open.take()),
            }
        }
        out.extend(open);
    }
    out
}

/// The finding of a burst.
pub fn finding(settings: &Settings, c: &Correlation, events: &[Event], burst: &Burst) -> Finding {
    let slot = burst.start.div_euclid(c.timespan);
    let mut parts: Vec<&str> = vec![&c.reported.id];
    parts.extend(burst.group.iter().map(String::as_str));
    let slot_text = slot.to_string();
    parts.push(&slot_text);
    let (first, last) = (events[burst.events[0]].time, events[*burst.events.last().expect("a burst has events")].time);
    let starter =
        burst.events.iter().map(|&i| &events[i]).find(|e| e.time == burst.start).unwrap_or(&events[burst.events[0]]);
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), json!(rfc3339(burst.start)));
    let r = &c.reported;
    doc.insert("rule".into(), json!({"id": r.id, "name": r.title, "level": r.level.as_str(), "tags": r.tags}));
    for (k, v) in starter.copy.as_object().into_iter().flatten().filter(|(k, _)| k.as_str() != "_index") {
        doc.insert(k.clone(), v.clone());
    }
    let mut event = json!({"kind": "alert"});
    if let Some(index) = starter.copy.get("_index") {
        event["index"] = index.clone();
    }
    doc.insert("event".into(), event);
    let group: Map<String, Value> = c.group_by.iter().zip(&burst.group).map(|(f, v)| (f.clone(), json!(v))).collect();
    let ids: Vec<&str> = burst.events.iter().take(SAMPLE).map(|&i| events[i].id.as_str()).collect();
    doc.insert(
        "alert".into(),
        json!({
            "kind": "correlation",
            "count": burst.events.len(),
            "first": rfc3339(first),
            "last": rfc3339(last),
            "window": {"start": rfc3339(first), "end": rfc3339(last)},
            "event_ids": ids,
            "group": group,
        }),
    );
    Finding {
        index: alert_index(settings, burst.start),
        id: finding_id("corr", &parts),
        version: burst.events.len() as u64,
        level: r.level,
        newest: last,
        doc: Value::Object(doc),
    }
}

fn head(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

#[cfg(test)]
#[path = "correlate_tests.rs"]
mod tests;
