//! The relative-L2 step search's full passes with the quantizer in them: each pass that
//! measures the error of a step also writes that step's codes, so when the search ends on the
//! step of its last pass (32 of the 33 tensors of ≥ 16 Ki values in `shared/data` at 1e-2),
//! the quantizer's own read of every value (a row's extremes, then its offsets) is not made.
//!
//! Same sum, same codes:
//! - The error is `encoder::uniform_error_sq`'s to the bit: fixed blocks of [`SUM_BLOCK`]
//!   values, in each the value at offset `i` added to partial sum `i mod 4` in order
//!   (`quant::error_sq_block`), the four reduced as `(a₀ + a₁) + (a₂ + a₃)`, the blocks added
//!   in order. A row's piece in a block continues its block's four sums where the previous
//!   piece left them, so rows need not align with blocks.
//! - The codes are `quant_direct`'s: a row's smallest code `lo` from its extremes (read first,
//!   the row then in cache), `u = round_away(x/Δ) − lo`. The per-value error shares that
//!   rounding (`quant::error_sq_one` and `quant_direct`'s offsets compute the same `q`).
//!
//! Only rows of at most `LONG_ROW` values (the encoder's), the extremes of a longer one being
//! a second read of the data; the quantizer handles the others as before.

use std::mem::MaybeUninit;

use super::prescan::SUM_BLOCK;
use super::quant::{self, round_away_f64, Code, TWO52};
use super::quant_direct;

/// The length of the rows the passes write codes for, for `len` values of shape `shape`: the
/// quantizer's rows (`channel_count`) when at most `long_row` values (the quantizer reads
/// longer ones in pieces), else 0 (no codes written: the plain error pass).
pub(crate) fn row_len(len: usize, shape: &[usize], long_row: usize) -> usize {
    match len.checked_div(crate::util::shape::channel_count(shape)) {
        Some(per) if per <= long_row && per * crate::util::shape::channel_count(shape) == len => per,
        _ => 0,
    }
}

/// A row's smallest and largest code `(lo, hi)`.
pub(crate) type RowRange = (f64, f64);

/// The code of `x` less `lo` (low 32 bits) and its squared error, as
/// `quant_direct::offsets` and `quant::error_sq_one` compute them.
#[inline(always)]
pub(super) fn code_error(x: f32, inv: f64, step: f64, lo: f64) -> (u32, f64) {
    let q = round_away_f64(x as f64 * inv);
    let d = x as f64 - ((q * step) as f32) as f64;
    (((q - lo) + TWO52).to_bits() as u32, d * d)
}

/// Codes of `xs` with step `1/inv` and smallest code `lo` into `us`, squared errors added to
/// `acc`: value `k` to lane `(phase + k) mod 4` (`phase`: the offset of `xs[0]` in its block
/// of the error sum), each lane's additions in the order of the values.
fn codes_errors<C: Code>(
    xs: &[f32],
    (inv, step, lo): (f64, f64, f64),
    us: &mut [MaybeUninit<C>],
    acc: &mut [f64; 4],
    phase: usize,
) {
    assert_eq!(xs.len(), us.len());
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if super::quant_avx512::available() {
        use super::quant_avx512::codes_errors as wide;
        let out = us.as_mut_ptr() as *mut u8;
        let k = (inv, step, lo);
        // SAFETY: the CPU supports AVX-512F; `out` holds `xs.len()` codes of
        // size_of::<C>() bytes (`Code` is u16 or u32).
        match std::mem::size_of::<C>() {
            2 => return unsafe { wide::<2>(xs, k, out, acc, phase) },
            4 => return unsafe { wide::<4>(xs, k, out, acc, phase) },
            _ => {}
        }
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<C: Code>(
            xs: &[f32],
            k: (f64, f64, f64),
            us: &mut [MaybeUninit<C>],
            acc: &mut [f64; 4],
            phase: usize,
        ) {
            codes_errors_generic(xs, k, us, acc, phase)
        }
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { avx2(xs, (inv, step, lo), us, acc, phase) };
    }
    codes_errors_generic(xs, (inv, step, lo), us, acc, phase)
}

