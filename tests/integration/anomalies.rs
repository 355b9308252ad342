//! The behavioural detections on a generated history: three weeks of forty IAM users and twelve
//! roles whose every call has a new session name, working days, quiet nights and weekends, one
//! denied call a day per user. Injected on the last day: a write API the user never called
//! (IAM, so also a service the account never used), a service the account never used, a call
//! from another country and network, a burst of denied calls, a spike of one write API. Each is
//! found once; the same history without them finds nothing; and three workers sharing the last
//! day's files find exactly what one finds, each finding created (notified) once.

use crate::fixtures::{LogFile, event, iam_user};
use crate::harness::{Osmem, trailship};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const DAYS: u32 = 21;

fn role(n: usize) -> Value {
    json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::111122223333:assumed-role/ops/session-{n}"),
        "accountId": "111122223333", "sessionContext": {"sessionIssuer": {"userName": "ops"}}})
}

fn at(day: u32, secs: u32) -> String {
    format!("2024-10-{:02}T{:02}:{:02}:{:02}Z", day + 1, secs / 3600, secs / 60 % 60, secs % 60)
}

/// The users (`alice` and `user-01` …) and roles of the generated account.
const USERS: usize = 40;
const ROLES: usize = 12;

fn user_name(u: usize) -> String {
    if u == 0 { "alice".to_owned() } else { format!("user-{u:02}") }
}

/// One day of ordinary work: on working days every user reads and writes through the working
/// hours and every role writes (a new session name on every call), one call of each user is
/// denied; weekends are quiet but for one role's nightly job.
fn ordinary(day: u32, events: &mut Vec<Value>) {
    let n = events.len();
    // 2024-10-01 is a Tuesday: days 4, 5, 11, 12, 18, 19 are weekends.
    let weekend = matches!(day % 7, 4 | 5);
    let hours = if weekend { 2..3 } else { 9..17 };
    for u in 0..USERS {
        if weekend {
            break;
        }
        let name = &user_name(u);
        let who = || iam_user(name, &format!("AKIA{u:016}"));
        // Spain (AS 3352) in the test GeoIP databases.
        let ip = format!("88.12.{u}.10");
        for h in hours.clone() {
            // Everyone writes within the first five minutes of the hour: with the roles, above the
            // volume floor in that window and nowhere else, an hourly rhythm that is not a spike.
            let t = h * 3600 + u as u32 * 5;
            let read = json!({"readOnly": true});
            events.push(event(
                &format!("r-{name}-{day}-{h}"),
                &at(day, t),
                "DescribeInstances",
                "ec2.amazonaws.com",
                &ip,
                who(),
                read,
            ));
            events.push(event(
                &format!("w-{name}-{day}-{h}"),
                &at(day, t + 60),
                "PutObject",
                "s3.amazonaws.com",
                &ip,
                who(),
                json!({}),
            ));
        }
        let denied = json!({"readOnly": true, "errorCode": "AccessDenied"});
        events.push(event(
            &format!("d-{name}-{day}"),
            &at(day, 12 * 3600 + u as u32),
            "DescribeInstances",
            "ec2.amazonaws.com",
            &ip,
            who(),
            denied,
        ));
    }
    for r in 0..ROLES {
        for h in hours.clone() {
            let session = n + r * 100 + h as usize;
            let who = json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::111122223333:assumed-role/job-{r}/s-{session}"),
                "accountId": "111122223333", "sessionContext": {"sessionIssuer": {"userName": format!("job-{r}")}}});
            events.push(event(
                &format!("j-{r}-{day}-{h}"),
                &at(day, h * 3600 + 120 + r as u32),
                "PutObject",
                "s3.amazonaws.com",
                "10.0.0.9",
                who,
                json!({}),
            ));
        }
    }
}

