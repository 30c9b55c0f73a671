//! Work items handed out with stealing. Each thread owns a contiguous run of the items (the
//! static split of [`par`](super::par)) and takes them from the front; once its run is empty it
//! takes the items left in the other runs from their back ends. Why: a static split makes the
//! pass as long as its slowest run, and the runs are rarely equal on the wall clock. An item's
//! cost depends on the data (the folded-code histograms of the MiniLM embeddings' first half
//! took 3.1 ms on the calling thread against 0.8 ms for the worker's half), and a worker that
//! was parked, or is still starting, begins its run tens of microseconds late. The owner still
//! walks its own run in order (the rows it quantized stay in its cache); a thief takes the
//! items furthest from the owner, and only items nobody has started, so no thread finishes
//! later than it would have without stealing.
//!
//! Results come back in item order, each computed by `f(i)` alone: the same values whichever
//! thread ran an item, so a pass gives the same bytes on any thread count and any timing.

use super::pool;
use std::sync::atomic::{AtomicU64, Ordering};

/// The unclaimed items `front..back` of one run, both ends in one word (front in the low half),
/// so that the owner's claim and a thief's can never both take the last item.
// One cache line per run: the owner's claims do not bounce the line of another run's owner.
#[repr(align(64))]
struct Run(AtomicU64);

impl Run {
    fn new(front: usize, back: usize) -> Run {
        Run(AtomicU64::new(front as u64 | (back as u64) << 32))
    }

    /// Takes the first unclaimed item of the run (`from_back`: the last one), if any.
    fn claim(&self, from_back: bool) -> Option<usize> {
        // Relaxed: the word only splits the indices among the threads (every read-modify-write
        // of one atomic is totally ordered, so no index is taken twice); the results reach
        // the caller through `pool::join_all`, which synchronises.
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let (front, back) = (cur & 0xFFFF_FFFF, cur >> 32);
            if front >= back {
                return None;
            }
            let (next, item) = if from_back {
                (front | (back - 1) << 32, back - 1)
            } else {
                (cur + 1, front)
            };
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(item as usize),
                Err(seen) => cur = seen,
            }
        }
    }
}

/// Whether [`map`] can hand out `n` items on `threads` threads (indices fit a run's half-word).
pub(crate) fn fits(threads: usize, n: usize) -> bool {
    threads >= 2 && n >= threads && n <= u32::MAX as usize
}

/// `f(i)` for `i in 0..n`, results in order, on `threads` threads (`fits(threads, n)`): thread
/// k owns the items `k·⌈n/t⌉ ..` (the calling thread the first run) and then steals.
pub(crate) fn map<T: Send>(threads: usize, n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    debug_assert!(fits(threads, n));
    let per = n.div_ceil(threads);
    let runs: Vec<Run> = (0..threads)
        .map(|k| Run::new((k * per).min(n), ((k + 1) * per).min(n)))
        .collect();
    let work = |k: usize| {
        let mut done = Vec::with_capacity(per);
        while let Some(i) = runs[k].claim(false) {
            done.push((i, f(i)));
        }
        for j in (1..threads).map(|d| (k + d) % threads) {
            while let Some(i) = runs[j].claim(true) {
                done.push((i, f(i)));
            }
        }
        done
    };
    let work = &work;
    let others: Vec<_> = (1..threads).map(|k| move || work(k)).collect();
    let parts = pool::join_all(others, || work(0));
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for (i, r) in parts.into_iter().flatten() {
        out[i] = Some(r);
    }
    out.into_iter()
        .map(|r| r.expect("each item is claimed exactly once"))
        .collect()
}

/// A slice's base pointer, shared by the threads of [`map_chunks_mut`].
struct Base<U>(*mut U);

// SAFETY: the threads only make disjoint `&mut` chunks from it (see `map_chunks_mut`), which is
// what sending `&mut [U]` pieces to them would allow.
unsafe impl<U: Send> Sync for Base<U> {}

