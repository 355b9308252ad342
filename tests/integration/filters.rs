//! `filter.drop` end to end over the bundled samples: what `detect --filters` says a filter set
//! would drop is what `ingest` drops; dropped events are not indexed, their alerts are (marked
//! `event.dropped`); events a grouped rule counts are kept; the drops are tallied beside the
//! trends, survive a trend recompute and are not doubled by a second ingest; a filter file that
//! is not a CloudTrail rule stops start-up with exit 2 naming it.

use crate::harness::{Osmem, trailship};
use serde_json::{Value, json};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples");
const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/filters");

/// Drops trail changes (two high and two medium alerts in the samples: made anyway) and every
/// failed call (most of which the grouped CIS 4.1 rule counts: those are kept).
const OURS: &str = "title: Trail changes and failed calls
id: 5d1e0c3a-8f2b-4b7a-9e61-0c4f2a7d9b10
logsource:
    product: aws
    service: cloudtrail
detection:
    trail:
        eventName:
            - StopLogging
            - DeleteTrail
    failed:
        errorCode|exists: true
    condition: trail or failed
level: informational
";

/// A number said in `text` right before `words`.
fn number_before(text: &str, words: &str) -> u64 {
    let at = text.find(words).unwrap_or_else(|| panic!("{words:?} not in {text}"));
    text[..at].split_whitespace().last().unwrap().trim_start_matches('(').parse().unwrap()
}

async fn search(osmem: &Osmem, index: &str, query: Value) -> Vec<Value> {
    let body = osmem.post(&format!("/{index}/_search"), &json!({"size": 10000, "query": query})).await;
    body["hits"]["hits"].as_array().cloned().unwrap_or_default()
}

/// The tally documents: (their number, the events they count).
async fn tallies(osmem: &Osmem) -> (usize, u64) {
    let docs = search(osmem, "trailship-trends-cloudtrail-*", json!({"term": {"dropped": true}})).await;
    (docs.len(), docs.iter().map(|d| d["_source"]["count"].as_u64().unwrap()).sum())
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_drop_what_detect_says_keep_alerts_and_tally_the_drops_beside_the_trends() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ours.yml"), OURS).unwrap();
    let ours = dir.path().to_str().unwrap();
    let preview = trailship(&["detect", "--filters", SHIPPED, "--filters", ours, SAMPLES], &[]).await;
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    let said = preview.summary();
    let dropped = number_before(said, "of 413 events (");
    let kept = number_before(said, "that grouped or correlation rules count");
    let alerts = number_before(said, "alerts from the dropped ones");
    assert!(dropped > 25 && kept > 0 && alerts >= 4, "{said}");
    assert!(preview.stdout.contains("dropped per eventName:"), "{}", preview.stdout);
    assert!(preview.stdout.contains("Trail changes and failed calls"), "{}", preview.stdout);

    let osmem = Osmem::start().await;
    let env = vec![
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
        ("TRAILSHIP__FILTER__DROP".to_owned(), format!("{SHIPPED},{ours}")),
    ];
    let run = trailship(&["ingest", SAMPLES], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = run.summary();
    assert_eq!(number_before(summary, "dropped by filters"), dropped, "{summary}");
    assert!(summary.contains("Trail changes and failed calls "), "{summary}");
    assert_eq!(number_before(summary, "indexed,"), 413 - dropped, "{summary}");
    assert_eq!(osmem.count("cloudtrail-*").await, 413 - dropped);
    assert!(
        search(&osmem, "cloudtrail-*", json!({"terms": {"eventName": ["StopLogging", "DeleteTrail"]}}))
            .await
            .is_empty()
    );
    let denied = search(&osmem, "cloudtrail-*", json!({"exists": {"field": "errorCode"}})).await;
    assert_eq!(denied.len() as u64, kept, "the failed calls CIS 4.1 groups are kept");

    let of_dropped = search(&osmem, "trailship-alerts-*", json!({"term": {"event.dropped": true}})).await;
    assert_eq!(of_dropped.len() as u64, alerts);
    let rules: Vec<&str> = of_dropped.iter().map(|a| a["_source"]["rule"]["name"].as_str().unwrap()).collect();
    assert!(rules.contains(&"CloudTrail Trail Stopped or Deleted"), "{rules:?}");
    for alert in &of_dropped {
        let a = &alert["_source"];
        for field in ["eventID", "eventName", "@timestamp"] {
            assert!(a[field].is_string(), "{field}: {a}");
        }
        assert!(a["user"]["name"].is_string() && a["source"]["address"].is_string(), "who and from where: {a}");
        assert!(a["event"].get("index").is_none(), "no index holds the event: {a}");
    }

    let (docs, counted) = tallies(&osmem).await;
    assert_eq!(counted, dropped, "every dropped event is tallied once");
    let trends = trailship(&["trends", "--from", "2020-09-14", "--to", "2024-11-30"], &env).await;
    assert_eq!(trends.code, 0, "{}", trends.stderr);
    assert_eq!(tallies(&osmem).await, (docs, counted), "a trend recompute leaves the tallies");
    let counts = search(
        &osmem,
        "trailship-trends-cloudtrail-*",
        json!({"bool": {"must_not": [
        {"exists": {"field": "dropped"}}, {"exists": {"field": "first_seen"}}]}}),
    )
    .await;
    let indexed: u64 = counts.iter().map(|d| d["_source"]["count"].as_u64().unwrap()).sum();
    let insights = search(&osmem, "cloudtrail-*", json!({"term": {"eventCategory": "Insight"}})).await.len() as u64;
    assert_eq!(indexed, 413 - dropped - insights, "the counts are the indexed events'");

    let alert_docs = osmem.count("trailship-alerts-*").await;
    let again = trailship(&["ingest", SAMPLES], &env).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.summary().contains("(0 indexed,"), "{}", again.summary());
    assert_eq!(tallies(&osmem).await, (docs, counted), "reading the same events again replaces their tallies");
    assert_eq!(osmem.count("trailship-alerts-*").await, alert_docs, "and adds no alert");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filter_file_that_is_no_cloudtrail_rule_stops_start_up_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let windows = dir.path().join("windows.yml");
    std::fs::write(
        &windows,
        "title: Whoami\nlogsource:\n    product: windows\ndetection:\n    sel:\n        Image: x\n    condition: sel\n",
    )
    .unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(&broken, "title: [unclosed\n").unwrap();
    for (file, why) in [(&windows, "is not for cloudtrail records"), (&broken, "is not a valid sigma rule")] {
        let path = file.to_str().unwrap();
        let env = vec![
            ("TRAILSHIP__OPENSEARCH__URL".to_owned(), "http://127.0.0.1:9".to_owned()),
            ("TRAILSHIP__FILTER__DROP".to_owned(), path.to_owned()),
        ];
        for args in [vec!["ingest", "--output", "/dev/null", SAMPLES], vec!["detect", "--filters", path, SAMPLES]] {
            let run = trailship(&args, &env).await;
            assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
            let last = run.stderr.lines().last().unwrap_or_default();
            assert!(last.contains("filter.drop") && last.contains(path) && last.contains(why), "{args:?}: {last}");
        }
    }
}
