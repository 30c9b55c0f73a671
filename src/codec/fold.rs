//! Code folding (frames with backend 2 only).
//!
//! Before packing, each quantized code `u` of channel `c` is replaced by its *fold* around the
//! channel's zero code `z_c` (the code that reconstructs 0: `−qmin_c` in the uniform modes,
//! `round(−lo_c/step_c)` in adaptive mode, clamped to `[0, R)` with `R = 2^(8·width)`):
//! with `d = u − z_c` and `m = min(z_c, R−1−z_c)`, `s = 2d−1` for `0 < d ≤ m`, `s = −2d` for
//! `−m ≤ d ≤ 0`, and `s = m + |d|` beyond (only one side is left there). This is a bijection on
//! `[0, R)`, so the width is unchanged; it aligns every channel's distribution on one model
//! (zero → symbol 0), which per-channel `qmin_c` offsets would otherwise smear: 3.3 → 2.6 bits
//! of order-0 entropy on gradients at relative L2 1e-1. Lossless frames are not folded.

use crate::codec::quant::{ChannelParams, Code};
use crate::entropy::order0::{
    encode, encode_plane_from, plane_size_floor, plane_size_from, Produced,
};

/// `encode(raw, width)` of the folded codes' byte planes (`pack_folded`): the same payload
/// without the packed stream, nor even one whole plane: each plane's histogram comes from one
/// counting pass over the codes (or `hists`, the caller's `folded_histograms`), then its
/// bytes are folded a run at a time as the rANS encoder asks for them (compress peak memory,
/// issue 12). The planes are independent streams, so with `threads > 1` they are coded in
/// parallel (each into its own buffer, concatenated in plane order: the same bytes).
pub(crate) fn encode_folded<C: Code>(
    params: &ChannelParams,
    width: u8,
    codes: &[C],
    threads: usize,
    hists: Option<&[[u64; 256]]>,
) -> Vec<u8> {
    let Some(planes) = FoldedPlanes::new(params, width, codes, threads, hists) else {
        let mut raw = Vec::new();
        pack_folded(params, width, codes, &mut raw);
        return encode(&raw, width);
    };
    let code_plane = |p: usize, out: &mut Vec<u8>| {
        encode_plane_from(planes.histogram(p), &mut planes.source(p), out)
    };
    let mut out = vec![width];
    if threads > 1 && width > 1 {
        // One plane per work item; `par::map` hands each thread a contiguous run of planes.
        // Plane 0 is coded after the payload's first byte, the others appended to it (each
        // freed once copied): no second buffer of the whole payload.
        let coded = crate::util::par::map(threads, width as usize, |p| {
            let mut o = if p == 0 { vec![width] } else { Vec::new() };
            code_plane(p, &mut o);
            o
        });
        let mut planes = coded.into_iter();
        out = planes.next().unwrap_or(out);
        for c in planes {
            out.reserve_exact(c.len());
            out.extend_from_slice(&c);
        }
    } else {
        for p in 0..width as usize {
            code_plane(p, &mut out);
        }
    }
    out
}

/// `encode_folded(..).len()` without the payload: each plane's words are counted, not
/// written (`order0::plane_size_from`), so a caller can learn whether the order-0 payload
/// would be the smaller before holding it beside another (compress peak memory, issue 12).
/// The same fold and rANS steps as coding it.
pub(crate) fn encoded_folded_size<C: Code>(
    params: &ChannelParams,
    width: u8,
    codes: &[C],
    threads: usize,
    hists: Option<&[[u64; 256]]>,
) -> usize {
    let Some(planes) = FoldedPlanes::new(params, width, codes, threads, hists) else {
        // Not whole channels of 1-, 2- or 4-byte codes (no caller sizes such codes).
        return encode_folded(params, width, codes, threads, hists).len();
    };
    let size = |p: usize| plane_size_from(planes.histogram(p), &mut planes.source(p));
    let sizes = if threads > 1 && width > 1 {
        crate::util::par::map(threads, width as usize, size)
    } else {
        (0..width as usize).map(size).collect()
    };
    1 + sizes.iter().sum::<usize>()
}

/// The byte planes of folded codes as the order-0 plane coder reads them: each plane's
/// histogram, and its bytes folded on demand a run at a time.
struct FoldedPlanes<'a, C> {
    codes: &'a [C],
    hists: std::borrow::Cow<'a, [[u64; 256]]>,
    zs: Vec<u32>,
    per: usize,
    r_max: u32,
}

impl<'a, C: Code> FoldedPlanes<'a, C> {
    /// `None` unless the codes are whole channels of 1-, 2- or 4-byte codes.
    fn new(
        params: &ChannelParams,
        width: u8,
        codes: &'a [C],
        threads: usize,
        hists: Option<&'a [[u64; 256]]>,
    ) -> Option<Self> {
        let channels = params.channels();
        if !matches!(width, 1 | 2 | 4)
            || channels == 0
            || codes.is_empty()
            || codes.len() % channels != 0
        {
            return None;
        }
        let hists = match hists {
            Some(h) => std::borrow::Cow::Borrowed(h),
            None => std::borrow::Cow::Owned(
                folded_histograms(params, width, codes, threads, None).unwrap_or_default(),
            ),
        };
        let r_max: u32 = if width >= 4 {
            u32::MAX
        } else {
            (1u32 << (8 * width as u32)) - 1
        };
        Some(FoldedPlanes {
            codes,
            hists,
            zs: zero_codes(params, width),
            per: codes.len() / channels,
            r_max,
        })
    }

    fn histogram(&self, p: usize) -> &[u64; 256] {
        &self.hists[p]
    }

    /// Plane `p`'s bytes, folded a run at a time as the coder asks for them.
    fn source(&self, p: usize) -> Produced<impl FnMut(usize, &mut [u8]) + '_> {
        Produced::new(self.codes.len(), move |start: usize, dst: &mut [u8]| {
            // A run may span channels: each part folded around its channel's zero code.
            let mut i = start;
            for_channel_parts(dst, self.per, &mut i, |c, part, from| {
                let z = self.zs[c];
                let src = &self.codes[from..from + part.len()];
                fold_plane_bytes(src, z, z.min(self.r_max - z), p, part);
            });
        })
    }
}

/// Byte `p` of the folded `codes` (zero code `z`, `m` as in [`fold_codes`]) into `out`; its
/// own function so that the loop is compiled (and vectorised) on its own, whatever the caller.
#[inline(never)]
fn fold_plane_bytes<C: Code>(codes: &[C], z: u32, m: u32, p: usize, out: &mut [u8]) {
    let shift = 8 * p as u32;
    for (d, &u) in out.iter_mut().zip(codes) {
        *d = (fold_branchless(u.get(), z, m) >> shift) as u8;
    }
}

