//! The float-layout split: floating-point elements of `w` bytes (2, 4 or 8; little-endian) as
//! separate streams, each coded where it pays.
//!
//! Every element `u` (8w bits) is cut into its **head**, the 8 bits below the sign (the exponent
//! of float32 and bfloat16; the exponent and the top three mantissa bits of float16; the top
//! eight exponent bits of float64), and its **rest**, the sign followed by the bits below the
//! head (`8w − 8` bits, `w − 1` bytes). The heads are skewed and correlated with their
//! neighbours: coded with their predecessor as context (`context.rs`) or order-0, whichever is
//! smaller. The rests of elements whose head is zero (zeros, and the subnormals of float32 /
//! bfloat16) are nearly always zero: they go to their own byte planes, so zeros cost next to
//! nothing and the other rests stay uniform. Each rest byte plane is an order-0 plane
//! (`entropy/order0.rs`): stored as it is when close to uniform (rANS would save under 0.5 %),
//! constant when constant, rANS-coded otherwise. A matrix (rows × columns, the rows being the first axis) may first flag its
//! all-zero rows and columns (dead units of a gradient, zero-padded rows): their elements are
//! +0.0 and appear in no stream.
//!
//! # Layout
//! ```text
//! u8 masks: 0 = none; 1 = u32 rows R (R ≥ 2, R divides n, C = n / R ≥ 2), then ⌈R/8⌉ bytes
//!    flagging the all-zero rows and ⌈C/8⌉ bytes the all-zero columns (bit i%8 of byte i/8;
//!    unused high bits 0); a flagged element is 0 (all bits), the others are "kept"
//! the head stream of the m kept elements (context.rs layout)
//! w−1 order-0 planes: byte j (j = 0 lowest) of the rests of the kept elements whose head ≠ 0
//! w−1 order-0 planes: byte j of the rests of the kept elements whose head = 0
//! ```
//! The element counts of each plane follow from the masks and the decoded heads. `laned.rs`
//! holds the same split with every stream on 16 independent rANS lanes (lossless method 4).

pub(crate) mod compact;
pub(crate) mod context;
mod context_screen;
mod gather;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod gather_avx512;
mod hot_histogram;
mod lane_plane;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod lane_plane_avx512;
pub(crate) mod laned;
pub(crate) mod predict2d;
mod streamed;
mod uniform_screen;

use crate::entropy::order0::{self, PLANE_STORED};
use crate::entropy::rans::M;
use crate::error::{Error, Result};

/// Bit position of the head's lowest bit in an element of `w` bytes.
fn head_shift(w: usize) -> u32 {
    8 * w as u32 - 9
}

/// The all-zero rows and columns of `bytes` seen as `rows` rows (`None` when there are none,
/// or the shape is not a matrix).
fn zero_masks(bytes: &[u8], w: usize, rows: usize) -> Option<(Vec<bool>, Vec<bool>)> {
    let n = bytes.len() / w;
    if rows < 2 || n % rows != 0 || n / rows < 2 || rows > u32::MAX as usize {
        return None;
    }
    let cols = n / rows;
    let zr: Vec<bool> = bytes
        .chunks_exact(w * cols)
        .map(|row| row.iter().all(|&b| b == 0))
        .collect();
    // A column is zero when the OR of its bytes over all rows is (byte-wise: one vectorised
    // pass whatever the width). Once every column has a non-zero byte none can be zero, and
    // the pass stops (weights: after the first rows; the test every 8 rows costs at most an
    // eighth of the pass, and stops at the first zero column).
    let mut acc = vec![0u8; w * cols];
    for (i, row) in bytes.chunks_exact(w * cols).enumerate() {
        for (a, &b) in acc.iter_mut().zip(row) {
            *a |= b;
        }
        if i % 8 == 7 && acc.chunks_exact(w).all(|e| e.iter().any(|&b| b != 0)) {
            break;
        }
    }
    let zc: Vec<bool> = acc
        .chunks_exact(w)
        .map(|e| e.iter().all(|&b| b == 0))
        .collect();
    (zr.iter().any(|&z| z) || zc.iter().any(|&z| z)).then_some((zr, zc))
}

fn push_bits(flags: &[bool], out: &mut Vec<u8>) {
    for ch in flags.chunks(8) {
        out.push(ch.iter().enumerate().map(|(i, &f)| (f as u8) << i).sum());
    }
}

