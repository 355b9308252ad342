//! The `[anomalies]` section: the built-in behavioural detections (`anomalies.enabled`) and
//! their knobs: how much history makes a baseline, how far back "new" looks, and how far above
//! its baseline a burst must be.

use super::values::{ConfigError, duration_in, int_in};
use serde::Deserialize;
use std::time::Duration;

/// The behavioural detections.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomaliesConfig {
    /// Whether they run (independent of `detect.builtin`).
    pub enabled: bool,
    /// An identity (or account) is learnt for this many days before what is new to it is a
    /// finding.
    pub learning_days: u32,
    /// How far back "never seen before" looks.
    pub history_days: u32,
    /// A country or network is new to an identity only after this many events of it…
    pub place_min_events: u64,
    /// …over at least this many days.
    pub place_min_days: u32,
    /// The window of error bursts and volume spikes.
    pub burst_window: Duration,
    /// The trailing baseline of bursts and spikes, in days.
    pub baseline_days: u32,
    /// A burst is at least this many times its baseline…
    pub burst_factor: u32,
    /// …and at least this many failed calls (error bursts)…
    pub error_floor: u64,
    /// …or calls of one write API (volume spikes).
    pub volume_floor: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAnomalies {
    enabled: Option<bool>,
    learning_days: Option<i64>,
    history_days: Option<i64>,
    place_min_events: Option<i64>,
    place_min_days: Option<i64>,
    burst_window: Option<String>,
    baseline_days: Option<i64>,
    burst_factor: Option<i64>,
    error_floor: Option<i64>,
    volume_floor: Option<i64>,
}

impl RawAnomalies {
    pub(super) fn validate(self) -> Result<AnomaliesConfig, ConfigError> {
        let minute = Duration::from_secs(60);
        let burst_window =
            duration_in("anomalies.burst_window", self.burst_window, 5 * minute, minute, Duration::from_secs(3600))?;
        if 3600 % burst_window.as_secs() != 0 {
            return Err(ConfigError::new("anomalies.burst_window", "must divide an hour (1m, 5m, 10m, 15m, 30m, 1h)"));
        }
        let learning_days = int_in("anomalies.learning_days", self.learning_days, 14, 1, 365)? as u32;
        let history_days = int_in("anomalies.history_days", self.history_days, 90, 1, 3650)? as u32;
        if history_days < learning_days {
            return Err(ConfigError::new("anomalies.history_days", "must be at least anomalies.learning_days"));
        }
        Ok(AnomaliesConfig {
            enabled: self.enabled.unwrap_or(true),
            learning_days,
            history_days,
            place_min_events: int_in("anomalies.place_min_events", self.place_min_events, 20, 1, 1_000_000)? as u64,
            place_min_days: int_in("anomalies.place_min_days", self.place_min_days, 7, 1, 365)? as u32,
            burst_window,
            baseline_days: int_in("anomalies.baseline_days", self.baseline_days, 7, 1, 90)? as u32,
            burst_factor: int_in("anomalies.burst_factor", self.burst_factor, 10, 2, 1000)? as u32,
            error_floor: int_in("anomalies.error_floor", self.error_floor, 20, 2, 1_000_000)? as u64,
            volume_floor: int_in("anomalies.volume_floor", self.volume_floor, 50, 2, 1_000_000)? as u64,
        })
    }
}