/// Splits `dst` (values `*i..` of channels of `per` values) at channel boundaries and calls
/// `f(channel, part, first index of part)` for each piece; advances `*i` past `dst`.
#[inline(always)]
fn for_channel_parts(
    dst: &mut [u8],
    per: usize,
    i: &mut usize,
    mut f: impl FnMut(usize, &mut [u8], usize),
) {
    let mut rest = dst;
    while !rest.is_empty() {
        let (c, off) = (*i / per, *i % per);
        let take = (per - off).min(rest.len());
        let (part, tail) = rest.split_at_mut(take);
        f(c, part, *i);
        *i += take;
        rest = tail;
    }
}

/// Zero code of every channel (see the module doc), clamped to the `width`-byte code range.
/// Each channel's zero code: the code that reconstructs 0 (clamped to the width's range).
pub(crate) fn zero_codes(params: &ChannelParams, width: u8) -> Vec<u32> {
    let r_max = if width >= 4 {
        u32::MAX as i64
    } else {
        (1i64 << (8 * width as u32)) - 1
    };
    match params {
        ChannelParams::Uniform { qmin, .. } => qmin
            .iter()
            .map(|&q| q.saturating_neg().clamp(0, r_max) as u32)
            .collect(),
        ChannelParams::Range { lo, step } => lo
            .iter()
            .zip(step)
            .map(|(&l, &s)| {
                let z = if s > 0.0 {
                    (-(l as f64) / s as f64).round()
                } else {
                    0.0
                };
                if z.is_finite() {
                    (z.clamp(0.0, r_max as f64)) as u32
                } else {
                    0
                }
            })
            .collect(),
    }
}

#[cfg(test)]
fn fold_one(u: u32, z: u32, m: u32) -> u32 {
    if u > z {
        let d = u - z;
        if d <= m {
            2 * d - 1
        } else {
            m + d
        }
    } else {
        let d = z - u;
        if d <= m {
            2 * d
        } else {
            m + d
        }
    }
}

/// [`fold_one`] with selects instead of branches: the sign of a code is close to a coin
/// flip, so the branchy form mispredicts on about half of the values.
#[inline(always)]
fn fold_branchless(u: u32, z: u32, m: u32) -> u32 {
    let up = u > z;
    let d = if up {
        u.wrapping_sub(z)
    } else {
        z.wrapping_sub(u)
    };
    let small = d.wrapping_mul(2).wrapping_sub(up as u32);
    let big = m.wrapping_add(d);
    if d <= m {
        small
    } else {
        big
    }
}

/// `buf[k] = fold_branchless(c[k], z, m)` for 64 codes: widened and folded eight a step with
/// AVX2 when `avx2` (the unsigned compares defeat the compiler's vectoriser: about four
/// instructions a value, a third of the order-0 bound's counting pass).
#[inline]
fn fold_64<C: Code>(c: &[C], z: u32, m: u32, avx2: bool, buf: &mut [u32; 64]) {
    #[cfg(target_arch = "x86_64")]
    if avx2 && c.len() == 64 {
        match C::as_u32(c) {
            Some(u) => buf.copy_from_slice(u),
            None => C::widen(c, buf),
        }
        // SAFETY: `avx2` is only true when the CPU supports AVX2.
        return unsafe { fold_64_avx2(buf, z, m) };
    }
    let _ = avx2;
    for (b, &u) in buf.iter_mut().zip(c) {
        *b = fold_branchless(u.get(), z, m);
    }
}

/// [`fold_branchless`] of the 64 codes in `buf`, in place. Unsigned `a > b` is
/// `max(a, b) ≠ b`, and `a ≤ b` is `max(a, b) = b` (AVX2 compares signed only).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fold_64_avx2(buf: &mut [u32; 64], z: u32, m: u32) {
    use std::arch::x86_64::*;
    let (vz, vm) = (_mm256_set1_epi32(z as i32), _mm256_set1_epi32(m as i32));
    for k in (0..64).step_by(8) {
        // SAFETY: k + 8 ≤ 64: 32 bytes read and written; unaligned.
        let p = buf.as_mut_ptr().add(k) as *mut __m256i;
        let u = _mm256_loadu_si256(p);
        // All ones where u > z.
        let up = _mm256_xor_si256(
            _mm256_cmpeq_epi32(_mm256_max_epu32(u, vz), vz),
            _mm256_set1_epi32(-1),
        );
        let d = _mm256_blendv_epi8(_mm256_sub_epi32(vz, u), _mm256_sub_epi32(u, vz), up);
        // 2d − up (wrapping), or m + d.
        let small = _mm256_add_epi32(_mm256_add_epi32(d, d), up);
        let big = _mm256_add_epi32(vm, d);
        let near = _mm256_cmpeq_epi32(_mm256_max_epu32(d, vm), vm);
        _mm256_storeu_si256(p, _mm256_blendv_epi8(big, small, near));
    }
}

/// [`unfold_one`] without the branch on the parity of `s` (the sign of the value, a coin
/// flip: mispredicted half the time): `s ≤ 2m` → `z + (s/2 + 1)` for odd `s`, `z − s/2` for
/// even `s`; beyond, one-sided.
#[inline(always)]
pub(crate) fn unfold_branchless(s: u32, z: u32, m: u32, up: bool) -> u32 {
    let odd = s & 1;
    let d = (s >> 1) + odd;
    let neg = odd.wrapping_sub(1); // all ones for even s
    let near = z.wrapping_add((d ^ neg).wrapping_sub(neg));
    let far = if up {
        z.wrapping_add(s.wrapping_sub(m))
    } else {
        z.wrapping_sub(s.wrapping_sub(m))
    };
    if s <= 2 * m {
        near
    } else {
        far
    }
}

#[cfg(test)]
fn unfold_one(s: u32, z: u32, m: u32, up: bool) -> u32 {
    if s <= 2 * m {
        if s & 1 == 1 {
            z.wrapping_add(s / 2 + 1)
        } else {
            z.wrapping_sub(s / 2)
        }
    } else if up {
        z.wrapping_add(s - m)
    } else {
        z.wrapping_sub(s - m)
    }
}

/// Applies the fold (`forward`) or its inverse in place, channel by channel, for codes of
/// `width` bytes. Codes outside the width's range are never produced by the fold; on the
/// decoder side, whatever the (possibly corrupt) input, the result stays within `[0, R)`.
pub fn fold_codes(params: &ChannelParams, width: u8, codes: &mut [u32], forward: bool) {
    let channels = params.channels();
    if channels == 0 || codes.is_empty() || codes.len() % channels != 0 {
        return;
    }
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let per = codes.len() / channels;
    for (chunk, z) in codes.chunks_exact_mut(per).zip(zero_codes(params, width)) {
        let m = z.min(r_max - z);
        if m == 0 && z == 0 {
            continue; // identity: s = u
        }
        if forward {
            chunk
                .iter_mut()
                .for_each(|u| *u = fold_branchless(*u, z, m));
        } else {
            let up = z < r_max - z;
            chunk
                .iter_mut()
                .for_each(|s| *s = unfold_branchless((*s).min(r_max), z, m, up));
        }
    }
}

