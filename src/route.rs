//! Key routing: decides from an S3 key (or a local path) whether an object is a CloudTrail log
//! to index, a digest file to skip, or something else to skip. Pure; no I/O.
//!
//! CloudTrail writes `[prefix/]AWSLogs/[org-id/]<account>/<kind>/<region>/<yyyy>/<mm>/<dd>/<file>`,
//! where `<kind>` is `CloudTrail`, `CloudTrail-Insight` or `CloudTrail-Digest`. The routing looks
//! for the first such segment after an `AWSLogs` segment, so custom prefixes and organization
//! trails route the same way. File names are not trusted (gzip is sniffed by the decoder).

/// What an object is, as far as trailship cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// A CloudTrail log file (`CloudTrail/`): indexed.
    CloudTrail,
    /// A CloudTrail Insights file (`CloudTrail-Insight/`): indexed; its records carry
    /// `eventCategory: Insight`.
    Insight,
    /// A digest file (`CloudTrail-Digest/`): integrity proofs, not events; skipped.
    Digest,
    /// An S3 server access log file (named `…YYYY-MM-DD-HH-MM-SS-<16 alphanumerics>`): indexed
    /// into the access log indices.
    S3Access,
    /// Anything else (folder markers, other services' logs, stray files): skipped.
    Other,
}

impl LogKind {
    /// Whether objects of this kind hold CloudTrail records to index.
    pub fn is_indexed(self) -> bool {
        matches!(self, LogKind::CloudTrail | LogKind::Insight | LogKind::S3Access)
    }

    /// A short lowercase name for logs and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::CloudTrail => "cloudtrail",
            LogKind::Insight => "insight",
            LogKind::Digest => "digest",
            LogKind::S3Access => "s3access",
            LogKind::Other => "other",
        }
    }
}

/// Whether a key ends like an S3 server access log file: `YYYY-MM-DD-HH-MM-SS-` and 16
/// alphanumerics (the simple format `<prefix><name>` and the date-partitioned one
/// `<prefix><account>/<region>/<bucket>/YYYY/MM/DD/<name>` alike), optionally `.gz`.
pub fn is_access_log_name(key: &str) -> bool {
    let name = key.strip_suffix(".gz").unwrap_or(key).as_bytes();
    if name.len() < 36 {
        return false;
    }
    let tail = &name[name.len() - 36..];
    let (stamp, unique) = tail.split_at(20);
    let digits_at = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    stamp.iter().enumerate().all(|(i, b)| if digits_at.contains(&i) { b.is_ascii_digit() } else { *b == b'-' })
        && unique.iter().all(u8::is_ascii_alphanumeric)
}

/// Classifies an S3 key (already URL-decoded).
pub fn classify_key(key: &str) -> LogKind {
    if key.is_empty() || key.ends_with('/') {
        return LogKind::Other;
    }
    let mut segments = key.split('/');
    if !segments.any(|s| s == "AWSLogs") {
        return if is_access_log_name(key) { LogKind::S3Access } else { LogKind::Other };
    }
    // The file name itself is never the kind segment.
    let rest: Vec<&str> = segments.collect();
    let dirs = &rest[..rest.len().saturating_sub(1)];
    dirs.iter().map(|s| kind_of_segment(s)).find(|k| *k != LogKind::Other).unwrap_or(LogKind::Other)
}

/// Classifies a local file for `trailship ingest`. Under an `AWSLogs` directory (a synced
/// bucket) a path routes exactly like the key it mirrors: Config, VPC flow logs, ELB logs and
/// digests are skipped as the worker skips them. Elsewhere any file is a candidate (people
/// ingest downloads with arbitrary names), except under a `CloudTrail-Digest` directory.
pub fn classify_local_path(path: &std::path::Path) -> LogKind {
    let parts: Vec<&str> = path.components().filter_map(|c| c.as_os_str().to_str()).collect();
    if let Some(i) = parts.iter().rposition(|p| *p == "AWSLogs") {
        return classify_key(&parts[i..].join("/"));
    }
    if is_access_log_name(parts.last().copied().unwrap_or_default()) {
        return LogKind::S3Access;
    }
    let mut kind = LogKind::CloudTrail;
    for segment in &parts[..parts.len().saturating_sub(1)] {
        let k = kind_of_segment(segment);
        if k != LogKind::Other {
            kind = k;
        }
    }
    kind
}