/// See [`codes_errors`]: the values before the first on lane 0, then groups of four (the
/// loop vectorises), then the rest.
#[inline(always)]
fn codes_errors_generic<C: Code>(
    xs: &[f32],
    (inv, step, lo): (f64, f64, f64),
    us: &mut [MaybeUninit<C>],
    acc: &mut [f64; 4],
    phase: usize,
) {
    let head = ((4 - phase % 4) % 4).min(xs.len());
    let (xh, xb) = xs.split_at(head);
    let (uh, ub) = us.split_at_mut(head);
    for (k, (&x, u)) in xh.iter().zip(uh).enumerate() {
        let (c, e) = code_error(x, inv, step, lo);
        u.write(C::wrap(c));
        acc[(phase + k) % 4] += e;
    }
    let mut xc = xb.chunks_exact(4);
    let mut uc = ub.chunks_exact_mut(4);
    for (x, u) in (&mut xc).zip(&mut uc) {
        for k in 0..4 {
            let (c, e) = code_error(x[k], inv, step, lo);
            u[k].write(C::wrap(c));
            acc[k] += e;
        }
    }
    for (k, (&x, u)) in xc.remainder().iter().zip(uc.into_remainder()).enumerate() {
        let (c, e) = code_error(x, inv, step, lo);
        u.write(C::wrap(c));
        acc[k] += e;
    }
}

/// [`codes_errors`] of two pieces of equal length at the same offset of two blocks, side by
/// side where the CPU has AVX-512 (two independent chains of additions), each piece's codes
/// and sums those of [`codes_errors`] on it alone.
fn codes_errors_pair<C: Code>(
    (a, b): (&[f32], &[f32]),
    (inv, step): (f64, f64),
    lo: (f64, f64),
    (ua, ub): (&mut [MaybeUninit<C>], &mut [MaybeUninit<C>]),
    acc: (&mut [f64; 4], &mut [f64; 4]),
    phase: usize,
) {
    assert!(a.len() == b.len() && a.len() == ua.len() && b.len() == ub.len());
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if super::quant_avx512::available() {
        use super::quant_avx512::codes_errors_pair as wide;
        let out = (ua.as_mut_ptr() as *mut u8, ub.as_mut_ptr() as *mut u8);
        let k = (inv, step);
        // SAFETY: the CPU supports AVX-512F; the pieces are as long as each other and as
        // their outputs, which hold codes of size_of::<C>() bytes (`Code`: u16 or u32).
        match std::mem::size_of::<C>() {
            2 => return unsafe { wide::<2>((a, b), k, lo, out, acc, phase) },
            4 => return unsafe { wide::<4>((a, b), k, lo, out, acc, phase) },
            _ => {}
        }
    }
    codes_errors(a, (inv, step, lo.0), ua, acc.0, phase);
    codes_errors(b, (inv, step, lo.1), ub, acc.1, phase);
}

/// A block of the error sum walked row by row: the row under the walk, its smallest code,
/// the code ranges of the rows that start in the block, and whether every row met fits.
struct Walk<'a> {
    data: &'a [f32],
    holes: &'a [(u64, f32)],
    per: usize,
    /// Every row's extremes, or empty (read from the row).
    ext: &'a [(f32, f32)],
    inv: f64,
    /// The block's first value and its length.
    start: usize,
    len: usize,
    /// The first value of the row under the walk, and whether the row is in `scratch` (a
    /// copy with zeros in its holes) rather than read in place.
    row: usize,
    copied: bool,
    scratch: Vec<f32>,
    lo: f64,
    rows: Vec<RowRange>,
    fits: bool,
}

