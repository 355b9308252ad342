//! The program's verdict is the engine's (`evaluate_rule`): every detection below against every
//! record, ASCII and not, cased and not.

use super::*;
use crate::decode::RawEvent;
use crate::detect::event::RecordEvent;
use rsigma_eval::{compile_rule, evaluate_rule};
use serde_json::{Value, json};

fn rule(detection: &str) -> CompiledRule {
    versioned("", detection)
}

/// The rule, with `header` (`sigma-version: 3\n`, …) before its title.
fn versioned(header: &str, detection: &str) -> CompiledRule {
    let yaml = format!(
        "{header}title: t\nid: 5f0f2a6e-0000-4000-8000-000000000002\nlogsource:\n  product: aws\n  service: cloudtrail\n\
         detection:\n{detection}\nlevel: high\n"
    );
    let parsed = rsigma_parser::parse_sigma_yaml(&yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"));
    compile_rule(&parsed.rules[0]).unwrap_or_else(|e| panic!("{e}: {yaml}"))
}

const DETECTIONS: &[&str] = &[
    "  sel:\n    eventName: createuser\n  condition: sel",
    "  sel:\n    eventName:\n      - DeleteUser\n      - CreateUser\n      - 'Put*Policy'\n  condition: sel",
    "  sel:\n    eventName: 'Create?ser'\n  condition: sel",
    "  sel:\n    eventName: '*user*'\n  condition: sel",
    "  sel:\n    eventName|cased: CreateUser\n  condition: sel",
    "  sel:\n    eventName|cased|contains: User\n  condition: sel",
    "  sel:\n    userAgent|contains: 'PYTHON/'\n  condition: sel",
    "  sel:\n    userAgent|contains:\n      - Windows\n      - linux\n      - 'Ünïcode'\n      - boto3\n  condition: sel",
    "  sel:\n    userAgent|contains|all:\n      - aws-cli\n      - Linux\n  condition: sel",
    "  sel:\n    userAgent|startswith: 'AWS-CLI'\n  condition: sel",
    "  sel:\n    userAgent|startswith:\n      - 'Boto3'\n      - 'console'\n  condition: sel",
    "  sel:\n    userAgent|endswith: 'linux/6.5.0'\n  condition: sel",
    "  sel:\n    userAgent|endswith:\n      - '.amazonaws.com'\n      - 'ÉTÉ'\n  condition: sel",
    "  sel:\n    userAgent: 'kelvin'\n  condition: sel",
    "  sel:\n    userAgent|re: '(?i)^aws-cli/2'\n  condition: sel",
    "  sel:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: sel",
    "  sel:\n    errorCode|exists: true\n  condition: sel",
    "  sel:\n    errorCode|exists: false\n  condition: sel",
    "  sel:\n    errorCode: null\n  condition: sel",
    "  sel:\n    errorCode|contains: AccessDenied\n  condition: sel",
    "  sel:\n    readOnly: false\n  condition: sel",
    "  sel:\n    requestParameters.fromPort: 22\n  condition: sel",
    "  sel:\n    requestParameters.fromPort|gte: 20\n  condition: sel",
    "  sel:\n    requestParameters.items.cidrIp: '0.0.0.0/0'\n  condition: sel",
    "  sel:\n    requestParameters.userName|fieldref: userIdentity.userName\n  condition: not sel",
    "  sel:\n    userIdentity.type: Root\n    userIdentity.invokedBy: null\n  condition: sel",
    "  sel:\n    - eventName: DeleteUser\n    - eventSource: iam.amazonaws.com\n  condition: sel",
    "  keywords:\n    - 'alice'\n    - 'ÉCOLE'\n  condition: keywords",
    "  a:\n    eventName: CreateUser\n  b:\n    eventSource: s3.amazonaws.com\n  c:\n    readOnly: false\n  \
     condition: (b or c) and a and not b",
    "  sel_name:\n    eventName: CreateUser\n  sel_source:\n    eventSource: s3.amazonaws.com\n  \
     filter_ro:\n    readOnly: true\n  condition: 1 of sel_* and not 1 of filter_*",
    "  sel_name:\n    eventName: CreateUser\n  sel_source:\n    eventSource: s3.amazonaws.com\n  condition: all of sel_*",
    "  sel_name:\n    eventName: CreateUser\n  sel_ro:\n    readOnly: false\n  condition: all of them",
    "  sel_a:\n    eventName: CreateUser\n  sel_b:\n    readOnly: false\n  sel_c:\n    eventSource: x\n  \
     condition: 2 of sel_*",
    "  sel:\n    eventName: CreateUser\n  condition:\n    - sel and readonly\n    - sel\n  readonly:\n    readOnly: true",
];

fn records() -> Vec<Value> {
    let base = json!({"eventVersion": "1.09", "eventID": "e1", "eventTime": "2024-08-01T00:00:00Z",
        "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "readOnly": false,
        "sourceIPAddress": "10.1.2.3", "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0",
        "userIdentity": {"type": "IAMUser", "userName": "alice"},
        "requestParameters": {"userName": "bob", "fromPort": 22, "items": [{"cidrIp": "10.0.0.0/8"}, {"cidrIp": "0.0.0.0/0"}]}});
    let with = |fields: Value| {
        let mut r = base.clone();
        r.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        r
    };
    vec![
        base.clone(),
        with(json!({"eventName": "DELETEUSER", "readOnly": true, "errorCode": "AccessDenied"})),
        with(json!({"eventName": "PutRolePolicy", "eventSource": "s3.amazonaws.com", "errorCode": null})),
        with(json!({"eventName": "CRÉATEUSER", "userAgent": "ÜNÏCODE agent on windows"})),
        with(json!({"userAgent": "\u{212a}ELVIN"})),
        with(json!({"userAgent": "Boto3/1.34 md/Botocore#1.34"})),
        with(json!({"userAgent": "lambda.AMAZONAWS.COM"})),
        with(json!({"userAgent": "vacances d'ÉTÉ"})),
        with(json!({"userAgent": 42, "sourceIPAddress": "192.0.2.1", "requestParameters": {"fromPort": "19"}})),
        with(json!({"userIdentity": {"type": "Root", "userName": "bob"}, "keywords": "École"})),
        with(json!({"userIdentity": {"type": "root", "invokedBy": "x"}, "userAgent": null})),
        with(json!({"requestParameters": {"userName": "alice", "items": []}, "userIdentity": {"userName": "alice"}})),
    ]
}

#[test]
fn the_program_agrees_with_the_engine() {
    let mut agreed = (0, 0);
    for detection in DETECTIONS {
        let rule = rule(detection);
        let program = Program::new(&rule).unwrap_or_else(|| panic!("not resolved: {detection}"));
        for record in records() {
            let text = record.to_string();
            let raw = RawEvent::parse(text.as_bytes()).unwrap();
            let event = RecordEvent::new(&raw);
            let engine = evaluate_rule(&rule, &event).is_some();
            assert_eq!(program.holds(&event), engine, "{detection}\n{record}");
            if engine {
                agreed.0 += 1;
            } else {
                agreed.1 += 1;
            }
        }
    }
    // Both verdicts are common: the table tests something either way.
    assert!(agreed.0 > 100 && agreed.1 > 100, "{agreed:?}");
}

#[test]
fn array_quantifiers_are_left_to_the_engine() {
    let detection = "  sel:\n    requestParameters.items[any].cidrIp: '0.0.0.0/0'\n  condition: sel";
    let quantified = versioned("sigma-version: 3\n", detection);
    assert!(!quantified.detections.values().all(covered), "{:?}", quantified.detections);
    assert!(Program::new(&quantified).is_none());
    // The detector evaluates it the engine's way.
    let yaml = format!(
        "sigma-version: 3\ntitle: q\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}\n"
    );
    let detector = crate::detect::rules::load_sources(vec![("q.yml".into(), yaml, false)]).unwrap().detector;
    let mut hits = 0;
    for record in records() {
        let text = record.to_string();
        let raw = RawEvent::parse(text.as_bytes()).unwrap();
        let hit = !detector.matches(&raw).is_empty();
        assert_eq!(hit, evaluate_rule(&quantified, &RecordEvent::new(&raw)).is_some(), "{record}");
        hits += usize::from(hit);
    }
    assert_eq!(hits, records().len() - 2, "all but the two records without 0.0.0.0/0 in items");
}
