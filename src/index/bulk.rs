//! Documents → `_bulk` NDJSON batches capped by bytes and action count. Pure.
//!
//! A [`Batch`] keeps, for every action, where its lines sit in the body and a copy of the
//! original record, so that items the cluster refuses can be retried alone or dead-lettered
//! with the raw event.

use super::buffers::{Buffers, Pool};
pub use super::item::{Item, ItemKind};
use crate::source::Origin;
use std::sync::Arc;

/// Caps on one `_bulk` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Body size at which a batch is cut (a single larger document still goes alone).
    pub max_bytes: usize,
    /// Number of actions at which a batch is cut.
    pub max_actions: usize,
}

#[derive(serde::Deserialize)]
struct ActionMeta<'a> {
    #[serde(rename = "_index", borrow)]
    index: std::borrow::Cow<'a, str>,
    #[serde(rename = "_id", borrow, default)]
    id: Option<std::borrow::Cow<'a, str>>,
}

/// A `_bulk` request body and what it holds.
#[derive(Debug, Clone)]
pub struct Batch {
    /// NDJSON: action line, document line, for every item.
    pub body: Vec<u8>,
    /// The items, in body order.
    pub items: Vec<Item>,
    /// The original records, concatenated.
    pub raw: Vec<u8>,
    /// The object the records came from.
    pub origin: Arc<Origin>,
    /// Where the buffers go back when the batch is dropped (batches filled by a
    /// [`BatchBuilder`] given a pool).
    pool: Option<Arc<Pool>>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            let (body, raw, items) =
                (std::mem::take(&mut self.body), std::mem::take(&mut self.raw), std::mem::take(&mut self.items));
            pool.give(Buffers { body, raw, items });
        }
    }
}

impl Batch {
    /// An empty batch for records of `origin`.
    pub fn new(origin: Arc<Origin>) -> Self {
        Batch { body: Vec::new(), items: Vec::new(), raw: Vec::new(), origin, pool: None }
    }

    /// An empty batch on buffers from `pool` (when given), with room reserved for `room` (body,
    /// raw, items), so that filling it does not copy the buffers over and over as they double.
    fn with_room(origin: Arc<Origin>, room: Room, pool: Option<Arc<Pool>>) -> Self {
        let Buffers { mut body, mut raw, mut items } = pool.as_ref().and_then(|p| p.take()).unwrap_or_default();
        body.reserve_exact(room.body);
        raw.reserve_exact(room.raw);
        items.reserve_exact(room.items);
        Batch { body, items, raw, origin, pool }
    }

    /// What a batch like this one needs, with an eighth to spare.
    fn room(&self) -> Room {
        let spare = |n: usize| n + n / 8;
        Room { body: spare(self.body.len()), raw: spare(self.raw.len()), items: spare(self.items.len()) }
    }

    /// Number of actions.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch holds no action.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The action line of an item (without its newline).
    pub fn action(&self, item: &Item) -> &[u8] {
        &self.body[item.lines.start..item.doc_start - 1]
    }

    /// The document line of an item (without its newline).
    pub fn document(&self, item: &Item) -> &[u8] {
        &self.body[item.doc_start..item.lines.end - 1]
    }

    /// The memory the batch holds, in bytes.
    pub fn footprint(&self) -> usize {
        super::buffers::footprint(&self.body, &self.raw, &self.items)
    }

    /// The `_id` of an item's action, when it has one.
    pub fn action_id(&self, item: &Item) -> Option<String> {
        self.action_meta(item).and_then(|m| m.id.map(|c| c.into_owned()))
    }

    /// The `_index` of an item's action.
    pub fn action_index(&self, item: &Item) -> Option<String> {
        self.action_meta(item).map(|m| m.index.into_owned())
    }

