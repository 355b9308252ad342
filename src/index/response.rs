//! A `_bulk` response → per item: done, retry, or dead-letter. Pure; tested on canned JSON.
//!
//! `create` is the action trailship sends, so a 409 (`version_conflict_engine_exception`)
//! means the event is already indexed (a redelivery) and counts as success. 429 and 5xx are
//! transient and retried; every other failure is permanent for that document.

use serde::Deserialize;
use std::borrow::Cow;

/// What happened to one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Indexed now.
    Created,
    /// Already there (409 on `create`): an earlier delivery indexed it.
    Duplicate,
    /// Transient failure: send this item again.
    Retry {
        /// HTTP status of the item.
        status: u16,
        /// The error's reason.
        reason: String,
    },
    /// Permanent failure: record it in the dead-letter index.
    Rejected {
        /// HTTP status of the item.
        status: u16,
        /// The error's type (e.g. `mapper_parsing_exception`).
        error_type: String,
        /// The error's reason.
        reason: String,
    },
}

/// A response that cannot be matched to the request.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// Not the JSON of a bulk response.
    #[error("bulk response is not valid json: {0}")]
    Json(#[from] serde_json::Error),
    /// Item count differs from the request's.
    #[error("bulk response has {got} items for {sent} actions")]
    Count {
        /// Actions sent.
        sent: usize,
        /// Items in the response.
        got: usize,
    },
}

#[derive(Deserialize)]
struct BulkResponse<'a> {
    #[serde(default)]
    errors: bool,
    #[serde(borrow)]
    items: Vec<BulkItem<'a>>,
}

#[derive(Deserialize)]
struct BulkItem<'a> {
    #[serde(alias = "index", alias = "update", alias = "delete", borrow)]
    create: ItemResult<'a>,
}

#[derive(Deserialize)]
struct ItemResult<'a> {
    status: u16,
    #[serde(borrow, default)]
    error: Option<ItemError<'a>>,
}

#[derive(Deserialize)]
struct ItemError<'a> {
    #[serde(rename = "type", borrow, default)]
    error_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    caused_by: Option<Box<ItemError<'a>>>,
}

impl ItemError<'_> {
    /// `reason`, with the root cause's reason appended when there is one.
    fn full_reason(&self) -> String {
        let mut reason = self.reason.as_deref().unwrap_or("").to_owned();
        if let Some(cause) = &self.caused_by {
            let inner = cause.full_reason();
            if !inner.is_empty() {
                reason.push_str(": ");
                reason.push_str(&inner);
            }
        }
        reason
    }
}

/// Classifies every item of a bulk response for a request of `sent` actions.
pub fn classify(body: &[u8], sent: usize) -> Result<Vec<ItemOutcome>, ResponseError> {
    let resp: BulkResponse = serde_json::from_slice(body)?;
    if resp.items.len() != sent {
        return Err(ResponseError::Count { sent, got: resp.items.len() });
    }
    if !resp.errors {
        return Ok(resp.items.iter().map(|_| ItemOutcome::Created).collect());
    }
    Ok(resp.items.iter().map(|i| outcome(&i.create)).collect())
}

fn outcome(r: &ItemResult) -> ItemOutcome {
    let status = r.status;
    let Some(err) = &r.error else {
        return ItemOutcome::Created;
    };
    if status == 409 {
        return ItemOutcome::Duplicate;
    }
    if status == 429 || status >= 500 {
        return ItemOutcome::Retry { status, reason: err.full_reason() };
    }
    ItemOutcome::Rejected {
        status,
        error_type: err.error_type.as_deref().unwrap_or("unknown").to_owned(),
        reason: err.full_reason(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_created_fast_path() {
        let body = br#"{"took":3,"errors":false,"items":[{"create":{"_index":"i","_id":"a","status":201,"result":"created"}},{"create":{"_index":"i","_id":"b","status":201}}]}"#;
        assert_eq!(classify(body, 2).unwrap(), vec![ItemOutcome::Created, ItemOutcome::Created]);
    }

    #[test]
    fn conflicts_throttles_and_mapping_errors() {
        // Shapes as OpenSearch returns them.
        let body = br#"{"took":1,"errors":true,"items":[
          {"create":{"_index":"i","_id":"a","status":201,"result":"created"}},
          {"create":{"_index":"i","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict, document already exists (current version [1])"}}},
          {"create":{"_index":"i","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},
          {"create":{"_index":"i","_id":"d","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [readOnly] of type [boolean]","caused_by":{"type":"illegal_argument_exception","reason":"Failed to parse value [maybe] as only [true] or [false] are allowed."}}}},
          {"create":{"_index":"i","_id":"e","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}}
        ]}"#;
        let got = classify(body, 5).unwrap();
        assert_eq!(got[0], ItemOutcome::Created);
        assert_eq!(got[1], ItemOutcome::Duplicate);
        assert!(matches!(&got[2], ItemOutcome::Retry { status: 429, .. }));
        match &got[3] {
            ItemOutcome::Rejected { status, error_type, reason } => {
                assert_eq!((*status, error_type.as_str()), (400, "mapper_parsing_exception"));
                assert!(reason.contains("[readOnly]") && reason.contains("[maybe]"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&got[4], ItemOutcome::Retry { status: 503, .. }));
    }

    #[test]
    fn mismatched_or_invalid_responses_are_errors() {
        assert!(matches!(
            classify(br#"{"errors":false,"items":[]}"#, 1),
            Err(ResponseError::Count { sent: 1, got: 0 })
        ));
        assert!(matches!(classify(b"<html>", 1), Err(ResponseError::Json(_))));
    }
}
