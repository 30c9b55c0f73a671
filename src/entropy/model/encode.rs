//! The model's rANS encoder: the rows of a block coded last to first into one word
//! stream with four interleaved states (kinds 3–4), and the test-facing entry points.

use super::*;

/// Word buffer of one run of columns: each `put` writes a word unconditionally and advances
/// by 0 or 1 (no branch on the ~random renormalisation decision).
pub(super) struct WordBuf {
    pub(super) buf: Vec<u16>,
    pub(super) pos: usize,
}

impl WordBuf {
    #[inline(always)]
    pub(super) fn put(&mut self, x: &mut u32, e: &EncSym) {
        let (word, emit) = e.step(x);
        self.buf[self.pos] = word;
        self.pos += emit as usize;
    }
    /// `bits ≤ 8` uniform bits `val`: frequency `M >> bits`, a power of two.
    #[inline(always)]
    pub(super) fn put_uniform(&mut self, x: &mut u32, val: u32, bits: u32) {
        let v = *x;
        debug_assert!((1..=8).contains(&bits));
        let emit = v >= 1u32 << (32 - bits);
        self.buf[self.pos] = v as u16;
        self.pos += emit as usize;
        let v = if emit { v >> 16 } else { v };
        let sh = SCALE_BITS - bits;
        *x = ((v >> sh) << SCALE_BITS) + (v & ((1 << sh) - 1)) + (val << sh);
    }
    /// `bits ≤ 64` uniform bits of `v` in 8-bit pieces, low first (so put high first).
    #[inline(always)]
    pub(super) fn put_uniform_wide(&mut self, x: &mut u32, v: u64, bits: u32) {
        let full = bits / 8;
        let rem = bits % 8;
        if rem > 0 {
            self.put_uniform(x, ((v >> (8 * full)) & ((1 << rem) - 1)) as u32, rem);
        }
        for k in (0..full).rev() {
            self.put_uniform(x, ((v >> (8 * k)) & 0xFF) as u32, 8);
        }
    }
}

/// Most words one coded value can produce: magnitude, escape length, ≤ 7 escape pieces,
/// ≤ 4 low-bit pieces, sign (each put emits at most one word).
pub(super) const MAX_WORDS_PER_VALUE: usize = 14;
/// Columns per run of the word buffer (bounds its size to 28 KiB).
pub(super) const RUN: usize = 1024;

/// Escape symbol and the high part of an escaped magnitude (rare): `extra = hi − esc`.
#[cold]
#[inline(never)]
pub(super) fn put_escape(wb: &mut WordBuf, lane: &mut u32, esc: &EncSym, extra: u64) {
    let nb = 64 - extra.leading_zeros();
    wb.put_uniform_wide(lane, extra, nb);
    wb.put_uniform(lane, nb, 6);
    wb.put(lane, esc);
}

/// Encodes signed codes `q` (row-major, `rows` × `q.len()/rows`) with the rank-1 model.
/// Returns `None` when the model does not apply (no values, rows not dividing, a row spanning
/// more than 2^32 codes).
pub fn encode(q: &[i64], rows: usize) -> Option<Vec<u8>> {
    encode_family(q, rows, None)
}

/// `encode` with the shape family forced (`Some(f)`, `f` < `family::FAMILIES`) or
/// chosen by the encoder (`None`).
pub fn encode_family(q: &[i64], rows: usize, family: Option<u8>) -> Option<Vec<u8>> {
    let (codes, qmin) = split_rows(q, rows)?;
    encode_codes(&codes, &qmin, 1, family)
}