fn kind_of_segment(segment: &str) -> LogKind {
    match segment {
        "CloudTrail" => LogKind::CloudTrail,
        "CloudTrail-Insight" => LogKind::Insight,
        "CloudTrail-Digest" => LogKind::Digest,
        _ => LogKind::Other,
    }
}

/// Key routing with the configuration's additions: keys under `s3access.prefixes` that the
/// default routing would skip are access logs too (for log files renamed or copied by other
/// tools). A forced prefix never takes a CloudTrail, Insights or digest key away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Router {
    /// `s3access.prefixes`.
    pub access_prefixes: Vec<String>,
}

impl Router {
    /// Classifies an S3 key (already URL-decoded): [`classify_key`], then the forced prefixes.
    pub fn classify_key(&self, key: &str) -> LogKind {
        match classify_key(key) {
            LogKind::Other if !key.ends_with('/') && self.forces(key) => LogKind::S3Access,
            kind => kind,
        }
    }

    fn forces(&self, key: &str) -> bool {
        self.access_prefixes.iter().any(|p| key.starts_with(p.as_str()))
    }
}

/// Which buckets and key prefixes the worker may read (`sqs.allowed_buckets`,
/// `sqs.allowed_prefixes`); an empty list allows any. A notification naming anything else is
/// never fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    /// Bucket names.
    pub buckets: Vec<String>,
    /// Key prefixes.
    pub prefixes: Vec<String>,
}

