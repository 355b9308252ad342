//! The `aws` object of a CloudTrail document: typed copies of the few values people filter and
//! sum on that CloudTrail keeps inside free-form fields (where every leaf is a keyword). Pure.
//!
//! - `aws.access_key_id`: `userIdentity.accessKeyId`, the same field the S3 access-log
//!   documents carry, so one query finds a key in both sources;
//! - `aws.s3.bytes_transferred_in` / `_out` (`long`): `additionalEventData.bytesTransferredIn`
//!   / `Out` of S3 data events (CloudTrail writes them as floats, `500.0`);
//! - `aws.ec2.world_open_ports` (`integer_range` array): for `AuthorizeSecurityGroupIngress`,
//!   the inbound port ranges that the request opens to every address (a CIDR with prefix length
//!   0: `0.0.0.0/0`, `::/0`). Protocol `-1` (and any protocol other than TCP, UDP, ICMP, ICMPv6,
//!   for which EC2 ignores the ports) means every port; ICMP has no ports and gives no range.
//! - `aws.ec2.world_egress_ports`: the same for `AuthorizeSecurityGroupEgress`: outbound
//!   traffic allowed to every address, which exposes nothing.
//! - `aws.ec2.world_modified_ports`: the same for `ModifySecurityGroupRules`, whose request
//!   names a rule by id and never says whether that rule is inbound or outbound: the ranges an
//!   existing rule now allows to or from every address, direction unknown.

use super::facts::Facts;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::io::Write;

/// An inclusive port range.
pub type Ports = (u16, u16);

/// Which way the rules of a security-group request let traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Inbound (`AuthorizeSecurityGroupIngress`): the ports are reachable.
    Ingress,
    /// Outbound (`AuthorizeSecurityGroupEgress`).
    Egress,
    /// Not said by the request (`ModifySecurityGroupRules` names a rule by id only).
    Unknown,
}

impl Direction {
    /// The direction of a security-group request, by event name; `None` for other events.
    fn of(event_name: &str) -> Option<Direction> {
        match event_name {
            "AuthorizeSecurityGroupIngress" => Some(Direction::Ingress),
            "AuthorizeSecurityGroupEgress" => Some(Direction::Egress),
            "ModifySecurityGroupRules" => Some(Direction::Unknown),
            _ => None,
        }
    }

    /// The field of `aws.ec2` holding the ranges opened this way.
    pub fn field(self) -> &'static str {
        match self {
            Direction::Ingress => "world_open_ports",
            Direction::Egress => "world_egress_ports",
            Direction::Unknown => "world_modified_ports",
        }
    }
}

/// Writes `,"aws":{…}` when there is anything to say.
pub fn write(out: &mut Vec<u8>, facts: &Facts<'_>, access_key_id: Option<&str>) {
    let bytes = s3_bytes(facts);
    let (direction, ports) = world_ports(facts);
    let access_key_id = access_key_id.filter(|k| !k.is_empty());
    if access_key_id.is_none() && bytes == (None, None) && ports.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"aws\":{");
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    if let Some(key) = access_key_id {
        sep(out);
        out.extend_from_slice(b"\"access_key_id\":");
        crate::json::write_str(out, key);
    }
    // Writing to a Vec cannot fail.
    match bytes {
        (None, None) => {}
        (Some(i), None) => {
            sep(out);
            let _ = write!(out, "\"s3\":{{\"bytes_transferred_in\":{i}}}");
        }
        (None, Some(o)) => {
            sep(out);
            let _ = write!(out, "\"s3\":{{\"bytes_transferred_out\":{o}}}");
        }
        (Some(i), Some(o)) => {
            sep(out);
            let _ = write!(out, "\"s3\":{{\"bytes_transferred_in\":{i},\"bytes_transferred_out\":{o}}}");
        }
    }
    if !ports.is_empty() {
        sep(out);
        let _ = write!(out, "\"ec2\":{{\"{}\":[", direction.field());
        for (n, (lo, hi)) in ports.iter().enumerate() {
            let _ = write!(out, "{}{{\"gte\":{lo},\"lte\":{hi}}}", if n > 0 { "," } else { "" });
        }
        out.extend_from_slice(b"]}");
    }
    out.push(b'}');
}

/// `bytesTransferredIn` / `Out` of an S3 data event, as whole byte counts.
pub fn s3_bytes(facts: &Facts<'_>) -> (Option<u64>, Option<u64>) {
    #[derive(Deserialize)]
    struct Additional<'a> {
        #[serde(rename = "bytesTransferredIn", borrow)]
        bytes_in: Option<&'a RawValue>,
        #[serde(rename = "bytesTransferredOut", borrow)]
        bytes_out: Option<&'a RawValue>,
    }
    let Some(raw) = facts.additional.filter(|_| facts.event_source.as_deref() == Some("s3.amazonaws.com")) else {
        return (None, None);
    };
    match serde_json::from_str::<Additional<'_>>(raw.get()) {
        Ok(a) => (a.bytes_in.and_then(byte_count), a.bytes_out.and_then(byte_count)),
        Err(_) => (None, None),
    }
}

