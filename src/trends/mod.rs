//! Daily trend aggregates: what one day of an event index holds, counted per key of a few
//! bounded dimensions that each log source names ([`TrendShape`]: account, region, service,
//! API, outcome, error, identity type for CloudTrail; bucket, operation, status, requester type
//! for S3 access logs), written to
//! yearly `trailship-trends-{prefix}-YYYY` indices that are kept for years after the raw daily indices
//! are gone. Pure: the queries, the pages they answer, the documents and their ids; the
//! requests are made in [`compute`], the days to recompute are gathered in [`crate::touched`].
//!
//! A trend document's `_id` is the day and a hash of its key, and it is written with `index`,
//! so recomputing a day replaces its documents (after late events, a backfill, or another
//! worker doing the same day): the result depends only on the raw index.

pub mod compute;
pub mod first_seen;

use crate::config::IndexPeriod;
use crate::index::deadletter::fnv1a;
use chrono::NaiveDate;
use serde_json::{Map, Value, json};

/// Keys asked for per composite aggregation page.
pub const PAGE_SIZE: usize = 1000;

/// What a log source's daily trends count: one trend document per day and key of `dims`, with
/// the events' count and the sums of `sums`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendShape {
    /// A short name for messages (the source's name).
    pub name: &'static str,
    /// The fields counted by, each also the field of the trend document.
    pub dims: &'static [&'static str],
    /// Numeric fields summed per key, each also a field of the trend document.
    pub sums: &'static [&'static str],
    /// Events left out, as `(field, value)` terms.
    pub leave_out: &'static [(&'static str, &'static str)],
    /// Whether the first day each account called each API is kept ([`first_seen`]).
    pub first_seen: bool,
}

/// The trends of one source's event indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// What is counted.
    pub shape: TrendShape,
    /// The event indices' prefix.
    pub event_prefix: String,
    /// How the event indices are cut.
    pub period: IndexPeriod,
    /// Account names: a trend document with `cloud.account.id` gets `cloud.account.name`.
    pub accounts: crate::accounts::Accounts,
}

/// One page of a day's keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The trend documents, `(_id, document)`.
    pub docs: Vec<(String, Value)>,
    /// Events the page's keys count.
    pub events: u64,
    /// Where the next page starts; `None` after the last.
    pub after: Option<Value>,
}

impl Spec {
    /// A short name for messages: the source's.
    pub fn name(&self) -> &'static str {
        self.shape.name
    }

    /// The trend indices' prefix: `trailship-trends-{event prefix}`.
    pub fn trend_prefix(&self) -> String {
        crate::config::trends::trend_prefix(&self.event_prefix)
    }

    /// The event index holding `day`.
    pub fn event_index(&self, day: NaiveDate) -> String {
        let date = day.format("%Y.%m.%d").to_string();
        format!("{}-{}", self.event_prefix, self.period.suffix(&date))
    }

    /// The trend index holding `day`: `trailship-trends-{prefix}-YYYY`.
    pub fn trend_index(&self, day: NaiveDate) -> String {
        format!("{}-{}", self.trend_prefix(), day.format("%Y"))
    }

    /// The composite aggregation over `day` of the event index, from `after` on.
    pub fn query(&self, day: NaiveDate, after: Option<&Value>) -> Value {
        let sources: Vec<Value> =
            self.shape.dims.iter().map(|d| json!({ *d: {"terms": {"field": d, "missing_bucket": true}} })).collect();
        let mut composite = json!({"size": PAGE_SIZE, "sources": sources});
        if let Some(after) = after {
            composite["after"] = after.clone();
        }
        let mut agg = json!({"composite": composite});
        if !self.shape.sums.is_empty() {
            let sums: Map<String, Value> =
                self.shape.sums.iter().map(|f| (f.to_string(), json!({"sum": {"field": f}}))).collect();
            agg["aggs"] = Value::Object(sums);
        }
        let (from, to) = (day_start(day), day_start(day + chrono::Days::new(1)));
        let mut query = json!({"bool": {"filter": [{"range": {"@timestamp": {"gte": from, "lt": to}}}]}});
        if !self.shape.leave_out.is_empty() {
            let terms: Vec<Value> = self.shape.leave_out.iter().map(|(f, v)| json!({"term": {*f: v}})).collect();
            query["bool"]["must_not"] = Value::Array(terms);
        }
        json!({"size": 0, "track_total_hits": false, "query": query, "aggs": {"keys": agg}})
    }

    /// The trend documents of one answer to [`Spec::query`] for `day`.
    pub fn page(&self, day: NaiveDate, answer: &Value) -> Result<Page, String> {
        let agg = &answer["aggregations"]["keys"];
        let buckets =
            agg["buckets"].as_array().ok_or_else(|| format!("no composite buckets in the answer: {}", head(answer)))?;
        let day_text = day.format("%Y-%m-%d").to_string();
        let mut docs = Vec::with_capacity(buckets.len());
        let mut events = 0;
        for bucket in buckets {
            let count = bucket["doc_count"].as_u64().ok_or_else(|| format!("a bucket without doc_count: {bucket}"))?;
            events += count;
            let mut doc = Map::new();
            doc.insert("day".into(), Value::from(day_text.clone()));
            let values: Vec<Option<String>> = self
                .shape
                .dims
                .iter()
                .map(|field| {
                    let v = &bucket["key"][*field];
                    if !v.is_null() {
                        insert_path(&mut doc, field, v.clone());
                    }
                    (!v.is_null()).then(|| scalar(v))
                })
                .collect();
            let id = key_id(&day_text, values.iter().map(Option::as_deref));
            if let Some(name) = bucket["key"]["cloud.account.id"].as_str().and_then(|a| self.accounts.name(a)) {
                insert_path(&mut doc, "cloud.account.name", Value::from(name));
            }
            doc.insert("trend_key".into(), Value::from(id.clone()));
            doc.insert("count".into(), Value::from(count));
            for field in self.shape.sums {
                let sum = bucket[*field]["value"].as_f64().unwrap_or(0.0);
                doc.insert(field.to_string(), Value::from(sum.round() as u64));
            }
            docs.push((id, Value::Object(doc)));
        }
        let after = match (buckets.is_empty(), agg.get("after_key")) {
            (false, Some(key)) if !key.is_null() && buckets.len() >= PAGE_SIZE => Some(key.clone()),
            _ => None,
        };
        Ok(Page { docs, events, after })
    }

    /// The query listing the `_id`s of `day`'s trend documents (with their account and API,
    /// for [`first_seen`]), from `after` on. First-seen documents and the tallies of dropped
    /// events (`dropped: true`, written with the events) are not the day's keys.
    pub fn existing_query(day: NaiveDate, after: Option<&Value>) -> Value {
        let sources = json!([
            {"trend_key": {"terms": {"field": "trend_key"}}},
            {"cloud.account.id": {"terms": {"field": "cloud.account.id", "missing_bucket": true}}},
            {"eventName": {"terms": {"field": "eventName", "missing_bucket": true}}},
        ]);
        let mut composite = json!({"size": PAGE_SIZE, "sources": sources});
        if let Some(after) = after {
            composite["after"] = after.clone();
        }
        let query = json!({"bool": {
            "filter": [{"term": {"day": day.format("%Y-%m-%d").to_string()}}],
            "must_not": [{"exists": {"field": "first_seen"}}, {"exists": {"field": "dropped"}}],
        }});
        json!({"size": 0, "track_total_hits": false, "query": query, "aggs": {"keys": {"composite": composite}}})
    }
}

