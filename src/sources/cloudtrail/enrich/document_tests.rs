//! Unit tests of the document layout.

use crate::decode::{RawEvent, split};
use crate::sources::cloudtrail::enrich::Enricher;
use crate::sources::cloudtrail::enrich::flat::{MAX_TERM_BYTES, leaf_budget};
use serde_json::{Value, json};

fn doc(record: &Value) -> Value {
    let out = written(&record.to_string());
    serde_json::from_slice(&out).unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&out)))
}

/// The document of `text`, written from its fields alone and, as framing reads records, with
/// the list of its members at every depth (the fast paths: raw key-and-value copies, shape
/// checks on the list): byte for byte the same.
fn written(text: &str) -> Vec<u8> {
    let e = Enricher::new();
    let write = |ev: &RawEvent<'_>| {
        let mut out = Vec::new();
        e.write_document(ev, &e.target(ev).unwrap(), &[], &mut out);
        out
    };
    let plain = write(&RawEvent::parse(text.as_bytes()).unwrap());
    let (mut members, mut stack) = (Vec::new(), split::Nesting::default());
    let split::Split::Complete { nested, .. } = split::object(text.as_bytes(), &mut members, &mut stack) else {
        panic!("not one object: {text}")
    };
    let listed = RawEvent::from_listed(text, split::Listed { members: &members, nested }).unwrap();
    assert_eq!(listed.tape.is_some(), nested);
    let on_list = write(&listed);
    assert_eq!(String::from_utf8_lossy(&on_list), String::from_utf8_lossy(&plain), "read from the member list");
    plain
}

fn base() -> Value {
    json!({"eventVersion": "1.09", "eventID": "e1", "eventTime": "2024-08-01T13:33:28Z"})
}

fn with(fields: Value) -> Value {
    let mut r = base();
    r.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    r
}

#[test]
fn an_assumed_role_call_is_enriched() {
    let d = doc(&with(json!({
        "eventSource": "ec2.amazonaws.com", "eventName": "TerminateInstances", "awsRegion": "eu-west-1",
        "recipientAccountId": "123456789012", "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.13.25 Python/3.11.6 Linux/6.2.0 exe/x86_64.ubuntu.22",
        "errorCode": "Client.UnauthorizedOperation",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/Ops/alice",
            "sessionContext": {"sessionIssuer": {"userName": "Ops"}}},
        "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-0abc"}]}}
    })));
    assert_eq!(d["cloud"], json!({"account": {"id": "123456789012"}, "region": "eu-west-1"}));
    assert_eq!(d["source"], json!({"address": "203.0.113.7", "ip": "203.0.113.7"}));
    assert_eq!(d["user_agent"]["name"], "aws-cli");
    assert_eq!(d["user_agent"]["version"], "2.13.25");
    assert_eq!(d["user_agent"]["original"], "aws-cli/2.13.25 Python/3.11.6 Linux/6.2.0 exe/x86_64.ubuntu.22");
    assert_eq!(
        d["user"],
        json!({"type": "AssumedRole", "name": "Ops/alice", "principal": "arn:aws:sts::123456789012:assumed-role/Ops"})
    );
    assert_eq!(d["event"], json!({"outcome": "failure"}));
    assert_eq!(d["tags"], json!(["unauthorized_call"]));
    assert_eq!(d["search_text"], "i-0abc");
    assert_eq!(d["requestParameters"]["instancesSet"]["items"][0]["instanceId"], "i-0abc");
    assert!(d.get("trailship").is_none());
}

#[test]
fn service_names_and_odd_addresses_never_become_ips() {
    let d = doc(&with(json!({"sourceIPAddress": "AWS Internal"})));
    assert_eq!(d["source"], json!({"address": "AWS Internal"}));
    let d = doc(&with(json!({"sourceIPAddress": "035.249.253.232"})));
    assert_eq!(d["source"], json!({"address": "035.249.253.232", "ip": "35.249.253.232"}));
    let d = doc(&with(json!({"sourceIPAddress": "2a00:1450:4001:82a::200e"})));
    assert_eq!(d["source"]["ip"], "2a00:1450:4001:82a::200e");
    let d = doc(&with(json!({"sourceIPAddress": 17})));
    assert!(d.get("source").is_none());
}

#[test]
fn missing_user_identity_is_fine() {
    let d = doc(&with(json!({"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Failure"}})));
    assert!(d.get("user").is_none());
    assert_eq!(d["event"]["outcome"], "failure");
    assert_eq!(d["tags"], json!(["console_login", "console_login_failure"]));
}

#[test]
fn misfits_and_reserved_names_move_to_unmapped() {
    let d = doc(&with(json!({
        "userIdentity": "AWS Internal", "readOnly": "sometimes", "tags": ["mine"], "source": "x",
        "@timestamp": "2000-01-01T00:00:00Z", "requestParameters": "plain string", "": 1, "a..b": 2
    })));
    assert_eq!(d["@timestamp"], "2024-08-01T13:33:28Z");
    assert_eq!(
        d["trailship"]["unmapped"],
        json!({"userIdentity": "AWS Internal", "readOnly": "sometimes", "tags": ["mine"], "source": "x",
            "@timestamp": "2000-01-01T00:00:00Z", "": 1, "a..b": 2})
    );
    for gone in ["userIdentity", "readOnly"] {
        assert!(d.get(gone).is_none(), "{gone}");
    }
    assert!(d.get("tags").is_none(), "the record's own tags are not ours");
    assert_eq!(d["requestParameters"], json!({"value": "plain string"}));
}

