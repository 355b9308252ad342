//! Which objects the worker may read at all (`sqs.allowed_buckets`, `sqs.allowed_prefixes`),
//! checked before anything is fetched. Which log source an object belongs to is the sources'
//! business ([`crate::sources::Sources::route_key`]). Pure; no I/O.

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