impl<'a> Walk<'a> {
    fn new(
        (data, holes): (&'a [f32], &'a [(u64, f32)]),
        (per, ext): (usize, &'a [(f32, f32)]),
        inv: f64,
        (start, len): (usize, usize),
    ) -> Self {
        Walk {
            data,
            holes,
            per,
            ext,
            inv,
            start,
            len,
            row: usize::MAX,
            copied: false,
            scratch: Vec::new(),
            lo: 0.0,
            rows: Vec::with_capacity(len / per + 1),
            fits: true,
        }
    }

    /// Moves to the row holding block offset `j` (< `len`); the block offset where the
    /// piece of that row in the block ends.
    fn at(&mut self, j: usize) -> usize {
        let pos = self.start + j;
        let r0 = pos - pos % self.per;
        if r0 != self.row {
            self.enter(r0);
        }
        (r0 + self.per - self.start).min(self.len)
    }

    fn enter(&mut self, r0: usize) {
        self.row = r0;
        let range = r0..r0 + self.per;
        let xs = super::holes::piece(self.data, range, self.holes, &mut self.scratch);
        self.copied = !std::ptr::eq(xs.as_ptr(), self.data[r0..].as_ptr());
        let e = match self.ext.get(r0 / self.per) {
            Some(&e) => Some(e),
            None => quant_direct::extremes(xs),
        };
        let (lo, hi) = match e {
            Some(ext) => {
                let (lo, hi, big) = quant_direct::code_range(ext, self.inv);
                // The quantizer's refusals (the caller's range check makes `big` pass; the
                // span is checked against the code type by `finish`).
                self.fits &= !(big.is_nan() || big >= 9.0e15);
                (lo, hi)
            }
            // Holes are zeros and rows not empty: not reached. The error stays right.
            None => {
                self.fits = false;
                (0.0, 0.0)
            }
        };
        self.lo = lo;
        if r0 >= self.start {
            self.rows.push((lo, hi));
        }
    }

    /// The values at block offsets `j..to` (within the row under the walk).
    fn values(&self, j: usize, to: usize) -> &[f32] {
        let (a, b) = (self.start + j - self.row, self.start + to - self.row);
        match self.copied {
            true => &self.scratch[a..b],
            false => &self.data[self.row + a..self.row + b],
        }
    }

    /// The block's sum from its four partial sums `a`, its rows' code ranges, and whether
    /// they all fit `max` levels.
    fn finish(self, a: [f64; 4], max: f64) -> (f64, Vec<RowRange>, bool) {
        let fits = self.fits && self.rows.iter().all(|&(lo, hi)| hi - lo <= max);
        ((a[0] + a[1]) + (a[2] + a[3]), self.rows, fits)
    }
}

/// The blocks `2k` and `2k + 1` of the error sum (`us`: their codes, from value `start`),
/// side by side: each block's sum, the ranges of the rows that start in them (in order),
/// and whether every row they touch fits `C`.
fn pair<C: Code>(
    src: (&[f32], &[(u64, f32)]),
    rows: (usize, &[(f32, f32)]),
    start: usize,
    us: &mut [MaybeUninit<C>],
    (inv, step): (f64, f64),
) -> ([f64; 2], Vec<RowRange>, bool) {
    let split = us.len().min(SUM_BLOCK);
    let (ua, ub) = us.split_at_mut(split);
    let mut a = Walk::new(src, rows, inv, (start, ua.len()));
    let mut b = Walk::new(src, rows, inv, (start + split, ub.len()));
    let k = (inv, step);
    let (mut sa, mut sb) = ([0.0f64; 4], [0.0f64; 4]);
    let mut j = 0;
    // Both blocks while the second lasts, in pieces that stay within a row of each.
    while j < b.len {
        let to = a.at(j).min(b.at(j));
        let (xa, xb) = (a.values(j, to), b.values(j, to));
        let codes = (&mut ua[j..to], &mut ub[j..to]);
        codes_errors_pair((xa, xb), k, (a.lo, b.lo), codes, (&mut sa, &mut sb), j);
        j = to;
    }
    while j < a.len {
        let to = a.at(j);
        let xa = a.values(j, to);
        codes_errors(xa, (inv, step, a.lo), &mut ua[j..to], &mut sa, j);
        j = to;
    }
    let max = C::MAX as f64;
    let (sa, mut rows, fa) = a.finish(sa, max);
    let (sb, rb, fb) = b.finish(sb, max);
    rows.extend(rb);
    ([sa, sb], rows, fa && fb)
}

/// The search's full passes over a tensor of rows of `per` values, and the codes of the last.
pub(crate) struct Fused<C> {
    /// Room for the codes (length 0: the last pass wrote all `len` of them into its spare
    /// capacity, kept only when [`Fused::take`] hands them out).
    codes: Vec<C>,
    len: usize,
    per: usize,
    /// Every row's extremes (as `quant_direct::extremes`), or empty: read by each pass.
    ext: Vec<(f32, f32)>,
    /// The step of the last pass and its rows' code ranges, when every row fit `C`.
    last: Option<(f64, Vec<RowRange>)>,
}

impl<C: Code> Fused<C> {
    /// For `len` values in rows of `per` ([`row_len`]; `None` when 0) whose extremes are
    /// `ext` (`prescan::scan`'s, of the same values with the same holes) when it holds one
    /// pair a row.
    pub(crate) fn new(len: usize, per: usize, ext: Vec<(f32, f32)>) -> Option<Self> {
        let ext = match len.checked_div(per) {
            Some(rows) if rows == ext.len() => ext,
            _ => Vec::new(),
        };
        (per > 0).then(|| Fused {
            codes: Vec::new(),
            len,
            per,
            ext,
            last: None,
        })
    }

