//! One findings pass against the cluster: the windows of the hours indexed into are recomputed
//! from the event indices and written (see [`super`] for why any number of passes agree), and
//! the findings this pass created are announced, unless they are about events older than
//! `alerts.max_notify_age`.

use super::{Finding, Settings, correlate, group, read_answer, write_actions};
use crate::detect::correlation::Correlation;
use crate::index::client::SearchClient;
use crate::source::Origin;
use crate::webhooks::Outbox;
use bytes::Bytes;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The longest range one query covers (seconds): a day.
const MAX_RANGE: i64 = 86_400;

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Ranges recomputed.
    pub ranges: usize,
    /// Findings written (created, updated or already current).
    pub written: usize,
    /// Findings created by this pass.
    pub created: usize,
    /// Created findings handed to the webhooks.
    pub notified: usize,
    /// Created findings not notified: about events older than `alerts.max_notify_age`.
    pub too_old: usize,
    /// Ranges that failed, `(from, to)` in Unix seconds, with the reason.
    pub failed: Vec<((i64, i64), String)>,
}

impl std::fmt::Display for PassReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ranges, {} findings written, {} new, {} notified, {} not notified (older than alerts.max_notify_age), \
             {} ranges failed",
            self.ranges,
            self.written,
            self.created,
            self.notified,
            self.too_old,
            self.failed.len()
        )
    }
}

/// Where created findings are announced.
#[derive(Debug, Clone)]
pub struct Announce {
    /// The webhooks' outbox.
    pub outbox: Outbox,
    /// Now, as Unix seconds.
    pub now: i64,
    /// Findings about events older than this many seconds are not announced
    /// (`alerts.max_notify_age`).
    pub max_age: i64,
}

/// The ranges to recompute for the hours indexed into (their starts, Unix seconds): every
/// group window holding one of them, neighbours merged, each range at most a day.
pub fn ranges(hours: &BTreeSet<i64>, window: i64) -> Vec<(i64, i64)> {
    let window = window.max(1);
    let starts: BTreeSet<i64> = hours
        .iter()
        .flat_map(|h| {
            // An hour may span windows shorter than an hour.
            let first = h.div_euclid(window) * window;
            (first..h + 3600).step_by(window as usize)
        })
        .collect();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for start in starts {
        match out.last_mut() {
            Some((from, to)) if *to == start && start + window - *from <= MAX_RANGE.max(window) => *to = start + window,
            _ => out.push((start, start + window)),
        }
    }
    out
}

/// Recomputes the findings of `ranges`.
pub async fn recompute(
    client: &impl SearchClient,
    settings: &Settings,
    ranges: &[(i64, i64)],
    announce: Option<&Announce>,
) -> PassReport {
    let mut report = PassReport::default();
    if settings.is_empty() {
        return report;
    }
    for &range in ranges {
        report.ranges += 1;
        let outcome = match recompute_range(client, settings, range, announce, &mut report).await {
            Ok(()) => "done",
            Err(e) => {
                report.failed.push((range, e));
                "failed"
            }
        };
        metrics::counter!(crate::telemetry::FINDINGS_RANGES, "outcome" => outcome).increment(1);
    }
    report
}

async fn recompute_range(
    client: &impl SearchClient,
    settings: &Settings,
    range: (i64, i64),
    announce: Option<&Announce>,
    report: &mut PassReport,
) -> Result<(), String> {
    let mut after = None;
    while !settings.grouped.is_empty() {
        let body = group::query(settings, range, after.as_ref());
        let answer = client.search(&settings.events, &body).await.map_err(|e| format!("grouping alerts: {e}"))?;
        let page = group::page(settings, &answer)?;
        write(client, &page.findings, announce, report).await?;
        match page.after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    for c in &settings.correlations {
        let findings = correlate_range(client, settings, c, range).await?;
        write(client, &findings, announce, report).await?;
    }
    if let Some(knobs) = &settings.behaviour {
        let mut pages = super::behave::Pages::new(settings, knobs, range);
        while let Some(findings) = pages.next(client).await? {
            write(client, &findings, announce, report).await?;
        }
    }
    Ok(())
}

/// The findings of correlation `c` whose bursts have events in `range`: the events read from
/// two windows (or two hours) before it, so a burst that started before the range is the same
/// burst.
async fn correlate_range(
    client: &impl SearchClient,
    settings: &Settings,
    c: &Correlation,
    (from, to): (i64, i64),
) -> Result<Vec<Finding>, String> {
    let lookback = 2 * c.timespan.max(3600);
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let body = correlate::query(c, (from - lookback, to), after.as_ref());
        let answer = client
            .search(&settings.events, &body)
            .await
            .map_err(|e| format!("reading the events of correlation {:?}: {e}", c.reported.title))?;
        let (page, next) = correlate::page(c, &answer)?;
        events.extend(page);
        if events.len() >= correlate::MAX_EVENTS {
            tracing::warn!(rule = %c.reported.title, from = %super::rfc3339(from), events = events.len(),
                "more events than one correlation reads for a range: evaluated on the first ones");
            metrics::counter!(crate::telemetry::FINDINGS_RANGES, "outcome" => "truncated").increment(1);
            break;
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let bursts = correlate::bursts(c, &events);
    Ok(bursts
        .iter()
        .filter(|b| b.events.last().is_some_and(|&i| events[i].time >= from))
        .map(|b| correlate::finding(settings, c, &events, b))
        .collect())
}

/// Writes `findings` and announces those this write created.
async fn write(
    client: &impl SearchClient,
    findings: &[Finding],
    announce: Option<&Announce>,
    report: &mut PassReport,
) -> Result<(), String> {
    if findings.is_empty() {
        return Ok(());
    }
    let answer = client
        .bulk(Bytes::from(write_actions(findings)))
        .await
        .map_err(|e| format!("writing {} findings: {e}", findings.len()))?;
    let written = read_answer(&answer, findings.len())?;
    let counter = |outcome: &'static str| metrics::counter!(crate::telemetry::FINDINGS, "outcome" => outcome);
    counter("created").increment(written.created.len() as u64);
    counter("updated").increment(written.updated as u64);
    counter("current").increment(written.current as u64);
    report.written += findings.len();
    report.created += written.created.len();
    let Some(announce) = announce else { return Ok(()) };
    let mut docs = Vec::new();
    for &i in &written.created {
        let f = &findings[i];
        if announce.now - f.newest > announce.max_age {
            report.too_old += 1;
            continue;
        }
        docs.push(serde_json::to_vec(&f.doc).expect("json serializes"));
    }
    report.notified += docs.len();
    if !docs.is_empty() {
        announce.outbox.file_indexed(&Arc::new(Origin::File("findings pass".into())), &docs, 0);
    }
    Ok(())
}
