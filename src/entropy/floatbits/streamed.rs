//! The split of a large tensor of 4- or 8-byte elements (`encode_as` with `laned`, no
//! prediction; 2-byte elements keep the whole split, see there) coded stream by stream from
//! the input: the heads first, then each rest plane gathered from the elements
//! when it is coded and dropped after, instead of every plane held at once beside the payload.
//!
//! Why: issue 12's bound for a compress call (`compress_bound` + O(rows + columns) on top of
//! the input). The whole split is the input's size again; with the heads' lane words (2 bytes
//! a head) and a payload grown by doubling, a lossless compress held 2–3 × the input. Here a
//! call holds the payload (grown by exactly what each stream adds) and at most one stream
//! being coded: the heads and their words (3 bytes a head), or a rest plane and its words.
//! Without masks or zero heads (weights), a plane that the sample screen of
//! `uniform_screen.rs` stores is appended straight from the elements, with no copy of its own
//! (other planes are gathered into a buffer and coded as `laned.rs` codes them). With zero
//! heads the heads are kept too (rare zero heads: each plane cut from a whole gather), or the
//! rest planes split out of the elements (masks, frequent zero heads) one side at a time (the
//! elements whose head is not 0, then those whose head is), each plane dropped once its words
//! are coded ([`Rests`]). Payload bytes are those of the full split (`encode_as`'s
//! other path).

use super::context::Histogram;
use super::{
    context, for_each_zero, gather, head_rest, lane_plane, laned, plane, uniform_screen, Masks,
};

/// The heads of the kept elements of `bytes` (elements of `w` bytes, `m` kept), in order,
/// and how many are 0.
pub(super) fn kept_heads(bytes: &[u8], w: usize, masks: &Masks, m: usize) -> (Vec<u8>, usize) {
    let mut h = Vec::new();
    let some_zero = match masks {
        None => gather::heads(bytes, w, &mut h),
        Some((zr, zc)) => {
            // Each kept row's heads gathered whole, then those of the kept columns taken.
            h.reserve_exact(m);
            let mut row = Vec::with_capacity(zc.len());
            for (r, _) in zr.iter().enumerate().filter(|(_, &z)| !z) {
                row.clear();
                let cols = zc.len();
                gather::heads(&bytes[r * cols * w..(r + 1) * cols * w], w, &mut row);
                h.extend(row.iter().zip(zc).filter(|(_, &z)| !z).map(|(&x, _)| x));
            }
            true
        }
    };
    let zeros = match some_zero {
        true => laned::count_zeros(&h, lane_plane::have_avx2()),
        false => 0,
    };
    (h, zeros)
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
}

/// The rest planes as they are coded: gathered from the elements when read (every element
/// kept, no head 0), or split out of them beforehand (masks or zero heads: one pass per side,
/// `gather::rest_planes`, a buffer per plane, each dropped once coded).
enum Rests<'a> {
    Direct(&'a [u8]),
    /// No masks, some zero heads (the heads kept): each plane gathered whole, the zero heads'
    /// bytes then cut out of it.
    Sparse(&'a [u8], Vec<u8>),
    /// Masks, or frequent zero heads: the planes of each side split out when its turn comes.
    Split,
}

/// At most one kept element in this many with a zero head (float16 weights: about one in
/// 10 000) keeps the heads to cut the zero heads' bytes out of whole gathers ([`Rests::Sparse`]).
const SPARSE_FROM: usize = 16;

impl Rests<'_> {
    /// The rest planes of `bytes` (`heads`: the kept elements' heads, `nb` of them 0; kept
    /// only where the planes are cut from whole gathers).
    fn new<'a>(bytes: &'a [u8], masks: &Masks, heads: Vec<u8>, nb: usize) -> Rests<'a> {
        match (masks, nb) {
            (None, 0) => Rests::Direct(bytes),
            // The runs between zero heads moved down cost a call each: where zeros are
            // common, wider elements split in one pass (the synthetic gradient's 20 %: 1.8 ×
            // the instructions of `Split`).
            (None, _) if heads.len() / SPARSE_FROM >= nb => Rests::Sparse(bytes, heads),
            _ => Rests::Split,
        }
    }

    /// Codes the rest planes in the layout's order (byte j = 0 … w − 2 of the elements whose
    /// head ≠ 0, then of those whose head = 0; `m` kept elements, `nb` with a zero head) with
    /// `direct` for a plane gathered when read, `split` for a plane in memory.
    #[allow(clippy::too_many_arguments)]
    fn code(
        self,
        bytes: &[u8],
        w: usize,
        masks: &Masks,
        m: usize,
        nb: usize,
        out: &mut Vec<u8>,
        direct: impl Fn(Direct, &mut Vec<u8>),
        split: impl Fn(Vec<u8>, &mut Vec<u8>),
    ) {
        for zero in [false, true] {
            let len = if zero { nb } else { m - nb };
            // Split out only now that the heads are dropped, one side at a time; each plane
            // dropped once coded.
            let mut planes = match &self {
                Rests::Split => gather::rest_planes(bytes, w, masks, len, zero),
                _ => Vec::new(),
            }
            .into_iter();
            for j in 0..w - 1 {
                match &self {
                    Rests::Direct(bytes) => direct(Direct { bytes, w, j, len }, out),
                    Rests::Sparse(bytes, heads) => {
                        split(sparse_plane(bytes, w, j, heads, zero.then_some(len)), out)
                    }
                    Rests::Split => split(planes.next().unwrap_or_default(), out),
                }
            }
        }
    }
}