/// Appends the folded codes (`fold_codes` forward) as `width` byte planes, exactly as
/// `pack::pack` of a folded copy would, without making that copy (encoder peak memory).
pub(crate) fn pack_folded<C: Code>(
    params: &ChannelParams,
    width: u8,
    codes: &[C],
    out: &mut Vec<u8>,
) {
    let channels = params.channels();
    if channels == 0 || codes.is_empty() || codes.len() % channels != 0 {
        let wide: Vec<u32> = codes.iter().map(|u| u.get()).collect();
        crate::entropy::pack::pack(&wide, width, out);
        return;
    }
    let n = codes.len();
    let w = width as usize;
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let per = n / channels;
    let start = out.len();
    out.resize(start + n * w, 0);
    let dst = &mut out[start..];
    for (c, (chunk, z)) in codes
        .chunks_exact(per)
        .zip(zero_codes(params, width))
        .enumerate()
    {
        // z = m = 0 is the identity for fold_branchless too (fold_codes skips it).
        let m = z.min(r_max - z);
        if w == 1 {
            for (d, &u) in dst[c * per..(c + 1) * per].iter_mut().zip(chunk) {
                *d = fold_branchless(u.get(), z, m) as u8;
            }
        } else {
            for (i, &u) in chunk.iter().enumerate() {
                let f = fold_branchless(u.get(), z, m);
                for p in 0..w {
                    dst[p * n + c * per + i] = (f >> (8 * p)) as u8;
                }
            }
        }
    }
}

/// Histograms of the `P` byte planes of the folded codes of whole channels (`per` codes each,
/// zero codes `zs`). Four sub-histograms per plane, value `4m + k` in sub-histogram `k`, added
/// once per call: runs of one byte (zeros mostly, and nearly every high-plane byte) would
/// otherwise serialise on the same counter's store → load. Integer counts: the same totals as
/// counting one value at a time.
fn plane_histograms<C: Code, const P: usize>(
    codes: &[C],
    per: usize,
    zs: &[u32],
    r_max: u32,
) -> Vec<[u32; 256]> {
    let mut h4 = [[[0u32; 256]; 4]; P];
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let avx2 = false;
    for (chunk, &z) in codes.chunks_exact(per).zip(zs) {
        let m = z.min(r_max - z);
        // Fold 64 codes at a time into a buffer, then count.
        let mut buf = [0u32; 64];
        let mut c64 = chunk[..chunk.len() & !3].chunks_exact(64);
        for c in &mut c64 {
            fold_64(c, z, m, avx2, &mut buf);
            // Folded codes are mostly below 256 (every code within 128 of the channel's zero):
            // then each upper plane gets 64 zero bytes, counted at once (half the counting of
            // 2-byte codes).
            if P > 1 && buf.iter().fold(0, |a, &f| a | f) < 256 {
                for f4 in buf.chunks_exact(4) {
                    for k in 0..4 {
                        h4[0][k][f4[k] as usize] += 1;
                    }
                }
                for hp in &mut h4[1..] {
                    hp[0][0] += 64;
                }
                continue;
            }
            for f4 in buf.chunks_exact(4) {
                for k in 0..4 {
                    for (p, hp) in h4.iter_mut().enumerate() {
                        hp[k][((f4[k] >> (8 * p)) & 0xFF) as usize] += 1;
                    }
                }
            }
        }
        let done = chunk.len() & !3 & !63;
        let mut c4r = chunk[done..chunk.len() & !3].chunks_exact(4);
        for c in &mut c4r {
            for k in 0..4 {
                let f = fold_branchless(c[k].get(), z, m);
                for (p, hp) in h4.iter_mut().enumerate() {
                    hp[k][((f >> (8 * p)) & 0xFF) as usize] += 1;
                }
            }
        }
        for &u in chunk.chunks_exact(4).remainder() {
            let f = fold_branchless(u.get(), z, m);
            for (p, hp) in h4.iter_mut().enumerate() {
                hp[0][((f >> (8 * p)) & 0xFF) as usize] += 1;
            }
        }
    }
    h4.iter()
        .map(|s| std::array::from_fn(|b| s[0][b] + s[1][b] + s[2][b] + s[3][b]))
        .collect()
}

/// Byte histograms of the `width` planes of the folded codes (`pack_folded`), counted on the
/// threads without a folded copy; `None` when the codes are not whole channels.
///
/// `top`: the codes' largest, when the caller knows it (no search for it while counting).
pub(crate) fn folded_histograms<C: Code>(
    params: &ChannelParams,
    width: u8,
    codes: &[C],
    threads: usize,
    top: Option<u32>,
) -> Option<Vec<[u64; 256]>> {
    let channels = params.channels();
    if channels == 0 || codes.is_empty() || codes.len() % channels != 0 {
        return None;
    }
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let per = codes.len() / channels;
    let planes = width.clamp(1, 4) as usize;
    let zs = zero_codes(params, width);
    if zs.windows(2).all(|w| w[0] == w[1]) {
        if let Some(h) = shared_zero_histograms(codes, zs[0], r_max, planes, threads, top) {
            return Some(h);
        }
    }
    // Integer counts: any partition into blocks of channels gives the same histograms (as
    // many blocks per thread).
    let cpb = crate::util::par::balanced_chunk(
        channels,
        crate::entropy::model::rows_per_block(channels, per),
        threads,
    );
    let parts = crate::util::par::map(threads, channels.div_ceil(cpb), |k| {
        let c1 = ((k + 1) * cpb).min(channels);
        let (codes, zs) = (&codes[k * cpb * per..c1 * per], &zs[k * cpb..c1]);
        match planes {
            1 => plane_histograms::<C, 1>(codes, per, zs, r_max),
            2 => plane_histograms::<C, 2>(codes, per, zs, r_max),
            3 => plane_histograms::<C, 3>(codes, per, zs, r_max),
            _ => plane_histograms::<C, 4>(codes, per, zs, r_max),
        }
    });
    let mut h = vec![[0u64; 256]; planes];
    for part in parts {
        for (hp, pp) in h.iter_mut().zip(part) {
            for (a, b) in hp.iter_mut().zip(pp) {
                *a += b as u64;
            }
        }
    }
    Some(h)
}