/// Calls `f(index)` for the index of every kept element, in order.
fn for_each_kept(n: usize, masks: &Masks, mut f: impl FnMut(usize)) {
    match masks {
        None => (0..n).for_each(f),
        Some((zr, zc)) => {
            let cols = zc.len();
            for (r, _) in zr.iter().enumerate().filter(|(_, &z)| !z) {
                for (c, _) in zc.iter().enumerate().filter(|(_, &z)| !z) {
                    f(r * cols + c);
                }
            }
        }
    }
}

/// Appends the split coding of `bytes` (elements of `w` ∈ {2, 4, 8} bytes; `rows`: the
/// length of the first axis, 1 for a vector) to `out`: the laned layout (`laned.rs`) when
/// `laned` is set and the heads' predecessor contexts do not pay (they need the serial
/// order-1 coder), else the layout above. Returns whether it wrote the laned layout.
pub(crate) fn encode(bytes: &[u8], w: usize, rows: usize, laned: bool, out: &mut Vec<u8>) -> bool {
    encode_as(bytes, w, rows, laned, None, out) == Layout::Laned
}

/// The layout [`encode_as`] wrote.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Layout {
    /// The layout above (lossless method 3).
    Split,
    /// The laned layout (`laned.rs`, method 4).
    Laned,
    /// The predicted split (method 6): `u8` flags (`predict2d::SIGNS | HEADS`, not 0), `u32`
    /// rows R (R ≥ 2, C = n / R ≥ 2), then the layout above of the transformed elements, its
    /// masks (if any) of R rows (`predict2d.rs`).
    Predicted,
}

/// [`encode`], and with `predict` = `Some(bits)` the predicted split where the 2-D
/// predictions of a matrix of at least 2 × 2 kept elements save more than `bits` (by
/// estimate; `predict2d.rs`). `Some(f64::NEG_INFINITY)` forces both predictions on any such
/// matrix (tests, fuzz seeds).
pub(crate) fn encode_as(
    bytes: &[u8],
    w: usize,
    rows: usize,
    laned: bool,
    predict: Option<f64>,
    out: &mut Vec<u8>,
) -> Layout {
    debug_assert!(matches!(w, 2 | 4 | 8) && bytes.len() % w == 0);
    let masks = zero_masks(bytes, w, rows);
    let kept = predict.and_then(|_| predict2d::Kept::new(bytes.len() / w, rows, &masks));
    let min_saving = predict.unwrap_or(f64::INFINITY);
    // 2-byte elements keep the whole split (screening the predictions on its top rest plane):
    // streamed, their encode took 6–31 % more instructions (a pass over the input per stream
    // instead of one), for a saving the call's peak does not show (a 16-bit input is held as
    // float32 beside it, twice its size).
    if !laned || w == 2 {
        return encode_whole(bytes, w, rows, laned, masks, kept, min_saving, laned, out);
    }
    // On a tensor that may be laned, the predictions must first pay on a sample of its first
    // rows: their full evaluation costs about a tenth of the encode of a large weight matrix,
    // where they never pay. Without them the streams are coded one at a time from the input
    // (`streamed.rs`: the compress call's peak memory).
    let (heads, nb) = streamed::kept_heads(bytes, w, &masks, self::kept(bytes.len() / w, &masks));
    let kept = kept.filter(|k| {
        let top = streamed::top_of_first(bytes, w, &masks, &heads, predict2d::sample_len(k));
        predict2d::sample_pays(bytes, w, k, &heads, &top, min_saving)
    });
    if kept.is_some() {
        drop(heads);
        return encode_whole(bytes, w, rows, true, masks, kept, min_saving, false, out);
    }
    let coded = context_screen::histogram_and_contexts(&heads);
    let heads = (heads, nb);
    push_masks(&masks, out);
    if coded.1.is_none() {
        streamed::encode_laned(bytes, w, &masks, heads, &coded.0, out);
        return Layout::Laned;
    }
    streamed::encode_split(bytes, w, &masks, heads, coded, out);
    Layout::Split
}

fn push_masks(masks: &Masks, out: &mut Vec<u8>) {
    match masks {
        None => out.push(0),
        Some((zr, zc)) => {
            out.push(1);
            out.extend_from_slice(&(zr.len() as u32).to_le_bytes());
            push_bits(zr, out);
            push_bits(zc, out);
        }
    }
}

