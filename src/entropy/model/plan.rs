//! Fitting the model to a tensor's codes: the row and column scales, the shape family, the
//! sign model (top singular pair by power iteration, sign classes), all in a few passes over
//! the codes; and the payload size the plan would give (`ideal_bytes`).

#[cfg(target_arch = "x86_64")]
use super::plan_avx2::row_exact;
use super::*;

/// The scale code of each mean square of `ms`: `round(8·log2(√ms) + 128)` clamped to 1..=255,
/// 0 for `ms ≤ 0`. The logarithms are taken eight at a time where the CPU allows
/// (`det_log2_in_place`, the same bits as `det_log2`): one a row and a column, one after
/// another, were 1 % of a 32 768-value tensor's compression.
pub(super) fn scale_codes(ms: &[f64]) -> Vec<u8> {
    let mut l: Vec<f64> = ms.iter().map(|&v| if v <= 0.0 { 1.0 } else { v }).collect();
    crate::util::detmath::det_log2_in_place(&mut l);
    ms.iter()
        .zip(&l)
        .map(|(&v, &l)| if v <= 0.0 { 0 } else { code_of_log2(l) })
        .collect()
}

/// 8·log2(√ms) + 128 = 4·log2(ms) + 128, rounded into a code, from `l = log2(ms)`.
fn code_of_log2(l: f64) -> u8 {
    (4.0 * l + 128.0).round().clamp(1.0, 255.0) as u8
}

