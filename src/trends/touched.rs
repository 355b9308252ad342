//! The days indexed into since the last trend pass: every indexed object adds the days from its
//! oldest to its newest event; the worker's periodic pass and `backfill`'s last step take them.
//! One [`TouchedDays`] per command, in memory, handed to what indexes and to what recomputes: a
//! restart loses it, and the pass also always recomputes yesterday and today.

use chrono::{DateTime, NaiveDate};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Days a span of events covers at most (a file of events from many years is spread out by
/// the decoder's window anyway; this keeps a stray one from adding thousands of days).
const MAX_SPAN_DAYS: i64 = 400;

/// The days indexed into and not yet recomputed; clones share the set.
#[derive(Debug, Clone, Default)]
pub struct TouchedDays(Arc<Mutex<BTreeSet<NaiveDate>>>);

impl TouchedDays {
    /// Records the days from `oldest` to `newest` (Unix seconds) as indexed into.
    pub fn record(&self, oldest: Option<i64>, newest: Option<i64>) {
        let (Some(oldest), Some(newest)) = (oldest.and_then(day), newest.and_then(day)) else { return };
        let mut days = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let start = if (newest - oldest).num_days() > MAX_SPAN_DAYS { newest } else { oldest };
        for d in start.iter_days().take_while(|d| *d <= newest) {
            days.insert(d);
        }
        days.insert(oldest);
    }

    /// Takes the days recorded so far.
    pub fn take(&self) -> BTreeSet<NaiveDate> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Gives back days a pass could not finish, for the next one.
    pub fn give_back(&self, days: impl IntoIterator<Item = NaiveDate>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend(days);
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
        let touched = TouchedDays::default();
        let at = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let secs = |d: &str| at(d).and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp();
        touched.clone().record(Some(secs("2024-07-30")), Some(secs("2024-08-01")));
        assert_eq!(touched.take(), [at("2024-07-30"), at("2024-07-31"), at("2024-08-01")].into());
        assert!(touched.take().is_empty());
        touched.give_back([at("2024-08-01")]);
        // A span over the cap records its ends only.
        touched.record(Some(secs("2020-01-01")), Some(secs("2024-08-02")));
        assert_eq!(touched.take(), [at("2020-01-01"), at("2024-08-01"), at("2024-08-02")].into());
    }
}
