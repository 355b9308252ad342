//! The behavioural decisions without a cluster: what is new to whom, after how much history,
//! and what is far above its baseline.

use super::*;
use std::time::Duration;

const DAY: i64 = 86_400;

fn knobs() -> AnomaliesConfig {
    AnomaliesConfig {
        enabled: true,
        learning_days: 14,
        history_days: 90,
        place_min_events: 20,
        place_min_days: 7,
        burst_window: Duration::from_secs(300),
        baseline_days: 7,
        burst_factor: 10,
        error_floor: 20,
        volume_floor: 50,
    }
}

fn seen(key: &[&str], count: u64, first: i64) -> Seen {
    Seen {
        key: key.iter().map(|k| k.to_string()).collect(),
        count,
        first,
        last: first + 60,
        window: Some(first - first % 300),
        sample: json!({"eventID": "e-1", "eventName": "CreateAccessKey", "_index": "cloudtrail-2024.09.01"}),
    }
}

fn owner(first: i64, events: u64, known: &[&[&str]]) -> Owner {
    Owner { first, events, known: known.iter().map(|k| k.iter().map(|s| s.to_string()).collect()).collect() }
}

#[test]
fn a_write_api_is_new_only_to_an_identity_with_history_that_lacks_it() {
    let api = &FIRST_SEEN[0];
    let t = 100 * DAY;
    let s = seen(&["arn:aws:sts::1:assumed-role/ops", "iam.amazonaws.com", "CreateAccessKey"], 1, t);
    let k = knobs();
    assert!(is_new(api, &k, &s, Some(&owner(t - 30 * DAY, 500, &[&["s3.amazonaws.com", "PutObject"]]))));
    assert!(!is_new(api, &k, &s, Some(&owner(t - 3 * DAY, 500, &[]))), "still learning");
    assert!(!is_new(api, &k, &s, None), "no history at all");
    let knew = owner(t - 30 * DAY, 500, &[&["iam.amazonaws.com", "CreateAccessKey"]]);
    assert!(!is_new(api, &k, &s, Some(&knew)));
    let settings = crate::findings::tests::settings();
    let f = first_seen_finding(&settings, api, &s, &owner(t - 30 * DAY, 500, &[]));
    assert_eq!((f.level, f.version), (Level::High, 1), "an IAM write is high");
    assert_eq!(f.doc["rule"]["id"], "7c2f5b1e-3a4d-4e8f-9b6a-1d0c2e3f4a51");
    assert_eq!(f.doc["alert"]["kind"], "behaviour");
    assert_eq!(f.doc["alert"]["evidence"]["eventName"], "CreateAccessKey");
    let s3 = seen(&["arn:aws:sts::1:assumed-role/ops", "s3.amazonaws.com", "DeleteBucket"], 1, t);
    assert_eq!(first_seen_finding(&settings, api, &s3, &owner(0, 1, &[])).level, Level::Medium);
    assert_eq!(
        f.id,
        first_seen_finding(&settings, api, &s, &owner(0, 1, &[])).id,
        "one finding per identity and API, ever"
    );
}

#[test]
fn a_place_is_new_only_after_enough_events_over_enough_days() {
    let country = &FIRST_SEEN[2];
    let t = 100 * DAY;
    let s = seen(&["arn:aws:iam::1:user/alice", "KP"], 3, t);
    let k = knobs();
    assert!(is_new(country, &k, &s, Some(&owner(t - 8 * DAY, 20, &[&["DE"]]))));
    assert!(!is_new(country, &k, &s, Some(&owner(t - 8 * DAY, 19, &[&["DE"]]))), "19 events are not enough");
    assert!(!is_new(country, &k, &s, Some(&owner(t - 6 * DAY, 500, &[&["DE"]]))), "6 days are not enough");
    assert!(!is_new(country, &k, &s, Some(&owner(t - 8 * DAY, 500, &[&["KP"]]))));
}

#[test]
fn a_burst_is_far_above_its_baseline_and_above_its_floor() {
    let k = knobs();
    let settings = crate::findings::tests::settings();
    let errors = &BURSTS[0];
    let s = seen(&["arn:aws:iam::1:user/alice"], 40, 100 * DAY);
    let usual = |total, same_time| Usual { total, days: 7, same_time };
    assert!(burst_finding(&settings, errors, &k, &s, usual(0, 0)).is_some(), "no errors before: 40 is a burst");
    // 7 days of 2016 windows with 4 errors each: 4 per window, times 10 is 40.
    assert!(burst_finding(&settings, errors, &k, &s, usual(4 * 2016, 0)).is_some());
    assert!(burst_finding(&settings, errors, &k, &s, usual(5 * 2016, 0)).is_none(), "not ten times its usual");
    // 84 errors in the 21 windows around this time of day: 4 per window; 105 is 5.
    assert!(burst_finding(&settings, errors, &k, &s, usual(84, 84)).is_some());
    assert!(burst_finding(&settings, errors, &k, &s, usual(105, 105)).is_none(), "usual at this time of day");
    assert!(burst_finding(&settings, errors, &k, &seen(&["a"], 19, 0), usual(0, 0)).is_none(), "under the floor");
    let volume = &BURSTS[1];
    let calls = seen(&["1", "eu-west-1", "PutObject"], 600, 100 * DAY);
    assert!(burst_finding(&settings, volume, &k, &calls, usual(0, 0)).is_none(), "a spike needs a baseline");
    let short = Usual { days: 6, ..usual(2016, 21) };
    assert!(burst_finding(&settings, volume, &k, &calls, short).is_none(), "a spike needs a full baseline");
    assert!(burst_finding(&settings, errors, &k, &s, Usual { days: 1, ..usual(0, 0) }).is_some());
    let f = burst_finding(&settings, volume, &k, &calls, usual(2016, 21)).unwrap();
    assert_eq!(f.version, 600);
    assert_eq!(
        f.doc["alert"]["evidence"]["expected"],
        "1.00 per 300s window (the 7 days before: 1.00 on average, 1.00 at this time of day)"
    );
    assert_eq!(f.doc["alert"]["window"]["start"], rfc3339(100 * DAY));
}

