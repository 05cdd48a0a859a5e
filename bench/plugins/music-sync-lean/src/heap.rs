//! The plugin's memory allocator in this WASI-free build
//! (`wasm32-unknown-unknown`, see `bench/plugins/build-lean.sh`): a bump
//! allocator that starts over whenever nothing is allocated.
//!
//! jobhost gives every job a fresh instance, so a job's heap only ever grows
//! from empty and is thrown away with the instance: keeping free lists (as
//! dlmalloc does) buys nothing. The allocator works from the heap that the
//! module's initial memory already holds (`build.rs` makes it 2 MiB); it
//! grows the memory only for a job that needs more, since each growth costs
//! the host an `mprotect` now and another when the instance's memory is
//! reset. BENCHMARKS.md has the measurements (the row "music-sync built
//! without WASI").
//!
//! With `--reuse-instances` one instance serves several jobs. Every block
//! of a call is freed by the time the call returns (its results by
//! `cabi_post_handle`), the count of live blocks drops to zero, and the
//! next call starts again at the bottom of the heap, so memory does not
//! creep from job to job. Freeing the most recent block, and growing it,
//! happen in place, which serde's and `Vec`'s usual patterns hit.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::Cell;
use core::ptr;

const PAGE: usize = 65536;

extern "C" {
    /// The first byte after the stack and static data (set by the linker).
    static __heap_base: u8;
}

struct Bump {
    /// The next free byte; 0 until the first allocation.
    top: Cell<usize>,
    /// Blocks allocated and not yet freed.
    live: Cell<usize>,
}

// The instance is single-threaded: no other thread can see the cells.
unsafe impl Sync for Bump {}

impl Bump {
    fn base() -> usize {
        // SAFETY: only the symbol's address is taken.
        (unsafe { &__heap_base } as *const u8 as usize + 15) & !15
    }

    /// Make sure `end` is inside the linear memory, growing it if needed.
    fn reach(end: usize) -> bool {
        // A full 4 GiB memory's size does not fit in a wasm32 usize.
        let have = wasm32::memory_size(0).saturating_mul(PAGE);
        if end <= have {
            return true;
        }
        let pages = (end - have).div_ceil(PAGE);
        wasm32::memory_grow(0, pages) != usize::MAX
    }
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let top = match self.top.get() {
            0 => Self::base(),
            top => top,
        };
        let Some(start) = top
            .checked_add(layout.align() - 1)
            .map(|padded| padded & !(layout.align() - 1))
        else {
            return ptr::null_mut();
        };
        let Some(end) = start.checked_add(layout.size()) else {
            return ptr::null_mut();
        };
        if !Self::reach(end) {
            return ptr::null_mut();
        }
        self.top.set(end);
        self.live.set(self.live.get() + 1);
        start as *mut u8
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let live = self.live.get() - 1;
        self.live.set(live);
        if live == 0 {
            self.top.set(Self::base());
        } else if block as usize + layout.size() == self.top.get() {
            self.top.set(block as usize);
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = block as usize;
        if start + layout.size() == self.top.get() {
            // The most recent block: grow or shrink it where it is.
            let Some(end) = start.checked_add(new_size) else {
                return ptr::null_mut();
            };
            if !Self::reach(end) {
                return ptr::null_mut();
            }
            self.top.set(end);
            return block;
        }
        if new_size <= layout.size() {
            return block;
        }
        // SAFETY: `layout.align()` is a valid alignment and the caller
        // guarantees that `new_size`, rounded up to it, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are live and do not overlap.
            unsafe { ptr::copy_nonoverlapping(block, moved, layout.size()) };
            unsafe { self.dealloc(block, layout) };
        }
        moved
    }
}

#[global_allocator]
static HEAP: Bump = Bump {
    top: Cell::new(0),
    live: Cell::new(0),
};
