//! The Sigma semantics a detection engineer relies on, one test per modifier and condition
//! form, evaluated the way ingest evaluates them: the rule loaded by [`rules`], the record a
//! borrowed [`RawEvent`].

use super::*;
use serde_json::{Value, json};

/// Whether a rule with `detection` (YAML, indented under `detection:`) matches `record`.
fn hit(detection: &str, record: Value) -> bool {
    let yaml = format!(
        "title: t\nid: 5f0f2a6e-0000-4000-8000-000000000001\nlogsource:\n  product: aws\n  service: cloudtrail\n\
         detection:\n{detection}\nlevel: high\n"
    );
    let loaded = rules::load_sources(vec![("test.yml".into(), yaml, false)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.rules, 1);
    let text = record.to_string();
    let ev = RawEvent::parse(text.as_bytes()).unwrap();
    !loaded.detector.matches(&ev).is_empty()
}

fn ct(fields: Value) -> Value {
    let mut r = json!({"eventVersion": "1.09", "eventID": "e1", "eventTime": "2024-08-01T00:00:00Z",
        "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "readOnly": false});
    r.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    r
}

#[test]
fn strings_compare_case_insensitively_with_wildcards() {
    let d = "  sel:\n    eventName: 'createuser'\n  condition: sel";
    assert!(hit(d, ct(json!({}))));
    assert!(hit("  sel:\n    eventName: 'Create*'\n  condition: sel", ct(json!({}))));
    assert!(hit("  sel:\n    eventName: 'Create?ser'\n  condition: sel", ct(json!({}))));
    assert!(!hit("  sel:\n    eventName: 'Create?'\n  condition: sel", ct(json!({}))));
    assert!(!hit("  sel:\n    eventName: 'DeleteUser'\n  condition: sel", ct(json!({}))));
}

#[test]
fn a_list_is_or_a_map_is_and_a_list_of_maps_is_or() {
    let list = "  sel:\n    eventName:\n      - DeleteUser\n      - CreateUser\n  condition: sel";
    assert!(hit(list, ct(json!({}))));
    let map = "  sel:\n    eventName: CreateUser\n    eventSource: iam.amazonaws.com\n  condition: sel";
    assert!(hit(map, ct(json!({}))));
    assert!(!hit(map, ct(json!({"eventSource": "s3.amazonaws.com"}))));
    let maps = "  sel:\n    - eventName: DeleteUser\n    - eventSource: iam.amazonaws.com\n  condition: sel";
    assert!(hit(maps, ct(json!({}))));
    assert!(!hit(maps, ct(json!({"eventSource": "s3.amazonaws.com"}))));
}

#[test]
fn null_means_absent_or_null() {
    let d = "  sel:\n    errorCode: null\n  condition: sel";
    assert!(hit(d, ct(json!({}))));
    assert!(hit(d, ct(json!({"errorCode": null}))));
    assert!(!hit(d, ct(json!({"errorCode": "AccessDenied"}))));
}

#[test]
fn contains_startswith_endswith_and_all() {
    let e = ct(json!({"userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0"}));
    assert!(hit("  sel:\n    userAgent|contains: 'PYTHON/'\n  condition: sel", e.clone()));
    assert!(hit("  sel:\n    userAgent|startswith: 'AWS-CLI'\n  condition: sel", e.clone()));
    assert!(hit("  sel:\n    userAgent|endswith: 'linux/6.5.0'\n  condition: sel", e.clone()));
    assert!(!hit("  sel:\n    userAgent|endswith: 'aws-cli'\n  condition: sel", e.clone()));
    let all = "  sel:\n    userAgent|contains|all:\n      - aws-cli\n      - Linux\n  condition: sel";
    assert!(hit(all, e.clone()));
    let all_missing = "  sel:\n    userAgent|contains|all:\n      - aws-cli\n      - Windows\n  condition: sel";
    assert!(!hit(all_missing, e.clone()));
    let any = "  sel:\n    userAgent|contains:\n      - Windows\n      - Linux\n  condition: sel";
    assert!(hit(any, e));
}

#[test]
fn re_exists_cidr_and_fieldref() {
    let e = ct(json!({"sourceIPAddress": "10.1.2.3", "requestParameters": {"userName": "bob"},
        "userIdentity": {"type": "IAMUser", "userName": "alice"}}));
    assert!(hit("  sel:\n    eventName|re: '^Create(User|Role)$'\n  condition: sel", e.clone()));
    assert!(!hit("  sel:\n    eventName|re: '^Delete'\n  condition: sel", e.clone()));
    assert!(hit("  sel:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: sel", e.clone()));
    assert!(!hit("  sel:\n    sourceIPAddress|cidr: 192.168.0.0/16\n  condition: sel", e.clone()));
    assert!(!hit("  sel:\n    errorCode|exists: true\n  condition: sel", e.clone()));
    assert!(hit("  sel:\n    errorCode|exists: false\n  condition: sel", e.clone()));
    assert!(hit("  sel:\n    requestParameters.userName|exists: true\n  condition: sel", e.clone()));
    // Access key created for another user: the requested user is not the caller.
    let other = "  same:\n    requestParameters.userName|fieldref: userIdentity.userName\n  condition: not same";
    assert!(hit(other, e.clone()));
    let own = ct(json!({"requestParameters": {"userName": "alice"}, "userIdentity": {"userName": "alice"}}));
    assert!(!hit(other, own));
}

#[test]
fn dotted_names_walk_objects_and_match_any_array_element_on_the_way() {
    let e = ct(json!({"eventName": "AuthorizeSecurityGroupIngress", "requestParameters": {"ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": 443, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
        {"ipProtocol": "tcp", "fromPort": 22, "ipRanges": {"items": [{"cidrIp": "192.0.2.0/24"}, {"cidrIp": "0.0.0.0/0"}]}}
    ]}}}));
    let d = "  sel:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: '0.0.0.0/0'\n  condition: sel";
    assert!(hit(d, e.clone()));
    let none = "  sel:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: '::/0'\n  condition: sel";
    assert!(!hit(none, e.clone()));
    assert!(hit("  sel:\n    requestParameters.ipPermissions.items.fromPort: 22\n  condition: sel", e));
}

#[test]
fn numbers_and_booleans_compare_by_their_text() {
    let e = ct(json!({"requestParameters": {"fromPort": 22, "force": true}}));
    assert!(hit("  sel:\n    readOnly: 'false'\n  condition: sel", e.clone()));
    assert!(hit("  sel:\n    readOnly: false\n  condition: sel", e.clone()));
    assert!(!hit("  sel:\n    readOnly: 'true'\n  condition: sel", e.clone()));
    assert!(hit("  sel:\n    requestParameters.fromPort: '22'\n  condition: sel", e.clone()));
    assert!(hit("  sel:\n    requestParameters.fromPort: 22\n  condition: sel", e.clone()));
    assert!(hit("  sel:\n    requestParameters.force: 'true'\n  condition: sel", e));
}

#[test]
fn conditions_and_or_not_parentheses() {
    let e = ct(json!({}));
    let d = |cond: &str| {
        format!(
            "  a:\n    eventName: CreateUser\n  b:\n    eventSource: s3.amazonaws.com\n  c:\n    readOnly: false\n  condition: {cond}"
        )
    };
    assert!(hit(&d("a and c"), e.clone()));
    assert!(!hit(&d("a and b"), e.clone()));
    assert!(hit(&d("a or b"), e.clone()));
    assert!(hit(&d("a and not b"), e.clone()));
    assert!(!hit(&d("not a"), e.clone()));
    assert!(hit(&d("(b or c) and a"), e.clone()));
    assert!(!hit(&d("b or (c and not a)"), e));
}

#[test]
fn one_of_all_of_and_them() {
    let e = ct(json!({}));
    let d = |cond: &str| {
        format!(
            "  sel_name:\n    eventName: CreateUser\n  sel_source:\n    eventSource: s3.amazonaws.com\n  \
             filter_ro:\n    readOnly: true\n  condition: {cond}"
        )
    };
    assert!(hit(&d("1 of sel_*"), e.clone()));
    assert!(!hit(&d("all of sel_*"), e.clone()));
    assert!(hit(&d("1 of them"), e.clone()));
    assert!(!hit(&d("all of them"), e.clone()));
    assert!(hit(&d("1 of sel_* and not 1 of filter_*"), e.clone()));
    let both = ct(json!({"eventSource": "s3.amazonaws.com"}));
    assert!(hit(&d("all of sel_*"), both));
}

#[test]
fn rules_for_other_sources_are_skipped_and_bad_rules_refused() {
    let windows = "title: w\nlogsource:\n  product: windows\ndetection:\n  sel:\n    Image: x\n  condition: sel\n";
    let ok = "title: a\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName: X\n  condition: sel\n";
    let loaded =
        rules::load_sources(vec![("w.yml".into(), windows.into(), false), ("a.yml".into(), ok.into(), false)]).unwrap();
    assert_eq!((loaded.rules, loaded.skipped), (1, 1));
    for (bad, why) in [
        (
            "title: b\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName: X\n  condition: nope\n",
            "unknown detection",
        ),
        (
            "title: b\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName|re: '('\n  condition: sel\n",
            "regex",
        ),
        ("title: [unclosed\n", "yaml"),
        ("just: text\n", "not a rule"),
    ] {
        let err = rules::load_sources(vec![("bad.yml".into(), bad.into(), false)]).unwrap_err();
        assert!(matches!(&err, rules::LoadError::Invalid { path, .. } if path == "bad.yml"), "{why}: {err}");
    }
}

#[test]
fn a_rule_chooses_its_own_grouping() {
    let rule = |level: &str, attribute: &str| {
        let yaml = format!(
            "title: t\nid: r-{level}\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    \
             eventName: X\n  condition: sel\nlevel: {level}\n{attribute}"
        );
        let loaded = rules::load_sources(vec![("test.yml".into(), yaml, false)]).unwrap_or_else(|e| panic!("{e}"));
        loaded.detector.reported().next().unwrap().clone()
    };
    let defaults = [Level::Informational, Level::Low];
    assert!(rule("low", "").is_grouped(&defaults));
    assert!(!rule("high", "").is_grouped(&defaults));
    assert!(!rule("low", "trailship.group: false\n").is_grouped(&defaults), "a low rule alerting per event");
    assert!(rule("high", "trailship.group: true\n").is_grouped(&defaults), "a noisy high rule grouped");
    assert!(!rule("low", "").is_grouped(&[]), "no grouped levels");
}

/// A base rule and a correlation over it, as two documents of one file.
fn with_correlation(correlation: &str) -> Result<rules::Loaded, rules::LoadError> {
    let yaml = format!(
        "title: Failed sign-in\nid: base-1\nname: failed_signin\nlogsource:\n  product: aws\n  service: cloudtrail\n\
         detection:\n  sel:\n    eventName: ConsoleLogin\n  condition: sel\nlevel: low\n---\n{correlation}"
    );
    rules::load_sources(vec![("c.yml".into(), yaml, false)])
}

#[test]
fn correlation_rules_load_resolve_their_rules_and_silence_them_unless_generating() {
    let loaded = with_correlation(
        "title: Many failures\nid: corr-1\ncorrelation:\n  type: event_count\n  rules:\n    - failed_signin\n  \
         group-by:\n    - userIdentity.userName\n  timespan: 10m\n  condition:\n    gte: 10\nlevel: high\n",
    )
    .unwrap();
    assert_eq!((loaded.rules, loaded.correlations.len()), (2, 1));
    let c = &loaded.correlations[0];
    assert_eq!(
        (c.rules.clone(), c.timespan, c.group_by.clone()),
        (vec!["base-1".to_owned()], 600, vec!["userIdentity.userName".to_owned()])
    );
    assert_eq!((c.reported.level, c.meets(9), c.meets(10)), (Level::High, false, true));
    assert!(loaded.detector.reported().next().unwrap().silent, "the base rule makes no alert of its own");
    let generating = with_correlation(
        "title: Many failures\nid: corr-1\ngenerate: true\ncorrelation:\n  type: event_count\n  rules:\n    - base-1\n  \
         group-by:\n    - sourceIPAddress\n  timespan: 1h\n  condition:\n    gte: 10\nlevel: high\n",
    )
    .unwrap();
    assert!(!generating.detector.reported().next().unwrap().silent);
}

#[test]
fn a_correlation_that_cannot_be_evaluated_stops_loading_with_the_reason() {
    let unresolved = with_correlation(
        "title: X\ncorrelation:\n  type: event_count\n  rules:\n    - nosuch\n  timespan: 10m\n  condition:\n    gte: 2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        unresolved.contains("c.yml") && unresolved.contains("\"nosuch\", which is no loaded cloudtrail rule"),
        "{unresolved}"
    );
    let no_timespan = with_correlation(
        "title: X\ncorrelation:\n  type: event_count\n  rules:\n    - base-1\n  condition:\n    gte: 2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(no_timespan.contains("c.yml") && no_timespan.contains("Missing timeframe"), "{no_timespan}");
    let unknown = with_correlation(
        "title: X\ncorrelation:\n  type: weird_count\n  rules:\n    - base-1\n  timespan: 10m\n  condition:\n    gte: 2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(unknown.contains("c.yml"), "{unknown}");
    let sum = with_correlation(
        "title: X\ncorrelation:\n  type: value_sum\n  rules:\n    - base-1\n  timespan: 10m\n  condition:\n    gte: 2\n    field: x\n",
    )
    .unwrap_err()
    .to_string();
    assert!(sum.contains("value_sum is not evaluated"), "{sum}");
}
