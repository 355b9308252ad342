//! A `_bulk` response → per item: done, retry, hold, or dead-letter. Pure; tested on canned JSON.
//!
//! Every item is read by its own status, whatever the top-level `errors` flag says, and the
//! items must answer the request's actions one for one, in order. `create` is the action
//! trailship sends, so a 409 (`version_conflict_engine_exception`) means the event is already
//! indexed (a redelivery) and counts as success. 429, 408 and 5xx are transient. 401/403
//! (permissions), 404 (index missing, auto-create off) and `cluster_block_exception` (read-only,
//! disk watermark) are conditions of the cluster, not of the event: the batch waits for them to
//! clear. Other 4xx refuse the document for good. Anything else is retried, never a success.

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
    /// The cluster refuses writes for a reason of its own (permissions, block, missing index):
    /// send it again once that is fixed, never dead-letter it.
    Blocked {
        /// HTTP status of the item.
        status: u16,
        /// The error's type (e.g. `cluster_block_exception`).
        error_type: String,
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
    /// An item answers another action than the one at its position.
    #[error("bulk response item {position} is for _id {got:?}, the request sent {sent:?} there")]
    Order {
        /// Position in the request.
        position: usize,
        /// The `_id` sent there.
        sent: String,
        /// The `_id` the item names.
        got: String,
    },
}

#[derive(Deserialize)]
struct BulkResponse<'a> {
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
    #[serde(rename = "_id", borrow, default)]
    id: Option<Cow<'a, str>>,
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

/// Classifies every item of a bulk response to a request whose actions carried `sent_ids`.
pub fn classify(body: &[u8], sent_ids: &[Option<&str>]) -> Result<Vec<ItemOutcome>, ResponseError> {
    let resp: BulkResponse = serde_json::from_slice(body)?;
    if resp.items.len() != sent_ids.len() {
        return Err(ResponseError::Count { sent: sent_ids.len(), got: resp.items.len() });
    }
    for (position, (item, sent)) in resp.items.iter().zip(sent_ids).enumerate() {
        if let (Some(sent), Some(got)) = (sent, &item.create.id)
            && sent != got
        {
            return Err(ResponseError::Order { position, sent: (*sent).to_owned(), got: got.clone().into_owned() });
        }
    }
    Ok(resp.items.iter().map(|i| outcome(&i.create)).collect())
}

