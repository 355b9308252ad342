//! The built-in behavioural detections (`[anomalies]`), computed on event time from the indexed
//! events, each with a stable rule id:
//!
//! - **first seen**: a write API new to an identity (`user.principal`), a service new to an
//!   account, a country or a network (ASN) new to an identity — once the owner has a history
//!   (`learning_days`; for places `place_min_events` over `place_min_days`) in the
//!   `history_days` before the range and the thing is not in it. One finding per owner and thing,
//!   ever. AWS service principals, and for places calls `invokedBy` a service, are left out.
//! - **bursts**: an identity's failed calls, or an account × region × write API's calls, in a
//!   `burst_window` at least `burst_factor` times what is usual and at least a floor. Usual is
//!   the larger of the average window of the `baseline_days` before the range and the average
//!   window at the same time of day on those days (the window and its two neighbours), so the
//!   working day's first hour or an hourly job is not a spike every day. Volume spikes need a
//!   baseline of all the `baseline_days`. One finding per key and window.
//!
//! Pure: the queries, the decisions and the documents (the bursts' in `burst.rs`);
//! [`super::behave`] makes the requests.

use super::{COPIED, Finding, Settings, alert_index, finding_id, rfc3339};
use crate::config::AnomaliesConfig;
use crate::detect::Level;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Candidates asked for per composite page.
pub const PAGE_SIZE: usize = 500;

/// Services whose writes change who may do what, or what is recorded: a new write API there is
/// high.
const SENSITIVE: [&str; 5] = [
    "iam.amazonaws.com",
    "kms.amazonaws.com",
    "cloudtrail.amazonaws.com",
    "organizations.amazonaws.com",
    "sts.amazonaws.com",
];

/// How an owner earns the history that makes something new to it a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learn {
    /// Its first event at least `learning_days` before.
    Days,
    /// At least `place_min_events` events, the first `place_min_days` before.
    Place,
}

/// A first-seen detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstSeen {
    /// Its rule id, title and what it says.
    pub rule: (&'static str, &'static str),
    /// The owner's field.
    pub owner: &'static str,
    /// The thing's fields.
    pub thing: &'static [&'static str],
    /// How the owner learns.
    pub learn: Learn,
    /// Whether only write calls count.
    pub writes: bool,
    /// Whether calls `invokedBy` a service are left out.
    pub direct: bool,
}

/// The first-seen detections.
pub const FIRST_SEEN: [FirstSeen; 4] = [
    FirstSeen {
        rule: ("7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a51", "Write API New to an Identity"),
        owner: "user.principal",
        thing: &["eventSource", "eventName"],
        learn: Learn::Days,
        writes: true,
        direct: false,
    },
    FirstSeen {
        rule: ("7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a52", "Service New to an Account"),
        owner: "cloud.account.id",
        thing: &["eventSource"],
        learn: Learn::Days,
        writes: false,
        direct: false,
    },
    FirstSeen {
        rule: ("7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a53", "Country New to an Identity"),
        owner: "user.principal",
        thing: &["source.geo.country_iso_code"],
        learn: Learn::Place,
        writes: false,
        direct: true,
    },
    FirstSeen {
        rule: ("7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a54", "Network (ASN) New to an Identity"),
        owner: "user.principal",
        thing: &["source.as.number"],
        learn: Learn::Place,
        writes: false,
        direct: true,
    },
];

fn range_filter(from: i64, to: i64) -> Value {
    json!({"range": {"@timestamp": {"gte": rfc3339(from), "lt": rfc3339(to)}}})
}

/// The filters and exclusions of a first-seen detection's events.
fn first_seen_query(d: &FirstSeen, range: Value) -> Value {
    let mut filter = vec![range, json!({"exists": {"field": d.owner}})];
    filter.extend(d.thing.iter().map(|f| json!({"exists": {"field": f}})));
    if d.writes {
        filter.push(json!({"term": {"readOnly": false}}));
    }
    let mut must_not = vec![json!({"term": {"user.type": "AWSService"}})];
    if d.direct {
        must_not.push(json!({"exists": {"field": "userIdentity.invokedBy"}}));
    }
    json!({"bool": {"filter": filter, "must_not": must_not}})
}

