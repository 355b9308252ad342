//! Unit tests of the `aws` object: request shapes from the EC2 API and CloudTrail samples.

use super::*;
use crate::decode::RawEvent;
use serde_json::json;

fn facts_of<'a>(ev: &'a RawEvent<'a>) -> Facts<'a> {
    let mut f = Facts::default();
    for (k, v) in &ev.fields {
        f.observe(k, *v);
    }
    f
}

fn ports(name: &str, request: Value) -> Vec<Ports> {
    let record =
        json!({"eventSource": "ec2.amazonaws.com", "eventName": name, "requestParameters": request}).to_string();
    let ev = RawEvent::parse(record.as_bytes()).unwrap();
    world_ports(&facts_of(&ev)).1
}

fn aws_json(record: Value) -> Option<Value> {
    let text = record.to_string();
    let ev = RawEvent::parse(text.as_bytes()).unwrap();
    let facts = facts_of(&ev);
    let identity = facts.identity().unwrap_or_default();
    let mut out = b"{\"x\":1".to_vec();
    write(&mut out, &facts, identity.access_key_id.as_deref());
    out.push(b'}');
    let doc: Value = serde_json::from_slice(&out).unwrap();
    doc.get("aws").cloned()
}

#[test]
fn the_flat_request_form_with_any_zero_length_prefix_is_the_world() {
    // From Stratus Red Team's "open port 22" attack (a /0 after a non-zero address).
    let request = json!({"cidrIp": "208.236.235.254/0", "fromPort": 22, "groupId": "sg-003dc7f1f1c686164",
        "ipPermissions": {}, "ipProtocol": "tcp", "toPort": 22});
    assert_eq!(ports("AuthorizeSecurityGroupIngress", request), [(22, 22)]);
    let narrow = json!({"cidrIp": "10.0.0.0/8", "fromPort": 22, "ipProtocol": "tcp", "toPort": 22});
    assert_eq!(ports("AuthorizeSecurityGroupIngress", narrow), []);
}

#[test]
fn ip_permissions_items_keep_only_world_ranges() {
    let request = json!({"groupId": "sg-1", "ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
         "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}, "ipv6Ranges": {}, "prefixListIds": {}},
        {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
         "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}},
        {"ipProtocol": "udp", "fromPort": 1000, "toPort": 2000, "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}},
        {"ipProtocol": "icmp", "fromPort": -1, "toPort": -1, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}
    ]}});
    assert_eq!(ports("AuthorizeSecurityGroupIngress", request), [(443, 443), (1000, 2000)]);
}

#[test]
fn all_traffic_and_portless_protocols_open_every_port() {
    let all =
        json!({"ipPermissions": {"items": [{"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}});
    assert_eq!(ports("AuthorizeSecurityGroupEgress", all), [(0, 65535)]);
    let esp = json!({"ipPermissions": {"items": [{"ipProtocol": "50", "fromPort": 1, "toPort": 2,
        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}});
    assert_eq!(ports("AuthorizeSecurityGroupIngress", esp), [(0, 65535)]);
}

#[test]
fn a_numbered_protocol_counts_and_a_reversed_range_opens_nothing() {
    let world = |protocol: Value, from: u16, to: u16| {
        json!({"ipPermissions": {"items": [{"ipProtocol": protocol, "fromPort": from, "toPort": to,
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}})
    };
    assert_eq!(ports("AuthorizeSecurityGroupIngress", world(json!(6), 22, 22)), [(22, 22)]);
    assert_eq!(ports("AuthorizeSecurityGroupIngress", world(json!(1), 22, 22)), []);
    assert_eq!(ports("AuthorizeSecurityGroupIngress", world(json!("tcp"), 443, 80)), []);
}

#[test]
fn modify_security_group_rules_single_and_list() {
    let one = json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": {
        "SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389,
        "CidrIpv4": "0.0.0.0/0", "Description": ""}}}});
    assert_eq!(ports("ModifySecurityGroupRules", one), [(3389, 3389)]);
    let list = json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": [
        {"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv6": "::/0"}},
        {"SecurityGroupRuleId": "sgr-2", "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
         "CidrIpv4": "192.0.2.0/24"}}]}});
    assert_eq!(ports("ModifySecurityGroupRules", list), [(0, 65535)]);
}

