//! Deterministic fork-join over a fixed list of work items (`std::thread::scope`): the items
//! (blocks of rows or values) are fixed by the data's shape alone, each thread takes a
//! contiguous run of them, and results come back in item order. So whatever the thread count,
//! every reduction adds the same partial results in the same order: same bytes everywhere.

/// `f(i)` for `i in 0..n` on up to `threads` threads; results in order.
pub(crate) fn map<T: Send>(threads: usize, n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let t = threads.clamp(1, n.max(1));
    if t <= 1 {
        return (0..n).map(f).collect();
    }
    let per = n.div_ceil(t);
    let f = &f;
    std::thread::scope(|s| {
        // The calling thread takes the first run itself: one spawn fewer per call (each costs a
        // stack mapping and a clone, tens of µs), and it works instead of waiting.
        let handles: Vec<_> = (1..t)
            .map(|k| {
                let (lo, hi) = (k * per, ((k + 1) * per).min(n));
                s.spawn(move || (lo..hi).map(f).collect::<Vec<T>>())
            })
            .collect();
        let mut out: Vec<T> = (0..per.min(n)).map(f).collect();
        // A panic in a worker is re-raised here (the C ABI turns panics into an error code).
        for h in handles {
            out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
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
    let per = n.div_ceil(t);
    let f = &f;
    std::thread::scope(|s| {
        let (first, mut rest) = data.split_at_mut((per * chunk).min(data.len()));
        let mut handles = Vec::with_capacity(t - 1);
        for k in 1..t {
            let take = (per * chunk).min(rest.len());
            let (mine, tail) = rest.split_at_mut(take);
            rest = tail;
            handles.push(s.spawn(move || {
                mine.chunks_mut(chunk)
                    .enumerate()
                    .map(|(i, c)| f(k * per + i, c))
                    .collect::<Vec<T>>()
            }));
        }
        // The first run on the calling thread (see `map`).
        let mut out: Vec<T> = first
            .chunks_mut(chunk)
            .enumerate()
            .map(|(i, c)| f(i, c))
            .collect();
        for h in handles {
            out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}
