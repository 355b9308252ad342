//! One action of a `_bulk` batch: where its lines and its original record sit in the batch's
//! buffers, and what kind of document it is. Pure data, shared by the batches ([`super::bulk`])
//! and the buffer pool ([`super::buffers`]).

use std::ops::Range;

/// What an action in a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A CloudTrail event headed for its daily index.
    Event,
    /// A record for the dead-letter index (it must not fail in turn).
    DeadLetter,
    /// An alert document (a detection rule matched the event before it); its raw record is
    /// the event's, so a refused alert is dead-lettered with what replays it.
    Alert,
    /// A count written with an `index` action (the dropped events of a trend key), replacing
    /// the same count written before; no event of its own.
    Tally,
}

/// One action of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The action line and the document line, newlines included, in [`Batch::body`].
    pub lines: Range<usize>,
    /// Where the document line starts.
    pub doc_start: usize,
    /// The original record in [`Batch::raw`].
    pub raw: Range<usize>,
    /// Event or dead-letter record.
    pub kind: ItemKind,
}
