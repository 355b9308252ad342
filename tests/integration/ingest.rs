//! `trailship ingest`: local files → `_bulk` NDJSON (`--output`) and → osmem.

use crate::fixtures;
use crate::harness::{Osmem, trailship};
use serde_json::Value;
use std::collections::BTreeSet;

/// Writes the real events as a local mirror of a trail bucket, plus a digest file.
fn local_mirror(dir: &std::path::Path) -> Vec<fixtures::LogFile> {
    let files = fixtures::sample_files();
    for (i, f) in files.iter().enumerate() {
        let path = dir.join(&f.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Every other file plain JSON: gzip is sniffed, not guessed from the name.
        std::fs::write(&path, if i % 2 == 0 { f.gzip() } else { f.json() }).unwrap();
    }
    let digest = dir.join("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/08/01/d.json.gz");
    std::fs::create_dir_all(digest.parent().unwrap()).unwrap();
    std::fs::write(digest, br#"{"Records":[{"eventID":"digest","eventTime":"2024-08-01T00:00:00Z"}]}"#).unwrap();
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn output_is_the_exact_bulk_body() {
    let dir = tempfile::tempdir().unwrap();
    let files = local_mirror(dir.path());
    let out = dir.path().join("bulk.ndjson");
    let run =
        trailship(&["ingest", "--output", out.to_str().unwrap(), dir.path().join("AWSLogs").to_str().unwrap()], &[])
            .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary().starts_with("trailship ingest: 36 files, 413 events"), "{}", run.summary());
    assert!(run.summary().contains("1 digest files skipped"), "{}", run.summary());

    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Each event, then an alert document per built-in rule it matched (66 matches on the
    // samples), but for the 52 of low rules, grouped by the findings pass (which --output has
    // no cluster to run), and the one of a rule only a correlation counts.
    let is_alert = |pair: &&[Value]| pair[0]["create"]["_index"].as_str().unwrap().starts_with("trailship-alerts-");
    let (alerts, events): (Vec<&[Value]>, Vec<&[Value]>) = lines.chunks(2).partition(is_alert);
    assert_eq!((events.len(), alerts.len()), (413, 13));
    for pair in &alerts {
        assert_eq!(pair[1]["event"]["kind"], "alert");
        assert!(pair[1]["event"]["index"].as_str().unwrap().starts_with("cloudtrail-"));
    }
    let mut ids = BTreeSet::new();
    for pair in events {
        let (action, doc) = (&pair[0]["create"], &pair[1]);
        let t = doc["eventTime"].as_str().unwrap();
        assert_eq!(action["_index"], format!("cloudtrail-{}.{}.{}", &t[0..4], &t[5..7], &t[8..10]));
        assert_eq!(action["_id"], doc["eventID"]);
        assert_eq!(doc["@timestamp"], doc["eventTime"]);
        ids.insert(action["_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids, fixtures::event_ids(&files));
}

/// An output that cannot be written fails the files and the command, naming the reason.
#[tokio::test(flavor = "multi_thread")]
async fn an_output_that_cannot_be_written_fails_the_ingest() {
    let dir = tempfile::tempdir().unwrap();
    local_mirror(dir.path());
    let run = trailship(&["ingest", "--output", "/dev/full", dir.path().join("AWSLogs").to_str().unwrap()], &[]).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("cannot write the output: No space left on device"), "{}", run.stderr);
    assert!(run.summary().starts_with("trailship ingest: 0 files, 0 events"), "{}", run.summary());
    assert!(run.summary().contains("36 files failed"), "{}", run.summary());
}

/// Time blocked on a slow `--output` (a pipe nobody reads yet) is not the file's decode time:
/// with `limits.max_object_seconds = 1`, files held up for longer still go in whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_output_does_not_time_files_out() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    local_mirror(dir.path());
    // Batches of two actions: a file's decoding goes on after each blocked write.
    let env = [
        ("TRAILSHIP__LIMITS__MAX_OBJECT_SECONDS".to_owned(), "1".to_owned()),
        ("TRAILSHIP__OPENSEARCH__BULK_MAX_ACTIONS".to_owned(), "2".to_owned()),
    ];
    let mut child =
        crate::harness::command(&["ingest", "--output", "-", dir.path().join("AWSLogs").to_str().unwrap()], &env)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // The reader is what is slow here: nothing reads the pipe for 2.5 s, so the writers block.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mut body = Vec::new();
    stdout.read_to_end(&mut body).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    crate::harness::assert_no_secrets(&env, &stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("trailship ingest: 36 files, 413 events"), "{stderr}");
    assert!(body.len() > 1 << 17, "more than two pipe buffers were written: {}", body.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_into_opensearch_and_report_broken_files() {
    let osmem = Osmem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let files = local_mirror(dir.path());
    std::fs::write(dir.path().join("broken.json.gz"), b"\x1f\x8b\x08\x00garbage").unwrap();
    let env = vec![("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone())];
    let run = trailship(&["ingest", dir.path().to_str().unwrap()], &env).await;
    assert_eq!(run.code, 1, "a broken file fails the command after the others are done: {}", run.stderr);
    assert!(run.stderr.contains("broken.json.gz"), "{}", run.stderr);
    assert!(run.summary().contains("413 indexed"), "{}", run.summary());
    assert_eq!(osmem.count("cloudtrail-*").await, 413);
    let (status, _) = osmem.get("/_index_template/trailship-cloudtrail").await;
    assert_eq!(status, 200, "the template is installed");
    for (index, count) in fixtures::expected_per_index("cloudtrail", &files) {
        assert_eq!(osmem.count(&index).await, count, "{index}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_make_every_line_json_the_summary_and_the_final_error_included() {
    let osmem = Osmem::start().await;
    let dir = tempfile::tempdir().unwrap();
    local_mirror(dir.path());
    std::fs::write(dir.path().join("broken.json.gz"), b"\x1f\x8b\x08\x00garbage").unwrap();
    let env = vec![
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
        ("TRAILSHIP__LOG__FORMAT".to_owned(), "json".to_owned()),
    ];
    let run = trailship(&["ingest", dir.path().to_str().unwrap()], &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<Value> =
        run.stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not json ({e}): {l}"))).collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["fields"]["message"].as_str()).collect();
    assert!(messages.iter().any(|m| m.starts_with("trailship ingest: 36 files")), "{messages:?}");
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR");
    assert!(last["fields"]["message"].as_str().unwrap().contains("1 files failed"), "{last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_synced_bucket_routes_like_the_worker_and_a_missing_path_does_not_stop_the_rest() {
    let osmem = Osmem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let files = local_mirror(dir.path());
    // What else a synced trail bucket holds: other services' logs, none of them CloudTrail JSON.
    for (path, body) in [
        ("AWSLogs/1/Config/us-east-1/2024/8/1/ConfigSnapshot/s.json.gz", &b"{\"configSnapshotId\": \"x\"}"[..]),
        (
            "AWSLogs/1/vpcflowlogs/us-east-1/2024/08/01/flow.log.gz",
            b"2 123 eni-1 10.0.0.1 10.0.0.2 443 5 6 1 40 0 1 ACCEPT OK",
        ),
        (
            "AWSLogs/1/elasticloadbalancing/us-east-1/2024/08/01/elb.log.gz",
            b"http 2024-08-01T00:00:00Z app/x 1.2.3.4:5",
        ),
    ] {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let missing = dir.path().join("no-such-export");
    let env = vec![("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone())];
    let run =
        trailship(&["ingest", missing.to_str().unwrap(), dir.path().join("AWSLogs").to_str().unwrap()], &env).await;
    assert_eq!(run.code, 1, "the missing path fails the command, after the rest: {}", run.stderr);
    assert!(run.stderr.contains("no-such-export"), "{}", run.stderr);
    let summary = run.summary();
    assert!(summary.starts_with("trailship ingest: 36 files, 413 events"), "{summary}");
    assert!(summary.contains("1 digest files skipped, 3 other files skipped, 1 files failed"), "{summary}");
    assert_eq!(osmem.count("cloudtrail-*").await, fixtures::event_ids(&files).len() as u64);
    assert_eq!(osmem.count("trailship-deadletter").await, 0, "nothing of the other logs was read");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monthly_index_period_puts_each_month_in_one_index() {
    let osmem = Osmem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let files = local_mirror(dir.path());
    let env = vec![
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
        ("TRAILSHIP__OPENSEARCH__INDEX_PERIOD".to_owned(), "month".to_owned()),
    ];
    let run = trailship(&["ingest", dir.path().to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut monthly = std::collections::BTreeMap::<String, u64>::new();
    for (daily, count) in fixtures::expected_per_index("cloudtrail", &files) {
        *monthly.entry(daily[..daily.len() - 3].to_owned()).or_default() += count;
    }
    assert!(monthly.len() > 1, "{monthly:?}");
    for (index, count) in &monthly {
        assert_eq!(osmem.count(index).await, *count, "{index}");
    }
    assert_eq!(monthly.values().sum::<u64>(), 413);
    assert_eq!(osmem.count("cloudtrail-*").await, 413, "no daily index beside the monthly ones");
    // The alerts of a month are in that month's alert index, and they point at the monthly event index.
    let hits = osmem.post("/trailship-alerts-*/_search", &serde_json::json!({"size": 100})).await;
    let hits = hits["hits"]["hits"].as_array().unwrap().clone();
    assert_eq!(hits.len(), 13 + 7 + 2, "13 single alerts, 7 groups of the 52 low matches, 2 findings of a burst");
    for hit in hits {
        let (index, event_index) =
            (hit["_index"].as_str().unwrap(), hit["_source"]["event"]["index"].as_str().unwrap());
        assert!(monthly.contains_key(event_index), "{event_index}");
        assert_eq!(index.strip_prefix("trailship-alerts-"), event_index.strip_prefix("cloudtrail-"), "{hit}");
    }
}

/// Pretty-printed log files (the public Stratus Red Team detonations: newlines and indentation
/// inside every record) become one NDJSON line per document, and OpenSearch takes every event.
#[tokio::test(flavor = "multi_thread")]
async fn pretty_printed_files_make_one_line_per_document() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cloudtrail/stratus-red-team"));
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(text.contains("\n  "), "the fixture is pretty-printed");
        let records: Vec<Value> = serde_json::from_str(&text).unwrap();
        ids.extend(records.iter().map(|r| r["eventID"].as_str().unwrap().to_owned()));
    }
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("bulk.ndjson");
    let run = trailship(&["ingest", "--output", out.to_str().unwrap(), dir.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one json line ({e}): {l}")))
        .collect();
    let written: BTreeSet<String> = lines
        .chunks(2)
        .filter(|pair| pair[0]["create"]["_index"].as_str().unwrap().starts_with("cloudtrail-"))
        .map(|pair| pair[1]["eventID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(written, ids);

    let osmem = Osmem::start().await;
    let env = vec![("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone())];
    let run = trailship(&["ingest", dir.to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(osmem.count("cloudtrail-*").await, ids.len() as u64);
    assert_eq!(osmem.count("trailship-deadletter").await, 0);
}

/// A path that does not exist fails at once, before OpenSearch is asked anything (here nothing
/// listens at the configured URL, whose start-up retries would take tens of seconds).
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_path_fails_before_opensearch_is_tried() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-export");
    let url = format!("http://127.0.0.1:{}", crate::harness::free_port());
    let env = vec![("TRAILSHIP__OPENSEARCH__URL".to_owned(), url)];
    let started = std::time::Instant::now();
    let run = trailship(&["ingest", missing.to_str().unwrap()], &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap();
    assert!(last.contains("nothing to ingest") && last.contains("no-such-export"), "{}", run.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// The same events as CloudTrail delivers them, as a CloudWatch Logs export writes them (one per
/// line, each led by its timestamp) and as `aws cloudtrail lookup-events` prints them (each
/// event a JSON string) make the same documents.
#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_logs_exports_and_lookup_events_output_make_the_same_documents() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cloudtrail/stratus-red-team"));
    let mut records: Vec<Value> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        records.extend(
            serde_json::from_str::<Vec<Value>>(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap(),
        );
    }
    let lines: String = records.iter().map(|r| format!("{} {r}\n", r["eventTime"].as_str().unwrap())).collect();
    let events: Vec<Value> = records
        .iter()
        .map(|r| serde_json::json!({"EventId": r["eventID"], "EventName": r["eventName"], "CloudTrailEvent": r.to_string()}))
        .collect();
    let shapes = [
        ("delivery.json", serde_json::json!({"Records": records}).to_string()),
        ("export.txt", lines),
        (
            "lookup.json",
            serde_json::to_string_pretty(&serde_json::json!({"Events": events, "NextToken": "x"})).unwrap(),
        ),
    ];
    let mut outputs = Vec::new();
    for (name, text) in shapes {
        let input = tempfile::tempdir().unwrap();
        std::fs::write(input.path().join(name), text).unwrap();
        let out = input.path().join("bulk.ndjson");
        let run =
            trailship(&["ingest", "--output", out.to_str().unwrap(), input.path().join(name).to_str().unwrap()], &[])
                .await;
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let mut written: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(str::to_owned).collect();
        written.sort();
        outputs.push(written);
    }
    assert!(outputs[0].len() >= 2 * records.len(), "{} lines for {} events", outputs[0].len(), records.len());
    assert_eq!(outputs[1], outputs[0], "a CloudWatch Logs export");
    assert_eq!(outputs[2], outputs[0], "lookup-events output");
}