/// [`encode_as`] from the whole split held at once (`kept`: the predictions' matrix, if they
/// are evaluated; with `screen`, only if they first pay on a sample of the first rows).
#[allow(clippy::too_many_arguments)]
fn encode_whole(
    bytes: &[u8],
    w: usize,
    rows: usize,
    laned: bool,
    masks: Masks,
    kept: Option<predict2d::Kept>,
    min_saving: f64,
    screen: bool,
    out: &mut Vec<u8>,
) -> Layout {
    let mut flags = 0u8;
    let (mut heads, mut a, b, m, na, nb) = match w {
        2 => split::<2>(bytes, &masks),
        4 => split::<4>(bytes, &masks),
        _ => split::<8>(bytes, &masks),
    };
    let kept = kept.filter(|k| {
        !screen || predict2d::sample_pays(bytes, w, k, &heads, &a[(w - 2) * m..][..na], min_saving)
    });
    // The top rest plane's histogram, when the sign decision needs it, serves its coding too
    // (unless the signs change it).
    let mut top_hist = None;
    if let (Some(k), true) = (&kept, na > 0) {
        let top = &mut a[(w - 2) * m..(w - 2) * m + na];
        let hist = order0::histogram(top);
        let p = match min_saving > f64::NEG_INFINITY && plane_stored(&hist, na) {
            true => Vec::new(),
            false => predict2d::predicted_signs(bytes, w, k),
        };
        if !p.is_empty() && predict2d::sign_saving(top, &heads, &p) > min_saving {
            flags |= predict2d::SIGNS;
            predict2d::predict_top_signs(top, &heads, &p);
        } else {
            top_hist = Some(hist);
        }
    }
    let mut coded = context_screen::histogram_and_contexts(&heads);
    if let Some(k) = &kept {
        let forced = min_saving == f64::NEG_INFINITY;
        let (saving, res, hc) = predict2d::head_saving(&heads, &coded, k.cols(), !forced);
        if saving > min_saving {
            flags |= predict2d::HEADS;
            heads = res;
            coded = hc;
        }
    }
    let layout = match () {
        _ if flags != 0 => Layout::Predicted,
        _ if laned && coded.1.is_none() => Layout::Laned,
        _ => Layout::Split,
    };
    if layout == Layout::Predicted {
        out.push(flags);
        out.extend_from_slice(&(rows as u32).to_le_bytes());
    }
    push_masks(&masks, out);
    let rests = Rests {
        a: &a,
        b: &b,
        m,
        na,
        nb,
    };
    let (hist, contexts) = coded;
    if layout == Layout::Laned {
        laned::encode(&heads, &hist, &rests, w, out);
        return layout;
    }
    match contexts {
        Some((owners, counts)) => context::encode_with(&heads, &owners, &counts, out),
        None => context::encode_with(&heads, &[], &[hist], out),
    }
    for zero in [false, true] {
        for j in 0..w - 1 {
            match (zero, top_hist) {
                (false, Some(h)) if j == w - 2 => plane_from(rests.plane(zero, j), Some(h), out),
                _ => plane(rests.plane(zero, j), out),
            }
        }
    }
    layout
}

/// The rest planes of a split: plane j of the elements whose head ≠ 0 is `a[j·m..j·m + na]`,
/// of those whose head = 0 `b[j·m..j·m + nb]`.
pub(crate) struct Rests<'a> {
    a: &'a [u8],
    b: &'a [u8],
    m: usize,
    na: usize,
    nb: usize,
}

impl Rests<'_> {
    /// Rest byte plane j of the elements whose head ≠ 0 (`zero`: whose head = 0).
    fn plane(&self, zero: bool, j: usize) -> &[u8] {
        let (buf, len) = if zero {
            (self.b, self.nb)
        } else {
            (self.a, self.na)
        };
        // A kind without elements may have no buffer.
        if len == 0 {
            return &[];
        }
        &buf[j * self.m..j * self.m + len]
    }
}

/// The element's head and rest (module doc).
#[inline(always)]
fn head_rest<const W: usize>(e: &[u8]) -> (u8, u64) {
    let sh = head_shift(W);
    let mut a = [0u8; 8];
    a[..W].copy_from_slice(e);
    let u = u64::from_le_bytes(a);
    let h = (u >> sh) as u8;
    (h, (u & ((1u64 << sh) - 1)) | ((u >> (8 * W - 1)) << sh))
}

