//! The worker under stress, against moto and osmem with the fault-injecting proxy in front of
//! osmem: a shutdown during an outage, huge objects against the memory budget, a gzip bomb, a
//! bad record inside a good file, and bulk answers that must be read item by item.

use crate::fixtures::{self, LogFile};
use crate::harness::{Background, Moto, Osmem, env_for, trailship};
use crate::proxies::FaultProxy;
use crate::trail::Trail;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

/// `env_for` with OpenSearch reached through `proxy`, plus `extra` settings.
fn env_via(
    moto: &Moto,
    osmem: &Osmem,
    proxy: &FaultProxy,
    queue_url: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env = env_for(moto, osmem, queue_url);
    env.retain(|(k, _)| k != "TRAILSHIP__OPENSEARCH__URL");
    env.push(("TRAILSHIP__OPENSEARCH__URL".into(), proxy.url.clone()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn ids(docs: &[Value]) -> BTreeSet<String> {
    docs.iter().map(|d| d["_id"].as_str().unwrap().to_owned()).collect()
}

/// The peak memory the summary line reports, in MiB.
fn peak_mib(summary: &str) -> u64 {
    let tail = summary.split("peak memory ").nth(1).unwrap_or_else(|| panic!("no peak memory in {summary:?}"));
    tail.split(' ').next().unwrap().parse().unwrap()
}

/// A gzip member holding `data` (members concatenate into one gzip file).
fn member(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip member of `n` copies of `byte`, written a MiB at a time, compressed as far as
/// deflate goes (about 1000:1).
fn repeated(byte: u8, n: usize) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![byte; 1 << 20];
    for _ in 0..n / chunk.len() {
        e.write_all(&chunk).unwrap();
    }
    e.write_all(&chunk[..n % chunk.len()]).unwrap();
    e.finish().unwrap()
}

fn key(n: usize) -> String {
    format!(
        "AWSLogs/111122223333/CloudTrail/eu-central-1/2024/08/01/111122223333_CloudTrail_eu-central-1_20240801T1000Z_stress{n:03}.json.gz"
    )
}

fn small_event(id: &str) -> Value {
    fixtures::event(id, "2024-08-01T10:00:00Z", "GetObject", "s3.amazonaws.com", "203.0.113.9", json!(null), json!({}))
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_an_outage_exits_within_the_grace_and_a_later_drain_indexes_everything_once() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = FaultProxy::start(&osmem.url).await;
    // A visibility timeout longer than the outage below, short enough to wait out (see the end).
    let trail = Trail::create(&moto, 5, 10).await;
    let files = fixtures::sample_files();
    for f in &files {
        trail.put(&f.key, f.gzip()).await;
    }
    // OpenSearch is down for writes: every _bulk answers 503.
    proxy.set(json!([{"kind": "status", "status": 503}])).await;
    let env = env_via(&moto, &osmem, &proxy, &trail.queue_url, &[("TRAILSHIP__SQS__SHUTDOWN_GRACE_SECS", "5")]);
    let mut worker = Background::start(&["run"], &env);
    worker.wait_for("bulk request failed, retrying").await;
    let stopped = Instant::now();
    let out = worker.terminate(Duration::from_secs(60)).await;
    let took = stopped.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(took < Duration::from_secs(5 + 5), "exited {took:?} after SIGTERM with a 5 s grace: {}", out.stderr);
    eprintln!("exited {took:?} after SIGTERM, 5 s grace, during a 503 outage");
    assert!(out.summary().contains("released"), "{}", out.summary());
    assert!(!out.summary().contains(" 0 released"), "in-flight messages were released: {}", out.summary());
    assert_eq!(osmem.count("cloudtrail-*").await, 0);

    // The outage ends; a drain indexes every event exactly once and empties the queue.
    proxy.set(json!([])).await;
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let depth = trail.depth(&trail.queue_url).await;
    let docs = osmem.all("cloudtrail-*").await;
    assert_eq!(docs.len(), 413, "queue {depth:?} after {}\nand {}", out.summary(), run.summary());
    assert_eq!(ids(&docs), fixtures::event_ids(&files));
    assert_eq!(osmem.count("trailship-deadletter").await, 0);
    // Every message the drain received it deleted (36 files, and those the worker released).
    let (received, deleted) = messages(run.summary());
    assert!(received >= files.len() && deleted == received, "{}", run.summary());
    assert!(run.summary().contains(" 0 left for redelivery, 0 released,"), "{}", run.summary());
    // moto's queue can take back a message two DeleteMessage calls handled at once deleted
    // (it rebuilds its message list without a lock): it shows in flight until its visibility
    // timeout, then comes back. A second drain must find its events already indexed.
    let logs = format!("worker:\n{}\ndrain:\n{}", out.stderr, run.stderr);
    let mut depth = trail.depth(&trail.queue_url).await;
    if depth != (0, 0) {
        let waited = Instant::now();
        while trail.depth(&trail.queue_url).await.1 > 0 {
            assert!(waited.elapsed() < Duration::from_secs(30), "queue {depth:?} after {logs}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let again = trailship(&["run", "--drain"], &env).await;
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert!(again.summary().contains(" 0 indexed,"), "{}\n{logs}", again.summary());
        assert_eq!(osmem.count("cloudtrail-*").await, 413);
        depth = trail.depth(&trail.queue_url).await;
    }
    assert_eq!(depth, (0, 0), "{logs}");
    assert_eq!(trail.depth(&trail.dlq_url).await.0, 0, "nothing went to the DLQ");
}

/// `(received, deleted)` messages in a `run` summary line.
fn messages(summary: &str) -> (usize, usize) {
    let tail = summary.split("; ").find(|part| part.contains(" messages: ")).unwrap_or_else(|| panic!("{summary}"));
    let (received, rest) = tail.split_once(" messages: ").unwrap();
    let deleted = rest.split(' ').next().unwrap();
    (received.parse().unwrap(), deleted.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_concurrent_objects_with_a_200_mb_line_stay_under_the_memory_budget() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 5, 120).await;
    // Each file: one 200 MB record (one line, far over the record limit), four records of
    // 3 MiB (under it), one small record. The big parts are compressed once and shared: gzip
    // members concatenate.
    let huge = repeated(b'x', 200 << 20);
    let pad = repeated(b'y', 3 << 20);
    for n in 0..8 {
        let mut file = member(
            format!(r#"{{"Records":[{{"eventID":"huge-{n}","eventTime":"2024-08-01T10:00:00Z","p":""#).as_bytes(),
        );
        file.extend_from_slice(&huge);
        for r in 0..4 {
            file.extend(member(
                format!(
                    r#""}},{{"eventID":"f{n}-r{r}","eventTime":"2024-08-01T10:00:00Z","eventName":"Pad","padding":""#
                )
                .as_bytes(),
            ));
            file.extend_from_slice(&pad);
        }
        file.extend(member(format!(r#""}},{}]}}"#, small_event(&format!("f{n}-small"))).as_bytes()));
        trail.put(&key(n), file).await;
    }
    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    env.extend([
        ("TRAILSHIP__SQS__MAX_MESSAGES_IN_FLIGHT".to_owned(), "8".to_owned()),
        ("TRAILSHIP__LIMITS__MEMORY_MB".to_owned(), "256".to_owned()),
    ]);
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let peak = peak_mib(run.summary());
    assert!(peak < 256, "peak memory {peak} MiB over the 256 MiB budget: {}", run.summary());
    assert!(
        run.summary().contains("8 files") && run.summary().contains("0 left for redelivery, 0 released"),
        "{}",
        run.summary()
    );
    assert_eq!(osmem.count("cloudtrail-*").await, 40);
    let dead = osmem.all("trailship-deadletter").await;
    assert_eq!(dead.len(), 8);
    for d in &dead {
        let src = &d["_source"];
        assert_eq!(src["error_type"], "record_too_large");
        assert!(src["event_size"].as_u64().unwrap() > 200 << 20);
        assert!(src["event"].as_str().unwrap().starts_with(r#"{"eventID":"huge-"#));
    }
    eprintln!("peak memory with eight 200 MB lines in flight: {peak} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_stops_at_the_cap_with_an_error_naming_bucket_and_key() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 5, 60).await;
    // 1 GiB of whitespace before the first record, about 1 MB compressed.
    let spaces = repeated(b' ', 64 << 20);
    let mut bomb = member(b"{\"Records\":[");
    for _ in 0..16 {
        bomb.extend_from_slice(&spaces);
    }
    bomb.extend(member(format!("{}]}}", small_event("after-the-bomb")).as_bytes()));
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    trail.put(&key(0), bomb).await;
    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    env.push(("TRAILSHIP__LIMITS__MAX_DECOMPRESSED_BYTES".into(), (64u64 << 20).to_string()));
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run.stderr.lines().find(|l| l.contains("file failed")).unwrap_or_else(|| panic!("{}", run.stderr));
    for needle in [trail.bucket.as_str(), key(0).as_str(), "limits.max_decompressed_bytes"] {
        assert!(line.contains(needle), "{needle} missing from {line}");
    }
    assert!(run.summary().contains("1 left for redelivery"), "{}", run.summary());
    assert!(peak_mib(run.summary()) < 256, "{}", run.summary());
    assert_eq!(osmem.count("cloudtrail-*").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_record_in_the_middle_is_dead_lettered_and_the_others_indexed() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 5, 60).await;
    let sample = fixtures::sample_files().into_iter().find(|f| f.events.len() >= 6).unwrap();
    let good: Vec<String> = sample.events.iter().take(6).map(Value::to_string).collect();
    let text = format!(
        r#"{{"Records":[{},{{"eventID":"broken","readOnly":tru}},"not an event",{}]}}"#,
        good[..3].join(","),
        good[3..].join(",")
    );
    trail.put(&sample.key, fixtures::gzip(text.as_bytes())).await;
    let run = trailship(&["run", "--drain"], &env_for(&moto, &osmem, &trail.queue_url)).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary().contains("0 left for redelivery, 0 released"), "{}", run.summary());
    let expected: BTreeSet<String> =
        sample.events.iter().take(6).map(|e| e["eventID"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids(&osmem.all("cloudtrail-*").await), expected);
    let dead = osmem.all("trailship-deadletter").await;
    let mut raw: Vec<&str> = dead.iter().map(|d| d["_source"]["event"].as_str().unwrap()).collect();
    raw.sort();
    assert_eq!(raw, [r#""not an event""#, r#"{"eventID":"broken","readOnly":tru}"#]);
    assert!(dead.iter().all(|d| d["_source"]["error_type"] == "invalid_record"));
    assert_eq!(trail.depth(&trail.queue_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_answers_are_read_item_by_item_through_throttling_blocks_and_413() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let proxy = FaultProxy::start(&osmem.url).await;
    let trail = Trail::create(&moto, 3, 60).await;
    let mut files = fixtures::sample_files();
    // An event whose document alone is over the proxy's 64 KB request limit.
    let big = fixtures::event(
        "too-big-for-the-cluster",
        "2024-08-01T10:00:00Z",
        "PutBucketPolicy",
        "s3.amazonaws.com",
        "203.0.113.9",
        json!(null),
        json!({"requestParameters": {"policy": "p".repeat(80_000)}}),
    );
    let small = small_event("beside-the-big-one");
    files.push(LogFile { key: key(1), events: vec![small, big] });
    for f in &files {
        trail.put(&f.key, f.gzip()).await;
    }
    // Two connections reset, then, as measured against the old worker: every item refused 429
    // under "errors": false, items refused 403 cluster_block_exception (disk watermark), a 403
    // security_exception for the whole request, and 413 for any request over 64 KB.
    proxy
        .set(json!([
            {"kind": "reset", "count": 2},
            {"kind": "items", "status": 429, "error_type": "es_rejected_execution_exception", "errors_flag": false, "count": 3},
            {"kind": "items", "status": 403, "error_type": "cluster_block_exception", "count": 3},
            {"kind": "status", "status": 403, "count": 3},
            {"kind": "max_bytes", "limit": 65536}
        ]))
        .await;
    let env = env_via(&moto, &osmem, &proxy, &trail.queue_url, &[("TRAILSHIP__SQS__MAX_MESSAGES_IN_FLIGHT", "4")]);
    let run = trailship(&["run", "--drain"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let faults = proxy.stats().await["faults"].clone();
    let counts = [&faults["reset"], &faults["items"], &faults["status"]].map(Value::as_u64);
    assert_eq!(counts, [Some(2), Some(6), Some(3)], "{faults}");
    assert!(faults["max_bytes"].as_u64().unwrap() >= 1, "{faults}");

    let mut expected = fixtures::event_ids(&files);
    expected.remove("too-big-for-the-cluster");
    let docs = osmem.all("cloudtrail-*").await;
    assert_eq!(ids(&docs), expected, "every event indexed, once");
    let settled = format!("{} indexed, 0 already present, 1 dead-lettered", expected.len());
    assert!(run.summary().contains(&settled), "{}", run.summary());
    let dead = osmem.all("trailship-deadletter").await;
    assert_eq!(dead.len(), 1, "only the event too large for the cluster: {dead:?}");
    let src = &dead[0]["_source"];
    assert_eq!((src["event_id"].as_str(), src["status"].as_u64()), (Some("too-big-for-the-cluster"), Some(413)));
    assert!(src["event_size"].as_u64().unwrap() > 80_000);
    assert_eq!(trail.depth(&trail.queue_url).await, (0, 0));
    assert_eq!(trail.depth(&trail.dlq_url).await.0, 0, "no file went to the DLQ");
}
