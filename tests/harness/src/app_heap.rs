//! WAMR's "app heap": the host-managed region of linear memory that
//! `wasm_runtime_module_dup_data` allocates from (WAMR 2.4.1, as built into Fluent Bit).
//!
//! Placement (`memory_instantiate` in `core/iwasm/interpreter/wasm_runtime.c`): a module
//! that exports neither `malloc`/`free` nor the `__heap_base`/`__data_end` globals (a
//! Rust `wasm32-wasip1` cdylib exports none of them) gets the heap appended after its
//! initial memory: `ceil(heap / 64 KiB)` pages are added and the usable pool is those
//! pages minus 1 KiB. The module's own allocator grows memory beyond it.
//!
//! Allocator (`core/shared/mem-alloc/ems`): the pool starts `GC_HEAD_PADDING` (4) bytes
//! in, every block has a 4-byte header, block sizes are `align8(4 + n)` with a 16-byte
//! minimum, a free block is split only when the rest is at least 16 bytes, and freed
//! blocks merge with free neighbours. With the default 8192-byte heap the pool is
//! 64512 bytes, so after the tag a record of about 63 KiB no longer fits.
//!
//! Simplification: WAMR keeps small free blocks in size-class lists and large ones in a
//! tree; this model picks the smallest fitting free block (lowest address on ties). The
//! two agree whenever the heap holds only the host's per-record copies, which are freed
//! after every call, as in Fluent Bit. Block headers live on the host side here, so a
//! module scribbling over the heap region does not "corrupt" the model as it would WAMR.

use std::collections::BTreeMap;

use crate::HarnessError;

pub const WASM_PAGE_SIZE: u64 = 65_536;
/// WAMR `APP_HEAP_SIZE_MAX`.
pub const APP_HEAP_SIZE_MAX: u64 = 1024 * 1024 * 1024;
/// WAMR `DEFAULT_MAX_PAGES` for a 32-bit memory.
const MAX_PAGES: u64 = 65_536;
const GC_HEAD_PADDING: u32 = 4;
const HMU_SIZE: u32 = 4;
const GC_SMALLEST_SIZE: u32 = 16;
const PAGE_TAIL_RESERVED: u64 = 1024;

/// Where the app heap goes in linear memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppHeapLayout {
    /// Offset of the heap region in linear memory (the end of the initial memory).
    pub offset: u32,
    /// Size WAMR gives the allocator for the region (pages added minus 1 KiB).
    pub pool_size: u32,
    /// Wasm pages added to linear memory for the heap.
    pub pages_added: u32,
}

impl AppHeapLayout {
    /// Computes WAMR's "insert app heap before new page" placement for a memory whose
    /// initial size is `initial_pages` and a configured heap of `heap_size` bytes.
    pub fn after_initial_memory(initial_pages: u64, heap_size: u64) -> Result<Self, HarnessError> {
        // wasm_instantiate: align to 8, clamp to APP_HEAP_SIZE_MAX.
        let heap = heap_size
            .checked_add(7)
            .map(|v| v & !7)
            .unwrap_or(APP_HEAP_SIZE_MAX)
            .min(APP_HEAP_SIZE_MAX);
        let pages = heap.div_ceil(WASM_PAGE_SIZE);
        let too_big = || {
            HarnessError::module(
                "failed to insert app heap into linear memory (WAMR would refuse this module \
                 with this wasm_heap_size)",
            )
        };
        if initial_pages
            .checked_add(pages)
            .is_none_or(|total| total > MAX_PAGES)
        {
            return Err(too_big());
        }
        let offset = initial_pages
            .checked_mul(WASM_PAGE_SIZE)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(too_big)?;
        let pool_size = pages
            .checked_mul(WASM_PAGE_SIZE)
            .and_then(|v| v.checked_sub(PAGE_TAIL_RESERVED))
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(too_big)?;
        let pages_added = u32::try_from(pages).map_err(|_| too_big())?;
        Ok(Self {
            offset,
            pool_size,
            pages_added,
        })
    }
}

#[derive(Clone, Copy, Debug)]
struct Block {
    size: u32,
    free: bool,
}

/// The EMS allocator model over one app heap region. Addresses are linear-memory
/// offsets (what the module receives as pointers).
#[derive(Debug)]
pub struct AppHeap {
    /// Linear-memory offset of the first block header.
    base: u32,
    /// Usable bytes (`heap_max_size` in EMS).
    size: u32,
    /// Blocks by offset from `base`; they tile `[0, size)`.
    blocks: BTreeMap<u32, Block>,
}

impl AppHeap {
    pub fn new(layout: AppHeapLayout) -> Self {
        // gc_init_with_struct_and_pool: base = pool + 4, size = (pool - 4) & ~7.
        let base = layout.offset.saturating_add(GC_HEAD_PADDING);
        let size = layout.pool_size.saturating_sub(GC_HEAD_PADDING) & !7;
        let mut blocks = BTreeMap::new();
        blocks.insert(0, Block { size, free: true });
        Self { base, size, blocks }
    }

    /// Usable bytes of the pool, block headers included.
    pub fn capacity(&self) -> u32 {
        self.size
    }

    /// Bytes currently free (sum of free blocks).
    pub fn free_bytes(&self) -> u64 {
        self.blocks
            .values()
            .filter(|b| b.free)
            .map(|b| u64::from(b.size))
            .sum()
    }

    /// Size of the block an `n`-byte request takes, or `None` on overflow.
    pub fn block_size_for(n: u32) -> Option<u32> {
        let total = n.checked_add(HMU_SIZE)?.checked_add(7)? & !7;
        Some(total.max(GC_SMALLEST_SIZE))
    }

