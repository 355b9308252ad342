//! `trailship trends` and the worker's periodic pass: daily aggregates in
//! `trailship-trends-{prefix}-YYYY` counted against the raw files, idempotent, updated by late events,
//! and without the keys a day no longer has.

use crate::fixtures::{self, LogFile, access_line, event};
use crate::harness::{Background, Moto, Osmem, env_for, trailship};
use crate::trail::Trail;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

type Key = (String, String, String, String, String, String, Option<String>, String);

const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
const REGIONS: [&str; 2] = ["eu-central-1", "us-east-1"];
const CALLS: [(&str, &str); 4] = [
    ("ec2.amazonaws.com", "RunInstances"),
    ("s3.amazonaws.com", "PutBucketPolicy"),
    ("iam.amazonaws.com", "CreateAccessKey"),
    ("sts.amazonaws.com", "AssumeRole"),
];

/// Event `n` of day `day` (1-based in August 2024): account, region, call, error and identity
/// type drawn from `n` so that days share keys and have keys of their own.
fn generated(day: u32, n: usize) -> Value {
    let (source, name) = CALLS[(n + day as usize) % CALLS.len()];
    let identity = if n % 3 == 0 {
        json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:s", "accountId": ACCOUNTS[n % 2],
            "arn": format!("arn:aws:sts::{}:assumed-role/app/s{n}", ACCOUNTS[n % 2])})
    } else {
        fixtures::iam_user("alice", "AKIAIOSFODNN7EXAMPLE")
    };
    let mut extra = json!({"recipientAccountId": ACCOUNTS[n % 2], "awsRegion": REGIONS[(n / 2) % 2]});
    if n % 5 == 0 {
        extra["errorCode"] = json!("AccessDenied");
        extra["errorMessage"] = json!("not allowed");
    }
    let time = format!("2024-08-{day:02}T{:02}:{:02}:00Z", n % 24, n % 60);
    event(&format!("ev-{day}-{n}"), &time, name, source, "198.51.100.7", identity, extra)
}

fn key_of(e: &Value) -> Key {
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    let error = e["errorCode"].as_str().map(str::to_owned);
    (
        e["eventTime"].as_str().unwrap()[..10].to_owned(),
        s(&e["recipientAccountId"]),
        s(&e["awsRegion"]),
        s(&e["eventSource"]),
        s(&e["eventName"]),
        if error.is_some() { "failure" } else { "success" }.to_owned(),
        error,
        s(&e["userIdentity"]["type"]),
    )
}

/// What the raw events say: events per key.
fn expected(events: &[Value]) -> BTreeMap<Key, u64> {
    let mut out = BTreeMap::new();
    for e in events {
        *out.entry(key_of(e)).or_default() += 1;
    }
    out
}

/// What the trend indices hold: count per key, and every document by `_id`.
async fn trends(osmem: &Osmem) -> (BTreeMap<Key, u64>, BTreeMap<String, Value>) {
    let (mut counts, mut docs) = (BTreeMap::new(), BTreeMap::new());
    for hit in osmem.all("trailship-trends-cloudtrail-*").await {
        let d = &hit["_source"];
        if d["first_seen"] == true {
            continue;
        }
        let s = |v: &Value| v.as_str().unwrap().to_owned();
        let key = (
            s(&d["day"]),
            s(&d["cloud"]["account"]["id"]),
            s(&d["cloud"]["region"]),
            s(&d["eventSource"]),
            s(&d["eventName"]),
            s(&d["event"]["outcome"]),
            d["errorCode"].as_str().map(str::to_owned),
            s(&d["userIdentity"]["type"]),
        );
        assert_eq!(hit["_index"], format!("trailship-trends-cloudtrail-{}", &key.0[..4]));
        assert!(counts.insert(key, d["count"].as_u64().unwrap()).is_none(), "one document per key: {d}");
        docs.insert(hit["_id"].as_str().unwrap().to_owned(), d.clone());
    }
    (counts, docs)
}

