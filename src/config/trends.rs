//! The `[trends]` section: how often the worker recomputes the daily trend aggregates
//! (`trends.interval_minutes`) and how long the yearly trend indices are kept
//! (`trends.retention_years`); and what the trend indices are called.

use super::values::ConfigError;
use super::values::int_in;
use serde::Deserialize;
use std::time::Duration;

/// Daily trend aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendsConfig {
    /// How often `run` recomputes the days it indexed into; `None` when off (0).
    pub interval: Option<Duration>,
    /// Years the trend indices are kept.
    pub retention_years: u32,
}

/// The prefix of the yearly trend indices of the event indices `{source_prefix}-*`:
/// `trailship-trends-{source_prefix}`, outside every `{prefix}-*` pattern of events, so that
/// `cloudtrail-*` and `s3access-*` hold events and nothing else.
pub fn trend_prefix(source_prefix: &str) -> String {
    format!("{TRENDS_NAMESPACE}{source_prefix}")
}

/// What every trend index name starts with.
pub const TRENDS_NAMESPACE: &str = "trailship-trends-";

/// The prefix the trend indices had before they left the event namespace: `{source_prefix}-trends`
/// (`setup` says how to move such indices).
pub fn former_trend_prefix(source_prefix: &str) -> String {
    format!("{source_prefix}-trends")
}

/// The trend indices of the sources (`trailship-trends-{source prefix}-YYYY`) must fall under
/// none of the configured `(key, prefix)` patterns `{prefix}-*` a user types, and the
/// dead-letter index must not fall under theirs.
pub(super) fn check_namespace(
    sources: [&str; 2],
    prefixes: [(&str, &str); 3],
    deadletter_index: &str,
) -> Result<(), ConfigError> {
    let trend_indices: Vec<String> = sources.iter().map(|p| format!("{}-", trend_prefix(p))).collect();
    for (key, prefix) in prefixes {
        let pattern = format!("{prefix}-");
        if prefix.starts_with(TRENDS_NAMESPACE) || trend_indices.iter().any(|t| t.starts_with(&pattern)) {
            let message = format!("{prefix:?}: {prefix}-* would hold the trend indices {TRENDS_NAMESPACE}*");
            return Err(ConfigError::new(key, message));
        }
    }
    if deadletter_index.starts_with(TRENDS_NAMESPACE) {
        let message = format!("{deadletter_index:?} would fall under the trend indices {TRENDS_NAMESPACE}*");
        return Err(ConfigError::new("opensearch.deadletter_index", message));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTrends {
    interval_minutes: Option<f64>,
    retention_years: Option<i64>,
}

impl RawTrends {
    pub(super) fn validate(self) -> Result<TrendsConfig, ConfigError> {
        let minutes = self.interval_minutes.unwrap_or(60.0);
        if !(minutes == 0.0 || (0.01..=7.0 * 24.0 * 60.0).contains(&minutes)) {
            return Err(ConfigError::new(
                "trends.interval_minutes",
                format!("must be 0 (off) or between 0.01 and 10080 minutes, got {minutes}"),
            ));
        }
        let years = int_in("trends.retention_years", self.retention_years, 7, 1, 100)?;
        Ok(TrendsConfig {
            interval: (minutes > 0.0).then(|| Duration::from_secs_f64(minutes * 60.0)),
            retention_years: years as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_may_be_a_fraction_of_a_minute_or_off() {
        let v = |m: Option<f64>| RawTrends { interval_minutes: m, retention_years: None }.validate();
        assert_eq!(v(None).unwrap(), TrendsConfig { interval: Some(Duration::from_secs(3600)), retention_years: 7 });
        assert_eq!(v(Some(0.0)).unwrap().interval, None);
        assert_eq!(v(Some(0.05)).unwrap().interval, Some(Duration::from_secs(3)));
        assert!(v(Some(-1.0)).unwrap_err().to_string().starts_with("trends.interval_minutes: must be 0"));
        assert!(v(Some(f64::NAN)).is_err());
        let years = RawTrends { interval_minutes: None, retention_years: Some(0) }.validate();
        assert_eq!(years.unwrap_err().key, "trends.retention_years");
    }
}
