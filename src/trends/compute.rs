//! Recomputes one day's trends against the cluster: pages the day's keys out of its event index
//! (one composite page in memory at a time), writes them with `index` actions, then deletes the
//! day's trend documents whose key the day no longer has. A day whose event index is gone
//! (past `opensearch.retention_days`) is left as it is: that is what trends are kept for.

use super::{Pair, Spec, check_items, existing_page, first_seen, index_actions, pair_of};
use crate::index::client::{BulkClient, Client, ClientError};
use bytes::Bytes;
use chrono::NaiveDate;
use opensearch::http::Method;
use opensearch::http::headers::HeaderMap;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

/// What recomputing one day did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DayOutcome {
    /// Trend documents written.
    pub written: usize,
    /// Trend documents deleted (their key no longer occurs that day).
    pub deleted: usize,
    /// Events counted.
    pub events: u64,
    /// First-seen documents written, moved or deleted.
    pub first_seen: usize,
    /// The day has no event index (deleted by retention, or never written): left as it is.
    pub no_events_index: bool,
}

/// Why a day could not be recomputed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} trends for {day}: {message}")]
pub struct TrendError {
    /// `cloudtrail` or `s3access`.
    pub kind: &'static str,
    /// The day.
    pub day: NaiveDate,
    /// What went wrong.
    pub message: String,
}

/// Recomputes `day` of `spec`'s trends.
pub async fn recompute_day(client: &Client, spec: &Spec, day: NaiveDate) -> Result<DayOutcome, TrendError> {
    let fail = |message: String| TrendError { kind: spec.name(), day, message };
    let events_index = spec.event_index(day);
    let trend_index = spec.trend_index(day);
    let mut outcome = DayOutcome::default();
    let mut kept: HashSet<String> = HashSet::new();
    let mut pairs: BTreeSet<Pair> = BTreeSet::new();
    let mut after: Option<Value> = None;
    loop {
        let answer = match client.search(&events_index, &spec.query(day, after.as_ref())).await {
            Ok(a) => a,
            Err(e) if after.is_none() && index_missing(&e) => {
                outcome.no_events_index = true;
                return Ok(outcome);
            }
            Err(e) => return Err(fail(format!("aggregating {events_index}: {e}"))),
        };
        let page = spec.page(day, &answer).map_err(|m| fail(format!("aggregating {events_index}: {m}")))?;
        outcome.events += page.events;
        if !page.docs.is_empty() {
            let body = index_actions(&trend_index, &page.docs);
            let answer =
                client.bulk(Bytes::from(body)).await.map_err(|e| fail(format!("writing {trend_index}: {e}")))?;
            check_items(&answer, page.docs.len(), |i| matches!(i["index"]["status"].as_u64(), Some(200 | 201)))
                .map_err(|m| fail(format!("writing {trend_index}: {m}")))?;
            outcome.written += page.docs.len();
            if spec.shape.first_seen {
                pairs.extend(
                    page.docs.iter().filter_map(|(_, d)| pair_of(&d["cloud"]["account"]["id"], &d["eventName"])),
                );
            }
            kept.extend(page.docs.into_iter().map(|(id, _)| id));
        }
        match page.after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let (deleted, vanished) =
        delete_vanished(client, spec, day, &kept).await.map_err(|m| fail(format!("{trend_index}: {m}")))?;
    outcome.deleted = deleted;
    if spec.shape.first_seen {
        pairs.extend(vanished);
        outcome.first_seen =
            first_seen::update(client, spec, &pairs).await.map_err(|m| fail(format!("first seen: {m}")))?;
    }
    Ok(outcome)
}

/// What a pass did for one kind of trends.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Days recomputed.
    pub days: usize,
    /// Days left as they were: no event index.
    pub without_index: usize,
    /// Trend documents written.
    pub written: usize,
    /// Trend documents deleted.
    pub deleted: usize,
    /// Events counted.
    pub events: u64,
    /// First-seen documents written, moved or deleted.
    pub first_seen: usize,
    /// Days that failed, and why.
    pub failed: Vec<TrendError>,
}

impl std::fmt::Display for PassReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} days ({} without an event index, left as they were), {} events counted, {} trend documents written, {} deleted, {} first-seen updates",
            self.days, self.without_index, self.events, self.written, self.deleted, self.first_seen
        )?;
        if !self.failed.is_empty() {
            write!(f, ", {} days failed", self.failed.len())?;
        }
        Ok(())
    }
}

/// Recomputes every day of `days` for `spec`, one day after the other; a failed day is
/// reported and the others go on.
pub async fn pass(client: &Client, spec: &Spec, days: impl IntoIterator<Item = NaiveDate>) -> PassReport {
    let mut report = PassReport::default();
    for day in days {
        match recompute_day(client, spec, day).await {
            Ok(o) => {
                report.days += 1;
                report.without_index += usize::from(o.no_events_index);
                report.written += o.written;
                report.deleted += o.deleted;
                report.events += o.events;
                report.first_seen += o.first_seen;
            }
            Err(e) => report.failed.push(e),
        }
    }
    report
}

/// Deletes the trend documents of `day` whose id is not in `kept`; returns how many, and the
/// account and API pairs they counted.
async fn delete_vanished(
    client: &Client,
    spec: &Spec,
    day: NaiveDate,
    kept: &HashSet<String>,
) -> Result<(usize, Vec<Pair>), String> {
    let trend_index = spec.trend_index(day);
    // What was written a moment ago (a rerun) must be visible to the listing. (Serverless
    // collections refresh on their own and refuse the call.)
    if !client.is_serverless() {
        let refresh = format!("/{trend_index}/_refresh");
        match client.request(Method::Post, &refresh, HeaderMap::new(), None).await {
            Ok(_) => {}
            Err(e) if index_missing(&e) => return Ok((0, Vec::new())),
            Err(e) => return Err(format!("refresh: {e}")),
        }
    }
    let mut vanished = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let answer = client
            .search(&trend_index, &Spec::existing_query(day, after.as_ref()))
            .await
            .map_err(|e| format!("listing the day's documents: {e}"))?;
        let (ids, next) = existing_page(&answer)?;
        vanished.extend(ids.into_iter().filter(|(id, _)| !kept.contains(id)));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let (ids, pairs): (Vec<String>, Vec<Option<Pair>>) = vanished.into_iter().unzip();
    for chunk in ids.chunks(super::PAGE_SIZE) {
        client.delete_ids(&trend_index, chunk).await.map_err(|e| format!("deleting vanished keys: {e}"))?;
    }
    Ok((ids.len(), pairs.into_iter().flatten().collect()))
}

fn index_missing(e: &ClientError) -> bool {
    matches!(e, ClientError::Status { status: 404, .. })
}