    fn action_meta(&self, item: &Item) -> Option<ActionMeta<'_>> {
        #[derive(serde::Deserialize)]
        struct Action<'a> {
            #[serde(borrow, alias = "index")]
            create: ActionMeta<'a>,
        }
        serde_json::from_slice::<Action>(self.action(item)).ok().map(|a| a.create)
    }

    /// The original record of an item.
    pub fn raw_record(&self, item: &Item) -> &[u8] {
        &self.raw[item.raw.clone()]
    }

    /// Appends one action: `write_action` and `write_doc` each write one line's JSON (no
    /// newline) and `raw` is the original record, copied ([`BatchBuilder::push`] lets an alert
    /// share its event's copy).
    pub fn push(
        &mut self,
        kind: ItemKind,
        write_action: impl FnOnce(&mut Vec<u8>),
        write_doc: impl FnOnce(&mut Vec<u8>),
        raw: &[u8],
    ) {
        self.push_item(kind, write_action, write_doc, raw, false);
    }

    /// [`Batch::push`], the record shared with the last item when `shared` (the caller knows it
    /// is the same record).
    fn push_item(
        &mut self,
        kind: ItemKind,
        write_action: impl FnOnce(&mut Vec<u8>),
        write_doc: impl FnOnce(&mut Vec<u8>),
        raw: &[u8],
        shared: bool,
    ) {
        let start = self.body.len();
        write_action(&mut self.body);
        self.body.push(b'\n');
        let doc_start = self.body.len();
        write_doc(&mut self.body);
        self.body.push(b'\n');
        let raw = match self.items.last() {
            Some(last) if shared => last.raw.clone(),
            _ => {
                let raw_start = self.raw.len();
                self.raw.extend_from_slice(raw);
                raw_start..self.raw.len()
            }
        };
        self.items.push(Item { lines: start..self.body.len(), doc_start, raw, kind });
    }

    /// A new batch holding only the chosen items (for retrying them alone).
    pub fn subset(&self, chosen: &[usize]) -> Batch {
        let mut out = Batch::new(self.origin.clone());
        for &i in chosen {
            let item = &self.items[i];
            out.copy_item_from(self, item);
        }
        out
    }

    /// Moves every item of `other` to the end of this batch.
    pub fn append(&mut self, other: Batch) {
        for item in &other.items {
            self.copy_item_from(&other, item);
        }
    }

    fn copy_item_from(&mut self, from: &Batch, item: &Item) {
        let start = self.body.len();
        self.body.extend_from_slice(&from.body[item.lines.clone()]);
        let raw_start = self.raw.len();
        self.raw.extend_from_slice(&from.raw[item.raw.clone()]);
        self.items.push(Item {
            lines: start..self.body.len(),
            doc_start: start + (item.doc_start - item.lines.start),
            raw: raw_start..self.raw.len(),
            kind: item.kind,
        });
    }

    /// Removes the last item into a batch of its own, with `room` for more.
    fn split_last(&mut self, room: Room) -> Batch {
        let item = self.items.last().cloned().expect("split_last on an empty batch");
        let mut tail = Batch::with_room(self.origin.clone(), room, self.pool.clone());
        tail.copy_item_from(self, &item);
        self.items.pop();
        self.body.truncate(item.lines.start);
        // What the items left hold (an alert may have shared its event's record).
        self.raw.truncate(self.items.last().map_or(0, |i| i.raw.end));
        tail
    }
}

/// Capacities to reserve for a batch's buffers.
#[derive(Debug, Clone, Copy)]
struct Room {
    body: usize,
    raw: usize,
    items: usize,
}

/// Room reserved for an object's first batch, before any batch tells how large they get: a
/// typical CloudTrail file's worth (reserved address space costs nothing until written).
const FIRST_ROOM: Room = Room { body: 1 << 20, raw: 1 << 19, items: 1 << 10 };

/// Fills batches up to the limits and hands out each one as it is full.
#[derive(Debug)]
pub struct BatchBuilder {
    limits: BatchLimits,
    current: Batch,
    /// The address and length of the record slice last pushed: an alert pushed with the same
    /// slice is its event's (the slice is borrowed across both pushes), and when the current
    /// batch holds anything its last item is that push's, so the alert shares its record
    /// without comparing a possibly 100 KB record byte by byte. Never dereferenced.
    last_raw: (usize, usize),
}

