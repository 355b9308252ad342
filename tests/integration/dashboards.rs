//! The shipped dashboards over real events: every panel's aggregation and every saved search is
//! run on osmem the way OpenSearch Dashboards sends it (the saved Lucene query, the aggregations
//! nested in the saved order), over the bundled sample events plus generated events for what
//! the public samples lack (CIS items, throttling, world-open ports, large downloads) and
//! generated S3 access-log lines, on the index pattern each object names (CloudTrail, access
//! logs, or both), and the answer is compared with a direct scan of the indexed documents.
//! `trailship setup` is run against a URL without Dashboards.

use crate::dashboards_data::{SAMPLE_KEY, SAMPLE_REQUESTER, THROTTLING, access_logs, supplement};
use crate::fixtures::LogFile;
use crate::harness::{Osmem, osmem_with_samples, trailship};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use trailship::dashboards::SAVED_OBJECTS;

/// A field of an indexed document by dotted path; arrays give one value per element.
fn values(doc: &Value, path: &str) -> Vec<String> {
    let mut current = vec![doc];
    for part in path.split('.') {
        current = current
            .into_iter()
            .flat_map(|v| match v.get(part) {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(v) => vec![v],
                None => vec![],
            })
            .collect();
    }
    current
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect()
}

fn has(doc: &Value, path: &str) -> bool {
    !values(doc, path).is_empty()
}

fn is(doc: &Value, path: &str, any_of: &[&str]) -> bool {
    values(doc, path).iter().any(|v| any_of.contains(&v.as_str()))
}

fn number(doc: &Value, path: &str) -> Option<u64> {
    values(doc, path).first().and_then(|v| v.parse().ok())
}

/// Whether one of the document's world-open port ranges holds `port`.
fn opens(doc: &Value, port: u64) -> bool {
    doc["aws"]["ec2"]["world_open_ports"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["gte"].as_u64() <= Some(port) && Some(port) <= r["lte"].as_u64()))
}

type Filter = Box<dyn Fn(&Value) -> bool>;

/// The rule ids of the first-seen detections, and of the burst ones (`src/findings/behaviour.rs`).
const NEW_TO: [&str; 4] = [
    "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a51",
    "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a52",
    "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a53",
    "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a54",
];
const BURSTS: [&str; 2] = ["7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a55", "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a56"];

/// What each saved query means, written out independently of the query text: the documents a
/// panel or search must count.
fn meaning(id: &str, query: &str) -> Filter {
    let ec2_stop = |d: &Value| {
        is(d, "eventSource", &["ec2.amazonaws.com"]) && is(d, "eventName", &["StopInstances", "TerminateInstances"])
    };
    if let Some(tag) = query.strip_prefix("tags:") {
        let tag = tag.to_owned();
        return Box::new(move |d| is(d, "tags", &[&tag]));
    }
    match id {
        "trailship-overview-errors"
        | "trailship-operations-errors-by-service"
        | "trailship-operations-top-failing-apis"
        | "trailship-operations-failing-callers" => Box::new(|d| has(d, "errorCode")),
        "trailship-security-tags-over-time" => Box::new(|d| has(d, "tags")),
        "trailship-security-source-map" => Box::new(|d| has(d, "source.geo.location")),
        "trailship-security-new-access-keys" | "trailship-search-new-access-keys" => {
            Box::new(|d| is(d, "eventName", &["CreateAccessKey"]))
        }
        "trailship-operations-throttling-by-api" | "trailship-operations-throttling-by-service" => {
            Box::new(|d| is(d, "errorCode", &THROTTLING))
        }
        "trailship-operations-instance-stop-terminate" | "trailship-search-ec2-stop-terminate" => Box::new(ec2_stop),
        "trailship-search-access-key" => Box::new(|d| is(d, "aws.access_key_id", &[SAMPLE_KEY])),
        "trailship-search-world-open-ports" => Box::new(|d| opens(d, 22)),
        "trailship-security-world-open-ports" => Box::new(|d| has(d, "aws.ec2.world_open_ports")),
        "trailship-search-large-downloads" => Box::new(|d| {
            number(d, "bytes_sent").is_some_and(|n| n > 1 << 30)
                || number(d, "aws.s3.bytes_transferred_out").is_some_and(|n| n > 1 << 30)
        }),
        "trailship-s3access-errors" => Box::new(|d| number(d, "http_status").is_some_and(|s| s >= 400)),
        "trailship-s3access-denied-missing" => Box::new(|d| is(d, "http_status", &["403", "404"])),
        "trailship-search-s3access-denied" => Box::new(|d| is(d, "http_status", &["403"])),
        "trailship-search-s3access-anonymous" => Box::new(|d| !has(d, "requester")),
        "trailship-search-s3access-requester" => Box::new(|d| is(d, "requester", &[SAMPLE_REQUESTER])),
        "trailship-search-detections" => Box::new(|d| has(d, "rule.id")),
        "trailship-anomalies-findings"
        | "trailship-anomalies-by-kind"
        | "trailship-anomalies-by-rule"
        | "trailship-search-findings" => Box::new(|d| is(d, "alert.kind", &["behaviour", "correlation"])),
        "trailship-anomalies-new-to" => Box::new(|d| is(d, "rule.id", &NEW_TO)),
        "trailship-anomalies-bursts" => Box::new(|d| is(d, "rule.id", &BURSTS)),
        "trailship-anomalies-failures" | "trailship-anomalies-failures-usual" => {
            Box::new(|d| is(d, "event.outcome", &["failure"]))
        }
        "trailship-anomalies-writes" | "trailship-anomalies-writes-usual" => {
            Box::new(|d| is(d, "readOnly", &["false"]))
        }
        "trailship-trends-first-seen" => Box::new(|d| is(d, "first_seen", &["true"])),
        "trailship-detections-severe" | "trailship-detections-severe-by-account" => {
            Box::new(|d| is(d, "rule.level", &["high", "critical"]))
        }
        "trailship-search-s3-data" => {
            Box::new(|d| is(d, "eventSource", &["s3.amazonaws.com"]) && is(d, "eventCategory", &["Data"]))
        }
        _ if query.is_empty() => Box::new(|_| true),
        _ => panic!("{id}: the test does not know what {query:?} means; add it to meaning()"),
    }
}