/// Dot product with four partial sums in a fixed order (deterministic on every platform).
#[inline(always)]
pub(super) fn dot4(a: &[f32], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] as f64 * y[k];
        }
    }
    for (k, (&x, &y)) in ra.iter().zip(rb).enumerate() {
        acc[k] += x as f64 * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Σ a_j² with four partial sums in a fixed order.
#[inline(always)]
pub(super) fn sumsq4(a: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let c = a.chunks_exact(4);
    for (k, &x) in c.remainder().iter().enumerate() {
        acc[k] += x as f64 * x as f64;
    }
    for x in c {
        for k in 0..4 {
            acc[k] += x[k] as f64 * x[k] as f64;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Σ a_j² · b_j with four partial sums in a fixed order.
#[inline(always)]
pub(super) fn sq_dot4(a: &[f32], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            let v = x[k] as f64;
            acc[k] += v * v * y[k];
        }
    }
    for (k, (&x, &y)) in ra.iter().zip(rb).enumerate() {
        let v = x as f64;
        acc[k] += v * v * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Tensors of fewer values than this and a single block are written as kind 3 (four states
/// on one word stream, ~20 bytes of states); from here on as kind 5 with one block (16 lane
/// streams: 128 bytes of counts and states, ≤ 0.7 % of the payload at 2^16 values and ≥ 1.8
/// bits/value, decoded ~4× faster).
pub(crate) const LANES_MIN_VALUES: usize = 1 << 16;

/// From this many values (below [`LANES_MIN_VALUES`], one block) kind 5 is written when its
/// extra bytes are at most [`LANES_MAX_SHARE`] of the payload's estimate
/// ([`ModelPlan::choose_lanes`]). Its decode takes about half the instructions of kind 3's
/// (the 32 768-value fc2 gradient at 1e-2: 1.68 M → 0.93 M); below 2^15 values the
/// per-call costs are a larger part of a decode and the lanes' bytes a larger part of a frame.
pub(crate) const LANES_MID_VALUES: usize = 1 << 15;
/// What kind 5's lane counts, states and rows-per-block field add to kind 3's single word
/// count and four states, in bytes: 16 · 8 + 4 − 20.
const LANES_EXTRA_BYTES: f64 = 112.0;
/// The largest share of the estimated payload that kind 5's extra bytes may take below
/// [`LANES_MIN_VALUES`]: 0.8 %, inside the speed issue's +1 % per tensor for a decode twice
/// as fast (the trainer's low-bit frames, where the lanes would cost 2–3 %, stay kind 3).
const LANES_MAX_SHARE: f64 = 0.008;

/// From this many values (and two rows) a tensor below 2^19 values is cut into two blocks
/// ([`rows_per_block`]). Why: one block is one chain of dependent rANS steps, and two blocks
/// decode side by side on one thread (`lanes::decode_block_pair`) or one per thread; on the
/// 147 456-value MiniLM weights, 1-thread decode +14–20 % (1 646–1 669 → 1 899–1 971 MB/s) and
/// 2-thread compress from 0.9× to 1.2× one thread, for up to 120 more bytes (+0.02 … +0.18 %:
/// the second block's lane counts and states). Below 2^17 values those bytes weigh more and a
/// decode is more of per-call costs (`docs/PERFORMANCE.md`, session 23).
pub(crate) const TWO_BLOCKS_MIN_VALUES: usize = 1 << 17;

/// Rows per independent block: all rows (one block) below [`TWO_BLOCKS_MIN_VALUES`], two
/// blocks (`⌈rows / 2⌉` rows each, the second shorter on odd rows) below 2^19 values, else
/// about 2^18 values per block. Fixed by the shape alone, never by the thread count.
///
/// The block count is made a multiple of 4 where the rows allow it (else even): blocks are
/// split between threads in contiguous runs, and each thread decodes its run two blocks at a
/// time (`lanes::decode_block_pair`). An odd count (the MiniLM word embeddings had 9) left one
/// thread a block more than the other; an even one that is not a multiple of 4 (they then had
/// 10) leaves each of two threads an odd run, whose last block decodes alone at the speed of
/// one chain of states, where one thread takes every block in pairs: that capped two threads
/// at about 1.9× one (`docs/PERFORMANCE.md`, session 24).
pub(crate) fn rows_per_block(rows: usize, cols: usize) -> usize {
    let rows = rows.max(1);
    let n = rows.saturating_mul(cols);
    if n < TWO_BLOCKS_MIN_VALUES {
        return rows;
    }
    if n < 1 << 19 {
        return rows.div_ceil(2);
    }
    let rpb = (((1usize << 18) + cols - 1) / cols.max(1)).clamp(1, rows);
    let n = rows.div_ceil(rpb);
    // ⌈rows / k⌉ rows per block gives ⌈rows / ⌈rows / k⌉⌉ blocks, which may fall short of k
    // on few rows; take the first count that is a multiple of `m` within a few steps.
    let first = |m: usize, ks: std::iter::StepBy<std::ops::Range<usize>>| match n % m {
        0 => Some(rpb),
        _ => ks
            .map(|k| rows.div_ceil(k))
            .find(|&r| rows.div_ceil(r) % m == 0),
    };
    first(4, (n + 1..n + 8).step_by(1))
        .or_else(|| first(2, (n + 1..n + 8).step_by(2)))
        .unwrap_or(rpb)
}

/// One row of codes as f32, `(qmin_i + u) as f32`: through f64, where `qmin_i + u` is exact
/// (|q| < 2^53), so the rounding to f32 is the same as from the integer; vectorisable.
#[inline(always)]
pub(crate) fn row_f32(codes: &[u32], q0: i64, out: &mut [f32]) {
    let q0 = q0 as f64;
    for (o, &u) in out.iter_mut().zip(codes) {
        *o = (q0 + u as f64) as f32;
    }
}

/// `acc += v` element-wise (`v` empty: nothing). Called on the blocks' column vectors in block
/// order, so the sums are the same whatever the thread count.
pub(super) fn add_cols(acc: &mut [f64], v: &[f64]) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a += x;
    }
}

/// `f(k)` for the blocks `k in 0..n_blocks` on up to `threads` threads, a few blocks at a time,
/// each result handed to `sink` in block order: the blocks' column vectors are added as they
/// come rather than all held at once (memory O(threads · cols), not O(blocks · cols)).
pub(super) fn for_blocks<T: Send>(
    threads: usize,
    n_blocks: usize,
    f: impl Fn(usize) -> T + Sync,
    mut sink: impl FnMut(T),
) {
    let group = 4 * threads.max(1);
    let mut k0 = 0;
    while k0 < n_blocks {
        let k1 = (k0 + group).min(n_blocks);
        for r in crate::util::par::map(threads, k1 - k0, |i| f(k0 + i)) {
            sink(r);
        }
        k0 = k1;
    }
}

/// The model's side information for a tensor (scales, sign model): everything but the rANS
/// coding of the values, which [`ModelPlan::encode`] does and [`ModelPlan::ideal_bytes`]
/// estimates.
pub(crate) struct ModelPlan {
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) rpb: usize,
    pub(super) a: Vec<u8>,
    pub(super) b: Vec<u8>,
    /// Shape family (table set, `family.rs`).
    pub(super) family: u8,
    pub(super) mode: u8,
    /// P(sign as predicted) · M per class sum (all equal unless the mode is [`SIGN_CLASSES`]).
    pub(super) fs: [u32; BINS],
    pub(super) row_neg: Vec<bool>,
    pub(super) col_neg: Vec<bool>,
    /// Sign classes of the rows and columns (all 0 unless the mode is [`SIGN_CLASSES`]).
    pub(super) rcls: Vec<u8>,
    pub(super) ccls: Vec<u8>,
    /// A single block below [`LANES_MIN_VALUES`] written as kind 5 ([`ModelPlan::choose_lanes`]).
    pub(super) lanes_mid: bool,
    /// A single block written as kind 6 instead of kind 3 ([`ModelPlan::choose_lanes`]).
    pub(super) shared: bool,
}

/// The statistics passes of [`encode_codes`]: `None` when the model does not apply (or the
/// forced `family` does not exist).
pub(crate) fn plan_codes<C: ModelCode>(
    codes: &[C],
    qmin: &[i64],
    threads: usize,
    family: Option<u8>,
) -> Option<ModelPlan> {
    plan_codes_with(codes, qmin, threads, family, Kernels::best())
}

/// The row kernels of `plan_codes`' statistics passes: the same plan with any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kernels {
    /// The loops of this file.
    Generic,
    /// `plan_avx2.rs`, one row at a time (the CPU must have AVX2).
    Avx2,
    /// `plan_pairs.rs`: two rows at a time on AVX-512 vectors (the CPU must have AVX-512F and
    /// AVX2).
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    Avx512,
}

impl Kernels {
    /// The fastest kernels this CPU runs.
    pub(super) fn best() -> Kernels {
        #[cfg(all(target_arch = "x86_64", alcm_avx512))]
        if super::lanes::have_avx2() && super::plan_avx512::available() {
            return Kernels::Avx512;
        }
        match super::lanes::have_avx2() {
            true => Kernels::Avx2,
            false => Kernels::Generic,
        }
    }
}

/// [`plan_codes`] with the given row kernels (which the CPU must run).
pub(super) fn plan_codes_with<C: ModelCode>(
    codes: &[C],
    qmin: &[i64],
    threads: usize,
    family: Option<u8>,
    kernels: Kernels,
) -> Option<ModelPlan> {
    let simd = kernels != Kernels::Generic;
    #[cfg(not(target_arch = "x86_64"))]
    let _ = simd;
    if family.is_some_and(|f| f >= crate::entropy::model::family::FAMILIES) {
        return None;
    }
    let n = codes.len();
    let rows = qmin.len();
    if n == 0 || rows == 0 || n % rows != 0 {
        return None;
    }
    let cols = n / rows;
    let rpb = rows_per_block(rows, cols);
    let n_blocks = rows.div_ceil(rpb);
    // Every code is below this (u16 or u32 codes): rows where it makes every value exact in
    // f32 take the kernels' cheaper conversion (`plan_avx2::row_exact`).
    #[cfg(target_arch = "x86_64")]
    let u_bound = 1u64 << (8 * std::mem::size_of::<C>()).min(32);
    // Pass 1: row and column sums of squares and sign counts of the codes as f32 (exact below
    // 2^24; beyond, only the scale and sign estimates see the rounding). The f32 codes are
    // made one row at a time in every pass (`row_f32`), never for the whole tensor (memory).
    // qmin_i is the row's smallest code: the tensor has a negative code iff some qmin_i < 0.
    let any_neg = qmin.iter().any(|&q0| q0 < 0);
    // Signed tensors: the sign model's power iteration (see `PowerIteration`) shares these
    // three passes: its first step (v = 1) needs nothing else, the second and the final
    // agreement count run inside the two ML passes. Each sum keeps its own order: the same
    // results as separate passes.
    let ones = vec![1f64; cols];
    let (mut pos, mut nz) = (0u64, 0u64);
    let mut row_ms = Vec::with_capacity(rows);
    let mut col_ms = vec![0f64; cols];
    let mut nv = vec![0f64; if any_neg { cols } else { 0 }];
    for_blocks(
        threads,
        n_blocks,
        |k| {
            let mut row_ms = Vec::with_capacity(rpb);
            let mut col_ms = vec![0f64; cols];
            let mut fr = vec![0f32; cols];
            let mut rbuf = row_buf::<C>(cols);
            let mut pi = PiBlock::new(any_neg, cols, rpb);
            let (mut pos, mut nz) = (0u64, 0u64);
            #[cfg(all(target_arch = "x86_64", alcm_avx512))]
            if kernels == Kernels::Avx512 {
                let block = k * rpb..((k + 1) * rpb).min(rows);
                // SAFETY: `Avx512` only where the CPU has AVX-512F and AVX2; `col_ms` is
                // `cols` long; `u_bound` is the codes' type bound.
                let (p, z) = unsafe {
                    super::plan_pairs::stats_block(
                        codes,
                        qmin,
                        block,
                        cols,
                        u_bound,
                        &mut row_ms,
                        &mut col_ms,
                        &mut pi,
                    )
                };
                return (row_ms, col_ms, p, z, pi);
            }
            #[cfg(target_arch = "x86_64")]
            if simd {
                let mut fd = vec![0f64; cols];
                let block = k * rpb..((k + 1) * rpb).min(rows);
                for (i, &q0) in block.clone().zip(&qmin[block]) {
                    let row = code_row(codes, i, cols, &mut rbuf);
                    use super::plan_avx2::stats_row;
                    // SAFETY: `simd` is only set when AVX2 is present; lengths are `cols`; the
                    // exact variant only where `row_exact` holds for the codes' type bound.
                    let (ss, s, rp, rz) = unsafe {
                        match row_exact(q0, u_bound) {
                            true => stats_row::<true>(row, q0, &mut fd, &mut col_ms),
                            false => stats_row::<false>(row, q0, &mut fd, &mut col_ms),
                        }
                    };
                    pos += rp as u64;
                    nz += rz as u64;
                    row_ms.push(ss);
                    if !pi.nv.is_empty() {
                        pi.u.push(s);
                        if s != 0.0 {
                            // SAFETY: as above.
                            unsafe { super::plan_avx2::axpy(&mut pi.nv, s, &fd) };
                        }
                    }
                }
                return (row_ms, col_ms, pos, nz, pi);
            }
            let block = k * rpb..((k + 1) * rpb).min(rows);
            for (i, &q0) in block.clone().zip(&qmin[block]) {
                row_f32(code_row(codes, i, cols, &mut rbuf), q0, &mut fr);
                let (mut rp, mut rz) = (0u32, 0u32);
                for &f in &fr {
                    rp += (f > 0.0) as u32;
                    rz += (f != 0.0) as u32;
                }
                pos += rp as u64;
                nz += rz as u64;
                for (cm, &f) in col_ms.iter_mut().zip(fr.iter()) {
                    let v = f as f64;
                    *cm += v * v;
                }
                row_ms.push(sumsq4(&fr));
                pi.power_row(&fr, &ones);
            }
            (row_ms, col_ms, pos, nz, pi)
        },
        |(r, c, p, z, pi)| {
            row_ms.extend(r);
            add_cols(&mut col_ms, &c);
            pos += p;
            nz += z;
            add_cols(&mut nv, &pi.nv);
        },
    );
    let mut power = PowerIteration {
        v: ones.clone(),
        stopped: false,
    };
    if any_neg {
        power.step(&nv);
    }
    let total: f64 = row_ms.iter().sum();
    let mean_all = total / n as f64;
    // One-pass factorisation (σ² = R_i·C_j/T), then two alternating maximum-likelihood passes
    // for σ_ij = r_i·c_j over the non-zero rows and columns: r_i² = mean_j q²/c_j²,
    // c_j² = mean_i q²/r_i² (one pass each: the column sums use the new row scale at once).
    let mut r2: Vec<f64> = row_ms.iter().map(|&s| s / cols as f64).collect();
    let mut c2: Vec<f64> = col_ms
        .iter()
        .map(|&s| {
            if total > 0.0 {
                s / rows as f64 / mean_all
            } else {
                0.0
            }
        })
        .collect();
    let nz_rows = r2.iter().filter(|&&v| v > 0.0).count().max(1) as f64;
    let nz_cols = c2.iter().filter(|&&v| v > 0.0).count().max(1) as f64;
    let mut signs = None;
    let mut row_codes = Vec::with_capacity(rows);
    for it in 0..2 {
        let inv_c: Vec<f64> = c2
            .iter()
            .map(|&v| if v > 0.0 { 1.0 / v } else { 0.0 })
            .collect();
        // Pass 2: the second power step (unless the first stopped); pass 3: the agreements.
        let (do_power, do_agree) = (any_neg && it == 0 && !power.stopped, any_neg && it == 1);
        let vr = &power.v;
        // +1 / −1 per column for the sign of v_j (0 for v_j = 0 counts as positive).
        let vs: Vec<f32> = if do_agree {
            vr.iter()
                .map(|&x| if x < 0.0 { -1.0 } else { 1.0 })
                .collect()
        } else {
            Vec::new()
        };
        let mut acc = vec![0f64; cols];
        let mut nv = vec![0f64; if do_power { cols } else { 0 }];
        let (mut u, mut agree) = (Vec::with_capacity(if do_agree { rows } else { 0 }), 0u64);
        let mut r2_new = Vec::with_capacity(rows);
        let r2_old = &r2;
        // The rows' scale codes from the last pass's scales, made by the threads that computed
        // them (a scale code was ≈ 230 instructions: 1.5 M of the calling thread's serial work
        // on the 6144 rows of the MiniLM word embeddings).
        let last_codes = |rb: &[f64]| -> Vec<u8> {
            if it == 1 {
                scale_codes(rb)
            } else {
                Vec::new()
            }
        };
        for_blocks(
            threads,
            n_blocks,
            |k| {
                let mut acc = vec![0f64; cols];
                let mut row = vec![0f32; cols];
                let mut rbuf = row_buf::<C>(cols);
                let mut pi = PiBlock::new(do_power || do_agree, cols, rpb);
                let mut rb = r2_old[k * rpb..((k + 1) * rpb).min(rows)].to_vec();
                #[cfg(all(target_arch = "x86_64", alcm_avx512))]
                if kernels == Kernels::Avx512 {
                    let vneg: Vec<u32> = vs.iter().map(|&x| (x < 0.0) as u32).collect();
                    let p = super::plan_pairs::Pass {
                        power: do_power,
                        agree: do_agree,
                        v: vr,
                        vneg: &vneg,
                        inv_c: &inv_c,
                        nz_cols,
                    };
                    // SAFETY: `Avx512` only where the CPU has AVX-512F and AVX2; every vector
                    // is `cols` long (`vneg` when agreeing); `u_bound` as above.
                    unsafe {
                        super::plan_pairs::dots_block(
                            codes,
                            qmin,
                            k * rpb,
                            &mut rb,
                            cols,
                            u_bound,
                            &p,
                            &mut acc,
                            &mut pi,
                        )
                    };
                    let a = last_codes(&rb);
                    return (rb, acc, pi, a);
                }
                #[cfg(target_arch = "x86_64")]
                if simd {
                    let mut fd = vec![0f64; cols];
                    let vneg: Vec<u32> = vs.iter().map(|&x| (x < 0.0) as u32).collect();
                    for (i, r) in (k * rpb..).zip(rb.iter_mut()) {
                        let dot = do_power || do_agree;
                        if !(*r > 0.0 || dot) {
                            continue;
                        }
                        let row = code_row(codes, i, cols, &mut rbuf);
                        use super::plan_avx2::dots_row;
                        // SAFETY: `simd` is only set when AVX2 is present; lengths are `cols`.
                        let q0 = qmin[i];
                        let (s, sq) = unsafe {
                            match (dot, *r > 0.0, row_exact(q0, u_bound)) {
                                (true, true, true) => {
                                    dots_row::<true, true, true>(row, q0, &mut fd, vr, &inv_c)
                                }
                                (true, true, false) => {
                                    dots_row::<true, true, false>(row, q0, &mut fd, vr, &inv_c)
                                }
                                (true, false, true) => {
                                    dots_row::<true, false, true>(row, q0, &mut fd, vr, &inv_c)
                                }
                                (true, false, false) => {
                                    dots_row::<true, false, false>(row, q0, &mut fd, vr, &inv_c)
                                }
                                (false, _, true) => {
                                    dots_row::<false, true, true>(row, q0, &mut fd, vr, &inv_c)
                                }
                                (false, _, false) => {
                                    dots_row::<false, true, false>(row, q0, &mut fd, vr, &inv_c)
                                }
                            }
                        };
                        if dot {
                            pi.u.push(s);
                        }
                        if do_agree {
                            let uneg = (s < 0.0) as u32;
                            pi.agree +=
                                super::sign::row_agreements(row, qmin[i], uneg, &vneg, true);
                        }
                        if *r > 0.0 {
                            *r = sq / nz_cols;
                        }
                        // The power step's and the column sums' updates read the row's values
                        // once when both apply (the second pass of signed tensors).
                        use super::plan_avx2::{axpy, axpy_sq_axpy, sq_axpy};
                        // SAFETY: as above.
                        unsafe {
                            match (do_power && s != 0.0, *r > 0.0) {
                                (true, true) => {
                                    axpy_sq_axpy(&mut pi.nv, s, &mut acc, 1.0 / *r, &fd)
                                }
                                (true, false) => axpy(&mut pi.nv, s, &fd),
                                (false, true) => sq_axpy(&mut acc, 1.0 / *r, &fd),
                                (false, false) => {}
                            }
                        }
                    }
                    let a = last_codes(&rb);
                    return (rb, acc, pi, a);
                }
                for (i, r) in (k * rpb..).zip(rb.iter_mut()) {
                    if *r > 0.0 || do_power || do_agree {
                        row_f32(code_row(codes, i, cols, &mut rbuf), qmin[i], &mut row);
                    }
                    if do_power {
                        pi.power_row(&row, vr);
                    } else if do_agree {
                        pi.agree_row(&row, vr, &vs);
                    }
                    if *r > 0.0 {
                        let row = &row[..];
                        *r = sq_dot4(row, &inv_c) / nz_cols;
                        if *r > 0.0 {
                            let ir = 1.0 / *r;
                            for (a, &v) in acc.iter_mut().zip(row) {
                                let v = v as f64;
                                *a += v * v * ir;
                            }
                        }
                    }
                }
                let a = last_codes(&rb);
                (rb, acc, pi, a)
            },
            |(rb, a, pi, codes)| {
                r2_new.extend(rb);
                row_codes.extend(codes);
                add_cols(&mut acc, &a);
                add_cols(&mut nv, &pi.nv);
                u.extend(pi.u);
                agree += pi.agree;
            },
        );
        r2 = r2_new;
        if do_power {
            power.step(&nv);
        } else if do_agree {
            signs = Some((std::mem::take(&mut u), agree));
        }
        for (c, &a) in c2.iter_mut().zip(&acc) {
            if *c > 0.0 {
                *c = a / nz_rows;
            }
        }
    }
    debug_assert_eq!(row_codes.len(), rows);
    let a = row_codes;
    let b = scale_codes(&c2);

    // Sign model: plain, against the top singular pair, or against it with sign classes
    // (`sign.rs`) when their estimate beats one probability.
    let mut classes = None;
    let (mode, f, row_neg, col_neg) = match signs {
        None => (SIGN_NONE, 0u32, Vec::new(), Vec::new()),
        Some((uf, agree)) => {
            let h = |k: u64| crate::entropy::model::sign::binary_bits(k, nz);
            if h(agree) + (rows + cols) as f64 + 64.0 < h(pos) {
                let sc = crate::entropy::model::sign::sign_classes(
                    codes, qmin, cols, &uf, &power.v, &r2, &c2, threads,
                );
                if sc.bits < h(agree) {
                    classes = Some(sc);
                }
                let (u, v) = power.signs(&uf);
                (
                    if classes.is_some() {
                        SIGN_CLASSES
                    } else {
                        SIGN_SVD
                    },
                    sign_freq(agree, nz),
                    u,
                    v,
                )
            } else {
                (SIGN_PLAIN, plain_sign_freq(pos, nz), Vec::new(), Vec::new())
            }
        }
    };
    let (fs, rcls, ccls) = match classes {
        Some(c) => (c.freq, c.rows, c.cols),
        None => ([f; BINS], vec![0; rows], vec![0; cols]),
    };
    let family = match family {
        Some(f) => f,
        None => crate::entropy::model::family::choose(codes, qmin, cols, &a, &b, threads),
    };

    Some(ModelPlan {
        rows,
        cols,
        rpb,
        a,
        b,
        family,
        mode,
        fs,
        row_neg,
        col_neg,
        rcls,
        ccls,
        lanes_mid: false,
        shared: false,
    })
}

impl ModelPlan {
    /// The payload header (kinds 3–5): kind, family, sign mode and frequencies, packed scale
    /// codes, sign bitmaps, sign classes, rows per block (kinds 4–5; `lanes`: kind 5).
    pub(super) fn header(&self, lanes: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rows + self.cols + 64);
        out.push(match (self.n_blocks() > 1, lanes && self.lanes_kind()) {
            (_, true) => KIND_LANES_BLOCKS,
            (false, false) if lanes && self.shared => KIND_SHARED,
            (false, false) => KIND_SHAPED,
            (true, false) => KIND_SHAPED_BLOCKS,
        });
        out.push(self.family);
        out.push(self.mode);
        let n_f = match self.mode {
            SIGN_NONE => 0,
            SIGN_CLASSES => BINS,
            _ => 1,
        };
        for &f in &self.fs[..n_f] {
            out.extend_from_slice(&(f as u16).to_le_bytes());
        }
        crate::entropy::model::family::push_scale_codes(&self.a, &mut out);
        crate::entropy::model::family::push_scale_codes(&self.b, &mut out);
        if self.mode >= SIGN_SVD {
            push_bits(&self.row_neg, &mut out);
            push_bits(&self.col_neg, &mut out);
        }
        if self.mode == SIGN_CLASSES {
            crate::entropy::model::sign::push_classes(&self.rcls, &mut out);
            crate::entropy::model::sign::push_classes(&self.ccls, &mut out);
        }
        if self.n_blocks() > 1 || (lanes && self.lanes_kind()) {
            out.extend_from_slice(&(self.rpb as u32).to_le_bytes());
        }
        out
    }

    /// Whether the payload is kind 5 (when lanes are allowed): several blocks, one block of
    /// at least [`LANES_MIN_VALUES`] values, or one chosen by [`ModelPlan::choose_lanes`].
    pub(super) fn lanes_kind(&self) -> bool {
        self.n_blocks() > 1
            || self.rows.saturating_mul(self.cols) >= LANES_MIN_VALUES
            || self.lanes_mid
    }

    /// Writes a single block of [`LANES_MID_VALUES`] … [`LANES_MIN_VALUES`] values as kind 5
    /// when its extra bytes are at most [`LANES_MAX_SHARE`] of `estimate`, the kind-3 payload's
    /// estimated size ([`ideal_bytes`](ModelPlan::ideal_bytes), the same on any thread count,
    /// so the kind is too); else any other single block of at least 16 columns below
    /// [`LANES_MIN_VALUES`] as kind 6 (`shared.rs`) under the same rule for its 48 extra bytes.
    /// Returns the estimate of the kind chosen. Call before [`encode`](ModelPlan::encode);
    /// other sizes keep their kind.
    pub(crate) fn choose_lanes(&mut self, estimate: f64) -> f64 {
        let n = self.rows.saturating_mul(self.cols);
        self.lanes_mid = (LANES_MID_VALUES..LANES_MIN_VALUES).contains(&n)
            && LANES_EXTRA_BYTES <= LANES_MAX_SHARE * estimate;
        self.shared = !self.lanes_mid
            && n < LANES_MIN_VALUES
            && self.n_blocks() == 1
            && self.cols >= shared::STATES
            && shared::EXTRA_BYTES <= LANES_MAX_SHARE * estimate;
        let extra = match (self.lanes_mid, self.shared) {
            (true, _) => LANES_EXTRA_BYTES,
            (false, true) => shared::EXTRA_BYTES,
            _ => 0.0,
        };
        estimate + extra
    }

    pub(super) fn n_blocks(&self) -> usize {
        self.rows.div_ceil(self.rpb)
    }

    /// Per column: the predicted sign of `u_i·v_j` is negative iff the row's bit differs from
    /// this (false unless the mode predicts signs from the singular pair).
    pub(super) fn col_pred_neg(&self) -> Vec<bool> {
        (0..self.cols)
            .map(|j| self.mode >= SIGN_SVD && self.col_neg[j])
            .collect()
    }
}

