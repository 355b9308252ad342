//! The access-log source's own parts: key claims, templates and trends.

use super::*;

#[test]
fn names_and_forced_prefixes_are_claimed_but_never_under_awslogs() {
    let s = S3Access { forced_prefixes: vec!["copied/".into()], ..S3Access::default() };
    assert_eq!(s.claim_key("logs/2024-08-01-13-05-59-ABCDEF0123456789"), Claim::Index("s3access"));
    assert_eq!(s.claim_key("copied/any.log"), Claim::Index("s3access"));
    assert_eq!(s.claim_key("copied/"), Claim::No, "a folder marker");
    assert_eq!(s.claim_key("AWSLogs/1/Config/2024-08-01-13-05-59-ABCDEF0123456789"), Claim::No);
    assert_eq!(s.claim_path(&["tmp", "2024-08-01-13-05-59-ABCDEF0123456789.gz"]), Claim::Index("s3access"));
    assert_eq!(s.claim_path(&["tmp", "download.json"]), Claim::No);
}

#[test]
fn templates_and_trends_sum_bytes() {
    let t = S3Access { index_prefix: "s3a".into(), ..S3Access::default() }.templates(1);
    assert_eq!((t[0].name.as_str(), &t[0].body["index_patterns"]), ("trailship-s3a", &serde_json::json!(["s3a-*"])));
    assert_eq!(t[1].body["index_patterns"], serde_json::json!(["trailship-trends-s3a-*"]));
    assert!(t[1].body["priority"].as_u64() > t[0].body["priority"].as_u64());
    assert_eq!(t[1].body["template"]["mappings"]["properties"]["bytes_sent"]["type"], "long");
    let q = crate::trends::Spec {
        shape: TRENDS,
        event_prefix: "s3a".into(),
        period: Default::default(),
        accounts: Default::default(),
    }
    .query(chrono::NaiveDate::from_ymd_opt(2026, 2, 28).unwrap(), None);
    assert!(q["query"]["bool"].get("must_not").is_none());
    assert_eq!(q["aggs"]["keys"]["aggs"]["bytes_sent"], serde_json::json!({"sum": {"field": "bytes_sent"}}));
    assert_eq!((&WINDOW.oldest, WINDOW.oldest_key), (b"2006.03.01", "s3access.oldest_event_date"));
}
