//! `trailship replay-deadletters`: dead-lettered events go through the same decode → enrich →
//! index path again, once their cause is fixed (a mapping, a permission, a template). A dead
//! letter is deleted only once its event is found in its event index; one whose event fails
//! again stays as it is (the new refusal lands on the same dead-letter id, so it is not recorded
//! twice). A dead letter holding only the start of a record too large to keep cannot be
//! replayed and stays.

use super::object::{ObjectDecoder, Watch};
use crate::index::Indexer;
use crate::index::bulk::{Batch, ItemKind};
use crate::index::client::{Client, ClientError};
use crate::source::Origin;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Which dead letters to replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    /// Only those recorded at or after this time (RFC 3339, UTC).
    pub since: Option<String>,
    /// Only those whose `error_type` is this, or whose `reason` holds this phrase.
    pub reason: Option<String>,
}

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Dead letters matching the filter.
    pub found: usize,
    /// Replayed: the event is in its index now and the dead letter is deleted.
    pub replayed: usize,
    /// Sent again but still not indexed (or not an event at all): left as they are.
    pub still_failing: usize,
    /// Holding only the start of their record: left as they are.
    pub not_replayable: usize,
}

/// Dead letters read and replayed at a time.
const PAGE: usize = 500;

/// `--since`: an RFC 3339 time, a date (midnight UTC), or an age such as `90m`, `36h`, `7d`.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<String, String> {
    let text = text.trim();
    let at = if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        t.with_timezone(&Utc)
    } else if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
    } else {
        let age = crate::config::parse_age(text)
            .map_err(|_| format!("{text:?} is not a time, a date or an age like 36h (s, m, h or d)"))?;
        now - chrono::Duration::seconds(age.as_secs() as i64)
    };
    Ok(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// The search for one page of dead letters matching `filter`, after `after`.
fn query(filter: &ReplayFilter, after: Option<&Value>) -> Value {
    let mut bool_query = json!({"filter": []});
    if let Some(since) = &filter.since {
        bool_query["filter"] = json!([{"range": {"@timestamp": {"gte": since}}}]);
    }
    if let Some(reason) = &filter.reason {
        bool_query["should"] = json!([{"term": {"error_type": reason}}, {"match_phrase": {"reason": reason}}]);
        bool_query["minimum_should_match"] = json!(1);
    }
    let mut q = json!({"size": PAGE, "sort": [{"@timestamp": "asc"}, {"_id": "asc"}], "query": {"bool": bool_query}});
    if let Some(after) = after {
        q["search_after"] = after.clone();
    }
    q
}

/// One dead letter turned back into an event action, if it can be.
struct Replayed {
    /// The dead letter's id.
    id: String,
    /// Where its event must end up: (index, id).
    target: Option<(String, String)>,
}

/// Replays the dead letters of `deadletter_index` that match `filter`.
pub async fn replay(
    client: &Client,
    indexer: &Indexer,
    decoder: &ObjectDecoder,
    deadletter_index: &str,
    filter: &ReplayFilter,
) -> anyhow::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let cancel = CancellationToken::new();
    let mut after: Option<Value> = None;
    loop {
        let page = match client.search(deadletter_index, &query(filter, after.as_ref())).await {
            Ok(page) => page,
            Err(ClientError::Status { status: 404, .. }) => break,
            Err(e) => return Err(e.into()),
        };
        let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
        let Some(last) = hits.last() else { break };
        after = Some(last["sort"].clone());
        summary.found += hits.len();

        let mut batch: Option<Batch> = None;
        let mut replayed = Vec::new();
        for hit in &hits {
            let src = &hit["_source"];
            let id = hit["_id"].as_str().unwrap_or_default().to_owned();
            if !src["event_size"].is_null() {
                summary.not_replayable += 1;
                continue;
            }
            let raw = src["event"].as_str().unwrap_or_default();
            let (bucket, key) =
                (src["source"]["bucket"].as_str().unwrap_or(""), src["source"]["key"].as_str().unwrap_or(""));
            let origin = Arc::new(if bucket.is_empty() {
                Origin::File(key.into())
            } else {
                Origin::S3 { bucket: bucket.to_owned(), key: key.to_owned() }
            });
            let (events, target) = event_actions(decoder, raw, origin);
            if let Some(events) = events {
                match &mut batch {
                    Some(b) => b.append(events),
                    None => batch = Some(events),
                }
            }
            replayed.push(Replayed { id, target });
        }
        if let Some(batch) = batch {
            indexer.index(batch, &cancel).await?;
        }
        let targets: Vec<(String, String)> = replayed.iter().filter_map(|r| r.target.clone()).collect();
        let mut found = client.exists(&targets).await?.into_iter();
        let mut done = Vec::new();
        for r in replayed {
            let indexed = r.target.is_some() && found.next() == Some(true);
            if indexed {
                done.push(r.id);
            } else {
                summary.still_failing += 1;
            }
        }
        client.delete_ids(deadletter_index, &done).await?;
        summary.replayed += done.len();
        tracing::info!(replayed = done.len(), so_far = summary.replayed, "dead letters replayed");
    }
    Ok(summary)
}