/// A non-negative number (or numeric string) as a whole count a `long` holds; anything else
/// is no count (a count past a `long` would have OpenSearch refuse the whole document).
fn byte_count(raw: &RawValue) -> Option<u64> {
    let text = raw.get().trim_matches('"');
    if let Ok(n) = text.parse::<u64>() {
        return (n <= i64::MAX as u64).then_some(n);
    }
    let f = text.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0 && *f < 9.0e18)?;
    // Truncation is what OpenSearch's `long` coercion does too.
    Some(f as u64)
}

/// The port ranges a security-group request opens to the world, sorted, without repeats, and
/// which way they are open (no ranges for any other event).
pub fn world_ports(facts: &Facts<'_>) -> (Direction, Vec<Ports>) {
    let nothing = (Direction::Unknown, Vec::new());
    let Some(direction) = facts.event_name.as_deref().and_then(Direction::of) else { return nothing };
    if facts.event_source.as_deref() != Some("ec2.amazonaws.com") {
        return nothing;
    }
    // Rare events: a `Value` tree is fine here and copes with the three request shapes.
    let Some(request) = facts.request.and_then(|r| serde_json::from_str::<Value>(r.get()).ok()) else {
        return nothing;
    };
    let mut ports = Vec::new();
    collect(&request, &mut ports);
    ports.sort_unstable();
    ports.dedup();
    (direction, ports)
}

/// Walks the request: every object naming a protocol is a permission (the flat form of
/// `AuthorizeSecurityGroupIngress`, an `ipPermissions.items` element, a `ModifySecurityGroupRules`
/// `SecurityGroupRule`); its CIDRs are its own keys or its `ipRanges` / `ipv6Ranges` items.
fn collect(value: &Value, ports: &mut Vec<Ports>) {
    match value {
        Value::Object(map) => {
            let protocol = get_ci(map, "ipProtocol");
            if let Some(protocol) = protocol {
                if is_world(map) {
                    ports.extend(port_range(protocol, get_ci(map, "fromPort"), get_ci(map, "toPort")));
                }
            }
            // A permission's range lists hold CIDRs only (read by `is_world`): walking them
            // finds nothing more.
            map.values().for_each(|v| collect(v, ports));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, ports)),
        _ => {}
    }
}

/// Whether a permission names a CIDR of prefix length 0, directly or in its range lists.
fn is_world(permission: &serde_json::Map<String, Value>) -> bool {
    const DIRECT: [&str; 4] = ["cidrIp", "cidrIpv4", "cidrIpv6", "cidrIpV6"];
    let direct = DIRECT.iter().filter_map(|k| get_ci(permission, k)).any(is_world_cidr);
    let listed = ["ipRanges", "ipv6Ranges"].iter().filter_map(|k| get_ci(permission, k)).any(|ranges| {
        let items = ranges.get("items").or_else(|| ranges.get("Items")).unwrap_or(ranges);
        let each = |range: &Value| {
            range.as_object().is_some_and(|r| DIRECT.iter().filter_map(|k| get_ci(r, k)).any(is_world_cidr))
        };
        match items {
            Value::Array(list) => list.iter().any(each),
            other => each(other),
        }
    });
    direct || listed
}

fn is_world_cidr(cidr: &Value) -> bool {
    cidr.as_str().and_then(|c| c.trim().rsplit_once('/')).is_some_and(|(_, len)| len.trim() == "0")
}

/// The ports a permission covers: `None` when its protocol has no ports (ICMP).
fn port_range(protocol: &Value, from: Option<&Value>, to: Option<&Value>) -> Option<Ports> {
    let protocol = match protocol {
        Value::String(s) => s.trim().to_ascii_lowercase(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    match protocol.as_str() {
        "icmp" | "1" | "icmpv6" | "58" => None,
        "tcp" | "6" | "udp" | "17" => {
            let port = |v: Option<&Value>| {
                let v = v?;
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|p| (0..=65535).contains(p))
            };
            match (port(from), port(to)) {
                (Some(lo), Some(hi)) if lo <= hi => Some((lo as u16, hi as u16)),
                (Some(lo), None) => Some((lo as u16, lo as u16)),
                // No usable range given: EC2 would have refused it, so do not invent one.
                (None, _) | (Some(_), Some(_)) => None,
            }
        }
        // `-1` (all traffic) and protocols whose ports EC2 ignores: every port.
        _ => Some((0, 65535)),
    }
}

/// `map[key]`, with the key compared case-insensitively (EC2's request shapes differ in case).
fn get_ci<'v>(map: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

#[cfg(test)]
#[path = "aws_tests.rs"]
mod tests;