#[test]
fn candidates_and_histories_are_read_from_the_answers() {
    let answer = json!({"aggregations": {"c": {"buckets": [{"key": {"owner": "arn:o", "t0": "iam.amazonaws.com", "t1": "CreateUser"},
        "doc_count": 2, "first": {"value": 1.0e12}, "last": {"value": 1.0006e12},
        "sample": {"hits": {"hits": [{"_index": "cloudtrail-x", "_source": {"eventID": "e"}}]}}}]}}});
    let names: Vec<String> = ["owner", "t0", "t1"].map(str::to_owned).to_vec();
    let (seen, next) = seen_page(&answer, &names).unwrap();
    assert_eq!(next, None);
    assert_eq!(
        (seen[0].key.clone(), seen[0].count, seen[0].first),
        (vec!["arn:o".to_owned(), "iam.amazonaws.com".into(), "CreateUser".into()], 2, 1_000_000_000)
    );
    assert_eq!(seen[0].sample, Value::Null, "read only for findings");
    let mut found = seen.clone();
    let q = first_seen_samples(&FIRST_SEEN[0], &found, (0, 100));
    let one_of = &q["query"]["bool"]["filter"][1]["bool"]["should"];
    assert_eq!(one_of[0]["bool"]["filter"][2], json!({"term": {"eventName": "CreateUser"}}));
    assert_eq!(q["aggs"]["c"]["composite"]["size"], 1);
    set_samples(&mut found, &answer_with_sample(), &names);
    let s = &found[0];
    assert_eq!(s.sample, json!({"eventID": "e", "_index": "cloudtrail-x"}));
    let history = json!({"aggregations": {"owners": {"buckets": [{"key": "arn:o", "doc_count": 70, "first": {"value": 5.0e11},
        "known": {"n": {"buckets": [{"key": "s3.amazonaws.com", "n": {"buckets": [{"key": "PutObject", "doc_count": 3}]}}]}}}]}}});
    let owners = owners(&history);
    assert_eq!(owners["arn:o"], owner(500_000_000, 70, &[&["s3.amazonaws.com", "PutObject"]]));
    let q = history_query_of(&seen);
    assert_eq!(q["aggs"]["owners"]["terms"]["size"], 1);
    assert_eq!(
        q["aggs"]["owners"]["aggs"]["known"]["filter"]["bool"]["filter"][2],
        json!({"term": {"readOnly": false}})
    );
}

#[test]
fn a_baseline_answer_gives_each_key_its_first_event() {
    let q = baseline(&BURSTS[1], &[seen(&["1", "eu-west-1", "PutObject"], 60, 0)], (0, 100));
    assert_eq!(q["aggs"]["n"]["aggs"]["n"]["aggs"]["n"]["aggs"]["first"], json!({"min": {"field": "@timestamp"}}));
    let answer = json!({"aggregations": {"n": {"buckets": [{"key": "1", "n": {"buckets": [{"key": "eu-west-1",
        "n": {"buckets": [{"key": "PutObject", "doc_count": 9, "first": {"value": 86_400_000.0}}]}}]}}]}}});
    let key: Vec<String> = ["1", "eu-west-1", "PutObject"].map(str::to_owned).to_vec();
    assert_eq!(baseline_firsts(&answer)[&key], 86_400);
    assert_eq!(baseline_counts(&answer)[&key], 9);
}

#[test]
fn the_same_time_of_day_is_the_window_and_its_neighbours_on_each_day_before() {
    let s = seen(&["arn:aws:iam::1:user/alice"], 40, 100 * DAY + 3600);
    let q = same_time(&BURSTS[0], &[s], 100 * DAY + 3600, 300, 2);
    let spans = &q["query"]["bool"]["filter"][0]["bool"]["filter"][0]["bool"]["should"];
    assert_eq!(
        spans[1]["range"]["@timestamp"],
        json!({"gte": rfc3339(98 * DAY + 3300), "lt": rfc3339(98 * DAY + 4200)})
    );
    assert_eq!(spans.as_array().unwrap().len(), 2);
}

fn answer_with_sample() -> Value {
    json!({"aggregations": {"c": {"buckets": [{"key": {"owner": "arn:o", "t0": "iam.amazonaws.com", "t1": "CreateUser"},
        "doc_count": 2, "sample": {"hits": {"hits": [{"_index": "cloudtrail-x", "_source": {"eventID": "e"}}]}}}]}}})
}

fn history_query_of(seen: &[Seen]) -> Value {
    history(&FIRST_SEEN[0], seen, (0, 100))
}
