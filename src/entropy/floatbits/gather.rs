//! Every element's head, or one byte of every element's rest, appended to a buffer in one
//! pass with no per-element choice (the loops vectorise; compiled for AVX2 where the CPU has
//! it, as `split_all`): the streams `streamed.rs` codes one at a time from the input.

use super::lane_plane;

/// Appends the head of every element of `bytes` (elements of `w` bytes) to `out`, whose
/// room it reserves exactly; returns whether some head is 0.
pub(super) fn heads(bytes: &[u8], w: usize, out: &mut Vec<u8>) -> bool {
    match w {
        2 => append::<2>(bytes, None, out),
        4 => append::<4>(bytes, None, out),
        _ => append::<8>(bytes, None, out),
    }
}

/// Appends rest byte `j` (0 lowest) of every element of `bytes` to `out` (its room reserved
/// exactly).
pub(super) fn rest_byte(bytes: &[u8], w: usize, j: usize, out: &mut Vec<u8>) {
    match w {
        2 => append::<2>(bytes, Some(j), out),
        4 => append::<4>(bytes, Some(j), out),
        _ => append::<8>(bytes, Some(j), out),
    };
}

/// [`heads`] (`j` = None) or [`rest_byte`]: whether some head is 0 (heads only).
fn append<const W: usize>(bytes: &[u8], j: Option<usize>, out: &mut Vec<u8>) -> bool {
    let n = bytes.len() / W;
    out.reserve_exact(n);
    let dst = &mut out.spare_capacity_mut()[..n];
    #[cfg(target_arch = "x86_64")]
    let zero = match lane_plane::have_avx2() {
        // SAFETY: the CPU has AVX2.
        true => unsafe { body_avx2::<W>(bytes, j, dst) },
        false => body::<W>(bytes, j, dst),
    };
    #[cfg(not(target_arch = "x86_64"))]
    let zero = body::<W>(bytes, j, dst);
    // SAFETY: the body wrote the n bytes past the end.
    unsafe { out.set_len(out.len() + n) };
    zero
}

/// [`body`] on the AVX2 path: 2- and 4-byte elements 32 at a time (each element's byte by
/// shifts and masks in its own 16- or 32-bit slot, the slots packed down to bytes), the rest
/// and other widths by [`body`] compiled for AVX2. The same bytes.
///
/// # Safety
/// AVX2 must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn body_avx2<const W: usize>(
    bytes: &[u8],
    j: Option<usize>,
    dst: &mut [std::mem::MaybeUninit<u8>],
) -> bool {
    use std::arch::x86_64::*;
    if W != 2 && W != 4 {
        return body::<W>(bytes, j, dst);
    }
    let blocks = dst.len().min(bytes.len() / W) / 32;
    let src = bytes.as_ptr();
    let out = dst.as_mut_ptr() as *mut u8;
    let mut zeros = _mm256_setzero_si256();
    for b in 0..blocks {
        let p = src.add(b * 32 * W);
        let load = |k: usize| _mm256_loadu_si256(p.add(32 * k) as *const __m256i);
        let r = match W {
            2 => {
                let (x, y) = (byte_of_u16(load(0), j), byte_of_u16(load(1), j));
                // Quads: elements 0–7, 16–23, 8–15, 24–31.
                _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi16(x, y))
            }
            _ => {
                let ab = _mm256_packus_epi32(byte_of_u32(load(0), j), byte_of_u32(load(1), j));
                let cd = _mm256_packus_epi32(byte_of_u32(load(2), j), byte_of_u32(load(3), j));
                // Dwords: elements 0–3, 8–11, 16–19, 24–27, 4–7, 12–15, 20–23, 28–31.
                let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
                _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd), order)
            }
        };
        zeros = _mm256_or_si256(zeros, _mm256_cmpeq_epi8(r, _mm256_setzero_si256()));
        _mm256_storeu_si256(out.add(32 * b) as *mut __m256i, r);
    }
    let tail = body::<W>(&bytes[32 * W * blocks..], j, &mut dst[32 * blocks..]);
    tail || _mm256_movemask_epi8(zeros) != 0
}

/// [`body`]'s byte of each of eight 4-byte elements, in the low byte of its 32-bit slot.
///
/// # Safety
/// AVX2 must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn byte_of_u32(
    x: std::arch::x86_64::__m256i,
    j: Option<usize>,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let ff = _mm256_set1_epi32(0xFF);
    match j {
        None => _mm256_and_si256(_mm256_srli_epi32::<23>(x), ff),
        Some(2) => _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi32::<16>(x), _mm256_set1_epi32(0x7F)),
            _mm256_and_si256(_mm256_srli_epi32::<24>(x), _mm256_set1_epi32(0x80)),
        ),
        Some(j) => _mm256_and_si256(_mm256_srl_epi32(x, _mm_cvtsi32_si128(8 * j as i32)), ff),
    }
}