/// Appends, after the masks, the laned layout (`laned.rs`) of the kept elements' `heads`
/// (`nb` of them 0; byte histogram `hist`) and of the rest planes of `bytes`, dropping the heads once coded.
pub(super) fn encode_laned(
    bytes: &[u8],
    w: usize,
    masks: &Masks,
    (heads, nb): (Vec<u8>, usize),
    hist: &[u64; 256],
    out: &mut Vec<u8>,
) {
    let m = heads.len();
    out.reserve_exact(8);
    out.extend_from_slice(&(nb as u64).to_le_bytes());
    lane_plane::encode_with_histogram(&heads, hist, out);
    let rests = Rests::new(bytes, masks, heads, nb);
    let code = laned::encode_rest_plane::<Vec<u8>>;
    rests.code(bytes, w, masks, m, nb, out, direct_laned, code);
}

/// Rest byte `j` of the elements whose head is 0 (`zeros`: their count, if those) or not,
/// given every element's head: for those ≠ 0 the whole plane gathered and the zero heads'
/// bytes cut out (the runs between them moved down in place, as `split` does for 2-byte
/// elements).
fn sparse_plane(bytes: &[u8], w: usize, j: usize, heads: &[u8], zeros: Option<usize>) -> Vec<u8> {
    let mut p = Vec::new();
    if let Some(nb) = zeros {
        p.reserve_exact(nb);
        for_each_zero(heads, |k| {
            let e = &bytes[k * w..k * w + w];
            p.push(match j == w - 2 {
                true => e[w - 2] & 0x7F | e[w - 1] & 0x80,
                false => e[j],
            })
        });
        return p;
    }
    gather::rest_byte(bytes, w, j, &mut p);
    let (mut at, mut from) = (0, 0);
    for_each_zero(heads, |k| {
        p.copy_within(from..k, at);
        at += k - from;
        from = k + 1;
    });
    let m = p.len();
    p.copy_within(from..m, at);
    p.truncate(at + m - from);
    p.shrink_to_fit();
    p
}

/// [`laned::encode_rest_plane`] of a plane gathered from the elements: a plane the sample
/// screen stores is appended from them, any other gathered first.
fn direct_laned(p: Direct, out: &mut Vec<u8>) {
    let clearly = uniform_screen::clearly_uniform_by(p.len, |start, run| {
        p.append(start, uniform_screen::RUN, run)
    });
    if !clearly {
        return laned::encode_rest_plane(p.gathered(), out);
    }
    out.reserve_exact(1 + p.len);
    out.push(lane_plane::KIND_STORED);
    p.append(0, p.len, out);
}

/// Appends, after the masks, the split layout of `heads` (`nb` of them 0; `coded`: their
/// histogram and contexts) and of the rest planes of `bytes`, dropping the heads once coded.
pub(super) fn encode_split(
    bytes: &[u8],
    w: usize,
    masks: &Masks,
    (heads, nb): (Vec<u8>, usize),
    coded: Histogram,
    out: &mut Vec<u8>,
) {
    let m = heads.len();
    match coded {
        (_, Some((owners, counts))) => context::encode_with(&heads, &owners, &counts, out),
        (hist, None) => context::encode_with(&heads, &[], &[hist], out),
    }
    let rests = Rests::new(bytes, masks, heads, nb);
    let direct = |p: Direct, out: &mut Vec<u8>| plane(&p.gathered(), out);
    rests.code(bytes, w, masks, m, nb, out, direct, |p, out| plane(&p, out));
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
    if masks.is_none() {
        // The first elements' top bytes in one pass, those of zero heads then dropped.
        let mut top = Vec::new();
        gather::rest_byte(&bytes[..count * w], w, w - 2, &mut top);
        let mut keep = heads[..count].iter().map(|&h| h != 0);
        top.retain(|_| keep.next().unwrap_or(false));
        return top;
    }
    let sh = 8 * (w - 2);
    let rest = |i: usize| match w {
        2 => head_rest::<2>(&bytes[i * 2..i * 2 + 2]).1,
        4 => head_rest::<4>(&bytes[i * 4..i * 4 + 4]).1,
        _ => head_rest::<8>(&bytes[i * 8..i * 8 + 8]).1,
    };
    let mut top = Vec::with_capacity(count);
    // The kept rows one at a time, up to the row holding the last sampled element.
    let mut k = 0;
    for_each_kept_until(masks, count, |i| {
        if heads[k] != 0 {
            top.push((rest(i) >> sh) as u8);
        }
        k += 1;
    });
    top
}

