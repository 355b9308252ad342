//! Grouped alerts: the events a grouped rule matched (`rule.id` on the event documents),
//! counted per rule, identity (`user.principal`), account and window of
//! `alerts.group_window` (aligned to the Unix epoch, so to the hour and the day), with the
//! first and last event time and the first [`SAMPLE`] eventIDs. A storm of a thousand matches
//! an hour is one document that says so. Pure: the query and its answer's documents.

use super::{COPIED, Finding, Settings, alert_index, finding_id, rfc3339};
use crate::detect::Match;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Groups asked for per composite aggregation page.
pub const PAGE_SIZE: usize = 500;

/// EventIDs kept per group, the earliest first.
pub const SAMPLE: usize = 10;

/// The aggregation over the events of `[from, to)` (Unix seconds) that grouped rules matched,
/// from `after` on.
pub fn query(settings: &Settings, (from, to): (i64, i64), after: Option<&Value>) -> Value {
    let ids: Vec<&str> = settings.grouped.iter().map(|m| m.id.as_str()).collect();
    let window = format!("{}s", settings.group_window.as_secs());
    let mut composite = json!({"size": PAGE_SIZE, "sources": [
        {"rule": {"terms": {"field": "rule.id"}}},
        {"principal": {"terms": {"field": "user.principal", "missing_bucket": true}}},
        {"account": {"terms": {"field": "cloud.account.id", "missing_bucket": true}}},
        {"window": {"date_histogram": {"field": "@timestamp", "fixed_interval": window}}},
    ]});
    if let Some(after) = after {
        composite["after"] = after.clone();
    }
    let range = json!({"range": {"@timestamp": {"gte": rfc3339(from), "lt": rfc3339(to)}}});
    let sample = json!({"top_hits": {"size": SAMPLE, "sort": [{"@timestamp": "asc"}], "_source": COPIED}});
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": {"bool": {"filter": [range, {"terms": {"rule.id": ids}}]}},
        "aggs": {"groups": {"composite": composite, "aggs": {
            "first": {"min": {"field": "@timestamp"}},
            "last": {"max": {"field": "@timestamp"}},
            "sample": sample,
        }}},
    })
}

/// One page of groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The grouped alerts.
    pub findings: Vec<Finding>,
    /// Where the next page starts; `None` after the last.
    pub after: Option<Value>,
}

/// The grouped alerts of one answer to [`query`]. Buckets of rules that are not grouped (an
/// event matched by a grouped rule and another one) are left out.
pub fn page(settings: &Settings, answer: &Value) -> Result<Page, String> {
    let rules: HashMap<&str, &Match> = settings.grouped.iter().map(|m| (m.id.as_str(), m)).collect();
    let agg = &answer["aggregations"]["groups"];
    let buckets =
        agg["buckets"].as_array().ok_or_else(|| format!("no composite buckets in the answer: {}", head(answer)))?;
    let mut findings = Vec::new();
    for bucket in buckets {
        let key = &bucket["key"];
        let Some(rule) = key["rule"].as_str().and_then(|id| rules.get(id)) else { continue };
        let count = bucket["doc_count"].as_u64().ok_or_else(|| format!("a group without doc_count: {bucket}"))?;
        let window = key["window"].as_i64().ok_or_else(|| format!("a group without its window: {bucket}"))? / 1000;
        let secs = |agg: &str| bucket[agg]["value"].as_f64().map(|ms| (ms / 1000.0).floor() as i64);
        let (first, last) = (secs("first").unwrap_or(window), secs("last").unwrap_or(window));
        let hits = bucket["sample"]["hits"]["hits"].as_array().map(Vec::as_slice).unwrap_or_default();
        let (principal, account) = (key["principal"].as_str().unwrap_or(""), key["account"].as_str().unwrap_or(""));
        let id = finding_id("group", &[&rule.id, principal, account, &window.to_string()]);
        findings.push(Finding {
            index: alert_index(settings, window),
            id,
            version: count,
            level: rule.level,
            newest: last,
            doc: document(rule, (window, window + settings.group_window.as_secs() as i64), (first, last), count, hits),
        });
    }
    let after = match agg.get("after_key") {
        Some(key) if !key.is_null() && buckets.len() >= PAGE_SIZE => Some(key.clone()),
        _ => None,
    };
    Ok(Page { findings, after })
}

/// A group's alert document: the shape of a single alert (the first event's fields) and
/// `alert.*` saying what it counts.
fn document(rule: &Match, (start, end): (i64, i64), (first, last): (i64, i64), count: u64, hits: &[Value]) -> Value {
    let mut doc = Map::new();
    doc.insert("@timestamp".into(), json!(rfc3339(first)));
    doc.insert(
        "rule".into(),
        json!({"id": rule.id, "name": rule.title, "level": rule.level.as_str(), "tags": rule.tags}),
    );
    if let Some(hit) = hits.first() {
        for field in COPIED {
            if let Some(v) = hit["_source"].get(field) {
                doc.insert(field.into(), v.clone());
            }
        }
    }
    let mut event = json!({"kind": "alert"});
    if let Some(index) = hits.first().and_then(|h| h["_index"].as_str()) {
        event["index"] = json!(index);
    }
    doc.insert("event".into(), event);
    let ids: Vec<&Value> = hits.iter().filter_map(|h| h["_source"].get("eventID")).collect();
    doc.insert(
        "alert".into(),
        json!({
            "kind": "group",
            "count": count,
            "first": rfc3339(first),
            "last": rfc3339(last),
            "window": {"start": rfc3339(start), "end": rfc3339(end)},
            "event_ids": ids,
        }),
    );
    Value::Object(doc)
}

fn head(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}
