//! The burst detections of [`super`]: an identity's failed calls, or an account × region ×
//! write API's calls, in a `burst_window` far above what is usual for the key: the queries for
//! the candidate windows and their baselines, and the decision.

use super::{
    PAGE_SIZE, Seen, document, leaves, narrowed, nested_terms, range_filter, sample_aggs, terms_filters, tuples,
    values_of,
};
use crate::config::AnomaliesConfig;
use crate::detect::Level;
use crate::findings::{Finding, Settings, alert_index, finding_id, rfc3339};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A burst detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    /// Its rule id and title.
    pub rule: (&'static str, &'static str),
    /// The key's fields.
    pub key: &'static [&'static str],
    /// Failed calls (`event.outcome: failure`) rather than write calls.
    pub errors: bool,
}

/// The burst detections.
pub const BURSTS: [Burst; 2] = [
    Burst {
        rule: ("7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a55", "Error Burst for One Identity"),
        key: &["user.principal"],
        errors: true,
    },
    Burst {
        rule: ("7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a56", "API Volume Spike"),
        key: &["cloud.account.id", "cloud.region", "eventName"],
        errors: false,
    },
];

/// The first event of each of `seen`, burst candidates of `window` seconds in `[from, to)`.
pub fn burst_samples(b: &Burst, window: i64, seen: &[Seen], range: (i64, i64)) -> Value {
    narrowed(burst_candidates(b, window, range, None), b.key, seen, Some(window))
}

/// The window candidates of a burst detection in `[from, to)`.
pub fn burst_candidates(b: &Burst, window: i64, (from, to): (i64, i64), after: Option<&Value>) -> Value {
    let mut sources: Vec<Value> =
        b.key.iter().enumerate().map(|(i, f)| json!({ format!("k{i}"): {"terms": {"field": f}} })).collect();
    sources
        .push(json!({"window": {"date_histogram": {"field": "@timestamp", "fixed_interval": format!("{window}s")}}}));
    let mut composite = json!({"size": PAGE_SIZE, "sources": sources});
    if let Some(after) = after {
        composite["after"] = after.clone();
    }
    json!({"size": 0, "track_total_hits": false, "query": burst_query(b, range_filter(from, to)),
        "aggs": {"c": {"composite": composite, "aggs": sample_aggs()}}})
}

fn burst_query(b: &Burst, range: Value) -> Value {
    let what =
        if b.errors { json!({"term": {"event.outcome": "failure"}}) } else { json!({"term": {"readOnly": false}}) };
    let mut filter = vec![range, what];
    filter.extend(b.key.iter().map(|f| json!({"exists": {"field": f}})));
    json!({"bool": {"filter": filter}})
}

/// The baseline of the candidate keys over `[from, to)`: their events and the first one's time.
pub fn baseline(b: &Burst, seen: &[Seen], (from, to): (i64, i64)) -> Value {
    let values = values_of(seen, b.key.len());
    let mut aggs = nested_terms(b.key, &values);
    let mut leaf = &mut aggs;
    while leaf.get("aggs").is_some() {
        leaf = &mut leaf["aggs"]["n"];
    }
    leaf["aggs"] = json!({"first": {"min": {"field": "@timestamp"}}});
    json!({"size": 0, "track_total_hits": false,
        "query": {"bool": {"filter": [burst_query(b, range_filter(from, to)), {"bool": {"filter": terms_filters(b.key, &values)}}]}},
        "aggs": {"n": aggs}})
}

/// The first event time (Unix seconds) per key of one answer to [`baseline`].
pub fn baseline_firsts(answer: &Value) -> BTreeMap<Vec<String>, i64> {
    let mut out = BTreeMap::new();
    let first = |b: &Value| b["first"]["value"].as_f64().map(|ms| (ms / 1000.0).floor() as i64);
    leaves(&answer["aggregations"]["n"], Vec::new(), &mut out, &first);
    out
}