/// Calls `f(index)` for the first `count` kept elements of a masked matrix, in order.
fn for_each_kept_until(masks: &Masks, count: usize, mut f: impl FnMut(usize)) {
    let Some((zr, zc)) = masks else {
        return (0..count).for_each(f);
    };
    let cols = zc.len();
    let mut k = 0;
    for r in (0..zr.len()).filter(|&r| !zr[r]) {
        for c in (0..cols).filter(|&c| !zc[c]) {
            if k == count {
                return;
            }
            f(r * cols + c);
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{encode_as, encode_whole, zero_masks, Layout};
    use super::*;

    /// Elements of `w` bytes: a smooth scale times noise (heads vary slowly), with zero
    /// elements every `zero_every` (none when 0), subnormal-like small ones, and the rows of
    /// index ≡ 3 (mod 7) and the columns ≡ 1 (mod 5) zeroed when `masked`.
    fn elements(n: usize, cols: usize, w: usize, zero_every: usize, masked: bool) -> Vec<u8> {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut out = Vec::with_capacity(n * w);
        for i in 0..n {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let (r, c) = (i / cols, i % cols);
            let zero =
                (zero_every > 0 && i % zero_every == 0) || (masked && (r % 7 == 3 || c % 5 == 1));
            let x = if zero {
                0.0
            } else {
                u * (1.0 + (i % 97) as f64) * 1e-3
            };
            match w {
                2 => out.extend_from_slice(&((x as f32).to_bits() >> 16).to_le_bytes()[..2]),
                4 => out.extend_from_slice(&(x as f32).to_bits().to_le_bytes()),
                _ => out.extend_from_slice(&x.to_bits().to_le_bytes()),
            }
        }
        out
    }

    /// The split coded stream by stream from the input is byte for byte the split held
    /// whole, laned or with contexts: 4- and 8-byte elements (2-byte ones are not streamed),
    /// with and without zero heads and masks,
    /// lengths that are not whole blocks of 32 elements (the AVX2 gathers' tails), planes
    /// long enough to be screened and counted in runs.
    #[test]
    fn streamed_split_is_the_whole_split() {
        let mut layouts = Vec::new();
        for w in [4usize, 8] {
            for (rows, cols) in [(1usize, 100_003usize), (300, 301), (2, 40_000), (64, 33)] {
                let n = rows * cols;
                for (zero_every, masked) in
                    [(0, false), (5, false), (101, false), (0, true), (3, true)]
                {
                    if rows == 1 && masked {
                        continue;
                    }
                    let bytes = elements(n, cols, w, zero_every, masked);
                    let mut streamed = Vec::new();
                    let layout = encode_as(&bytes, w, rows, true, None, &mut streamed);
                    let mut whole = Vec::new();
                    let masks = zero_masks(&bytes, w, rows);
                    let want = encode_whole(
                        &bytes,
                        w,
                        rows,
                        true,
                        masks,
                        None,
                        f64::INFINITY,
                        false,
                        &mut whole,
                    );
                    assert_eq!(layout, want, "w {w} {rows}x{cols} {zero_every} {masked}");
                    assert!(
                        streamed == whole,
                        "w {w} {rows}x{cols} {zero_every} {masked}"
                    );
                    layouts.push(layout);
                }
            }
        }
        // Both layouts the streamed path writes were compared.
        assert!(layouts.contains(&Layout::Laned) && layouts.contains(&Layout::Split));
    }

    /// The AVX2 gathers give the scalar bytes, and the scalar bytes are the element's head
    /// and rest (`head_rest`), at every length around the 32-element blocks.
    #[test]
    fn gathers_are_head_and_rest_bytes() {
        for w in [2usize, 4, 8] {
            for n in [0usize, 1, 31, 32, 33, 63, 64, 65, 1000] {
                let bytes = elements(n, n.max(1), w, 3, false);
                let mut heads = Vec::new();
                let zero = gather::heads(&bytes, w, &mut heads);
                let split: Vec<(u8, u64)> = bytes
                    .chunks_exact(w)
                    .map(|e| match w {
                        2 => head_rest::<2>(e),
                        4 => head_rest::<4>(e),
                        _ => head_rest::<8>(e),
                    })
                    .collect();
                assert!(
                    heads.iter().copied().eq(split.iter().map(|p| p.0)),
                    "w {w} n {n}"
                );
                assert_eq!(zero, split.iter().any(|p| p.0 == 0), "w {w} n {n}");
                for j in 0..w - 1 {
                    let mut plane = Vec::new();
                    gather::rest_byte(&bytes, w, j, &mut plane);
                    let want = split.iter().map(|p| (p.1 >> (8 * j)) as u8);
                    assert!(plane.iter().copied().eq(want), "w {w} n {n} j {j}");
                }
            }
        }
    }
}