    /// `mem_allocator_malloc`: returns the object's linear-memory address, or `None`
    /// when no free block is large enough (WAMR then returns 0 to the caller).
    pub fn alloc(&mut self, n: u32) -> Option<u32> {
        let want = Self::block_size_for(n)?;
        let (&offset, block) = self
            .blocks
            .iter()
            .filter(|(_, b)| b.free && b.size >= want)
            .min_by_key(|(off, b)| (b.size, **off))?;
        let found = *block;
        let rest = found.size.checked_sub(want)?;
        if rest >= GC_SMALLEST_SIZE {
            self.blocks.insert(
                offset,
                Block {
                    size: want,
                    free: false,
                },
            );
            self.blocks.insert(
                offset.checked_add(want)?,
                Block {
                    size: rest,
                    free: true,
                },
            );
        } else {
            self.blocks.insert(
                offset,
                Block {
                    size: found.size,
                    free: false,
                },
            );
        }
        self.base.checked_add(offset)?.checked_add(HMU_SIZE)
    }

    /// `mem_allocator_free`: releases the block whose object starts at `addr` and
    /// merges it with free neighbours. Returns false if `addr` is not an allocated
    /// object of this heap (WAMR ignores such frees).
    pub fn free(&mut self, addr: u32) -> bool {
        let Some(offset) = addr
            .checked_sub(self.base)
            .and_then(|v| v.checked_sub(HMU_SIZE))
        else {
            return false;
        };
        let Some(block) = self.blocks.get(&offset).copied() else {
            return false;
        };
        if block.free {
            return false;
        }
        let mut start = offset;
        let mut size = block.size;
        if let Some(next_off) = offset.checked_add(size) {
            if let Some(next) = self.blocks.get(&next_off).copied() {
                if next.free {
                    self.blocks.remove(&next_off);
                    size = size.saturating_add(next.size);
                }
            }
        }
        if let Some((&prev_off, prev)) = self.blocks.range(..offset).next_back() {
            if prev.free && prev_off.checked_add(prev.size) == Some(offset) {
                let prev_size = prev.size;
                self.blocks.remove(&offset);
                start = prev_off;
                size = size.saturating_add(prev_size);
            }
        }
        self.blocks.insert(start, Block { size, free: true });
        true
    }

    /// True when `addr` lies inside the heap region (WAMR frees only such pointers).
    pub fn contains(&self, addr: u32) -> bool {
        addr >= self.base
            && u64::from(addr) < u64::from(self.base).saturating_add(u64::from(self.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_heap_gets_one_page_minus_one_kib() {
        let layout = AppHeapLayout::after_initial_memory(17, 8192).unwrap();
        assert_eq!(layout.offset, 17 * 65_536);
        assert_eq!(layout.pool_size, 64_512);
        assert_eq!(layout.pages_added, 1);
        let heap = AppHeap::new(layout);
        assert_eq!(heap.capacity(), 64_504);
    }

    #[test]
    fn larger_heaps_round_up_to_pages() {
        let layout = AppHeapLayout::after_initial_memory(2, 4_000_000).unwrap();
        assert_eq!(layout.pages_added, 62);
        assert_eq!(layout.pool_size, 62 * 65_536 - 1024);
    }

    #[test]
    fn heap_that_cannot_fit_in_4_gib_is_refused() {
        assert!(AppHeapLayout::after_initial_memory(65_530, 1_000_000).is_err());
    }

    #[test]
    fn record_limit_with_default_heap_is_about_63_kib() {
        let layout = AppHeapLayout::after_initial_memory(1, 8192).unwrap();
        // A 9-byte tag ("dp.audit" + NUL) takes a 16-byte block.
        let mut heap = AppHeap::new(layout);
        let tag = heap.alloc(9).unwrap();
        assert_eq!(tag, 65_536 + 4 + 4);
        let limit = 64_504 - 16 - 4; // largest n with align8(n + 4) <= rest
        assert!(heap.alloc(limit + 1).is_none());
        let rec = heap.alloc(limit).unwrap();
        assert_eq!(rec, tag + 16);
        assert!(heap.free(tag));
        assert!(heap.free(rec));
        assert_eq!(heap.free_bytes(), u64::from(heap.capacity()));
        // 64484 bytes including the NUL: a JSON text of 64483 bytes, ~62.97 KiB.
        assert_eq!(limit, 64_484);
    }

    #[test]
    fn frees_merge_back_in_any_order() {
        let layout = AppHeapLayout::after_initial_memory(1, 8192).unwrap();
        let mut heap = AppHeap::new(layout);
        let a = heap.alloc(100).unwrap();
        let b = heap.alloc(5).unwrap();
        let c = heap.alloc(1000).unwrap();
        assert!(heap.free(b));
        assert!(!heap.free(b), "double free is ignored");
        // The freed 16-byte hole is reused for a small request (best fit).
        let d = heap.alloc(3).unwrap();
        assert_eq!(d, b);
        assert!(heap.free(a));
        assert!(heap.free(c));
        assert!(heap.free(d));
        assert_eq!(heap.free_bytes(), u64::from(heap.capacity()));
        assert_eq!(heap.blocks.len(), 1);
    }

    #[test]
    fn block_sizes_follow_ems() {
        assert_eq!(AppHeap::block_size_for(1), Some(16));
        assert_eq!(AppHeap::block_size_for(12), Some(16));
        assert_eq!(AppHeap::block_size_for(13), Some(24));
        assert_eq!(AppHeap::block_size_for(u32::MAX), None);
    }
}