/// The owners and things seen in `[from, to)`, from `after` on.
pub fn candidates(d: &FirstSeen, (from, to): (i64, i64), after: Option<&Value>) -> Value {
    let mut sources = vec![json!({"owner": {"terms": {"field": d.owner}}})];
    sources.extend(d.thing.iter().enumerate().map(|(i, f)| json!({ format!("t{i}"): {"terms": {"field": f}} })));
    let mut composite = json!({"size": PAGE_SIZE, "sources": sources});
    if let Some(after) = after {
        composite["after"] = after.clone();
    }
    json!({"size": 0, "track_total_hits": false, "query": first_seen_query(d, range_filter(from, to)),
        "aggs": {"c": {"composite": composite, "aggs": sample_aggs()}}})
}

/// A candidate's first and last event time. Its first event's fields are read only for the
/// candidates that become findings, one search a page ([`first_seen_samples`],
/// [`burst_samples`]): a `top_hits` in every bucket was most of a pass's time.
fn sample_aggs() -> Value {
    json!({
        "first": {"min": {"field": "@timestamp"}},
        "last": {"max": {"field": "@timestamp"}},
    })
}

/// The first event of each of `seen`, first-seen candidates in `[from, to)`: the candidates'
/// query narrowed to them, with the first event of each bucket.
pub fn first_seen_samples(d: &FirstSeen, seen: &[Seen], range: (i64, i64)) -> Value {
    let fields: Vec<&str> = std::iter::once(d.owner).chain(d.thing.iter().copied()).collect();
    narrowed(candidates(d, range, None), &fields, seen, None)
}

fn narrowed(mut query: Value, fields: &[&str], seen: &[Seen], window: Option<i64>) -> Value {
    let one_of: Vec<Value> = seen
        .iter()
        .map(|s| {
            let mut all: Vec<Value> =
                fields.iter().zip(&s.key).map(|(f, v)| json!({"term": {f.to_string(): v}})).collect();
            if let Some(w) = window {
                let start = s.window.unwrap_or(s.first);
                all.push(range_filter(start, start + w));
            }
            json!({"bool": {"filter": all}})
        })
        .collect();
    let base = query["query"].take();
    query["query"] = json!({"bool": {"filter": [base, {"bool": {"should": one_of, "minimum_should_match": 1}}]}});
    query["aggs"]["c"]["composite"]["size"] = json!(seen.len().max(1));
    query["aggs"]["c"]["aggs"]["sample"] =
        json!({"top_hits": {"size": 1, "sort": [{"@timestamp": "asc"}], "_source": COPIED}});
    query
}

/// Sets the sample of each of `seen` from an answer to [`first_seen_samples`] or
/// [`burst_samples`] (`names` its key names): the first event's copied fields and its index.
pub fn set_samples(seen: &mut [Seen], answer: &Value, names: &[String]) {
    let mut found = BTreeMap::new();
    for b in answer["aggregations"]["c"]["buckets"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let key: Vec<String> = names.iter().map(|n| text(&b["key"][n])).collect();
        let window = b["key"]["window"].as_i64().map(|ms| ms / 1000);
        let hit = &b["sample"]["hits"]["hits"][0];
        let mut sample = hit["_source"].clone();
        if let (Some(o), Some(index)) = (sample.as_object_mut(), hit["_index"].as_str()) {
            o.insert("_index".into(), json!(index));
        }
        found.insert((key, window), sample);
    }
    for s in seen {
        if let Some(sample) = found.remove(&(s.key.clone(), s.window)) {
            s.sample = sample;
        }
    }
}

/// One candidate: an owner and a thing, when it was first and last seen in the range.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The key's values (owner then thing, or the burst's key).
    pub key: Vec<String>,
    /// Events.
    pub count: u64,
    /// First and last event time (Unix seconds).
    pub first: i64,
    /// See `first`.
    pub last: i64,
    /// The window start, for bursts.
    pub window: Option<i64>,
    /// The first event's copied fields and index, once read ([`set_samples`]).
    pub sample: Value,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The candidates of one composite answer (`names` its key names, in order), and where the next
