//! Findings without a cluster: ids, the ranges a pass recomputes, grouped alerts from an
//! aggregation answer, and the reading of the bulk answer.

use super::pass::ranges;
use super::*;
use crate::detect::Level;
use std::collections::BTreeSet;

fn t(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

pub(super) fn settings() -> Settings {
    Settings {
        events: "cloudtrail-*".into(),
        alerts_prefix: "trailship-alerts".into(),
        period: IndexPeriod::Day,
        group_window: Duration::from_secs(3600),
        grouped: vec![Match::new("r-low", "Noisy", Level::Low, vec!["attack.t1078".into()])],
        correlations: Vec::new(),
        behaviour: None,
    }
}

#[test]
fn ids_follow_every_part_and_nothing_else() {
    let a = finding_id("group", &["r", "arn:aws:sts::1:assumed-role/A", "1", "1722506400"]);
    assert_eq!(a, finding_id("group", &["r", "arn:aws:sts::1:assumed-role/A", "1", "1722506400"]));
    assert!(a.starts_with("group-") && a.len() == "group-".len() + 32, "{a}");
    assert_ne!(a, finding_id("group", &["r", "arn:aws:sts::1:assumed-role/A", "1", "1722510000"]));
    assert_ne!(finding_id("group", &["ab", "c"]), finding_id("group", &["a", "bc"]), "parts are delimited");
}

#[test]
fn touched_hours_become_whole_windows_merged_up_to_a_day() {
    let hours: BTreeSet<i64> = [t("2024-08-01T10:00:00Z"), t("2024-08-01T11:00:00Z"), t("2024-08-01T15:00:00Z")].into();
    assert_eq!(
        ranges(&hours, 3600),
        [
            (t("2024-08-01T10:00:00Z"), t("2024-08-01T12:00:00Z")),
            (t("2024-08-01T15:00:00Z"), t("2024-08-01T16:00:00Z"))
        ]
    );
    assert_eq!(ranges(&hours, 86_400), [(t("2024-08-01T00:00:00Z"), t("2024-08-02T00:00:00Z"))]);
    let one: BTreeSet<i64> = [t("2024-08-01T10:00:00Z")].into();
    assert_eq!(ranges(&one, 900).len(), 1, "four quarter-hour windows in one range");
    assert_eq!(ranges(&one, 900)[0], (t("2024-08-01T10:00:00Z"), t("2024-08-01T11:00:00Z")));
    let day: BTreeSet<i64> = (0..48).map(|h| t("2024-08-01T00:00:00Z") + h * 3600).collect();
    assert_eq!(ranges(&day, 3600).len(), 2, "at most a day per range");
}

fn bucket(rule: &str, principal: Option<&str>, window: &str, count: u64) -> Value {
    let ms = t(window) * 1000;
    json!({
        "key": {"rule": rule, "principal": principal, "account": "111122223333", "window": ms},
        "doc_count": count,
        "first": {"value": (ms + 60_000) as f64}, "last": {"value": (ms + 1_800_000) as f64},
        "sample": {"hits": {"hits": [
            {"_index": "cloudtrail-2024.08.01", "_source": {"eventID": "e1", "eventName": "AssumeRole",
                "user": {"name": "A/s1", "principal": principal}, "cloud": {"account": {"id": "111122223333"}}}},
            {"_index": "cloudtrail-2024.08.01", "_source": {"eventID": "e2", "eventName": "AssumeRole"}},
        ]}},
    })
}

#[test]
fn groups_of_grouped_rules_become_one_alert_each() {
    let s = settings();
    let role = Some("arn:aws:sts::111122223333:assumed-role/A");
    let answer = json!({"aggregations": {"groups": {"after_key": {"x": 1}, "buckets": [
        bucket("r-low", role, "2024-08-01T10:00:00Z", 1200),
        bucket("r-high", role, "2024-08-01T10:00:00Z", 3),
        bucket("r-low", None, "2024-08-01T11:00:00Z", 2),
    ]}}});
    let page = group::page(&s, &answer).unwrap();
    assert_eq!(page.after, None, "a short page is the last");
    assert_eq!(page.findings.len(), 2, "the rule that is not grouped is left out");
    let f = &page.findings[0];
    assert_eq!((f.version, f.level, f.index.as_str()), (1200, Level::Low, "trailship-alerts-2024.08.01"));
    assert_eq!(f.newest, t("2024-08-01T10:30:00Z"));
    let d = &f.doc;
    assert_eq!(d["@timestamp"], "2024-08-01T10:01:00Z");
    assert_eq!(d["rule"], json!({"id": "r-low", "name": "Noisy", "level": "low", "tags": ["attack.t1078"]}));
    assert_eq!((&d["eventID"], &d["eventName"]), (&json!("e1"), &json!("AssumeRole")));
    assert_eq!(d["event"], json!({"kind": "alert", "index": "cloudtrail-2024.08.01"}));
    assert_eq!(
        d["alert"],
        json!({"kind": "group", "count": 1200, "first": "2024-08-01T10:01:00Z", "last": "2024-08-01T10:30:00Z",
            "window": {"start": "2024-08-01T10:00:00Z", "end": "2024-08-01T11:00:00Z"}, "event_ids": ["e1", "e2"]})
    );
    assert_ne!(page.findings[1].id, f.id, "another identity and window, another group");
    let again = group::page(&s, &answer).unwrap();
    assert_eq!(again.findings[0].id, f.id, "the same group, the same id");
}

#[test]
fn a_full_page_continues_and_the_query_asks_for_grouped_rules_in_the_range() {
    let s = settings();
    let buckets: Vec<Value> = (0..group::PAGE_SIZE).map(|_| bucket("r-low", None, "2024-08-01T10:00:00Z", 1)).collect();
    let answer = json!({"aggregations": {"groups": {"after_key": {"window": 1}, "buckets": buckets}}});
    assert_eq!(group::page(&s, &answer).unwrap().after, Some(json!({"window": 1})));
    assert!(group::page(&s, &json!({"error": "x"})).unwrap_err().contains("no composite buckets"));
    let q = group::query(&s, (t("2024-08-01T10:00:00Z"), t("2024-08-01T12:00:00Z")), Some(&json!({"window": 1})));
    let filter = &q["query"]["bool"]["filter"];
    assert_eq!(filter[0]["range"]["@timestamp"], json!({"gte": "2024-08-01T10:00:00Z", "lt": "2024-08-01T12:00:00Z"}));
    assert_eq!(filter[1], json!({"terms": {"rule.id": ["r-low"]}}));
    let composite = &q["aggs"]["groups"]["composite"];
    assert_eq!(composite["sources"][3]["window"]["date_histogram"]["fixed_interval"], "3600s");
    assert_eq!(composite["after"], json!({"window": 1}));
}

#[test]
fn the_bulk_answer_is_read_item_by_item() {
    let f = Finding {
        index: "a".into(),
        id: "group-1".into(),
        version: 7,
        level: Level::Low,
        newest: 0,
        doc: json!({"x": 1}),
    };
    let body = String::from_utf8(write_actions(std::slice::from_ref(&f))).unwrap();
    assert_eq!(
        body,
        "{\"index\":{\"_id\":\"group-1\",\"_index\":\"a\",\"version\":7,\"version_type\":\"external\"}}\n{\"x\":1}\n"
    );
    let item = |status: u64| json!({"index": {"status": status}});
    let answer = json!({"items": [item(201), item(200), item(409), item(201)]}).to_string();
    let w = read_answer(answer.as_bytes(), 4).unwrap();
    assert_eq!((w.created, w.updated, w.current), (vec![0, 3], 1, 1));
    assert!(read_answer(answer.as_bytes(), 3).unwrap_err().contains("4 items answered for 3"));
    let refused = json!({"items": [item(400)]}).to_string();
    assert!(read_answer(refused.as_bytes(), 1).unwrap_err().contains("refused"));
    assert!(read_answer(b"nope", 1).is_err());
}