/// Signed codes `q` (`rows` rows) as the model codes them: each row's smallest code `qmin_i`
/// and the offsets `u = q − qmin_i`; `None` when the model does not apply (no values, rows not
/// dividing, a row spanning more than 2^32 codes).
pub(super) fn split_rows(q: &[i64], rows: usize) -> Option<(Vec<u32>, Vec<i64>)> {
    let n = q.len();
    if n == 0 || rows == 0 || n % rows != 0 {
        return None;
    }
    let cols = n / rows;
    let mut qmin = Vec::with_capacity(rows);
    let mut codes = Vec::with_capacity(n);
    for row in q.chunks_exact(cols) {
        let lo = *row.iter().min()?;
        for &v in row {
            codes.push(u32::try_from(v.checked_sub(lo)?).ok()?);
        }
        qmin.push(lo);
    }
    Some((codes, qmin))
}

/// Encodes the frame codes `u` (row-major, `qmin.len()` rows; `q = qmin_i + u`, `qmin_i` the
/// smallest code of row `i`) with the rank-1 model, using up to `threads` threads.
pub(super) fn encode_codes(
    codes: &[u32],
    qmin: &[i64],
    threads: usize,
    family: Option<u8>,
) -> Option<Vec<u8>> {
    Some(plan_codes(codes, qmin, threads, family)?.encode(codes, qmin, threads))
}

impl ModelPlan {
    /// The payload (codes and `qmin` as given to [`plan_codes`]): kind 3, or kind 5 when
    /// there are several blocks.
    pub(crate) fn encode<C: ModelCode>(
        &self,
        codes: &[C],
        qmin: &[i64],
        threads: usize,
    ) -> Vec<u8> {
        self.encode_as(codes, qmin, threads, true, codes.len() / 2)
    }

    /// [`encode`](ModelPlan::encode) into a buffer of about `expected` bytes (an estimate of
    /// the payload's size, e.g. [`ideal_bytes`](ModelPlan::ideal_bytes)) plus a margin. A
    /// payload that outgrows its buffer grows by what each group of blocks adds, and each
    /// growth may copy all the payload so far on the calling thread, between two parallel
    /// passes (the MiniLM word embeddings at 1e-2: 2.9 M instructions of its compression's
    /// serial work, with the first guess of n/2 bytes).
    pub(crate) fn encode_sized<C: ModelCode>(
        &self,
        codes: &[C],
        qmin: &[i64],
        threads: usize,
        expected: f64,
    ) -> Vec<u8> {
        // 0.1 % over: the exact ideal size is within ±0.03 % of the payload. An estimate from
        // every 16th row can miss by more than 2 % (the synthetic gradient); the payload then
        // grows by what each group of blocks adds (`reserve_for`), a few copies of the payload
        // so far, where 5 % of room on every payload was held beside the codes (compress peak
        // memory: the MiniLM word embeddings in max-abs mode). Never less than the first guess
        // of `encode`.
        let room = ((expected.max(0.0) * 1.001) as usize + 4096).min(codes.len() * 4 + 4096);
        let capacity = room.max(codes.len() / 2);
        self.encode_as(codes, qmin, threads, true, capacity)
    }

