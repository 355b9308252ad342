//! Filter loading (what a filter file may hold) and dropping (which rule takes an event, the
//! counts), on the shipped examples and small rules.

use super::*;
use serde_json::{Value, json};

fn rule(id: &str, title: &str, detection: &str) -> String {
    format!(
        "title: {title}\nid: {id}\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}\nlevel: informational\n"
    )
}

fn load(files: &[(&str, String)]) -> Result<Filter, LoadError> {
    Filter::from_sources(files.iter().map(|(n, t)| (n.to_string(), t.clone(), false)).collect())
}

fn dropping(filter: &Filter, record: Value) -> Option<String> {
    let text = record.to_string();
    let ev = RawEvent::parse(text.as_bytes()).unwrap();
    filter.dropping(&ev).map(|i| filter.rule(i).id.clone())
}

fn shipped() -> Filter {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("filters");
    Filter::load(&[dir]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_first_rule_in_load_order_takes_an_event() {
    let a = rule("a", "reads", "  sel:\n    eventName|startswith: Get\n  condition: sel");
    let b = rule("b", "objects", "  sel:\n    eventName: GetObject\n  condition: sel");
    let f = load(&[("a.yml", a.clone()), ("b.yml", b.clone())]).unwrap();
    assert_eq!(dropping(&f, json!({"eventName": "GetObject"})).as_deref(), Some("a"));
    assert_eq!(dropping(&f, json!({"eventName": "PutObject"})), None);
    let f = load(&[("b.yml", b), ("a.yml", a)]).unwrap();
    assert_eq!(dropping(&f, json!({"eventName": "GetObject"})).as_deref(), Some("b"));
    assert_eq!(dropping(&f, json!({"eventName": "GetBucketAcl"})).as_deref(), Some("a"));
}

#[test]
fn counts_add_up_per_rule_and_the_summary_ranks_them() {
    let f = load(&[
        ("a.yml", rule("a", "reads", "  sel:\n    eventName: GetObject\n  condition: sel")),
        ("b.yml", rule("b", "lists", "  sel:\n    eventName: ListObjects\n  condition: sel")),
        ("c.yml", rule("c", "never", "  sel:\n    eventName: Nothing\n  condition: sel")),
    ])
    .unwrap();
    assert_eq!(f.summary(), "; 0 dropped by filters");
    f.add(&[2, 5, 0]);
    f.add(&[1, 0, 0]);
    let totals: Vec<(String, u64)> = f.totals().into_iter().map(|(m, n)| (m.id.clone(), n)).collect();
    assert_eq!(totals, [("a".into(), 3), ("b".into(), 5), ("c".into(), 0)]);
    assert_eq!(f.summary(), "; 8 dropped by filters (lists 5, reads 3)");
    assert_eq!(Filter::default().summary(), "", "no filter, nothing said");
}

#[test]
fn a_filter_file_holds_cloudtrail_detection_rules_only() {
    let err = |text: String| load(&[("f.yml", text)]).map(|_| ()).unwrap_err().to_string();
    let other = "title: t\nid: x\nlogsource:\n  product: windows\ndetection:\n  sel:\n    a: b\n  condition: sel\n";
    assert_eq!(
        err(other.into()),
        "f.yml is not a valid sigma rule: rule \"t\" is not for cloudtrail records (logsource product: aws, service: cloudtrail)"
    );
    let correlation = format!(
        "{}---\ntitle: burst\ncorrelation:\n  type: event_count\n  rules:\n    - a\n  group-by:\n    - sourceIPAddress\n  timespan: 5m\n  condition:\n    gte: 3\n",
        rule("a", "reads", "  sel:\n    eventName: GetObject\n  condition: sel")
    );
    assert!(err(correlation).contains("correlation rule \"burst\": a filter drops single events"));
    assert_eq!(err("just: yaml\n".into()), "f.yml is not a valid sigma rule: Missing required field 'title'");
    assert!(err("title: [unclosed\n".into()).starts_with("f.yml is not a valid sigma rule: "));
    let bad_regex = rule("r", "bad", "  sel:\n    eventName|re: '('\n  condition: sel");
    assert!(err(bad_regex).starts_with("f.yml is not a valid sigma rule: rule \"bad\": "));
    let missing = Filter::load(&["/nonexistent/filters".into()]).unwrap_err().to_string();
    assert!(missing.starts_with("cannot read sigma rules at /nonexistent/filters: "), "{missing}");
}

#[test]
fn the_shipped_examples_drop_reads_and_keep_writes_failures_and_people() {
    let f = shipped();
    assert_eq!(f.rule_count(), 2);
    let s3 = |name: &str, category: &str| {
        json!({"eventSource": "s3.amazonaws.com", "eventName": name, "eventCategory": category, "readOnly": true,
               "userIdentity": {"type": "AssumedRole"}})
    };
    let reads = dropping(&f, s3("GetObject", "Data"));
    assert_eq!(reads.as_deref(), Some("7b1c0d55-4f0e-4a1e-9a57-3f6f0e3c1a01"));
    assert_eq!(dropping(&f, s3("PutObject", "Data")), None, "a write is kept");
    let describe = json!({"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "readOnly": true,
                          "eventCategory": "Management", "userIdentity": {"type": "AssumedRole"}});
    assert_eq!(dropping(&f, describe.clone()).as_deref(), Some("2a9d4f7e-61c3-4b8e-8d0f-5c2b7e9a4d02"));
    let mut denied = describe.clone();
    denied["errorCode"] = json!("Client.UnauthorizedOperation");
    assert_eq!(dropping(&f, denied), None, "a failed read is kept");
    let mut by_user = describe.clone();
    by_user["userIdentity"]["type"] = json!("IAMUser");
    assert_eq!(dropping(&f, by_user), None, "a read by a person is kept");
    let mut writes = describe;
    writes["readOnly"] = json!(false);
    writes["eventName"] = json!("GetObjectWritingNothing");
    assert_eq!(dropping(&f, writes), None, "readOnly false is kept");
}
