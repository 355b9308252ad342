//! S3 server access log record → document: the fields under the names of the S3 docs / Athena table in snake case, absent when
//! S3 wrote `-`, plus what can be derived from them — `source.ip`, the requester's `user.name`
//! and `cloud.account.id` from its ARN, `http.request.method`, `url.path` and `url.query` from
//! the request URI, and the access key ID of a presigned URL (`X-Amz-Credential=` or
//! `AWSAccessKeyId=`) in `aws.access_key_id`, the field CloudTrail documents carry too; the user
//! agent parsed (`user_agent.name`, `version`, `os.name`) and `source.geo` / `source.as` from
//! GeoIP, both as for CloudTrail and from the same caches. The raw line is kept in
//! `event.original`. Pure; written straight from the borrowed record, field by field.

use super::line::AccessRecord;
use crate::accounts::Accounts;
use crate::geo::GeoIp;
use crate::json::write_str;
use std::borrow::Cow;
use std::io::Write;

/// `,"name":"value"` when there is a value.
fn text(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        key(out, name);
        write_str(out, v);
    }
}

/// `,"name":123` when there is a number.
fn number(out: &mut Vec<u8>, name: &str, value: Option<u64>) {
    if let Some(n) = value {
        key(out, name);
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{n}");
    }
}

/// `,"name":` (names are plain ASCII, written as they are).
fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `user.name` and `cloud.account.id` of a requester ARN: `…:user/alice` → `alice`,
/// `…:assumed-role/Role/session` → `Role/session`; canonical user IDs give neither.
pub fn requester_identity(requester: &str) -> Option<(&str, &str)> {
    let rest = requester.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_partition, _service, _region, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let name = resource.split_once('/').map(|(_, n)| n)?;
    (!account.is_empty() && !name.is_empty()).then_some((name, account))
}

/// The kind of requester, in CloudTrail's `userIdentity.type` words: `Anonymous` (S3 wrote
/// `-`), `AWSService` (`svc:…`), `AssumedRole`, `IAMUser`, `Root`, `FederatedUser` (ARNs),
/// `CanonicalUser` (a 64-digit canonical ID), `Unknown` otherwise. Daily trends count by it.
pub fn requester_type(requester: Option<&str>) -> &'static str {
    let Some(r) = requester else { return "Anonymous" };
    if r.starts_with("svc:") {
        return "AWSService";
    }
    if let Some(rest) = r.strip_prefix("arn:") {
        let resource = rest.splitn(5, ':').nth(4).unwrap_or_default();
        return match resource.split_once('/').map_or(resource, |(kind, _)| kind) {
            "assumed-role" => "AssumedRole",
            "user" => "IAMUser",
            "root" => "Root",
            "federated-user" => "FederatedUser",
            _ => "Unknown",
        };
    }
    if r.len() == 64 && r.bytes().all(|b| b.is_ascii_hexdigit()) { "CanonicalUser" } else { "Unknown" }
}

/// The access key ID a presigned request URI carries, if any.
pub fn presigned_access_key(query: &str) -> Option<String> {
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value: Cow<'_, str> = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        let key = match name {
            "X-Amz-Credential" => value.split('/').next().unwrap_or_default().to_owned(),
            "AWSAccessKeyId" => value.into_owned(),
            _ => continue,
        };
        if !key.is_empty() {
            return Some(key);
        }
    }
    None
}

