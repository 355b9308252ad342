//! `trailship backfill` against moto (behind the fault proxy, which logs every S3 request) and
//! osmem: a generated bucket of 30 days × 2 regions × 2 accounts (one under an organization
//! trail prefix), two log files a day, digests and other services' logs beside them.

use crate::fixtures::{self, event, iam_user};
use crate::harness::{Background, Moto, Osmem, env_for, trailship};
use crate::proxies::FaultProxy;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const BUCKET: &str = "org-trail";
const ACCOUNTS: [(&str, &str); 2] =
    [("111111111111", "AWSLogs/111111111111"), ("222222222222", "AWSLogs/o-exampleorg1/222222222222")];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// One generated log file.
struct Log {
    key: String,
    region: &'static str,
    day: String,
    ids: Vec<String>,
}

/// Fills the bucket: 240 log files of 3 events, a digest and a Config snapshot per account,
/// region and day, a folder marker and a stray file. Returns the log files.
async fn history(moto: &Moto) -> Vec<Log> {
    let s3 = moto.s3();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let mut logs = Vec::new();
    let mut puts: Vec<(String, Vec<u8>)> = Vec::new();
    for (account, root) in ACCOUNTS {
        for region in REGIONS {
            for d in 1..=30 {
                let (ymd, day) = (format!("2024/04/{d:02}"), format!("2024-04-{d:02}"));
                for n in 0..2 {
                    let ids: Vec<String> = (0..3).map(|i| format!("{account}-{region}-{day}-{n}-{i}")).collect();
                    let records: Vec<Value> = ids
                        .iter()
                        .enumerate()
                        .map(|(i, id)| {
                            let time = format!("{day}T0{n}:1{i}:00Z");
                            event(
                                id,
                                &time,
                                "DescribeInstances",
                                "ec2.amazonaws.com",
                                "198.51.100.7",
                                iam_user("ops", "AKIAOPS"),
                                json!({}),
                            )
                        })
                        .collect();
                    let stamp = format!("{}T0{n}00Z", day.replace('-', ""));
                    let key =
                        format!("{root}/CloudTrail/{region}/{ymd}/{account}_CloudTrail_{region}_{stamp}_f{n}.json.gz");
                    puts.push((key.clone(), fixtures::gzip(json!({"Records": records}).to_string().as_bytes())));
                    logs.push(Log { key, region, day: day.clone(), ids });
                }
                let digest = json!({"Records": [{"eventID": "digest", "eventTime": format!("{day}T00:00:00Z")}]});
                let digest_key =
                    format!("{root}/CloudTrail-Digest/{region}/{ymd}/{account}_CloudTrail-Digest_{region}_x.json.gz");
                puts.push((digest_key, fixtures::gzip(digest.to_string().as_bytes())));
                puts.push((format!("{root}/Config/{region}/{ymd}/ConfigSnapshot/snap.json.gz"), fixtures::gzip(b"{}")));
            }
        }
    }
    puts.push(("AWSLogs/111111111111/CloudTrail/us-east-1/".into(), Vec::new()));
    puts.push(("AWSLogs/notes.txt".into(), b"not a log".to_vec()));
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in puts.chunks(40) {
        let (s3, chunk) = (s3.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for (key, body) in chunk {
                s3.put_object().bucket(BUCKET).key(key).body(body.into()).send().await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    logs
}

fn ids<'a>(logs: impl Iterator<Item = &'a Log>) -> BTreeSet<String> {
    logs.flat_map(|l| l.ids.iter().cloned()).collect()
}

async fn indexed_ids(osmem: &Osmem) -> BTreeSet<String> {
    osmem.all("cloudtrail-*").await.iter().map(|d| d["_id"].as_str().unwrap().to_owned()).collect()
}

/// The S3 requests the proxy saw: (query parameters of each ListObjectsV2, keys of each GET).
async fn s3_requests(proxy: &FaultProxy) -> (Vec<(String, Option<String>)>, Vec<String>) {
    let stats = proxy.stats().await;
    let (mut lists, mut gets) = (Vec::new(), Vec::new());
    for entry in stats["log"].as_array().unwrap() {
        let (method, path) = (entry[0].as_str().unwrap(), entry[1].as_str().unwrap());
        let url = reqwest::Url::parse(&format!("http://x{path}")).unwrap();
        if method != "GET" || !url.path().starts_with(&format!("/{BUCKET}")) {
            continue;
        }
        let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        if query.get("list-type").map(String::as_str) == Some("2") {
            lists.push((query.get("prefix").cloned().unwrap_or_default(), query.get("delimiter").cloned()));
        } else {
            let key = url.path()[BUCKET.len() + 2..].to_owned();
            gets.push(percent_decode(&key));
        }
    }
    (lists, gets)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A day prefix: `…/CloudTrail/<region>/yyyy/mm/dd/`.
fn is_day_prefix(prefix: &str) -> bool {
    let parts: Vec<&str> = prefix.trim_end_matches('/').rsplit('/').collect();
    prefix.ends_with('/')
        && parts.len() >= 6
        && parts[0].len() == 2
        && parts[1].len() == 2
        && parts[2].len() == 4
        && parts[4].starts_with("CloudTrail")
}

async fn servers() -> (Moto, Osmem, FaultProxy) {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = FaultProxy::start(&moto.url).await;
    (moto, osmem, proxy)
}

fn backfill_env(moto: &Moto, osmem: &Osmem, proxy: &FaultProxy, queue_url: &str) -> Vec<(String, String)> {
    let mut env = env_for(moto, osmem, queue_url);
    env.retain(|(k, _)| k != "TRAILSHIP__AWS__ENDPOINT_URL");
    env.push(("TRAILSHIP__AWS__ENDPOINT_URL".into(), proxy.url.clone()));
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_days_of_one_region_with_discovered_accounts_and_only_narrow_listings() {
    let (moto, osmem, proxy) = servers().await;
    let logs = history(&moto).await;
    let env = backfill_env(&moto, &osmem, &proxy, "");
    proxy.set(json!([])).await;
    let args = ["backfill", "--bucket", BUCKET, "--from", "2024-04-05", "--to", "2024-04-14", "--region", "eu-west-1"];
    let run = trailship(&args, &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let wanted: Vec<&Log> = logs
        .iter()
        .filter(|l| l.region == "eu-west-1" && l.day.as_str() >= "2024-04-05" && l.day.as_str() <= "2024-04-14")
        .collect();
    assert_eq!(wanted.len(), 10 * 2 * 2);
    let expected = ids(wanted.iter().copied());
    assert_eq!(indexed_ids(&osmem).await, expected, "exactly the events of those days and that region");
    let summary = run.summary();
    assert!(summary.starts_with("trailship backfill: 40 of 40 objects, 120 events"), "{summary}");
    assert!(
        summary.contains("120 indexed, 0 already present, 0 dead-lettered, 0 alerts; 0 objects failed"),
        "{summary}"
    );
    assert!(summary.contains("10 days, 2 accounts (111111111111, 222222222222), 1 regions (eu-west-1)"), "{summary}");

    let (lists, gets) = s3_requests(&proxy).await;
    assert!(!lists.is_empty());
    for (prefix, delimiter) in &lists {
        let narrow = delimiter.as_deref() == Some("/") || is_day_prefix(prefix);
        assert!(narrow, "a listing wider than the layout needs: prefix {prefix:?} delimiter {delimiter:?}");
        assert!(!prefix.contains("us-east-1/20"), "the other region's days are never listed: {prefix}");
    }
    let without: BTreeSet<&str> = lists.iter().filter(|(_, d)| d.is_none()).map(|(p, _)| p.as_str()).collect();
    assert_eq!(without.len(), 10 * 2, "one listing per account and day, no more: {without:?}");
    let fetched: BTreeSet<&str> = gets.iter().map(String::as_str).collect();
    let wanted_keys: BTreeSet<&str> = wanted.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(fetched, wanted_keys, "only those log files downloaded: no digest, no Config log");
    assert_eq!(gets.len(), 40, "each once");

    let rerun = trailship(&args, &env).await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(rerun.summary().contains("0 indexed, 120 already present"), "{}", rerun.summary());
    assert_eq!(osmem.count("cloudtrail-*").await, 120);

    let dry = trailship(&["backfill", "--bucket", BUCKET, "--dry-run"], &env).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.summary().starts_with("trailship backfill --dry-run: 240 objects")
            && dry
                .summary()
                .contains("30 days, 2 accounts (111111111111, 222222222222), 2 regions (eu-west-1, us-east-1)"),
        "{}",
        dry.summary()
    );
    // Objects outside the allowlist are never read (the workers would refuse them too).
    let mut allowed = env.clone();
    allowed.push(("TRAILSHIP__SQS__ALLOWED_PREFIXES".into(), "AWSLogs/111111111111/".into()));
    let dry = trailship(&["backfill", "--bucket", BUCKET, "--dry-run"], &allowed).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.summary().starts_with("trailship backfill --dry-run: 120 objects"), "{}", dry.summary());
    assert!(dry.summary().ends_with("120 outside sqs.allowed_prefixes skipped"), "{}", dry.summary());
}

/// The finished work a state file records: (days, objects).
fn recorded(path: &std::path::Path) -> (usize, usize) {
    let Ok(bytes) = std::fs::read(path) else { return (0, 0) };
    let state: Value = serde_json::from_slice(&bytes).expect("the state file is always valid JSON");
    let objects = state["objects"].as_object().map_or(0, |o| o.values().map(|v| v.as_array().unwrap().len()).sum());
    (state["days"].as_array().unwrap().len(), objects)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_killed_part_way_resumes_from_its_state_and_indexes_every_event_once() {
    let (moto, osmem, proxy) = servers().await;
    let logs = history(&moto).await;
    let env = backfill_env(&moto, &osmem, &proxy, "");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("backfill-state.json");
    let state_arg = state.to_str().unwrap();
    // Slow downloads, so that the kill lands part-way.
    proxy.set(json!([{"kind": "delay", "seconds": 0.05, "path": format!("/{BUCKET}/AWSLogs")}])).await;
    let first = Background::start(&["backfill", "--bucket", BUCKET, "--concurrency", "2", "--state", state_arg], &env);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (days, objects) = recorded(&state);
        if days >= 2 && days + objects >= 10 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the state file never recorded progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill().await;
    let (_, fetched) = s3_requests(&proxy).await;
    assert!(fetched.len() < 240, "killed part-way: {} objects fetched", fetched.len());
    assert!(recorded(&state).0 >= 2, "the file survives the kill");

    // Interrupted (SIGTERM, as Ctrl-C's SIGINT): in-flight objects finish, the state is saved, exit 130.
    let before = recorded(&state);
    let mut second =
        Background::start(&["backfill", "--bucket", BUCKET, "--concurrency", "2", "--state", state_arg], &env);
    second.wait_for("resuming: finished work recorded in the state file is skipped").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while recorded(&state) == before {
        assert!(tokio::time::Instant::now() < deadline, "the second run never recorded progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopped = second.terminate(Duration::from_secs(30)).await;
    assert_eq!(stopped.code, 130, "{}", stopped.stderr);
    assert!(stopped.stderr.contains("interrupted; finished work is saved"), "{}", stopped.stderr);
    let (days, objects) = recorded(&state);
    assert!((days, objects) != before && days >= before.0, "the interrupted run's work is recorded");
    let (_, gets_before) = s3_requests(&proxy).await;

    proxy.set(json!([])).await;
    let rerun = trailship(&["backfill", "--bucket", BUCKET, "--state", state_arg], &env).await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let (_, gets_after) = s3_requests(&proxy).await;
    let rerun_gets = gets_after.len() - gets_before.len();
    assert!(rerun_gets < 240, "the rerun skips finished objects: it downloaded {rerun_gets}");
    assert!(rerun_gets + gets_before.len() >= 240);
    assert_eq!(indexed_ids(&osmem).await, ids(logs.iter()), "every event");
    assert_eq!(osmem.count("cloudtrail-*").await, 720, "once");
    let again = trailship(&["backfill", "--bucket", BUCKET, "--state", state_arg], &env).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.summary().starts_with("trailship backfill: 0 of 0 objects"), "all recorded: {}", again.summary());
}

#[tokio::test(flavor = "multi_thread")]
async fn enqueued_history_is_indexed_by_the_worker_exactly_once() {
    let (moto, osmem, proxy) = servers().await;
    let logs = history(&moto).await;
    let sqs = moto.sqs();
    let queue = sqs.create_queue().queue_name("backfill").send().await.unwrap().queue_url.unwrap();
    let mut env = backfill_env(&moto, &osmem, &proxy, &queue);
    // One message at a time: moto's DeleteMessage rebuilds the queue's message list outside its
    // lock (moto/sqs/models.py, Queue.delete_message), so two concurrent deletes can lose one and
    // leave a message trailship deleted "in flight" for good (seen: 240 deleted, 1 in flight).
    env.push(("TRAILSHIP__SQS__MAX_MESSAGES_IN_FLIGHT".into(), "1".into()));
    let run = trailship(&["backfill", "--bucket", BUCKET, "--enqueue"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary().starts_with("trailship backfill --enqueue: 240 of 240 objects sent"), "{}", run.summary());
    let (_, gets) = s3_requests(&proxy).await;
    assert!(gets.is_empty(), "enqueueing downloads nothing: {gets:?}");

    let drain = trailship(&["run", "--drain"], &env).await;
    assert_eq!(drain.code, 0, "{}", drain.stderr);
    assert!(drain.summary().contains("720 indexed, 0 already present"), "{}", drain.summary());
    assert_eq!(indexed_ids(&osmem).await, ids(logs.iter()));
    assert_eq!(osmem.count("cloudtrail-*").await, 720);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let depth = |k: aws_sdk_sqs::types::QueueAttributeName| attrs[&k].clone();
    assert_eq!(depth(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages), "0");
    assert_eq!(
        depth(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        "0",
        "{}",
        drain.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_object_is_named_not_recorded_and_retried_by_the_rerun() {
    let (moto, osmem, proxy) = servers().await;
    let logs = history(&moto).await;
    let env = backfill_env(&moto, &osmem, &proxy, "");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let day = "AWSLogs/111111111111/CloudTrail/us-east-1/2024/04/03/";
    // S3 refuses the two files of one day.
    proxy.set(json!([{"kind": "status", "status": 403, "path": format!("/{BUCKET}/{day}")}])).await;
    let args = [
        "backfill",
        "--bucket",
        BUCKET,
        "--from",
        "2024-04-01",
        "--to",
        "2024-04-05",
        "--account",
        "111111111111",
        "--region",
        "us-east-1",
        "--state",
        state.to_str().unwrap(),
    ];
    let run = trailship(&args, &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let failed: Vec<&str> = run.stderr.lines().filter(|l| l.contains("file failed")).collect();
    assert_eq!(failed.len(), 2, "{}", run.stderr);
    assert!(failed.iter().all(|l| l.contains(BUCKET) && l.contains(day) && l.contains("403")), "{failed:?}");
    assert!(run.summary().starts_with("trailship backfill: 8 of 10 objects"), "{}", run.summary());
    assert!(run.stderr.lines().last().unwrap().contains("2 objects failed"), "{}", run.stderr);
    let wanted =
        |l: &&Log| l.key.starts_with("AWSLogs/111111111111/CloudTrail/us-east-1/") && l.day.as_str() <= "2024-04-05";
    assert_eq!(osmem.count("cloudtrail-*").await, 8 * 3, "the others went in");
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["days"].as_array().unwrap().len(), 4, "the failed day is not finished: {saved}");

    proxy.set(json!([])).await;
    let (_, before) = s3_requests(&proxy).await;
    let rerun = trailship(&args, &env).await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let (_, after) = s3_requests(&proxy).await;
    let retried: Vec<&String> = after[before.len()..].iter().collect();
    assert_eq!(retried.len(), 2, "only the failed files are fetched again: {retried:?}");
    assert!(retried.iter().all(|k| k.starts_with(day)));
    assert_eq!(indexed_ids(&osmem).await, ids(logs.iter().filter(wanted)));
}