/// The last day's anomalies.
fn injected(events: &mut Vec<Value>) {
    let day = DAYS - 1;
    let alice = || iam_user("alice", "AKIAALICE");
    events.push(event(
        "new-api",
        &at(day, 10 * 3600 + 5),
        "CreateAccessKey",
        "iam.amazonaws.com",
        "88.12.0.10",
        alice(),
        json!({}),
    ));
    let read = json!({"readOnly": true});
    events.push(event(
        "new-service",
        &at(day, 10 * 3600 + 9),
        "ListDetectors",
        "guardduty.amazonaws.com",
        "88.12.0.10",
        alice(),
        read,
    ));
    // From London (GB, AS 20712): a country and a network new to alice.
    let read = json!({"readOnly": true});
    events.push(event(
        "new-place",
        &at(day, 11 * 3600),
        "DescribeInstances",
        "ec2.amazonaws.com",
        "81.2.69.10",
        alice(),
        read,
    ));
    for i in 0..30 {
        let denied = json!({"readOnly": true, "errorCode": "AccessDenied"});
        events.push(event(
            &format!("burst-{i}"),
            &at(day, 13 * 3600 + 60 + i * 5),
            "DescribeInstances",
            "ec2.amazonaws.com",
            "88.12.0.10",
            alice(),
            denied,
        ));
    }
    for i in 0..200 {
        events.push(event(
            &format!("spike-{i}"),
            &at(day, 15 * 3600 + 600 + i),
            "PutObject",
            "s3.amazonaws.com",
            "10.0.0.9",
            role(10_000 + i as usize),
            json!({}),
        ));
    }
}

/// The history before the last day, a file a day, and the last day's events split into
/// `workers` files, event by event in turn.
fn files(inject: bool, workers: usize) -> (Vec<LogFile>, Vec<LogFile>) {
    let history = (0..DAYS - 1)
        .map(|day| {
            let mut events = Vec::new();
            ordinary(day, &mut events);
            LogFile { key: format!("day-{day:02}.json.gz"), events }
        })
        .collect();
    let mut last = Vec::new();
    ordinary(DAYS - 1, &mut last);
    if inject {
        injected(&mut last);
    }
    let mut split: Vec<LogFile> =
        (0..workers).map(|w| LogFile { key: format!("last-{w}.json.gz"), events: Vec::new() }).collect();
    for (i, e) in last.into_iter().enumerate() {
        split[i % workers].events.push(e);
    }
    (history, split)
}

/// The number before ` new,` in a summary line: findings the pass created.
fn created(summary: &str) -> u64 {
    let head = summary.split(" new,").next().unwrap_or_default();
    head.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of new findings: {summary}"))
}