/// The element of head `h` and rest `rest`, the inverse of [`head_rest`] (its low `8·W` bits).
#[inline(always)]
fn element_bits<const W: usize>(h: u8, rest: u64) -> u64 {
    let sh = head_shift(W);
    (rest & ((1u64 << sh) - 1)) | ((h as u64) << sh) | ((rest >> sh) << (8 * W - 1))
}

/// The heads of the kept elements, and their rests as W−1 byte planes each for head ≠ 0 and for
/// head = 0, in one pass. Plane j of either kind starts at `j·m` of its buffer (`m` kept
/// elements; a kind without elements may have an empty buffer); returns
/// `(heads, a, b, m, na, nb)`, the planes being `a[j·m..j·m + na]` and `b[j·m..j·m + nb]`.
type Split = (Vec<u8>, Vec<u8>, Vec<u8>, usize, usize, usize);

fn split<const W: usize>(bytes: &[u8], masks: &Masks) -> Split {
    let n = bytes.len() / W;
    let m = kept(n, masks);
    if masks.is_none() {
        // Written once, never zeroed first (a zeroed buffer the allocator recycles costs a
        // memset as long as the pass).
        let (heads, mut a, zero) = split_all::<W>(bytes);
        if !zero {
            return (heads, a, Vec::new(), m, m, 0);
        }
        if W == 2 {
            // Some zero heads among 2-byte elements (float16 underflow): the pass above left
            // every element's rest byte at its own index; move the runs between zero heads
            // down to their place in `a` (in place: a run never moves up), and the rests of
            // the zero heads to `b`.
            let mut b = Vec::new();
            let (mut ia, mut from) = (0usize, 0usize);
            for_each_zero(&heads, |k| {
                a.copy_within(from..k, ia);
                ia += k - from;
                b.push(a[k]);
                from = k + 1;
            });
            a.copy_within(from..m, ia);
            ia += m - from;
            let nb = b.len();
            return (heads, a, b, m, ia, nb);
        }
    }
    let mut heads = vec![0u8; m];
    let mut a = vec![0u8; (W - 1) * m];
    let mut b = vec![0u8; (W - 1) * m];
    let (pa, pb) = (&mut a[..], &mut b[..]);
    let (mut ia, mut ib, mut k) = (0usize, 0usize, 0usize);
    let mut element = |e: &[u8], k: usize| {
        let (h, rest) = head_rest::<W>(e);
        heads[k] = h;
        let (pl, idx) = if h != 0 {
            (&mut *pa, &mut ia)
        } else {
            (&mut *pb, &mut ib)
        };
        for j in 0..W - 1 {
            pl[j * m + *idx] = (rest >> (8 * j)) as u8;
        }
        *idx += 1;
    };
    match masks {
        None => {
            for (k, e) in bytes.chunks_exact(W).enumerate() {
                element(e, k);
            }
        }
        Some(_) => for_each_kept(n, masks, |i| {
            element(&bytes[i * W..i * W + W], k);
            k += 1;
        }),
    }
    (heads, a, b, m, ia, ib)
}

/// Calls `f(k)` for the index of every zero byte of `h`, in order (a test per 64 bytes where
/// zeros are rare, that vectorises).
fn for_each_zero(h: &[u8], mut f: impl FnMut(usize)) {
    for (c, chunk) in h.chunks(64).enumerate() {
        if chunk.iter().fold(false, |z, &x| z | (x == 0)) {
            for (i, _) in chunk.iter().enumerate().filter(|(_, &x)| x == 0) {
                f(64 * c + i);
            }
        }
    }
}

/// Every element's head, and its rest in the planes of one buffer at its own index (plane j at
/// `j·m`, `m` elements), with no per-element choice (2- and 4-byte elements by zipped
/// iterators, which vectorise); and whether some head is 0.
fn split_all<const W: usize>(bytes: &[u8]) -> (Vec<u8>, Vec<u8>, bool) {
    #[cfg(target_arch = "x86_64")]
    if lane_plane::have_avx2() {
        // SAFETY: the CPU has AVX2.
        return unsafe { split_all_avx2::<W>(bytes) };
    }
    split_all_body::<W>(bytes)
}