fn outcome(r: &ItemResult) -> ItemOutcome {
    let status = r.status;
    let error_type = r.error.as_ref().and_then(|e| e.error_type.as_deref()).unwrap_or("unknown");
    let reason = || r.error.as_ref().map(ItemError::full_reason).unwrap_or_else(|| format!("status {status}"));
    match status {
        200 | 201 if r.error.is_none() => ItemOutcome::Created,
        409 if error_type == "version_conflict_engine_exception" => ItemOutcome::Duplicate,
        _ if error_type == "cluster_block_exception" => {
            ItemOutcome::Blocked { status, error_type: error_type.to_owned(), reason: reason() }
        }
        401 | 403 | 404 => ItemOutcome::Blocked { status, error_type: error_type.to_owned(), reason: reason() },
        408 | 409 | 429 | 500.. => ItemOutcome::Retry { status, reason: reason() },
        400..=499 => ItemOutcome::Rejected { status, error_type: error_type.to_owned(), reason: reason() },
        _ => ItemOutcome::Retry { status, reason: reason() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_created_fast_path() {
        let body = br#"{"took":3,"errors":false,"items":[{"create":{"_index":"i","_id":"a","status":201,"result":"created"}},{"create":{"_index":"i","_id":"b","status":201}}]}"#;
        assert_eq!(classify(body, &[Some("a"), Some("b")]).unwrap(), vec![ItemOutcome::Created, ItemOutcome::Created]);
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
        let got = classify(body, &[Some("a"), Some("b"), Some("c"), Some("d"), Some("e")]).unwrap();
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
            classify(br#"{"errors":false,"items":[]}"#, &[Some("a")]),
            Err(ResponseError::Count { sent: 1, got: 0 })
        ));
        assert!(matches!(classify(b"<html>", &[None]), Err(ResponseError::Json(_))));
        let swapped =
            br#"{"errors":false,"items":[{"create":{"_id":"b","status":201}},{"create":{"_id":"a","status":201}}]}"#;
        assert!(matches!(classify(swapped, &[Some("a"), Some("b")]), Err(ResponseError::Order { position: 0, .. })));
    }

    #[test]
    fn items_are_read_by_their_own_status_whatever_errors_says() {
        // Measured behind a proxy: every item refused 429 under "errors": false. None is created.
        let body = br#"{"took":1,"errors":false,"items":[
          {"create":{"_index":"i","_id":"a","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
          {"create":{"_index":"i","_id":"b","status":429}},
          {"create":{"_index":"i","_id":"c","status":202}},
          {"create":{"_index":"i","_id":"d","status":201,"error":{"type":"x","reason":"odd"}}},
          {"create":{"_index":"i","_id":"e","status":301}},
          {"create":{"_index":"i","_id":"f","status":409,"error":{"type":"something_else","reason":"?"}}}
        ]}"#;
        let got = classify(body, &[None; 6]).unwrap();
        assert!(got.iter().all(|o| matches!(o, ItemOutcome::Retry { .. })), "{got:?}");
        // Missing `errors` altogether: still read item by item.
        let body = br#"{"items":[{"create":{"_id":"a","status":201}},{"create":{"_id":"b","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}}]}"#;
        let got = classify(body, &[Some("a"), Some("b")]).unwrap();
        assert_eq!(got[0], ItemOutcome::Created);
        assert!(matches!(&got[1], ItemOutcome::Rejected { status: 400, .. }));
    }

    #[test]
    fn cluster_conditions_hold_the_batch_instead_of_dead_lettering() {
        let body = br#"{"errors":true,"items":[
          {"create":{"_id":"a","status":403,"error":{"type":"cluster_block_exception","reason":"index [cloudtrail-2024.08.01] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"}}},
          {"create":{"_id":"b","status":403,"error":{"type":"security_exception","reason":"no permissions for [indices:data/write/bulk[s]] and User [name=trailship]"}}},
          {"create":{"_id":"c","status":404,"error":{"type":"index_not_found_exception","reason":"no such index [cloudtrail-2024.08.01]"}}},
          {"create":{"_id":"d","status":401,"error":{"type":"security_exception","reason":"unauthorized"}}},
          {"create":{"_id":"e","status":429,"error":{"type":"cluster_block_exception","reason":"blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark"}}}
        ]}"#;
        let got = classify(body, &[None; 5]).unwrap();
        for (o, status) in got.iter().zip([403, 403, 404, 401, 429]) {
            assert!(matches!(o, ItemOutcome::Blocked { status: s, .. } if *s == status), "{o:?}");
        }
    }

    proptest::proptest! {
        /// Whatever statuses and errors the items carry, each gets one outcome, in order; only
        /// a 200 or 201 without an error is a success, only a version conflict a duplicate, and
        /// a client error is dead-lettered only when it is none of the statuses that mean
        /// "again" or "blocked"; a missing or reordered item fails the whole answer.
        #[test]
        fn any_answer_is_read_item_by_item_and_nothing_unexpected_is_a_success(
            items in proptest::collection::vec(
                (100u16..600, proptest::option::of(proptest::sample::select(vec![
                    "version_conflict_engine_exception", "cluster_block_exception",
                    "mapper_parsing_exception", "es_rejected_execution_exception", "x",
                ]))),
                1..20,
            ),
        ) {
            let ids: Vec<String> = (0..items.len()).map(|i| format!("id-{i}")).collect();
            let sent: Vec<Option<&str>> = ids.iter().map(|i| Some(i.as_str())).collect();
            let answer = |items: &[(u16, Option<&str>)], ids: &[String]| {
                let items: Vec<serde_json::Value> = items.iter().zip(ids).map(|((status, error), id)| {
                    let mut item = serde_json::json!({"_index": "i", "_id": id, "status": status});
                    if let Some(t) = error {
                        item["error"] = serde_json::json!({"type": t, "reason": "r"});
                    }
                    serde_json::json!({"create": item})
                }).collect();
                serde_json::to_vec(&serde_json::json!({"took": 1, "errors": true, "items": items})).unwrap()
            };
            let got = classify(&answer(&items, &ids), &sent).unwrap();
            proptest::prop_assert_eq!(got.len(), items.len());
            for ((status, error), outcome) in items.iter().zip(&got) {
                let (status, error) = (*status, *error);
                match outcome {
                    ItemOutcome::Created => proptest::prop_assert!(matches!(status, 200 | 201) && error.is_none()),
                    ItemOutcome::Duplicate => {
                        proptest::prop_assert!(status == 409 && error == Some("version_conflict_engine_exception"))
                    }
                    ItemOutcome::Rejected { .. } => proptest::prop_assert!(
                        (400..=499).contains(&status)
                            && ![401, 403, 404, 408, 409, 429].contains(&status)
                            && error != Some("cluster_block_exception")
                    ),
                    ItemOutcome::Blocked { .. } => proptest::prop_assert!(
                        [401, 403, 404].contains(&status) || error == Some("cluster_block_exception")
                    ),
                    ItemOutcome::Retry { .. } => {}
                }
            }
            if items.len() > 1 {
                let mut swapped = ids.clone();
                swapped.swap(0, 1);
                let is_order_error = matches!(classify(&answer(&items, &swapped), &sent), Err(ResponseError::Order { .. }));
                proptest::prop_assert!(is_order_error);
                let is_count_error = matches!(classify(&answer(&items[1..], &ids[1..]), &sent), Err(ResponseError::Count { .. }));
                proptest::prop_assert!(is_count_error);
            }
        }
    }
}