/// Writes the document of `r` (read from `line`) to `out`, with GeoIP from `geo`.
pub fn write_document(
    r: &AccessRecord<'_>,
    line: &str,
    (geo, accounts): (Option<&GeoIp>, &Accounts),
    out: &mut Vec<u8>,
) {
    // "GET /bucket/key?query HTTP/1.1"
    let mut uri = r.request_uri.unwrap_or_default().splitn(3, ' ');
    let (method, target) = (uri.next().filter(|m| !m.is_empty()), uri.next());
    let (path, query) = match target {
        Some(t) => match t.split_once('?') {
            Some((p, q)) => (Some(p), Some(q)),
            None => (Some(t), None),
        },
        None => (None, None),
    };
    out.extend_from_slice(b"{\"@timestamp\":");
    write_str(out, &r.timestamp);
    text(out, "bucket_owner", r.bucket_owner);
    text(out, "bucket", r.bucket);
    if let Some(ip) = r.remote_ip {
        let _ = write!(out, ",\"remote_ip\":\"{ip}\"");
    }
    text(out, "requester", r.requester);
    text(out, "request_id", r.request_id);
    text(out, "operation", r.operation);
    text(out, "key", r.key);
    text(out, "request_uri", r.request_uri);
    number(out, "http_status", r.http_status.map(u64::from));
    text(out, "error_code", r.error_code);
    number(out, "bytes_sent", r.bytes_sent);
    number(out, "object_size", r.object_size);
    number(out, "total_time", r.total_time);
    number(out, "turn_around_time", r.turn_around_time);
    text(out, "referrer", r.referrer);
    if let Some(agent) = r.user_agent {
        key(out, "user_agent");
        out.extend_from_slice(&crate::agent::json(agent));
    }
    text(out, "version_id", r.version_id);
    text(out, "host_id", r.host_id);
    text(out, "signature_version", r.signature_version);
    text(out, "cipher_suite", r.cipher_suite);
    text(out, "authentication_type", r.authentication_type);
    text(out, "host_header", r.host_header);
    text(out, "tls_version", r.tls_version);
    text(out, "access_point_arn", r.access_point_arn);
    text(out, "acl_required", r.acl_required);
    if let Some(ip) = r.remote_ip {
        let _ = write!(out, ",\"source\":{{\"ip\":\"{ip}\"");
        if let Some(geo) = geo {
            out.extend_from_slice(&geo.json(ip));
        }
        out.push(b'}');
    }
    out.extend_from_slice(b",\"user\":{\"type\":");
    write_str(out, requester_type(r.requester));
    let identity = r.requester.and_then(requester_identity);
    if let Some((name, _)) = identity {
        out.extend_from_slice(b",\"name\":");
        write_str(out, name);
    }
    out.push(b'}');
    if let Some((_, account)) = identity {
        out.extend_from_slice(b",\"cloud\":{\"account\":{\"id\":");
        write_str(out, account);
        if let Some(name) = accounts.name_json(account) {
            out.extend_from_slice(b",\"name\":");
            out.extend_from_slice(name.as_bytes());
        }
        out.extend_from_slice(b"}}");
    }
    if let Some(method) = method {
        out.extend_from_slice(b",\"http\":{\"request\":{\"method\":");
        write_str(out, method);
        out.extend_from_slice(b"}}");
    }
    if let Some(path) = path {
        out.extend_from_slice(b",\"url\":{\"path\":");
        write_str(out, path);
        text(out, "query", query);
        out.push(b'}');
    }
    if let Some(access_key) = query.and_then(presigned_access_key) {
        out.extend_from_slice(b",\"aws\":{\"access_key_id\":");
        write_str(out, &access_key);
        out.push(b'}');
    }
    out.extend_from_slice(b",\"event\":{\"original\":");
    write_str(out, line.trim_end_matches(['\r', '\n']));
    out.extend_from_slice(b"}}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::s3access::line::parse_line;
    use serde_json::{Value, json};

    const LINE: &str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 2001:db8::7 arn:aws:sts::123456789012:assumed-role/backup-role/i-0abc 3E57427F3EXAMPLE REST.GET.OBJECT reports/Q1%25202024.csv "GET /amzn-s3-demo-bucket1/reports/Q1%25202024.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20190206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abc HTTP/1.1" 200 - 2147483648 2147483648 7 5 "-" "aws-cli/2.15.0 Python/3.11.6" - s9lzHYrFp76Z= SigV4 ECDHE-RSA-AES128-GCM-SHA256 QueryString amzn-s3-demo-bucket1.s3.us-east-1.amazonaws.com TLSv1.2 - - us-east-1"#;

    fn document(line: &str) -> Value {
        named(line, &Default::default())
    }

    fn named(line: &str, accounts: &Accounts) -> Value {
        let mut out = Vec::new();
        write_document(&parse_line(line).unwrap(), line, (None, accounts), &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn the_requesters_account_is_named_when_a_name_is_known() {
        let accounts = Accounts::new([("123456789012".to_owned(), "backups".to_owned())].into());
        assert_eq!(named(LINE, &accounts)["cloud"], json!({"account": {"id": "123456789012", "name": "backups"}}));
        let other = Accounts::new([("999999999999".to_owned(), "x".to_owned())].into());
        assert_eq!(named(LINE, &other)["cloud"], json!({"account": {"id": "123456789012"}}));
    }

    #[test]
    fn a_presigned_download_by_an_assumed_role() {
        let d = document(LINE);
        assert_eq!(d["@timestamp"], "2019-02-06T00:00:38Z");
        assert_eq!(d["remote_ip"], "2001:db8::7");
        assert_eq!(d["source"], json!({"ip": "2001:db8::7"}));
        assert_eq!(d["user"], json!({"name": "backup-role/i-0abc", "type": "AssumedRole"}));
        assert_eq!(d["cloud"], json!({"account": {"id": "123456789012"}}));
        assert_eq!(d["http"], json!({"request": {"method": "GET"}}));
        assert_eq!(d["url"]["path"], "/amzn-s3-demo-bucket1/reports/Q1%25202024.csv");
        assert!(d["url"]["query"].as_str().unwrap().starts_with("X-Amz-Algorithm="));
        assert_eq!(d["aws"], json!({"access_key_id": "AKIAIOSFODNN7EXAMPLE"}));
        assert_eq!(d["key"], "reports/Q1%25202024.csv", "as S3 wrote it");
        assert_eq!((d["http_status"].as_u64(), d["bytes_sent"].as_u64()), (Some(200), Some(2147483648)));
        assert_eq!(d["user_agent"]["original"], "aws-cli/2.15.0 Python/3.11.6");
        assert_eq!(
            (d["user_agent"]["name"].as_str(), d["user_agent"]["version"].as_str()),
            (Some("aws-cli"), Some("2.15.0"))
        );
        assert_eq!(d["event"]["original"], LINE);
        for absent in ["error_code", "referrer", "version_id", "access_point_arn", "acl_required"] {
            assert!(d.get(absent).is_none(), "{absent} is absent when S3 wrote -");
        }
    }

    #[test]
    fn anonymous_and_signature_v2_requests() {
        let line = LINE
            .replace("arn:aws:sts::123456789012:assumed-role/backup-role/i-0abc", "-")
            .replace(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20190206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abc",
                "AWSAccessKeyId=AKIAI44QH8DHBEXAMPLE&Expires=1549411200&Signature=xyz",
            );
        let d = document(&line);
        assert!(d.get("requester").is_none() && d["user"].get("name").is_none() && d.get("cloud").is_none());
        assert_eq!(d["user"]["type"], "Anonymous");
        assert_eq!(d["aws"]["access_key_id"], "AKIAI44QH8DHBEXAMPLE");
        let plain = LINE.replace(
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20190206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=abc",
            "",
        );
        let d = document(&plain);
        assert!(d.get("aws").is_none() && d["url"].get("query").is_none(), "{d}");
    }

    #[test]
    fn requesters_have_a_type() {
        let t = |r: &str| requester_type(Some(r));
        assert_eq!(requester_type(None), "Anonymous");
        assert_eq!(t("svc:logging.s3.amazonaws.com"), "AWSService");
        assert_eq!(t("arn:aws:sts::123456789012:assumed-role/backup-role/i-0abc"), "AssumedRole");
        assert_eq!(t("arn:aws:iam::111122223333:user/dev/bob"), "IAMUser");
        assert_eq!(t("arn:aws:iam::111122223333:root"), "Root");
        assert_eq!(t("arn:aws:sts::111122223333:federated-user/carol"), "FederatedUser");
        assert_eq!(t("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"), "CanonicalUser");
        assert_eq!(t("someone"), "Unknown");
    }

    #[test]
    fn requester_arns_give_a_name_and_an_account() {
        assert_eq!(requester_identity("arn:aws:iam::111122223333:user/alice"), Some(("alice", "111122223333")));
        assert_eq!(requester_identity("arn:aws:iam::111122223333:user/dev/bob"), Some(("dev/bob", "111122223333")));
        assert_eq!(requester_identity("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"), None);
        assert_eq!(requester_identity("arn:aws:iam::111122223333:root"), None);
        assert_eq!(presigned_access_key("a=1&b=2"), None);
        // A resource with no account, or a name that ends at the slash, names no one.
        assert_eq!(requester_identity("arn:aws:s3:::bucket/key"), None);
        assert_eq!(requester_identity("arn:aws:iam::111122223333:user/"), None);
    }

    #[test]
    fn canonical_ids_are_64_hex_digits() {
        let t = |r: &str| requester_type(Some(r));
        assert_eq!(t(&"g".repeat(64)), "Unknown", "64 characters, not hex");
        assert_eq!(t(&"a".repeat(63)), "Unknown", "hex, one short");
        assert_eq!(t(&"A".repeat(64)), "CanonicalUser");
    }

    #[test]
    fn an_empty_credential_gives_way_to_the_next_key() {
        assert_eq!(
            presigned_access_key("X-Amz-Credential=&AWSAccessKeyId=AKIAI44QH8DHBEXAMPLE").as_deref(),
            Some("AKIAI44QH8DHBEXAMPLE")
        );
        assert_eq!(presigned_access_key("AWSAccessKeyId").as_deref(), None);
        assert_eq!(presigned_access_key("X-Amz-Credential=AKIA%2F2019").as_deref(), Some("AKIA"), "decoded, then cut");
    }

    #[test]
    fn a_line_without_a_request_uri_has_no_method_or_path() {
        let line = LINE.replace(LINE.split('"').nth(1).unwrap(), "-");
        let d = document(&line);
        assert!(d.get("request_uri").is_none(), "{d}");
        assert!(d.get("http").is_none() && d.get("url").is_none() && d.get("aws").is_none(), "{d}");
        let bare = LINE.replace(LINE.split('"').nth(1).unwrap(), "PUT");
        let d = document(&bare);
        assert_eq!((d["http"]["request"]["method"].as_str(), d.get("url")), (Some("PUT"), None));
    }
}