/// [`split_all`] compiled for AVX2: its loops vectorise 32 bytes wide instead of 16 (the
/// same bytes).
///
/// # Safety
/// AVX2 must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn split_all_avx2<const W: usize>(bytes: &[u8]) -> (Vec<u8>, Vec<u8>, bool) {
    split_all_body::<W>(bytes)
}

#[inline(always)]
fn split_all_body<const W: usize>(bytes: &[u8]) -> (Vec<u8>, Vec<u8>, bool) {
    let m = bytes.len() / W;
    let mut heads = Vec::with_capacity(m);
    let mut a = Vec::with_capacity((W - 1) * m);
    let hs = &mut heads.spare_capacity_mut()[..m];
    let rs = &mut a.spare_capacity_mut()[..(W - 1) * m];
    let mut zero = false;
    match W {
        2 => {
            for ((e, h), r0) in bytes.chunks_exact(2).zip(hs.iter_mut()).zip(rs.iter_mut()) {
                let u = u16::from_le_bytes([e[0], e[1]]);
                let hd = (u >> 7) as u8;
                h.write(hd);
                zero |= hd == 0;
                r0.write((u & 0x7F) as u8 | (u >> 8) as u8 & 0x80);
            }
        }
        4 => {
            let (p0, rest) = rs.split_at_mut(m);
            let (p1, p2) = rest.split_at_mut(m);
            let planes = p0.iter_mut().zip(p1.iter_mut()).zip(p2.iter_mut());
            for ((e, h), ((r0, r1), r2)) in bytes.chunks_exact(4).zip(hs.iter_mut()).zip(planes) {
                let u = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
                let hd = (u >> 23) as u8;
                h.write(hd);
                zero |= hd == 0;
                r0.write(u as u8);
                r1.write((u >> 8) as u8);
                r2.write((u >> 16) as u8 & 0x7F | (u >> 24) as u8 & 0x80);
            }
        }
        _ => {
            for (k, (e, h)) in bytes.chunks_exact(W).zip(hs.iter_mut()).enumerate() {
                let (hd, rest) = head_rest::<W>(e);
                h.write(hd);
                zero |= hd == 0;
                for j in 0..W - 1 {
                    rs[j * m + k].write((rest >> (8 * j)) as u8);
                }
            }
        }
    }
    // SAFETY: the loops above wrote heads 0..m and, for every element k and plane j < W − 1,
    // rest byte j·m + k: every byte up to the new lengths.
    unsafe {
        heads.set_len(m);
        a.set_len((W - 1) * m);
    }
    (heads, a, zero)
}

/// One order-0 plane; a plane whose bytes are close to uniform is stored without trying rANS:
/// when rANS could not save its table's size, or would save under 0.5 % of the plane (the top
/// rest byte of weights: 0.4 %), as decoding a rANS byte costs about 20 instructions and a
/// stored one a copy (integer test, the same on every platform).
fn plane(data: &[u8], out: &mut Vec<u8>) {
    // The histogram of the test, once: the coder's too.
    plane_from(data, plane_histogram(data), out);
}

/// [`plane`] of `data` given its histogram if known (`hist`; needed from 2^14 bytes, where
/// [`plane_histogram`] gives it).
fn plane_from(data: &[u8], hist: Option<[u64; 256]>, out: &mut Vec<u8>) {
    if data.len() >= 1 << 14 && hist.is_some_and(|h| uniform_by(&h, data.len())) {
        out.reserve_exact(1 + data.len());
        out.push(PLANE_STORED);
        out.extend_from_slice(data);
        return;
    }
    match hist {
        Some(h) => order0::encode_plane_from(&h, &mut { data }, out),
        None => order0::encode_plane(data, out),
    }
}

/// Whether [`plane`] would store `n` bytes of histogram `hist` as they are, by estimate.
fn plane_stored(hist: &[u64; 256], n: usize) -> bool {
    plane_bits_of(hist, n) >= 8.0 * n as f64
}

/// Estimated bits of [`plane`]'s coding of `n` bytes of histogram `hist`: stored when near
/// uniform, else the ideal order-0 code length and the table (`context::estimated_bits`), at
/// most stored.
pub(super) fn plane_bits_of(hist: &[u64; 256], n: usize) -> f64 {
    if n >= 1 << 14 && uniform_by(hist, n) {
        return 8.0 * n as f64;
    }
    context::estimated_bits(&(*hist, None)).min(8.0 * n as f64 + 8.0)
}

