//! "Seen for the first time": one document per account and API (`eventName`) holding the first
//! day the CloudTrail trends have it (`first_seen: true`, in the trend index of that day's
//! year), so a dashboard filtered to a time range lists the calls new in it. Recomputing a day
//! reconsiders the pairs it has or had: their first day is the earliest trend document of the
//! pair in any year, and the document moves (or goes) when that changes. Idempotent like the
//! day documents.

use super::{Paged, Pair, Spec, pair_of};
use crate::index::client::{BulkClient, Client};
use crate::index::deadletter::fnv1a;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate};
use opensearch::http::Method;
use opensearch::http::headers::HeaderMap;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Pairs asked about per request.
const CHUNK: usize = 1000;

/// The `_id` of a pair's first-seen document.
pub fn id(pair: &Pair) -> String {
    format!("first-{:016x}", fnv1a(&[pair.0.as_bytes(), pair.1.as_bytes()]))
}

/// The first-seen document of `pair`, first seen on `day`, its account named `name` (the name
/// when it was written: the document is written again only when the pair's first day moves).
pub fn document(pair: &Pair, day: NaiveDate, name: Option<String>) -> Value {
    let mut doc = json!({"day": day.format("%Y-%m-%d").to_string(), "cloud": {"account": {"id": pair.0}},
        "eventName": pair.1, "first_seen": true, "trend_key": id(pair)});
    if let Some(name) = name {
        doc["cloud"]["account"]["name"] = Value::from(name);
    }
    doc
}

/// The query for the earliest day of each pair among the day documents of the APIs `names`.
pub fn earliest_query(names: &[&str], after: Option<&Value>) -> Value {
    let mut composite = json!({"size": super::PAGE_SIZE, "sources": [
        {"a": {"terms": {"field": "cloud.account.id"}}}, {"n": {"terms": {"field": "eventName"}}}]});
    if let Some(after) = after {
        composite["after"] = after.clone();
    }
    json!({"size": 0, "track_total_hits": false,
        "query": {"bool": {"filter": [{"terms": {"eventName": names}}], "must_not": [{"exists": {"field": "first_seen"}}, {"exists": {"field": "dropped"}}]}},
        "aggs": {"pairs": {"composite": composite, "aggs": {"first": {"min": {"field": "day"}}}}}})
}

/// The pairs and earliest days of one answer to [`earliest_query`], and where the next page
/// starts.
pub fn earliest_page(answer: &Value) -> Result<Paged<(Pair, NaiveDate)>, String> {
    let agg = &answer["aggregations"]["pairs"];
    let buckets = agg["buckets"].as_array().ok_or_else(|| format!("no composite buckets in the answer: {answer}"))?;
    let mut out = Vec::with_capacity(buckets.len());
    for b in buckets {
        let pair = pair_of(&b["key"]["a"], &b["key"]["n"]).ok_or_else(|| format!("a bucket without its key: {b}"))?;
        let millis = b["first"]["value"].as_f64().ok_or_else(|| format!("a bucket without its first day: {b}"))?;
        let day = DateTime::from_timestamp_millis(millis as i64).ok_or_else(|| format!("a bad day: {b}"))?;
        out.push((pair, day.date_naive()));
    }
    let after = match agg.get("after_key") {
        Some(key) if !key.is_null() && buckets.len() >= super::PAGE_SIZE => Some(key.clone()),
        _ => None,
    };
    Ok((out, after))
}