#[test]
fn a_200_kb_parameter_is_indexed_cut_and_kept_whole() {
    let policy =
        format!("{{\"Statement\":[{}]}}", vec!["{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\"}"; 5000].join(","));
    assert!(policy.len() > 200_000);
    let d = doc(&with(json!({"requestParameters": {"policyName": "big", "policyDocument": policy}})));
    let cut = d["requestParameters"]["policyDocument"].as_str().unwrap();
    assert!(cut.len() <= leaf_budget("requestParameters.policyDocument".len()) && cut.len() < MAX_TERM_BYTES);
    assert!(policy.starts_with(cut));
    assert_eq!(d["trailship"]["truncated"], json!(["requestParameters.policyDocument"]));
    assert_eq!(d["trailship"]["original"], json!([{"field": "requestParameters.policyDocument", "value": policy}]));
    let text = d["search_text"].as_str().unwrap();
    assert!(text == format!("{policy}\nbig"), "free text keeps the whole value: {} {:?}", text.len(), &text[..100]);
}

#[test]
fn every_flat_field_is_walked() {
    let d = doc(&with(json!({
        "requestParameters": {"bucketName": "b1"}, "responseElements": ["r1"], "additionalEventData": {"x": 7},
        "serviceEventDetails": {"y": "s1"}, "insightDetails": {"z": "i1"}, "edgeDeviceDetails": {"e": "d1"}
    })));
    assert_eq!(d["responseElements"], json!({"value": ["r1"]}));
    // serde_json's map sorts keys, so the record's field order is alphabetical here.
    assert_eq!(d["search_text"], "7\nd1\ni1\nb1\nr1\ns1");
}

#[test]
fn matched_rules_are_listed_with_the_highest_level() {
    use crate::detect::{Level, Match};
    let text = base().to_string();
    let ev = RawEvent::parse(text.as_bytes()).unwrap();
    let e = Enricher::new();
    let t = e.target(&ev).unwrap();
    let m = |id: &str, title: &str, level| Match::new(id, title, level, Vec::new());
    let mut out = Vec::new();
    e.write_document(&ev, &t, &[m("a-1", "Trail stopped", Level::High), m("b-2", "CIS 4.5", Level::Medium)], &mut out);
    let d: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(d["rule"], json!({"id": ["a-1", "b-2"], "name": ["Trail stopped", "CIS 4.5"], "level": "high"}));
    assert!(doc(&base()).get("rule").is_none(), "absent when nothing matched");
    // A record field named `rule` is kept aside, not merged with the detections.
    let d = doc(&with(json!({"rule": "mine"})));
    assert_eq!(d["trailship"]["unmapped"]["rule"], "mine");
    assert!(d.get("rule").is_none());
}

#[test]
fn a_named_account_is_named_on_the_event_and_its_alerts() {
    let record =
        with(json!({"recipientAccountId": "123456789012", "awsRegion": "eu-west-1", "eventName": "DeleteTrail"}));
    let text = record.to_string();
    let ev = RawEvent::parse(text.as_bytes()).unwrap();
    let names = crate::accounts::Accounts::new([("123456789012".to_owned(), "prod \"payments\"".to_owned())].into());
    let e = Enricher::new().with_accounts(names);
    let t = e.target(&ev).unwrap();
    let rule = crate::detect::Match::new("r", "Trail deleted", crate::detect::Level::High, Vec::new());
    let mut out = Vec::new();
    let subject = e.write_document(&ev, &t, std::slice::from_ref(&rule), &mut out).unwrap();
    let d: Value = serde_json::from_slice(&out).unwrap();
    let want = json!({"account": {"id": "123456789012", "name": "prod \"payments\""}, "region": "eu-west-1"});
    assert_eq!(d["cloud"], want);
    let mut alert = Vec::new();
    subject.alerts("cloudtrail", "2024.08.01").write(&rule, &mut alert);
    assert_eq!(serde_json::from_slice::<Value>(&alert).unwrap()["cloud"], want);
    assert_eq!(doc(&record)["cloud"]["account"], json!({"id": "123456789012"}), "no names, no name");
}

#[test]
fn a_record_field_named_like_an_alias_root_goes_aside_not_into_the_alias() {
    let d = doc(&with(json!({"eventName": "X", "actor": {"user": {"type": "odd"}}, "time": 3, "api": "v"})));
    for alias in ["actor", "time", "api"] {
        assert!(d.get(alias).is_none(), "{alias}: {d}");
    }
    assert!(d["trailship"]["unmapped"].to_string().contains("actor"), "kept aside: {d}");
    assert_eq!(d["eventName"], "X");
}

#[test]
fn spaces_between_a_key_and_its_value_are_not_copied() {
    let spaced = r#"{"eventVersion" : "1.09", "eventID": "e1", "eventTime" :"2024-08-01T13:33:28Z", "x": {"a" : 1}}"#;
    let out = String::from_utf8(written(spaced)).unwrap();
    assert!(
        out.contains(r#","eventVersion":"1.09","eventID":"e1","eventTime":"2024-08-01T13:33:28Z","x":{"a" : 1}"#),
        "{out}"
    );
}