/// [`body`]'s byte of each of sixteen 2-byte elements, in the low byte of its 16-bit slot.
///
/// # Safety
/// AVX2 must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn byte_of_u16(
    x: std::arch::x86_64::__m256i,
    j: Option<usize>,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    match j {
        None => _mm256_and_si256(_mm256_srli_epi16::<7>(x), _mm256_set1_epi16(0xFF)),
        Some(_) => _mm256_or_si256(
            _mm256_and_si256(x, _mm256_set1_epi16(0x7F)),
            _mm256_and_si256(_mm256_srli_epi16::<8>(x), _mm256_set1_epi16(0x80)),
        ),
    }
}

/// Writes every `dst[k]`: element k's head (`j` = None) or rest byte j. The head is the 8
/// bits below the sign (the top byte's low 7 and the next byte's top bit); a lower rest byte
/// is the element's own byte j (the head starts at bit 8·W − 9), and the top one (j = W − 2)
/// holds the sign above its 7 bits below the head.
#[inline(always)]
fn body<const W: usize>(
    bytes: &[u8],
    j: Option<usize>,
    dst: &mut [std::mem::MaybeUninit<u8>],
) -> bool {
    let els = bytes.chunks_exact(W).zip(dst.iter_mut());
    let mut zero = false;
    match j {
        None => els.for_each(|(e, d)| {
            let h = e[W - 1] << 1 | e[W - 2] >> 7;
            zero |= h == 0;
            d.write(h);
        }),
        Some(j) if j == W - 2 => els.for_each(|(e, d)| {
            d.write(e[W - 2] & 0x7F | e[W - 1] & 0x80);
        }),
        Some(j) => els.for_each(|(e, d)| {
            d.write(e[j]);
        }),
    }
    zero
}

/// The rest planes (byte j = 0 … w − 2 of the rest, each in a buffer of its exact size) of
/// the `len` kept elements (`masks`) whose head is 0 (`zero`) or is not.
///
/// One side at a time: the planes of the elements with a zero head are coded after all
/// those of the others, and held beside them they were 15 % of the input at the compress
/// call's peak (the synthetic gradient: issue 12's bound); the second side costs a second
/// read of the input (on AVX-512 VBMI2, about a cycle per element: `gather_avx512.rs`).
pub(super) fn rest_planes(
    bytes: &[u8],
    w: usize,
    masks: &super::Masks,
    len: usize,
    zero: bool,
) -> Vec<Vec<u8>> {
    let simd = vector_planes();
    match w {
        2 => planes_of::<2>(bytes, masks, len, zero, simd),
        4 => planes_of::<4>(bytes, masks, len, zero, simd),
        _ => planes_of::<8>(bytes, masks, len, zero, simd),
    }
}

/// Whether this CPU runs `gather_avx512`'s kernels.
fn vector_planes() -> bool {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    return super::gather_avx512::available();
    #[allow(unreachable_code)]
    false
}

/// Room past a side's `len` bytes in each of its buffers: the vector kernel stores 16 bytes
/// at the side's position whatever it keeps of them.
const SLACK: usize = 16;

/// The buffers as slices, in an array of the widest element's 7 (the rest unused, empty).
fn slices(v: &mut [Vec<u8>]) -> [&mut [u8]; 7] {
    let mut it = v.iter_mut();
    std::array::from_fn(|_| match it.next() {
        Some(v) => &mut v[..],
        None => &mut [],
    })
}

/// Bit `c % 16` of word `c / 16`: whether column `c` is kept (`zc[c]` false).
fn kept_columns(zc: &[bool]) -> Vec<u16> {
    let mut bits = vec![0u16; zc.len().div_ceil(16)];
    for (c, _) in zc.iter().enumerate().filter(|(_, &z)| !z) {
        bits[c / 16] |= 1 << (c % 16);
    }
    bits
}

