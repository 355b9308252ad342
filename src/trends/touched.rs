//! The days indexed into since the last trend pass: every indexed object adds the days from its
//! oldest to its newest event; the worker's periodic pass and `backfill`'s last step take them.
//! One set per process, in memory: a restart loses it, and the pass also always recomputes
//! yesterday and today.

use chrono::{DateTime, NaiveDate};
use std::collections::BTreeSet;
use std::sync::Mutex;

static TOUCHED: Mutex<BTreeSet<NaiveDate>> = Mutex::new(BTreeSet::new());

/// Days a span of events covers at most (a file of events from many years is spread out by
/// the decoder's window anyway; this keeps a stray one from adding thousands of days).
const MAX_SPAN_DAYS: i64 = 400;

/// Records the days from `oldest` to `newest` (Unix seconds) as indexed into.
pub fn record(oldest: Option<i64>, newest: Option<i64>) {
    let (Some(oldest), Some(newest)) = (oldest.and_then(day), newest.and_then(day)) else { return };
    let mut days = TOUCHED.lock().unwrap_or_else(|e| e.into_inner());
    let start = if (newest - oldest).num_days() > MAX_SPAN_DAYS { newest } else { oldest };
    for d in start.iter_days().take_while(|d| *d <= newest) {
        days.insert(d);
    }
    days.insert(oldest);
}

/// Takes the days recorded so far.
pub fn take() -> BTreeSet<NaiveDate> {
    std::mem::take(&mut *TOUCHED.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Gives back days a pass could not finish, for the next one.
pub fn give_back(days: impl IntoIterator<Item = NaiveDate>) {
    TOUCHED.lock().unwrap_or_else(|e| e.into_inner()).extend(days);
}

fn day(secs: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp(secs, 0).map(|t| t.date_naive())
}
