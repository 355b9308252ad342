//! The behavioural detections of one range against the cluster: candidates from the range,
//! their history or baseline from the days before it, the findings ([`super::behaviour`]).
//! [`Pages`] decides one page of candidates at a time and the pass writes it before asking for
//! the next, so memory holds one page whatever the number of identities.

use super::behaviour::{self, BURSTS, Burst, FIRST_SEEN, FirstSeen, Seen, Usual};
use super::{Finding, Settings};
use crate::config::AnomaliesConfig;
use crate::index::client::SearchClient;
use serde_json::Value;
use std::collections::BTreeMap;

const DAY: i64 = 86_400;

async fn search(client: &impl SearchClient, settings: &Settings, body: &Value, what: &str) -> Result<Value, String> {
    client.search(&settings.events, body).await.map_err(|e| format!("{what}: {e}"))
}

/// The behavioural detections of one range, page by page: every first-seen detection, then
/// every burst detection, each through its composite pages.
#[derive(Debug)]
pub struct Pages<'a> {
    settings: &'a Settings,
    knobs: &'a AnomaliesConfig,
    range: (i64, i64),
    /// The detection being paged: `FIRST_SEEN` then `BURSTS`.
    step: usize,
    after: Option<Value>,
}

impl<'a> Pages<'a> {
    /// The pages of `range`.
    pub fn new(settings: &'a Settings, knobs: &'a AnomaliesConfig, range: (i64, i64)) -> Pages<'a> {
        Pages { settings, knobs, range, step: 0, after: None }
    }

    /// The findings of the next page of candidates; `None` once every detection is through.
    pub async fn next(&mut self, client: &impl SearchClient) -> Result<Option<Vec<Finding>>, String> {
        let (settings, knobs, range, after) = (self.settings, self.knobs, self.range, self.after.take());
        let (findings, next) = if let Some(d) = FIRST_SEEN.get(self.step) {
            first_seen(client, settings, knobs, d, range, after).await?
        } else if let Some(b) = BURSTS.get(self.step - FIRST_SEEN.len()) {
            bursts(client, settings, knobs, b, range, after).await?
        } else {
            return Ok(None);
        };
        match next {
            Some(next) => self.after = Some(next),
            None => self.step += 1,
        }
        Ok(Some(findings))
    }
}

/// One page of a first-seen detection's candidates from `after`: its findings, and where the
/// next page starts.
async fn first_seen(
    client: &impl SearchClient,
    settings: &Settings,
    knobs: &AnomaliesConfig,
    d: &FirstSeen,
    (from, to): (i64, i64),
    after: Option<Value>,
) -> Result<(Vec<Finding>, Option<Value>), String> {
    let names: Vec<String> =
        std::iter::once("owner".to_owned()).chain((0..d.thing.len()).map(|i| format!("t{i}"))).collect();
    let what = d.rule.1.to_lowercase();
    let answer = search(client, settings, &behaviour::candidates(d, (from, to), after.as_ref()), &what).await?;
    let (seen, next) = behaviour::seen_page(&answer, &names)?;
    let mut out = Vec::new();
    if !seen.is_empty() {
        let since = from - i64::from(knobs.history_days) * DAY;
        let history = search(client, settings, &behaviour::history(d, &seen, (since, from)), &what).await?;
        let owners = behaviour::owners(&history);
        let mut new: Vec<Seen> =
            seen.into_iter().filter(|s| behaviour::is_new(d, knobs, s, owners.get(&s.key[0]))).collect();
        if !new.is_empty() {
            let samples = search(client, settings, &behaviour::first_seen_samples(d, &new, (from, to)), &what).await?;
            behaviour::set_samples(&mut new, &samples, &names);
        }
        for s in &new {
            let owner = owners.get(&s.key[0]).expect("is_new needs the owner's history");
            out.push(behaviour::first_seen_finding(settings, d, s, owner));
        }
    }
    Ok((out, next))
}

/// One page of a burst detection's window candidates from `after`: its findings, and where the
/// next page starts. Candidates under the floor are dropped before any baseline is read; the
/// rest are compared with their keys' baseline, and per window with the same time of day.
async fn bursts(
    client: &impl SearchClient,
    settings: &Settings,
    knobs: &AnomaliesConfig,
    b: &Burst,
    (from, to): (i64, i64),
    after: Option<Value>,
) -> Result<(Vec<Finding>, Option<Value>), String> {
    let names: Vec<String> = (0..b.key.len()).map(|i| format!("k{i}")).collect();
    let floor = if b.errors { knobs.error_floor } else { knobs.volume_floor };
    let window = knobs.burst_window.as_secs() as i64;
    let what = b.rule.1.to_lowercase();
    let body = behaviour::burst_candidates(b, window, (from, to), after.as_ref());
    let answer = search(client, settings, &body, &what).await?;
    let (mut seen, next) = behaviour::seen_page(&answer, &names)?;
    seen.retain(|s| s.count >= floor);
    let mut out = Vec::new();
    if !seen.is_empty() {
        let since = from - i64::from(knobs.baseline_days) * DAY;
        let base = search(client, settings, &behaviour::baseline(b, &seen, (since, from)), &what).await?;
        let totals = behaviour::baseline_counts(&base);
        let firsts = behaviour::baseline_firsts(&base);
        // A window that is no burst against the week's average needs no time-of-day query.
        let mut by_window: BTreeMap<i64, Vec<(Seen, Usual)>> = BTreeMap::new();
        for s in seen {
            // Days of the baseline from the key's first event in it, the first one counted whole.
            let days = firsts.get(&s.key).map_or(0, |&first| ((from - first) / DAY + 1) as u32);
            let usual = Usual {
                total: totals.get(&s.key).copied().unwrap_or(0),
                days: days.min(knobs.baseline_days),
                same_time: 0,
            };
            if behaviour::is_burst(b, knobs, s.count, usual) {
                by_window.entry(s.window.unwrap_or(s.first)).or_default().push((s, usual));
            }
        }
        let mut bursts = Vec::new();
        for (start, candidates) in by_window {
            let seen: Vec<Seen> = candidates.iter().map(|(s, _)| s.clone()).collect();
            let body = behaviour::same_time(b, &seen, start, window, knobs.baseline_days);
            let same_time = behaviour::baseline_counts(&search(client, settings, &body, &what).await?);
            for (s, usual) in candidates {
                let usual = Usual { same_time: same_time.get(&s.key).copied().unwrap_or(0), ..usual };
                if behaviour::is_burst(b, knobs, s.count, usual) {
                    bursts.push((s, usual));
                }
            }
        }
        if !bursts.is_empty() {
            let mut seen: Vec<Seen> = bursts.iter().map(|(s, _)| s.clone()).collect();
            let body = behaviour::burst_samples(b, window, &seen, (from, to));
            behaviour::set_samples(&mut seen, &search(client, settings, &body, &what).await?, &names);
            for (s, (_, usual)) in seen.iter().zip(&bursts) {
                out.extend(behaviour::burst_finding(settings, b, knobs, s, *usual));
            }
        }
    }
    Ok((out, next))
}