    /// [`encode`](ModelPlan::encode), writing kind 4 instead of 5 unless `lanes`, in a buffer
    /// first made for `capacity` bytes.
    pub(super) fn encode_as<C: ModelCode>(
        &self,
        codes: &[C],
        qmin: &[i64],
        threads: usize,
        lanes: bool,
        capacity: usize,
    ) -> Vec<u8> {
        let (rows, rpb) = (self.rows, self.rpb);
        let mut out = self.header(lanes);
        out.reserve_exact(capacity.saturating_sub(out.len()));
        if lanes && self.lanes_kind() {
            // Kind 5: independent lane streams per block (lanes.rs), coded one block a thread
            // at a time into the payload's spare room and moved into place (lane_room.rs), so
            // that no block's words are held beside the payload (compress peak memory, issue
            // 12; main 984b873 held a group's words in vectors of their own).
            let n_blocks = self.n_blocks();
            let block = |k: usize| k * rpb..((k + 1) * rpb).min(rows);
            // The payload's expected words per value (a lane's spill is first made for what it
            // was expected to take beyond its room).
            let wpv = capacity as f64 / (2 * codes.len()).max(1) as f64;
            let group = threads.max(1);
            let cols = self.cols;
            let mut k0 = 0;
            while k0 < n_blocks {
                let k1 = (k0 + group).min(n_blocks);
                let blocks: Vec<_> = (k0..k1)
                    .map(|k| lane_room::GroupBlock {
                        rows: block(k),
                        lane_values: std::array::from_fn(|l| {
                            block(k).len() * ((cols + lanes::LANES - 1 - l) / lanes::LANES)
                        }),
                    })
                    .collect();
                // A group whose blocks do not divide among the threads (the last of 9 blocks
                // on 2 threads): each block's two halves of lanes are work items instead, so
                // the threads finish together. The lanes are independent: the same words as
                // coding each block whole.
                let halves = threads > 1 && (k1 - k0) % threads != 0;
                let path = lanes::enc_path();
                lane_room::code_group(&mut out, &blocks, halves, threads, wpv, |rows, ls, d| {
                    lanes::encode_rows_into(self, codes, qmin, rows, path, ls, d)
                });
                k0 = k1;
            }
            return out;
        }
        if lanes && self.shared && self.n_blocks() == 1 {
            let words = shared::encode_rows(self, codes, qmin, lanes::enc_path());
            push_stream(&words, &mut out);
            return out;
        }
        let streams = crate::util::par::map(threads, self.n_blocks(), |k| {
            let r0 = k * rpb;
            let r1 = (r0 + rpb).min(rows);
            encode_rows(self, codes, qmin, r0..r1)
        });
        for words in streams {
            push_stream(&words, &mut out);
        }
        out
    }
}

/// Appends a word stream made last word first (`u32 W`, then the words in decode order).
fn push_stream(words: &[u16], out: &mut Vec<u8>) {
    out.extend_from_slice(&(words.len() as u32).to_le_bytes());
    // Written in place (a loop the compiler vectorises), not extended word by word: the
    // extends were 2 % of a 16 384-value gradient's compression.
    let start = out.len();
    out.resize(start + 2 * words.len(), 0);
    for (d, w) in out[start..].chunks_exact_mut(2).zip(words.iter().rev()) {
        d.copy_from_slice(&w.to_le_bytes());
    }
}

impl ModelPlan {
    /// Sign symbols per class sum: [agrees with the prediction, disagrees]; unused when no
    /// sign is coded.
    pub(super) fn sign_syms(&self) -> [[EncSym; 2]; BINS] {
        self.fs.map(|f| {
            let f = f.clamp(1, M - 1);
            [EncSym::new(f, 0), EncSym::new(M - f, f)]
        })
    }

    /// What encoding the values of row `i` needs (`None`: an all-zero row, nothing coded);
    /// `buf` from [`row_buf`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn row_enc<'a, C: ModelCode>(
        &'a self,
        i: usize,
        codes: &'a [C],
        buf: &'a mut [u32],
        qmin: &[i64],
        cneg: &'a [bool],
        syms: &'a [EncSym],
        sign_syms: &'a [[EncSym; 2]; BINS],
        tabs: &'a Tables,
    ) -> Option<RowEnc<'a>> {
        let (a, cols) = (&self.a, self.cols);
        if a[i] == 0 {
            return None;
        }
        Some(RowEnc {
            row: code_row(codes, i, cols, buf),
            b: &self.b,
            cneg,
            picks: &tabs.pick[a[i] as usize..a[i] as usize + 256],
            syms,
            sign_syms: &sign_syms[self.rcls[i] as usize..],
            ccls: &self.ccls,
            q0: qmin[i],
            rneg: self.mode >= SIGN_SVD && self.row_neg[i],
            code_sign: self.mode != SIGN_NONE,
        })
    }
}