impl BatchBuilder {
    /// A builder for records of `origin`, on fresh buffers.
    pub fn new(limits: BatchLimits, origin: Arc<Origin>) -> Self {
        Self::build(limits, origin, None)
    }

    /// A builder for records of `origin` whose batches take their buffers from `pool` and give
    /// them back when dropped.
    pub fn with_pool(limits: BatchLimits, origin: Arc<Origin>, pool: Arc<Pool>) -> Self {
        Self::build(limits, origin, Some(pool))
    }

    fn build(limits: BatchLimits, origin: Arc<Origin>, pool: Option<Arc<Pool>>) -> Self {
        let room = Room {
            body: FIRST_ROOM.body.min(limits.max_bytes + limits.max_bytes / 8),
            raw: FIRST_ROOM.raw.min(limits.max_bytes),
            items: FIRST_ROOM.items.min(limits.max_actions),
        };
        BatchBuilder { limits, current: Batch::with_room(origin, room, pool), last_raw: (0, 0) }
    }

    /// Appends one action (see [`Batch::push`]); returns a batch when one is full. A batch never
    /// exceeds `max_bytes` unless it holds a single action.
    pub fn push(
        &mut self,
        kind: ItemKind,
        write_action: impl FnOnce(&mut Vec<u8>),
        write_doc: impl FnOnce(&mut Vec<u8>),
        raw: &[u8],
    ) -> Option<Batch> {
        let slice = (raw.as_ptr() as usize, raw.len());
        let shared = kind == ItemKind::Alert && slice == self.last_raw;
        debug_assert!(!shared || self.current.items.last().is_none_or(|l| self.current.raw[l.raw.clone()] == *raw));
        self.last_raw = slice;
        self.current.push_item(kind, write_action, write_doc, raw, shared);
        if self.current.body.len() > self.limits.max_bytes && self.current.len() > 1 {
            let tail = self.current.split_last(self.current.room());
            let full = std::mem::replace(&mut self.current, tail);
            return Some(full);
        }
        if self.current.body.len() >= self.limits.max_bytes || self.current.len() >= self.limits.max_actions {
            let next = Batch::with_room(self.current.origin.clone(), self.current.room(), self.current.pool.clone());
            return Some(std::mem::replace(&mut self.current, next));
        }
        None
    }

    /// The object the records come from.
    pub fn origin(&self) -> &Arc<Origin> {
        &self.current.origin
    }

    /// The last, partly filled batch, if it holds anything.
    pub fn finish(self) -> Option<Batch> {
        (!self.current.is_empty()).then_some(self.current)
    }
}