/// The order-0 bound of all of `codes` ([`order0_bound_bytes`], in bytes) estimated from every
/// `stride`-th code (positions 0, stride, 2·stride, … of the whole tensor, so every row and,
/// for a stride prime to the row length, every column is sampled): their planes' histograms,
/// scaled to every code. With the count of codes it saw; `None` when the codes are not whole
/// channels.
///
/// Why: the exact bound is a count of every code (5–12 % of a one-thread compression of the
/// gradients and MiniLM weights of `../shared/data`), needed only to tell whether the model's
/// payload is below anything the order-0 payload could be. Where the model is well below,
/// a sample says so (`payload::encode` takes a margin for the sample's error).
pub(crate) fn sampled_bound<C: Code>(
    params: &ChannelParams,
    width: u8,
    codes: &[C],
    stride: usize,
) -> Option<(f64, usize)> {
    let zs = zero_codes(params, width);
    let channels = zs.len();
    let n = codes.len();
    if channels == 0 || n == 0 || n % channels != 0 || stride == 0 {
        return None;
    }
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let per = n / channels;
    let (h, seen) = match width.clamp(1, 4) {
        1 => strided_histograms::<C, 1>(codes, per, &zs, r_max, stride),
        2 => strided_histograms::<C, 2>(codes, per, &zs, r_max, stride),
        3 => strided_histograms::<C, 3>(codes, per, &zs, r_max, stride),
        _ => strided_histograms::<C, 4>(codes, per, &zs, r_max, stride),
    };
    let sample = bound_of_histograms(&h, seen);
    Some((sample * (n as f64 / seen as f64), seen))
}

/// The `P` planes' histograms of the folded codes at positions 0, stride, 2·stride, … of
/// `codes` (channels of `per` codes, zero codes `zs`), and how many codes that is.
fn strided_histograms<C: Code, const P: usize>(
    codes: &[C],
    per: usize,
    zs: &[u32],
    r_max: u32,
    stride: usize,
) -> (Vec<[u64; 256]>, usize) {
    // Four histograms of the low plane (samples in turn: a run of one byte would otherwise
    // serialise on one counter's store → load); the upper planes' bytes are counted only for
    // the folded codes of 256 and up (the rest add zeros, counted at the end).
    let mut low = [[0u32; 256]; 4];
    let mut up = [[0u32; 256]; 4];
    let (mut seen, mut wide) = (0usize, 0usize);
    let mut count_wide = |f: u32| {
        if P > 1 && f >= 256 {
            wide += 1;
            for (p, hp) in up.iter_mut().enumerate().take(P).skip(1) {
                hp[((f >> (8 * p)) & 0xFF) as usize] += 1;
            }
        }
    };
    let mut first = 0usize;
    for (row, &z) in codes.chunks_exact(per).zip(zs) {
        let m = z.min(r_max - z);
        let mut j = first;
        while j + 3 * stride < per {
            let f: [u32; 4] =
                std::array::from_fn(|k| fold_branchless(row[j + k * stride].get(), z, m));
            for k in 0..4 {
                low[k][(f[k] & 0xFF) as usize] += 1;
            }
            if f.iter().any(|&f| f >= 256) {
                f.into_iter().for_each(&mut count_wide);
            }
            seen += 4;
            j += 4 * stride;
        }
        while j < per {
            let f = fold_branchless(row[j].get(), z, m);
            low[0][(f & 0xFF) as usize] += 1;
            count_wide(f);
            seen += 1;
            j += stride;
        }
        // The next channel's first sampled position.
        first = j - per;
    }
    let mut h = vec![[0u64; 256]; P];
    for b in 0..256 {
        h[0][b] = low.iter().map(|l| l[b] as u64).sum();
    }
    for (p, hp) in h.iter_mut().enumerate().skip(1) {
        for (a, &c) in hp.iter_mut().zip(&up[p]) {
            *a = c as u64;
        }
        hp[0] += (seen - wide) as u64;
    }
    (h, seen)
}

/// Whether [`shared_zero_histograms`] counts codes up to `top` on `threads` threads: its counts
/// (16 bytes a code value, per thread) take at most half a byte a value, less than the u16
/// codes themselves (compress peak memory).
fn shared_counts_fit(top: u32, n: usize, threads: usize) -> bool {
    top < 1 << 16 && 2 * 16 * (top as usize + 1) * threads.max(1) <= n
}

/// Codes counted between two checks of a part's largest code in [`shared_zero_histograms`]:
/// a piece is still in the core's L1/L2 when it is counted right after its maximum.
const SHARED_PIECE: usize = 1 << 14;

/// [`folded_histograms`] when every channel has the same zero code `z` (one channel, or
/// channels sharing their smallest code, as the MiniLM weights do at every bound): a
/// histogram of the codes themselves, then each of its bins folded once and added to the
/// planes' histograms. The same counts as folding every code, without a fold (nor a u16 →
/// u32 widening) per value: the fold and its widening were a third of the order-0 bound's
/// pass. `None` unless the largest code `top` passes [`shared_counts_fit`].
///
/// `top` is found in the counting pass, piece by piece on each thread (each part's counts grow
/// with its largest code so far), not by a pass of its own over the codes on the calling
/// thread before it: that pass was serial work between two parallel passes (≈ 0.2 ms of a
/// two-thread compression of the MiniLM word embeddings, 2.4 M u16 codes) and a second read
/// of the codes on one thread. A part stops as soon as its largest code fails the test, so
/// when the codes' range is too wide only the pieces up to the first such code were counted.
///
/// With `known`, the codes' largest code, the test is made once before counting and the
/// counts are sized at once: no largest code per piece (≈ 0.9 % of the word embeddings'
/// compression).
fn shared_zero_histograms<C: Code>(
    codes: &[C],
    z: u32,
    r_max: u32,
    planes: usize,
    threads: usize,
    known: Option<u32>,
) -> Option<Vec<[u64; 256]>> {
    let n = codes.len();
    if known.is_some_and(|t| !shared_counts_fit(t, n, threads)) {
        return None;
    }
    // One part per thread, each below 2^31 values so that no u32 count overflows; integer
    // counts: any split gives the same sums.
    let part = n.div_ceil(threads.max(1)).clamp(1, 1 << 30);
    let parts = crate::util::par::map(threads, n.div_ceil(part), |k| {
        let block = &codes[k * part..((k + 1) * part).min(n)];
        // Four counts per code, value `4m + s` in count `s` (as `plane_histograms`: a run of
        // one code would otherwise serialise on one counter's store → load), side by side.
        let mut b4: Vec<u32> = Vec::new();
        let mut top = 0u32;
        for piece in block.chunks(SHARED_PIECE) {
            top = top.max(known.unwrap_or_else(|| C::max_code(piece)));
            if !shared_counts_fit(top, n, threads) {
                return None;
            }
            // Growing keeps every count at its place (`4u + s`); exactly, so that the counts
            // stay within the bound checked above.
            let want = 4 * (top as usize + 1);
            if b4.len() < want {
                b4.reserve_exact(want - b4.len());
                b4.resize(want, 0);
            }
            let c4 = piece.chunks_exact(4);
            for &u in c4.remainder() {
                b4[4 * u.get() as usize] += 1;
            }
            for c in c4 {
                for s in 0..4 {
                    b4[4 * c[s].get() as usize + s] += 1;
                }
            }
        }
        Some((top, b4))
    });
    let parts: Vec<(u32, Vec<u32>)> = parts.into_iter().collect::<Option<_>>()?;
    let top = parts.iter().map(|p| p.0).max()?;
    let bins = top as usize + 1;
    let m = z.min(r_max - z);
    let mut h = vec![[0u64; 256]; planes];
    for u in 0..bins {
        let n: u64 = parts
            .iter()
            .filter_map(|(_, b4)| b4.get(4 * u..4 * u + 4))
            .map(|c| c.iter().map(|&c| c as u64).sum::<u64>())
            .sum();
        if n > 0 {
            let f = fold_branchless(u as u32, z, m);
            for (p, hp) in h.iter_mut().enumerate() {
                hp[((f >> (8 * p)) & 0xFF) as usize] += n;
            }
        }
    }
    Some(h)
}