#[test]
fn other_events_and_sources_give_no_ports() {
    let request = json!({"cidrIp": "0.0.0.0/0", "fromPort": 22, "ipProtocol": "tcp", "toPort": 22});
    assert_eq!(ports("RevokeSecurityGroupIngress", request.clone()), []);
    let record = json!({"eventSource": "x.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress",
        "requestParameters": request})
    .to_string();
    let ev = RawEvent::parse(record.as_bytes()).unwrap();
    assert_eq!(world_ports(&facts_of(&ev)).1, []);
    assert_eq!(ports("AuthorizeSecurityGroupIngress", json!(null)), []);
    assert_eq!(ports("AuthorizeSecurityGroupIngress", json!("text")), []);
}

#[test]
fn only_inbound_rules_are_open_ports_and_an_edited_rule_says_no_direction() {
    let all = json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "-1",
        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}});
    let ec2 = |name: &str, request: &Value| {
        aws_json(json!({"eventSource": "ec2.amazonaws.com", "eventName": name, "requestParameters": request}))
            .map(|aws| aws["ec2"].clone())
    };
    let range = json!([{"gte": 0, "lte": 65535}]);
    assert_eq!(ec2("AuthorizeSecurityGroupIngress", &all), Some(json!({"world_open_ports": range})));
    assert_eq!(ec2("AuthorizeSecurityGroupEgress", &all), Some(json!({"world_egress_ports": range})));
    // Editing the default egress rule (all traffic to 0.0.0.0/0): the request names the rule
    // by id and says nothing of its direction.
    let edit = json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": {
        "SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "0.0.0.0/0"}}}});
    assert_eq!(ec2("ModifySecurityGroupRules", &edit), Some(json!({"world_modified_ports": range})));
}

#[test]
fn s3_byte_counts_are_whole_numbers() {
    // As CloudTrail writes them (floats), from the OTRF exfiltration dataset.
    let aws = aws_json(json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject",
        "additionalEventData": {"bytesTransferredOut": 500.0, "bytesTransferredIn": 0.0, "SignatureVersion": "SigV4"}}));
    assert_eq!(aws, Some(json!({"s3": {"bytes_transferred_in": 0, "bytes_transferred_out": 500}})));
    let big = aws_json(json!({"eventSource": "s3.amazonaws.com",
        "additionalEventData": {"bytesTransferredOut": 5368709120.0, "bytesTransferredIn": "12"}}));
    assert_eq!(big, Some(json!({"s3": {"bytes_transferred_in": 12, "bytes_transferred_out": 5_368_709_120u64}})));
    let odd = aws_json(json!({"eventSource": "s3.amazonaws.com",
        "additionalEventData": {"bytesTransferredOut": -1, "bytesTransferredIn": "lots"}}));
    assert_eq!(odd, None);
    // What a `long` holds, no more: a float ends below 9e18 (rounding stays clear of the edge).
    let edge = aws_json(json!({"eventSource": "s3.amazonaws.com",
        "additionalEventData": {"bytesTransferredOut": 9.0e18, "bytesTransferredIn": 8.5e18}}));
    assert_eq!(edge, Some(json!({"s3": {"bytes_transferred_in": 8_500_000_000_000_000_000u64}})));
    let long = aws_json(json!({"eventSource": "s3.amazonaws.com",
        "additionalEventData": {"bytesTransferredOut": i64::MAX, "bytesTransferredIn": i64::MAX as u64 + 1}}));
    assert_eq!(long, Some(json!({"s3": {"bytes_transferred_out": i64::MAX}})));
    let other =
        aws_json(json!({"eventSource": "ec2.amazonaws.com", "additionalEventData": {"bytesTransferredOut": 5}}));
    assert_eq!(other, None);
}

#[test]
fn the_access_key_comes_from_user_identity() {
    let aws = aws_json(json!({"userIdentity": {"type": "IAMUser", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"}}));
    assert_eq!(aws, Some(json!({"access_key_id": "AKIAIOSFODNN7EXAMPLE"})));
    assert_eq!(aws_json(json!({"userIdentity": {"type": "IAMUser", "accessKeyId": ""}})), None);
    let all = aws_json(json!({"eventSource": "ec2.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress",
        "userIdentity": {"accessKeyId": "ASIAEXAMPLE"},
        "requestParameters": {"cidrIp": "0.0.0.0/0", "fromPort": 22, "toPort": 22, "ipProtocol": "tcp"}}));
    assert_eq!(
        all,
        Some(json!({"access_key_id": "ASIAEXAMPLE", "ec2": {"world_open_ports": [{"gte": 22, "lte": 22}]}}))
    );
}
