//! The indexer against an in-memory twin of OpenSearch's `_bulk` endpoint: partial failures,
//! throttling, cluster blocks, 413 splits, strict item reading and cancellation.

use super::*;
use crate::index::bulk::{BatchBuilder, BatchLimits, write_create_action};
use crate::source::Origin;
use crate::testing::BulkTwin as Twin;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::testing::{answer, created, failed, status};

fn batch(ids: &[&str], doc_len: usize) -> Batch {
    let origin = Arc::new(Origin::S3 { bucket: "b".into(), key: "k".into() });
    let mut b = BatchBuilder::new(BatchLimits { max_bytes: 1 << 30, max_actions: 100_000 }, origin);
    for id in ids {
        let doc = json!({"eventID": id, "p": "x".repeat(doc_len)}).to_string();
        b.push(
            ItemKind::Event,
            |o| write_create_action(o, "cloudtrail", "2024.08.01", &format!("\"{id}\"")),
            |o| o.extend_from_slice(doc.as_bytes()),
            doc.as_bytes(),
        );
    }
    b.finish().unwrap()
}

fn indexer(twin: &Twin, max_retries: usize) -> Indexer<Twin> {
    Indexer::new(twin.clone(), "trailship-deadletter".into(), max_retries)
        .with_delays(Duration::from_millis(1), Duration::from_millis(4))
}

fn report(created: usize, duplicates: usize, dead_lettered: usize) -> BatchReport {
    BatchReport { created, duplicates, dead_lettered, alerts: 0 }
}

#[tokio::test]
async fn partial_failure_retries_the_throttled_and_dead_letters_the_refused() {
    let twin = Twin::new(|n, actions| {
        answer(
            actions
                .iter()
                .map(|a| match (n, a.id.as_str()) {
                    (0, "b") => failed(a, 429, "es_rejected_execution_exception"),
                    (0, "c") => failed(a, 400, "mapper_parsing_exception"),
                    (0, "d") => failed(a, 409, "version_conflict_engine_exception"),
                    _ => created(a),
                })
                .collect(),
        )
    });
    let got = indexer(&twin, 3).index(batch(&["a", "b", "c", "d"], 10), &CancellationToken::new()).await.unwrap();
    assert_eq!(got, report(2, 1, 1));
    let calls = twin.calls();
    assert_eq!(calls.len(), 2);
    let second: Vec<(&str, &str)> = calls[1].iter().map(|a| (a.id.as_str(), a.index.as_str())).collect();
    assert_eq!(second, [("b", "cloudtrail-2024.08.01"), ("c", "trailship-deadletter")]);
    assert_eq!(calls[1][1].doc["error_type"], "mapper_parsing_exception");
    assert_eq!(calls[1][1].doc["target_index"], "cloudtrail-2024.08.01");
    let raw: Value = serde_json::from_str(calls[1][1].doc["event"].as_str().unwrap()).unwrap();
    assert_eq!(raw["eventID"], "c");
}

#[tokio::test]
async fn items_refused_under_errors_false_are_never_counted_as_created() {
    let twin = Twin::new(|n, actions| {
        let items = actions.iter().map(|a| if n == 0 { failed(a, 429, "x") } else { created(a) }).collect::<Vec<_>>();
        Ok(json!({"errors": false, "items": items}))
    });
    let got = indexer(&twin, 3).index(batch(&["a", "b"], 10), &CancellationToken::new()).await.unwrap();
    assert_eq!(got, report(2, 0, 0));
    assert_eq!(twin.calls().len(), 2, "the refused items were sent again");
    // No `errors` flag at all, and an item refused: still read.
    let twin = Twin::new(|n, actions| {
        let items = actions
            .iter()
            .map(|a| if n == 0 { json!({"create": {"status": 503}}) } else { created(a) })
            .collect::<Vec<_>>();
        Ok(json!({"items": items}))
    });
    assert_eq!(indexer(&twin, 3).index(batch(&["a"], 10), &CancellationToken::new()).await.unwrap(), report(1, 0, 0));
}

