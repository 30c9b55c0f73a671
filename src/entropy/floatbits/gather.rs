//! Every element's head, or one byte of every element's rest, appended to a buffer in one
//! pass with no per-element choice (the loops vectorise; compiled for AVX2 where the CPU has
//! it, as `split_all`): the streams `streamed.rs` codes one at a time from the input.

use super::lane_plane;

/// Appends the head of every element of `bytes` (elements of `w` bytes) to `out`, whose
/// room it reserves exactly.
pub(super) fn heads(bytes: &[u8], w: usize, out: &mut Vec<u8>) {
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
    }
}

fn append<const W: usize>(bytes: &[u8], j: Option<usize>, out: &mut Vec<u8>) {
    let n = bytes.len() / W;
    out.reserve_exact(n);
    let dst = &mut out.spare_capacity_mut()[..n];
    #[cfg(target_arch = "x86_64")]
    if lane_plane::have_avx2() {
        // SAFETY: the CPU has AVX2.
        unsafe { body_avx2::<W>(bytes, j, dst) };
        // SAFETY: the body wrote the n bytes past the end.
        unsafe { out.set_len(out.len() + n) };
        return;
    }
    body::<W>(bytes, j, dst);
    // SAFETY: the body wrote the n bytes past the end.
    unsafe { out.set_len(out.len() + n) };
}

/// # Safety
/// AVX2 must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn body_avx2<const W: usize>(
    bytes: &[u8],
    j: Option<usize>,
    dst: &mut [std::mem::MaybeUninit<u8>],
) {
    body::<W>(bytes, j, dst)
}

/// Writes every `dst[k]`: element k's head (`j` = None) or rest byte j. The head is the 8
/// bits below the sign (the top byte's low 7 and the next byte's top bit); a lower rest byte
/// is the element's own byte j (the head starts at bit 8·W − 9), and the top one (j = W − 2)
/// holds the sign above its 7 bits below the head.
#[inline(always)]
fn body<const W: usize>(bytes: &[u8], j: Option<usize>, dst: &mut [std::mem::MaybeUninit<u8>]) {
    let els = bytes.chunks_exact(W).zip(dst.iter_mut());
    match j {
        None => els.for_each(|(e, d)| {
            d.write(e[W - 1] << 1 | e[W - 2] >> 7);
        }),
        Some(j) if j == W - 2 => els.for_each(|(e, d)| {
            d.write(e[W - 2] & 0x7F | e[W - 1] & 0x80);
        }),
        Some(j) => els.for_each(|(e, d)| {
            d.write(e[j]);
        }),
    }
}

/// The rest planes of the kept elements (`masks`) in one pass, each in a buffer of its
/// exact size: byte j of the rests of the `na` elements whose head ≠ 0 (j = 0 … w − 2), then
/// the same for the `nb` whose head = 0.
pub(super) fn rest_planes(
    bytes: &[u8],
    w: usize,
    masks: &super::Masks,
    na: usize,
    nb: usize,
) -> Vec<Vec<u8>> {
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
) -> Vec<Vec<u8>> {
    let mut a: Vec<Vec<u8>> = (0..W - 1).map(|_| vec![0u8; na]).collect();
    let mut b: Vec<Vec<u8>> = (0..W - 1).map(|_| vec![0u8; nb]).collect();
    let (mut ia, mut ib) = (0usize, 0usize);
    let mut put = |e: &[u8]| {
        let head = e[W - 1] << 1 | e[W - 2] >> 7;
        let (planes, at) = match head {
            0 => (&mut b, &mut ib),
            _ => (&mut a, &mut ia),
        };
        for (j, p) in planes.iter_mut().enumerate().take(W - 2) {
            p[*at] = e[j];
        }
        planes[W - 2][*at] = e[W - 2] & 0x7F | e[W - 1] & 0x80;
        *at += 1;
    };
    match masks {
        None => bytes.chunks_exact(W).for_each(put),
        Some(_) => super::for_each_kept(bytes.len() / W, masks, |i| put(&bytes[i * W..i * W + W])),
    }
    a.append(&mut b);
    a
}