/// Brings the first-seen documents of `pairs` up to date; returns how many were written or
/// deleted.
pub async fn update(client: &Client, spec: &Spec, pairs: &BTreeSet<Pair>) -> Result<usize, String> {
    let all = format!("{}-*", spec.trend_prefix());
    if pairs.is_empty() {
        return Ok(0);
    }
    if !client.is_serverless() {
        let refresh = format!("/{all}/_refresh");
        client.request(Method::Post, &refresh, HeaderMap::new(), None).await.map_err(|e| format!("refresh: {e}"))?;
    }
    let pairs: Vec<&Pair> = pairs.iter().collect();
    let mut changed = 0;
    for chunk in pairs.chunks(CHUNK) {
        let wanted: BTreeSet<&Pair> = chunk.iter().copied().collect();
        let names: BTreeSet<&str> = chunk.iter().map(|p| p.1.as_str()).collect();
        let names: Vec<&str> = names.into_iter().collect();
        let mut earliest: BTreeMap<Pair, NaiveDate> = BTreeMap::new();
        let mut after: Option<Value> = None;
        loop {
            let answer = client
                .search(&all, &earliest_query(&names, after.as_ref()))
                .await
                .map_err(|e| format!("finding first days: {e}"))?;
            let (page, next) = earliest_page(&answer)?;
            earliest.extend(page.into_iter().filter(|(p, _)| wanted.contains(p)));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let ids: Vec<String> = chunk.iter().map(|p| id(p)).collect();
        let query = json!({"size": ids.len(), "_source": ["day"], "query": {"ids": {"values": ids}}});
        let answer = client.search(&all, &query).await.map_err(|e| format!("reading first-seen documents: {e}"))?;
        let hits = answer["hits"]["hits"].as_array().ok_or_else(|| format!("no hits in the answer: {answer}"))?;
        let current: BTreeMap<&str, (&str, &str)> = hits
            .iter()
            .filter_map(|h| Some((h["_id"].as_str()?, (h["_index"].as_str()?, h["_source"]["day"].as_str()?))))
            .collect();
        let mut body = Vec::new();
        let mut actions = 0;
        for pair in chunk {
            let id = id(pair);
            let now = current.get(id.as_str()).copied();
            let want = earliest.get(*pair).map(|d| (spec.trend_index(*d), *d));
            if let (Some((index, day)), Some((want_index, want_day))) = (now, &want)
                && index == want_index
                && day == want_day.format("%Y-%m-%d").to_string()
            {
                continue;
            }
            if let Some((index, _)) = now
                && want.as_ref().is_none_or(|(w, _)| w != index)
            {
                write_line(&mut body, &json!({"delete": {"_index": index, "_id": id}}));
                actions += 1;
            }
            if let Some((index, day)) = want {
                write_line(&mut body, &json!({"index": {"_index": index, "_id": id}}));
                write_line(&mut body, &document(pair, day, spec.accounts.name(&pair.0)));
                actions += 1;
            }
            changed += 1;
        }
        if actions > 0 {
            let answer =
                client.bulk(Bytes::from(body)).await.map_err(|e| format!("writing first-seen documents: {e}"))?;
            check_mixed(&answer, actions)?;
        }
    }
    Ok(changed)
}

fn write_line(out: &mut Vec<u8>, v: &Value) {
    serde_json::to_writer(&mut *out, v).expect("json serializes");
    out.push(b'\n');
}

/// Every item of a `_bulk` answer of `index` and `delete` actions confirmed.
fn check_mixed(answer: &[u8], expected: usize) -> Result<(), String> {
    super::check_items(answer, expected, |i| match (i.get("index"), i.get("delete")) {
        (Some(r), None) => matches!(r["status"].as_u64(), Some(200 | 201)),
        (None, Some(r)) => matches!(r["status"].as_u64(), Some(200 | 404)),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_have_stable_ids_and_earliest_days_come_from_the_min_aggregation() {
        let p = ("111122223333".to_owned(), "DeleteTrail".to_owned());
        assert_eq!(id(&p), id(&p.clone()));
        assert_ne!(id(&p), id(&("111122223333".to_owned(), "CreateTrail".to_owned())));
        let d = document(&p, NaiveDate::from_ymd_opt(2024, 8, 3).unwrap(), None);
        assert_eq!(
            (&d["day"], &d["first_seen"], &d["cloud"]["account"]["id"]),
            (&json!("2024-08-03"), &json!(true), &json!("111122223333"))
        );
        let q = earliest_query(&["DeleteTrail"], None);
        assert_eq!(q["query"]["bool"]["filter"][0], json!({"terms": {"eventName": ["DeleteTrail"]}}));
        assert_eq!(
            q["query"]["bool"]["must_not"][1],
            json!({"exists": {"field": "dropped"}}),
            "tallies are no calls seen"
        );
        let answer = json!({"aggregations": {"pairs": {"buckets": [
            {"key": {"a": "1", "n": "X"}, "doc_count": 2, "first": {"value": 1_722_643_200_000.0_f64, "value_as_string": "2024-08-03T00:00:00.000Z"}}]}}});
        let (page, next) = earliest_page(&answer).unwrap();
        assert_eq!(page, [(("1".to_owned(), "X".to_owned()), NaiveDate::from_ymd_opt(2024, 8, 3).unwrap())]);
        assert_eq!(next, None);
    }

    #[test]
    fn index_and_delete_items_must_all_be_confirmed() {
        let ok = br#"{"items":[{"index":{"status":201}},{"delete":{"status":404}}]}"#;
        assert_eq!(check_mixed(ok, 2), Ok(()));
        let bad = br#"{"items":[{"index":{"status":429}}]}"#;
        assert!(check_mixed(bad, 1).unwrap_err().contains("refused"));
        assert!(check_mixed(ok, 3).is_err());
    }
}