impl ModelPlan {
    /// The payload size in bytes if every symbol took exactly its information content
    /// `log2(M / freq)` (header, word counts and final states included): what [`encode`]
    /// produces up to the coder's small overhead, at the cost of a table lookup per value
    /// instead of the rANS state updates. Integer sums of fixed-point costs from `det_log2`:
    /// the same value on every platform and thread count.
    ///
    /// [`encode`]: ModelPlan::encode
    ///
    /// With `row_step > 1`, only every `row_step`-th row is costed and the sum scaled: an
    /// estimate (for deciding which payload to build first, never for a skip).
    pub(crate) fn ideal_bytes<C: ModelCode>(
        &self,
        codes: &[C],
        qmin: &[i64],
        threads: usize,
        row_step: usize,
    ) -> f64 {
        let (rows, cols, rpb) = (self.rows, self.cols, self.rpb);
        let tabs = tables();
        let costs = sym_costs(self.family);
        let cost_of =
            |f: u32| (crate::util::detmath::det_log2(M as f64 / f as f64) * COST_ONE as f64) as u64;
        // Sign, per class sum: [as predicted, opposite, not coded].
        let sign_cost = self.fs.map(|f| {
            let fc = f.clamp(1, M - 1);
            [cost_of(fc), cost_of(M - fc), 0]
        });
        let code_sign = self.mode != SIGN_NONE;
        let cneg = self.col_pred_neg();
        #[cfg(target_arch = "x86_64")]
        let simd = super::lanes::have_avx2() && RowCost::picks_fit(&tabs.pick, costs);
        #[cfg(all(target_arch = "x86_64", alcm_avx512))]
        let wide = simd && super::plan_avx512::available();
        let parts = crate::util::par::map(threads, self.n_blocks(), |k| {
            let mut total = 0u64;
            let mut rbuf = row_buf::<C>(cols);
            for (i, &q0) in (k * rpb..).zip(&qmin[k * rpb..((k + 1) * rpb).min(rows)]) {
                let ai = self.a[i];
                if ai == 0 || i % row_step != 0 {
                    continue;
                }
                let rc = self.rcls[i] as usize;
                let cost = RowCost {
                    q0,
                    picks: &tabs.pick[ai as usize..ai as usize + 256],
                    b: &self.b,
                    cneg: &cneg,
                    ccls: &self.ccls,
                    costs,
                    rneg: self.mode >= SIGN_SVD && self.row_neg[i],
                    sign: std::array::from_fn(|c| match code_sign {
                        true => {
                            let [a, b, _] = sign_cost[(rc + c).min(BINS - 1)];
                            [a, b]
                        }
                        false => [0, 0],
                    }),
                    code_sign,
                };
                let row = code_row(codes, i, cols, &mut rbuf);
                #[cfg(all(target_arch = "x86_64", alcm_avx512))]
                if wide {
                    // SAFETY: AVX-512F is present; the picks fit `costs` (checked above).
                    total += unsafe { cost.row_avx512(row) };
                    continue;
                }
                #[cfg(target_arch = "x86_64")]
                if simd {
                    // SAFETY: AVX2 is present; the picks fit `costs` (checked above).
                    total += unsafe { cost.row_avx2(row) };
                    continue;
                }
                total += cost.row(row);
            }
            total
        });
        let sampled = rows.div_ceil(row_step.max(1));
        let bits =
            parts.iter().sum::<u64>() as f64 / COST_ONE as f64 * (rows as f64 / sampled as f64);
        // Per block: the word count and four 32-bit final states (kind 3), or 16 word counts
        // and 16 final states (kind 5, several blocks).
        let per_block = if self.lanes_kind() {
            8.0 * lanes::LANES as f64
        } else {
            20.0
        };
        self.header(true).len() as f64 + self.n_blocks() as f64 * per_block + bits / 8.0
    }
}

