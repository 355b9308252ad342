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
            "index template trailship-trends-ct: installed",
            "index template trailship-s3access: installed",
            "index template trailship-trends-s3access: installed",
            "index template trailship-trailship-deadletter: installed",
            "index template trailship-alerts: installed",
            "ism policy trailship-ct: skipped (no ISM plugin on this cluster)",
            "ism policy trailship-s3access: skipped (no ISM plugin on this cluster)",
            "ism policy trailship-alerts: skipped (no ISM plugin on this cluster)",
            "ism policy trailship-trends-ct: skipped (no ISM plugin on this cluster)",
            "ism policy trailship-trends-s3access: skipped (no ISM plugin on this cluster)",
            "shard budget: 1222 indices at steady state (ct-* 401, s3access-* 401, trailship-alerts-* 401, \
             trailship-deadletter 1, trailship-trends-ct-* 9, trailship-trends-s3access-* 9), 2444 shards with 1 replica each",
            "shard budget: the cluster accepts 1000 shards (cluster.max_shards_per_node 1000 × 1 data node) and \
             holds 0 now; trailship's steady state is 244% of the limit",
            "shard budget: WARNING: over 80% of the limit: once it is reached, new daily indices are refused. Set \
             opensearch.index_period = \"month\", lower opensearch.retention_days, set opensearch.number_of_replicas = 0 \
             (a single node never assigns replicas), or raise cluster.max_shards_per_node",
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

#[tokio::test(flavor = "multi_thread")]
async fn the_shard_budget_follows_the_configuration_and_the_clusters_settings() {
    let osmem = Osmem::start().await;
    let limit = json!({"persistent": {"cluster.max_shards_per_node": 80}});
    assert_eq!(osmem.put("/_cluster/settings", &limit).await["acknowledged"], true);
    let env = |period: &str, replicas: &str| {
        vec![
            ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
            ("TRAILSHIP__OPENSEARCH__INDEX_PERIOD".to_owned(), period.to_owned()),
            ("TRAILSHIP__OPENSEARCH__NUMBER_OF_REPLICAS".to_owned(), replicas.to_owned()),
        ]
    };
    // 15 monthly indices of each kind, the dead letters and 9 yearly trend indices of each
    // source, no replica: 64 of 80 shards, 80%.
    let fits = trailship(&["setup"], &env("month", "0")).await;
    assert_eq!(fits.code, 0, "{}", fits.stderr);
    assert!(fits.stdout.contains("64 indices at steady state (cloudtrail-* 15, s3access-* 15, trailship-alerts-* 15, trailship-deadletter 1, trailship-trends-cloudtrail-* 9, trailship-trends-s3access-* 9), 64 shards with 0 replicas each"), "{}", fits.stdout);
    assert!(fits.stdout.contains("accepts 80 shards (cluster.max_shards_per_node 80 × 1 data node) and holds 0 now; trailship's steady state is 80% of the limit"), "{}", fits.stdout);
    assert!(!fits.stdout.contains("WARNING") && !fits.stderr.contains("shard limit"), "{}{}", fits.stdout, fits.stderr);
    // With a replica it is 128 shards: setup still succeeds, and says what to change.
    let over = trailship(&["setup"], &env("month", "1")).await;
    assert_eq!(over.code, 0, "{}", over.stderr);
    assert!(over.stdout.contains("160% of the limit"), "{}", over.stdout);
    assert!(over.stdout.contains("WARNING") && over.stdout.contains("number_of_replicas = 0"), "{}", over.stdout);
    assert!(over.stderr.contains("over 80% of the cluster's shard limit"), "{}", over.stderr);
}

/// Trend indices under their former name (`cloudtrail-trends-YYYY`, inside `cloudtrail-*`):
/// setup says how to move them, and what it says works.
#[tokio::test(flavor = "multi_thread")]
async fn setup_says_how_to_move_trend_indices_out_of_the_event_pattern() {
    let osmem = Osmem::start().await;
    let env = vec![("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone())];
    let doc = json!({"day": "2024-08-01", "count": 3});
    osmem.put("/cloudtrail-trends-2024/_doc/d1?refresh=true", &doc).await;
    let run = trailship(&["setup"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().filter(|l| l.contains("cloudtrail-trends")).collect();
    assert_eq!(
        lines,
        [
            "former trend indices: cloudtrail-trends-2024 under cloudtrail-* (trend indices are now \
             trailship-trends-cloudtrail-YYYY); move each, then delete it:",
            "  POST /_reindex {\"source\":{\"index\":\"cloudtrail-trends-2024\"},\"dest\":{\"index\":\
             \"trailship-trends-cloudtrail-2024\"}} then DELETE /cloudtrail-trends-2024",
            "  then DELETE /_index_template/trailship-cloudtrail-trends and DELETE /_plugins/_ism/policies/\
             trailship-cloudtrail-trends",
        ],
        "{}",
        run.stdout
    );
    // Doing what it says leaves cloudtrail-* to events and the trend document in its new home.
    let body =
        json!({"source": {"index": "cloudtrail-trends-2024"}, "dest": {"index": "trailship-trends-cloudtrail-2024"}});
    assert_eq!(osmem.post("/_reindex?refresh=true", &body).await["created"], 1);
    osmem.delete("/cloudtrail-trends-2024").await;
    assert_eq!(osmem.count("cloudtrail-*").await, 0);
    assert_eq!(osmem.count("trailship-trends-cloudtrail-*").await, 1);
    let again = trailship(&["setup"], &env).await;
    assert!(!again.stdout.contains("former trend indices"), "{}", again.stdout);
}
