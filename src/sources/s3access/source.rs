//! The access-log source as configured: its index names, event window, forced prefixes and
//! GeoIP, and which keys and local files are its own. Pure.

use crate::sources::output::EventWindow;
use crate::sources::unit::Claim;
use std::sync::Arc;

/// The plausible event times by default: from 2006-03-01 (Amazon S3 was launched in March 2006,
/// with server access logging) to one day ahead.
pub const WINDOW: EventWindow =
    EventWindow { oldest: *b"2006.03.01", oldest_key: "s3access.oldest_event_date", days_ahead: 1 };

/// The S3 server access log source.
#[derive(Debug, Clone)]
pub struct S3Access {
    /// Event index prefix (`s3access.index_prefix`).
    pub index_prefix: String,
    /// Plausible event times (`s3access.oldest_event_date`, `limits.event_days_ahead`).
    pub window: EventWindow,
    /// Keys under these prefixes are access logs whatever their names (`s3access.prefixes`).
    pub forced_prefixes: Vec<String>,
    /// GeoIP databases, when configured.
    pub geo: Option<Arc<crate::geo::GeoIp>>,
    /// Account names (`cloud.account.name`).
    pub accounts: crate::accounts::Accounts,
}

impl Default for S3Access {
    fn default() -> Self {
        S3Access {
            index_prefix: "s3access".into(),
            window: WINDOW,
            forced_prefixes: Vec::new(),
            geo: None,
            accounts: Default::default(),
        }
    }
}

/// Whether a key ends like an S3 server access log file: `YYYY-MM-DD-HH-MM-SS-` and 16
/// alphanumerics, optionally `.gz`.
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

impl S3Access {
    /// What an S3 key (URL-decoded) is to this source: a log named like one and not under
    /// `AWSLogs/`, or any key under a forced prefix.
    pub fn claim_key(&self, key: &str) -> Claim {
        if key.is_empty() || key.ends_with('/') {
            return Claim::No;
        }
        let under_awslogs = key.split('/').any(|s| s == "AWSLogs");
        let named = !under_awslogs && is_access_log_name(key);
        if named || self.forced_prefixes.iter().any(|p| key.starts_with(p.as_str())) {
            Claim::Index("s3access")
        } else {
            Claim::No
        }
    }

    /// What a local file is to this source: a log when named like one, outside `AWSLogs/`.
    pub fn claim_path(&self, parts: &[&str]) -> Claim {
        let under_awslogs = parts.contains(&"AWSLogs");
        if !under_awslogs && is_access_log_name(parts.last().copied().unwrap_or_default()) {
            Claim::Index("s3access")
        } else {
            Claim::No
        }
    }
}
