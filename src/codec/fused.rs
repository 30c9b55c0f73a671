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
        Some(per) if per <= long_row && per * crate::util::shape::channel_count(shape) == len => {
            per
        }
        _ => 0,
    }
}

/// Whether the search's passes should write codes on this CPU: with AVX-512 (two blocks side
/// by side, the rows crossed inside the kernel). The AVX2 path goes a row piece at a time and
/// cost +4.5 % instructions on `grad_step00500_fc1` (callgrind, session 21): it stays for
/// blocks with holes and for the tests, not for the search.
pub(crate) fn pays() -> bool {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if super::quant_avx512::available() {
        return true;
    }
    false
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
/// of the error sum), each lane's additions in the order of the values. With AVX2 where the
/// CPU has it (the same operations, wider).
fn codes_errors<C: Code>(
    xs: &[f32],
    k: (f64, f64, f64),
    us: &mut [MaybeUninit<C>],
    acc: &mut [f64; 4],
    phase: usize,
) {
    assert_eq!(xs.len(), us.len());
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
        return unsafe { avx2(xs, k, us, acc, phase) };
    }
    codes_errors_generic(xs, k, us, acc, phase)
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

/// A block of the error sum ready for its codes: its row pieces' smallest codes (the first
/// piece `first` values long, the others `per`), the code ranges of the rows that start in
/// it, and whether every row it touches passed the quantizer's checks.
struct Rows {
    los: Vec<f64>,
    first: usize,
    ranges: Vec<RowRange>,
    fits: bool,
}

/// [`Rows`] of the block of `len` values from `start` (rows of `per` values; `ext`: every
/// row's extremes, or empty to read them), for codes of at most `max`.
fn rows_of(
    (data, holes): (&[f32], &[(u64, f32)]),
    (per, ext): (usize, &[(f32, f32)]),
    (start, len): (usize, usize),
    inv: f64,
    max: f64,
) -> Rows {
    let first = (per - start % per).min(len);
    let pieces = if len > first {
        1 + (len - first).div_ceil(per)
    } else {
        1
    };
    let mut rows = Rows {
        los: Vec::with_capacity(pieces),
        first,
        ranges: Vec::with_capacity(pieces),
        fits: true,
    };
    let mut scratch = Vec::new();
    let mut r0 = start - start % per;
    while r0 < start + len {
        let e = match ext.get(r0 / per) {
            Some(&e) => Some(e),
            None => {
                let xs = super::holes::piece(data, r0..r0 + per, holes, &mut scratch);
                quant_direct::extremes(xs)
            }
        };
        let (lo, hi) = match e {
            Some(e) => {
                let (lo, hi, big) = quant_direct::code_range(e, inv);
                // The quantizer's refusals (the caller's range check makes `big` pass).
                rows.fits &= !(big.is_nan() || big >= 9.0e15 || hi - lo > max);
                (lo, hi)
            }
            // Holes are zeros and rows not empty: not reached. The error stays right.
            None => {
                rows.fits = false;
                (0.0, 0.0)
            }
        };
        rows.los.push(lo);
        if r0 >= start {
            rows.ranges.push((lo, hi));
        }
        r0 += per;
    }
    rows
}

/// The blocks `2k` and `2k + 1` of the error sum (`us`: their codes, from value `start`):
/// each block's sum, the ranges of the rows that start in them (in order), and whether
/// every row they touch fits `C`.
fn pair<C: Code>(
    src: (&[f32], &[(u64, f32)]),
    (per, ext): (usize, &[(f32, f32)]),
    start: usize,
    us: &mut [MaybeUninit<C>],
    k: (f64, f64),
) -> ([f64; 2], Vec<RowRange>, bool) {
    let split = us.len().min(SUM_BLOCK);
    let (ra, rb) = (start..start + split, start + split..start + us.len());
    let (ua, ub) = us.split_at_mut(split);
    let max = C::MAX as f64;
    let rows_a = rows_of(src, (per, ext), (ra.start, ra.len()), k.0, max);
    let rows_b = rows_of(src, (per, ext), (rb.start, rb.len()), k.0, max);
    let acc = block_pair(src, (ra, &rows_a, ua), (rb, &rows_b, ub), per, k);
    let sums = acc.map(|a| (a[0] + a[1]) + (a[2] + a[3]));
    let fits = rows_a.fits && rows_b.fits;
    let mut ranges = rows_a.ranges;
    ranges.extend(rows_b.ranges);
    (sums, ranges, fits)
}

/// A block of the sum: its values' indices, its rows, its codes.
type BlockOut<'a, 'b, C> = (std::ops::Range<usize>, &'a Rows, &'b mut [MaybeUninit<C>]);

/// The codes and the four partial sums of two blocks (`b` no longer than `a`), side by side
/// with AVX-512 (`quant_avx512::codes_errors_blocks`) when neither holds a hole, else a row
/// piece at a time (a piece with a hole read through a copy of that piece alone: the code
/// buffer is alive, so no copy of a whole block; compress peak memory).
fn block_pair<C: Code>(
    (data, holes): (&[f32], &[(u64, f32)]),
    a: BlockOut<'_, '_, C>,
    b: BlockOut<'_, '_, C>,
    per: usize,
    (inv, step): (f64, f64),
) -> [[f64; 4]; 2] {
    assert!(a.0.len() == a.2.len() && b.0.len() == b.2.len() && b.0.len() <= a.0.len());
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if super::quant_avx512::available() && !super::holes::any_in(holes, a.0.start..b.0.end) {
        use super::quant_avx512::{codes_errors_blocks as wide, RowsBlock};
        fn block<'a, C>(xs: &'a [f32], rows: &'a Rows, us: &mut [MaybeUninit<C>]) -> RowsBlock<'a> {
            RowsBlock {
                xs,
                los: &rows.los[..],
                first: rows.first,
                out: us.as_mut_ptr() as *mut u8,
            }
        }
        let ba = block(&data[a.0.clone()], a.1, &mut *a.2);
        let bb = block(&data[b.0.clone()], b.1, &mut *b.2);
        // SAFETY: the CPU supports AVX-512F; `a` is the longer block; each block's codes are
        // as many as its values (asserted), of size_of::<C>() bytes (`Code`: u16 or u32);
        // `rows_of` gave a `lo` for every row piece of each block.
        match std::mem::size_of::<C>() {
            2 => return unsafe { wide::<2>((&ba, &bb), per, (inv, step)) },
            4 => return unsafe { wide::<4>((&ba, &bb), per, (inv, step)) },
            _ => {}
        }
    }
    let mut scratch = Vec::new();
    [a, b].map(|(range, rows, us)| {
        let mut acc = [0.0f64; 4];
        let mut from = 0;
        for &lo in &rows.los {
            let to = match from {
                0 => rows.first,
                _ => (from + per).min(range.len()),
            };
            let at = range.start + from..range.start + to;
            let xs = super::holes::piece(data, at, holes, &mut scratch);
            let (k, u) = ((inv, step, lo), &mut us[from..to]);
            codes_errors(xs, k, u, &mut acc, from);
            from = to;
        }
        acc
    })
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
            pair(
                (data, holes),
                (per, ext),
                2 * k * SUM_BLOCK,
                us,
                (inv, step),
            )
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

    /// The codes and row ranges of the last pass if its step is `step` and every row fit
    /// `C`; the code buffer is freed either way.
    pub(crate) fn take(&mut self, step: f64) -> Option<(Vec<C>, Vec<RowRange>)> {
        let mut codes = std::mem::take(&mut self.codes);
        let (s, rows) = self.last.take()?;
        if s.to_bits() != step.to_bits() {
            return None;
        }
        // SAFETY: the pass that set `last` wrote every one of the first `len` slots: its
        // blocks cover `0..len`, each block's rows' pieces cover the block, and
        // `codes_errors` writes every slot of its piece.
        unsafe { codes.set_len(self.len) };
        Some((codes, rows))
    }

    /// The rows' extremes it was given (empty unless one pair a row), for the quantizer.
    pub(crate) fn into_extremes(self) -> Vec<(f32, f32)> {
        self.ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encoder::{fused_quantized, quantize_uniform_holed, uniform_error_sq};
    use crate::codec::prescan;
    use crate::codec::quant_direct::tests::Path;
    use crate::util::test_rng::uniform as rng;

    /// Every pass of a [`Fused`] over `x` (rows of `per`; its non-finite values are holes)
    /// against the separate passes: each step's error equals `uniform_error_sq`'s to the bit,
    /// and the last step's codes, row minima, precisions and largest code are the quantizer's
    /// (`None` alike: a row too wide for `C`). With the prescan's row extremes and without,
    /// on 1 and 2 threads, on every kernel path of this CPU; and the quantizer given the
    /// prescan's row extremes equals the quantizer reading them.
    fn check<C: Code + PartialEq + std::fmt::Debug>(x: &[f32], per: usize, steps: &[f64]) {
        let holes: Vec<(u64, f32)> = (x.iter().enumerate())
            .filter(|(_, v)| !v.is_finite())
            .map(|(i, &v)| (i as u64, v))
            .collect();
        let shape = [x.len() / per, per];
        let last = *steps.last().unwrap();
        for threads in [1, 2] {
            let pre = prescan::scan_holed(x, &holes, threads, per);
            let max_abs = pre.stats.2;
            let want_q =
                quantize_uniform_holed::<C>((x, &[]), &holes, &shape, last, None, 0.1, threads);
            // The quantizer given the prescan's row extremes (when the search did not end on
            // a pass that wrote codes) gives the same.
            let src = (x, &pre.rows[..]);
            let with_ext =
                quantize_uniform_holed::<C>(src, &holes, &shape, last, None, 0.1, threads);
            assert_eq!(with_ext, want_q, "{} × {per}, {threads} threads", shape[0]);
            for (ext, path) in [true, false]
                .into_iter()
                .flat_map(|e| Path::ALL.map(|p| (e, p)))
            {
                let case = format!(
                    "{} × {per}, {threads} threads, ext {ext}, {path:?}",
                    shape[0]
                );
                let rows = if ext { pre.rows.clone() } else { Vec::new() };
                let mut f = Fused::<C>::new(x.len(), per, rows).expect("rows");
                let mut got = None;
                for &step in steps {
                    let want = uniform_error_sq(x, &holes, step, max_abs, threads);
                    got = path.run(|| f.pass((x, &holes), step, max_abs, threads));
                    assert_eq!(
                        got.map(f64::to_bits),
                        want.map(f64::to_bits),
                        "{case}: step {step}"
                    );
                }
                if got.is_none() {
                    // A step with codes beyond the exact-integer range: the search stops
                    // below it, and the pass leaves no codes.
                    assert!(f.take(last).is_none(), "{case}");
                    continue;
                }
                let got_q = (f.take(last))
                    .and_then(|(u, rows)| fused_quantized::<C>(u, &rows, per, last, 0.1, threads));
                assert_eq!(got_q, want_q, "{case}: step {last}");
            }
        }
    }

    /// Values of a gradient-like spread with exact zeros.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut r = rng(seed);
        (0..n)
            .map(|i| match i % 11 {
                3 => 0.0,
                _ => ((r() - 0.5) * (1.0 + 30.0 * r() * r())) as f32,
            })
            .collect()
    }

    /// Rows that straddle the blocks of the sum, lengths that leave pieces of every residue
    /// mod 8 (the kernels' scalar head and tail), an odd number of blocks (a pair with one),
    /// one channel, several steps in a row into one buffer.
    #[test]
    fn fused_passes_equal_the_separate_passes() {
        for (rows, per) in [
            (197, 1000),
            (3, 4096),
            (9363, 7),
            (1, 1),
            (1, 3000),
            (70, 384),
        ] {
            let x = values(rows * per, (rows * per) as u64);
            let steps = [0.37, 0.011, 2e-3, 0.05];
            check::<u16>(&x, per, &steps);
            check::<u32>(&x, per, &steps);
        }
    }

    /// Holes (kept non-finite values: zeros to the quantizer) in a row that straddles two
    /// blocks and at the ends, a row of zeros, a step whose codes leave the exact-integer range.
    #[test]
    fn holes_zero_rows_and_huge_codes() {
        let per = 1000;
        let mut x = values(140 * per, 7);
        for (i, v) in [(0, f32::NAN), (65_535, f32::INFINITY), (65_536, f32::NAN)] {
            x[i] = v;
        }
        let n = x.len();
        x[n - 1] = f32::NEG_INFINITY;
        x[3 * per..4 * per].fill(0.0);
        check::<u16>(&x, per, &[0.01, 0.2]);
        check::<u32>(&x, per, &[1e-20, 0.3]);
    }

    /// Rows spanning exactly 2^16 levels of u16 codes (the top code 65 535) and one more
    /// (refused as u16: the quantizer then takes u32 codes, as does the caller here).
    #[test]
    fn codes_at_the_u16_limit() {
        for top in [65_535.0f32, 65_536.0] {
            let per = 300;
            let mut x = values(250 * per, 3);
            // Row 240 (past the first block) spans codes 0..=top at step 1.
            for (k, v) in x[240 * per..241 * per].iter_mut().enumerate() {
                *v = (k as f32 / (per - 1) as f32 * top).round();
            }
            let step = 1.0;
            let u16_fits =
                quantize_uniform_holed::<u16>((&x, &[]), &[], &[250, per], step, None, 0.1, 1);
            assert_eq!(u16_fits.is_some(), top == 65_535.0);
            check::<u16>(&x, per, &[step]);
            check::<u32>(&x, per, &[step]);
        }
    }

    /// Real tensors: the repository's copies of `shared/data` gradients (rows of 64 and 128,
    /// a 10-row layer), and from `../shared/data` where present the MiniLM value weight
    /// (384 × 384: three blocks, rows straddling them), at steps near the relative-L2 1e-2 one.
    #[test]
    fn real_tensors() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = [
            "grad_step00100_fc1.weight.npy",
            "adam_exp_avg_sq_step02000_fc1.weight.npy",
            "grad_step00500_fc3.weight.npy",
        ]
        .iter()
        .map(|f| root.join("tests/data/gradients").join(f))
        .collect();
        let shared = root
            .join("../shared/data/weights/minilm_encoder.layer.3.attention.self.value.weight.npy");
        if shared.exists() {
            files.push(shared);
        }
        for path in files {
            let (x, shape) = crate::read_npy_f32(&path).expect("tensor");
            let per = shape[1];
            let rms = (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64).sqrt();
            // Steps around 1e-2 of the spread, as the search tries them.
            let steps = [0.03 * rms, 0.035 * rms, 0.0349 * rms];
            check::<u16>(&x, per, &steps);
            check::<u32>(&x, per, &steps);
        }
    }

    /// The codes are handed out only for the step of the last pass.
    #[test]
    fn only_the_last_pass_gives_codes() {
        let x = values(5000, 1);
        let max_abs = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let pass = |steps: &[f64]| {
            let mut f = Fused::<u32>::new(x.len(), 100, Vec::new()).unwrap();
            for &s in steps {
                f.pass((&x, &[]), s, max_abs, 1);
            }
            f
        };
        assert!(pass(&[0.1, 0.2]).take(0.1).is_none());
        let mut f = pass(&[0.1, 0.2]);
        assert!(f.take(0.2).is_some());
        // Handed out once.
        assert!(f.take(0.2).is_none());
        assert!(pass(&[]).take(0.2).is_none());
        // No codes for rows longer than the quantizer's, or none at all.
        assert_eq!(row_len(8192, &[8192], 4096), 0);
        assert_eq!(row_len(8192, &[2, 4096], 4096), 4096);
        assert_eq!(row_len(0, &[0, 5], 4096), 0);
        assert!(Fused::<u32>::new(10, 0, Vec::new()).is_none());
    }
}