/// [`encode_family`] as format version 2 wrote it: kind 4 where the encoder now writes kind 5
/// (for tests of the kind-4 decoder, which keeps decoding version-2 frames).
#[doc(hidden)]
pub fn encode_family_v2(q: &[i64], rows: usize, family: Option<u8>) -> Option<Vec<u8>> {
    let (codes, qmin) = split_rows(q, rows)?;
    let plan = plan_codes(&codes, &qmin, 1, family)?;
    Some(plan.encode_as(&codes, &qmin, 1, false, codes.len() / 2))
}

/// What encoding one value of a row needs.
pub(super) struct RowEnc<'a> {
    pub(super) row: &'a [u32],
    pub(super) b: &'a [u8],
    pub(super) cneg: &'a [bool],
    pub(super) picks: &'a [Pick],
    pub(super) syms: &'a [EncSym],
    /// Sign symbols [agrees with the prediction, disagrees] per column class, from the row's
    /// class on (`class_i + class_j` indexes the plan's probabilities).
    pub(super) sign_syms: &'a [[EncSym; 2]],
    pub(super) ccls: &'a [u8],
    pub(super) q0: i64,
    pub(super) rneg: bool,
    pub(super) code_sign: bool,
}

impl RowEnc<'_> {
    /// One coded value of column `j` on state `lane` (all of its symbols, last first).
    #[inline(always)]
    pub(super) fn value(&self, wb: &mut WordBuf, lane: &mut u32, j: usize) {
        let bj = self.b[j];
        if bj == 0 {
            return;
        }
        let v = self.q0 + self.row[j] as i64;
        let m = v.unsigned_abs();
        let p = self.picks[bj as usize];
        let s = p.s as u32;
        let hi = m >> s;
        if m != 0 && self.code_sign {
            // Sign symbol 0 = as predicted.
            let flip = (v < 0) != (self.rneg != self.cneg[j]);
            wb.put(lane, &self.sign_syms[self.ccls[j] as usize][flip as usize]);
        }
        if s > 0 {
            wb.put_uniform_wide(lane, m & ((1u64 << s) - 1), s);
        }
        self.put_magnitude(wb, lane, p, hi);
    }

    /// The magnitude symbol of the high part `hi` under pick `p` (an escape and its bits
    /// beyond the table), on state `lane`.
    #[inline(always)]
    pub(super) fn put_magnitude(&self, wb: &mut WordBuf, lane: &mut u32, p: Pick, hi: u64) {
        let base = p.ti as usize * 256;
        if hi < p.esc as u64 {
            wb.put(lane, &self.syms[base + hi as usize]);
        } else {
            put_escape(
                wb,
                lane,
                &self.syms[base + p.esc as usize],
                hi - p.esc as u64,
            );
        }
    }
}

/// The rANS words of rows `range` (one block; its own four states), in production order.
pub(super) fn encode_rows<C: ModelCode>(
    plan: &ModelPlan,
    codes: &[C],
    qmin: &[i64],
    range: std::ops::Range<usize>,
) -> Vec<u16> {
    encode_rows_with(plan, codes, qmin, range, Enc3Path::best())
}

/// How [`encode_rows_with`] codes the groups of four columns: all write the same words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Enc3Path {
    Scalar,
    /// `enc3_avx2.rs`; the CPU must have AVX2.
    Avx2,
    /// `enc3_avx512.rs`; the CPU must have what its `available` checks.
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    Avx512,
}

impl Enc3Path {
    /// The fastest path this CPU (and compiler) has.
    pub(super) fn best() -> Enc3Path {
        #[cfg(all(target_arch = "x86_64", alcm_avx512))]
        if super::lanes::have_avx2() && super::enc3_avx512::available() {
            return Enc3Path::Avx512;
        }
        if super::lanes::have_avx2() {
            Enc3Path::Avx2
        } else {
            Enc3Path::Scalar
        }
    }
}