/// [`rest_planes`] with the vector kernels for 4- and 8-byte elements where `simd` (the CPU must run
/// it), else one element at a time: the same planes either way.
fn planes_of<const W: usize>(
    bytes: &[u8],
    masks: &super::Masks,
    len: usize,
    zero: bool,
    simd: bool,
) -> Vec<Vec<u8>> {
    let mut planes: Vec<Vec<u8>> = (0..W - 1).map(|_| vec![0u8; len + SLACK]).collect();
    {
        let mut p = slices(&mut planes);
        let mut at = 0usize;
        // The elements of one row (or of the whole tensor, no masks), `cols` the kept-column
        // bits if some are masked.
        let mut segment = |seg: &[u8], cols: Option<&[u16]>| {
            #[allow(unused_mut)]
            let mut from = 0;
            #[cfg(all(target_arch = "x86_64", alcm_avx512))]
            if simd && W > 2 {
                use super::gather_avx512::{rest4, rest8};
                let kernel = if W == 4 { rest4 } else { rest8 };
                // SAFETY: `simd` only when the CPU runs the kernels; every buffer holds
                // `len + SLACK` bytes and `at` ≤ `len`; `cols`, if any, has a bit per element
                // of the segment.
                from = unsafe { kernel(seg, cols, zero, &mut p, &mut at, len) };
            }
            let _ = simd;
            // Every element is written at the side's next position, which advances only for
            // the side's own (no branch on the head, which is unpredictable where zero heads
            // are common); the position stays within `len`.
            for (k, e) in seg.chunks_exact(W).enumerate().skip(from) {
                let head = e[W - 1] << 1 | e[W - 2] >> 7;
                for j in 0..W - 2 {
                    p[j][at] = e[j];
                }
                p[W - 2][at] = e[W - 2] & 0x7F | e[W - 1] & 0x80;
                let kept = cols.map_or(true, |c| c[k / 16] >> (k % 16) & 1 == 1);
                at = (at + (kept && (head == 0) == zero) as usize).min(len);
            }
        };
        match masks {
            None => segment(bytes, None),
            Some((zr, zc)) => {
                let cols = kept_columns(zc);
                let row = zc.len() * W;
                for (r, _) in zr.iter().enumerate().filter(|(_, &z)| !z) {
                    segment(&bytes[r * row..(r + 1) * row], Some(&cols));
                }
            }
        }
    }
    for p in &mut planes {
        p.truncate(len);
    }
    planes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The planes by definition: for each kept element in order (rows, then columns), whose
    /// head (exponent: the top byte's low 7 bits and the next byte's top bit) is 0 or not.
    fn reference(bytes: &[u8], w: usize, masks: &super::super::Masks, zero: bool) -> Vec<Vec<u8>> {
        let n = bytes.len() / w;
        let mut planes = vec![Vec::new(); w - 1];
        let cols = masks.as_ref().map_or(n, |(_, zc)| zc.len());
        for i in 0..n {
            if let Some((zr, zc)) = masks {
                if zr[i / cols] || zc[i % cols] {
                    continue;
                }
            }
            let e = &bytes[i * w..i * w + w];
            let exponent_zero = e[w - 1] & 0x7F == 0 && e[w - 2] & 0x80 == 0;
            if exponent_zero != zero {
                continue;
            }
            for j in 0..w - 2 {
                planes[j].push(e[j]);
            }
            planes[w - 2].push(e[w - 2] & 0x7F | e[w - 1] & 0x80);
        }
        planes
    }

    /// Every path (scalar; the vector kernel where the CPU has it) gives the planes of the
    /// definition: both sides, 4- and 8-byte elements, lengths around the 16-element groups,
    /// zero heads from none to all, with and without masked rows and columns.
    #[test]
    fn rest_planes_by_definition() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for w in [4usize, 8] {
            for (rows, cols) in [
                (1, 1),
                (1, 15),
                (1, 16),
                (1, 17),
                (3, 47),
                (7, 64),
                (5, 200),
            ] {
                for zero_in_8 in [0u64, 1, 4, 8] {
                    let n = rows * cols;
                    let mut bytes = vec![0u8; n * w];
                    for e in bytes.chunks_exact_mut(w) {
                        let r = next();
                        e.copy_from_slice(&r.to_le_bytes()[..w]);
                        if r >> 60 & 7 < zero_in_8 {
                            // A zero exponent, the sign and the rest's other bits random.
                            e[w - 1] &= 0x80;
                            e[w - 2] &= 0x7F;
                        }
                    }
                    let zr: Vec<bool> = (0..rows).map(|r| r % 3 == 1).collect();
                    let zc: Vec<bool> = (0..cols).map(|c| c % 5 == 2 || c == 16).collect();
                    for masks in [None, Some((zr, zc))] {
                        for zero in [false, true] {
                            let want = reference(&bytes, w, &masks, zero);
                            let len = want[0].len();
                            for simd in [false, vector_planes()] {
                                let got = match w {
                                    4 => planes_of::<4>(&bytes, &masks, len, zero, simd),
                                    _ => planes_of::<8>(&bytes, &masks, len, zero, simd),
                                };
                                assert_eq!(
                                    got, want,
                                    "w {w} {rows}x{cols} zeros {zero_in_8}/8 masks {} zero {zero} simd {simd}",
                                    masks.is_some()
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
