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

/// The rest planes of the kept elements (`masks`) in one pass: those of the `na` elements
/// whose head ≠ 0 in one buffer and of the `nb` whose head = 0 in another, each of its exact
/// size, **last plane first** (byte j of a kind of `len` elements at `(w − 2 − j)·len`), so
/// that the plane coded next is always at the end, to be cut off once coded.
pub(super) fn rest_planes(
    bytes: &[u8],
    w: usize,
    masks: &super::Masks,
    na: usize,
    nb: usize,
) -> (Vec<u8>, Vec<u8>) {
    match w {
        2 => planes_of::<2>(bytes, masks, na, nb),
        4 => planes_of::<4>(bytes, masks, na, nb),
        _ => planes_of::<8>(bytes, masks, na, nb),
    }
}

fn planes_of<const W: usize>(
    bytes: &[u8],
    masks: &super::Masks,
    na: usize,
    nb: usize,
) -> (Vec<u8>, Vec<u8>) {
    let mut a = vec![0u8; (W - 1) * na];
    let mut b = vec![0u8; (W - 1) * nb];
    let (pa, pb) = (&mut a[..], &mut b[..]);
    let (mut ia, mut ib) = (0usize, 0usize);
    let mut put = |e: &[u8]| {
        let head = e[W - 1] << 1 | e[W - 2] >> 7;
        let (pl, at, len) = match head {
            0 => (&mut *pb, &mut ib, nb),
            _ => (&mut *pa, &mut ia, na),
        };
        pl[*at] = e[W - 2] & 0x7F | e[W - 1] & 0x80;
        for j in 0..W - 2 {
            pl[(W - 2 - j) * len + *at] = e[j];
        }
        *at += 1;
    };
    match masks {
        None => bytes.chunks_exact(W).for_each(put),
        Some(_) => super::for_each_kept(bytes.len() / W, masks, |i| put(&bytes[i * W..i * W + W])),
    }
    (a, b)
}
