//! Deterministic fork-join over a fixed list of work items: the items
//! (blocks of rows or values) are fixed by the data's shape alone, each thread takes a
//! contiguous run of them (and, once its run is done, the items left at the end of the others'
//! runs: [`steal`]), and results come back in item order. So whatever the thread count and
//! whichever thread ran an item, every reduction adds the same partial results in the same
//! order: same bytes everywhere. The runs go to the workers of the call's [`pool::Scope`] (a
//! thread spawned per run outside one).

use super::{pool, steal};

/// `f(i)` for `i in 0..n` on up to `threads` threads; results in order.
pub(crate) fn map<T: Send>(threads: usize, n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let t = threads.clamp(1, n.max(1));
    if t <= 1 {
        return (0..n).map(f).collect();
    }
    if steal::fits(t, n) {
        return steal::map(t, n, f);
    }
    let per = n.div_ceil(t);
    let f = &f;
    // The calling thread takes the first run itself: one hand-off fewer per call, and it works
    // instead of waiting. A panic in another run is re-raised here (the C ABI turns panics into
    // an error code).
    let runs: Vec<_> = (1..t)
        .map(|k| {
            let (lo, hi) = (k * per, ((k + 1) * per).min(n));
            move || (lo..hi).map(f).collect::<Vec<T>>()
        })
        .collect();
    pool::join_all(runs, || (0..per.min(n)).map(f).collect())
        .into_iter()
        .flatten()
        .collect()
}

/// `f(i, chunk_i)` over the chunks of `data` of `chunk` elements (the last may be shorter) on
/// up to `threads` threads; results in order.
pub(crate) fn map_chunks_mut<U: Send, T: Send>(
    threads: usize,
    data: &mut [U],
    chunk: usize,
    f: impl Fn(usize, &mut [U]) -> T + Sync,
) -> Vec<T> {
    let chunk = chunk.max(1);
    let n = data.len().div_ceil(chunk);
    let t = threads.clamp(1, n.max(1));
    if t <= 1 {
        return data
            .chunks_mut(chunk)
            .enumerate()
            .map(|(i, c)| f(i, c))
            .collect();
    }
    if steal::fits(t, n) {
        return steal::map_chunks_mut(t, data, chunk, f);
    }
    let per = n.div_ceil(t);
    let f = &f;
    let (first, mut rest) = data.split_at_mut((per * chunk).min(data.len()));
    let mut runs = Vec::with_capacity(t - 1);
    for k in 1..t {
        let take = (per * chunk).min(rest.len());
        let (mine, tail) = rest.split_at_mut(take);
        rest = tail;
        runs.push(move || {
            mine.chunks_mut(chunk)
                .enumerate()
                .map(|(i, c)| f(k * per + i, c))
                .collect::<Vec<T>>()
        });
    }
    // The first run on the calling thread (see `map`).
    let own = || {
        first
            .chunks_mut(chunk)
            .enumerate()
            .map(|(i, c)| f(i, c))
            .collect()
    };
    pool::join_all(runs, own).into_iter().flatten().collect()
}

/// `(a(), b())`, `b` on another thread (see [`map`] for panics).
pub(crate) fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    let mut a_out = None;
    let mut b_out = pool::join_all(vec![move || Some(b())], || {
        a_out = Some(a());
        None
    });
    (
        a_out.expect("ran on this thread"),
        b_out.pop().flatten().expect("ran on another thread"),
    )
}

/// [`map_chunks_mut`] over `v`, which must be empty with room for `len` values (the caller
/// reserved them, e.g. with `try_reserve_exact`, to report a failed allocation as an error),
/// filled with `len` zeros: each chunk is zeroed by the thread that takes it, then handed to
/// `f`; returns the results. Why not `vec![0; len]`: once the allocator reuses freed heap
/// memory for a buffer this large (glibc raises its mmap threshold after the first free of
/// one), `calloc` zeroes all of it on the calling thread, a serial pass over the whole buffer
/// before any thread starts; here that pass is split over the threads and runs chunk by chunk
/// just before `f`. A pass that writes every value itself needs no zeros:
/// [`map_written_chunks`].
pub(crate) fn map_new_chunks_in<C: ZeroBits, T: Send>(
    threads: usize,
    v: &mut Vec<C>,
    len: usize,
    chunk: usize,
    f: impl Fn(usize, &mut [C]) -> T + Sync,
) -> Vec<T> {
    assert!(v.is_empty(), "map_new_chunks_in fills an empty vector");
    let out = map_chunks_mut(
        threads,
        &mut v.spare_capacity_mut()[..len],
        chunk,
        |k, c: &mut [std::mem::MaybeUninit<C>]| {
            let p = c.as_mut_ptr().cast::<C>();
            // SAFETY: `p` points to `c.len()` writable slots (`MaybeUninit<C>` has the layout
            // of `C`), all-zero bytes are a valid `C` (`ZeroBits`), and once written the chunk
            // is initialised, so the slice over it is valid for the closure's use.
            let c = unsafe {
                std::ptr::write_bytes(p, 0, c.len());
                std::slice::from_raw_parts_mut(p, c.len())
            };
            f(k, c)
        },
    );
    // SAFETY: the chunks cover the first `len` values and each was zeroed by its closure (a
    // panic in one is re-raised by `map_chunks_mut` before this line).
    unsafe { v.set_len(len) };
    out
}

