//! When the work on one object must stop: the shutdown's cancellation and the object's deadline
//! (`limits.max_object_seconds`), which time spent waiting for the indexers pushes back. Read by
//! the object's fetch ([`crate::fetch`]) and its decoding ([`crate::pipeline::object`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Why the work on an object stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The shutdown grace period is over.
    Cancelled,
    /// The object took longer than its limit.
    TimedOut(Duration),
}

/// When the work on one object must stop: at shutdown, or once fetching and decoding it took
/// longer than its limit. Time spent waiting for the indexers (a slow or blocked cluster) does
/// not count: it pushes the deadline back.
#[derive(Debug)]
pub struct Watch {
    /// Cancelled when the shutdown grace period is over.
    pub cancel: CancellationToken,
    /// When the work started.
    pub started: Instant,
    /// The time the work may take (`limits.max_object_seconds`).
    pub limit: Duration,
    /// Nanoseconds spent waiting for the indexers so far.
    waited: AtomicU64,
}

impl Watch {
    /// A watch with `limit` from now.
    pub fn new(cancel: CancellationToken, limit: Duration) -> Self {
        Watch { cancel, started: Instant::now(), limit, waited: AtomicU64::new(0) }
    }

    /// The deadline now.
    pub fn deadline(&self) -> Instant {
        self.started + self.limit + Duration::from_nanos(self.waited.load(Ordering::Relaxed))
    }

    /// Pushes the deadline back by `waited`, spent waiting for the indexers.
    pub fn waited(&self, waited: Duration) {
        self.waited.fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }

    /// `Err` once cancelled or past the deadline.
    pub fn check(&self) -> Result<(), Stop> {
        if self.cancel.is_cancelled() {
            return Err(Stop::Cancelled);
        }
        if Instant::now() >= self.deadline() {
            return Err(Stop::TimedOut(self.limit));
        }
        Ok(())
    }
}