/// Signs (true = negative) of the top singular pair of `q = qmin_i + u` by power iteration,
/// and how many non-zero codes have the sign of `u_i · v_j`: two iterations from `v = 1` (each
/// one pass: `u_i = row_i · v`, `v' += u_i · row_i`, then `v = v' / |v'|`; a zero or non-finite
/// `|v'|` stops the iteration), then a pass computes `u = A v` and counts the agreements
/// against that same `v` (a consistent pair). The passes run inside `plan_codes`' statistics
/// passes, block by block (`PiBlock`), the blocks' sums added in order.
pub(super) struct PowerIteration {
    pub(super) v: Vec<f64>,
    pub(super) stopped: bool,
}

impl PowerIteration {
    /// `v = v' / |v'|` from the pass's `v'` (added over the blocks in order).
    pub(super) fn step(&mut self, nv: &[f64]) {
        if self.stopped {
            return;
        }
        let norm = nv.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            self.stopped = true;
            return;
        }
        for (vj, &x) in self.v.iter_mut().zip(nv) {
            *vj = x / norm;
        }
    }

    /// Row and column signs (true = negative) from the final pass's `u` and this `v`.
    pub(super) fn signs(&self, u: &[f64]) -> (Vec<bool>, Vec<bool>) {
        (
            u.iter().map(|&x| x < 0.0).collect(),
            self.v.iter().map(|&x| x < 0.0).collect(),
        )
    }
}