#[tokio::test]
async fn retries_end_after_max_retries_with_an_error() {
    let twin = Twin::new(|_, actions| answer(actions.iter().map(|a| failed(a, 429, "x")).collect()));
    let err = indexer(&twin, 2).index(batch(&["a", "b"], 10), &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, IndexError::RetriesExhausted { remaining: 2, retries: 2, .. }), "{err}");
    assert_eq!(twin.calls().len(), 3);
}

#[tokio::test]
async fn a_mismatched_response_fails_the_batch() {
    let twin = Twin::new(|_, actions| answer(actions.iter().rev().map(created).collect()));
    let err = indexer(&twin, 2).index(batch(&["a", "b"], 10), &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, IndexError::Response(ResponseError::Order { .. })), "{err}");
    let twin = Twin::new(|_, actions| answer(actions.iter().skip(1).map(created).collect()));
    let err = indexer(&twin, 2).index(batch(&["a", "b"], 10), &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, IndexError::Response(ResponseError::Count { .. })), "{err}");
}

#[tokio::test]
async fn cluster_blocks_and_permissions_are_retried_never_dead_lettered() {
    // Items refused 403 cluster_block (disk watermark), then a whole-request 403 (security),
    // then a 404 index_not_found: more failures than max_retries, but the worker holds.
    let twin = Twin::new(|n, actions| match n {
        0..=3 => answer(actions.iter().map(|a| failed(a, 403, "cluster_block_exception")).collect()),
        4..=6 => Err(status(403)),
        7 => answer(actions.iter().map(|a| failed(a, 404, "index_not_found_exception")).collect()),
        _ => answer(actions.iter().map(created).collect()),
    });
    let ix = indexer(&twin, 2).holding_when_blocked(true);
    let got = ix.index(batch(&["a", "b", "c"], 10), &CancellationToken::new()).await.unwrap();
    assert_eq!(got, report(3, 0, 0));
    assert!(twin.calls().iter().flatten().all(|a| a.index != "trailship-deadletter"), "nothing dead-lettered");
    // Without holding (a one-shot command) the batch fails after max_retries, still without
    // dead-lettering anything.
    let twin = Twin::new(|_, _| Err(status(401)));
    let err = indexer(&twin, 2).index(batch(&["a"], 10), &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, IndexError::RetriesExhausted { .. }), "{err}");
    assert_eq!(twin.calls().len(), 3);
}

#[tokio::test]
async fn a_request_too_large_is_split_in_halves_and_a_lone_huge_event_dead_lettered() {
    // The twin refuses any request over 3 actions, and any document over 30 KB.
    let twin = Twin::new(|_, actions| {
        if actions.len() > 3 || actions.iter().any(|a| a.doc.to_string().len() > 30_000) {
            return Err(status(413));
        }
        answer(actions.iter().map(created).collect())
    });
    let mut ids: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    ids.push("huge".into());
    let mut b = batch(&ids.iter().map(String::as_str).collect::<Vec<_>>(), 10);
    b.append(batch(&["big"], 50_000));
    let got = indexer(&twin, 0).index(b, &CancellationToken::new()).await.unwrap();
    assert_eq!(got, report(11, 0, 1));
    let calls = twin.calls();
    let indexed: std::collections::BTreeSet<&str> = calls
        .iter()
        .filter(|c| c.len() <= 3 && c.iter().all(|a| a.doc.to_string().len() <= 30_000))
        .flatten()
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(indexed.len(), 12, "{indexed:?}");
    let dead = calls.iter().flatten().find(|a| a.index == "trailship-deadletter").unwrap();
    assert_eq!(dead.id, "big");
    assert_eq!(dead.doc["status"], 413);
    assert_eq!(dead.doc["event"].as_str().unwrap().len(), HEAD_BYTES, "a truncated copy");
    assert!(dead.doc["event_size"].as_u64().unwrap() > 50_000);
}