/// The behaviour findings (rule title → documents) after one process ingests the history and
/// `workers` processes at once the last day; and the findings of every kind each pass created
/// against the documents there are. The history is ingested with the behavioural detections
/// off (their queries over three weeks are what takes the test server long); with `all_days`,
/// `trailship anomalies` then recomputes every day of the history, from the events indexed.
async fn findings((history, last): (Vec<LogFile>, Vec<LogFile>), all_days: bool) -> BTreeMap<String, Vec<Value>> {
    let osmem = Osmem::start().await;
    let geoip = tempfile::tempdir().unwrap();
    let (city, asn) = crate::harness::geoip_databases(geoip.path());
    let env = [
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
        ("TRAILSHIP__GEOIP__CITY_DB".to_owned(), city.display().to_string()),
        ("TRAILSHIP__GEOIP__ASN_DB".to_owned(), asn.display().to_string()),
    ];
    let dirs: Vec<tempfile::TempDir> = std::iter::once(history)
        .chain(last.into_iter().map(|f| vec![f]))
        .map(|files| {
            let dir = tempfile::tempdir().unwrap();
            for f in &files {
                std::fs::write(dir.path().join(&f.key), f.gzip()).unwrap();
            }
            dir
        })
        .collect();
    let mut quiet = env.to_vec();
    quiet.push(("TRAILSHIP__ANOMALIES__ENABLED".to_owned(), "false".to_owned()));
    let run = trailship(&["ingest", dirs[0].path().to_str().unwrap()], &quiet).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut new = created(run.summary());
    let mut workers = tokio::task::JoinSet::new();
    for dir in &dirs[1..] {
        let (path, env) = (dir.path().to_str().unwrap().to_owned(), env.clone());
        workers.spawn(async move { trailship(&["ingest", &path], &env).await });
    }
    while let Some(run) = workers.join_next().await {
        let run = run.unwrap();
        assert_eq!(run.code, 0, "{}", run.stderr);
        new += created(run.summary());
    }
    if all_days {
        let history = trailship(&["anomalies", "--from", "2024-10-01", "--to", "2024-10-20"], &env).await;
        assert_eq!(history.code, 0, "{}", history.stderr);
        new += created(history.summary());
    }
    let docs = osmem.post("/trailship-alerts-*/_count", &json!({"query": {"exists": {"field": "alert.kind"}}})).await;
    assert_eq!(docs["count"].as_u64(), Some(new), "every finding created by exactly one pass");
    let search = json!({"size": 100, "query": {"term": {"alert.kind": "behaviour"}}});
    let answer = osmem.post("/trailship-alerts-*/_search", &search).await;
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for h in answer["hits"]["hits"].as_array().unwrap() {
        let s = &h["_source"];
        out.entry(s["rule"]["name"].as_str().unwrap().to_owned()).or_default().push(s.clone());
    }
    for found in out.values_mut() {
        found.sort_by_key(|f| f["alert"]["evidence"].to_string());
    }
    // A second pass over the last days finds the same, creates nothing.
    let again = trailship(&["anomalies", "--from", "2024-10-20", "--to", "2024-10-21"], &env).await;
    assert_eq!(created(again.summary()), 0, "{}", again.summary());
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn each_injected_anomaly_is_found_once_and_the_control_stays_quiet() {
    let (control, found, three) =
        tokio::join!(findings(files(false, 1), true), findings(files(true, 1), false), findings(files(true, 3), false));
    assert!(control.is_empty(), "three ordinary weeks are not abnormal: {control:?}");
    assert_eq!(three, found, "three workers sharing the last day find what one finds");
    let names: Vec<&str> = found.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "API Volume Spike",
            "Country New to an Identity",
            "Error Burst for One Identity",
            "Network (ASN) New to an Identity",
            "Service New to an Account",
            "Write API New to an Identity"
        ]
    );
    // The new IAM call is the account's first IAM call too: two services new to it.
    let counts: Vec<usize> = found.values().map(Vec::len).collect();
    assert_eq!(counts, [1, 1, 1, 1, 2, 1], "{found:?}");
    let country = &found["Country New to an Identity"][0];
    let evidence = &country["alert"]["evidence"];
    assert_eq!((&country["eventID"], &evidence["source.geo.country_iso_code"]), (&json!("new-place"), &json!("GB")));
    assert_eq!(found["Network (ASN) New to an Identity"][0]["alert"]["evidence"]["source.as.number"], "20712");
    let api = &found["Write API New to an Identity"][0];
    assert_eq!((&api["rule"]["level"], &api["eventID"]), (&json!("high"), &json!("new-api")));
    assert_eq!(api["alert"]["evidence"]["user.principal"], "arn:aws:iam::111122223333:user/alice");
    let mut services: Vec<&str> = found["Service New to an Account"]
        .iter()
        .map(|f| f["alert"]["evidence"]["eventSource"].as_str().unwrap())
        .collect();
    services.sort();
    assert_eq!(services, ["guardduty.amazonaws.com", "iam.amazonaws.com"]);
    let burst = &found["Error Burst for One Identity"][0];
    assert_eq!(
        (&burst["alert"]["count"], &burst["alert"]["window"]["start"]),
        (&json!(30), &json!("2024-10-21T13:00:00Z"))
    );
    let spike = &found["API Volume Spike"][0];
    assert_eq!(spike["alert"]["evidence"]["eventName"], "PutObject");
    assert!(spike["alert"]["count"].as_u64().unwrap() >= 100, "{spike}");
}
