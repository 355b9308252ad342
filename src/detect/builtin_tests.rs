//! Every built-in rule loads, says what the project promises (id, level, description, false
//! positives, CloudTrail log source), and matches an event it is written for but not its
//! near miss.

use super::rules::{BUILTIN, BUILTIN_CORRELATIONS, load, load_sources};
use super::*;
use crate::testing::sample_records;
use serde_json::{Value, json};

fn ev(fields: Value) -> Value {
    let mut r = json!({"eventVersion": "1.09", "eventID": "e1", "eventTime": "2024-08-01T00:00:00Z",
        "eventType": "AwsApiCall", "userIdentity": {"type": "IAMUser", "userName": "alice",
        "arn": "arn:aws:iam::111122223333:user/alice"}});
    r.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    r
}

fn api(source: &str, name: &str) -> Value {
    ev(json!({"eventSource": source, "eventName": name}))
}

fn with(mut e: Value, fields: Value) -> Value {
    e.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    e
}

/// (rule file, an event it must match, a near miss it must not).
fn cases() -> Vec<(&'static str, Value, Value)> {
    let sg = |request: Value| {
        with(api("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"), json!({"requestParameters": request}))
    };
    let edit = |cidr: &str| {
        json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": {
            "SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": cidr}}}})
    };
    let items = |n: usize| json!({"instancesSet": {"items": (0..n).map(|i| json!({"instanceId": format!("i-{i}")})).collect::<Vec<_>>()}});
    let login = |outcome: &str, mfa: &str| {
        with(
            api("signin.amazonaws.com", "ConsoleLogin"),
            json!({"eventType": "AwsConsoleSignIn",
            "responseElements": {"ConsoleLogin": outcome}, "additionalEventData": {"MFAUsed": mfa}}),
        )
    };
    let root = json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root"});
    vec![
        (
            "cis_4_01_unauthorized_api_calls.yml",
            with(api("ec2.amazonaws.com", "RunInstances"), json!({"errorCode": "Client.UnauthorizedOperation"})),
            with(api("ec2.amazonaws.com", "RunInstances"), json!({"errorCode": "InsufficientInstanceCapacity"})),
        ),
        ("cis_4_02_console_login_without_mfa.yml", login("Success", "No"), login("Success", "Yes")),
        (
            "cis_4_03_root_account_usage.yml",
            with(api("iam.amazonaws.com", "GetAccountSummary"), json!({"userIdentity": root})),
            with(
                api("iam.amazonaws.com", "GetAccountSummary"),
                json!({"userIdentity": {"type": "Root", "invokedBy": "support.amazonaws.com"}}),
            ),
        ),
        (
            "cis_4_04_iam_policy_changes.yml",
            api("iam.amazonaws.com", "PutUserPolicy"),
            api("iam.amazonaws.com", "GetUserPolicy"),
        ),
        (
            "cis_4_05_cloudtrail_configuration_changes.yml",
            api("cloudtrail.amazonaws.com", "UpdateTrail"),
            api("cloudtrail.amazonaws.com", "DescribeTrails"),
        ),
        ("cis_4_06_console_authentication_failures.yml", login("Failure", "No"), login("Success", "No")),
        (
            "cis_4_07_kms_key_disabled_or_scheduled_for_deletion.yml",
            api("kms.amazonaws.com", "ScheduleKeyDeletion"),
            api("kms.amazonaws.com", "EnableKey"),
        ),
        (
            "cis_4_08_s3_bucket_policy_changes.yml",
            api("s3.amazonaws.com", "PutBucketPolicy"),
            api("s3.amazonaws.com", "GetBucketPolicy"),
        ),
        (
            "cis_4_09_aws_config_changes.yml",
            api("config.amazonaws.com", "StopConfigurationRecorder"),
            api("config.amazonaws.com", "DescribeConfigurationRecorders"),
        ),
        (
            "cis_4_10_security_group_changes.yml",
            api("ec2.amazonaws.com", "RevokeSecurityGroupIngress"),
            api("ec2.amazonaws.com", "DescribeSecurityGroups"),
        ),
        (
            "cis_4_11_network_acl_changes.yml",
            api("ec2.amazonaws.com", "ReplaceNetworkAclEntry"),
            api("ec2.amazonaws.com", "DescribeNetworkAcls"),
        ),
        (
            "cis_4_12_network_gateway_changes.yml",
            api("ec2.amazonaws.com", "AttachInternetGateway"),
            api("ec2.amazonaws.com", "DescribeInternetGateways"),
        ),
        (
            "cis_4_13_route_table_changes.yml",
            api("ec2.amazonaws.com", "CreateRoute"),
            api("ec2.amazonaws.com", "DescribeRouteTables"),
        ),
        (
            "cis_4_14_vpc_changes.yml",
            api("ec2.amazonaws.com", "CreateVpcPeeringConnection"),
            api("ec2.amazonaws.com", "DescribeVpcs"),
        ),
        (
            "cis_4_15_organizations_changes.yml",
            api("organizations.amazonaws.com", "LeaveOrganization"),
            api("organizations.amazonaws.com", "ListAccounts"),
        ),
        (
            "aws_access_key_created_for_another_user.yml",
            with(api("iam.amazonaws.com", "CreateAccessKey"), json!({"requestParameters": {"userName": "bob"}})),
            with(api("iam.amazonaws.com", "CreateAccessKey"), json!({"requestParameters": {"userName": "alice"}})),
        ),
        (
            "aws_cloudtrail_stopped_or_deleted.yml",
            api("cloudtrail.amazonaws.com", "StopLogging"),
            api("cloudtrail.amazonaws.com", "StartLogging"),
        ),
        (
            "aws_s3_bucket_made_public.yml",
            with(
                api("s3.amazonaws.com", "PutBucketPolicy"),
                json!({"requestParameters": {"bucketName": "b",
                "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}}}),
            ),
            with(
                api("s3.amazonaws.com", "PutBucketPolicy"),
                json!({"requestParameters": {"bucketName": "b",
                "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}}]}}}),
            ),
        ),
        (
            "aws_security_group_opened_to_the_world.yml",
            sg(json!({"ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}})),
            sg(json!({"ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}})),
        ),
        (
            "aws_security_group_rule_modified_to_the_world.yml",
            with(api("ec2.amazonaws.com", "ModifySecurityGroupRules"), json!({"requestParameters": edit("0.0.0.0/0")})),
            with(
                api("ec2.amazonaws.com", "ModifySecurityGroupRules"),
                json!({"requestParameters": edit("10.0.0.0/8")}),
            ),
        ),
        (
            "aws_ec2_instances_stopped_or_terminated_in_bulk.yml",
            with(api("ec2.amazonaws.com", "TerminateInstances"), json!({"requestParameters": items(5)})),
            with(api("ec2.amazonaws.com", "TerminateInstances"), json!({"requestParameters": items(4)})),
        ),
        (
            "aws_guardduty_detector_deleted.yml",
            api("guardduty.amazonaws.com", "DeleteDetector"),
            api("guardduty.amazonaws.com", "CreateDetector"),
        ),
        (
            "aws_iam_role_trust_policy_changed.yml",
            api("iam.amazonaws.com", "UpdateAssumeRolePolicy"),
            api("iam.amazonaws.com", "GetRole"),
        ),
    ]
}

fn ids_matching(file: &str, record: &Value) -> Vec<String> {
    let (_, text) = BUILTIN.iter().find(|(name, _)| *name == file).unwrap_or_else(|| panic!("no built-in {file}"));
    let loaded = load_sources(vec![(file.to_owned(), (*text).to_owned(), true)]).unwrap();
    let raw = record.to_string();
    loaded.detector.matches(&RawEvent::parse(raw.as_bytes()).unwrap()).into_iter().map(|m| m.id.to_string()).collect()
}

#[test]
fn every_built_in_rule_matches_its_case_and_not_its_near_miss() {
    let cases = cases();
    assert_eq!(cases.len(), BUILTIN.len(), "one case per built-in rule");
    for (file, hit, miss) in cases {
        assert_eq!(ids_matching(file, &hit).len(), 1, "{file} should match {hit}");
        assert!(ids_matching(file, &miss).is_empty(), "{file} should not match {miss}");
    }
}

/// Outbound rules expose nothing, and an edited rule does not say its direction: neither is an
/// ingress opened to the world.
#[test]
fn egress_and_edited_rules_are_not_ingress_opened_to_the_world() {
    let file = "aws_security_group_opened_to_the_world.yml";
    let all = json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "-1",
        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}});
    let egress = with(api("ec2.amazonaws.com", "AuthorizeSecurityGroupEgress"), json!({"requestParameters": all}));
    assert!(ids_matching(file, &egress).is_empty());
    let edit = json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": {
        "SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "0.0.0.0/0"}}}});
    let edit = with(api("ec2.amazonaws.com", "ModifySecurityGroupRules"), json!({"requestParameters": edit}));
    assert!(ids_matching(file, &edit).is_empty());
    assert_eq!(ids_matching("aws_security_group_rule_modified_to_the_world.yml", &edit).len(), 1);
}

#[test]
fn every_built_in_rule_says_what_it_is() {
    let all = load(true, &[]).unwrap();
    // The correlations, and the one rule a correlation file holds for itself.
    let loaded = BUILTIN.len() + BUILTIN_CORRELATIONS.len() + 1;
    assert_eq!((all.rules, all.builtin, all.skipped), (loaded, loaded, 0));
    assert_eq!(all.correlations.len(), BUILTIN_CORRELATIONS.len());
    let mut ids = std::collections::BTreeSet::new();
    for (file, text) in BUILTIN {
        let rule: serde_json::Value =
            serde_json::to_value(rsigma_parser::parse_sigma_yaml(text).unwrap().rules.remove(0)).unwrap();
        for key in ["id", "level", "description", "falsepositives", "title", "tags"] {
            let v = &rule[key];
            assert!(!(v.is_null() || v == &json!([]) || v == &json!("")), "{file}: {key} is missing");
        }
        assert!(ids.insert(rule["id"].as_str().unwrap().to_owned()), "{file}: id repeats");
    }
    for (file, text) in BUILTIN_CORRELATIONS {
        let collection = rsigma_parser::parse_sigma_yaml(text).unwrap();
        let rule: serde_json::Value = serde_json::to_value(&collection.correlations[0]).unwrap();
        for key in ["id", "level", "description", "falsepositives", "title", "tags"] {
            let v = &rule[key];
            assert!(!(v.is_null() || v == &json!([]) || v == &json!("")), "{file}: {key} is missing");
        }
        assert!(ids.insert(rule["id"].as_str().unwrap().to_owned()), "{file}: id repeats");
    }
    // The CIS monitoring items 4.1-4.15 each have one.
    for n in 1..=15 {
        assert!(BUILTIN.iter().any(|(f, _)| f.starts_with(&format!("cis_4_{n:02}_"))), "no rule for CIS 4.{n}");
    }
}

#[test]
fn the_name_index_leaves_out_no_match_on_the_samples_and_the_cases() {
    let all = load(true, &[]).unwrap().detector;
    // CIS 4.1 needs errorCode present, 4.3 "root" in userIdentity; the rest are looked up by
    // eventName: none is checked against every event.
    assert_eq!(all.unindexed(), 0, "{all:?}");
    let mut records: Vec<Value> = cases().into_iter().flat_map(|(_, hit, miss)| [hit, miss]).collect();
    records.extend(sample_records());
    assert!(records.len() > 400);
    let mut matched = 0;
    for record in &records {
        let raw = record.to_string();
        let ev = RawEvent::parse(raw.as_bytes()).unwrap();
        let mut indexed: Vec<String> = all.matches(&ev).into_iter().map(|m| m.id.to_string()).collect();
        indexed.sort();
        assert_eq!(indexed, all.matches_without_index(&ev), "{record}");
        matched += indexed.len();
    }
    assert!(matched > 60, "{matched}");
}

/// SigmaHQ's CloudTrail rules (`benches/sigmahq`: wildcards, regular expressions, nested
/// fields) through the index and without it, on the samples and on records made to match the
/// regular expression rule, escapes included: the same rules match.
#[test]
fn the_index_leaves_out_no_match_of_sigmahq_rules() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sigmahq");
    let all = load(false, &[dir]).unwrap().detector;
    assert!(all.rule_count() > 50);
    let mut records: Vec<String> = sample_records().iter().map(Value::to_string).collect();
    // The second spelling escapes the slash, as a JSON writer may.
    for arn in [r"assumed-role/aws:ec2-instance", r"assumed-role\/aws:ec2-instance"] {
        records.push(format!(
            r#"{{"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"203.0.113.9","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::1:{arn}/i-1"}}}}"#
        ));
    }
    let imds = "352a918a-34d8-4882-8470-44830c507aa3";
    let (mut matched, mut imds_hits) = (0, 0);
    for raw in &records {
        let ev = RawEvent::parse(raw.as_bytes()).unwrap();
        let mut indexed: Vec<String> = all.matches(&ev).into_iter().map(|m| m.id.to_string()).collect();
        indexed.sort();
        assert_eq!(indexed, all.matches_without_index(&ev), "{raw}");
        matched += indexed.len();
        imds_hits += usize::from(indexed.iter().any(|id| id == imds));
    }
    assert_eq!(imds_hits, 2, "the regular expression rule matches both spellings");
    assert!(matched > 80, "{matched} matches: the rules are exercised");
}

/// The CIS `tags` (their own matcher, `src/enrich/data/tags.toml`) and the built-in CIS Sigma
/// rules say the same thing about every sample event and every rule's cases.
#[test]
fn cis_tags_and_cis_rules_agree() {
    let table: toml::Value = toml::from_str(include_str!("../sources/cloudtrail/enrich/data/tags.toml")).unwrap();
    let cis_of_tag: std::collections::BTreeMap<String, String> = table["rule"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["tag"].as_str()?.to_owned(), r.get("cis")?.as_str()?.split(' ').next()?.to_owned())))
        .collect();
    let all = load(true, &[]).unwrap().detector;
    let enricher = crate::sources::cloudtrail::enrich::Enricher::new();
    let mut records: Vec<Value> = cases().into_iter().flat_map(|(_, hit, miss)| [hit, miss]).collect();
    records.extend(sample_records());
    let mut agreed = 0;
    for record in &records {
        let raw = record.to_string();
        let ev = RawEvent::parse(raw.as_bytes()).unwrap();
        let Ok(target) = enricher.target(&ev) else { continue };
        let mut doc = Vec::new();
        enricher.write_document(&ev, &target, &[], &mut doc);
        let doc: Value = serde_json::from_slice(&doc).unwrap();
        let mut by_tags: Vec<String> = doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| cis_of_tag.get(t.as_str().unwrap()).cloned())
            .collect();
        let mut by_rules: Vec<String> = all
            .matches(&ev)
            .into_iter()
            .filter_map(|m| m.title.strip_prefix("CIS ").map(|t| t.split(' ').next().unwrap().to_owned()))
            .collect();
        by_tags.sort();
        by_rules.sort();
        assert_eq!(by_tags, by_rules, "{record}");
        agreed += by_tags.len();
    }
    assert!(agreed > 50, "{agreed}");
}