#[tokio::test]
async fn cancellation_ends_the_retries_at_once() {
    // The outage answers 503; the shutdown comes while the indexer waits 20 s to retry.
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let twin = Twin::new(move |_, _| {
        stop.cancel();
        Err(status(503))
    });
    let ix = Indexer::new(twin.clone(), "dl".into(), 100).with_delays(Duration::from_secs(20), Duration::from_secs(60));
    let started = tokio::time::Instant::now();
    let err = ix.index(batch(&["a"], 10), &cancel).await.unwrap_err();
    assert!(matches!(err, IndexError::Cancelled), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn retry_warnings_are_rate_limited_per_kind_and_count_what_they_skip() {
    let limit = RateLimit::new();
    assert_eq!(limit.due_at("throttled", 1), Some(0));
    assert_eq!(limit.due_at("throttled", 500), None);
    assert_eq!(limit.due_at("throttled", 9_000), None);
    assert_eq!(limit.due_at("unavailable", 9_000), Some(0), "each kind has its own limit");
    assert_eq!(limit.due_at("throttled", 10_001), Some(2), "two retries went unlogged");
    assert_eq!(limit.due_at("throttled", 10_002), None);
}

#[tokio::test]
async fn alerts_are_counted_apart_and_only_new_ones_handed_back() {
    let origin = Arc::new(Origin::S3 { bucket: "b".into(), key: "k".into() });
    let mut b = BatchBuilder::new(BatchLimits { max_bytes: 1 << 30, max_actions: 100 }, origin);
    for (kind, index, id) in [
        (ItemKind::Event, "cloudtrail", "e"),
        (ItemKind::Alert, "trailship-alerts", "new"),
        (ItemKind::Alert, "trailship-alerts", "old"),
        (ItemKind::Alert, "trailship-alerts", "refused"),
    ] {
        let doc = json!({"rule": {"level": "high"}, "n": id}).to_string();
        b.push(
            kind,
            |o| write_create_action(o, index, "2024.08.01", &format!("\"{id}\"")),
            |o| o.extend_from_slice(doc.as_bytes()),
            br#"{"eventID":"e"}"#,
        );
    }
    let twin = Twin::new(|_, actions| {
        answer(
            actions
                .iter()
                .map(|a| match a.id.as_str() {
                    "old" => failed(a, 409, "version_conflict_engine_exception"),
                    "refused" if a.index.starts_with("trailship-alerts") => failed(a, 400, "mapper_parsing_exception"),
                    _ => created(a),
                })
                .collect(),
        )
    });
    let got = indexer(&twin, 3).index_batch(b.finish().unwrap(), &CancellationToken::new()).await.unwrap();
    assert_eq!(got.report, BatchReport { created: 1, duplicates: 0, dead_lettered: 1, alerts: 1 });
    let new: Vec<Value> = got.new_alerts.iter().map(|(_, d)| serde_json::from_slice(d).unwrap()).collect();
    assert_eq!(got.new_alerts[0].0, crate::detect::Level::High);
    assert_eq!(new, [json!({"rule": {"level": "high"}, "n": "new"})]);
    // The refused alert is dead-lettered with the event's record, which replays it.
    let dead = &twin.calls()[1][0];
    assert_eq!(
        (dead.index.as_str(), &dead.doc["target_index"]),
        ("trailship-deadletter", &json!("trailship-alerts-2024.08.01"))
    );
    assert_eq!(dead.doc["event"], r#"{"eventID":"e"}"#);
}

#[tokio::test]
async fn without_webhooks_created_alerts_are_counted_but_not_handed_back() {
    let origin = Arc::new(Origin::S3 { bucket: "b".into(), key: "k".into() });
    let mut b = BatchBuilder::new(BatchLimits { max_bytes: 1 << 30, max_actions: 100 }, origin);
    let doc = json!({"rule": {"level": "critical"}}).to_string();
    b.push(
        ItemKind::Alert,
        |o| write_create_action(o, "trailship-alerts", "2024.08.01", "\"e:r\""),
        |o| o.extend_from_slice(doc.as_bytes()),
        b"{}",
    );
    let twin = Twin::new(|_, actions| answer(actions.iter().map(created).collect()));
    let ix = indexer(&twin, 1).handing_back_alerts(false);
    let got = ix.index_batch(b.finish().unwrap(), &CancellationToken::new()).await.unwrap();
    assert_eq!((got.report.alerts, got.new_alerts.len()), (1, 0));
}
