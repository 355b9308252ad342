//! The `[s3access]` section: the indices of S3 server access log records, the key prefixes
//! whose objects are access logs whatever their names, and the oldest plausible day.

use super::opensearch::OpenSearchConfig;
use super::values::{ConfigError, validate_index_name};
use super::values::{StringList, day, non_empty};
use serde::Deserialize;

/// S3 server access logs (routed by their file names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3AccessConfig {
    /// Daily indices are `{index_prefix}-YYYY.MM.DD`.
    pub index_prefix: String,
    /// Keys under these prefixes are access logs whatever their names (`s3access.prefixes`).
    pub prefixes: Vec<String>,
    /// Access log records before this day (UTC, as `YYYY.MM.DD`) are dead-lettered.
    pub oldest_event_day: [u8; 10],
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawS3Access {
    index_prefix: Option<String>,
    prefixes: Option<StringList>,
    oldest_event_date: Option<String>,
}

impl RawS3Access {
    /// Validated against the event and dead-letter indices it must stay apart from.
    pub(super) fn validate(self, opensearch: &OpenSearchConfig) -> Result<S3AccessConfig, ConfigError> {
        let access_prefix = non_empty(self.index_prefix).unwrap_or_else(|| "s3access".to_owned());
        validate_index_name("s3access.index_prefix", &access_prefix)?;
        if access_prefix == opensearch.index_prefix
            || opensearch.deadletter_index.starts_with(&format!("{access_prefix}-"))
        {
            return Err(ConfigError::new(
                "s3access.index_prefix",
                format!(
                    "{access_prefix:?} must differ from opensearch.index_prefix and not hold the dead-letter index"
                ),
            ));
        }
        let access_prefixes = self.prefixes.map(StringList::into_vec).unwrap_or_default();
        let oldest_event_day = day("s3access.oldest_event_date", self.oldest_event_date, *b"2006.03.01")?;
        Ok(S3AccessConfig { index_prefix: access_prefix, prefixes: access_prefixes, oldest_event_day })
    }
}