/// page starts.
pub fn seen_page(answer: &Value, names: &[String]) -> Result<(Vec<Seen>, Option<Value>), String> {
    let agg = &answer["aggregations"]["c"];
    let buckets =
        agg["buckets"].as_array().ok_or_else(|| format!("no composite buckets in the answer: {}", head(answer)))?;
    let mut out = Vec::new();
    for b in buckets {
        let secs = |a: &str| b[a]["value"].as_f64().map(|ms| (ms / 1000.0).floor() as i64).unwrap_or(0);
        out.push(Seen {
            key: names.iter().map(|n| text(&b["key"][n])).collect(),
            count: b["doc_count"].as_u64().unwrap_or(0),
            first: secs("first"),
            last: secs("last"),
            window: b["key"]["window"].as_i64().map(|ms| ms / 1000),
            sample: Value::Null,
        });
    }
    let after = match agg.get("after_key") {
        Some(k) if !k.is_null() && buckets.len() >= PAGE_SIZE => Some(k.clone()),
        _ => None,
    };
    Ok((out, after))
}

/// Nested terms over `fields`, each restricted to the values `values[i]`, for the history of
/// the candidates.
fn nested_terms(fields: &[&str], values: &[BTreeSet<String>]) -> Value {
    let mut agg = Value::Null;
    for (i, f) in fields.iter().enumerate().rev() {
        let mut terms = json!({"terms": {"field": f, "size": values[i].len().max(1)}});
        if !agg.is_null() {
            terms["aggs"] = json!({"n": agg});
        }
        agg = terms;
    }
    agg
}

/// The values of each key field among `seen`.
fn values_of(seen: &[Seen], width: usize) -> Vec<BTreeSet<String>> {
    (0..width).map(|i| seen.iter().map(|s| s.key[i].clone()).collect()).collect()
}

fn terms_filters(fields: &[&str], values: &[BTreeSet<String>]) -> Vec<Value> {
    fields.iter().zip(values).map(|(f, v)| json!({"terms": {f.to_string(): v.iter().collect::<Vec<_>>()}})).collect()
}

/// The owners' history before the range: their first event, their events, and which of the
/// candidates' things they had.
pub fn history(d: &FirstSeen, seen: &[Seen], (from, to): (i64, i64)) -> Value {
    let values = values_of(seen, 1 + d.thing.len());
    // The owner's history is all its events; what it knew, the events this detection counts.
    let all = FirstSeen { writes: false, thing: &[], ..d.clone() };
    let query = first_seen_query(&all, range_filter(from, to));
    let mut known = terms_filters(d.thing, &values[1..]);
    if d.writes {
        known.push(json!({"term": {"readOnly": false}}));
    }
    let known_filter = json!({"bool": {"filter": known}});
    json!({"size": 0, "track_total_hits": false,
    "query": {"bool": {"filter": [query, {"terms": {d.owner: values[0].iter().collect::<Vec<_>>()}}]}},
    "aggs": {"owners": {"terms": {"field": d.owner, "size": values[0].len().max(1)}, "aggs": {
        "first": {"min": {"field": "@timestamp"}},
        "known": {"filter": known_filter, "aggs": {"n": nested_terms(d.thing, &values[1..])}},
    }}}})
}

/// An owner's history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    /// Its first event (Unix seconds).
    pub first: i64,
    /// Its events.
    pub events: u64,
    /// The candidates' things it had.
    pub known: BTreeSet<Vec<String>>,
}

/// The key tuples under nested terms buckets, each with what `leaf` reads from its innermost
/// bucket (none when it reads nothing).
fn leaves<T>(agg: &Value, prefix: Vec<String>, out: &mut BTreeMap<Vec<String>, T>, leaf: &dyn Fn(&Value) -> Option<T>) {
    for b in agg["buckets"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let mut key = prefix.clone();
        key.push(text(&b["key"]));
        if b.get("n").is_some() {
            leaves(&b["n"], key, out, leaf);
        } else if let Some(v) = leaf(b) {
            out.insert(key, v);
        }
    }
}

