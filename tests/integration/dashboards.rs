//! The shipped dashboards over real events: every panel's aggregation and every saved search is
//! run on osmem the way OpenSearch Dashboards sends it (the saved Lucene query, the aggregations
//! nested in the saved order), over the bundled sample events plus generated events for what
//! the public samples lack (CIS items, throttling), and the answer is compared with a direct
//! scan of the indexed documents. `trailship setup` is run against a URL without Dashboards.

use crate::fixtures::{LogFile, event, iam_user};
use crate::harness::{Osmem, osmem_with_samples, trailship};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use trailship::dashboards::SAVED_OBJECTS;

const THROTTLING: [&str; 9] = [
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "Client.RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];

/// Generated events, each with the CIS tag (or other panel) it is meant to show up in.
fn supplement() -> Vec<(Value, &'static str)> {
    let t = |h: u32| format!("2024-08-04T{h:02}:15:00Z");
    let root = json!({"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root",
        "accountId": "111122223333"});
    let ops = iam_user("operator", "AKIASUPPLEMENT00001");
    let api = |id: &str, h: u32, name: &str, source: &str, who: &Value| {
        event(id, &t(h), name, source, "88.12.1.9", who.clone(), json!({}))
    };
    let failed = |id: &str, h: u32, name: &str, source: &str, code: &str| {
        event(
            id,
            &t(h),
            name,
            source,
            "18.1.2.3",
            ops.clone(),
            json!({"errorCode": code, "errorMessage": "Rate exceeded"}),
        )
    };
    let login = |id: &str, who: Value, outcome: &str, mfa: &str| {
        event(
            id,
            &t(9),
            "ConsoleLogin",
            "signin.amazonaws.com",
            "81.2.69.160",
            who,
            json!({"eventType": "AwsConsoleSignIn", "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) \
                AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
                "responseElements": {"ConsoleLogin": outcome}, "additionalEventData": {"MFAUsed": mfa}}),
        )
    };
    let mut root_login_failure = login("sup-root-login-failed", root.clone(), "Failure", "No");
    root_login_failure["errorMessage"] = json!("Failed authentication");
    vec![
        (api("sup-root-summary", 8, "GetAccountSummary", "iam.amazonaws.com", &root), "root_activity"),
        (root_login_failure, "console_login_failure"),
        (login("sup-login-nomfa", ops.clone(), "Success", "No"), "console_login_without_mfa"),
        (api("sup-kms-disable", 10, "DisableKey", "kms.amazonaws.com", &ops), "kms_key_disable_or_delete"),
        (api("sup-kms-delete", 10, "ScheduleKeyDeletion", "kms.amazonaws.com", &ops), "kms_key_disable_or_delete"),
        (api("sup-s3-policy", 11, "PutBucketPolicy", "s3.amazonaws.com", &ops), "s3_bucket_policy_change"),
        (api("sup-s3-acl", 11, "PutBucketAcl", "s3.amazonaws.com", &ops), "s3_bucket_policy_change"),
        (api("sup-config-stop", 12, "StopConfigurationRecorder", "config.amazonaws.com", &ops), "config_change"),
        (api("sup-nacl", 13, "CreateNetworkAclEntry", "ec2.amazonaws.com", &ops), "network_acl_change"),
        (api("sup-igw", 13, "AttachInternetGateway", "ec2.amazonaws.com", &ops), "gateway_change"),
        (api("sup-route", 14, "CreateRoute", "ec2.amazonaws.com", &ops), "route_table_change"),
        (api("sup-vpc", 14, "CreateVpc", "ec2.amazonaws.com", &ops), "vpc_change"),
        (api("sup-terminate", 15, "TerminateInstances", "ec2.amazonaws.com", &ops), "instance"),
        (
            failed("sup-throttle-ssm", 16, "DescribeInstanceInformation", "ssm.amazonaws.com", "ThrottlingException"),
            "throttled",
        ),
        (
            failed("sup-throttle-ec2", 16, "DescribeInstances", "ec2.amazonaws.com", "Client.RequestLimitExceeded"),
            "throttled",
        ),
        (failed("sup-throttle-lambda", 17, "Invoke", "lambda.amazonaws.com", "TooManyRequestsException"), "throttled"),
    ]
}

/// A field of an indexed document by dotted path; arrays give one value per element.
fn values(doc: &Value, path: &str) -> Vec<String> {
    let mut current = vec![doc];
    for part in path.split('.') {
        current = current
            .into_iter()
            .flat_map(|v| match v.get(part) {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(v) => vec![v],
                None => vec![],
            })
            .collect();
    }
    current
        .into_iter()
        .filter(|v| !v.is_null())
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect()
}

fn has(doc: &Value, path: &str) -> bool {
    !values(doc, path).is_empty()
}

fn is(doc: &Value, path: &str, any_of: &[&str]) -> bool {
    values(doc, path).iter().any(|v| any_of.contains(&v.as_str()))
}

type Filter = Box<dyn Fn(&Value) -> bool>;

/// What each saved query means, written out independently of the query text: the documents a
/// panel or search must count.
fn meaning(id: &str, query: &str) -> Filter {
    let ec2_stop = |d: &Value| {
        is(d, "eventSource", &["ec2.amazonaws.com"]) && is(d, "eventName", &["StopInstances", "TerminateInstances"])
    };
    if let Some(tag) = query.strip_prefix("tags:") {
        let tag = tag.to_owned();
        return Box::new(move |d| is(d, "tags", &[&tag]));
    }
    match id {
        "trailship-overview-errors"
        | "trailship-operations-errors-by-service"
        | "trailship-operations-top-failing-apis"
        | "trailship-operations-failing-callers" => Box::new(|d| has(d, "errorCode")),
        "trailship-security-tags-over-time" => Box::new(|d| has(d, "tags")),
        "trailship-security-source-map" => Box::new(|d| has(d, "source.geo.location")),
        "trailship-security-new-access-keys" | "trailship-search-new-access-keys" => {
            Box::new(|d| is(d, "eventName", &["CreateAccessKey"]))
        }
        "trailship-operations-throttling-by-api" | "trailship-operations-throttling-by-service" => {
            Box::new(|d| is(d, "errorCode", &THROTTLING))
        }
        "trailship-operations-instance-stop-terminate" | "trailship-search-ec2-stop-terminate" => Box::new(ec2_stop),
        "trailship-search-s3-permissions" => Box::new(|d| {
            is(d, "eventSource", &["s3.amazonaws.com"])
                && is(
                    d,
                    "eventName",
                    &[
                        "PutBucketAcl",
                        "PutObjectAcl",
                        "PutBucketPolicy",
                        "DeleteBucketPolicy",
                        "PutBucketPublicAccessBlock",
                        "DeleteBucketPublicAccessBlock",
                        "PutBucketOwnershipControls",
                        "DeleteBucketOwnershipControls",
                    ],
                )
        }),
        "trailship-search-access-key" => Box::new(|d| is(d, "userIdentity.accessKeyId", &[SAMPLE_KEY])),
        "trailship-search-s3-data" => {
            Box::new(|d| is(d, "eventSource", &["s3.amazonaws.com"]) && is(d, "eventCategory", &["Data"]))
        }
        _ if query.is_empty() => Box::new(|_| true),
        _ => panic!("{id}: the test does not know what {query:?} means; add it to meaning()"),
    }
}

/// A real key from the samples, put in place of the editable search's placeholder.
const SAMPLE_KEY: &str = "AKIAW9X2Q2U25SK79UCX";

/// The saved query of an object, with the access-key placeholder swapped for a sample key.
fn saved_query(object: &Value) -> String {
    let source: Value =
        serde_json::from_str(object["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"].as_str().unwrap())
            .unwrap();
    source["query"]["query"].as_str().unwrap().replace("AKIAIOSFODNN7EXAMPLE", SAMPLE_KEY)
}

fn request_query(query: &str) -> Value {
    if query.is_empty() {
        json!({"match_all": {}})
    } else {
        json!({"bool": {"must": [{"query_string": {"query": query, "analyze_wildcard": true}}]}})
    }
}

/// The bucket aggregations of a visState, nested in their saved order, as Dashboards builds the
/// request (an `auto` date interval becomes one day here).
fn request_aggs(aggs: &[Value]) -> Option<Value> {
    let (agg, rest) = aggs.split_first()?;
    let field = agg["params"]["field"].as_str().unwrap();
    let mut body = match agg["type"].as_str().unwrap() {
        "terms" => json!({"terms": {"field": field, "size": agg["params"]["size"], "order": {"_count": "desc"}}}),
        "date_histogram" => json!({"date_histogram": {"field": field, "calendar_interval": "1d", "min_doc_count": 1}}),
        "geohash_grid" => json!({"geohash_grid": {"field": field, "precision": agg["params"]["precision"]}}),
        other => panic!("no request for {other}"),
    };
    if let Some(inner) = request_aggs(rest) {
        body["aggs"] = json!({ rest[0]["id"].as_str().unwrap(): inner });
    }
    Some(body)
}

/// The first-level bucket a document falls in, as the test computes it.
fn expected_keys(doc: &Value, agg: &Value) -> Vec<String> {
    let field = agg["params"]["field"].as_str().unwrap();
    match agg["type"].as_str().unwrap() {
        "date_histogram" => values(doc, field).into_iter().map(|t| t[..10].to_owned()).collect(),
        "geohash_grid" => values(doc, "source.geo.location.lat").into_iter().map(|_| "any cell".to_owned()).collect(),
        _ => values(doc, field),
    }
}

fn bucket_key(bucket: &Value, agg_type: &str) -> String {
    match agg_type {
        "date_histogram" => bucket["key_as_string"].as_str().unwrap()[..10].to_owned(),
        "geohash_grid" => "any cell".to_owned(),
        _ => bucket["key"].as_str().map_or_else(|| bucket["key"].to_string(), str::to_owned),
    }
}

/// Indexes the samples and the supplement into a fresh osmem with GeoIP; returns the documents
/// as indexed.
async fn indexed() -> (Osmem, Vec<Value>, tempfile::TempDir) {
    let extra =
        LogFile { key: "supplement.json.gz".into(), events: supplement().into_iter().map(|(e, _)| e).collect() };
    let (osmem, events, dir) = osmem_with_samples(extra).await;
    let docs: Vec<Value> = osmem.all("cloudtrail-*").await.into_iter().map(|h| h["_source"].clone()).collect();
    assert_eq!(docs.len(), events.len());
    (osmem, docs, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_panel_and_saved_search_answers_correctly_on_real_events() {
    let (osmem, docs, _dir) = indexed().await;
    let objects: Vec<Value> = SAVED_OBJECTS.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut first_level: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut checked = 0;
    for o in objects.iter().filter(|o| o["type"] == "visualization" || o["type"] == "search") {
        let id = o["id"].as_str().unwrap();
        let query = saved_query(o);
        let wanted = meaning(id, &query);
        let matching: Vec<&Value> = docs.iter().filter(|d| wanted(d)).collect();
        assert!(!matching.is_empty(), "{id}: no sample or generated event for {query:?}");

        let mut body = json!({"size": 0, "track_total_hits": true, "query": request_query(&query)});
        let state: Value =
            o["attributes"]["visState"].as_str().map_or(Value::Null, |s| serde_json::from_str(s).unwrap());
        let buckets: Vec<Value> = state["aggs"]
            .as_array()
            .map(|a| a.iter().filter(|a| a["schema"] != "metric").cloned().collect())
            .unwrap_or_default();
        if let Some(aggs) = request_aggs(&buckets) {
            body["aggs"] = json!({ buckets[0]["id"].as_str().unwrap(): aggs });
        }
        let answer = osmem.post("/cloudtrail-*/_search", &body).await;
        let total = answer["hits"]["total"]["value"].as_u64().unwrap_or_else(|| panic!("{id}: {answer}"));
        assert_eq!(
            total,
            matching.len() as u64,
            "{id}: {query:?} matched {total}, the documents say {}",
            matching.len()
        );
        checked += 1;
        let Some(first) = buckets.first() else { continue };

        let mut expected: BTreeMap<String, u64> = BTreeMap::new();
        for d in &matching {
            for k in expected_keys(d, first) {
                *expected.entry(k).or_default() += 1;
            }
        }
        let agg_type = first["type"].as_str().unwrap();
        let mut got: BTreeMap<String, u64> = BTreeMap::new();
        for b in answer["aggregations"][first["id"].as_str().unwrap()]["buckets"].as_array().unwrap() {
            *got.entry(bucket_key(b, agg_type)).or_default() += b["doc_count"].as_u64().unwrap();
        }
        assert!(!got.is_empty(), "{id}: empty aggregation");
        // Top-N: each bucket shown has its true count, and none left out outranks one shown.
        let size = first["params"]["size"].as_u64().map_or(usize::MAX, |s| s as usize);
        assert_eq!(got.len(), expected.len().min(size), "{id}: buckets {got:?}, expected {expected:?}");
        for (k, n) in &got {
            assert_eq!(expected.get(k), Some(n), "{id}: bucket {k}: {got:?} vs {expected:?}");
        }
        let lowest_shown = got.values().min().unwrap();
        assert!(
            expected.iter().filter(|(k, _)| !got.contains_key(*k)).all(|(_, n)| n <= lowest_shown),
            "{id}: a larger bucket was left out: {got:?} vs {expected:?}"
        );
        first_level.insert(id.to_owned(), got);
    }
    assert_eq!(checked, objects.iter().filter(|o| o["type"] == "visualization" || o["type"] == "search").count());

    // Each generated event shows in the panel it was made for (so each tag rule and query
    // really selects what its title says).
    for (e, panel) in supplement() {
        let name = e["eventName"].as_str().unwrap();
        let id = match panel {
            "throttled" => "trailship-operations-throttling-by-service".to_owned(),
            "instance" => "trailship-operations-instance-stop-terminate".to_owned(),
            tag => format!("trailship-security-cis-{}", tag.replace('_', "-")),
        };
        let rows = &first_level[&id];
        let key = match panel {
            "throttled" => e["eventSource"].as_str().unwrap().to_owned(),
            "instance" => e["eventTime"].as_str().unwrap()[..10].to_owned(),
            _ => name.to_owned(),
        };
        assert!(rows.contains_key(&key), "{id}: {name} not in {rows:?}");
    }
    // The real samples answer the rest: unauthorized calls, CloudTrail changes, new keys, stops.
    assert_eq!(first_level["trailship-security-cis-unauthorized-call"].values().sum::<u64>(), 51);
    assert!(first_level["trailship-security-cis-cloudtrail-change"].contains_key("StopLogging"));
    assert_eq!(first_level["trailship-security-new-access-keys"], BTreeMap::from([("christophe".to_owned(), 2)]));
    let countries = &first_level["trailship-security-source-countries"];
    assert!(countries.contains_key("Spain") && countries.contains_key("United Kingdom"), "{countries:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_warns_when_the_url_has_no_dashboards_api() {
    let osmem = Osmem::start().await;
    let env = vec![("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone())];
    let run = trailship(&["setup", "--dashboards-url", &osmem.url], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("dashboards: skipped (no saved-objects API at {})", osmem.url)),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("no saved-objects api at this url"), "{}", run.stderr);

    let run = trailship(&["setup", "--dashboards-url", "localhost:5601"], &env).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--dashboards-url"), "{}", run.stderr);
}

/// One HTTP request as a loopback listener received it.
struct Received {
    head: String,
    body: String,
}

/// Accepts one connection on `listener`, reads one request, answers `status` with `answer`.
async fn answer_once(listener: tokio::net::TcpListener, status: &str, answer: Value) -> Received {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut data = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the request head ended");
        data.extend_from_slice(&chunk[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .expect("a content-length");
    while data.len() < head_end + length {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the body ended");
        data.extend_from_slice(&chunk[..n]);
    }
    let body = answer.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await.unwrap();
    Received { head, body: String::from_utf8_lossy(&data[head_end..]).into_owned() }
}

/// The request `setup` sends, checked on a loopback listener that records it and answers the
/// way the saved-objects import documents (OpenSearch-Dashboards
/// src/core/server/saved_objects/import/types.ts). Not a Dashboards: what Dashboards does with
/// the objects is covered by the static checks in src/dashboards_tests.rs, not here.
#[tokio::test(flavor = "multi_thread")]
async fn setup_sends_the_import_dashboards_expects_and_reports_each_object() {
    let osmem = Osmem::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let objects: Vec<Value> = SAVED_OBJECTS.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let results: Vec<Value> = objects
        .iter()
        .enumerate()
        .map(|(n, o)| json!({"type": o["type"], "id": o["id"], "meta": {"title": o["attributes"]["title"]}, "overwrite": n > 0}))
        .collect();
    let answer = json!({"success": true, "successCount": results.len(), "successResults": results});
    let server = tokio::spawn(answer_once(listener, "200 OK", answer));
    let env = vec![
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
        ("TRAILSHIP__OPENSEARCH__INDEX_PREFIX".to_owned(), "trail-prod".to_owned()),
        ("TRAILSHIP__DASHBOARDS__URL".to_owned(), url.clone()),
        ("TRAILSHIP__DASHBOARDS__USERNAME".to_owned(), "analyst".to_owned()),
        ("TRAILSHIP__DASHBOARDS__PASSWORD".to_owned(), "s3cret-dashboards-pw".to_owned()),
    ];
    let run = trailship(&["setup"], &env).await;
    let got = server.await.unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);

    let head = got.head.to_ascii_lowercase();
    assert!(head.starts_with("post /api/saved_objects/_import?overwrite=true http/1.1\r\n"), "{}", got.head);
    assert!(head.contains("\r\nosd-xsrf: true\r\n"), "{}", got.head);
    assert!(
        head.contains("\r\nauthorization: basic yw5hbhlzddpzm2nyzxqtzgfzagjvyxjkcy1wdw==\r\n"),
        "analyst:s3cret-dashboards-pw, {}",
        got.head
    );
    assert!(head.contains("content-type: multipart/form-data; boundary="), "{}", got.head);
    assert!(
        got.body.contains("Content-Disposition: form-data; name=\"file\"; filename=\"trailship.ndjson\""),
        "{}",
        &got.body[..300]
    );
    let sent: Vec<Value> =
        got.body.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(sent.len(), objects.len());
    assert_eq!(sent[0]["attributes"]["title"], "trail-prod-*", "index pattern rendered for the prefix");
    assert_eq!(sent[1..], objects[1..]);

    let reported: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("dashboards ")).collect();
    assert_eq!(reported.len(), objects.len(), "{}", run.stdout);
    assert_eq!(reported[0], r#"dashboards index-pattern trailship-events "cloudtrail-*": imported"#);
    assert!(reported.contains(&r#"dashboards dashboard trailship-security "CloudTrail security": updated"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_fails_when_dashboards_refuses_objects_or_credentials() {
    let osmem = Osmem::start().await;
    let env_for = |url: &str| {
        vec![
            ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
            ("TRAILSHIP__DASHBOARDS__URL".to_owned(), url.to_owned()),
        ]
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = json!({"success": false, "successCount": 0, "errors": [{"id": "trailship-overview", "type": "dashboard",
        "meta": {"title": "CloudTrail overview"}, "error": {"type": "missing_references",
        "references": [{"type": "visualization", "id": "gone"}]}}]});
    let server = tokio::spawn(answer_once(listener, "200 OK", answer));
    let run = trailship(&["setup"], &env_for(&url)).await;
    server.await.unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains(
        r#"dashboards dashboard trailship-overview "CloudTrail overview": failed (missing_references: visualization gone)"#
    ));
    assert!(run.stderr.contains(&format!("1 of 1 saved objects were not imported into {url}")), "{}", run.stderr);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = json!({"statusCode": 401, "error": "Unauthorized", "message": "Authentication required"});
    let server = tokio::spawn(answer_once(listener, "401 Unauthorized", answer));
    let run = trailship(&["setup"], &env_for(&url)).await;
    server.await.unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("refused the import: http 401: Authentication required"), "{}", run.stderr);
}