/// The saved query of an object, with the placeholders of the editable searches swapped for
/// sample values.
fn saved_query(object: &Value) -> String {
    let source: Value =
        serde_json::from_str(object["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"].as_str().unwrap())
            .unwrap();
    source["query"]["query"]
        .as_str()
        .unwrap()
        .replace("AKIAIOSFODNN7EXAMPLE", SAMPLE_KEY)
        .replace("arn:aws:iam::111122223333:user/EXAMPLE", SAMPLE_REQUESTER)
}

/// The indices an object's index pattern covers, as a search path.
fn indices_of(object: &Value) -> &'static str {
    let refs = object["references"].as_array().unwrap();
    match refs.iter().find(|r| r["type"] == "index-pattern").unwrap()["id"].as_str().unwrap() {
        "trailship-events" => "cloudtrail-*",
        "trailship-s3access-logs" => "s3access-*",
        "trailship-all-sources" => "cloudtrail-*,s3access-*",
        "trailship-alerts" => "trailship-alerts-*",
        "trailship-cloudtrail-trends" => "trailship-trends-cloudtrail-*",
        "trailship-s3access-trends" => "trailship-trends-s3access-*",
        other => panic!("{}: unknown index pattern {other}", object["id"]),
    }
}

/// The query Dashboards sends for `query` on `indices`: the saved query within a time range on
/// the index pattern's time field (`day` for the trend indices, which `cloudtrail-*` also
/// matches but which have no `@timestamp`).
fn request_query(query: &str, indices: &str) -> Value {
    let time = if indices.contains("-trends-") { "day" } else { "@timestamp" };
    let range = json!({"range": {time: {"gte": "2000-01-01T00:00:00.000Z", "lte": "2100-01-01T00:00:00.000Z",
        "format": "strict_date_optional_time"}}});
    if query.is_empty() {
        json!({"bool": {"filter": [range]}})
    } else {
        json!({"bool": {"must": [{"query_string": {"query": query, "analyze_wildcard": true}}], "filter": [range]}})
    }
}