/// [`map_chunks_mut`] over a new vector of `len` values that `f` writes itself: no zeroing
/// pass (`map_new_chunks_in` costs one `memset` of the buffer, ≈ 1.5 % of a small gradient's
/// compress, for values the quantizer overwrites). `None` when any `f` returns `None`.
///
/// # Safety
/// Whenever `f` returns `Some`, it must have written every element of the chunk it was given
/// (the vector's length is set over them unread).
pub(crate) unsafe fn map_written_chunks<C: ZeroBits, T: Send>(
    threads: usize,
    len: usize,
    chunk: usize,
    f: impl Fn(usize, &mut [std::mem::MaybeUninit<C>]) -> Option<T> + Sync,
) -> Option<(Vec<C>, Vec<T>)> {
    let mut v: Vec<C> = Vec::with_capacity(len);
    let out = map_chunks_mut(threads, &mut v.spare_capacity_mut()[..len], chunk, f);
    let out: Option<Vec<T>> = out.into_iter().collect();
    out.map(|out| {
        // SAFETY: every chunk's `f` returned `Some` (else `v` stays empty), so by the
        // caller's contract each wrote all of its chunk; the chunks cover `0..len`.
        unsafe { v.set_len(len) };
        (v, out)
    })
}

/// `v` viewed as initialised values, for a writer of `MaybeUninit` slots ([`map_written_chunks`])
/// to read back what it wrote.
///
/// # Safety
/// Every element of `v` must have been written.
pub(crate) unsafe fn assume_written<C: ZeroBits>(v: &mut [std::mem::MaybeUninit<C>]) -> &mut [C] {
    // SAFETY: `MaybeUninit<C>` has the layout of `C` and the caller vouches every slot holds
    // an initialised `C`.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<C>(), v.len()) }
}

/// A vector of `len` zeros, set with one `memset`: `vec![C::wrap(0); len]` stores element by
/// element for a generic `C` (about four instructions a value on a trainer-sized gradient,
/// 2 % of its compress).
pub(crate) fn zeroed<C: ZeroBits>(len: usize) -> Vec<C> {
    let mut v: Vec<C> = Vec::with_capacity(len);
    // SAFETY: the capacity holds `len` values, all-zero bytes are a valid `C` (`ZeroBits`),
    // so after the write the first `len` values are initialised.
    unsafe {
        std::ptr::write_bytes(v.as_mut_ptr(), 0, len);
        v.set_len(len);
    }
    v
}

/// `n` zeros handed to `f` as slots to write (tests of writers of `MaybeUninit` codes); the
/// values after `f`.
///
/// # Safety
/// `f` must leave every slot initialised (a writer that only `write`s values does).
#[cfg(test)]
pub(crate) unsafe fn written<C: ZeroBits>(
    n: usize,
    f: impl FnOnce(&mut [std::mem::MaybeUninit<C>]),
) -> Vec<C> {
    let mut v = vec![std::mem::MaybeUninit::new(zeroed::<C>(1)[0]); n];
    f(&mut v);
    // SAFETY: every slot started initialised and the caller vouches `f` kept it so.
    v.iter().map(|x| unsafe { x.assume_init() }).collect()
}

/// Types for which all-zero bytes are a valid value (the buffers of [`map_new_chunks_in`]).
///
/// # Safety
/// Implement only for types whose all-zero bit pattern is a valid value.
pub(crate) unsafe trait ZeroBits: Copy + Send + Sync + 'static {}
// SAFETY: every bit pattern is a valid integer.
unsafe impl ZeroBits for u16 {}
// SAFETY: as above.
unsafe impl ZeroBits for u32 {}
// SAFETY: all-zero bytes are +0.0.
unsafe impl ZeroBits for f32 {}