/// The first day of each account and API in `events`.
fn expected_first(events: &[Value]) -> BTreeMap<(String, String), String> {
    let mut out: BTreeMap<(String, String), String> = BTreeMap::new();
    for e in events {
        let k = key_of(e);
        let first = out.entry((k.1, k.4)).or_insert_with(|| k.0.clone());
        if k.0 < *first {
            first.clone_from(&k.0);
        }
    }
    out
}

/// The first-seen documents: account and API → day, each in its day's yearly index.
async fn first_seen(osmem: &Osmem) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for hit in
        osmem.all("trailship-trends-cloudtrail-*").await.into_iter().filter(|h| h["_source"]["first_seen"] == true)
    {
        let d = &hit["_source"];
        let day = d["day"].as_str().unwrap().to_owned();
        assert_eq!(hit["_index"], format!("trailship-trends-cloudtrail-{}", &day[..4]));
        let pair =
            (d["cloud"]["account"]["id"].as_str().unwrap().to_owned(), d["eventName"].as_str().unwrap().to_owned());
        assert!(out.insert(pair, day).is_none(), "one first-seen document per pair: {d}");
    }
    out
}

fn env(osmem: &Osmem) -> Vec<(String, String)> {
    vec![
        ("TRAILSHIP__OPENSEARCH__URL".into(), osmem.url.clone()),
        ("TRAILSHIP__DETECT__BUILTIN".into(), "false".into()),
    ]
}

async fn ingest(osmem: &Osmem, dir: &std::path::Path, name: &str, events: &[Value]) {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec(&json!({"Records": events})).unwrap()).unwrap();
    let run = trailship(&["ingest", path.to_str().unwrap()], &env(osmem)).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
}

