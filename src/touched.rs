//! The days and hours indexed into since the last pass: every indexed object adds the days and
//! hours from its oldest to its newest event; the worker's periodic passes (trends by day,
//! findings by hour) and the indexing commands' last step take them. One [`Touched`] per
//! command, in memory, handed to what indexes and to what recomputes: a restart loses it, and
//! the passes also always recompute the latest days and hours.

use chrono::{DateTime, NaiveDate};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Days a span of events covers at most (a file of events from many years is spread out by
/// the decoder's window anyway; this keeps a stray one from adding thousands of days).
const MAX_SPAN_DAYS: i64 = 400;

/// Seconds in an hour.
const HOUR: i64 = 3600;

/// The days and hours indexed into and not yet recomputed; clones share the sets.
#[derive(Debug, Clone, Default)]
pub struct Touched {
    days: Arc<Mutex<BTreeSet<NaiveDate>>>,
    /// Hour starts, as Unix seconds.
    hours: Arc<Mutex<BTreeSet<i64>>>,
}

impl Touched {
    /// Records the days and hours from `oldest` to `newest` (Unix seconds) as indexed into.
    pub fn record(&self, oldest: Option<i64>, newest: Option<i64>) {
        let (Some(oldest_secs), Some(newest_secs)) = (oldest, newest) else { return };
        let (Some(oldest), Some(newest)) = (day(oldest_secs), day(newest_secs)) else { return };
        let whole = (newest - oldest).num_days() <= MAX_SPAN_DAYS;
        {
            let mut days = self.days.lock().unwrap_or_else(|e| e.into_inner());
            let start = if whole { oldest } else { newest };
            days.extend(start.iter_days().take_while(|d| *d <= newest));
            days.insert(oldest);
        }
        let mut hours = self.hours.lock().unwrap_or_else(|e| e.into_inner());
        let (first, last) = (oldest_secs.div_euclid(HOUR) * HOUR, newest_secs.div_euclid(HOUR) * HOUR);
        let start = if whole { first } else { last };
        hours.extend((start..=last).step_by(HOUR as usize));
        hours.insert(first);
    }

    /// Takes the days recorded so far.
    pub fn take_days(&self) -> BTreeSet<NaiveDate> {
        std::mem::take(&mut *self.days.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Gives back days a pass could not finish, for the next one.
    pub fn give_back_days(&self, days: impl IntoIterator<Item = NaiveDate>) {
        self.days.lock().unwrap_or_else(|e| e.into_inner()).extend(days);
    }

    /// Takes the hours recorded so far (their starts, Unix seconds).
    pub fn take_hours(&self) -> BTreeSet<i64> {
        std::mem::take(&mut *self.hours.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Gives back hours a pass could not finish, for the next one.
    pub fn give_back_hours(&self, hours: impl IntoIterator<Item = i64>) {
        self.hours.lock().unwrap_or_else(|e| e.into_inner()).extend(hours);
    }
}

fn day(secs: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp(secs, 0).map(|t| t.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_recorded_taken_once_and_given_back() {
        let touched = Touched::default();
        let at = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let secs = |d: &str| at(d).and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp();
        touched.clone().record(Some(secs("2024-07-30")), Some(secs("2024-08-01")));
        assert_eq!(touched.take_days(), [at("2024-07-30"), at("2024-07-31"), at("2024-08-01")].into());
        assert!(touched.take_days().is_empty());
        touched.give_back_days([at("2024-08-01")]);
        // A span over the cap records its ends only.
        touched.record(Some(secs("2020-01-01")), Some(secs("2024-08-02")));
        assert_eq!(touched.take_days(), [at("2020-01-01"), at("2024-08-01"), at("2024-08-02")].into());
    }

    #[test]
    fn hours_are_recorded_from_the_oldest_to_the_newest_event() {
        let touched = Touched::default();
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
        touched.record(Some(t("2024-08-01T10:59:59Z")), Some(t("2024-08-01T12:00:00Z")));
        let hours: Vec<i64> = touched.take_hours().into_iter().collect();
        assert_eq!(hours, [t("2024-08-01T10:00:00Z"), t("2024-08-01T11:00:00Z"), t("2024-08-01T12:00:00Z")]);
        assert_eq!(touched.take_days().len(), 1, "the days are kept apart");
        touched.give_back_hours([t("2024-08-01T12:00:00Z")]);
        assert_eq!(touched.take_hours().len(), 1);
        touched.record(None, Some(t("2024-08-01T12:00:00Z")));
        assert!(touched.take_hours().is_empty() && touched.take_days().is_empty(), "no events, no time");
    }
}