/// `f(i, chunk_i)` over the chunks of `data` of `chunk` elements (the last may be shorter),
/// results in order, on `threads` threads (`fits(threads, chunk count)`), stealing as [`map`].
pub(crate) fn map_chunks_mut<U: Send, T: Send>(
    threads: usize,
    data: &mut [U],
    chunk: usize,
    f: impl Fn(usize, &mut [U]) -> T + Sync,
) -> Vec<T> {
    let len = data.len();
    let chunk = chunk.max(1);
    let base = Base(data.as_mut_ptr());
    let base = &base;
    map(threads, len.div_ceil(chunk), |i| {
        let lo = i * chunk;
        let hi = (lo + chunk).min(len);
        // SAFETY: `lo..hi` lies within `data`, which this call borrows mutably until every
        // item has finished (`map` returns only then), and `map` runs each index once, so no
        // two of these slices overlap and nothing else reads or writes `data` meanwhile.
        let piece = unsafe { std::slice::from_raw_parts_mut(base.0.add(lo), hi - lo) };
        f(i, piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn claims_split_a_run_between_its_two_ends() {
        let r = Run::new(3, 7);
        assert_eq!(r.claim(false), Some(3));
        assert_eq!(r.claim(true), Some(6));
        assert_eq!(r.claim(true), Some(5));
        assert_eq!(r.claim(false), Some(4));
        assert_eq!((r.claim(false), r.claim(true)), (None, None));
        assert_eq!(Run::new(5, 5).claim(false), None);
    }

    #[test]
    fn every_item_once_in_order_under_contention() {
        let _scope = pool::Scope::enter(3);
        for t in 2..4 {
            for n in [t, 7, 64, 1001] {
                let runs = std::sync::atomic::AtomicUsize::new(0);
                let out = map(t, n, |i| {
                    runs.fetch_add(1, Ordering::Relaxed);
                    // Uneven costs, so that the threads do steal.
                    (0..(i % 5) * 200).fold(i as u64, |a, b| a.wrapping_mul(31) ^ b as u64)
                });
                let want: Vec<u64> = (0..n)
                    .map(|i| {
                        (0..(i % 5) * 200).fold(i as u64, |a, b| a.wrapping_mul(31) ^ b as u64)
                    })
                    .collect();
                assert_eq!(out, want, "{t} threads, {n} items");
                assert_eq!(runs.load(Ordering::Relaxed), n);
            }
        }
    }

    #[test]
    fn an_idle_thread_takes_the_slow_runs_last_items() {
        let _scope = pool::Scope::enter(2);
        let me = std::thread::current().id();
        // The calling thread's run (items 0..4) is instant, the worker's (4..8) slow: the
        // caller must take item 7 (the worker, one item at a time from the front, needs 300
        // ms to reach it). Without stealing each run stays with its owner. (Which thread takes
        // item 4 depends on when the worker starts, so it is not asserted: on a loaded machine
        // the caller may take the whole run.)
        let who = map(2, 8, |i| {
            if i >= 4 {
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::current().id()
        });
        assert!(who[..4].iter().all(|&id| id == me));
        assert_eq!(who[7], me, "the idle calling thread did not steal");
    }

    #[test]
    fn chunks_are_disjoint_and_cover_the_slice() {
        let _scope = pool::Scope::enter(2);
        let mut d: Vec<u32> = (0..1000).collect();
        let firsts = map_chunks_mut(2, &mut d, 7, |k, c| {
            c.iter_mut().for_each(|v| *v = *v * 2 + 1);
            (k, c.len())
        });
        assert_eq!(firsts.len(), 143);
        assert!(firsts
            .iter()
            .enumerate()
            .all(|(i, &(k, l))| k == i && l == if i == 142 { 6 } else { 7 }));
        assert!(d.iter().enumerate().all(|(i, &v)| v == 2 * i as u32 + 1));
    }
}
