//! `trailship setup`: installs what is missing, updates what differs, says so, and warns
//! clearly when the cluster has no ISM plugin (osmem has none).

use crate::harness::{Osmem, trailship};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn setup_is_idempotent_and_reports_each_action() {
    let osmem = Osmem::start().await;
    let env = vec![
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
        ("TRAILSHIP__OPENSEARCH__INDEX_PREFIX".to_owned(), "ct".to_owned()),
    ];
    let first = trailship(&["setup"], &env).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        first.stdout.lines().collect::<Vec<_>>(),
        [
            "index template trailship-ct: installed",
            "index template trailship-trailship-deadletter: installed",
            "index template trailship-s3access: installed",
            "index template trailship-alerts: installed",
            "ism policy trailship-ct: skipped (no ISM plugin on this cluster)",
            "ism policy trailship-s3access: skipped (no ISM plugin on this cluster)",
            "ism policy trailship-alerts: skipped (no ISM plugin on this cluster)",
            "dashboards: skipped (no dashboards.url configured; pass --dashboards-url to import them)",
        ]
    );
    assert!(first.stderr.contains("no index state management (ism) plugin"), "{}", first.stderr);
    let (status, t) = osmem.get("/_index_template/trailship-ct").await;
    assert_eq!(status, 200);
    assert_eq!(t["index_templates"][0]["index_template"]["index_patterns"], json!(["ct-*"]));

    let again = trailship(&["setup"], &env).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("index template trailship-ct: unchanged"), "{}", again.stdout);
    assert!(again.stdout.contains("index template trailship-trailship-deadletter: unchanged"), "{}", again.stdout);
    assert!(again.stdout.contains("index template trailship-s3access: unchanged"), "{}", again.stdout);
    assert!(again.stdout.contains("index template trailship-alerts: unchanged"), "{}", again.stdout);

    // Someone edits the template: run and ingest leave it alone but warn; setup puts it back.
    let edited = json!({"index_patterns": ["ct-*"], "priority": 100, "template": {"mappings": {"dynamic": true}}});
    assert_eq!(osmem.put("/_index_template/trailship-ct", &edited).await["acknowledged"], true);
    let dir = tempfile::tempdir().unwrap();
    let empty = trailship(&["ingest", dir.path().to_str().unwrap()], &env).await;
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    assert!(empty.stderr.contains("run `trailship setup` to update it"), "{}", empty.stderr);
    let fixed = trailship(&["setup"], &env).await;
    assert!(fixed.stdout.contains("index template trailship-ct: updated"), "{}", fixed.stdout);
    let (_, t) = osmem.get("/_index_template/trailship-ct").await;
    assert_eq!(t["index_templates"][0]["index_template"]["template"]["mappings"]["dynamic"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_configured_replicas_reach_every_template_and_a_change_is_an_update() {
    let osmem = Osmem::start().await;
    let env = |replicas: &str| {
        vec![
            ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
            ("TRAILSHIP__OPENSEARCH__NUMBER_OF_REPLICAS".to_owned(), replicas.to_owned()),
        ]
    };
    let names = ["trailship-cloudtrail", "trailship-trailship-deadletter", "trailship-s3access", "trailship-alerts"];
    for (replicas, action) in [("0", "installed"), ("2", "updated"), ("2", "unchanged")] {
        let out = trailship(&["setup"], &env(replicas)).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        for name in names {
            assert!(out.stdout.contains(&format!("index template {name}: {action}")), "{replicas}: {}", out.stdout);
            let (status, t) = osmem.get(&format!("/_index_template/{name}")).await;
            assert_eq!(status, 200);
            let index = &t["index_templates"][0]["index_template"]["template"]["settings"]["index"];
            // OpenSearch answers index settings as strings.
            assert_eq!(index["number_of_replicas"].to_string().trim_matches('"'), replicas, "{name}: {index}");
        }
    }
}