/// Items per work item for `len` items cut into pieces of at most `chunk`, shrunk so that the
/// number of pieces is a multiple of `threads`: each thread of [`map`] then gets as many
/// pieces (9 blocks on 2 threads would be 5 and 4; 10 smaller ones are 5 and 5). Only for
/// passes whose results do not depend on the partition (integer counts, per-row work).
pub(crate) fn balanced_chunk(len: usize, chunk: usize, threads: usize) -> usize {
    let chunk = chunk.max(1);
    let t = threads.max(1);
    let pieces = len.div_ceil(chunk).div_ceil(t) * t;
    len.div_ceil(pieces.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_chunks_split_evenly() {
        // 6144 rows in blocks of 683 (9 blocks): 10 pieces of 615 (the last 609) on 2 threads.
        assert_eq!(balanced_chunk(6144, 683, 2), 615);
        assert_eq!(6144usize.div_ceil(615), 10);
        // Already a multiple, or one thread: the pieces stay as they were.
        assert_eq!(balanced_chunk(1024, 256, 2), 256);
        assert_eq!(balanced_chunk(6144, 683, 1), 683);
        assert_eq!(balanced_chunk(0, 5, 2), 1);
        assert_eq!(balanced_chunk(3, 0, 4), 1);
        // Never larger than asked, and the busiest thread (the first: `map` hands out runs of
        // ⌈n/t⌉ pieces) never gets more items than with the pieces asked for.
        let busiest = |len: usize, c: usize, t: usize| (len.div_ceil(c).div_ceil(t) * c).min(len);
        for (len, chunk, t) in [(1000, 7, 3), (10, 100, 2), (99, 10, 4), (6144, 683, 2)] {
            let c = balanced_chunk(len, chunk, t);
            assert!(c >= 1 && c <= chunk.max(1));
            assert!(
                busiest(len, c, t) <= busiest(len, chunk, t),
                "{len} {chunk} {t}"
            );
        }
        assert_eq!((busiest(6144, 683, 2), busiest(6144, 615, 2)), (3415, 3075));
    }

    #[test]
    fn zeroed_is_all_zeros_of_its_length() {
        for n in [0usize, 1, 7, 4096, 100_003] {
            // A freed block of non-zero bytes first, which the allocator may hand back.
            drop(vec![0xA5A5_A5A5u32; n]);
            let v: Vec<u32> = zeroed(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0), "{n}");
            drop(vec![0xA5A5u16; n]);
            let w: Vec<u16> = zeroed(n);
            assert!(w.len() == n && w.iter().all(|&x| x == 0), "{n}");
        }
    }

    #[test]
    fn new_chunks_start_zeroed_and_keep_order() {
        for (t, scoped) in (1..4).flat_map(|t| [(t, false), (t, true)]) {
            let _scope = scoped.then(|| super::pool::Scope::enter(t));
            // A reused allocation holding non-zero bytes must still come back zeroed.
            drop(vec![7u32; 1000]);
            let mut v = Vec::with_capacity(1000);
            let sums = map_new_chunks_in(t, &mut v, 1000, 64, |k, c| {
                let s: u32 = c.iter().sum();
                c[0] = k as u32 + 1;
                s
            });
            assert_eq!(v.len(), 1000);
            assert_eq!(sums, vec![0; 16]);
            for (i, &x) in v.iter().enumerate() {
                assert_eq!(x, if i % 64 == 0 { i as u32 / 64 + 1 } else { 0 });
            }
            let mut e = Vec::new();
            assert!(map_new_chunks_in(t, &mut e, 0, 64, |_, _: &mut [u16]| ()).is_empty());
            assert!(e.is_empty());
        }
    }

    #[test]
    fn written_chunks_keep_what_was_written_or_give_none() {
        for (t, scoped) in (1..4).flat_map(|t| [(t, false), (t, true)]) {
            let _scope = scoped.then(|| super::pool::Scope::enter(t));
            let fill = |k: usize, c: &mut [std::mem::MaybeUninit<u32>]| {
                for (j, x) in c.iter_mut().enumerate() {
                    x.write((k * 1000 + j) as u32);
                }
                Some(k)
            };
            // SAFETY: `fill` writes every element of its chunk.
            let (v, ks) = unsafe { map_written_chunks(t, 1001, 100, fill) }.expect("all Some");
            assert_eq!(ks, (0..11).collect::<Vec<_>>());
            let want: Vec<u32> = (0..1001u32).map(|i| (i / 100) * 1000 + i % 100).collect();
            assert_eq!(v, want);
            // One chunk giving up: no vector (its values were never written).
            let some_fail = |k: usize, c: &mut [std::mem::MaybeUninit<u16>]| {
                (k != 3).then(|| c.fill(std::mem::MaybeUninit::new(1)))
            };
            // SAFETY: every chunk but the failing one writes all of its values.
            assert!(unsafe { map_written_chunks(t, 1000, 64, some_fail) }.is_none());
            // SAFETY: no values to write.
            let (e, ks) = unsafe { map_written_chunks(t, 0, 64, |_, _: &mut [_]| Some(())) }
                .expect("nothing to fail");
            assert!(e.is_empty() && ks.is_empty());
            let _: &Vec<u16> = &e;
        }
    }

    #[test]
    fn map_keeps_item_order() {
        // Under a call's scope (the pool's workers) and outside one (a thread per run).
        for (t, scoped) in (1..4).flat_map(|t| [(t, false), (t, true)]) {
            let _scope = scoped.then(|| super::pool::Scope::enter(t));
            assert_eq!(map(t, 7, |i| i * i), vec![0, 1, 4, 9, 16, 25, 36]);
            let mut d: Vec<u32> = (0..10).collect();
            let firsts = map_chunks_mut(t, &mut d, 3, |k, c| {
                c.iter_mut().for_each(|v| *v += 1);
                (k, c[0])
            });
            assert_eq!(firsts, vec![(0, 1), (1, 4), (2, 7), (3, 10)]);
            assert_eq!(d, (1..11).collect::<Vec<u32>>());
        }
    }
}
