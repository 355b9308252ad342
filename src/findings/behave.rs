//! The behavioural detections of one range against the cluster: candidates from the range,
//! their history or baseline from the days before it, the findings ([`super::behaviour`]).

use super::behaviour::{self, BURSTS, Burst, FIRST_SEEN, FirstSeen};
use super::{Finding, Settings};
use crate::config::AnomaliesConfig;
use crate::index::client::Client;
use serde_json::Value;

const DAY: i64 = 86_400;

async fn search(client: &Client, settings: &Settings, body: &Value, what: &str) -> Result<Value, String> {
    client.search(&settings.events, body).await.map_err(|e| format!("{what}: {e}"))
}

/// The findings of every behavioural detection in `range`.
pub async fn range(
    client: &Client,
    settings: &Settings,
    knobs: &AnomaliesConfig,
    range: (i64, i64),
) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    for d in &FIRST_SEEN {
        out.extend(first_seen(client, settings, knobs, d, range).await?);
    }
    for b in &BURSTS {
        out.extend(bursts(client, settings, knobs, b, range).await?);
    }
    Ok(out)
}

async fn first_seen(
    client: &Client,
    settings: &Settings,
    knobs: &AnomaliesConfig,
    d: &FirstSeen,
    (from, to): (i64, i64),
) -> Result<Vec<Finding>, String> {
    let names: Vec<String> =
        std::iter::once("owner".to_owned()).chain((0..d.thing.len()).map(|i| format!("t{i}"))).collect();
    let what = d.rule.1.to_lowercase();
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let answer = search(client, settings, &behaviour::candidates(d, (from, to), after.as_ref()), &what).await?;
        let (seen, next) = behaviour::seen_page(&answer, &names)?;
        if !seen.is_empty() {
            let since = from - i64::from(knobs.history_days) * DAY;
            let history = search(client, settings, &behaviour::history(d, &seen, (since, from)), &what).await?;
            let owners = behaviour::owners(&history);
            for s in &seen {
                let owner = owners.get(&s.key[0]);
                if behaviour::is_new(d, knobs, s, owner) {
                    let owner = owner.expect("is_new needs the owner's history");
                    out.push(behaviour::first_seen_finding(settings, d, s, owner));
                }
            }
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

async fn bursts(
    client: &Client,
    settings: &Settings,
    knobs: &AnomaliesConfig,
    b: &Burst,
    (from, to): (i64, i64),
) -> Result<Vec<Finding>, String> {
    let names: Vec<String> = (0..b.key.len()).map(|i| format!("k{i}")).collect();
    let floor = if b.errors { knobs.error_floor } else { knobs.volume_floor };
    let window = knobs.burst_window.as_secs() as i64;
    let what = b.rule.1.to_lowercase();
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let body = behaviour::burst_candidates(b, window, (from, to), after.as_ref());
        let answer = search(client, settings, &body, &what).await?;
        let (mut seen, next) = behaviour::seen_page(&answer, &names)?;
        seen.retain(|s| s.count >= floor);
        if !seen.is_empty() {
            let since = from - i64::from(knobs.baseline_days) * DAY;
            let base = search(client, settings, &behaviour::baseline(b, &seen, (since, from)), &what).await?;
            let totals = behaviour::baseline_counts(&base);
            for s in &seen {
                let total = totals.get(&s.key).copied().unwrap_or(0);
                out.extend(behaviour::burst_finding(settings, b, knobs, s, total));
            }
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}
