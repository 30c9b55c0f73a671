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
        let handles: Vec<_> = (0..t)
            .map(|k| {
                let (lo, hi) = (k * per, ((k + 1) * per).min(n));
                s.spawn(move || (lo..hi).map(f).collect::<Vec<T>>())
            })
            .collect();
        // A panic in a worker is re-raised here (the C ABI turns panics into an error code).
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// `f(i, chunk_i)` over the chunks of `data` of `chunk` elements (the last may be shorter) on
/// up to `threads` threads; results in order.
pub(crate) fn map_chunks_mut<U: Send, T: Send>(threads: usize, data: &mut [U], chunk: usize, f: impl Fn(usize, &mut [U]) -> T + Sync) -> Vec<T> {
    let chunk = chunk.max(1);
    let n = data.len().div_ceil(chunk);
    let t = threads.clamp(1, n.max(1));
    if t <= 1 {
        return data.chunks_mut(chunk).enumerate().map(|(i, c)| f(i, c)).collect();
    }
    let per = n.div_ceil(t);
    let f = &f;
    std::thread::scope(|s| {
        let mut rest = data;
        let mut handles = Vec::with_capacity(t);
        for k in 0..t {
            let take = (per * chunk).min(rest.len());
            let (mine, tail) = rest.split_at_mut(take);
            rest = tail;
            handles.push(s.spawn(move || mine.chunks_mut(chunk).enumerate().map(|(i, c)| f(k * per + i, c)).collect::<Vec<T>>()));
        }
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}
