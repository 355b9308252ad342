//! Routing through the registry: every key and local path goes to the source that claims it,
//! in registry order.

use super::*;
use crate::sources::cloudtrail::CloudTrail;
use crate::sources::s3access::S3Access;

fn forcing(prefixes: &[&str]) -> Sources {
    let access = S3Access { forced_prefixes: prefixes.iter().map(|p| p.to_string()).collect(), ..S3Access::default() };
    Sources::new(vec![Arc::new(CloudTrail::new(Default::default())), Arc::new(access)])
}

fn both() -> Sources {
    forcing(&[])
}

fn label(routed: Routed) -> &'static str {
    match routed {
        Routed::Index(_, kind) => kind,
        Routed::Skip(what) => what,
    }
}

fn key(sources: &Sources, key: &str) -> &'static str {
    label(sources.route_key(key))
}

fn path(sources: &Sources, path: &str) -> &'static str {
    label(sources.route_path(Path::new(path)))
}

#[test]
fn the_registry_holds_cloudtrail_then_access_logs() {
    let cfg = crate::config::Config::load_from(None, &[]).unwrap();
    let sources = Sources::configured(&cfg, &Tools::default());
    assert_eq!(sources.names(), ["cloudtrail", "s3access"]);
    assert_eq!(sources.index_prefixes(), ["cloudtrail", "s3access"]);
    assert_eq!(sources.get("s3access").unwrap().index_prefix(), "s3access");
    match sources.route_path(Path::new("/tmp/download.json")) {
        Routed::Index(source, kind) => assert_eq!((source.name(), kind), ("cloudtrail", "cloudtrail")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn routes_standard_trail_keys() {
    let k = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T1335Z_abc.json.gz";
    assert_eq!(key(&both(), k), "cloudtrail");
    let k = "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/08/01/x.json.gz";
    assert_eq!(key(&both(), k), "insight");
    let k = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/08/01/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240801T133500Z.json.gz";
    assert_eq!(key(&both(), k), "digest");
}

#[test]
fn routes_prefixed_and_organization_trails() {
    let k = "my prefix/AWSLogs/o-abc123/123456789012/CloudTrail/eu-west-1/2024/01/02/f.json.gz";
    assert_eq!(key(&both(), k), "cloudtrail");
    let k = "logs/AWSLogs/o-abc123/123456789012/CloudTrail-Digest/eu-west-1/2024/01/02/f.json.gz";
    assert_eq!(key(&both(), k), "digest");
}

#[test]
fn skips_everything_else() {
    assert_eq!(key(&both(), ""), "other");
    assert_eq!(key(&both(), "AWSLogs/123/CloudTrail/"), "other");
    assert_eq!(key(&both(), "AWSLogs/123/Config/us-east-1/2024/01/01/x.json.gz"), "other");
    assert_eq!(key(&both(), "CloudTrail/us-east-1/x.json.gz"), "other", "no AWSLogs segment");
    assert_eq!(key(&both(), "logs/CloudTrail/us-east-1/x.json.gz"), "other", "no AWSLogs segment");
    assert_eq!(key(&both(), "x/CloudTrail/AWSLogs/1/f.json.gz"), "other", "a kind before AWSLogs is not one");
    assert_eq!(key(&both(), "AWSLogs/123/CloudTrail"), "other", "the file name is not a kind");
    assert_eq!(key(&both(), "AWSLogs/123/vpcflowlogs/CloudTrailx/f.gz"), "other");
}

#[test]
fn access_log_files_are_recognised_by_their_names_in_both_formats() {
    for k in [
        "logs/2019-02-06-00-00-38-5D0B2D2D4D2E8CE5",
        "s3-access/mybucket2024-08-01-13-05-59-ABCDEF0123456789",
        "logs/111122223333/us-east-1/amzn-s3-demo-bucket1/2024/08/01/2024-08-01-13-05-59-ABCDEF0123456789",
        "2024-08-01-13-05-59-ABCDEF0123456789.gz",
    ] {
        assert_eq!(key(&both(), k), "s3access", "{k}");
    }
    for k in [
        "logs/2019-02-06-00-00-38-5D0B2D2D4D2E8CE",
        "logs/2019-02-06-00-00-38-5D0B2D2D4D2E8CE_",
        "logs/2019-02-06T00-00-38-5D0B2D2D4D2E8CE5",
        "AWSLogs/1/CloudTrail/us-east-1/2024/08/01/2024-08-01-13-05-59-ABCDEF0123456789",
    ] {
        assert_ne!(key(&both(), k), "s3access", "{k}");
    }
}

#[test]
fn forced_access_prefixes_take_only_keys_that_would_be_skipped() {
    let router = forcing(&["s3-logs/", "copied/access"]);
    assert_eq!(key(&router, "s3-logs/mybucket/2024-08-01.log"), "s3access");
    assert_eq!(key(&router, "copied/access-2024.txt.gz"), "s3access");
    assert_eq!(key(&router, "s3-logs/"), "other", "a folder marker");
    assert_eq!(key(&router, "other/x.log"), "other");
    let trail = "s3-logs/AWSLogs/1/CloudTrail/us-east-1/2024/08/01/1_CloudTrail_us-east-1_x.json.gz";
    assert_eq!(key(&router, trail), "cloudtrail", "cloudtrail routing is unchanged");
    let digest = "s3-logs/AWSLogs/1/CloudTrail-Digest/us-east-1/2024/08/01/d.json.gz";
    assert_eq!(key(&router, digest), "digest");
    assert_eq!(key(&both(), "s3-logs/mybucket/2024-08-01.log"), "other");
}

#[test]
fn local_paths_route_like_keys_under_awslogs_and_skip_only_digests_elsewhere() {
    assert_eq!(path(&both(), "/tmp/logs/2024-08-01-13-05-59-ABCDEF0123456789"), "s3access", "named like an access log");
    assert_eq!(path(&both(), "/m/AWSLogs/1/Config/2024-08-01-13-05-59-ABCDEF0123456789"), "other");
    assert_eq!(path(&both(), "/tmp/download.json"), "cloudtrail");
    assert_eq!(path(&both(), "/tmp/CloudTrail-Digest/d.json.gz"), "digest");
    let synced = "/srv/mirror/AWSLogs/111122223333";
    for (rest, kind) in [
        ("CloudTrail/us-east-1/2024/01/01/f.json.gz", "cloudtrail"),
        ("Config/us-east-1/2024/1/1/ConfigSnapshot/x.json.gz", "other"),
        ("vpcflowlogs/us-east-1/2024/01/01/x.log.gz", "other"),
        ("elasticloadbalancing/us-east-1/2024/01/01/x.log.gz", "other"),
        ("CloudTrail-Digest/us-east-1/2024/01/01/d.json.gz", "digest"),
    ] {
        assert_eq!(path(&both(), &format!("{synced}/{rest}")), kind, "{rest}");
    }
    assert_eq!(path(&both(), "/m/AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/01/d.json.gz"), "digest");
    assert_eq!(path(&both(), "/m/AWSLogs/1/CloudTrail-Insight/us-east-1/2024/01/01/i.json.gz"), "insight");
}
