use super::*;
use chrono::NaiveDate;

/// Calls per account, region, API …, insights left out (as the CloudTrail source counts).
const CALLS: TrendShape = TrendShape {
    name: "calls",
    dims: &[
        "cloud.account.id",
        "cloud.region",
        "eventSource",
        "eventName",
        "event.outcome",
        "errorCode",
        "userIdentity.type",
    ],
    sums: &[],
    leave_out: &[("eventCategory", "Insight")],
    first_seen: true,
};

/// Requests and bytes per bucket, operation … (as the access-log source counts).
const REQUESTS: TrendShape = TrendShape {
    name: "requests",
    dims: &["bucket", "operation", "http_status", "user.type"],
    sums: &["bytes_sent"],
    leave_out: &[],
    first_seen: false,
};

fn spec(shape: TrendShape, period: IndexPeriod) -> Spec {
    let event_prefix = if shape.first_seen { "cloudtrail" } else { "s3access" }.to_owned();
    Spec { shape, event_prefix, period, accounts: Default::default() }
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[test]
fn names_follow_the_period_and_the_year() {
    let s = spec(CALLS, IndexPeriod::Day);
    assert_eq!(s.event_index(day("2026-02-03")), "cloudtrail-2026.02.03");
    assert_eq!(s.trend_index(day("2026-02-03")), "trailship-trends-cloudtrail-2026");
    let m = spec(REQUESTS, IndexPeriod::Month);
    assert_eq!(m.event_index(day("2026-02-03")), "s3access-2026.02");
    assert_eq!(m.trend_index(day("2025-12-31")), "trailship-trends-s3access-2025");
}

#[test]
fn the_query_covers_one_utc_day_pages_and_leaves_insights_out() {
    let s = spec(CALLS, IndexPeriod::Month);
    let q = s.query(day("2026-02-28"), None);
    assert_eq!(
        q["query"]["bool"]["filter"][0]["range"]["@timestamp"],
        json!({"gte": "2026-02-28T00:00:00Z", "lt": "2026-03-01T00:00:00Z"})
    );
    assert_eq!(q["query"]["bool"]["must_not"][0], json!({"term": {"eventCategory": "Insight"}}));
    let sources = q["aggs"]["keys"]["composite"]["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 7);
    assert_eq!(sources[5], json!({"errorCode": {"terms": {"field": "errorCode", "missing_bucket": true}}}));
    assert!(q["aggs"]["keys"]["composite"].get("after").is_none());
    let next = s.query(day("2026-02-28"), Some(&json!({"eventName": "X"})));
    assert_eq!(next["aggs"]["keys"]["composite"]["after"], json!({"eventName": "X"}));
    let a = spec(REQUESTS, IndexPeriod::Day).query(day("2026-02-28"), None);
    assert!(a["query"]["bool"].get("must_not").is_none());
    assert_eq!(a["aggs"]["keys"]["aggs"]["bytes_sent"], json!({"sum": {"field": "bytes_sent"}}));
}

fn bucket(account: &str, error: Option<&str>, n: u64) -> Value {
    json!({"key": {"cloud.account.id": account, "cloud.region": "us-east-1", "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject", "event.outcome": if error.is_some() {"failure"} else {"success"},
        "errorCode": error, "userIdentity.type": "AssumedRole"}, "doc_count": n})
}

#[test]
fn buckets_become_documents_with_ids_from_the_day_and_the_key() {
    let s = spec(CALLS, IndexPeriod::Day);
    let answer = json!({"aggregations": {"keys": {"after_key": {"x": 1}, "buckets": [
        bucket("111122223333", None, 5), bucket("111122223333", Some("AccessDenied"), 2), bucket("444455556666", None, 1)]}}});
    let page = s.page(day("2026-02-03"), &answer).unwrap();
    assert_eq!(page.events, 8);
    assert_eq!(page.after, None, "fewer buckets than a page: the last page");
    let (id, doc) = &page.docs[1];
    assert!(id.starts_with("2026-02-03-"), "{id}");
    assert_eq!(doc["trend_key"], json!(id));
    assert_eq!(doc["cloud"]["account"]["id"], "111122223333");
    assert_eq!(doc["errorCode"], "AccessDenied");
    assert_eq!((&doc["count"], &doc["day"]), (&json!(2), &json!("2026-02-03")));
    assert!(page.docs[0].1.get("errorCode").is_none(), "no error: no field");
    let ids: std::collections::HashSet<_> = page.docs.iter().map(|d| d.0.clone()).collect();
    assert_eq!(ids.len(), 3);
    // The same key gives the same id again, another day another one.
    let again = s.page(day("2026-02-03"), &answer).unwrap();
    assert_eq!(again.docs[1].0, *id);
    let other_day = s.page(day("2026-02-04"), &answer).unwrap();
    assert_ne!(other_day.docs[1].0[11..], id[11..]);
}

#[test]
fn a_named_account_has_its_name_and_the_same_id() {
    let answer = json!({"aggregations": {"keys": {"buckets": [bucket("111122223333", None, 5), bucket("444455556666", None, 1)]}}});
    let unnamed = spec(CALLS, IndexPeriod::Day).page(day("2026-02-03"), &answer).unwrap();
    let mut s = spec(CALLS, IndexPeriod::Day);
    s.accounts = crate::accounts::Accounts::new([("111122223333".to_owned(), "prod-payments".to_owned())].into());
    let named = s.page(day("2026-02-03"), &answer).unwrap();
    assert_eq!(named.docs[0].1["cloud"]["account"], json!({"id": "111122223333", "name": "prod-payments"}));
    assert_eq!(named.docs[1].1["cloud"]["account"], json!({"id": "444455556666"}), "no name known, none written");
    assert_eq!(named.docs[0].0, unnamed.docs[0].0, "a name is not part of the key");
}

#[test]
fn a_missing_value_and_an_empty_one_are_different_keys() {
    let s = spec(CALLS, IndexPeriod::Day);
    let mut empty = bucket("1", None, 1);
    empty["key"]["errorCode"] = json!("");
    let answer = json!({"aggregations": {"keys": {"buckets": [bucket("1", None, 1), empty]}}});
    let page = s.page(day("2026-02-03"), &answer).unwrap();
    assert_ne!(page.docs[0].0, page.docs[1].0);
}

#[test]
fn a_full_page_continues_after_its_last_key_and_access_logs_sum_bytes() {
    let s = spec(REQUESTS, IndexPeriod::Day);
    let buckets: Vec<Value> = (0..PAGE_SIZE)
        .map(|i| {
            json!({"key": {"bucket": "b", "operation": "REST.GET.OBJECT", "http_status": 200 + i, "user.type": null},
            "doc_count": 1, "bytes_sent": {"value": 1536.0}})
        })
        .collect();
    let answer = json!({"aggregations": {"keys": {"after_key": {"http_status": 1199}, "buckets": buckets}}});
    let page = s.page(day("2026-02-03"), &answer).unwrap();
    assert_eq!(page.after, Some(json!({"http_status": 1199})));
    let doc = &page.docs[0].1;
    assert_eq!((&doc["bytes_sent"], &doc["http_status"], &doc["bucket"]), (&json!(1536), &json!(200), &json!("b")));
    assert!(doc.get("user").is_none());
    assert!(s.page(day("2026-02-03"), &json!({"error": "x"})).unwrap_err().contains("no composite buckets"));
}

#[test]
fn existing_documents_are_listed_by_key() {
    let q = Spec::existing_query(day("2026-02-03"), None);
    assert_eq!(q["query"]["bool"]["filter"][0], json!({"term": {"day": "2026-02-03"}}));
    assert_eq!(
        q["query"]["bool"]["must_not"],
        json!([{"exists": {"field": "first_seen"}}, {"exists": {"field": "dropped"}}]),
        "first-seen documents and the tallies of dropped events are not the day's keys"
    );
    let answer = json!({"aggregations": {"keys": {"after_key": {"trend_key": "b"}, "buckets": [
        {"key": {"trend_key": "a", "cloud.account.id": "1", "eventName": "X"}, "doc_count": 1},
        {"key": {"trend_key": "b", "cloud.account.id": null, "eventName": null}, "doc_count": 1}]}}});
    assert_eq!(
        existing_page(&answer).unwrap(),
        (vec![("a".to_owned(), Some(("1".to_owned(), "X".to_owned()))), ("b".to_owned(), None)], None)
    );
}

#[test]
fn actions_replace_documents_by_id() {
    let ndjson = index_actions("trailship-trends-cloudtrail-2026", &[("d-1".into(), json!({"count": 1}))]);
    assert_eq!(
        String::from_utf8(ndjson).unwrap(),
        "{\"index\":{\"_id\":\"d-1\",\"_index\":\"trailship-trends-cloudtrail-2026\"}}\n{\"count\":1}\n"
    );
}

#[test]
fn every_item_must_be_confirmed() {
    let indexed = |i: &Value| matches!(i["index"]["status"].as_u64(), Some(200 | 201));
    let ok = br#"{"errors":false,"items":[{"index":{"status":201}},{"index":{"status":200}}]}"#;
    assert_eq!(check_items(ok, 2, indexed), Ok(()));
    assert!(check_items(ok, 3, indexed).unwrap_err().contains("2 items answered for 3"));
    let refused = br#"{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":429,"error":{"type":"es_rejected_execution_exception"}}}]}"#;
    assert!(check_items(refused, 2, indexed).unwrap_err().contains("es_rejected_execution_exception"));
    assert!(check_items(b"<html>", 1, indexed).unwrap_err().contains("unreadable"));
}