async fn run_trends(osmem: &Osmem, from: &str, to: &str) -> String {
    let run = trailship(&["trends", "--from", from, "--to", to], &env(osmem)).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn trends_count_every_key_rerun_idempotently_follow_late_events_and_drop_vanished_keys() {
    let osmem = Osmem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut events: Vec<Value> = (1..=5).flat_map(|day| (0..40).map(move |n| generated(day, n))).collect();
    let mut files = events.clone();
    // Insights are not API calls: in the raw index, not in the trends.
    files.extend(fixtures::insight_file().events);
    ingest(&osmem, dir.path(), "first", &files).await;
    // Two days without an event index: nothing to recompute, nothing deleted.
    let out = run_trends(&osmem, "2024-07-30", "2024-08-05").await;
    assert!(
        out.contains(&format!(
            "trailship trends cloudtrail 2024-07-30 to 2024-08-05: 7 days (2 without an event index, left as they \
             were), 200 events counted, {} trend documents written, 0 deleted",
            expected(&events).len()
        )),
        "{out}"
    );
    assert!(
        out.contains("trailship trends s3access 2024-07-30 to 2024-08-05: 7 days (7 without an event index"),
        "{out}"
    );
    let (counts, docs) = trends(&osmem).await;
    assert_eq!(counts, expected(&events), "every key's count is the raw files' count");
    // The pattern users type first holds the events and nothing else.
    assert_eq!(osmem.count("cloudtrail-*").await, files.len() as u64, "no trend document under cloudtrail-*");
    assert_eq!(first_seen(&osmem).await, expected_first(&events), "the first day of every account and API");
    let (status, template) = osmem.get("/trailship-trends-cloudtrail-2024/_mapping").await;
    assert_eq!(status, 200);
    assert_eq!(
        template["trailship-trends-cloudtrail-2024"]["mappings"]["properties"]["count"]["type"], "long",
        "{template}"
    );

    // A rerun changes nothing.
    let out = run_trends(&osmem, "2024-08-01", "2024-08-05").await;
    assert!(out.contains("0 deleted"), "{out}");
    assert_eq!(trends(&osmem).await.1, docs);

    // Late events for the 3rd (a key it had, and a new one), then only that day is recomputed.
    let mut late = vec![generated(3, 1), generated(3, 2)];
    late[0]["eventID"] = json!("late-1");
    late[1]["eventID"] = json!("late-2");
    late[1]["eventName"] = json!("DeleteTrail");
    late[1]["eventSource"] = json!("cloudtrail.amazonaws.com");
    ingest(&osmem, dir.path(), "late", &late).await;
    events.extend(late);
    let out = run_trends(&osmem, "2024-08-03", "2024-08-03").await;
    assert!(out.contains("1 days (0 without an event index, left as they were), 42 events counted"), "{out}");
    let (counts, after) = trends(&osmem).await;
    assert_eq!(counts, expected(&events));
    for (id, doc) in &docs {
        if doc["day"] != "2024-08-03" {
            assert_eq!(after.get(id), Some(doc), "other days are untouched");
        }
    }
    assert_eq!(after.len(), docs.len() + 1);
    let firsts = first_seen(&osmem).await;
    assert_eq!(firsts, expected_first(&events));
    assert_eq!(firsts[&(ACCOUNTS[0].to_owned(), "DeleteTrail".to_owned())], "2024-08-03", "a call new on the 3rd");
    // An older day recomputed after events arrived for it moves a pair's first day back.
    let mut older = generated(1, 2);
    older["eventID"] = json!("older-1");
    older["eventName"] = json!("DeleteTrail");
    older["eventSource"] = json!("cloudtrail.amazonaws.com");
    ingest(&osmem, dir.path(), "older", std::slice::from_ref(&older)).await;
    events.push(older);
    run_trends(&osmem, "2024-08-01", "2024-08-01").await;
    assert_eq!(first_seen(&osmem).await[&(ACCOUNTS[0].to_owned(), "DeleteTrail".to_owned())], "2024-08-01");
    assert_eq!(trends(&osmem).await.0, expected(&events));

    // Every event of one key of the 2nd deleted from the raw index: its aggregate goes.
    let gone = key_of(&generated(2, 0));
    let ids: Vec<&Value> = events.iter().filter(|e| key_of(e) == gone).map(|e| &e["eventID"]).collect();
    assert!(!ids.is_empty());
    let mut bulk = String::new();
    for id in &ids {
        bulk.push_str(&format!("{}\n", json!({"delete": {"_index": "cloudtrail-2024.08.02", "_id": id}})));
    }
    let answer = reqwest::Client::new()
        .post(format!("{}/_bulk?refresh=true", osmem.url))
        .header("content-type", "application/x-ndjson")
        .body(bulk)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    events.retain(|e| key_of(e) != gone);
    let out = run_trends(&osmem, "2024-08-02", "2024-08-02").await;
    assert!(out.contains("1 deleted"), "{out}");
    let (counts, _) = trends(&osmem).await;
    assert_eq!(counts, expected(&events));
    assert!(!counts.contains_key(&gone));
    assert_eq!(first_seen(&osmem).await, expected_first(&events));
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_access_trends_count_requests_and_bytes_per_bucket_operation_status_and_requester_type() {
    let osmem = Osmem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let line = |time: &str, requester: &str, op: &str, status: u16, bytes: &str| {
        access_line(
            time,
            "192.0.2.1",
            requester,
            op,
            "k",
            status,
            "-",
            bytes,
            "GET /amzn-s3-demo-bucket1/k HTTP/1.1",
            "curl/8",
        )
    };
    let bob = "arn:aws:iam::111122223333:user/bob";
    let role = "arn:aws:sts::111122223333:assumed-role/app/i-1";
    let text = [
        line("01/Aug/2024:10:00:00", bob, "REST.GET.OBJECT", 200, "100"),
        line("01/Aug/2024:10:00:01", bob, "REST.GET.OBJECT", 200, "250"),
        line("01/Aug/2024:10:00:02", role, "REST.GET.OBJECT", 200, "1000"),
        line("01/Aug/2024:10:00:03", "-", "REST.GET.OBJECT", 403, "-"),
        line("02/Aug/2024:23:59:59", bob, "REST.PUT.OBJECT", 200, "-"),
    ]
    .join("\n");
    let path = dir.path().join("2024-08-02-00-05-00-0123456789ABCDEF");
    std::fs::write(&path, text).unwrap();
    let run = trailship(&["ingest", path.to_str().unwrap()], &env(&osmem)).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run_trends(&osmem, "2024-08-01", "2024-08-02").await;
    assert!(out.contains("trailship trends s3access 2024-08-01 to 2024-08-02: 2 days (0 without an event index, left as they were), 5 events counted, 4 trend documents written"), "{out}");
    let mut got: Vec<(String, String, i64, String, u64, u64)> = osmem
        .all("trailship-trends-s3access-2024")
        .await
        .iter()
        .map(|h| {
            let d = &h["_source"];
            (
                d["day"].as_str().unwrap().to_owned(),
                d["operation"].as_str().unwrap().to_owned(),
                d["http_status"].as_i64().unwrap(),
                d["user"]["type"].as_str().unwrap().to_owned(),
                d["count"].as_u64().unwrap(),
                d["bytes_sent"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let row = |day: &str, op: &str, status: i64, kind: &str, count: u64, bytes: u64| {
        (day.to_owned(), op.to_owned(), status, kind.to_owned(), count, bytes)
    };
    assert_eq!(
        got,
        [
            row("2024-08-01", "REST.GET.OBJECT", 200, "AssumedRole", 1, 1000),
            row("2024-08-01", "REST.GET.OBJECT", 200, "IAMUser", 2, 350),
            row("2024-08-01", "REST.GET.OBJECT", 403, "Anonymous", 1, 0),
            row("2024-08-02", "REST.PUT.OBJECT", 200, "IAMUser", 1, 0),
        ]
    );
    assert!(
        osmem
            .all("trailship-trends-s3access-2024")
            .await
            .iter()
            .all(|h| h["_source"]["bucket"] == "amzn-s3-demo-bucket1")
    );
    assert_eq!(osmem.count("s3access-*").await, 5, "no trend document under s3access-*");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_recomputes_the_days_it_indexed_into_on_its_own() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 5, 60).await;
    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    env.push(("TRAILSHIP__TRENDS__INTERVAL_MINUTES".into(), "0.02".into()));
    env.push(("TRAILSHIP__DETECT__BUILTIN".into(), "false".into()));
    let mut worker = Background::start(&["run"], &env);
    worker.wait_for("worker started").await;
    let events: Vec<Value> = (0..30).map(|n| generated(4, n)).chain((0..10).map(|n| generated(5, n))).collect();
    let file = LogFile { key: fixtures::trail_key("", "CloudTrail", &events[0], 1), events: events.clone() };
    trail.put(&file.key, file.gzip()).await;
    worker.wait_for("file indexed").await;
    // The pass runs every 1.2 s: wait for its result, not for a time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (counts, _) = trends(&osmem).await;
        if counts == expected(&events) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "trends never matched the events: {counts:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = worker.terminate(Duration::from_secs(10)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("trends recomputed"), "{}", out.stderr);
    assert_eq!(osmem.count("cloudtrail-*").await, events.len() as u64, "no trend document under cloudtrail-*");
}

#[tokio::test(flavor = "multi_thread")]
async fn monthly_event_indices_give_the_same_daily_trends() {
    let osmem = Osmem::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Across a month end: two monthly indices, each day still counted on its own.
    let events: Vec<Value> = (30..=31)
        .flat_map(|day| (0..12).map(move |n| generated(day, n)))
        .map(|mut e| {
            let t = e["eventTime"].as_str().unwrap().replace("2024-08-", "2024-07-");
            e["eventTime"] = json!(t);
            e
        })
        .chain((1..=2).flat_map(|day| (0..12).map(move |n| generated(day, n))))
        .collect();
    let mut env = env(&osmem);
    env.push(("TRAILSHIP__OPENSEARCH__INDEX_PERIOD".into(), "month".into()));
    let path = dir.path().join("months.json");
    std::fs::write(&path, serde_json::to_vec(&json!({"Records": events})).unwrap()).unwrap();
    let run = trailship(&["ingest", path.to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(osmem.count("cloudtrail-2024.07").await, 24);
    let run = trailship(&["trends", "--from", "2024-07-30", "--to", "2024-08-02"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("4 days (0 without an event index, left as they were), 48 events counted"),
        "{}",
        run.stderr
    );
    assert_eq!(trends(&osmem).await.0, expected(&events));
    assert_eq!(first_seen(&osmem).await, expected_first(&events));
}