/// A lower bound, in bytes, of the backend-2 payload of `codes` (before `fold_codes`): the
/// order-0 empirical entropy of each byte plane of the folded codes. A static order-0 coder
/// cannot beat it (Gibbs' inequality; tables, headers and final states only add), so a payload
/// of another backend smaller than this makes building the backend-2 payload pointless. Uses
/// basic IEEE operations only (the encoder's choice must be the same on every platform).
pub fn order0_bound_bytes(params: &ChannelParams, width: u8, codes: &[u32], threads: usize) -> f64 {
    match folded_histograms(params, width, codes, threads, None) {
        Some(h) => bound_of_histograms(&h, codes.len()),
        None => 0.0,
    }
}

/// [`order0_bound_bytes`] of the planes' histograms `h` of `n` codes.
pub(crate) fn bound_of_histograms(h: &[[u64; 256]], n: usize) -> f64 {
    let ln_n = crate::util::detmath::det_ln(n as f64);
    // The counts' logarithms first (`det_ln_in_place`: eight at a time where the CPU allows,
    // the same bits), then the sum in the counts' order.
    let counts: Vec<f64> = h
        .iter()
        .flatten()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64)
        .collect();
    let mut ln = counts.clone();
    crate::util::detmath::det_ln_in_place(&mut ln);
    let mut bits = 0.0f64;
    for (&c, &l) in counts.iter().zip(&ln) {
        bits += c * (ln_n - l);
    }
    bits / std::f64::consts::LN_2 / 8.0
}

