//! Big buffers in transparent huge pages: a big schema's bytes and its
//! node list.
//!
//! Both are written into memory the process has never touched: every 4 KiB
//! page costs the kernel a page fault when it is first written (2,551 for
//! the bytes of a 10.45 MB schema and 1,116 for its 63,500 entries, ~2 µs
//! each on a VM, a fifth of a first push's CPU). The kernel is asked to
//! back such a buffer with 2 MiB pages where whole ones fit in it
//! (`madvise(MADV_HUGEPAGE)`, which the default `madvise` mode of
//! transparent huge pages honours): the 2 MiB aligned part then costs one
//! fault per 2 MiB, and only the ends take 4 KiB pages.
//!
//! Advice only: where the kernel has no huge pages, or they are switched
//! off (`never`), or none is free, pages are 4 KiB as before and nothing
//! else changes.

use std::ops::Range;

/// Size of a huge page on x86-64 and most 64-bit Linux systems.
pub const HUGE_PAGE: usize = 2 * 1024 * 1024;

/// Buffers of at least this many bytes are advised (two huge pages: a
/// smaller one seldom holds a whole aligned page).
pub const ADVISED_FROM: usize = 2 * HUGE_PAGE;

/// The whole huge pages inside the bytes `start..start + len`: from the
/// first 2 MiB boundary at or after `start` to the last at or before the
/// end; `None` when not one fits.
pub fn whole_pages(start: usize, len: usize) -> Option<Range<usize>> {
    let first = start.checked_next_multiple_of(HUGE_PAGE)?;
    let end = start.checked_add(len)? / HUGE_PAGE * HUGE_PAGE;
    (end > first).then_some(first..end)
}

/// Asks the kernel to back `buf`'s reserved room with huge pages where
/// whole ones fit. Call it before the room is written: pages already
/// faulted in stay small. Returns whether advice was given (false for a
/// small buffer, or when the kernel refused it).
pub fn advise<T>(buf: &mut Vec<T>) -> bool {
    let bytes = buf.capacity().saturating_mul(std::mem::size_of::<T>());
    if bytes < ADVISED_FROM {
        return false;
    }
    let Some(pages) = whole_pages(buf.as_mut_ptr() as usize, bytes) else {
        return false;
    };
    advise_range(pages)
}

#[cfg(target_os = "linux")]
fn advise_range(pages: Range<usize>) -> bool {
    // SAFETY: `pages` lies inside the allocation of the vector the caller
    // holds mutably, so it is mapped memory of this process; MADV_HUGEPAGE
    // changes how later faults in it are served, never its contents.
    let rc = unsafe {
        libc::madvise(
            pages.start as *mut libc::c_void,
            pages.len(),
            libc::MADV_HUGEPAGE,
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
fn advise_range(_pages: Range<usize>) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    const H: usize = HUGE_PAGE;

    #[test]
    fn whole_pages_are_the_aligned_inside() {
        assert_eq!(whole_pages(0, 2 * H), Some(0..2 * H));
        assert_eq!(whole_pages(H, H), Some(H..2 * H));
        // Unaligned ends are left out.
        assert_eq!(whole_pages(H + 1, 3 * H), Some(2 * H..4 * H));
        assert_eq!(whole_pages(4096, 3 * H + 8192), Some(H..3 * H));
        // No whole page inside.
        assert_eq!(whole_pages(1, H), None);
        assert_eq!(whole_pages(H + 1, 2 * H - 2), None);
        assert_eq!(whole_pages(0, H - 1), None);
        assert_eq!(whole_pages(0, 0), None);
        // Near the top of the address space: no overflow.
        assert_eq!(whole_pages(usize::MAX - H, H), None);
        assert_eq!(whole_pages(usize::MAX - 10, 5), None);
    }

    #[test]
    fn every_range_is_inside_and_misses_less_than_two_pages() {
        let mut rng = Rng(7);
        for _ in 0..10_000 {
            let start = rng.below(64 * H);
            let len = rng.below(8 * H);
            match whole_pages(start, len) {
                Some(r) => {
                    assert!(r.start >= start && r.end <= start + len);
                    assert_eq!(r.start % H, 0);
                    assert_eq!(r.end % H, 0);
                    assert!(len - r.len() < 2 * H, "{start} {len} {r:?}");
                }
                None => assert!(len < 2 * H, "{start} {len}"),
            }
        }
    }

    #[test]
    fn small_buffers_are_not_advised() {
        let mut small: Vec<u8> = Vec::with_capacity(ADVISED_FROM - 1);
        assert!(!advise(&mut small));
        let mut empty: Vec<u64> = Vec::new();
        assert!(!advise(&mut empty));
    }

    /// The advice reaches the kernel: the buffer's mapping is flagged
    /// `hg` in `/proc/self/smaps`. A kernel without transparent huge
    /// pages refuses the advice, and then there is nothing to look for.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_big_buffer_is_flagged_for_huge_pages() {
        // Counted in elements: 3 MiB of 8-byte entries.
        let mut buf: Vec<u64> = Vec::with_capacity(3 * H / 8);
        let advised = advise(&mut buf);
        let thp = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
        assert_eq!(
            advised, thp,
            "advice given exactly where the kernel has THP"
        );
        if !advised {
            return;
        }
        let pages = whole_pages(buf.as_mut_ptr() as usize, 3 * H).unwrap();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut flagged = None;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                    {
                        inside = a <= pages.start && pages.start < b;
                        continue;
                    }
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    flagged = Some(flags.split_whitespace().any(|f| f == "hg"));
                }
            }
        }
        assert_eq!(flagged, Some(true), "the buffer's mapping is flagged hg");
        // The buffer works as any other.
        buf.resize(3 * H / 8, 7);
        assert!(buf.iter().all(|&b| b == 7));
    }
}