/// The key tuples under nested terms buckets and their events.
fn tuples(agg: &Value, prefix: Vec<String>, out: &mut BTreeMap<Vec<String>, u64>) {
    leaves(agg, prefix, out, &|b| Some(b["doc_count"].as_u64().unwrap_or(0)));
}

/// The owners of one answer to [`history`].
pub fn owners(answer: &Value) -> BTreeMap<String, Owner> {
    let mut out = BTreeMap::new();
    for b in answer["aggregations"]["owners"]["buckets"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let mut known = BTreeMap::new();
        tuples(&b["known"]["n"], Vec::new(), &mut known);
        let first = b["first"]["value"].as_f64().map(|ms| (ms / 1000.0).floor() as i64).unwrap_or(i64::MAX);
        out.insert(
            text(&b["key"]),
            Owner { first, events: b["doc_count"].as_u64().unwrap_or(0), known: known.into_keys().collect() },
        );
    }
    out
}

/// Whether `s` is new to an owner with this history, under `knobs`.
pub fn is_new(d: &FirstSeen, knobs: &AnomaliesConfig, s: &Seen, owner: Option<&Owner>) -> bool {
    let Some(owner) = owner else { return false };
    if owner.known.contains(&s.key[1..]) {
        return false;
    }
    let day = 86_400;
    match d.learn {
        Learn::Days => owner.first <= s.first - i64::from(knobs.learning_days) * day,
        Learn::Place => {
            owner.events >= knobs.place_min_events && owner.first <= s.first - i64::from(knobs.place_min_days) * day
        }
    }
}

/// The finding of something new to its owner.
pub fn first_seen_finding(settings: &Settings, d: &FirstSeen, s: &Seen, owner: &Owner) -> Finding {
    let sensitive = d.thing == ["eventSource", "eventName"] && SENSITIVE.contains(&s.key[1].as_str());
    let level = if sensitive { Level::High } else { Level::Medium };
    let mut key: Vec<&str> = vec![d.rule.0];
    key.extend(s.key.iter().map(String::as_str));
    let mut evidence = Map::new();
    evidence.insert(d.owner.into(), json!(s.key[0]));
    for (f, v) in d.thing.iter().zip(&s.key[1..]) {
        evidence.insert(f.to_string(), json!(v));
    }
    evidence.insert(
        "expected".into(),
        json!(format!("known to {} since {}: {} events, not this", d.owner, rfc3339(owner.first), owner.events)),
    );
    evidence.insert(
        "observed".into(),
        json!(format!("{} events from {} to {}", s.count, rfc3339(s.first), rfc3339(s.last))),
    );
    let doc = document(d.rule, level, s, evidence);
    Finding {
        index: alert_index(settings, s.first),
        id: finding_id("new", &key),
        version: 1,
        level,
        newest: s.last,
        doc,
    }
}

/// A behaviour finding's document: the first event's fields and `alert.*` with the evidence.
fn document((id, title): (&str, &str), level: Level, s: &Seen, evidence: Map<String, Value>) -> Value {
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), json!(rfc3339(s.first)));
    doc.insert(
        "rule".into(),
        json!({"id": id, "name": title, "level": level.as_str(), "tags": ["trailship.behaviour"]}),
    );
    for field in COPIED {
        if let Some(v) = s.sample.get(field) {
            doc.insert(field.into(), v.clone());
        }
    }
    let mut event = json!({"kind": "alert"});
    if let Some(index) = s.sample.get("_index") {
        event["index"] = index.clone();
    }
    doc.insert("event".into(), event);
    let first_id = s.sample.get("eventID").cloned().unwrap_or(Value::Null);
    doc.insert(
        "alert".into(),
        json!({"kind": "behaviour", "count": s.count, "first": rfc3339(s.first), "last": rfc3339(s.last),
            "event_ids": [first_id], "evidence": evidence}),
    );
    Value::Object(doc)
}

fn head(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

#[path = "burst.rs"]
mod burst;
pub use burst::{
    BURSTS, Burst, Usual, baseline, baseline_counts, baseline_firsts, burst_candidates, burst_finding, burst_samples,
    is_burst, same_time,
};

#[cfg(test)]
#[path = "behaviour_tests.rs"]
mod tests;
