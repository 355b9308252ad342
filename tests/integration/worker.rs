//! `trailship run --drain` against moto (real S3 → SQS notifications) and osmem.

use crate::fixtures::{self, LogFile};
use crate::harness::{Background, Moto, Osmem, env_for, trailship};
use crate::trail::Trail;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

fn ids(docs: &[Value]) -> BTreeSet<String> {
    docs.iter().map(|d| d["_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn worker_indexes_exactly_the_delivered_events_and_a_second_run_adds_nothing() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 3, 30).await;

    let mut stratus = fixtures::sample_files();
    // OTRF's file goes up uncompressed under a .json.gz name: gzip is sniffed, not guessed.
    let otrf = stratus.remove(stratus.iter().position(fixtures::is_otrf).unwrap());
    trail.put(&otrf.key, otrf.json()).await;
    // One file under a custom prefix with a space and a plus: keys arrive URL-encoded.
    let first = stratus.remove(0);
    let first = LogFile { key: format!("trail logs+x/{}", first.key), events: first.events };
    trail.put(&first.key, first.gzip()).await;
    for f in &stratus {
        trail.put(&f.key, f.gzip()).await;
    }
    let insight = fixtures::insight_file();
    trail.put(&insight.key, insight.gzip()).await;
    let mut indexed = vec![first, otrf, insight];
    indexed.extend(stratus);

    // Files that must not be indexed although they hold records: a digest and another service's log.
    let decoy = json!({"Records": [{"eventID": "decoy-digest", "eventTime": "2024-08-01T00:00:00Z"}]}).to_string();
    trail.put("AWSLogs/229654561268/CloudTrail-Digest/us-east-1/2024/08/01/229654561268_CloudTrail-Digest_us-east-1_t_us-east-1_20240801T000000Z.json.gz", fixtures::gzip(decoy.as_bytes())).await;
    let decoy = decoy.replace("decoy-digest", "decoy-config");
    trail
        .put("AWSLogs/229654561268/Config/us-east-1/2024/8/1/ConfigHistory/x.json.gz", fixtures::gzip(decoy.as_bytes()))
        .await;

    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    let hook = crate::proxies::WebhookReceiver::start(0).await;
    env.push(("TRAILSHIP__ALERTS__WEBHOOK_URLS".into(), format!("{}/hooks/worker-token-7Hq2", hook.url)));
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let expected_ids = fixtures::event_ids(&indexed);
    assert_eq!(expected_ids.len(), 414, "413 real events and one insight");
    let docs = osmem.all("cloudtrail-*").await;
    assert_eq!(ids(&docs), expected_ids, "the index holds exactly the delivered events");
    assert_eq!(docs.len(), 414);
    for (index, count) in fixtures::expected_per_index("cloudtrail", &indexed) {
        assert_eq!(osmem.count(&index).await, count, "{index}");
    }
    for d in &docs {
        let src = &d["_source"];
        assert_eq!(src["@timestamp"], src["eventTime"], "{}", d["_id"]);
        let t = src["eventTime"].as_str().unwrap();
        assert_eq!(d["_index"], format!("cloudtrail-{}.{}.{}", &t[0..4], &t[5..7], &t[8..10]));
    }
    let insight_doc = docs.iter().find(|d| d["_id"] == "6f3b5d9e-insight-0001").unwrap();
    assert_eq!(insight_doc["_source"]["insightDetails"]["insightType"], "ApiCallRateInsight");
    assert_eq!(osmem.count("trailship-deadletter").await, 0);
    assert_eq!(trail.depth(&trail.queue_url).await, (0, 0), "every message deleted, the TestEvent included");
    assert!(trail.dlq_bodies().await.is_empty());
    assert!(run.summary().contains("414 events"), "{}", run.summary());
    assert!(run.summary().contains("414 indexed, 0 already present, 0 dead-lettered, 13 alerts"), "{}", run.summary());
    // The worker runs the built-in rules as ingest does: the 66 matches of the samples, 52 of
    // them by low rules, grouped into 7 alerts (per rule, identity, account and hour) when
    // drained, and two findings of one burst of 30 denied calls (a correlation and an error
    // burst); the 3 high ones (trail
    // stopped or deleted twice, port opened to the world) are posted to the webhook before the
    // worker exits. The findings are about 2024: too old to notify.
    assert_eq!(osmem.count("trailship-alerts-*").await, 13 + 7 + 2);
    assert!(run.summary().contains("9 new, 0 notified, 9 not notified (older than"), "{}", run.summary());
    let posted = |posts: &[Value]| -> Vec<String> {
        let mut ids: Vec<String> = posts
            .iter()
            .flat_map(|p| p["body"]["alerts"].as_array().cloned().unwrap_or_default())
            .map(|a| format!("{} {}", a["rule"]["level"], a["eventID"]))
            .collect();
        ids.sort();
        ids
    };
    let posts = hook.posts().await;
    assert_eq!(posted(&posts).len(), 3, "{posts:?}");
    assert!(posted(&posts).iter().all(|a| a.starts_with("\"high\"")), "{posts:?}");

    // Every field of every event is kept: compare one real event field by field.
    let original = &indexed[0].events[0];
    let doc = docs.iter().find(|d| d["_id"] == original["eventID"]).unwrap();
    for (k, v) in original.as_object().unwrap() {
        assert_eq!(&doc["_source"][k], v, "field {k}");
    }

    // Redelivery: the same objects written again notify again; nothing new is indexed.
    for f in &indexed {
        trail.put(&f.key, f.gzip()).await;
    }
    let rerun = trailship(&["run", "--drain"], &env).await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert_eq!(osmem.count("cloudtrail-*").await, 414);
    assert!(
        rerun.summary().contains("0 indexed, 414 already present, 0 dead-lettered, 0 alerts"),
        "{}",
        rerun.summary()
    );
    assert_eq!(osmem.count("trailship-alerts-*").await, 13 + 7 + 2, "a redelivered file adds no alert");
    assert!(
        rerun.summary().contains("9 findings written, 0 new"),
        "the findings count no event twice: {}",
        rerun.summary()
    );
    assert_eq!(hook.posts().await.len(), posts.len(), "and notifies nothing again");
    assert_eq!(trail.depth(&trail.queue_url).await, (0, 0), "{}", rerun.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_stay_on_the_queue_until_redrive_and_bad_events_are_dead_lettered() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    // One receive, then the redrive policy moves a message to the DLQ.
    let trail = Trail::create(&moto, 1, 2).await;

    // A file with two good events, one OpenSearch refuses, and one without eventTime. trailship
    // makes every CloudTrail event fit its own template, so the refusal comes from an index
    // someone created by hand with a conflicting mapping.
    let created = osmem
        .put("/cloudtrail-2015.01.01", &json!({"mappings": {"properties": {"eventName": {"type": "long"}}}}))
        .await;
    assert_eq!(created["acknowledged"], true, "{created}");
    let file = fixtures::sample_files().into_iter().find(|f| f.events.len() >= 4).unwrap();
    let mut events: Vec<Value> = file.events.into_iter().take(4).collect();
    events[2]["eventTime"] = json!("2015-01-01T00:00:00Z");
    events[3].as_object_mut().unwrap().remove("eventTime");
    let mixed = LogFile { key: fixtures::trail_key("", "CloudTrail", &events[0], 1), events };
    trail.put(&mixed.key, mixed.gzip()).await;

    // A corrupt gzip, a notification for an object that does not exist, and a stray message.
    let mut corrupt = fixtures::sample_files().remove(1).gzip();
    let n = corrupt.len();
    corrupt.truncate(n / 2);
    trail.put("AWSLogs/229654561268/CloudTrail/us-east-1/2024/08/01/corrupt.json.gz", corrupt).await;
    let missing = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": trail.bucket}, "object": {"key": "AWSLogs/229654561268/CloudTrail/us-east-1/2024/08/01/gone.json.gz"}}}]});
    trail.send_raw(&missing.to_string()).await;
    trail.send_raw("hello, not a notification").await;

    let env = env_for(&moto, &osmem, &trail.queue_url);
    let mut env_short = env.clone();
    env_short.push(("TRAILSHIP__SQS__VISIBILITY_TIMEOUT_SECS".into(), "2".into()));
    let run = trailship(&["run", "--drain"], &env_short).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for needle in ["corrupt.json.gz", "gone.json.gz", "unrecognised message"] {
        assert!(run.stderr.contains(needle), "the log names {needle}: {}", run.stderr);
    }

    // The good events are indexed, the bad ones dead-lettered with the reason and raw event.
    assert_eq!(osmem.count("cloudtrail-*").await, 2);
    let dead = osmem.all("trailship-deadletter").await;
    let mut types: Vec<&str> = dead.iter().map(|d| d["_source"]["error_type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["mapper_parsing_exception", "missing_event_time"]);
    for d in &dead {
        let src = &d["_source"];
        assert_eq!(src["source"]["key"], mixed.key.as_str());
        let raw: Value = serde_json::from_str(src["event"].as_str().unwrap()).unwrap();
        assert_eq!(raw["eventID"], src["event_id"]);
    }
    let refused = dead.iter().find(|d| d["_source"]["error_type"] == "mapper_parsing_exception").unwrap();
    assert_eq!(refused["_source"]["status"], 400);
    assert!(refused["_source"]["target_index"].as_str().unwrap().starts_with("cloudtrail-"));

    // The three failing messages were not deleted. Once their visibility lapses, the next
    // receive hands them to the redrive policy, which moves them to the DLQ.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (visible, in_flight) = trail.depth(&trail.queue_url).await;
        let in_dlq = trail.depth(&trail.dlq_url).await.0;
        if in_flight == 0 && visible + in_dlq == 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "failed messages never became visible again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let run = trailship(&["run", "--drain"], &env_short).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(trail.depth(&trail.queue_url).await, (0, 0));
    let mut moved = trail.dlq_bodies().await;
    moved.sort();
    assert_eq!(moved.len(), 3, "{moved:?}");
    assert!(moved.iter().any(|b| b.contains("corrupt.json.gz")));
    assert!(moved.iter().any(|b| b.contains("gone.json.gz")));
    assert!(moved.iter().any(|b| b == "hello, not a notification"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_interrupts_the_long_poll_and_exits_cleanly() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 3, 30).await;
    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    // A full 20 s long-poll: the stop must not wait for it.
    env.retain(|(k, _)| k != "TRAILSHIP__SQS__WAIT_TIME_SECS");
    let mut worker = Background::start(&["run"], &env);
    worker.wait_for("worker started").await;
    let file = fixtures::sample_files().remove(3);
    trail.put(&file.key, file.gzip()).await;
    worker.wait_for("file indexed").await;
    let out = worker.terminate(Duration::from_secs(10)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("stop signal received"), "{}", out.stderr);
    assert!(out.summary().contains(&format!("1 files, {} events", file.events.len())), "{}", out.summary());
    assert_eq!(osmem.count("cloudtrail-*").await, file.events.len() as u64);
    assert_eq!(trail.depth(&trail.queue_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_for_a_bucket_outside_the_allowlist_is_never_fetched_and_ends_in_the_dlq() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    // Every S3 and SQS request of trailship goes through the proxy, which counts them by path.
    let proxy = crate::proxies::FaultProxy::start(&moto.url).await;
    let trail = Trail::create(&moto, 1, 2).await;
    let good = fixtures::sample_files().remove(0);
    trail.put(&good.key, good.gzip()).await;
    // A readable CloudTrail file in somebody else's bucket, and a forged notification for it.
    let forged = fixtures::sample_files().remove(1);
    trail.s3.create_bucket().bucket("attacker-bucket").send().await.unwrap();
    trail.s3.put_object().bucket("attacker-bucket").key(&forged.key).body(forged.gzip().into()).send().await.unwrap();
    let notice = json!({"s3Bucket": "attacker-bucket", "s3ObjectKey": [forged.key]}).to_string();
    trail.send_raw(&notice).await;

    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    env.retain(|(k, _)| k != "TRAILSHIP__AWS__ENDPOINT_URL");
    env.push(("TRAILSHIP__AWS__ENDPOINT_URL".into(), proxy.url.clone()));
    env.push(("TRAILSHIP__SQS__ALLOWED_BUCKETS".into(), trail.bucket.clone()));
    env.push(("TRAILSHIP__SQS__VISIBILITY_TIMEOUT_SECS".into(), "2".into()));
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary().contains("1 refused"), "{}", run.summary());
    let warning = run.stderr.lines().find(|l| l.contains("outside sqs.allowed_buckets")).unwrap_or_default();
    assert!(warning.contains("attacker-bucket") && warning.contains(&forged.key), "{}", run.stderr);
    let requests = proxy.stats().await["requests"].clone();
    let paths: Vec<&String> = requests.as_object().unwrap().keys().collect();
    assert!(paths.iter().any(|p| p.starts_with(&format!("/{}/", trail.bucket))), "the good file was read: {paths:?}");
    assert!(!paths.iter().any(|p| p.contains("attacker-bucket")), "no request for the forged object: {paths:?}");
    assert_eq!(ids(&osmem.all("cloudtrail-*").await), fixtures::event_ids(&[good]));

    // Once visible again, the next receive hands it to the redrive policy (maxReceiveCount 1).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while trail.depth(&trail.queue_url).await != (1, 0) {
        assert!(tokio::time::Instant::now() < deadline, "the refused message never became visible again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(trail.dlq_bodies().await, [notice]);
    assert_eq!(trail.depth(&trail.queue_url).await, (0, 0));
}
