//! The field model against osmem: every real event plus generated hard cases index with no
//! dead letter, GeoIP comes from mmdb files, and the questions CloudTrail users ask are answered
//! by OpenSearch queries over the indexed events.

use crate::fixtures::{LogFile, event, iam_user};
use crate::harness::{Osmem, osmem_with_samples};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("bottom"), |inner, i| json!({ format!("level{i}"): inner }))
}

/// The policy document of the 200 KB `PutRolePolicy`; its last statement is the needle a
/// free-text search must find although it lies past the indexed cut.
fn big_policy() -> String {
    let mut statements = vec![r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#; 3500];
    statements.push(r#"{"Effect":"Allow","Action":"trailshipneedle:Find","Resource":"*"}"#);
    format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","))
}

/// Cases the public events lack: failed console logins from public (IPv4 and IPv6)
/// addresses, a terminated instance, port 22 opened the EC2 way, and the shapes that break
/// other shippers.
fn hard_cases() -> Vec<Value> {
    let t = "2024-08-03T10:00:00Z";
    let ec2 = "ec2.amazonaws.com";
    let role = json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:bob",
        "arn": "arn:aws:sts::111122223333:assumed-role/Operators/bob", "accountId": "111122223333",
        "accessKeyId": "ASIAHARDCASE0000001",
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "Operators",
            "arn": "arn:aws:iam::111122223333:role/Operators"},
            "attributes": {"creationDate": "2024-08-03T09:00:00Z", "mfaAuthenticated": "true"}}});
    let failed_login = |id: &str, ip: &str, identity: Value| {
        event(
            id,
            t,
            "ConsoleLogin",
            "signin.amazonaws.com",
            ip,
            identity,
            json!({
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "errorMessage": "Failed authentication", "responseElements": {"ConsoleLogin": "Failure"},
            "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/", "MobileVersion": "No", "MFAUsed": "No"}}),
        )
    };
    vec![
        failed_login("hard-login-v6", "2a00:1450:4001:82a::200e", iam_user("alice", "")),
        failed_login(
            "hard-login-root",
            "81.2.69.160",
            json!({"type": "Root", "principalId": "111122223333",
            "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}),
        ),
        event(
            "hard-terminate",
            t,
            "TerminateInstances",
            ec2,
            "18.236.253.47",
            role.clone(),
            json!({
            "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-0hardcase"}]}},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0hardcase",
                "currentState": {"code": 32, "name": "shutting-down"}}]}}}),
        ),
        event(
            "hard-sg-22",
            t,
            "AuthorizeSecurityGroupIngress",
            ec2,
            "18.236.253.47",
            role.clone(),
            json!({
            "requestParameters": {"groupId": "sg-0hardcase", "ipPermissions": {"items": [{"ipProtocol": "tcp",
                "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}}),
        ),
        event(
            "hard-big-policy",
            "2024-08-03T11:00:00Z",
            "PutRolePolicy",
            "iam.amazonaws.com",
            "1.2.3.4",
            iam_user("christophe", "AKIAHARDCASE0000002"),
            json!({"requestParameters": {"roleName": "Operators", "policyName": "huge", "policyDocument": big_policy()}}),
        ),
        event(
            "hard-string-params",
            t,
            "PutObject",
            "s3.amazonaws.com",
            "1.2.3.4",
            role.clone(),
            json!({"requestParameters": "a plain string where an object usually is"}),
        ),
        event(
            "hard-object-params",
            t,
            "PutObject",
            "s3.amazonaws.com",
            "1.2.3.4",
            role.clone(),
            json!({"requestParameters": {"filter": {"key": "value"}, "bucketName": "hard-case-bucket"}}),
        ),
        event(
            "hard-string-filter",
            t,
            "PutObject",
            "s3.amazonaws.com",
            "1.2.3.4",
            role.clone(),
            json!({"requestParameters": {"filter": "now a string"}, "responseElements": "ok", "additionalEventData": [1, 2]}),
        ),
        event(
            "hard-deep",
            t,
            "PutBucketTagging",
            "s3.amazonaws.com",
            "1.2.3.4",
            role.clone(),
            json!({"requestParameters": nested(60)}),
        ),
        event(
            "hard-unicode",
            t,
            "CreateTags",
            ec2,
            "035.249.253.232",
            role.clone(),
            json!({
            "requestParameters": {"ключ": "значение", "名前": "値", "emoji😀": "✓", "a.b": {"c": "dotted key"}}}),
        ),
        event(
            "hard-no-identity",
            t,
            "Decrypt",
            "kms.amazonaws.com",
            "AWS Internal",
            Value::Null,
            json!({"eventType": "AwsServiceEvent", "readOnly": true}),
        ),
        event(
            "hard-misfits",
            t,
            "DescribeThings",
            ec2,
            "lambda.amazonaws.com",
            role.clone(),
            json!({
            "readOnly": "sometimes", "tlsDetails": "TLSv1.3", "errorCode": "AccessDenied",
            "errorMessage": "x".repeat(40_000), "resources": [{"ARN": "arn:aws:ec2:::i-1", "type": "AWS::EC2::Instance"}]}),
        ),
    ]
}

/// Indexes every bundled sample event and the hard cases into a fresh osmem with GeoIP on.
async fn indexed() -> (Osmem, Vec<Value>, tempfile::TempDir) {
    osmem_with_samples(LogFile { key: "hard.json.gz".into(), events: hard_cases() }, &[]).await
}

async fn search(osmem: &Osmem, query: Value) -> Vec<Value> {
    let body = osmem.post("/cloudtrail-*/_search", &json!({"size": 1000, "query": query})).await;
    body["hits"]["hits"].as_array().cloned().unwrap_or_else(|| panic!("search failed: {body}"))
}

fn ids(hits: &[Value]) -> BTreeSet<String> {
    hits.iter().map(|h| h["_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_and_every_hard_case_is_indexed_and_enriched() {
    let (osmem, events, _dir) = indexed().await;
    assert_eq!(osmem.count("cloudtrail-*").await, events.len() as u64);
    assert_eq!(osmem.count("trailship-deadletter").await, 0);

    // Mapped fields stay far below the 1,000 limit whatever the input.
    let mapping = osmem.get("/cloudtrail-2024.08.03/_mapping").await.1;
    let fields = mapping.to_string().matches("\"type\":").count();
    assert!(fields < 300, "{fields} mapped fields");

    let doc = |id: &str| {
        let id = id.to_owned();
        let osmem = &osmem;
        async move { search(osmem, json!({"ids": {"values": [id]}})).await.remove(0)["_source"].clone() }
    };
    let v6 = doc("hard-login-v6").await;
    assert_eq!(v6["source"]["ip"], "2a00:1450:4001:82a::200e");
    assert_eq!(v6["source"]["geo"]["country_iso_code"], "DE");
    assert_eq!(v6["source"]["geo"]["city_name"], "Frankfurt am Main");
    assert_eq!(v6["source"]["geo"]["location"], json!({"lat": 50.11, "lon": 8.68}));
    assert_eq!(v6["source"]["as"], json!({"number": 3320, "organization": {"name": "Deutsche Telekom AG"}}));
    assert_eq!(v6["user_agent"]["name"], "Firefox");
    assert_eq!(v6["tags"], json!(["console_login", "console_login_failure"]));

    let zeros = doc("hard-unicode").await;
    assert_eq!(zeros["source"]["ip"], "35.249.253.232", "leading zeros normalised");
    assert_eq!(zeros["source"]["geo"]["region_name"], "Iowa");
    assert_eq!(zeros["requestParameters"]["名前"], "値");

    let big = doc("hard-big-policy").await;
    assert_eq!(big["trailship"]["truncated"], json!(["requestParameters.policyDocument"]));
    assert_eq!(big["trailship"]["original"][0]["value"], big_policy(), "the long value stays in _source");
    assert!(big.get("search_text").is_none(), "search_text is indexed, not stored");

    assert_eq!(
        doc("hard-string-params").await["requestParameters"],
        json!({"value": "a plain string where an object usually is"})
    );
    let misfits = doc("hard-misfits").await;
    assert_eq!(misfits["trailship"]["unmapped"], json!({"readOnly": "sometimes", "tlsDetails": "TLSv1.3"}));
    assert_eq!(misfits["errorMessage"].as_str().unwrap().len(), 40_000);
    assert!(misfits["source"].get("ip").is_none());
    let internal = doc("hard-no-identity").await;
    assert_eq!(internal["source"], json!({"address": "AWS Internal"}));
    assert!(internal.get("user").is_none());
    assert_eq!(
        doc("hard-terminate").await["user"],
        json!({"type": "AssumedRole", "name": "Operators/bob", "principal": "arn:aws:sts::111122223333:assumed-role/Operators"})
    );
    // Private and reserved addresses get no geo (most public-dataset addresses are reserved).
    let reserved = search(&osmem, json!({"term": {"sourceIPAddress": "251.228.255.218"}})).await;
    assert!(!reserved.is_empty() && reserved.iter().all(|h| h["_source"]["source"].get("geo").is_none()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_questions_cloudtrail_users_ask() {
    let (osmem, events, _dir) = indexed().await;
    let named = |hits: &[Value]| -> BTreeSet<(String, String)> {
        hits.iter()
            .map(|h| {
                (
                    h["_source"]["eventName"].as_str().unwrap().to_owned(),
                    h["_source"]["user"]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    // Who stopped or terminated an instance?
    let hits = search(&osmem, json!({"terms": {"eventName": ["StopInstances", "TerminateInstances"]}})).await;
    assert_eq!(
        named(&hits),
        BTreeSet::from([
            ("StopInstances".into(), "christophe".into()),
            ("TerminateInstances".into(), "Operators/bob".into())
        ])
    );

    // Who changed a security group to open port 22 (both request shapes EC2 logs)?
    let q = "eventName:AuthorizeSecurityGroupIngress AND (requestParameters.fromPort:22 OR requestParameters.ipPermissions.items.fromPort:22)";
    let hits = search(&osmem, json!({"query_string": {"query": q}})).await;
    assert_eq!(
        ids(&hits),
        BTreeSet::from([
            "hard-sg-22".to_owned(),
            events
                .iter()
                .find(|e| e["eventName"] == "AuthorizeSecurityGroupIngress"
                    && !e["eventID"].as_str().unwrap().starts_with("hard"))
                .unwrap()["eventID"]
                .as_str()
                .unwrap()
                .to_owned()
        ])
    );
    assert!(hits.iter().all(|h| h["_source"]["tags"].as_array().unwrap().contains(&json!("security_group_change"))));

    // Every failed console login, with its country.
    let hits = search(
        &osmem,
        json!({"bool": {"filter": [{"term": {"eventName": "ConsoleLogin"}}, {"term": {"event.outcome": "failure"}}]}}),
    )
    .await;
    let logins: BTreeSet<(String, String)> = hits
        .iter()
        .map(|h| {
            (
                h["_source"]["user"]["name"].as_str().unwrap().to_owned(),
                h["_source"]["source"]["geo"]["country_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(logins, BTreeSet::from([("alice".into(), "Germany".into()), ("root".into(), "United Kingdom".into())]));
    let by_tag = search(&osmem, json!({"term": {"tags": "console_login_failure"}})).await;
    assert_eq!(ids(&by_tag), ids(&hits));

    // Everything one access key did.
    let key = "AKIAW9X2Q2U25SK79UCX";
    let hits = search(&osmem, json!({"term": {"userIdentity.accessKeyId": key}})).await;
    let expected: BTreeSet<String> = events
        .iter()
        .filter(|e| e["userIdentity"]["accessKeyId"] == key)
        .map(|e| e["eventID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 56);
    assert_eq!(ids(&hits), expected);

    // All IAM policy changes in a time range.
    let q = json!({"bool": {"filter": [{"term": {"tags": "iam_policy_change"}},
        {"range": {"@timestamp": {"gte": "2024-08-01T00:00:00Z", "lt": "2024-08-04T00:00:00Z"}}}]}});
    let hits = search(&osmem, q).await;
    let names: BTreeSet<&str> = hits.iter().map(|h| h["_source"]["eventName"].as_str().unwrap()).collect();
    assert!(names.contains("AttachRolePolicy") && names.contains("PutRolePolicy"), "{names:?}");
    assert!(hits.iter().all(|h| h["_source"]["eventSource"] == "iam.amazonaws.com"));
    let narrower = json!({"bool": {"filter": [{"term": {"tags": "iam_policy_change"}},
        {"range": {"@timestamp": {"gte": "2024-08-03T00:00:00Z"}}}]}});
    assert_eq!(ids(&search(&osmem, narrower).await), BTreeSet::from(["hard-big-policy".to_owned()]));

    // Free text, no field name: a bucket name, and a policy fragment past the indexed cut.
    let hits = search(&osmem, json!({"query_string": {"query": "\"mordors3stack-s3bucket-llp2yingx64a\""}})).await;
    assert_eq!(hits.len(), 9);
    let hits = search(&osmem, json!({"query_string": {"query": "\"trailshipneedle:Find\""}})).await;
    assert_eq!(ids(&hits), BTreeSet::from(["hard-big-policy".to_owned()]));
    // And by field, inside the flat_object.
    let hits =
        search(&osmem, json!({"query_string": {"query": "requestParameters.bucketName:hard-case-bucket"}})).await;
    assert_eq!(ids(&hits), BTreeSet::from(["hard-object-params".to_owned()]));
}