/// The bucket aggregations of a visState, nested in their saved order, as Dashboards builds the
/// request (an `auto` date interval becomes one day here); a `sum` metric (id `1`) is computed
/// in every bucket and orders the terms.
fn request_aggs(aggs: &[Value], sum: Option<&str>) -> Option<Value> {
    let (agg, rest) = aggs.split_first()?;
    let field = agg["params"]["field"].as_str().unwrap();
    let order = if sum.is_some() { json!({"1": "desc"}) } else { json!({"_count": "desc"}) };
    let mut body = match agg["type"].as_str().unwrap() {
        "terms" => json!({"terms": {"field": field, "size": agg["params"]["size"], "order": order}}),
        "date_histogram" => json!({"date_histogram": {"field": field, "calendar_interval": "1d", "min_doc_count": 1}}),
        "geohash_grid" => json!({"geohash_grid": {"field": field, "precision": agg["params"]["precision"]}}),
        other => panic!("no request for {other}"),
    };
    let mut inner = serde_json::Map::new();
    if let Some(sum) = sum {
        inner.insert("1".into(), json!({"sum": {"field": sum}}));
    }
    if let Some(nested) = request_aggs(rest, sum) {
        inner.insert(rest[0]["id"].as_str().unwrap().into(), nested);
    }
    if !inner.is_empty() {
        body["aggs"] = Value::Object(inner);
    }
    Some(body)
}

/// The first-level bucket a document falls in, as the test computes it.
fn expected_keys(doc: &Value, agg: &Value) -> Vec<String> {
    let field = agg["params"]["field"].as_str().unwrap();
    match agg["type"].as_str().unwrap() {
        "date_histogram" => values(doc, field).into_iter().map(|t| t[..10].to_owned()).collect(),
        "geohash_grid" => values(doc, "source.geo.location.lat").into_iter().map(|_| "any cell".to_owned()).collect(),
        _ => values(doc, field),
    }
}

fn bucket_key(bucket: &Value, agg_type: &str) -> String {
    match agg_type {
        "date_histogram" => bucket["key_as_string"].as_str().unwrap()[..10].to_owned(),
        "geohash_grid" => "any cell".to_owned(),
        _ => bucket["key"].as_str().map_or_else(|| bucket["key"].to_string(), str::to_owned),
    }
}

