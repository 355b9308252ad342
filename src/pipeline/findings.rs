//! The worker's periodic findings pass: every `alerts.pass_interval`, the hours indexed into
//! since the last pass ([`Touched`]), the current hour and the one before are recomputed
//! ([`crate::findings::pass`]). Hours of a range that fails are kept for the next pass.

use crate::findings::Settings;
use crate::findings::pass::{self, Announce, PassReport};
use crate::index::client::Client;
use crate::touched::Touched;
use crate::webhooks::Outbox;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where a pass announces what it creates: the webhooks' outbox and `alerts.max_notify_age`.
#[derive(Debug, Clone)]
pub struct Notify {
    /// The outbox, when webhooks are configured.
    pub outbox: Option<Outbox>,
    /// `alerts.max_notify_age`.
    pub max_age: Duration,
}

impl Notify {
    fn announce(&self) -> Option<Announce> {
        let outbox = self.outbox.clone()?;
        Some(Announce { outbox, now: chrono::Utc::now().timestamp(), max_age: self.max_age.as_secs() as i64 })
    }
}

/// Runs a pass every `interval` until `stop` is cancelled.
pub fn spawn_findings(
    client: Client,
    settings: Settings,
    touched: Touched,
    (interval, notify): (Duration, Notify),
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if !super::waited(interval, &stop).await {
                return;
            }
            let mut hours = touched.take_hours();
            // The latest hours always: what a restart lost, what arrived late.
            let now = chrono::Utc::now().timestamp().div_euclid(3600) * 3600;
            hours.extend([now, now - 3600]);
            tokio::select! {
                _ = run_pass(&client, &settings, &touched, hours.clone(), &notify) => {}
                _ = stop.cancelled() => {
                    // Stopped part-way: the hours go back, for `run --drain`'s last pass.
                    touched.give_back_hours(hours);
                    return;
                }
            }
        }
    })
}

/// Recomputes the findings of `hours`, logging one line; the hours of failed ranges are given
/// back.
pub async fn run_pass(
    client: &Client,
    settings: &Settings,
    touched: &Touched,
    hours: BTreeSet<i64>,
    notify: &Notify,
) -> PassReport {
    let started = std::time::Instant::now();
    let ranges = pass::ranges(&hours, settings.group_window.as_secs() as i64);
    let report = pass::recompute(client, settings, &ranges, notify.announce().as_ref()).await;
    for ((from, to), e) in &report.failed {
        tracing::warn!(from = %crate::findings::rfc3339(*from), to = %crate::findings::rfc3339(*to), error = %e,
            "findings not recomputed; kept for the next pass");
        touched.give_back_hours(hours.range(from.div_euclid(3600) * 3600..*to).copied());
    }
    tracing::info!(
        ranges = report.ranges,
        written = report.written,
        created = report.created,
        notified = report.notified,
        too_old = report.too_old,
        secs = started.elapsed().as_secs_f64(),
        "findings recomputed"
    );
    report
}
