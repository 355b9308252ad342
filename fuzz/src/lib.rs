//! What every fuzz target links: an allocator that aborts (a finding for libFuzzer) on any
//! single allocation over [`CAP`]. The targets' inputs are at most 64 KiB and the decoder they
//! drive keeps records under 1 MiB and objects under 16 MiB decompressed, so an allocation
//! this large means something grew without a bound. (Without a sanitizer, libFuzzer's own
//! `-malloc_limit_mb` does not work; `-rss_limit_mb` still bounds the whole process.)

use std::alloc::{GlobalAlloc, Layout, System};

/// The largest single allocation allowed.
pub const CAP: usize = 64 << 20;

/// [`System`], refusing allocations over [`CAP`].
pub struct Capped;

fn over(layout: Layout) -> ! {
    // No allocation here: write the message with a fixed buffer, then abort.
    let mut line = *b"fuzz: an allocation over the 64 MiB cap: 0000000000 bytes\n";
    let mut n = layout.size();
    for digit in line[41..51].iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let _ = std::io::Write::write_all(&mut std::io::stderr(), &line);
    std::process::abort();
}

// SAFETY: every call is passed on to `System` unchanged; only the size is looked at first.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP {
            over(layout);
        }
        // SAFETY: the caller's contract for `alloc` is `System::alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP {
            over(layout);
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > CAP {
            over(Layout::from_size_align(new_size, layout.align()).unwrap_or(layout));
        }
        // SAFETY: as for `dealloc`, and `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;