/// Indexes the samples, the supplement and the access logs into a fresh osmem with GeoIP;
/// returns the documents as indexed, by index pattern path.
async fn indexed() -> (Osmem, BTreeMap<&'static str, Vec<Value>>, tempfile::TempDir) {
    let extra =
        LogFile { key: "supplement.json.gz".into(), events: supplement().into_iter().map(|(e, _)| e).collect() };
    let (osmem, events, dir) = osmem_with_samples(extra, &access_logs()).await;
    let env = [("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone())];
    let days: Vec<&str> = events.iter().map(|e| &e["eventTime"].as_str().unwrap()[..10]).collect();
    let (first, last) = (days.iter().min().unwrap(), days.iter().max().unwrap());
    let trends = trailship(&["trends", "--from", first, "--to", last], &env).await;
    assert_eq!(trends.code, 0, "{}", trends.stderr);
    let mut docs = BTreeMap::new();
    for indices in [
        "cloudtrail-*",
        "s3access-*",
        "cloudtrail-*,s3access-*",
        "trailship-alerts-*",
        "trailship-trends-cloudtrail-*",
        "trailship-trends-s3access-*",
    ] {
        let body = json!({"size": 10000, "query": request_query("", indices)});
        let answer = osmem.post(&format!("/{indices}/_search"), &body).await;
        let hits = answer["hits"]["hits"].as_array().unwrap_or_else(|| panic!("{indices}: {answer}"));
        let found: Vec<Value> = hits.iter().map(|h| h["_source"].clone()).collect();
        docs.insert(indices, found);
    }
    // The trends count every event and every access-log line once.
    let counted = docs["trailship-trends-cloudtrail-*"].iter().filter(|d| d["first_seen"] != true);
    let calls: u64 = counted.map(|d| d["count"].as_u64().unwrap()).sum();
    assert!(docs["trailship-trends-cloudtrail-*"].iter().any(|d| d["first_seen"] == true));
    let insights = events.iter().filter(|e| e["eventCategory"] == "Insight").count() as u64;
    assert_eq!(calls, events.len() as u64 - insights);
    let requests: u64 = docs["trailship-trends-s3access-*"].iter().map(|d| d["count"].as_u64().unwrap()).sum();
    assert_eq!(requests as usize, access_logs().iter().map(|(_, text)| text.lines().count()).sum::<usize>());
    assert_eq!(docs["cloudtrail-*"].len(), events.len());
    let lines: usize = access_logs().iter().map(|(_, text)| text.lines().count()).sum();
    assert_eq!(docs["s3access-*"].len(), lines);
    assert_eq!(docs["cloudtrail-*,s3access-*"].len(), events.len() + lines);
    // Every (rule, event) pair the events carry is one alert document, or counted in one group
    // (low rules, grouped per rule, identity, account and hour), but for the rule only a
    // correlation counts (EC2 Stop or Terminate Call).
    let counted_only = "3c7b9e12-58f4-4a0d-b6c1-2e9d7f4a8b05";
    let pairs: usize = docs["cloudtrail-*"]
        .iter()
        .filter_map(|d| d["rule"]["id"].as_array())
        .map(|ids| ids.iter().filter(|id| *id != counted_only).count())
        .sum();
    assert!(pairs > 50, "{pairs}");
    let alerts = &docs["trailship-alerts-*"];
    let singles = alerts.iter().filter(|a| a["alert"]["kind"].is_null()).count();
    let grouped: u64 =
        alerts.iter().filter(|a| a["alert"]["kind"] == "group").map(|a| a["alert"]["count"].as_u64().unwrap()).sum();
    assert!(singles > 0 && grouped > 0, "{singles} {grouped}");
    assert_eq!(singles + grouped as usize, pairs);
    (osmem, docs, dir)
}

/// A bucket's metric: its count, or its `sum` when the visualization sums a field.
fn bucket_value(bucket: &Value, sum: Option<&str>) -> u64 {
    match sum {
        Some(_) => bucket["1"]["value"].as_f64().unwrap() as u64,
        None => bucket["doc_count"].as_u64().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_panel_and_saved_search_answers_correctly_on_real_events() {
    let (osmem, docs, _dir) = indexed().await;
    let objects: Vec<Value> = SAVED_OBJECTS.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut first_level: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut checked = 0;
    for o in objects.iter().filter(|o| o["type"] == "visualization" || o["type"] == "search") {
        let id = o["id"].as_str().unwrap();
        let query = saved_query(o);
        let wanted = meaning(id, &query);
        let indices = indices_of(o);
        let matching: Vec<&Value> = docs[indices].iter().filter(|d| wanted(d)).collect();
        assert!(!matching.is_empty(), "{id}: no sample or generated event for {query:?}");

        let mut body = json!({"size": 0, "track_total_hits": true, "query": request_query(&query, indices)});
        let state: Value =
            o["attributes"]["visState"].as_str().map_or(Value::Null, |s| serde_json::from_str(s).unwrap());
        let buckets: Vec<Value> = state["aggs"]
            .as_array()
            .map(|a| a.iter().filter(|a| a["schema"] != "metric").cloned().collect())
            .unwrap_or_default();
        let metric = state["aggs"].as_array().and_then(|a| a.iter().find(|a| a["schema"] == "metric").cloned());
        let sum = metric.as_ref().filter(|m| m["type"] == "sum").map(|m| m["params"]["field"].as_str().unwrap());
        if let Some(aggs) = request_aggs(&buckets, sum) {
            body["aggs"] = json!({ buckets[0]["id"].as_str().unwrap(): aggs });
        }
        let answer = osmem.post(&format!("/{indices}/_search"), &body).await;
        let total = answer["hits"]["total"]["value"].as_u64().unwrap_or_else(|| panic!("{id}: {answer}"));
        assert_eq!(
            total,
            matching.len() as u64,
            "{id}: {query:?} matched {total}, the documents say {}",
            matching.len()
        );
        checked += 1;
        let Some(first) = buckets.first() else { continue };

        let mut expected: BTreeMap<String, u64> = BTreeMap::new();
        for d in &matching {
            let value = sum.map_or(1, |f| number(d, f).unwrap_or(0));
            for k in expected_keys(d, first) {
                *expected.entry(k).or_default() += value;
            }
        }
        let agg_type = first["type"].as_str().unwrap();
        let mut got: BTreeMap<String, u64> = BTreeMap::new();
        for b in answer["aggregations"][first["id"].as_str().unwrap()]["buckets"].as_array().unwrap() {
            *got.entry(bucket_key(b, agg_type)).or_default() += bucket_value(b, sum);
        }
        assert!(!got.is_empty(), "{id}: empty aggregation");
        // Top-N: each bucket shown has its true count, and none left out outranks one shown.
        let size = first["params"]["size"].as_u64().map_or(usize::MAX, |s| s as usize);
        assert_eq!(got.len(), expected.len().min(size), "{id}: buckets {got:?}, expected {expected:?}");
        for (k, n) in &got {
            assert_eq!(expected.get(k), Some(n), "{id}: bucket {k}: {got:?} vs {expected:?}");
        }
        let lowest_shown = got.values().min().unwrap();
        assert!(
            expected.iter().filter(|(k, _)| !got.contains_key(*k)).all(|(_, n)| n <= lowest_shown),
            "{id}: a larger bucket was left out: {got:?} vs {expected:?}"
        );
        first_level.insert(id.to_owned(), got);
    }
    assert_eq!(checked, objects.iter().filter(|o| o["type"] == "visualization" || o["type"] == "search").count());

    // Each generated event shows in the panel it was made for (so each tag rule and query
    // really selects what its title says).
    for (e, panel) in supplement() {
        let name = e["eventName"].as_str().unwrap();
        let id = match panel {
            "throttled" => "trailship-operations-throttling-by-service".to_owned(),
            "instance" => "trailship-operations-instance-stop-terminate".to_owned(),
            "world" => "trailship-security-world-open-ports".to_owned(),
            "large" | "history" => continue,
            tag => format!("trailship-security-cis-{}", tag.replace('_', "-")),
        };
        let rows = &first_level[&id];
        let key = match panel {
            "throttled" => e["eventSource"].as_str().unwrap().to_owned(),
            "instance" => e["eventTime"].as_str().unwrap()[..10].to_owned(),
            "world" => "operator".to_owned(),
            _ => name.to_owned(),
        };
        assert!(rows.contains_key(&key), "{id}: {name} not in {rows:?}");
    }
    // The operator's writes after sixteen days of reads are new to it.
    let new_to = &first_level["trailship-anomalies-new-to"];
    assert!(new_to.contains_key("Write API New to an Identity"), "{new_to:?}");
    // The real samples answer the rest: unauthorized calls, CloudTrail changes, new keys, stops.
    assert_eq!(first_level["trailship-security-cis-unauthorized-call"].values().sum::<u64>(), 51);
    assert!(first_level["trailship-security-cis-cloudtrail-change"].contains_key("StopLogging"));
    assert_eq!(first_level["trailship-security-new-access-keys"], BTreeMap::from([("christophe".to_owned(), 2)]));
    let countries = &first_level["trailship-security-source-countries"];
    assert!(countries.contains_key("Spain") && countries.contains_key("United Kingdom"), "{countries:?}");

    // The questions of the issue, answered by name: port 22 opened to the world (a 22-22 rule
    // and an all-traffic rule, not 22 to 10.0.0.0/8 beside 443 to the world); downloads over
    // 1 GB from both sources; one key in both sources; the top downloader by bytes.
    let hits = |o: &str| {
        let object = objects.iter().find(|x| x["id"] == o).unwrap().clone();
        let osmem = &osmem;
        async move {
            let body = json!({"size": 100, "query": request_query(&saved_query(&object), indices_of(&object))});
            let answer = osmem.post(&format!("/{}/_search", indices_of(&object)), &body).await;
            let mut found: Vec<String> = answer["hits"]["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    let s = &h["_source"];
                    s["eventID"].as_str().or(s["key"].as_str()).unwrap().to_owned()
                })
                .collect();
            found.sort();
            found
        }
    };
    // 9fd68588…: Stratus Red Team's "open port 22" sample (208.236.235.254/0).
    assert_eq!(
        hits("trailship-search-world-open-ports").await,
        ["9fd68588-ecbf-4528-a345-199fa6bb0821", "sup-sg-22", "sup-sg-all"]
    );
    assert_eq!(hits("trailship-search-large-downloads").await, ["big.iso", "exports/db.dump", "sup-s3-download"]);
    let key_hits = hits("trailship-search-access-key").await;
    assert!(key_hits.contains(&"exports/db.dump".to_owned()) && key_hits.len() > 1, "{key_hits:?}");
    assert_eq!(hits("trailship-search-s3access-anonymous").await, ["public/a%2Bb.txt", "public/index.html"]);
    let downloaders = &first_level["trailship-s3access-top-downloaders"];
    assert_eq!(downloaders["arn:aws:iam::111122223333:user/bob"], 5_368_709_120, "{downloaders:?}");
    assert!(first_level["trailship-s3access-countries"].contains_key("United Kingdom"));
}
