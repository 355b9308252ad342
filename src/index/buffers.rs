//! The buffers of settled batches, kept for the next batches to fill.
//!
//! Every object fills batches of one to several MB. Freed and allocated again for every
//! object, buffers that size either go back to the kernel and are faulted in again page by
//! page, or stay in the allocator's heaps, where blocks of ever different sizes leave free
//! memory that the next object cannot reuse and the kernel never gets back: resident memory
//! then grows past the budget that counts only what is live. Kept here instead, up to
//! [`KEPT_BYTES`] in all (part of `Config::BASE_MEMORY_BYTES`), they are filled again as they
//! are.

use super::item::Item;
use std::sync::Mutex;

/// At most this many bytes of buffers are kept.
pub const KEPT_BYTES: usize = 16 << 20;

/// The three buffers of a batch.
#[derive(Debug, Default)]
pub struct Buffers {
    /// The NDJSON body.
    pub body: Vec<u8>,
    /// The raw records.
    pub raw: Vec<u8>,
    /// The items.
    pub items: Vec<Item>,
}

impl Buffers {
    /// The memory the buffers hold, in bytes.
    pub fn footprint(&self) -> usize {
        footprint(&self.body, &self.raw, &self.items)
    }
}

/// The memory buffers of a batch hold, in bytes.
pub(super) fn footprint(body: &Vec<u8>, raw: &Vec<u8>, items: &Vec<Item>) -> usize {
    body.capacity() + raw.capacity() + items.capacity() * std::mem::size_of::<Item>()
}

/// Buffers kept, newest last, and the bytes they hold.
#[derive(Debug)]
pub struct Pool {
    kept: Mutex<(Vec<Buffers>, usize)>,
    max_bytes: usize,
}

impl Pool {
    /// A pool keeping at most `max_bytes`; [`KEPT_BYTES`] is what a command's pool keeps.
    pub const fn new(max_bytes: usize) -> Self {
        Pool { kept: Mutex::new((Vec::new(), 0)), max_bytes }
    }

    /// The buffers kept last, emptied, if any.
    pub fn take(&self) -> Option<Buffers> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let buffers = kept.0.pop()?;
        kept.1 -= buffers.footprint();
        Some(buffers)
    }

    /// Keeps `buffers` (emptied) when they fit in what is left, frees them otherwise.
    pub fn give(&self, mut buffers: Buffers) {
        buffers.body.clear();
        buffers.raw.clear();
        buffers.items.clear();
        let size = buffers.footprint();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if size == 0 || kept.1 + size > self.max_bytes {
            return;
        }
        kept.1 += size;
        kept.0.push(buffers);
    }

    /// The bytes kept.
    pub fn kept_bytes(&self) -> usize {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffers(body: usize) -> Buffers {
        Buffers { body: Vec::with_capacity(body), raw: Vec::with_capacity(10), items: Vec::new() }
    }

    #[test]
    fn keeps_emptied_buffers_up_to_its_size_and_hands_back_the_newest_first() {
        let pool = Pool::new(100);
        let mut first = buffers(40);
        first.body.extend_from_slice(b"abc");
        pool.give(first);
        pool.give(buffers(45));
        assert_eq!(pool.kept_bytes(), 50, "50 + 55 bytes is over 100: the second is freed");
        pool.give(buffers(30));
        assert_eq!(pool.kept_bytes(), 90);
        let newest = pool.take().unwrap();
        assert_eq!(newest.body.capacity(), 30);
        let oldest = pool.take().unwrap();
        assert!(oldest.body.is_empty() && oldest.body.capacity() >= 40, "emptied, capacity kept");
        assert!(pool.take().is_none());
        assert_eq!(pool.kept_bytes(), 0);
    }
}