/// A floor under the size of [`encode_folded`]'s payload for the planes' histograms `h`
/// ([`folded_histograms`]): its planes byte and each plane's [`plane_size_floor`].
pub(crate) fn payload_floor(h: &[[u64; 256]]) -> f64 {
    1.0 + h.iter().map(plane_size_floor).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn branchless_fold_equals_fold() {
        let mut s = 11u64;
        let edges = [
            0u32,
            1,
            2,
            127,
            128,
            255,
            256,
            65535,
            65536,
            u32::MAX / 2,
            u32::MAX - 1,
            u32::MAX,
        ];
        for _ in 0..100_000 {
            let r = lcg(&mut s);
            let pick = |k: u32| {
                if k % 3 == 0 {
                    edges[(k / 3) as usize % edges.len()]
                } else {
                    k
                }
            };
            let (u, z) = (pick(r as u32), pick((r >> 32) as u32));
            let r_max = [255u32, 65535, u32::MAX][(r >> 5) as usize % 3];
            let (u, z) = (u.min(r_max), z.min(r_max));
            let m = z.min(r_max - z);
            assert_eq!(
                fold_branchless(u, z, m),
                fold_one(u, z, m),
                "u {u} z {z} m {m}"
            );
        }
    }

    #[test]
    fn pack_folded_equals_fold_then_pack() {
        let mut s = 3u64;
        for (width, channels, per) in [(1u8, 3usize, 7usize), (2, 4, 5), (4, 2, 9), (1, 1, 1)] {
            let r_max = if width >= 4 {
                u32::MAX as u64
            } else {
                (1u64 << (8 * width as u32)) - 1
            };
            let codes: Vec<u32> = (0..channels * per)
                .map(|_| (lcg(&mut s) % (r_max + 1)) as u32)
                .collect();
            let qmin: Vec<i64> = (0..channels)
                .map(|_| -((lcg(&mut s) % (r_max + 1)) as i64))
                .collect();
            let p = ChannelParams::Uniform { step: 1.0, qmin };
            let mut folded = codes.clone();
            fold_codes(&p, width, &mut folded, true);
            let (mut a, mut b) = (vec![9u8], vec![9u8]);
            crate::entropy::pack::pack(&folded, width, &mut a);
            pack_folded(&p, width, &codes, &mut b);
            assert_eq!(a, b, "width {width}");
        }
    }

    /// Codes of `channels × per` values of `width` bytes and each channel's `qmin` (zero code
    /// `−qmin < 300`): one value in `wide_every` anywhere in the code range, the others at most
    /// `near − 1` above the channel's zero code.
    /// The folded codes of `codes` and their planes' byte histograms, counted one folded code
    /// at a time: the expectation of the histogram passes.
    fn planes_by_definition(
        p: &ChannelParams,
        width: u8,
        codes: &[u32],
    ) -> (Vec<u32>, Vec<[u64; 256]>) {
        let mut folded = codes.to_vec();
        fold_codes(p, width, &mut folded, true);
        let mut want = vec![[0u64; 256]; width as usize];
        for &f in &folded {
            for (plane, h) in want.iter_mut().enumerate() {
                h[((f >> (8 * plane)) & 0xFF) as usize] += 1;
            }
        }
        (folded, want)
    }

    fn codes_near_zero(
        s: &mut u64,
        width: u8,
        channels: usize,
        per: usize,
        wide_every: u64,
        near: u64,
    ) -> (Vec<u32>, Vec<i64>) {
        let r_max = if width >= 4 {
            u32::MAX as u64
        } else {
            (1u64 << (8 * width as u32)) - 1
        };
        let qmin: Vec<i64> = (0..channels)
            .map(|_| -((lcg(s) % (r_max + 1).min(300)) as i64))
            .collect();
        let codes = (0..channels * per)
            .map(|k| {
                let r = lcg(s);
                let z = (-qmin[k / per]) as u64;
                (if r % wide_every == 0 {
                    (r >> 8) % (r_max + 1)
                } else {
                    (z + (r >> 8) % near).min(r_max)
                }) as u32
            })
            .collect();
        (codes, qmin)
    }

    /// The bound from the folded codes counted one at a time (`fold_codes`, the reference
    /// fold) and the entropy formula written out: widths 1–4, rows not a multiple of 4,
    /// runs of one code (the case the sub-histograms are for), any thread count.
    #[test]
    fn order0_bound_is_the_entropy_of_the_folded_planes() {
        let mut s = 29u64;
        for (width, channels, per) in [(1u8, 3usize, 701usize), (2, 4, 503), (3, 2, 9), (4, 5, 6)] {
            let (codes, qmin) = codes_near_zero(&mut s, width, channels, per, 5, 1);
            let p = ChannelParams::Uniform { step: 1.0, qmin };
            let mut folded = codes.clone();
            fold_codes(&p, width, &mut folded, true);
            let n = codes.len() as f64;
            let ln = crate::util::detmath::det_ln;
            let mut bits = 0.0f64;
            for plane in 0..width as u32 {
                let mut h = [0u64; 256];
                for &f in &folded {
                    h[((f >> (8 * plane)) & 0xFF) as usize] += 1;
                }
                for &c in h.iter().filter(|&&c| c > 0) {
                    bits += c as f64 * (ln(n) - ln(c as f64));
                }
            }
            let expect = bits / std::f64::consts::LN_2 / 8.0;
            for threads in [1, 2, 3] {
                assert_eq!(
                    order0_bound_bytes(&p, width, &codes, threads),
                    expect,
                    "width {width}, {threads} threads"
                );
            }
        }
    }

    /// The sampled bound is the bound of the codes at positions 0, stride, 2·stride, … (folded
    /// one at a time by `fold_codes`, counted by definition), scaled to all codes: strides
    /// below, equal to and above the row length, rows not a multiple of the stride, wide codes
    /// in every plane, widths 1–4; with stride 1 it is the exact bound.
    #[test]
    fn sampled_bound_is_the_bound_of_every_stride_th_code() {
        let mut s = 53u64;
        for (width, channels, per) in [(1u8, 7usize, 701usize), (2, 9, 503), (3, 40, 9), (4, 5, 64)]
        {
            for wide_every in [3u64, 1000] {
                let (codes, qmin) = codes_near_zero(&mut s, width, channels, per, wide_every, 7);
                let p = ChannelParams::Uniform { step: 1.0, qmin };
                let (folded, _) = planes_by_definition(&p, width, &codes);
                for stride in [1usize, 2, 3, 7, 9, 64, 701, 1000] {
                    let picked: Vec<u32> = folded.iter().step_by(stride).copied().collect();
                    let mut h = vec![[0u64; 256]; width as usize];
                    for &f in &picked {
                        for (plane, hp) in h.iter_mut().enumerate() {
                            hp[((f >> (8 * plane)) & 0xFF) as usize] += 1;
                        }
                    }
                    let n = codes.len() as f64;
                    let expect = bound_of_histograms(&h, picked.len()) * (n / picked.len() as f64);
                    let got = sampled_bound(&p, width, &codes, stride).unwrap();
                    assert_eq!(
                        got,
                        (expect, picked.len()),
                        "width {width}, stride {stride}"
                    );
                    let narrow: Vec<u16> = codes.iter().map(|&c| c as u16).collect();
                    if width <= 2 {
                        assert_eq!(sampled_bound(&p, width, &narrow, stride).unwrap(), got);
                    }
                }
                assert_eq!(
                    sampled_bound(&p, width, &codes, 1).unwrap().0,
                    order0_bound_bytes(&p, width, &codes, 1)
                );
            }
        }
    }

    /// The order-0 payload is never below the entropy bound of the histograms it is coded
    /// from, nor below the floor estimated from them: the payload choice (`codec/payload.rs`)
    /// keeps a model payload below either without building the order-0 payload. Skewed,
    /// near-uniform (stored planes), constant and two-symbol planes; widths 1, 2, 4; 1 to 2^18
    /// values; 1 and 2 threads.
    #[test]
    fn order0_payload_is_never_below_its_bound() {
        let mut s = 41u64;
        let mut cases = 0;
        for (width, channels, per) in [
            (1u8, 1usize, 1usize),
            (1, 3, 5),
            (1, 16, 4096),
            (2, 7, 513),
            (2, 64, 2048),
            (4, 5, 6),
            (4, 4, 1000),
            (2, 1, 1 << 18),
        ] {
            for (wide_every, near) in [
                (1u64, 1u64),
                (5, 1),
                (1_000_000, 2),
                (9, 40),
                (3, 255),
                (1_000_000, 3000),
            ] {
                let (codes, qmin) = codes_near_zero(&mut s, width, channels, per, wide_every, near);
                let p = ChannelParams::Uniform { step: 1.0, qmin };
                for threads in [1, 2] {
                    let h = folded_histograms(&p, width, &codes, threads, None).unwrap();
                    let bound = bound_of_histograms(&h, codes.len());
                    let payload = encode_folded(&p, width, &codes, threads, Some(&h));
                    let floor = payload_floor(&h);
                    assert!(
                        payload.len() as f64 >= floor,
                        "width {width}, {channels}×{per}, ({wide_every}, {near}): payload {} < floor {floor}",
                        payload.len()
                    );
                    assert!(
                        payload.len() as f64 >= bound,
                        "width {width}, {channels}×{per}, ({wide_every}, {near}): payload {} < bound {bound}",
                        payload.len()
                    );
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 96);
    }

    /// The AVX2 fold of 64 codes against `fold_branchless`, for any `u`, `z`, `m` (edges of
    /// the unsigned compares: 0, 2^31 ± 1, u32::MAX, u = z, d = m, d = m + 1), from u32 and
    /// from u16 codes.
    #[test]
    fn fold_64_equals_fold_branchless() {
        let mut s = 37u64;
        let edges = [
            0u32,
            1,
            2,
            255,
            256,
            0x7fff_ffff,
            0x8000_0000,
            0x8000_0001,
            u32::MAX - 1,
            u32::MAX,
        ];
        for case in 0..3000 {
            let mut r = || lcg(&mut s) as u32;
            let (z, m) = match case % 3 {
                0 => (edges[case % 10], edges[(case / 10) % 10]),
                1 => {
                    let z = r() >> (r() % 32);
                    (z, z.min(u32::MAX - z))
                }
                _ => (r(), r()),
            };
            let u: Vec<u32> = (0..64)
                .map(|k| match k % 4 {
                    0 => edges[(r() % 10) as usize],
                    1 => z.wrapping_add(m).wrapping_add(r() % 3).wrapping_sub(1),
                    2 => z.wrapping_sub(m).wrapping_add(r() % 3).wrapping_sub(1),
                    _ => r(),
                })
                .collect();
            let want: Vec<u32> = u.iter().map(|&u| fold_branchless(u, z, m)).collect();
            for avx2 in [false, std::is_x86_feature_detected!("avx2")] {
                let mut buf = [0u32; 64];
                fold_64(&u, z, m, avx2, &mut buf);
                assert_eq!(buf.to_vec(), want, "z {z}, m {m}, avx2 {avx2}");
                let narrow: Vec<u16> = u.iter().map(|&v| v as u16).collect();
                let want16: Vec<u32> = narrow
                    .iter()
                    .map(|&v| fold_branchless(v as u32, z, m))
                    .collect();
                fold_64(&narrow, z, m, avx2, &mut buf);
                assert_eq!(buf.to_vec(), want16, "u16: z {z}, m {m}, avx2 {avx2}");
            }
        }
    }

    /// Codes that fold below 256 in most groups of 64 (the upper planes' zeros counted at
    /// once) and not in some: each plane's histogram counted one folded code at a time.
    #[test]
    fn histograms_of_mostly_narrow_codes_count_every_plane() {
        let mut s = 31u64;
        for (width, channels, per) in [(2u8, 3usize, 4099usize), (3, 2, 5000), (4, 4, 777)] {
            let (codes, qmin) = codes_near_zero(&mut s, width, channels, per, 1000, 9);
            let p = ChannelParams::Uniform { step: 1.0, qmin };
            let (folded, want) = planes_by_definition(&p, width, &codes);
            // Both kinds of group occur: some folded codes reach 256, most do not.
            let wide = folded.iter().filter(|&&f| f >= 256).count();
            assert!(wide > 0 && wide * 100 < folded.len(), "{wide}");
            for threads in [1, 2] {
                assert_eq!(
                    folded_histograms(&p, width, &codes, threads, None).unwrap(),
                    want,
                    "width {width}, {threads} threads"
                );
            }
        }
    }

    /// The shared-zero path finds the largest code piece by piece in its counting pass: it is
    /// taken exactly when `shared_counts_fit` holds for the largest code of all parts, wherever
    /// that code lies (first or last code, either side of a piece's or a part's edge), and then
    /// counts every folded code.
    #[test]
    fn shared_zero_path_decides_on_the_largest_code_anywhere() {
        let n = 3 * SHARED_PIECE + 5;
        let (z, width) = (5u32, 2u8);
        let p = ChannelParams::Uniform {
            step: 1.0,
            qmin: vec![-(z as i64)],
        };
        let (mut taken, mut refused) = (0, 0);
        for threads in [1, 2, 3] {
            for at in [0, SHARED_PIECE - 1, SHARED_PIECE, n / 2, n / 2 + 1, n - 1] {
                // With n = 49 157: 300 fits on three threads, 700 on two, 3000 on none.
                for top in [40u32, 300, 700, 3000] {
                    let mut codes: Vec<u32> = (0..n as u32).map(|i| i % 37).collect();
                    codes[at] = top;
                    let narrow: Vec<u16> = codes.iter().map(|&u| u as u16).collect();
                    let got = shared_zero_histograms(&narrow, z, u16::MAX as u32, 2, threads, None);
                    // The largest code given: the same decision and counts.
                    let known = Some(*codes.iter().max().unwrap());
                    let given =
                        shared_zero_histograms(&narrow, z, u16::MAX as u32, 2, threads, known);
                    assert_eq!(given, got, "top {top} at {at}, {threads} threads, given");
                    let what = format!("top {top} at {at}, {threads} threads");
                    assert_eq!(got.is_some(), shared_counts_fit(top, n, threads), "{what}");
                    let Some(got) = got else {
                        refused += 1;
                        continue;
                    };
                    taken += 1;
                    let (_, want) = planes_by_definition(&p, width, &codes);
                    assert_eq!(got, want, "{what}");
                }
            }
        }
        assert_eq!((taken, refused), (48, 24));
    }

    /// Channels sharing one zero code (`shared_zero_histograms`: a histogram of the codes,
    /// each bin folded once): every plane's histogram against the codes folded and counted one
    /// at a time. Widths 1–4, one or several channels, lengths not a multiple of 4, runs of
    /// one code, codes on both sides of the zero code and beyond it on one side (`z < m`),
    /// u16 and u32 codes, 1–3 threads.
    #[test]
    fn shared_zero_code_histograms_count_every_folded_code() {
        let mut s = 43u64;
        let mut shared = 0;
        for (width, channels, per) in [
            (1u8, 3usize, 701usize),
            (2, 4, 503),
            (2, 1, 70_001),
            (3, 2, 999),
            (4, 5, 6),
            (2, 7, 4099),
        ] {
            for (z, spread, run) in [(0u32, 9u64, false), (5, 300, false), (200, 40, true)] {
                let codes: Vec<u32> = (0..channels * per)
                    .map(|k| {
                        let r = lcg(&mut s);
                        if run && k % 97 != 0 {
                            z
                        } else {
                            ((z as u64 + (r >> 8) % spread).saturating_sub(spread / 2)) as u32
                        }
                    })
                    .collect();
                let p = ChannelParams::Uniform {
                    step: 1.0,
                    qmin: vec![-(z as i64); channels],
                };
                let (_, want) = planes_by_definition(&p, width, &codes);
                let top = *codes.iter().max().unwrap();
                shared += (32 * (top as usize + 1) <= codes.len()) as usize;
                let narrow: Vec<u16> = codes.iter().map(|&u| u as u16).collect();
                for threads in [1, 2, 3] {
                    let what = format!("width {width}, {channels}×{per}, z {z}, {threads} threads");
                    assert_eq!(
                        folded_histograms(&p, width, &codes, threads, None).unwrap(),
                        want,
                        "{what}"
                    );
                    assert_eq!(
                        folded_histograms(&p, width, &narrow, threads, None).unwrap(),
                        want,
                        "u16: {what}"
                    );
                }
            }
        }
        // The shared-zero path is taken where the code range is small against the number
        // of values (with 1 thread): in 9 of the 18 cases, among them lengths of 1 and 3
        // beyond a multiple of 4.
        assert_eq!(shared, 9);
    }

    #[test]
    fn u16_codes_fold_and_count_as_u32_codes() {
        // One long channel of u16 codes (its histograms from a histogram of the codes) and
        // several channels (the folding counters): the u32 codes' histograms and payloads.
        let mut s = 23u64;
        for (width, channels, per) in [(1u8, 1usize, 70_000usize), (2, 1, 90_001), (2, 3, 5000)] {
            let (codes, qmin) = codes_near_zero(&mut s, width, channels, per, 11, 9);
            let narrow: Vec<u16> = codes.iter().map(|&u| u as u16).collect();
            let p = ChannelParams::Uniform { step: 1.0, qmin };
            let want = folded_histograms(&p, width, &codes, 1, None).unwrap();
            for threads in [1, 2] {
                assert_eq!(
                    folded_histograms(&p, width, &narrow, threads, None).unwrap(),
                    want
                );
                assert_eq!(
                    encode_folded(&p, width, &narrow, threads, None),
                    encode_folded(&p, width, &codes, threads, None),
                    "width {width}, {channels} channels"
                );
            }
        }
    }

    #[test]
    fn encode_folded_equals_pack_then_encode() {
        let mut s = 17u64;
        // Also planes of several encoder runs (8192 bytes) that cut channels anywhere, and
        // channels of one value.
        for (width, channels, per) in [
            (1u8, 3usize, 700usize),
            (2, 4, 500),
            (4, 2, 900),
            (2, 3, 7001),
            (1, 9000, 3),
            (4, 5, 3333),
        ] {
            // Mostly small codes around each channel's zero, some spread over the whole range.
            let (codes, qmin) = codes_near_zero(&mut s, width, channels, per, 7, 5);
            let p = ChannelParams::Uniform { step: 1.0, qmin };
            let mut raw = Vec::new();
            pack_folded(&p, width, &codes, &mut raw);
            let want = encode(&raw, width);
            let hists = folded_histograms(&p, width, &codes, 1, None).unwrap();
            for threads in [1, 2, 3] {
                assert_eq!(
                    encode_folded(&p, width, &codes, threads, None),
                    want,
                    "width {width}, {threads} threads"
                );
                assert_eq!(
                    encode_folded(&p, width, &codes, threads, Some(&hists)),
                    want
                );
            }
        }
    }

    #[test]
    fn the_folded_payload_sized_without_its_bytes_is_its_length() {
        // `encoded_folded_size` = `encode_folded(..).len()`: 1-, 2- and 4-byte codes, planes
        // coded, stored (codes spread over the whole range) and constant (every code its
        // channel's zero: each plane one byte value), planes of several encoder runs, 1–3
        // threads, histograms given or counted, and codes that are not whole channels (the
        // packed fallback).
        let mut s = 18u64;
        for (width, channels, per) in [
            (1u8, 3usize, 700usize),
            (2, 4, 500),
            (4, 2, 900),
            (2, 3, 7001),
            (1, 9000, 3),
            (4, 5, 3333),
            (2, 1, 1),
        ] {
            for (wide_every, near) in [(7, 5), (1, 1), (1 << 40, 1), (1 << 40, 200)] {
                let (codes, qmin) = codes_near_zero(&mut s, width, channels, per, wide_every, near);
                let p = ChannelParams::Uniform { step: 1.0, qmin };
                let hists = folded_histograms(&p, width, &codes, 1, None).unwrap();
                for threads in [1, 2, 3] {
                    let want = encode_folded(&p, width, &codes, threads, None).len();
                    let what = format!("width {width}, {channels} × {per}, {threads} threads");
                    assert_eq!(
                        encoded_folded_size(&p, width, &codes, threads, None),
                        want,
                        "{what}"
                    );
                    assert_eq!(
                        encoded_folded_size(&p, width, &codes, threads, Some(&hists)),
                        want,
                        "{what}"
                    );
                }
                // Not whole channels: one code short.
                let short = &codes[..codes.len() - 1];
                assert_eq!(
                    encoded_folded_size(&p, width, short, 2, None),
                    encode_folded(&p, width, short, 2, None).len()
                );
            }
        }
        let p = ChannelParams::Uniform {
            step: 1.0,
            qmin: vec![0],
        };
        assert_eq!(
            encoded_folded_size::<u32>(&p, 2, &[], 1, None),
            encode_folded::<u32>(&p, 2, &[], 1, None).len()
        );
    }

    #[test]
    fn fold_is_a_bijection() {
        for width in [1u8, 2] {
            let r = 1u32 << (8 * width as u32);
            for z in [0u32, 1, 5, r / 2 - 1, r / 2, r - 2, r - 1] {
                let p = ChannelParams::Uniform {
                    step: 1.0,
                    qmin: vec![-(z as i64)],
                };
                let mut codes: Vec<u32> = (0..r).collect();
                fold_codes(&p, width, &mut codes, true);
                let mut seen = vec![false; r as usize];
                for &s in &codes {
                    assert!(s < r && !seen[s as usize], "width {width} z {z}: {s}");
                    seen[s as usize] = true;
                }
                assert_eq!(codes[z as usize], 0);
                fold_codes(&p, width, &mut codes, false);
                assert!(
                    codes.iter().enumerate().all(|(i, &u)| u == i as u32),
                    "width {width} z {z}"
                );
            }
        }
        // 4-byte codes near both ends.
        let p = ChannelParams::Uniform {
            step: 1.0,
            qmin: vec![-7],
        };
        let mut c = vec![0, 7, 8, 6, 100, u32::MAX, u32::MAX - 5];
        let orig = c.clone();
        fold_codes(&p, 4, &mut c, true);
        assert_eq!(&c[..4], &[14, 0, 1, 2]);
        fold_codes(&p, 4, &mut c, false);
        assert_eq!(c, orig);
    }

    #[test]
    fn branch_free_unfold_equals_the_reference() {
        // Every (s, z) of 1-byte codes, and a spread of 2- and 4-byte ones.
        let mut cases = vec![];
        for z in 0..=255u32 {
            for s in 0..=255u32 {
                cases.push((s, z, 255u32));
            }
        }
        let mut r = 1u64;
        for _ in 0..200_000 {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r_max = if r >> 63 == 0 { 65535u32 } else { u32::MAX };
            let z = ((r >> 20) as u32) & r_max;
            let s = match (r >> 8) % 3 {
                0 => ((r >> 32) as u32) & 63,
                1 => ((r >> 32) as u32) & r_max,
                _ => r_max - (((r >> 32) as u32) & 63),
            };
            cases.push((s, z, r_max));
        }
        for (s, z, r_max) in cases {
            let m = z.min(r_max - z);
            let up = z < r_max - z;
            assert_eq!(
                unfold_branchless(s, z, m, up),
                unfold_one(s, z, m, up),
                "s={s} z={z} r_max={r_max}"
            );
        }
    }
}