    /// `encoder::uniform_error_sq` (the same value, `None` alike), writing the step's codes.
    pub(crate) fn pass(
        &mut self,
        (data, holes): (&[f32], &[(u64, f32)]),
        step: f64,
        max_abs: f32,
        threads: usize,
    ) -> Option<f64> {
        debug_assert_eq!(data.len(), self.len);
        self.last = None;
        let inv = 1.0 / step;
        // The error pass's one range check (the largest |x| has the largest |code|).
        quant::uniform_code(max_abs, inv)?;
        self.codes.clear();
        self.codes.reserve_exact(self.len);
        let (per, ext) = (self.per, &self.ext[..]);
        let spare = &mut self.codes.spare_capacity_mut()[..self.len];
        // Two blocks a work item, as the error pass (`uniform_error_sq`).
        let parts = crate::util::par::map_chunks_mut(threads, spare, 2 * SUM_BLOCK, |k, us| {
            pair((data, holes), (per, ext), 2 * k * SUM_BLOCK, us, (inv, step))
        });
        let fits = parts.iter().all(|p| p.2);
        // Blocks added in order (an empty second block of the last pair is not one).
        let blocks = self.len.div_ceil(SUM_BLOCK);
        let sum = parts.iter().flat_map(|p| p.0).take(blocks).sum();
        if fits {
            self.last = Some((step, parts.into_iter().flat_map(|p| p.1).collect()));
        }
        Some(sum)
    }

    /// The codes and row ranges of the last pass if its step is `step` and every row fit `C`.
    pub(crate) fn take(mut self, step: f64) -> Option<(Vec<C>, Vec<RowRange>)> {
        let (s, rows) = self.last.take()?;
        if s.to_bits() != step.to_bits() {
            return None;
        }
        // SAFETY: the pass that set `last` wrote every one of the first `len` slots: its
        // blocks cover `0..len`, each block's rows' pieces cover the block, and
        // `codes_errors` writes every slot of its piece.
        unsafe { self.codes.set_len(self.len) };
        Some((self.codes, rows))
    }
}