/// Writes `{"create":{"_index":"<prefix>-<date>","_id":<id_json>}}`. `id_json` is a JSON string
/// literal; prefix and date are validated index-name characters needing no escape.
pub fn write_create_action(out: &mut Vec<u8>, index_prefix: &str, date: &str, id_json: &str) {
    out.extend_from_slice(b"{\"create\":{\"_index\":\"");
    out.extend_from_slice(index_prefix.as_bytes());
    out.push(b'-');
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\",\"_id\":");
    out.extend_from_slice(id_json.as_bytes());
    out.extend_from_slice(b"}}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Arc<Origin> {
        Arc::new(Origin::S3 { bucket: "b".into(), key: "k".into() })
    }

    fn push(b: &mut BatchBuilder, id: &str, doc_len: usize) -> Option<Batch> {
        let doc = format!(r#"{{"p":"{}"}}"#, "x".repeat(doc_len));
        b.push(
            ItemKind::Event,
            |o| write_create_action(o, "cloudtrail", "2024.08.01", &format!("\"{id}\"")),
            |o| o.extend_from_slice(doc.as_bytes()),
            id.as_bytes(),
        )
    }

    #[test]
    fn batches_are_cut_by_count() {
        let mut b = BatchBuilder::new(BatchLimits { max_bytes: 1 << 20, max_actions: 2 }, origin());
        assert!(push(&mut b, "a", 1).is_none());
        let full = push(&mut b, "b", 1).expect("full at two actions");
        assert_eq!(full.len(), 2);
        assert!(push(&mut b, "c", 1).is_none());
        assert_eq!(b.finish().unwrap().len(), 1);
    }

    #[test]
    fn batches_never_exceed_max_bytes_unless_alone() {
        let mut b = BatchBuilder::new(BatchLimits { max_bytes: 300, max_actions: 100 }, origin());
        let mut batches = Vec::new();
        for (i, len) in [100, 100, 100, 500, 10].into_iter().enumerate() {
            batches.extend(push(&mut b, &i.to_string(), len));
        }
        batches.extend(b.finish());
        let sizes: Vec<(usize, usize)> = batches.iter().map(|b| (b.len(), b.body.len())).collect();
        for (n, bytes) in &sizes {
            assert!(*bytes <= 300 || *n == 1, "{sizes:?}");
        }
        assert_eq!(sizes.iter().map(|s| s.0).sum::<usize>(), 5);
        // Every line is intact after splitting.
        for batch in &batches {
            for item in &batch.items {
                let action: serde_json::Value = serde_json::from_slice(batch.action(item)).unwrap();
                let id = action["create"]["_id"].as_str().unwrap();
                assert_eq!(batch.raw_record(item), id.as_bytes());
                serde_json::from_slice::<serde_json::Value>(batch.document(item)).unwrap();
            }
        }
    }

    #[test]
    fn subset_keeps_only_the_chosen_items_intact() {
        let mut b = BatchBuilder::new(BatchLimits { max_bytes: 1 << 20, max_actions: 100 }, origin());
        for id in ["a", "b", "c"] {
            push(&mut b, id, 5);
        }
        let batch = b.finish().unwrap();
        let sub = batch.subset(&[0, 2]);
        let text = String::from_utf8(sub.body.clone()).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains("\"_id\":\"a\"") && text.contains("\"_id\":\"c\"") && !text.contains("\"_id\":\"b\""));
        assert_eq!(sub.raw_record(&sub.items[1]), b"c");
    }

    #[test]
    fn alerts_share_their_events_record_and_keep_it_through_cuts_and_subsets() {
        let record = br#"{"eventID":"e","big":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
        let mut b = BatchBuilder::new(BatchLimits { max_bytes: 1 << 20, max_actions: 100 }, origin());
        let doc = |o: &mut Vec<u8>| o.extend_from_slice(b"{}");
        b.push(ItemKind::Event, |o| write_create_action(o, "ct", "2024.08.01", "\"e\""), doc, record);
        b.push(ItemKind::Alert, |o| write_create_action(o, "al", "2024.08.01", "\"e:1\""), doc, record);
        b.push(ItemKind::Alert, |o| write_create_action(o, "al", "2024.08.01", "\"e:2\""), doc, record);
        let batch = b.finish().unwrap();
        assert_eq!(batch.raw.len(), record.len(), "one copy of the record");
        assert!(batch.items.iter().all(|i| batch.raw_record(i) == record));
        let alone = batch.subset(&[2]);
        assert_eq!(alone.raw_record(&alone.items[0]), record);
        // A cut after an alert leaves the event its record and gives the alert a copy.
        let mut small = BatchBuilder::new(BatchLimits { max_bytes: 100, max_actions: 100 }, origin());
        assert!(
            small.push(ItemKind::Event, |o| write_create_action(o, "ct", "2024.08.01", "\"e\""), doc, record).is_none()
        );
        let full = small.push(ItemKind::Alert, |o| write_create_action(o, "al", "2024.08.01", "\"e:1\""), doc, record);
        let full = full.expect("the alert does not fit beside the event");
        assert_eq!((full.len(), full.raw_record(&full.items[0])), (1, &record[..]));
        let tail = small.finish().unwrap();
        assert_eq!((tail.items[0].kind, tail.raw_record(&tail.items[0])), (ItemKind::Alert, &record[..]));
    }

    #[test]
    fn create_action_shape() {
        let mut out = Vec::new();
        write_create_action(&mut out, "cloudtrail", "2024.08.01", "\"id-1\"");
        assert_eq!(out, br#"{"create":{"_index":"cloudtrail-2024.08.01","_id":"id-1"}}"#);
    }
}
