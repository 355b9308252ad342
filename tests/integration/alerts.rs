//! Detections end to end: rules of our own (`tests/fixtures/rules/`) over the bundled samples,
//! ingested into osmem with a webhook receiver that fails its first posts. Documents carry
//! `rule.id`, one alert document exists per match, the webhook gets every alert at or above
//! `alerts.min_level` exactly once (retried past the failures, batched per file), and a
//! second ingest adds no alert document and sends nothing.

use crate::harness::{Osmem, trailship};
use crate::proxies::WebhookReceiver;
use serde_json::Value;
use std::collections::BTreeMap;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples");
const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rules");
const TRAIL_RULE: &str = "7d1f0c52-2a61-4f0e-9a55-test00000001";
const PASSWORD_RULE: &str = "7d1f0c52-2a61-4f0e-9a55-test00000002";
const DENIED_RULE: &str = "7d1f0c52-2a61-4f0e-9a55-test00000003";

#[tokio::test(flavor = "multi_thread")]
async fn matches_become_alert_documents_and_webhook_posts_once() {
    let (osmem, hook) = tokio::join!(Osmem::start(), WebhookReceiver::start(2));
    let hook_url = format!("{}/services/T0/B0/webhook-token-4kQz9", hook.url);
    let env: Vec<(String, String)> = [
        ("TRAILSHIP__OPENSEARCH__URL", osmem.url.as_str()),
        ("TRAILSHIP__DETECT__BUILTIN", "false"),
        ("TRAILSHIP__DETECT__RULES", RULES),
        ("TRAILSHIP__ALERTS__WEBHOOK_URLS", hook_url.as_str()),
        ("TRAILSHIP__ALERTS__WEBHOOK_TIMEOUT_SECONDS", "5"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let run = trailship(&["ingest", SAMPLES], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.summary().contains("413 indexed, 0 already present, 0 dead-lettered, 31 alerts"), "{}", run.summary());
    assert!(run.stderr.contains("alert notification failed, retrying"), "the receiver failed the first two posts");

    // Event documents carry the rules they matched.
    let docs = osmem.all("cloudtrail-*").await;
    assert_eq!(docs.len(), 413);
    let deleted = docs.iter().find(|d| d["_id"] == "ee73c230-44bc-4492-8542-cfb189eae287").unwrap();
    assert_eq!(deleted["_source"]["rule"]["id"], serde_json::json!([TRAIL_RULE]));
    assert_eq!(deleted["_source"]["rule"]["level"], "critical");
    let search = serde_json::json!({"query": {"term": {"rule.id": PASSWORD_RULE}}});
    let found = osmem.post("/cloudtrail-*/_count", &search).await;
    assert_eq!(found["count"], 30, "{found}");

    // One alert document per match, with the event's facts and where the event went; the
    // low rule's 5 matches are grouped per identity, account and hour instead.
    let all = osmem.all("trailship-alerts-*").await;
    // With detect.builtin = false the behavioural detections still run: the 30 denied calls of
    // one role within seconds are an error burst.
    let (behaviour, rest): (Vec<&Value>, Vec<&Value>) =
        all.iter().partition(|a| a["_source"]["alert"]["kind"] == "behaviour");
    assert_eq!(behaviour.len(), 1);
    assert_eq!(behaviour[0]["_source"]["rule"]["name"], "Error Burst for One Identity");
    let (groups, alerts): (Vec<&Value>, Vec<&Value>) =
        rest.into_iter().partition(|a| a["_source"]["alert"]["kind"] == "group");
    let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
    for a in &alerts {
        *per_rule.entry(a["_source"]["rule"]["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> =
        [(TRAIL_RULE, 1), (PASSWORD_RULE, 30)].map(|(k, v)| (k.to_owned(), v)).into();
    assert_eq!(per_rule, expected);
    assert!(groups.iter().all(|g| g["_source"]["rule"]["id"] == DENIED_RULE && g["_source"]["rule"]["level"] == "low"));
    let grouped: u64 = groups.iter().map(|g| g["_source"]["alert"]["count"].as_u64().unwrap()).sum();
    assert_eq!(grouped, 5, "every denied call counted once");
    let keys: std::collections::BTreeSet<String> = docs
        .iter()
        .filter(|d| d["_source"]["rule"]["id"].as_array().is_some_and(|ids| ids.contains(&DENIED_RULE.into())))
        .map(|d| {
            let s = &d["_source"];
            format!(
                "{}|{}|{}",
                s["user"]["principal"],
                s["cloud"]["account"]["id"],
                &s["eventTime"].as_str().unwrap()[..13]
            )
        })
        .collect();
    assert_eq!(groups.len(), keys.len(), "one group per identity, account and hour: {keys:?}");
    let trail = alerts.iter().find(|a| a["_source"]["rule"]["id"] == TRAIL_RULE).unwrap();
    assert_eq!(trail["_index"], "trailship-alerts-2024.07.31");
    let s = &trail["_source"];
    assert_eq!(s["@timestamp"], "2024-07-31T12:46:41Z");
    assert_eq!(s["rule"]["name"], "Test: CloudTrail trail deleted");
    assert_eq!(s["rule"]["tags"], serde_json::json!(["test.trail"]));
    assert_eq!(s["eventID"], "ee73c230-44bc-4492-8542-cfb189eae287");
    assert_eq!((&s["eventName"], &s["eventSource"]), (&"DeleteTrail".into(), &"cloudtrail.amazonaws.com".into()));
    assert_eq!(s["user"]["name"], "christophe");
    assert_eq!(s["event"]["index"], "cloudtrail-2024.07.31");
    assert!(s["cloud"]["account"]["id"].is_string() && s["cloud"]["region"].is_string(), "{s}");
    let by_level = serde_json::json!({"size": 0, "aggs": {"l": {"terms": {"field": "rule.level"}}}});
    let levels = osmem.post("/trailship-alerts-*/_search", &by_level).await;
    let buckets: BTreeMap<String, u64> = levels["aggregations"]["l"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["key"].as_str().unwrap().to_owned(), b["doc_count"].as_u64().unwrap()))
        .collect();
    let low = groups.len() as u64;
    let expected: BTreeMap<String, u64> =
        [("critical", 1), ("high", 30), ("low", low), ("medium", 1)].map(|(k, v)| (k.to_owned(), v)).into();
    assert_eq!(buckets, expected, "the error burst is medium");

    // The webhook: every high or critical alert once, in posts that each hold one file's.
    let posts = hook.posts().await;
    assert_eq!(posts.iter().filter(|p| p["status"] == 503).count(), 2);
    let delivered: Vec<&Value> = posts.iter().filter(|p| p["status"] == 200).collect();
    assert!(posts.iter().all(|p| p["path"] == "/services/T0/B0/webhook-token-4kQz9"));
    assert!(posts.iter().all(|p| p["content_type"] == "application/json"));
    let mut notified: Vec<String> = Vec::new();
    for p in &delivered {
        let body = &p["body"];
        let list = body["alerts"].as_array().unwrap();
        let text: Vec<&str> = body["text"].as_str().unwrap().lines().collect();
        assert_eq!(text.len(), list.len(), "one text line per alert: {body}");
        for (line, a) in text.iter().zip(list) {
            assert!(matches!(a["rule"]["level"].as_str(), Some("high" | "critical")), "{a}");
            assert!(
                line.contains(a["eventID"].as_str().unwrap()) && line.contains(a["rule"]["name"].as_str().unwrap())
            );
            for field in ["eventName", "eventTime", "user", "sourceIPAddress", "account", "region"] {
                assert!(a[field].is_string(), "{field} in {a}");
            }
            notified.push(format!("{}/{}", a["rule"]["id"], a["eventID"]));
        }
    }
    let total = notified.len();
    notified.sort();
    notified.dedup();
    assert_eq!((total, notified.len()), (31, 31), "each of the 31 high+ alerts once");
    let trail_post = delivered.iter().find(|p| p["body"]["alerts"][0]["rule"]["id"] == TRAIL_RULE).unwrap();
    assert!(
        trail_post["body"]["text"].as_str().unwrap().starts_with(
            "[critical] Test: CloudTrail trail deleted: DeleteTrail by christophe from 08.1.250.216 (account "
        ),
        "{}",
        trail_post["body"]["text"]
    );
    // Batched per file: fewer posts than alerts, and no file's alerts split across posts.
    assert!(delivered.len() < 31, "{}", delivered.len());

    // A second ingest of the same files: nothing new, no alert twice, no post.
    let again = trailship(&["ingest", SAMPLES], &env).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.summary().contains("0 indexed, 413 already present, 0 dead-lettered, 0 alerts"),
        "{}",
        again.summary()
    );
    assert_eq!(osmem.count("trailship-alerts-*").await, all.len() as u64);
    assert!(again.summary().contains(&format!("{} findings written, 0 new", groups.len() + 1)), "{}", again.summary());
    assert_eq!(hook.posts().await.len(), posts.len(), "nothing notified twice");
}
