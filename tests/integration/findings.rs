//! Grouped alerts end to end, on the bundled samples with the built-in rules (their low rules
//! are grouped by default): the same documents and counts whether one process ingests every
//! file or two ingest halves of them at once; each group notified once, however often it is
//! recomputed (a second ingest, `trailship anomalies`); and the age limit on notifications.

use crate::harness::{Osmem, trailship};
use crate::proxies::WebhookReceiver;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples");

fn env(osmem: &Osmem, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    [("TRAILSHIP__OPENSEARCH__URL", osmem.url.as_str())]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The grouped alerts: `_id` → (rule, count, first, last).
async fn groups(osmem: &Osmem) -> BTreeMap<String, (String, u64, String, String)> {
    let search = serde_json::json!({"size": 1000, "query": {"term": {"alert.kind": "group"}}});
    let answer = osmem.post("/trailship-alerts-*/_search", &search).await;
    answer["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let (s, a) = (&h["_source"], &h["_source"]["alert"]);
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            (
                text(&h["_id"]),
                (text(&s["rule"]["id"]), a["count"].as_u64().unwrap(), text(&a["first"]), text(&a["last"])),
            )
        })
        .collect()
}

/// The sample files split in two trees (each file keeps its path), alternately.
fn halves(dir: &Path) -> [std::path::PathBuf; 2] {
    fn files(at: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { files(&path, out) } else { out.push(path) }
        }
    }
    let mut all = Vec::new();
    files(Path::new(SAMPLES), &mut all);
    all.sort();
    let halves = [dir.join("a"), dir.join("b")];
    for (i, f) in all.iter().enumerate() {
        let to = halves[i % 2].join(f.strip_prefix(SAMPLES).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(f, to).unwrap();
    }
    halves
}

#[tokio::test(flavor = "multi_thread")]
async fn grouped_alerts_are_the_same_from_one_process_or_two_and_notified_once() {
    let (one, two, hook) = tokio::join!(Osmem::start(), Osmem::start(), WebhookReceiver::start(0));
    let hook_url = format!("{}/services/T0/B0/findings-token", hook.url);
    let notify = [
        ("TRAILSHIP__ALERTS__WEBHOOK_URLS", hook_url.as_str()),
        ("TRAILSHIP__ALERTS__MIN_LEVEL", "low"),
        ("TRAILSHIP__ALERTS__MAX_NOTIFY_AGE", "3650d"),
    ];
    let run = trailship(&["ingest", SAMPLES], &env(&one, &notify)).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let single = groups(&one).await;
    assert_eq!(single.len(), 7, "{single:?}");
    let counted: u64 = single.values().map(|g| g.1).sum();
    let low = serde_json::json!({"query": {"term": {"rule.level": "low"}}});
    assert_eq!(counted, 52, "the 52 low matches, each counted once");
    assert!(one.post("/trailship-alerts-*/_count", &low).await["count"].as_u64() == Some(7));
    // And two findings of the 30 calls denied to one role of the samples within seconds: the
    // built-in correlation, and the error burst of the behavioural detections.
    let summary = run.summary();
    assert!(summary.contains("findings: ") && summary.contains("9 findings written, 9 new, 9 notified"), "{summary}");

    // Two processes at once, each with half of the files: the same groups, the same counts.
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = halves(dir.path());
    let e2 = env(&two, &[]);
    let (args_a, args_b) = (["ingest", a.to_str().unwrap()], ["ingest", b.to_str().unwrap()]);
    let (ra, rb) = tokio::join!(trailship(&args_a, &e2), trailship(&args_b, &e2));
    assert_eq!((ra.code, rb.code), (0, 0), "{}\n{}", ra.stderr, rb.stderr);
    assert_eq!(groups(&two).await, single);

    // Every group notified once; recomputing them (a second ingest, the command) adds nothing.
    let notified = |posts: &[Value]| -> Vec<String> {
        let mut ids: Vec<String> = posts
            .iter()
            .filter(|p| p["status"] == 200)
            .flat_map(|p| p["body"]["alerts"].as_array().unwrap().clone())
            .filter(|a| a["kind"] == "group")
            .map(|a| format!("{}/{}/{}", a["rule"]["id"], a["first"], a["account"]))
            .collect();
        ids.sort();
        ids
    };
    let first = notified(&hook.posts().await);
    assert_eq!(first.len(), 7, "{first:?}");
    let again = trailship(&["ingest", SAMPLES], &env(&one, &notify)).await;
    assert!(again.summary().contains("9 findings written, 0 new, 0 notified"), "{}", again.summary());
    let recomputed = trailship(&["anomalies", "--from", "2024-07-01", "--to", "2024-08-31"], &env(&one, &notify)).await;
    assert_eq!(recomputed.code, 0, "{}", recomputed.stderr);
    let line = recomputed.summary();
    assert!(line.starts_with("trailship anomalies 2024-07-01 to 2024-08-31: "), "{line}");
    assert!(line.contains("9 findings written, 0 new, 0 notified"), "{line}");
    assert_eq!(notified(&hook.posts().await), first, "no group notified twice");
    assert_eq!(groups(&one).await, single);
}

