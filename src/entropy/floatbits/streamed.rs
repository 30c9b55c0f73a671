//! The split of a large tensor (`encode_as` with `laned`, no prediction) coded stream by
//! stream from the input: the heads first, then each rest plane gathered from the elements
//! when it is coded and dropped after, instead of every plane held at once beside the payload.
//!
//! Why: issue 12's bound for a compress call (`compress_bound` + O(rows + columns) on top of
//! the input). The whole split is the input's size again; with the heads' lane words (2 bytes
//! a head) and a payload grown by doubling, a lossless compress held 2–3 × the input. Here a
//! call holds the payload (grown by exactly what each stream adds) and at most one stream
//! being coded: the heads and their words (3 bytes a head), or a rest plane and its words.
//! Without masks or zero heads (weights), a plane the laned layout stores is screened and
//! counted in runs and appended straight from the elements, with no copy of its own.
//! Payload bytes are those of the full split (`encode_as`'s other path).

use super::context::Histogram;
use super::{
    context, for_each_kept, gather, head_rest, lane_plane, laned, plane, uniform_by,
    uniform_screen, Masks,
};
use crate::entropy::order0;

/// Bytes gathered at a time where a plane is counted without a copy of its own.
const RUN_BYTES: usize = 1 << 14;

/// The heads of the kept elements of `bytes` (elements of `w` bytes, `m` kept), in order.
pub(super) fn kept_heads(bytes: &[u8], w: usize, masks: &Masks, m: usize) -> Vec<u8> {
    match w {
        2 => heads_of::<2>(bytes, masks, m),
        4 => heads_of::<4>(bytes, masks, m),
        _ => heads_of::<8>(bytes, masks, m),
    }
}

fn heads_of<const W: usize>(bytes: &[u8], masks: &Masks, m: usize) -> Vec<u8> {
    let mut h = Vec::new();
    if masks.is_none() {
        gather::heads(bytes, W, &mut h);
        return h;
    }
    h.reserve_exact(m);
    for_each_kept(bytes.len() / W, masks, |i| {
        h.push(head_rest::<W>(&bytes[i * W..i * W + W]).0)
    });
    h
}

/// A rest plane of elements that are all kept and none with a zero head: byte `j` of every
/// element's rest, gathered from the elements when it is read.
#[derive(Clone, Copy)]
struct Direct<'a> {
    bytes: &'a [u8],
    w: usize,
    j: usize,
    len: usize,
}

impl Direct<'_> {
    /// Appends the plane's bytes `start..start + count`, reserving exactly their room.
    fn append(&self, start: usize, count: usize, out: &mut Vec<u8>) {
        let w = self.w;
        gather::rest_byte(&self.bytes[start * w..(start + count) * w], w, self.j, out);
    }

    /// The plane in a buffer of its own.
    fn gathered(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.append(0, self.len, &mut v);
        v
    }

    /// Its byte histogram, counted a run at a time.
    fn histogram(&self) -> [u64; 256] {
        let mut total = [0u64; 256];
        let mut run = Vec::with_capacity(RUN_BYTES);
        for start in (0..self.len).step_by(RUN_BYTES) {
            run.clear();
            self.append(start, RUN_BYTES.min(self.len - start), &mut run);
            for (t, c) in total.iter_mut().zip(order0::histogram(&run)) {
                *t += c;
            }
        }
        total
    }
}

/// A rest plane as it is coded: gathered from the elements when read, or split out of them
/// beforehand with the other planes (masks or zero heads: one pass for all, each plane in a
/// buffer of its exact size, dropped once coded).
enum Rest<'a> {
    Direct(Direct<'a>),
    Split(Vec<u8>),
}

/// The rest planes in the layout's order (those of the elements whose head ≠ 0, then = 0) of
/// the `m` kept elements, `nb` of them with a zero head.
fn rests<'a>(bytes: &'a [u8], w: usize, masks: &Masks, m: usize, nb: usize) -> Vec<Rest<'a>> {
    if masks.is_none() && nb == 0 {
        let direct = |j, len| Rest::Direct(Direct { bytes, w, j, len });
        return (0..w - 1)
            .map(|j| direct(j, m))
            .chain((0..w - 1).map(|j| direct(j, 0)))
            .collect();
    }
    gather::rest_planes(bytes, w, masks, m - nb, nb)
        .into_iter()
        .map(Rest::Split)
        .collect()
}