/// One block's part of a power-iteration pass.
pub(super) struct PiBlock {
    pub(super) u: Vec<f64>,
    pub(super) nv: Vec<f64>,
    pub(super) agree: u64,
}

impl PiBlock {
    pub(super) fn new(active: bool, cols: usize, rows: usize) -> PiBlock {
        if active {
            PiBlock {
                u: Vec::with_capacity(rows),
                nv: vec![0f64; cols],
                agree: 0,
            }
        } else {
            PiBlock {
                u: Vec::new(),
                nv: Vec::new(),
                agree: 0,
            }
        }
    }

    /// `u_i = row · v`, `v' += u_i · row` (no-op when inactive).
    #[inline(always)]
    pub(super) fn power_row(&mut self, row: &[f32], v: &[f64]) {
        if self.nv.is_empty() {
            return;
        }
        let s = dot4(row, v);
        self.u.push(s);
        if s != 0.0 {
            for (nvj, &x) in self.nv.iter_mut().zip(row) {
                *nvj += s * x as f64;
            }
        }
    }

    /// `u_i = row · v` and the agreements of the row's signs with `sign(u_i)·sign(v_j)`.
    #[inline(always)]
    pub(super) fn agree_row(&mut self, row: &[f32], v: &[f64], vs: &[f32]) {
        let s = dot4(row, v);
        self.u.push(s);
        let us = if s < 0.0 { -1.0f32 } else { 1.0 };
        // x·sign(u)·sign(v) > 0: the prediction holds; exactly `(x < 0) == (u_neg != v_neg)`
        // for x ≠ 0.
        let mut a = 0u32;
        for (&x, &sv) in row.iter().zip(vs) {
            a += (x * us * sv > 0.0) as u32;
        }
        self.agree += a as u64;
    }
}