/// [`encode_rows`] with the groups of four columns on the given path: the same words either
/// way.
pub(super) fn encode_rows_with<C: ModelCode>(
    plan: &ModelPlan,
    codes: &[C],
    qmin: &[i64],
    range: std::ops::Range<usize>,
    path: Enc3Path,
) -> Vec<u16> {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = path;
    let cols = plan.cols;
    let tabs = tables();
    let syms = enc_syms(plan.family);
    let mut words: Vec<u16> = Vec::with_capacity(range.len() * cols / 4 + 16);
    // The vector paths copy whole slots of SLOT words (AVX2) or store a group's words as one
    // 64-byte vector (AVX-512): room for the last one's tail.
    let mut wb = WordBuf {
        buf: vec![0u16; RUN.min(cols) * MAX_WORDS_PER_VALUE + 32],
        pos: 0,
    };
    #[cfg(target_arch = "x86_64")]
    const _: () = assert!(4 * super::enc3_avx2::SLOT <= 32);
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    const _: () = assert!(super::enc3_avx512::GROUP_ROOM <= 32);
    let sign_syms = plan.sign_syms();
    let cneg = plan.col_pred_neg();
    let [mut x0, mut x1, mut x2, mut x3] = [L; LANES];
    let mut rbuf = row_buf::<C>(cols);
    for i in range.rev() {
        let Some(ctx) = plan.row_enc(i, codes, &mut rbuf, qmin, &cneg, syms, &sign_syms, tabs)
        else {
            continue;
        };
        // Runs of RUN columns (a multiple of LANES) from the end of the row; within a run the
        // four states stay in registers, column j on state j mod 4.
        let mut j1 = cols;
        while j1 > 0 {
            let j0 = (j1 - 1) / RUN * RUN;
            wb.pos = 0;
            let body = j0 + (j1 - j0) / LANES * LANES;
            for j in (body..j1).rev() {
                let lane = match j % LANES {
                    0 => &mut x0,
                    1 => &mut x1,
                    2 => &mut x2,
                    _ => &mut x3,
                };
                ctx.value(&mut wb, lane, j);
            }
            #[cfg(target_arch = "x86_64")]
            if path != Enc3Path::Scalar && super::lanes_enc_avx2::row_fits(ctx.q0) {
                let mut x = [x0, x1, x2, x3];
                match path {
                    #[cfg(alcm_avx512)]
                    Enc3Path::Avx512 => {
                        // SAFETY: the CPU has the features (`path`), the row fits, `body − j0`
                        // is a multiple of 4 within the row.
                        unsafe { super::enc3_avx512::encode_run4(&ctx, &mut wb, &mut x, j0, body) }
                    }
                    // SAFETY: AVX2 checked by the caller (`path`), the row fits, `body − j0`
                    // is a multiple of 4 within the row, `fc` packs the family's symbols and
                    // `wb.buf` has 32 words of room past the run's words.
                    _ => unsafe {
                        super::enc3_avx2::encode_run4(
                            &ctx,
                            super::lanes::packed_syms(plan.family),
                            &mut wb,
                            &mut x,
                            j0,
                            body,
                        );
                    },
                }
                [x0, x1, x2, x3] = x;
                words.extend_from_slice(&wb.buf[..wb.pos]);
                j1 = j0;
                continue;
            }
            for j in (j0..body).step_by(LANES).rev() {
                ctx.value(&mut wb, &mut x3, j + 3);
                ctx.value(&mut wb, &mut x2, j + 2);
                ctx.value(&mut wb, &mut x1, j + 1);
                ctx.value(&mut wb, &mut x0, j);
            }
            words.extend_from_slice(&wb.buf[..wb.pos]);
            j1 = j0;
        }
    }
    crate::entropy::rans::push_final_states(&[x0, x1, x2, x3], &mut words);
    words
}

pub(super) fn push_bits(bits: &[bool], out: &mut Vec<u8>) {
    for c in bits.chunks(8) {
        let mut byte = 0u8;
        for (k, &b) in c.iter().enumerate() {
            byte |= (b as u8) << k;
        }
        out.push(byte);
    }
}
