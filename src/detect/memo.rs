//! A small per-thread memo of what the detection index's field filters admitted for a field's
//! raw JSON: a trail repeats a few identities (`userIdentity` is the same for every call of a
//! session), so a filter searches each distinct value once while it stays here instead of
//! lowercasing and searching it on every event. Direct-mapped, [`SLOTS`] entries of at most
//! [`MAX_TEXT`] bytes each: bounded whatever arrives. An entry is keyed by the filter's id
//! (fresh for every filter and every change to one) and the whole text, compared byte for
//! byte, so a hit gives exactly what the filter would. Pure apart from the memo itself.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries per thread.
const SLOTS: usize = 256;

/// Longer texts are searched every time (and not kept).
pub const MAX_TEXT: usize = 1024;

/// A fresh filter id: never one an earlier filter had.
pub fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[derive(Default)]
struct Slot {
    filter: u64,
    text: Vec<u8>,
    admitted: Vec<usize>,
}

thread_local! {
    static MEMO: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

/// Appends to `out` what filter `filter` admits for `text`: the memo's answer when it holds
/// one for this filter and text, else `compute`'s (which appends it), kept for next time.
pub fn admitted(filter: u64, text: &[u8], out: &mut Vec<usize>, compute: impl FnOnce(&mut Vec<usize>)) {
    if text.len() > MAX_TEXT {
        return compute(out);
    }
    let at = (rustc_hash::FxBuildHasher.hash_one((filter, text)) >> 56) as usize % SLOTS;
    MEMO.with_borrow_mut(|memo| {
        if memo.is_empty() {
            memo.resize_with(SLOTS, Slot::default);
        }
        let slot = &mut memo[at];
        if slot.filter == filter && slot.text == text {
            out.extend_from_slice(&slot.admitted);
            return;
        }
        let from = out.len();
        compute(out);
        slot.filter = filter;
        slot.text.clear();
        slot.text.extend_from_slice(text);
        slot.admitted.clear();
        slot.admitted.extend_from_slice(&out[from..]);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(filter: u64, text: &[u8], answer: &[usize], calls: &mut usize) -> Vec<usize> {
        let mut out = vec![99];
        admitted(filter, text, &mut out, |out| {
            *calls += 1;
            out.extend_from_slice(answer);
        });
        out
    }

    #[test]
    fn a_repeated_text_is_answered_from_the_memo_and_nothing_else_is() {
        let (a, b) = (next_id(), next_id());
        let mut calls = 0;
        assert_eq!(run(a, b"{\"type\":\"Root\"}", &[1, 4], &mut calls), [99, 1, 4]);
        assert_eq!(run(a, b"{\"type\":\"Root\"}", &[7], &mut calls), [99, 1, 4], "kept");
        assert_eq!(calls, 1);
        // Another filter, another text of the same length, an empty answer: each computed.
        assert_eq!(run(b, b"{\"type\":\"Root\"}", &[2], &mut calls), [99, 2]);
        assert_eq!(run(a, b"{\"type\":\"Roos\"}", &[], &mut calls), [99]);
        assert_eq!(run(a, b"{\"type\":\"Roos\"}", &[5], &mut calls), [99]);
        assert_eq!(calls, 3);
        // The longest text kept.
        let edge = vec![b'b'; MAX_TEXT];
        run(a, &edge, &[6], &mut calls);
        assert_eq!(run(a, &edge, &[7], &mut calls), [99, 6]);
        assert_eq!(calls, 4);
        // Too long to keep: computed every time.
        let long = vec![b'a'; MAX_TEXT + 1];
        run(a, &long, &[3], &mut calls);
        assert_eq!(run(a, &long, &[3], &mut calls), [99, 3]);
        assert_eq!(calls, 6);
    }

    #[test]
    fn each_answer_is_its_own_filter_and_text_s_and_the_memo_stays_bounded() {
        let f = next_id();
        let mut calls = 0;
        // Far more texts than slots: they share slots, and each still gets its own answer,
        // the second time too when it is still held.
        for n in 0..10_000 {
            let text = format!("{n}");
            assert_eq!(run(f, text.as_bytes(), &[n], &mut calls), [99, n]);
            assert_eq!(run(f, text.as_bytes(), &[usize::MAX], &mut calls), [99, n], "{n} held");
        }
        assert_eq!(calls, 10_000);
        // Texts spread over the slots: of 64 asked again, most are still held.
        let before = calls;
        let texts: Vec<String> = (0..64).map(|n| format!("spread {n}")).collect();
        for (n, text) in texts.iter().enumerate() {
            run(f, text.as_bytes(), &[n], &mut calls);
        }
        for (n, text) in texts.iter().enumerate() {
            assert_eq!(run(f, text.as_bytes(), &[n], &mut calls), [99, n]);
        }
        assert!(calls - before < 64 + 32, "{} of 64 held", 128 - (calls - before));
        // Many filters, one text.
        for n in 0..1_000 {
            assert_eq!(run(next_id(), b"{\"type\":\"Root\"}", &[n], &mut calls), [99, n]);
        }
        MEMO.with_borrow(|memo| assert_eq!(memo.len(), SLOTS));
    }
}