impl Allowlist {
    /// Whether `bucket`/`key` may be read.
    pub fn allows(&self, bucket: &str, key: &str) -> bool {
        (self.buckets.is_empty() || self.buckets.iter().any(|b| b == bucket))
            && (self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn routes_standard_trail_keys() {
        let k = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T1335Z_abc.json.gz";
        assert_eq!(classify_key(k), LogKind::CloudTrail);
        let k = "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/08/01/x.json.gz";
        assert_eq!(classify_key(k), LogKind::Insight);
        let k = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/08/01/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240801T133500Z.json.gz";
        assert_eq!(classify_key(k), LogKind::Digest);
    }

    #[test]
    fn routes_prefixed_and_organization_trails() {
        let k = "my prefix/AWSLogs/o-abc123/123456789012/CloudTrail/eu-west-1/2024/01/02/f.json.gz";
        assert_eq!(classify_key(k), LogKind::CloudTrail);
        let k = "logs/AWSLogs/o-abc123/123456789012/CloudTrail-Digest/eu-west-1/2024/01/02/f.json.gz";
        assert_eq!(classify_key(k), LogKind::Digest);
    }

    #[test]
    fn skips_everything_else() {
        assert_eq!(classify_key(""), LogKind::Other);
        assert_eq!(classify_key("AWSLogs/123/CloudTrail/"), LogKind::Other);
        assert_eq!(classify_key("AWSLogs/123/Config/us-east-1/2024/01/01/x.json.gz"), LogKind::Other);
        assert_eq!(classify_key("CloudTrail/us-east-1/x.json.gz"), LogKind::Other, "no AWSLogs segment");
        assert_eq!(classify_key("AWSLogs/123/CloudTrail"), LogKind::Other, "the file name is not a kind");
        assert_eq!(classify_key("AWSLogs/123/vpcflowlogs/CloudTrailx/f.gz"), LogKind::Other);
    }

    #[test]
    fn access_log_files_are_recognised_by_their_names_in_both_formats() {
        for key in [
            "logs/2019-02-06-00-00-38-5D0B2D2D4D2E8CE5",
            "s3-access/mybucket2024-08-01-13-05-59-ABCDEF0123456789",
            "logs/111122223333/us-east-1/amzn-s3-demo-bucket1/2024/08/01/2024-08-01-13-05-59-ABCDEF0123456789",
            "2024-08-01-13-05-59-ABCDEF0123456789.gz",
        ] {
            assert_eq!(classify_key(key), LogKind::S3Access, "{key}");
        }
        for key in [
            "logs/2019-02-06-00-00-38-5D0B2D2D4D2E8CE",
            "logs/2019-02-06-00-00-38-5D0B2D2D4D2E8CE_",
            "logs/2019-02-06T00-00-38-5D0B2D2D4D2E8CE5",
            "AWSLogs/1/CloudTrail/us-east-1/2024/08/01/2024-08-01-13-05-59-ABCDEF0123456789",
        ] {
            assert_ne!(classify_key(key), LogKind::S3Access, "{key}");
        }
    }

    #[test]
    fn forced_access_prefixes_take_only_keys_that_would_be_skipped() {
        let router = Router { access_prefixes: vec!["s3-logs/".into(), "copied/access".into()] };
        assert_eq!(router.classify_key("s3-logs/mybucket/2024-08-01.log"), LogKind::S3Access);
        assert_eq!(router.classify_key("copied/access-2024.txt.gz"), LogKind::S3Access);
        assert_eq!(router.classify_key("s3-logs/"), LogKind::Other, "a folder marker");
        assert_eq!(router.classify_key("other/x.log"), LogKind::Other);
        let trail = "s3-logs/AWSLogs/1/CloudTrail/us-east-1/2024/08/01/1_CloudTrail_us-east-1_x.json.gz";
        assert_eq!(router.classify_key(trail), LogKind::CloudTrail, "cloudtrail routing is unchanged");
        let digest = "s3-logs/AWSLogs/1/CloudTrail-Digest/us-east-1/2024/08/01/d.json.gz";
        assert_eq!(router.classify_key(digest), LogKind::Digest);
        assert_eq!(Router::default().classify_key("s3-logs/mybucket/2024-08-01.log"), LogKind::Other);
        assert_eq!(Router::default().classify_key(trail), classify_key(trail));
    }

    #[test]
    fn local_paths_route_like_keys_under_awslogs_and_skip_only_digests_elsewhere() {
        assert_eq!(classify_local_path(Path::new("/tmp/download.json")), LogKind::CloudTrail);
        assert_eq!(classify_local_path(Path::new("/tmp/CloudTrail-Digest/d.json.gz")), LogKind::Digest);
        let synced = "/srv/mirror/AWSLogs/111122223333";
        for (rest, kind) in [
            ("CloudTrail/us-east-1/2024/01/01/f.json.gz", LogKind::CloudTrail),
            ("Config/us-east-1/2024/1/1/ConfigSnapshot/x.json.gz", LogKind::Other),
            ("vpcflowlogs/us-east-1/2024/01/01/x.log.gz", LogKind::Other),
            ("elasticloadbalancing/us-east-1/2024/01/01/x.log.gz", LogKind::Other),
            ("CloudTrail-Digest/us-east-1/2024/01/01/d.json.gz", LogKind::Digest),
        ] {
            assert_eq!(classify_local_path(Path::new(&format!("{synced}/{rest}"))), kind, "{rest}");
        }
        assert_eq!(
            classify_local_path(Path::new("/m/AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/01/d.json.gz")),
            LogKind::Digest
        );
        assert_eq!(
            classify_local_path(Path::new("/m/AWSLogs/1/CloudTrail-Insight/us-east-1/2024/01/01/i.json.gz")),
            LogKind::Insight
        );
        assert!(LogKind::Insight.is_indexed() && !LogKind::Digest.is_indexed());
    }

    #[test]
    fn the_allowlist_takes_listed_buckets_and_prefixes_only() {
        let any = Allowlist::default();
        assert!(any.allows("b", "k"));
        let list = Allowlist { buckets: vec!["trail".into()], prefixes: vec!["AWSLogs/o-1/".into(), "logs/".into()] };
        assert!(list.allows("trail", "AWSLogs/o-1/111122223333/CloudTrail/x.json.gz"));
        assert!(list.allows("trail", "logs/AWSLogs/1/CloudTrail/x.json.gz"));
        assert!(!list.allows("trail", "AWSLogs/o-2/1/CloudTrail/x.json.gz"));
        assert!(!list.allows("other", "logs/AWSLogs/1/CloudTrail/x.json.gz"));
        assert!(!list.allows("trail2", "logs/x"), "a bucket name is matched whole");
    }
}