#[tokio::test(flavor = "multi_thread")]
async fn old_events_make_findings_without_notifications() {
    let (osmem, hook) = tokio::join!(Osmem::start(), WebhookReceiver::start(0));
    let hook_url = format!("{}/services/T0/B0/findings-token", hook.url);
    let extra = [("TRAILSHIP__ALERTS__WEBHOOK_URLS", hook_url.as_str()), ("TRAILSHIP__ALERTS__MIN_LEVEL", "low")];
    // The samples are from 2024: older than the default alerts.max_notify_age of a day.
    let run = trailship(&["anomalies", "--from", "2024-07-31", "--to", "2024-08-01"], &env(&osmem, &extra)).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary().contains("0 findings written"), "no events yet: {}", run.summary());
    let ingest = trailship(&["ingest", SAMPLES], &env(&osmem, &extra)).await;
    assert!(ingest.summary().contains("9 new, 0 notified, 9 not notified (older than"), "{}", ingest.summary());
    let posts = hook.posts().await;
    let findings_posted = posts
        .iter()
        .flat_map(|p| p["body"]["alerts"].as_array().unwrap().clone())
        .filter(|a| a["kind"].is_string())
        .count();
    assert_eq!(findings_posted, 0);
    let bad = trailship(&["anomalies", "--from", "2024-08-02", "--to", "2024-08-01"], &env(&osmem, &extra)).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--from: 2024-08-02 is after --to 2024-08-01"), "{}", bad.stderr);
}

/// Twelve failed console sign-ins of one user from one address within ten minutes, and five
/// TerminateInstances calls of one role (a new session name each) within the hour, spread
/// over three files: three processes ingest one file each, at once.
fn burst_files() -> Vec<crate::fixtures::LogFile> {
    use crate::fixtures::{LogFile, event, iam_user};
    use serde_json::json;
    let failure = |n: usize| {
        let time = format!("2024-09-01T10:0{}:{:02}Z", n / 3, (n % 3) * 15);
        event(
            &format!("fail-{n:02}"),
            &time,
            "ConsoleLogin",
            "signin.amazonaws.com",
            "198.51.100.23",
            iam_user("mallory", ""),
            json!({"eventType": "AwsConsoleSignIn", "responseElements": {"ConsoleLogin": "Failure"},
                "errorMessage": "Failed authentication"}),
        )
    };
    let terminate = |n: usize| {
        let role = json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::111122223333:assumed-role/ops/session-{n}"),
            "accountId": "111122223333", "sessionContext": {"sessionIssuer": {"userName": "ops"}}});
        event(
            &format!("term-{n}"),
            &format!("2024-09-01T10:{:02}:00Z", n * 10),
            "TerminateInstances",
            "ec2.amazonaws.com",
            "203.0.113.8",
            role,
            json!({"requestParameters": {"instancesSet": {"items": [{"instanceId": format!("i-{n}")}]}}}),
        )
    };
    (0..3)
        .map(|f| LogFile {
            key: format!("burst-{f}.json.gz"),
            events: (0..12)
                .filter(|n| n % 3 == f)
                .map(failure)
                .chain((0..5).filter(|n| n % 3 == f).map(terminate))
                .collect(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_correlation_over_files_taken_by_different_processes_fires_once_per_burst() {
    let osmem = Osmem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<String> = burst_files()
        .iter()
        .map(|f| {
            let path = dir.path().join(&f.key);
            std::fs::write(&path, f.gzip()).unwrap();
            path.display().to_string()
        })
        .collect();
    let e = env(&osmem, &[]);
    let args: Vec<[&str; 2]> = paths.iter().map(|p| ["ingest", p.as_str()]).collect();
    let (a, b, c) = tokio::join!(trailship(&args[0], &e), trailship(&args[1], &e), trailship(&args[2], &e));
    for run in [a, b, c] {
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let search = serde_json::json!({"size": 100, "query": {"term": {"alert.kind": "correlation"}}});
    let answer = osmem.post("/trailship-alerts-*/_search", &search).await;
    let mut found: Vec<(String, u64, Value)> = answer["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let s = &h["_source"];
            (
                s["rule"]["name"].as_str().unwrap().to_owned(),
                s["alert"]["count"].as_u64().unwrap(),
                s["alert"]["group"].clone(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        found,
        [
            (
                "Console Sign-In Failures for One User".to_owned(),
                12,
                serde_json::json!({"recipientAccountId": "111122223333", "userIdentity.userName": "mallory"})
            ),
            (
                "Console Sign-In Failures from One Address".to_owned(),
                12,
                serde_json::json!({"sourceIPAddress": "198.51.100.23"})
            ),
            (
                "EC2 Instances Stopped or Terminated in Several Calls".to_owned(),
                5,
                serde_json::json!({"recipientAccountId": "111122223333", "user.principal": "arn:aws:sts::111122223333:assumed-role/ops"})
            ),
        ],
        "one finding per burst, whichever process read which file"
    );
    // The rule a correlation counts without `generate: true` alerts on nothing of its own.
    let quiet = serde_json::json!({"query": {"term": {"rule.id": "3c7b9e12-58f4-4a0d-b6c1-2e9d7f4a8b05"}}});
    assert_eq!(osmem.post("/trailship-alerts-*/_count", &quiet).await["count"], 0);
    assert_eq!(osmem.post("/cloudtrail-*/_count", &quiet).await["count"], 5, "the events carry its id");
    // Recomputed: the same findings.
    let again = trailship(&["anomalies", "--from", "2024-09-01", "--to", "2024-09-01"], &e).await;
    assert!(again.summary().contains(" 0 new,"), "{}", again.summary());
}
