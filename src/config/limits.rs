//! The `[limits]` section: the memory budget, the record, inflation and time caps of one
//! object, and CloudTrail's plausible event days.

use super::values::ConfigError;
use super::values::{day, int_in, secs};
use serde::Deserialize;
use std::time::Duration;

/// A mebibyte.
pub const MIB: usize = 1 << 20;

/// What one worker may use, whatever arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// The process's memory budget: record and batch buffers are reserved from it.
    pub memory_bytes: usize,
    /// A record larger than this is dead-lettered (with a truncated copy) and skipped.
    pub max_record_bytes: usize,
    /// An object that inflates to more than this fails (a gzip bomb stops here).
    pub max_decompressed_bytes: u64,
    /// An object that takes longer than this to fetch, decode and index fails.
    pub max_object_time: Duration,
    /// CloudTrail events before this day (UTC, as `YYYY.MM.DD`) are dead-lettered.
    pub oldest_event_day: [u8; 10],
    /// Events more than this many days after today are dead-lettered.
    pub event_days_ahead: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLimits {
    memory_mb: Option<i64>,
    max_record_bytes: Option<i64>,
    max_decompressed_bytes: Option<i64>,
    max_object_seconds: Option<i64>,
    oldest_event_date: Option<String>,
    event_days_ahead: Option<i64>,
}

impl RawLimits {
    pub(super) fn validate(self) -> Result<LimitsConfig, ConfigError> {
        let l = self;
        Ok(LimitsConfig {
            memory_bytes: int_in("limits.memory_mb", l.memory_mb, 256, 64, 1 << 20)? as usize * MIB,
            max_record_bytes: int_in("limits.max_record_bytes", l.max_record_bytes, 4 << 20, 64 << 10, 256 << 20)?
                as usize,
            max_decompressed_bytes: int_in(
                "limits.max_decompressed_bytes",
                l.max_decompressed_bytes,
                2 << 30,
                1 << 20,
                1 << 50,
            )? as u64,
            max_object_time: secs(int_in("limits.max_object_seconds", l.max_object_seconds, 900, 1, 86_400)?),
            oldest_event_day: day("limits.oldest_event_date", l.oldest_event_date, *b"2013.01.01")?,
            event_days_ahead: int_in("limits.event_days_ahead", l.event_days_ahead, 1, 0, 3650)? as u32,
        })
    }
}