/// The baseline of the candidate keys of the window starting at `start` at the same time of
/// day: that window and its neighbours on each of the `days` before.
pub fn same_time(b: &Burst, seen: &[Seen], start: i64, window: i64, days: u32) -> Value {
    let values = values_of(seen, b.key.len());
    let spans: Vec<Value> = (1..=i64::from(days))
        .map(|d| {
            let at = start - d * 86_400;
            range_filter(at - window, at + 2 * window)
        })
        .collect();
    let when = json!({"bool": {"should": spans, "minimum_should_match": 1}});
    json!({"size": 0, "track_total_hits": false,
        "query": {"bool": {"filter": [burst_query(b, when), {"bool": {"filter": terms_filters(b.key, &values)}}]}},
        "aggs": {"n": nested_terms(b.key, &values)}})
}

/// What a key usually does: its events in the `baseline_days` before, and at the same time of
/// day ([`same_time`]) on those days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usual {
    /// Events in the `baseline_days` before the range.
    pub total: u64,
    /// How many of those days the key's baseline covers: from its first event in them on.
    pub days: u32,
    /// Events in the window and its neighbours on each of those days.
    pub same_time: u64,
}

/// The events per key of one answer to [`baseline`] or [`same_time`].
pub fn baseline_counts(answer: &Value) -> BTreeMap<Vec<String>, u64> {
    let mut out = BTreeMap::new();
    tuples(&answer["aggregations"]["n"], Vec::new(), &mut out);
    out
}

/// The usual window of a key: the larger of its baseline's average window and its average
/// window at this time of day; `None` when a volume spike has no full baseline to compare
/// with, as CloudTrail Insights does (a key seen for a day has no week).
fn expected(b: &Burst, knobs: &AnomaliesConfig, usual: Usual) -> Option<(f64, f64, f64)> {
    if !b.errors && (usual.days < knobs.baseline_days || usual.total == 0) {
        return None;
    }
    let window = knobs.burst_window.as_secs() as f64;
    let days = f64::from(knobs.baseline_days);
    let average = usual.total as f64 * window / (days * 86_400.0);
    let at_this_time = usual.same_time as f64 / (days * 3.0);
    Some((average.max(at_this_time), average, at_this_time))
}

/// Whether `count` events in a window are a burst against `usual`. The time of day can only
/// raise what is usual, so a window that is no burst with `same_time` 0 is none at all.
pub fn is_burst(b: &Burst, knobs: &AnomaliesConfig, count: u64, usual: Usual) -> bool {
    let floor = if b.errors { knobs.error_floor } else { knobs.volume_floor };
    expected(b, knobs, usual)
        .is_some_and(|(e, _, _)| count >= floor && count as f64 >= f64::from(knobs.burst_factor) * e)
}

/// The finding of a window far above what is usual for its key, if it is one.
pub fn burst_finding(
    settings: &Settings,
    b: &Burst,
    knobs: &AnomaliesConfig,
    s: &Seen,
    usual: Usual,
) -> Option<Finding> {
    if !is_burst(b, knobs, s.count, usual) {
        return None;
    }
    let (expected, average, at_this_time) = expected(b, knobs, usual)?;
    let window = knobs.burst_window.as_secs() as f64;
    let start = s.window.unwrap_or(s.first);
    let mut key: Vec<&str> = vec![b.rule.0];
    key.extend(s.key.iter().map(String::as_str));
    let start_text = start.to_string();
    key.push(&start_text);
    let mut evidence = Map::new();
    for (f, v) in b.key.iter().zip(&s.key) {
        evidence.insert(f.to_string(), json!(v));
    }
    evidence.insert(
        "expected".into(),
        json!(format!(
            "{expected:.2} per {}s window (the {} days before: {average:.2} on average, {at_this_time:.2} at this time of day)",
            window as u64, knobs.baseline_days
        )),
    );
    evidence.insert("observed".into(), json!(format!("{} in the window from {}", s.count, rfc3339(start))));
    let level = Level::Medium;
    let mut doc = document(b.rule, level, s, evidence);
    doc["alert"]["window"] = json!({"start": rfc3339(start), "end": rfc3339(start + window as i64)});
    Some(Finding {
        index: alert_index(settings, start),
        id: finding_id("burst", &key),
        version: s.count,
        level,
        newest: s.last,
        doc,
    })
}
