//! The worker's periodic trend pass: every `trends.interval_minutes`, the days indexed into
//! since the last pass ([`Touched`]), yesterday and today are recomputed for
//! every kind of trends. A day that fails is kept for the next pass.

use crate::index::client::Client;
use crate::touched::Touched;
use crate::trends::{Spec, compute};
use chrono::{Days, NaiveDate, Utc};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Runs a pass every `interval` until `stop` is cancelled.
pub fn spawn_trends(
    client: Client,
    specs: Vec<Spec>,
    touched: Touched,
    interval: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if !super::waited(interval, &stop).await {
                return;
            }
            let mut days = touched.take_days();
            let today = Utc::now().date_naive();
            days.extend([today, today - Days::new(1)]);
            tokio::select! {
                _ = run_pass(&client, &specs, &touched, days.clone()) => {}
                _ = stop.cancelled() => {
                    // Stopped part-way: the days go back, for `run --drain`'s last pass.
                    touched.give_back_days(days);
                    return;
                }
            }
        }
    })
}

/// Recomputes `days` for every spec, logging one line per spec; failed days are given back.
pub async fn run_pass(client: &Client, specs: &[Spec], touched: &Touched, days: BTreeSet<NaiveDate>) {
    let started = std::time::Instant::now();
    for spec in specs {
        let report = compute::pass(client, spec, days.iter().copied()).await;
        for e in &report.failed {
            tracing::warn!(kind = spec.name(), day = %e.day, error = %e.message, "trend day not recomputed; kept for the next pass");
        }
        touched.give_back_days(report.failed.iter().map(|e| e.day));
        tracing::info!(
            kind = spec.name(),
            days = report.days,
            written = report.written,
            deleted = report.deleted,
            events = report.events,
            secs = started.elapsed().as_secs_f64(),
            "trends recomputed"
        );
    }
}