/// An account and an API (`eventName`).
pub type Pair = (String, String);

/// One page of a composite aggregation: its entries, and where the next page starts.
pub type Paged<T> = (Vec<T>, Option<Value>);

/// The pair a CloudTrail trend document (or composite key) counts, if it has both.
pub fn pair_of(account: &Value, name: &Value) -> Option<Pair> {
    Some((account.as_str()?.to_owned(), name.as_str()?.to_owned()))
}

/// The documents one answer to [`Spec::existing_query`] lists (id, and pair when CloudTrail),
/// and where the next page starts.
pub fn existing_page(answer: &Value) -> Result<Paged<(String, Option<Pair>)>, String> {
    let agg = &answer["aggregations"]["keys"];
    let buckets =
        agg["buckets"].as_array().ok_or_else(|| format!("no composite buckets in the answer: {}", head(answer)))?;
    let ids = buckets
        .iter()
        .filter_map(|b| {
            let k = &b["key"];
            Some((k["trend_key"].as_str()?.to_owned(), pair_of(&k["cloud.account.id"], &k["eventName"])))
        })
        .collect::<Vec<_>>();
    let after = match agg.get("after_key") {
        Some(key) if !key.is_null() && buckets.len() >= PAGE_SIZE => Some(key.clone()),
        _ => None,
    };
    Ok((ids, after))
}

/// `_bulk` NDJSON writing `docs` to `index` with `index` actions (replacing what is there).
pub fn index_actions(index: &str, docs: &[(String, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, doc) in docs {
        serde_json::to_writer(&mut out, &json!({"index": {"_index": index, "_id": id}})).expect("json serializes");
        out.push(b'\n');
        serde_json::to_writer(&mut out, doc).expect("json serializes");
        out.push(b'\n');
    }
    out
}

/// The `_id` (and `trend_key`) of the trend document of `day` (`YYYY-MM-DD`) and a key: its
/// values in the order of the shape's `dims`, `None` where the field is missing (which hashes
/// apart from an empty string).
fn key_id<'a>(day: &str, values: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut hashed: Vec<u8> = day.as_bytes().to_vec();
    for v in values {
        match v {
            None => hashed.push(0),
            Some(text) => {
                hashed.push(1);
                hashed.extend_from_slice(text.as_bytes());
            }
        }
        hashed.push(0xff);
    }
    format!("{day}-{:016x}", fnv1a(&[&hashed]))
}

fn day_start(day: NaiveDate) -> String {
    format!("{}T00:00:00Z", day.format("%Y-%m-%d"))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn head(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

/// Sets `a.b.c` in `doc` as nested objects.
fn insert_path(doc: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            doc.insert(path.to_owned(), value);
        }
        Some((first, rest)) => {
            let child = doc.entry(first.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = child {
                insert_path(map, rest, value);
            }
        }
    }
}

/// Checks that a `_bulk` answer has `expected` items, each of them `ok`.
pub(super) fn check_items(answer: &[u8], expected: usize, ok: impl Fn(&Value) -> bool) -> Result<(), String> {
    let answer: Value = serde_json::from_slice(answer).map_err(|e| format!("unreadable _bulk answer: {e}"))?;
    let items = answer["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.len() != expected {
        return Err(format!("{} items answered for {expected}", items.len()));
    }
    match items.iter().find(|i| !ok(i)) {
        None => Ok(()),
        Some(bad) => Err(format!("an item was refused: {}", bad.to_string().chars().take(300).collect::<String>())),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
