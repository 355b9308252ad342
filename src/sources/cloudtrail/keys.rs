//! Which keys and local files are CloudTrail's: the first `CloudTrail`, `CloudTrail-Insight` or
//! `CloudTrail-Digest` directory after an `AWSLogs` segment. Pure.

use crate::sources::unit::Claim;

/// What a directory segment of a trail's key says.
fn kind_of_segment(segment: &str) -> Claim {
    match segment {
        "CloudTrail" => Claim::Index("cloudtrail"),
        "CloudTrail-Insight" => Claim::Index("insight"),
        "CloudTrail-Digest" => Claim::Skip("digest"),
        _ => Claim::No,
    }
}

/// What an S3 key (URL-decoded) is to CloudTrail: the first kind segment after `AWSLogs`.
pub fn claim_key(key: &str) -> Claim {
    if key.is_empty() || key.ends_with('/') {
        return Claim::No;
    }
    let mut segments = key.split('/');
    if !segments.any(|s| s == "AWSLogs") {
        return Claim::No;
    }
    // The file name itself is never the kind segment.
    let rest: Vec<&str> = segments.collect();
    let dirs = &rest[..rest.len().saturating_sub(1)];
    dirs.iter().map(|s| kind_of_segment(s)).find(|k| *k != Claim::No).unwrap_or(Claim::No)
}

/// What a local file is to CloudTrail. Under an `AWSLogs` directory (a synced bucket) a path
/// routes exactly like the key it mirrors. Elsewhere any file may be a trail (people ingest
/// downloads with arbitrary names), except under a `CloudTrail-Digest` directory.
pub fn claim_path(parts: &[&str]) -> Claim {
    if let Some(i) = parts.iter().rposition(|p| *p == "AWSLogs") {
        return claim_key(&parts[i..].join("/"));
    }
    let mut claim = Claim::Fallback;
    for segment in &parts[..parts.len().saturating_sub(1)] {
        let k = kind_of_segment(segment);
        if k != Claim::No {
            claim = k;
        }
    }
    claim
}