/// The plain sign model's frequency (of `M`) of a positive value, `pos` of `nz` non-zero
/// values: `pos / nz` rounded, or exactly one half where that would save less than about
/// `nz / 1024` bits (0.1 % of the signs' bits: `nz · 2δ² / ln 2` for `δ = pos / nz − 1/2`,
/// within 2048 ± 75 of `M`). Signs of probability one half are coded as uniform bits, which
/// needs no division (`lanes_enc_avx2::signs_flat`).
fn plain_sign_freq(pos: u64, nz: u64) -> u32 {
    let d = (2 * pos as i128 - nz as i128).unsigned_abs();
    // δ² < ln 2 / 2048  ⇔  (2·pos − nz)² · 512 / ln 2 < nz², 512 / ln 2 ≈ 739.
    if d * d * 739 < (nz as u128) * (nz as u128) {
        return M / 2;
    }
    sign_freq(pos, nz)
}

/// A sign model's frequency (of `M`) of `k` of `nz` signs: `k / nz` rounded, within 1..M − 1.
fn sign_freq(k: u64, nz: u64) -> u32 {
    ((k as f64 / nz.max(1) as f64 * M as f64).round() as u32).clamp(1, M - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain sign frequency: one half within the bound, `pos / nz` rounded beyond it. By
    /// hand for nz = 10^6: 2·pos − nz must stay below 10^6 / √739 = 36 785.5, so pos =
    /// 518 392 (and 481 608 below one half) is snapped and the next one is not, whose
    /// frequency is round(0.518393 · 4096) = 2123 (1973 below); where it is snapped, the
    /// fitted model saves nz · (1 − H(0.518392)) = 976.2 bits, under nz / 1024 = 976.6.
    #[test]
    fn plain_sign_frequency_is_one_half_where_it_saves_little() {
        let nz = 1_000_000;
        assert_eq!(plain_sign_freq(500_000, nz), M / 2);
        assert_eq!(plain_sign_freq(518_392, nz), M / 2);
        assert_eq!(plain_sign_freq(518_393, nz), 2123);
        assert_eq!(plain_sign_freq(481_608, nz), M / 2);
        assert_eq!(plain_sign_freq(481_607, nz), 1973);
        // Ten values: 5 positive is one half; 6 is 0.6 · 4096 = 2457.6 → 2458.
        assert_eq!(plain_sign_freq(5, 10), M / 2);
        assert_eq!(plain_sign_freq(6, 10), 2458);
        // All of one sign stays within 1..M − 1; no values at all as before (frequency 1).
        assert_eq!(plain_sign_freq(10, 10), M - 1);
        assert_eq!(plain_sign_freq(0, 10), 1);
        assert_eq!(plain_sign_freq(0, 0), 1);
    }

    #[test]
    fn scale_codes_are_eighth_octaves_of_the_scale() {
        // 4·log2(ms) + 128 by hand: ms = 1, 2, ½, √2 (log2 ½), 2^±40 (clamped), 2^(1/8)
        // (0.5 rounds away from zero); no scale (ms ≤ 0) and NaN are code 0. Eleven values:
        // a vector of eight and a tail.
        let ms = [
            1.0,
            2.0,
            0.5,
            std::f64::consts::SQRT_2,
            (1u64 << 40) as f64,
            1.0 / (1u64 << 40) as f64,
            0.0,
            -3.0,
            f64::NAN,
            2f64.powf(0.125) * 1.000_001,
            1024.0,
        ];
        assert_eq!(
            scale_codes(&ms),
            vec![128, 132, 124, 130, 255, 1, 0, 0, 0, 129, 168]
        );
        // The codes one value at a time from `det_log2`, on scales over the whole range.
        let mut u = crate::util::test_rng::uniform(3);
        let ms: Vec<f64> = (0..999).map(|_| (u() * 120.0 - 60.0).exp2()).collect();
        let want: Vec<u8> = ms
            .iter()
            .map(|&v| code_of_log2(crate::util::detmath::det_log2(v)))
            .collect();
        assert_eq!(scale_codes(&ms), want);
    }
}
