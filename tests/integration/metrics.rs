//! `metrics.listen`: after a drained corpus the counters equal what happened, and `/readyz`
//! turns 503 naming OpenSearch within 30 s of it going away.

use crate::fixtures;
use crate::harness::{Background, Moto, Osmem, env_for, free_port};
use crate::trail::Trail;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// `name{labels}` → value, from the Prometheus text format.
fn parse(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_after_a_drained_corpus_equal_the_truth_and_readyz_follows_opensearch() {
    let (moto, osmem) = tokio::join!(Moto::start(), Osmem::start());
    let trail = Trail::create(&moto, 5, 60).await;
    let files = fixtures::sample_files();
    let mut s3_bytes = 0;
    for f in &files {
        let body = f.gzip();
        s3_bytes += body.len();
        trail.put(&f.key, body).await;
    }
    let digest = json!({"Records": [{"eventID": "d", "eventTime": "2024-08-01T00:00:00Z"}]}).to_string();
    trail
        .put(
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/08/01/1_CloudTrail-Digest_x.json.gz",
            fixtures::gzip(digest.as_bytes()),
        )
        .await;
    let newest = files.iter().flat_map(|f| &f.events).map(|e| e["eventTime"].as_str().unwrap()).max().unwrap();
    let newest = chrono::DateTime::parse_from_rfc3339(newest).unwrap().timestamp() as f64;

    let addr = format!("127.0.0.1:{}", free_port());
    let mut env = env_for(&moto, &osmem, &trail.queue_url);
    env.push(("TRAILSHIP__METRICS__LISTEN".into(), addr.clone()));
    let mut worker = Background::start(&["run"], &env);
    worker.wait_for("serving /metrics").await;
    let base = format!("http://{addr}");

    // 36 files, the digest's notification and the s3:TestEvent: 38 messages to delete.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let m = loop {
        let (status, text) = get(&format!("{base}/metrics")).await;
        let m = parse(&text);
        if status == 200 && m.get(r#"trailship_messages_total{outcome="deleted"}"#) == Some(&38.0) {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "never drained: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let expect = [
        (r#"trailship_messages_total{outcome="failed"}"#, 0.0),
        (r#"trailship_messages_total{outcome="released"}"#, 0.0),
        (r#"trailship_messages_total{outcome="refused"}"#, 0.0),
        (r#"trailship_objects_total{outcome="indexed"}"#, 36.0),
        (r#"trailship_objects_total{outcome="skipped"}"#, 1.0),
        (r#"trailship_objects_total{outcome="failed"}"#, 0.0),
        (r#"trailship_events_total{outcome="indexed"}"#, 413.0),
        (r#"trailship_events_total{outcome="duplicate"}"#, 0.0),
        (r#"trailship_events_total{outcome="dead_lettered"}"#, 0.0),
        (r#"trailship_bulk_retries_total{reason="throttled"}"#, 0.0),
        (r#"trailship_bulk_retries_total{reason="blocked"}"#, 0.0),
        ("trailship_s3_bytes_total", s3_bytes as f64),
        ("trailship_messages_in_flight", 0.0),
        ("trailship_newest_event_timestamp_seconds", newest),
    ];
    for (key, value) in expect {
        assert_eq!(m.get(key), Some(&value), "{key}");
    }
    assert!(m["trailship_bulk_duration_seconds_count"] >= 36.0, "{m:?}");
    assert_eq!(osmem.count("cloudtrail-*").await, 413);
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    assert_eq!(get(&format!("{base}/readyz")).await, (200, "ready\n".to_owned()));

    // OpenSearch goes away: not ready within 30 s, saying why.
    drop(osmem);
    let gone = tokio::time::Instant::now();
    loop {
        let (status, body) = get(&format!("{base}/readyz")).await;
        if status == 503 {
            assert!(body.contains("opensearch"), "{body}");
            assert!(!body.contains("sqs"), "sqs is still up: {body}");
            break;
        }
        assert!(gone.elapsed() < Duration::from_secs(30), "/readyz still {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200, "alive though not ready");
    let out = worker.terminate(Duration::from_secs(60)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
}
