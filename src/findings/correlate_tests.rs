//! Correlation bursts on event time: one finding per burst whatever order or split the events
//! come in, per group, for each correlation type.

use super::*;
use crate::detect::Match;
use crate::detect::correlation::{Expr, Op};

fn correlation(kind: Kind, rules: &[&str], timespan: i64, gte: Option<u64>) -> Correlation {
    Correlation {
        reported: Match::new("c-1", "Burst", crate::detect::Level::High, vec![]),
        kind,
        rules: rules.iter().map(|r| r.to_string()).collect(),
        group_by: vec!["user.principal".into()],
        timespan,
        predicates: gte.map(|n| vec![(Op::Gte, n)]).unwrap_or_default(),
    }
}

fn ev(time: i64, rule: &str, who: &str, value: &str) -> Event {
    Event {
        time,
        id: format!("e{time}"),
        rules: vec![rule.into()],
        group: vec![who.into()],
        value: value.into(),
        copy: json!({"eventID": format!("e{time}"), "_index": "cloudtrail-2024.08.01"}),
    }
}

fn sizes(c: &Correlation, events: &[Event]) -> Vec<(String, i64, usize)> {
    bursts(c, events).into_iter().map(|b| (b.group[0].clone(), b.start, b.events.len())).collect()
}

#[test]
fn an_event_count_fires_once_per_burst_per_group() {
    let c = correlation(Kind::EventCount, &["fail"], 600, Some(3));
    // Four failures in five minutes, a quiet hour, three more; bob fails twice only.
    let mut events: Vec<Event> =
        [0, 60, 120, 300, 4000, 4100, 4200].iter().map(|&t| ev(t, "fail", "alice", "")).collect();
    events.extend([ev(10, "fail", "bob", ""), ev(20, "fail", "bob", "")]);
    events.sort_by_key(|e| e.time);
    assert_eq!(sizes(&c, &events), [("alice".into(), 120, 4), ("alice".into(), 4200, 3)]);
}

#[test]
fn a_burst_is_the_same_finding_from_part_of_its_events_or_all() {
    let c = correlation(Kind::EventCount, &["fail"], 600, Some(3));
    let settings = super::super::tests::settings();
    let all: Vec<Event> = (0..10).map(|i| ev(i * 30, "fail", "alice", "")).collect();
    let early = bursts(&c, &all[..4]);
    let late = bursts(&c, &all);
    assert_eq!((early.len(), late.len()), (1, 1));
    let (a, b) = (finding(&settings, &c, &all[..4], &early[0]), finding(&settings, &c, &all, &late[0]));
    assert_eq!(a.id, b.id, "the same burst, the same document");
    assert_eq!((a.version, b.version), (4, 10), "the count only grows");
    assert_eq!(b.doc["alert"]["kind"], "correlation");
    assert_eq!(b.doc["alert"]["group"], json!({"user.principal": "alice"}));
    assert_eq!(b.doc["alert"]["event_ids"].as_array().unwrap().len(), SAMPLE);
    assert_eq!(b.doc["@timestamp"], "1970-01-01T00:01:00Z", "the event that made it hold");
    assert_eq!((&b.doc["eventID"], &b.doc["event"]["index"]), (&json!("e60"), &json!("cloudtrail-2024.08.01")));
}

#[test]
fn a_value_count_counts_distinct_values_in_the_window() {
    let c = correlation(Kind::ValueCount(vec!["userIdentity.userName".into()]), &["fail"], 600, Some(3));
    let same: Vec<Event> = (0..5).map(|i| ev(i * 10, "fail", "1.2.3.4", "root")).collect();
    assert!(bursts(&c, &same).is_empty(), "one user five times is not a spray");
    let spray: Vec<Event> =
        ["a", "b", "a", "c"].iter().enumerate().map(|(i, u)| ev(i as i64 * 10, "fail", "1.2.3.4", u)).collect();
    assert_eq!(sizes(&c, &spray), [("1.2.3.4".into(), 30, 4)]);
}

#[test]
fn temporal_rules_need_every_rule_and_ordered_ones_their_order() {
    let any = correlation(Kind::Temporal(None), &["login", "key"], 3600, None);
    let ordered = correlation(Kind::TemporalOrdered, &["login", "key"], 3600, None);
    let in_order = [ev(0, "login", "alice", ""), ev(100, "key", "alice", "")];
    let reversed = [ev(0, "key", "alice", ""), ev(100, "login", "alice", "")];
    let too_far = [ev(0, "login", "alice", ""), ev(4000, "key", "alice", "")];
    assert_eq!(bursts(&any, &in_order).len(), 1);
    assert_eq!(bursts(&any, &reversed).len(), 1);
    assert!(bursts(&any, &too_far).is_empty());
    assert_eq!(bursts(&ordered, &in_order).len(), 1);
    assert!(bursts(&ordered, &reversed).is_empty());
    let either = correlation(
        Kind::Temporal(Some(Expr::Or(vec![Expr::Rule("login".into()), Expr::Rule("key".into())]))),
        &["login", "key"],
        3600,
        None,
    );
    assert_eq!(bursts(&either, &[ev(0, "key", "bob", "")]).len(), 1);
}

#[test]
fn the_query_reads_the_rules_events_in_time_order_with_the_fields_used() {
    let c = correlation(Kind::ValueCount(vec!["userIdentity.userName".into()]), &["fail"], 600, Some(3));
    let q = query(&c, (0, 3600), Some(&json!([1, "e"])));
    assert_eq!(q["query"]["bool"]["filter"][1], json!({"terms": {"rule.id": ["fail"]}}));
    assert_eq!(q["sort"], json!([{"@timestamp": "asc"}, {"eventID": "asc"}]));
    assert_eq!(q["search_after"], json!([1, "e"]));
    let fields = q["_source"].as_array().unwrap();
    assert!(fields.contains(&json!("user.principal")) && fields.contains(&json!("userIdentity.userName")));
    let answer = json!({"hits": {"hits": [{"_index": "i", "_source": {"@timestamp": "2024-08-01T10:00:00Z",
        "eventID": "x", "rule": {"id": ["fail", "other"]}, "user": {"principal": "arn:p"},
        "userIdentity": {"userName": "root"}}, "sort": [1, "x"]}]}});
    let (events, next) = page(&c, &answer).unwrap();
    assert_eq!(next, None, "a short page is the last");
    assert_eq!((events[0].group.clone(), events[0].value.as_str()), (vec!["arn:p".to_owned()], "root"));
    assert_eq!(events[0].rules, ["fail", "other"]);
}