/// The byte histogram that decides whether a plane is near uniform ([`uniform_by`]): that of
/// planes of ≥ 2^14 bytes (smaller ones never are).
fn plane_histogram(data: &[u8]) -> Option<[u64; 256]> {
    (data.len() >= 1 << 14).then(|| order0::histogram(data))
}

/// Whether rANS would save under 0.5 % of a plane of `n` ≥ 2^14 bytes of histogram `h`, or
/// not its table ([`plane`]).
fn uniform_by(h: &[u64; 256], n: usize) -> bool {
    let n = n as u128;
    // Σ (256·c − n)² < 2^20·n  ⇔  chi² < 4096: the entropy deficit from 8 bits is then
    // below ≈ 4096 / (2 ln 2) bits ≈ 370 bytes, less than a table and the states.
    let s: u128 = h
        .iter()
        .map(|&c| {
            let d = (256 * c as i128 - n as i128).unsigned_abs();
            d * d
        })
        .sum();
    // And Σ (256·c − n)² = 256·n·chi², the saving ≈ chi² / (2 ln 2) bits: under 0.5 % of
    // the plane's 8n bits ⇔ chi² < 0.0555·n ⇔ Σ < 14.2·n².
    s < (n << 20).max(14 * n * n)
}

/// The zero-row and zero-column flags of a split, when it has them.
pub(crate) type Masks = Option<(Vec<bool>, Vec<bool>)>;

/// Reads the mask section of a split of `n` elements at `p[*pos..]` and advances `*pos`.
fn read_masks(p: &[u8], pos: &mut usize, n: usize) -> Result<Masks> {
    let flag = *p
        .get(*pos)
        .ok_or_else(|| Error::truncated("float-layout payload ends early"))?;
    *pos += 1;
    Ok(match flag {
        0 => None,
        1 => {
            let r = p
                .get(*pos..*pos + 4)
                .ok_or_else(|| Error::truncated("float-layout masks end early"))?;
            *pos += 4;
            let rows = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
            if rows < 2 || n % rows != 0 || n / rows < 2 {
                return Err(Error::corrupt(format!(
                    "float-layout masks of {rows} rows for {n} elements"
                )));
            }
            let zr = read_bits(p, pos, rows)?;
            let zc = read_bits(p, pos, n / rows)?;
            Some((zr, zc))
        }
        f => {
            return Err(Error::corrupt(format!(
                "unknown float-layout mask flag {f}"
            )))
        }
    })
}

/// Kept elements of `n` under `masks`.
fn kept(n: usize, masks: &Masks) -> usize {
    match masks {
        None => n,
        Some((zr, zc)) => zr.iter().filter(|&&z| !z).count() * zc.iter().filter(|&&z| !z).count(),
    }
}

fn read_bits(p: &[u8], pos: &mut usize, k: usize) -> Result<Vec<bool>> {
    let b = p
        .get(*pos..*pos + k.div_ceil(8))
        .ok_or_else(|| Error::truncated("float-layout masks end early"))?;
    *pos += k.div_ceil(8);
    if k % 8 != 0 && b[b.len() - 1] >> (k % 8) != 0 {
        return Err(Error::corrupt(
            "float-layout mask has bits set past its end",
        ));
    }
    Ok((0..k).map(|i| b[i / 8] >> (i % 8) & 1 != 0).collect())
}

/// Decodes a split payload starting at `p[*pos]` into `out` (`out.len()/w` elements of `w`
/// bytes) and advances `*pos`. Allocates at most about `out.len()` bytes besides fixed tables
/// (masks: one byte per row and column).
pub(crate) fn decode(p: &[u8], pos: &mut usize, w: usize, out: &mut [u8]) -> Result<()> {
    decode_split(p, pos, w, out, None)
}

/// Decodes a predicted split ([`Layout::Predicted`]) as [`decode`] does a split; besides, the
/// kept matrix takes at most 8 bytes per row and 24 per column.
pub(crate) fn decode_predicted(p: &[u8], pos: &mut usize, w: usize, out: &mut [u8]) -> Result<()> {
    let head = p
        .get(*pos..*pos + 5)
        .ok_or_else(|| Error::truncated("predicted float-layout header ends early"))?;
    let (flags, rows) = (
        head[0],
        u32::from_le_bytes([head[1], head[2], head[3], head[4]]),
    );
    if flags == 0 || flags & !predict2d::ALL != 0 {
        return Err(Error::corrupt(format!(
            "predicted float-layout flags {flags:#04x}"
        )));
    }
    *pos += 5;
    decode_split(p, pos, w, out, Some((flags, rows as usize)))
}

