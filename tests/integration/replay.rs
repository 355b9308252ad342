//! `trailship replay-deadletters` against osmem: dead letters go back in once their cause is
//! fixed, and are deleted only once their event is indexed; the ones still failing, and the
//! ones holding only the start of a record, stay.

use crate::fixtures::{self, LogFile};
use crate::harness::{Osmem, trailship};
use serde_json::{Value, json};

fn error_types(dead: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = dead.iter().map(|d| d["_source"]["error_type"].as_str().unwrap().to_owned()).collect();
    t.sort();
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_replayed_once_the_cause_is_fixed_and_deleted_only_when_indexed() {
    let osmem = Osmem::start().await;
    // The cause: a daily index created by hand with eventName as a number.
    osmem.put("/cloudtrail-2015.01.01", &json!({"mappings": {"properties": {"eventName": {"type": "long"}}}})).await;
    let ev = |id: &str, time: &str, extra: Value| {
        fixtures::event(
            id,
            time,
            "RunInstances",
            "ec2.amazonaws.com",
            "203.0.113.9",
            fixtures::iam_user("alice", "AKIAEXAMPLE"),
            extra,
        )
    };
    let mut no_time = ev("no-time", "2024-08-01T10:00:00Z", json!({}));
    no_time.as_object_mut().unwrap().remove("eventTime");
    let events = vec![
        ev("conflicting", "2015-01-01T10:00:00Z", json!({})),
        no_time,
        ev("too-big", "2024-08-01T10:00:00Z", json!({"requestParameters": {"userData": "u".repeat(100_000)}})),
        ev("fine", "2024-08-01T10:00:00Z", json!({})),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = LogFile { key: "f.json.gz".into(), events };
    std::fs::write(dir.path().join("f.json.gz"), file.gzip()).unwrap();
    let env = vec![
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
        ("TRAILSHIP__LIMITS__MAX_RECORD_BYTES".to_owned(), "65536".to_owned()),
    ];
    let run = trailship(&["ingest", dir.path().to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        error_types(&osmem.all("trailship-deadletter").await),
        ["mapper_parsing_exception", "missing_event_time", "record_too_large"]
    );

    // Before the fix: the event fails again, its dead letter stays, and the command says so.
    let replay = ["replay-deadletters", "--reason", "mapper_parsing_exception"];
    let run = trailship(&replay, &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.summary().contains("1 dead letters") && run.summary().contains("1 still failing"), "{}", run.summary());
    assert_eq!(osmem.all("trailship-deadletter").await.len(), 3);

    // The fix: drop the hand-made index, so the template's mapping applies again.
    let r = reqwest::Client::new().delete(format!("{}/cloudtrail-2015.01.01", osmem.url)).send().await.unwrap();
    assert!(r.status().is_success());
    let run = trailship(&["replay-deadletters", "--since", "1h", "--reason", "mapper_parsing_exception"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary().contains("1 replayed and deleted"), "{}", run.summary());
    let (status, doc) = osmem.get("/cloudtrail-2015.01.01/_doc/conflicting").await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["_source"]["eventName"], "RunInstances");
    assert_eq!(doc["_source"]["user"]["name"], "alice", "enriched like any event");
    assert_eq!(error_types(&osmem.all("trailship-deadletter").await), ["missing_event_time", "record_too_large"]);

    // Without a filter: nothing more can go in; both stay.
    let run = trailship(&["replay-deadletters"], &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    for needle in ["2 dead letters", "0 replayed", "1 still failing", "1 not replayable"] {
        assert!(run.summary().contains(needle), "{needle}: {}", run.summary());
    }
    assert_eq!(osmem.all("trailship-deadletter").await.len(), 2);
    let run = trailship(&["replay-deadletters", "--since", "2099-01-01"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary().contains("0 dead letters"), "{}", run.summary());
    let run = trailship(&["replay-deadletters", "--since", "soon"], &env).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
}