/// Appends, after the masks, the laned layout (`laned.rs`) of the kept elements' `heads`
/// (byte histogram `hist`) and of the rest planes of `bytes`, dropping the heads once coded.
pub(super) fn encode_laned(
    bytes: &[u8],
    w: usize,
    masks: &Masks,
    heads: Vec<u8>,
    hist: &[u64; 256],
    out: &mut Vec<u8>,
) {
    let (m, nb) = (heads.len(), zeros(&heads));
    out.reserve_exact(8);
    out.extend_from_slice(&(nb as u64).to_le_bytes());
    lane_plane::encode_with_histogram(&heads, hist, out);
    drop(heads);
    for r in rests(bytes, w, masks, m, nb) {
        let p = match r {
            Rest::Split(data) => {
                laned::encode_rest_plane(&data, out);
                continue;
            }
            Rest::Direct(p) => p,
        };
        // The decisions of `laned::encode_rest_plane`, from runs of the elements: a plane
        // it stores is appended from them.
        let clearly = uniform_screen::clearly_uniform_by(p.len, |start, run| {
            p.append(start, uniform_screen::RUN, run)
        });
        let hist = (!clearly && p.len >= 1 << 14).then(|| p.histogram());
        match hist {
            Some(h) if !uniform_by(&h, p.len) => {
                lane_plane::encode_with_histogram(&p.gathered(), &h, out)
            }
            None if !clearly => lane_plane::encode(&p.gathered(), out),
            _ => {
                out.reserve_exact(1);
                out.push(lane_plane::KIND_STORED);
                p.append(0, p.len, out);
            }
        }
    }
}

/// Appends, after the masks, the split layout of `heads` (`coded`: their histogram and
/// contexts) and of the rest planes of `bytes`, dropping the heads once coded.
pub(super) fn encode_split(
    bytes: &[u8],
    w: usize,
    masks: &Masks,
    heads: Vec<u8>,
    coded: Histogram,
    out: &mut Vec<u8>,
) {
    let (m, nb) = (heads.len(), zeros(&heads));
    match coded {
        (_, Some((owners, counts))) => context::encode_with(&heads, &owners, &counts, out),
        (hist, None) => context::encode_with(&heads, &[], &[hist], out),
    }
    drop(heads);
    for r in rests(bytes, w, masks, m, nb) {
        match r {
            Rest::Split(data) => plane(&data, out),
            Rest::Direct(p) => plane(&p.gathered(), out),
        }
    }
}

fn zeros(heads: &[u8]) -> usize {
    laned::count_zeros(heads, lane_plane::have_avx2())
}

/// The top rest byte (plane `w − 2`) of the elements whose head ≠ 0 among the first `count`
/// kept elements (`heads`: the kept heads): the sample of `predict2d::sample_pays`.
pub(super) fn top_of_first(
    bytes: &[u8],
    w: usize,
    masks: &Masks,
    heads: &[u8],
    count: usize,
) -> Vec<u8> {
    let count = count.min(heads.len());
    let sh = 8 * (w - 2);
    let rest = |i: usize| match w {
        2 => head_rest::<2>(&bytes[i * 2..i * 2 + 2]).1,
        4 => head_rest::<4>(&bytes[i * 4..i * 4 + 4]).1,
        _ => head_rest::<8>(&bytes[i * 8..i * 8 + 8]).1,
    };
    let mut top = Vec::with_capacity(count);
    let mut take = |k: usize, i: usize| {
        if heads[k] != 0 {
            top.push((rest(i) >> sh) as u8);
        }
    };
    match masks {
        None => (0..count).for_each(|k| take(k, k)),
        Some((zr, zc)) => {
            // The kept rows one at a time, up to the row holding the last sampled element.
            let cols = zc.len();
            let mut k = 0;
            for r in (0..zr.len()).filter(|&r| !zr[r]) {
                for c in (0..cols).filter(|&c| !zc[c]) {
                    if k == count {
                        return top;
                    }
                    take(k, r * cols + c);
                    k += 1;
                }
            }
        }
    }
    top
}