/// [`decode`], undoing the 2-D predictions of `predicted` = `(flags, rows)` if given.
fn decode_split(
    p: &[u8],
    pos: &mut usize,
    w: usize,
    out: &mut [u8],
    predicted: Option<(u8, usize)>,
) -> Result<()> {
    if !matches!(w, 2 | 4 | 8) || out.len() % w != 0 {
        return Err(Error::corrupt(format!(
            "float-layout payload for {} bytes of {w}-byte elements",
            out.len()
        )));
    }
    let n = out.len() / w;
    let masks = read_masks(p, pos, n)?;
    let matrix = match predicted {
        None => None,
        Some((flags, rows)) => Some((
            flags,
            predict2d::Kept::new(n, rows, &masks).ok_or_else(|| {
                Error::corrupt(format!(
                    "predicted float-layout of {rows} rows for {n} elements is not a matrix of \
                     at least 2 x 2 kept elements (or its masks have other rows)"
                ))
            })?,
        )),
    };
    let m = kept(n, &masks);
    let mut heads = vec![0u8; m];
    context::decode(p, pos, &mut heads)?;
    if let Some((flags, k)) = &matrix {
        if flags & predict2d::HEADS != 0 {
            predict2d::undo_head_residuals(&mut heads, k.cols());
        }
    }
    let zeros = heads.iter().filter(|&&h| h == 0).count();
    let (na, nb) = (m - zeros, zeros);
    // Rests, plane after plane: w−1 planes of na bytes, then w−1 of nb bytes. A stored plane is
    // read where it lies in the payload (no copy); the others are decoded into their own buffer.
    let r = w - 1;
    let mut lut: Box<[u32; M as usize]> = Box::new([0u32; M as usize]);
    let mut stored: Vec<Option<(usize, usize)>> = Vec::with_capacity(2 * r);
    let mut decoded: Vec<Vec<u8>> = Vec::with_capacity(2 * r);
    for j in 0..2 * r {
        let len = if j < r { na } else { nb };
        if p.get(*pos) == Some(&PLANE_STORED) {
            let at = *pos + 1;
            if p.len() - at < len {
                return Err(Error::truncated("stored float-layout plane ends early"));
            }
            stored.push(Some((at, len)));
            *pos = at + len;
        } else {
            let mut buf = vec![0u8; len];
            order0::decode_plane_at(p, pos, &mut buf, &mut lut)?;
            stored.push(None);
            decoded.push(buf);
        }
    }
    let mut own = decoded.iter();
    let planes: Vec<&[u8]> = stored
        .iter()
        .map(|s| match *s {
            Some((at, len)) => &p[at..at + len],
            None => own.next().map_or(&[][..], |b| &b[..]),
        })
        .collect();
    let (ra, rb) = planes.split_at(r);
    if masks.is_some() {
        out.fill(0);
    }
    match w {
        2 => merge::<2>(&heads, ra, rb, &masks, out),
        4 => merge::<4>(&heads, ra, rb, &masks, out),
        _ => merge::<8>(&heads, ra, rb, &masks, out),
    }
    if let Some((flags, k)) = &matrix {
        if flags & predict2d::SIGNS != 0 {
            predict2d::undo_signs(out, w, k, &heads);
        }
    }
    Ok(())
}