/// Runs `raw` through the decoder as a one-record file: the batch of its event action and alerts (without
/// the dead letters decoding may make: those exist already) and the event's target.
fn event_actions(decoder: &ObjectDecoder, raw: &str, origin: Arc<Origin>) -> (Option<Batch>, Option<(String, String)>) {
    let mut batches = Vec::new();
    let watch = Watch::new(CancellationToken::new(), Duration::from_secs(60));
    let decoded = decoder.decode_record(raw, origin, &watch, &mut |b| {
        batches.push(b);
        Ok(())
    });
    if decoded.is_err() {
        return (None, None);
    }
    let mut events: Option<Batch> = None;
    let mut target = None;
    for b in batches {
        // The event and its alerts (an alert already indexed answers 409, which settles it).
        let chosen: Vec<usize> = (0..b.len()).filter(|&i| b.items[i].kind != ItemKind::DeadLetter).collect();
        for &i in chosen.iter().filter(|&&i| b.items[i].kind == ItemKind::Event) {
            target = b.action_index(&b.items[i]).zip(b.action_id(&b.items[i]));
        }
        if chosen.is_empty() {
            continue;
        }
        let sub = b.subset(&chosen);
        match &mut events {
            Some(e) => e.append(sub),
            None => events = Some(sub),
        }
    }
    (events, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_dates_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_since("2026-11-30T08:00:00+02:00", now).unwrap(), "2026-11-30T06:00:00.000Z");
        assert_eq!(parse_since("2026-11-30", now).unwrap(), "2026-11-30T00:00:00.000Z");
        assert_eq!(parse_since("36h", now).unwrap(), "2026-11-30T00:00:00.000Z");
        assert_eq!(parse_since("7d", now).unwrap(), "2026-11-24T12:00:00.000Z");
        assert_eq!(parse_since("90m", now).unwrap(), "2026-12-01T10:30:00.000Z");
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("3w", now).is_err());
    }

    #[test]
    fn the_query_filters_by_time_and_reason_and_pages_on() {
        let f = ReplayFilter {
            since: Some("2026-11-30T00:00:00.000Z".into()),
            reason: Some("mapper_parsing_exception".into()),
        };
        let q = query(&f, Some(&json!([1, "x"])));
        assert_eq!(q["query"]["bool"]["filter"][0]["range"]["@timestamp"]["gte"], "2026-11-30T00:00:00.000Z");
        assert_eq!(q["query"]["bool"]["should"][0]["term"]["error_type"], "mapper_parsing_exception");
        assert_eq!(q["query"]["bool"]["minimum_should_match"], 1);
        assert_eq!(q["search_after"], json!([1, "x"]));
        let q = query(&ReplayFilter::default(), None);
        assert!(q["query"]["bool"].get("should").is_none() && q.get("search_after").is_none());
    }

    #[test]
    fn a_dead_letter_becomes_its_event_action_again() {
        let decoder = crate::testing::decoder(10, 4 << 20);
        let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/f.json.gz";
        let origin = Arc::new(Origin::S3 { bucket: "b".into(), key: key.into() });
        let raw = r#"{"eventID":"e-1","eventTime":"2024-08-01T10:00:00Z","eventName":"PutObject"}"#;
        let (batch, target) = event_actions(&decoder, raw, origin.clone());
        assert_eq!(target, Some(("cloudtrail-2024.08.01".into(), "e-1".into())));
        assert_eq!(batch.unwrap().len(), 1);
        // Still without an eventTime: nothing to send, no target.
        let (batch, target) = event_actions(&decoder, r#"{"eventID":"e-2"}"#, origin.clone());
        assert!(batch.is_none() && target.is_none());
        let (batch, target) = event_actions(&decoder, r#"{"eventID":"#, origin);
        assert!(batch.is_none() && target.is_none());
        // An access-log line is framed as its own source frames it: one line.
        let key = "logs/2024-08-01-10-00-00-0123456789ABCDEF";
        let origin = Arc::new(Origin::S3 { bucket: "b".into(), key: key.into() });
        let line = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be bucket [01/Aug/2024:10:00:00 +0000] \
                    192.0.2.3 - 3E57427F3EXAMPLE REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 1 1 7 - \"-\" \"curl\" -";
        let (batch, target) = event_actions(&decoder, line, origin);
        assert_eq!(target.map(|t| t.0), Some("s3access-2024.08.01".into()));
        assert_eq!(batch.unwrap().len(), 1);
    }
}