/// Writes the kept elements of `out` from their heads and rests (`ra`: the W−1 rest planes of
/// the elements whose head ≠ 0, `rb`: of those whose head = 0).
fn merge<const W: usize>(heads: &[u8], ra: &[&[u8]], rb: &[&[u8]], masks: &Masks, out: &mut [u8]) {
    let nb = rb[0].len();
    if masks.is_none() && nb == 0 {
        // No masks and no zero heads (most weights): element i takes byte i of every plane;
        // 2- and 4-byte elements by zipped iterators (no bounds check per byte).
        let put = |o: &mut [u8], h: u8, rest: u64| {
            let u = element_bits::<W>(h, rest);
            o.copy_from_slice(&u.to_le_bytes()[..W]);
        };
        let els = out.chunks_exact_mut(W);
        if W == 2 {
            for ((&h, &b0), o) in heads.iter().zip(ra[0]).zip(els) {
                put(o, h, b0 as u64);
            }
            return;
        }
        if W == 4 {
            let rest = ra[0].iter().zip(ra[1]).zip(ra[2]);
            for ((&h, ((&b0, &b1), &b2)), o) in heads.iter().zip(rest).zip(els) {
                put(o, h, b0 as u64 | (b1 as u64) << 8 | (b2 as u64) << 16);
            }
            return;
        }
        for (i, (&h, o)) in heads.iter().zip(out.chunks_exact_mut(W)).enumerate() {
            let mut rest = 0u64;
            for (j, p) in ra[..W - 1].iter().enumerate() {
                rest |= (p[i] as u64) << (8 * j);
            }
            let u = element_bits::<W>(h, rest);
            o.copy_from_slice(&u.to_le_bytes()[..W]);
        }
        return;
    }
    let mut pa: [&[u8]; 7] = [&[]; 7];
    let mut pb: [&[u8]; 7] = [&[]; 7];
    pa[..W - 1].copy_from_slice(&ra[..W - 1]);
    pb[..W - 1].copy_from_slice(&rb[..W - 1]);
    let (mut ia, mut ib) = (0usize, 0usize);
    let mut element = |h: u8, o: &mut [u8]| {
        let (pl, idx) = if h != 0 {
            (&pa, &mut ia)
        } else {
            (&pb, &mut ib)
        };
        let mut rest = 0u64;
        for (j, plane) in pl[..W - 1].iter().enumerate() {
            rest |= (plane[*idx] as u64) << (8 * j);
        }
        *idx += 1;
        let u = element_bits::<W>(h, rest);
        o.copy_from_slice(&u.to_le_bytes()[..W]);
    };
    if W == 2 {
        // One rest byte (bfloat16 / float16 with masks or some zero heads).
        let (a, b) = (ra[0], rb[0]);
        let (mut ia, mut ib) = (0usize, 0usize);
        // No branch on the head: zero heads come irregularly (float16 gradients' underflow,
        // image borders), and a mispredicted branch cost more than both loads and a select.
        // The counts of both kinds were checked; past its end a kind reads 0, unused.
        let mut one = |h: u8, o: &mut [u8]| {
            let (ra, rb) = (*a.get(ia).unwrap_or(&0), *b.get(ib).unwrap_or(&0));
            let rest = if h != 0 { ra } else { rb };
            ia += (h != 0) as usize;
            ib += (h == 0) as usize;
            let u = (rest as u16 & 0x7F) | (h as u16) << 7 | ((rest >> 7) as u16) << 15;
            o.copy_from_slice(&u.to_le_bytes());
        };
        match masks {
            None => heads
                .iter()
                .zip(out.chunks_exact_mut(2))
                .for_each(|(&h, o)| one(h, o)),
            Some((zr, zc)) => for_each_kept_row(heads, out, 2, zr, zc, one),
        }
        return;
    }
    match masks {
        None => {
            for (&h, o) in heads.iter().zip(out.chunks_exact_mut(W)) {
                element(h, o);
            }
        }
        Some((zr, zc)) => for_each_kept_row(heads, out, W, zr, zc, element),
    }
}

/// Calls `f(head, element)` for every kept element of `out` (elements of `w` bytes, rows of
/// `zc.len()`, under the zero-row flags `zr` and zero-column flags `zc`) and its head (`heads`,
/// in order): the kept columns listed once, then row by row.
fn for_each_kept_row(
    heads: &[u8],
    out: &mut [u8],
    w: usize,
    zr: &[bool],
    zc: &[bool],
    mut f: impl FnMut(u8, &mut [u8]),
) {
    let cols: Vec<usize> = (0..zc.len()).filter(|&c| !zc[c]).map(|c| c * w).collect();
    let mut rows_heads = heads.chunks_exact(cols.len().max(1));
    let kept_rows = out
        .chunks_exact_mut(zc.len() * w)
        .zip(zr)
        .filter(|(_, &z)| !z);
    for (row, _) in kept_rows {
        let Some(hs) = rows_heads.next() else { return };
        for (&at, &h) in cols.iter().zip(hs) {
            f(h, &mut row[at..at + w]);
        }
    }
}
