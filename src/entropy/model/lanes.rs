//! Rank-1 model payload kind 5 (format version ≥ 3): the modelling of kind 4 (same tables,
//! scale codes, sign modes, row blocks), coded on **16 independent rANS states per block, each
//! with its own word stream**. The value in column `j` uses state `j mod 16` for all of its
//! symbols (magnitude, escape, low bits, sign, in the order of kind 4).
//!
//! Why: with kind 4's four states sharing one word stream, each renormalisation waits for the
//! word position of every earlier lane, and the decoder is one serial chain per block. Here a
//! lane depends only on itself, so eight consecutive columns decode as one AVX2 vector (table
//! lookups and word reads by gathers, renormalisation and the optional sign step by selects,
//! two vectors in flight), or all sixteen as one AVX-512 vector (`lanes_dec_avx512.rs`). The
//! scalar path decodes the same lanes one value at a time and gives the same values; the
//! encoder does not depend on the CPU.
//!
//! Block layout (after kind 4's `rows_per_block`): per block, 16 × `u32 W_l` (words of lane
//! `l`, each ≥ 2), then the words of lane 0, lane 1, … (`u16` each); a lane's first two words
//! are its final encoder state, high half first. The decoder checks that each lane returns to
//! `L` and consumes exactly its words.

use super::decode::{bit, dpicks, u_of, value_fast, DPick, Head, Sink};
use super::lane_room::LaneDest;
use super::*;

/// States (and word streams) per block.
pub(crate) const LANES: usize = 16;
/// Columns per run of the encoder's word buffers (a multiple of [`LANES`]).
pub(super) const RUN: usize = 1024;

/// Every lane of a block; [`LOW_LANES`] and [`HIGH_LANES`] are its two halves (one AVX2 group
/// each). Lanes never depend on each other, so a block's two halves coded apart (on two
/// threads) give its words exactly.
pub(crate) const ALL_LANES: std::ops::Range<usize> = 0..LANES;
/// Lanes 0–7.
pub(crate) const LOW_LANES: std::ops::Range<usize> = 0..LANES / 2;
/// Lanes 8–15.
pub(crate) const HIGH_LANES: std::ops::Range<usize> = LANES / 2..LANES;

/// The code that codes a block's runs of 16 columns: all give the same words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EncPath {
    /// Four lanes at a time, one value each (any CPU).
    Scalar,
    /// Two vectors of eight lanes (`lanes_enc_avx2.rs`); the CPU must have AVX2.
    Avx2,
    /// One vector of sixteen lanes (`lanes_enc_avx512.rs`); the CPU must have AVX-512F and
    /// DQ (built by rustc ≥ 1.89 only).
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    Avx512,
}

/// The fastest [`EncPath`] this CPU runs.
pub(crate) fn enc_path() -> EncPath {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if have_avx2() && super::lanes_enc_avx512::available() {
        return EncPath::Avx512;
    }
    match have_avx2() {
        true => EncPath::Avx2,
        false => EncPath::Scalar,
    }
}

/// The paths this CPU (and this build) can run, slowest first: tests compare their words.
#[cfg(test)]
pub(crate) fn enc_paths() -> Vec<EncPath> {
    let mut p = vec![EncPath::Scalar];
    if have_avx2() {
        p.push(EncPath::Avx2);
    }
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if enc_path() == EncPath::Avx512 {
        p.push(EncPath::Avx512);
    }
    p
}

/// The words of the lanes `lanes` of rows `range` (one block) on the given path (which this
/// CPU must run), each lane's in decode order (final state first, high half first; the other
/// lanes' lists empty).
#[cfg(test)]
fn encode_rows_with<C: ModelCode>(
    plan: &ModelPlan,
    codes: &[C],
    qmin: &[i64],
    range: std::ops::Range<usize>,
    path: EncPath,
    lanes: std::ops::Range<usize>,
) -> Vec<Vec<u16>> {
    let mut dests: Vec<LaneDest> = (0..LANES).map(|_| LaneDest::owned()).collect();
    encode_rows_into(plan, codes, qmin, range, path, lanes, &mut dests);
    dests.into_iter().map(LaneDest::into_vec).collect()
}

/// The words of the lanes `lanes` of rows `range` (one block), lane `l`'s appended to
/// `dests[l]` in the order the encoder makes them (last word of the stream first, the final
/// state's two words last).
pub(crate) fn encode_rows_into<C: ModelCode>(
    plan: &ModelPlan,
    codes: &[C],
    qmin: &[i64],
    range: std::ops::Range<usize>,
    path: EncPath,
    lanes: std::ops::Range<usize>,
    words: &mut [LaneDest],
) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = path;
    debug_assert_eq!(words.len(), LANES);
    let cols = plan.cols;
    let tabs = tables();
    let syms = enc_syms(plan.family);
    let per_lane_run = RUN / LANES * MAX_WORDS_PER_VALUE;
    let mut wbs: Vec<WordBuf> = (0..LANES)
        .map(|_| WordBuf {
            buf: vec![0u16; per_lane_run],
            pos: 0,
        })
        .collect();
    let sign_syms = plan.sign_syms();
    let cneg = plan.col_pred_neg();
    let mut x = [L; LANES];
    let mut rbuf = row_buf::<C>(cols);
    // The vector path's word queues (made once a block, not once a row).
    #[cfg(target_arch = "x86_64")]
    let mut queues = VecQueues::new(path);
    for i in range.rev() {
        let Some(ctx) = plan.row_enc(i, codes, &mut rbuf, qmin, &cneg, syms, &sign_syms, tabs)
        else {
            continue;
        };
        let mut j1 = cols;
        while j1 > 0 {
            let j0 = (j1 - 1) / RUN * RUN;
            for wb in wbs.iter_mut() {
                wb.pos = 0;
            }
            let body = j0 + (j1 - j0) / LANES * LANES;
            for j in (body..j1).rev() {
                if lanes.contains(&(j % LANES)) {
                    ctx.value(&mut wbs[j % LANES], &mut x[j % LANES], j);
                }
            }
            #[cfg(target_arch = "x86_64")]
            if let (Some(q), true) = (&mut queues, super::lanes_enc_avx2::row_fits(ctx.q0)) {
                let fc = &flat(plan.family).fc;
                // SAFETY: the queues were made for `path`, which the caller checked this CPU
                // runs; the row fits, `body − j0` is a multiple of LANES within the row, sixteen
                // lanes, `fc` packs the plan family's symbols.
                unsafe { q.encode_run(&ctx, fc, &mut wbs, &mut x, lanes.clone(), j0..body) };
                q.append_run(&wbs, words);
                j1 = j0;
                continue;
            }
            // Lanes are independent: four at a time over the run (four state chains in
            // registers, as kind 4's encoder), each lane's values still last first.
            for g in lanes.clone().step_by(4) {
                let [w0, w1, w2, w3] = &mut wbs[g..g + 4] else {
                    unreachable!("four word buffers")
                };
                let [mut s0, mut s1, mut s2, mut s3] = [x[g], x[g + 1], x[g + 2], x[g + 3]];
                for j in (j0..body).step_by(LANES).rev() {
                    ctx.value(w3, &mut s3, j + g + 3);
                    ctx.value(w2, &mut s2, j + g + 2);
                    ctx.value(w1, &mut s1, j + g + 1);
                    ctx.value(w0, &mut s0, j + g);
                }
                x[g..g + 4].copy_from_slice(&[s0, s1, s2, s3]);
            }
            for (w, wb) in words.iter_mut().zip(&wbs) {
                w.append(&wb.buf[..wb.pos]);
            }
            j1 = j0;
        }
    }
    for (w, &s) in words[lanes.clone()].iter_mut().zip(&x[lanes]) {
        w.append(&[s as u16, (s >> 16) as u16]);
    }
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    if let Some(VecQueues::Avx512(pk)) = queues {
        pk.recycle();
    }
}

/// A vector path's word queues: two of eight lanes for AVX2 (≈ 8 KiB each); for AVX-512 the
/// sixteen lanes' regions (≈ 28 KiB, kept per thread).
#[cfg(target_arch = "x86_64")]
enum VecQueues {
    Avx2(Box<[super::lanes_enc_avx2::Pack; 2]>),
    #[cfg(alcm_avx512)]
    Avx512(Box<super::lanes_enc_avx512::Pack>),
}

#[cfg(target_arch = "x86_64")]
impl VecQueues {
    /// The queues of `path`, none for the scalar path.
    fn new(path: EncPath) -> Option<VecQueues> {
        match path {
            EncPath::Scalar => None,
            EncPath::Avx2 => Some(VecQueues::Avx2(Box::new([
                super::lanes_enc_avx2::Pack::new(),
                super::lanes_enc_avx2::Pack::new(),
            ]))),
            #[cfg(alcm_avx512)]
            EncPath::Avx512 => Some(VecQueues::Avx512(super::lanes_enc_avx512::Pack::cached())),
        }
    }

    /// The path's `encode_run` over the columns `run` of the row `ctx`.
    ///
    /// # Safety
    /// The CPU runs the path these queues were made for, and the path's `encode_run` contract
    /// holds (`row_fits(ctx.q0)`, `run` a multiple of [`LANES`] within the row, sixteen lanes in
    /// `wbs` and `x`, `fc` packing `ctx.syms`).
    unsafe fn encode_run(
        &mut self,
        ctx: &super::encode::RowEnc,
        fc: &[u32],
        wbs: &mut [WordBuf],
        x: &mut [u32],
        lanes: std::ops::Range<usize>,
        run: std::ops::Range<usize>,
    ) {
        match self {
            VecQueues::Avx2(packs) => {
                super::lanes_enc_avx2::encode_run(ctx, fc, wbs, x, lanes, packs, run)
            }
            #[cfg(alcm_avx512)]
            VecQueues::Avx512(pk) => {
                super::lanes_enc_avx512::encode_run(ctx, fc, wbs, x, lanes, pk, run)
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl VecQueues {
    /// Appends each lane's words of the last [`VecQueues::encode_run`] to `words`: the AVX2
    /// path leaves them in the lanes' buffers `wbs`, the AVX-512 path in its own regions (the
    /// buffers emptied).
    fn append_run(&self, wbs: &[WordBuf], words: &mut [LaneDest]) {
        match self {
            VecQueues::Avx2(_) => {
                for (w, wb) in words.iter_mut().zip(wbs) {
                    w.append(&wb.buf[..wb.pos]);
                }
            }
            #[cfg(alcm_avx512)]
            VecQueues::Avx512(pk) => {
                for (l, w) in words.iter_mut().enumerate() {
                    w.append(pk.lane(l));
                }
            }
        }
    }
}

/// Appends one block's lane streams (word counts, then the words): the layout
/// `lane_room::code_group` writes, for tests.
#[cfg(test)]
pub(crate) fn push_block(words: &[Vec<u16>], out: &mut Vec<u8>) {
    for w in words {
        out.extend_from_slice(&(w.len() as u32).to_le_bytes());
    }
    for w in words {
        out.extend(w.iter().flat_map(|v| v.to_le_bytes()));
    }
}

/// One block of a kind-5 payload as read: its words (all lanes, contiguous) and where each
/// lane's words start and end (in words, relative to `words`).
pub(crate) struct LaneBlock<'a> {
    pub(crate) words: &'a [u8],
    pub(crate) start: [usize; LANES],
    pub(crate) end: [usize; LANES],
}

/// Reads one block's word counts and words from `payload[*pos..]` (bounded by the payload).
pub(crate) fn read_block<'a>(payload: &'a [u8], pos: &mut usize) -> Result<LaneBlock<'a>> {
    let short = || Error::truncated("rANS-model payload ends early (lane word counts)");
    let counts = payload.get(*pos..*pos + 4 * LANES).ok_or_else(short)?;
    *pos += 4 * LANES;
    let (mut start, mut end) = ([0usize; LANES], [0usize; LANES]);
    let mut total = 0usize;
    for l in 0..LANES {
        let c = &counts[4 * l..4 * l + 4];
        let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
        if w < 2 {
            return Err(Error::corrupt("rANS-model lane with fewer than 2 words"));
        }
        start[l] = total;
        total = total
            .checked_add(w)
            .ok_or_else(|| Error::corrupt("word count overflows"))?;
        end[l] = total;
    }
    let bytes = total
        .checked_mul(2)
        .ok_or_else(|| Error::corrupt("word count overflows"))?;
    if payload.len() - *pos < bytes {
        return Err(Error::truncated(format!(
            "rANS-model payload ends early ({bytes} bytes of lane words needed)"
        )));
    }
    let words = &payload[*pos..*pos + bytes];
    *pos += bytes;
    Ok(LaneBlock { words, start, end })
}

/// Per family, the decoder's tables laid out for gathers: the slot → symbol map of every table
/// (`t·M + slot`, 4 bytes of padding so a 32-bit gather of the last byte stays inside), the
/// `(cum << 13) | freq` entries (`t·256 + symbol`), per slot of every table its symbol's
/// decoding step (`slot`) and, per `a + b` (0..=510), `table | s << 8 | esc << 16`. Built once
/// per process.
#[cfg(target_arch = "x86_64")]
pub(super) struct Flat {
    pub(super) lut: Vec<u8>,
    pub(super) fc: Vec<u32>,
    /// Per slot (`t·M + slot`): `(freq − 1) | (slot − cum) << 12 | symbol << 24` of the
    /// symbol the slot falls in (freq ≤ M, so 12 bits each): the kind-5 vector decoders' one
    /// gather of a magnitude step (`avx512::magnitude`), where the symbol and then its
    /// frequency were two in a row on the chain of states. 16 KiB a table, four times `lut`
    /// and `fc`: kinds 3 and 6 (the small frames of a training step) keep those, as there the
    /// larger table's first touches cost more than the gather saved (the 16 384-value fc1
    /// gradient, decoded between two compressions: 831–843 → 772–779 MB/s;
    /// docs/PERFORMANCE.md, session 22).
    pub(super) slot: Vec<u32>,
    pub(super) pick: Vec<u32>,
}

#[cfg(target_arch = "x86_64")]
pub(super) fn flat(family: u8) -> &'static Flat {
    const N: usize = super::family::FAMILIES as usize;
    static FLAT: [OnceLock<Flat>; N] = [const { OnceLock::new() }; N];
    FLAT[family as usize].get_or_init(|| {
        let t = super::family::family_tables(family);
        let pick = t
            .pick
            .iter()
            .map(|p| p.ti as u32 | (p.s as u32) << 8 | (p.esc as u32) << 16)
            .collect();
        let slot = t
            .lut
            .iter()
            .enumerate()
            .map(|(k, &sym)| {
                let e = t.fc[k / M as usize * 256 + sym as usize];
                let (freq, cum, at) = (e & 0x1FFF, e >> 13, k as u32 % M);
                debug_assert!((1..=M).contains(&freq) && cum <= at && at - cum < freq);
                (freq - 1) | (at - cum) << 12 | (sym as u32) << 24
            })
            .collect();
        let mut lut = t.lut.clone();
        lut.extend_from_slice(&[0; 4]);
        Flat {
            lut,
            fc: t.fc.clone(),
            slot,
            pick,
        }
    })
}

/// The magnitude symbols of `family` packed `(cum << 13) | freq` (`t·256 + symbol`), for the
/// kind-3 AVX2 encoder (`enc3_avx2.rs`).
#[cfg(target_arch = "x86_64")]
pub(super) fn packed_syms(family: u8) -> &'static [u32] {
    &flat(family).fc
}

/// The decoder's lane states: `x` and the absolute word position of each lane in its block.
struct Lanes {
    x: [u32; LANES],
    pos: [usize; LANES],
}

/// Decodes the rows `row0..` of one block (`out.len() / cols` rows) of a kind-5 payload.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_block<T: Copy + 'static>(
    h: &Head,
    blk: &LaneBlock,
    qmin: &[i64],
    row0: usize,
    out: &mut [T],
    cols: usize,
    put: &impl Fn(&mut T, i64, u32),
    simd: bool,
    sink: Sink,
) -> Result<()> {
    let [r, _] = decode_block_pair(
        h,
        [Some(blk), None],
        qmin,
        row0,
        [out, &mut []],
        cols,
        put,
        simd,
        sink,
    );
    r
}

/// Whether [`decode_block_pair`] takes two blocks' rows side by side on this CPU (the AVX-512
/// decoder, whose groups are bound by one chain's latency); elsewhere it decodes them one
/// after the other.
pub(crate) fn pairs_pay(simd: bool) -> bool {
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    {
        #[cfg(test)]
        if NO_PAIRS.load(std::sync::atomic::Ordering::SeqCst) {
            return false;
        }
        simd && avx512::available()
    }
    #[cfg(not(all(target_arch = "x86_64", alcm_avx512)))]
    {
        let _ = simd;
        false
    }
}

/// Decodes two consecutive blocks, `blk[0]` from row `row0` into `out[0]` and `blk[1]` (if
/// any) into `out[1]` (the rows after), their rows side by side ([`pairs_pay`]); each block's
/// outcome is that of decoding it alone (a missing block: `Ok`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_block_pair<T: Copy + 'static>(
    h: &Head,
    blk: [Option<&LaneBlock>; 2],
    qmin: &[i64],
    row0: usize,
    out: [&mut [T]; 2],
    cols: usize,
    put: &impl Fn(&mut T, i64, u32),
    simd: bool,
    sink: Sink,
) -> [Result<()>; 2] {
    let s = (simd, sink);
    match h.mode {
        SIGN_PLAIN => decode_blocks_mode::<0, T>(h, blk, qmin, row0, out, cols, put, s),
        SIGN_NONE => decode_blocks_mode::<1, T>(h, blk, qmin, row0, out, cols, put, s),
        SIGN_SVD => decode_blocks_mode::<2, T>(h, blk, qmin, row0, out, cols, put, s),
        _ => decode_blocks_mode::<3, T>(h, blk, qmin, row0, out, cols, put, s),
    }
}

/// Whether the AVX2 decoder runs on this CPU (the scalar one gives the same values): AVX2,
/// and POPCNT, which every AVX2 CPU has and the AVX2 coders count mask bits with.
pub(crate) fn have_avx2() -> bool {
    #[cfg(test)]
    if SCALAR_ONLY.load(std::sync::atomic::Ordering::SeqCst) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A block's lane states at its start: each lane's first two words.
fn first_states(blk: &LaneBlock) -> Result<Lanes> {
    let w = blk.words;
    let word = |k: usize| u16::from_le_bytes([w[2 * k], w[2 * k + 1]]) as u32;
    let mut st = Lanes {
        x: [0; LANES],
        pos: [0; LANES],
    };
    for l in 0..LANES {
        st.x[l] = word(blk.start[l]) << 16 | word(blk.start[l] + 1);
        st.pos[l] = blk.start[l] + 2;
    }
    // An encoder's final state is in [L, 2^32); from there every state stays ≥ L, which the
    // AVX-512 decoder relies on (at most two words a value).
    if st.x.iter().any(|&x| x < L) {
        return Err(Error::corrupt(
            "rANS-model lane starts below its lower bound (corrupt payload)",
        ));
    }
    Ok(st)
}

/// A block's outcome from its rows' `decoded` and its lane states after them: a lane that
/// read past its words makes any error a truncation; every lane must end at `L`, having
/// read exactly its words.
fn block_end(blk: &LaneBlock, st: &Lanes, decoded: Result<()>) -> Result<()> {
    let truncated = (0..LANES).any(|l| st.pos[l] > blk.end[l]);
    if truncated {
        return Err(Error::truncated("rANS-model lane word stream ends early"));
    }
    decoded?;
    if st.x != [L; LANES] || st.pos != blk.end {
        return Err(Error::corrupt(
            "rANS-model payload does not decode to its initial state (corrupt payload)",
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn decode_blocks_mode<const MODE: u8, T: Copy + 'static>(
    h: &Head,
    blk: [Option<&LaneBlock>; 2],
    qmin: &[i64],
    row0: usize,
    out: [&mut [T]; 2],
    cols: usize,
    put: &impl Fn(&mut T, i64, u32),
    (simd, sink): (bool, Sink),
) -> [Result<()>; 2] {
    let [out0, out1] = out;
    let rows0 = out0.len() / cols.max(1);
    let st0 = blk[0].map(first_states);
    let st1 = blk[1].map(first_states);
    // Gathers index words with i32 (and need ≥ 4 words to read the AVX2 decoder's four).
    let fits = |b: Option<&LaneBlock>| {
        b.map_or(true, |b| {
            b.words.len() / 2 <= i32::MAX as usize && b.words.len() >= 8
        })
    };
    let simd = simd && fits(blk[0]) && fits(blk[1]);
    let ctx = RowsCtx::<T, _>::new(h, qmin, cols, put, simd, sink);
    match (st0, st1) {
        (Some(Ok(mut s0)), Some(Ok(mut s1))) => {
            let (b0, b1) = (blk[0].expect("paired"), blk[1].expect("paired"));
            let [d0, d1] = ctx.rows_pair::<MODE>(
                [b0.words, b1.words],
                [&mut s0, &mut s1],
                [row0, row0 + rows0],
                [out0, out1],
            );
            [block_end(b0, &s0, d0), block_end(b1, &s1, d1)]
        }
        (s0, s1) => {
            // A block whose first states are refused fails; the other is decoded alone.
            let one =
                |b: Option<&LaneBlock>, st: Option<Result<Lanes>>, r0: usize, o: &mut [T]| match (
                    b, st,
                ) {
                    (Some(b), Some(Ok(mut st))) => {
                        let d = ctx.rows::<MODE>(b.words, &mut st, r0, o);
                        block_end(b, &st, d)
                    }
                    (_, Some(Err(e))) => Err(e),
                    _ => Ok(()),
                };
            [
                one(blk[0], s0, row0, out0),
                one(blk[1], s1, row0 + rows0, out1),
            ]
        }
    }
}

/// What the rows of a payload's blocks share.
struct RowsCtx<'a, T, P> {
    h: &'a Head<'a>,
    dp: &'static [DPick],
    qmin: &'a [i64],
    cols: usize,
    put: &'a P,
    simd: bool,
    wide: bool,
    sink: Sink,
    /// The smallest non-zero column scale code when every non-zero one lies within 31 of it
    /// (see `RowSimd::win`).
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    b_lo: Option<u8>,
    /// The same within 15 (`RowSimd::win16`).
    #[cfg(target_arch = "x86_64")]
    b_lo16: Option<u8>,
    _t: std::marker::PhantomData<fn(&mut T)>,
}

/// One row's parameters: its codes' offset, scale code, picks, sign prediction and sign
/// frequencies.
struct RowPar<'a> {
    q0: i64,
    ai: u8,
    picks: &'a [DPick],
    rneg: bool,
    fr: [u32; 4],
}

impl<'a, T: Copy + 'static, P: Fn(&mut T, i64, u32)> RowsCtx<'a, T, P> {
    fn new(
        h: &'a Head<'a>,
        qmin: &'a [i64],
        cols: usize,
        put: &'a P,
        simd: bool,
        sink: Sink,
    ) -> Self {
        // All 16 lanes in one vector on rows of at least 16 columns (the rest of such a row,
        // under 16 columns, one value at a time).
        #[cfg(all(target_arch = "x86_64", alcm_avx512))]
        let wide = simd && cols >= LANES && avx512::available();
        #[cfg(not(all(target_arch = "x86_64", alcm_avx512)))]
        let wide = false;
        // The vector sinks write f32; any other element type goes through `put`.
        let sink = if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
            sink
        } else {
            Sink::Put
        };
        #[cfg(target_arch = "x86_64")]
        let coded = &h.b[..cols.min(h.b.len())];
        // Each window only for the decoder that reads it: 32 for the 16-lane one, 16 for the
        // AVX2 one.
        #[cfg(all(target_arch = "x86_64", alcm_avx512))]
        let b_lo = wide.then(|| pick_window_base(coded, 32)).flatten();
        #[cfg(target_arch = "x86_64")]
        let b_lo16 = (simd && !wide)
            .then(|| pick_window_base(coded, 16))
            .flatten();
        RowsCtx {
            h,
            dp: dpicks(h.family),
            qmin,
            cols,
            put,
            simd,
            wide,
            sink,
            #[cfg(all(target_arch = "x86_64", alcm_avx512))]
            b_lo,
            #[cfg(target_arch = "x86_64")]
            b_lo16,
            _t: std::marker::PhantomData,
        }
    }

    fn par<const MODE: u8>(&self, i: usize) -> RowPar<'static> {
        let h = self.h;
        let ai = h.a[i];
        let rc = if MODE == SIGN_CLASSES {
            sign::class_at(h.rcls, i) as usize
        } else {
            0
        };
        RowPar {
            q0: self.qmin[i],
            ai,
            picks: &self.dp[ai as usize..ai as usize + 256],
            rneg: (MODE == SIGN_SVD || MODE == SIGN_CLASSES) && bit(h.rs, i),
            fr: [h.fs[rc], h.fs[rc + 1], h.fs[rc + 2], h.fs[rc + 3]],
        }
    }

    /// One value of column j on its lane, one symbol at a time.
    #[inline(always)]
    fn scalar<const MODE: u8>(
        &self,
        rp: &RowPar,
        w: &[u8],
        st: &mut Lanes,
        j: usize,
    ) -> Result<i64> {
        let h = self.h;
        let bj = h.b[j];
        if bj == 0 {
            return Ok(0);
        }
        let l = j % LANES;
        let f = if MODE == SIGN_CLASSES {
            rp.fr[h.ccls[j] as usize & 3]
        } else {
            rp.fr[0]
        };
        let svd = MODE == SIGN_SVD || MODE == SIGN_CLASSES;
        value_fast::<MODE>(
            &mut st.x[l],
            w,
            &mut st.pos[l],
            &rp.picks[bj as usize],
            svd && (rp.rneg != h.cneg[j]),
            f,
        )
    }

    #[cfg(target_arch = "x86_64")]
    fn row_simd<'w>(&self, rp: &RowPar, w: &'w [u8]) -> RowSimd<'w>
    where
        'a: 'w,
    {
        let cols = self.cols;
        let fl = flat(self.h.family);
        RowSimd {
            w,
            fl,
            ai: rp.ai,
            #[cfg(all(target_arch = "x86_64", alcm_avx512))]
            win: self.b_lo.map(|lo| pick_window(fl, rp.ai, lo, 32)),
            win16: self.b_lo16.map(|lo| pick_window(fl, rp.ai, lo, 16)),
            b: &self.h.b[..cols],
            cneg: &self.h.cneg[..cols],
            ccls: &self.h.ccls[..cols],
            fr: rp.fr,
            rneg: rp.rneg,
        }
    }

    /// A row's values from column `j` (the vector groups' end) one at a time, then its code
    /// range check (the extremes `(qlo, qhi)` of its codes, from the vector groups' so far).
    fn row_end<const MODE: u8>(
        &self,
        rp: &RowPar,
        w: &[u8],
        st: &mut Lanes,
        orow: &mut [T],
        (j, mut qlo, mut qhi): (usize, i64, i64),
    ) -> Result<()> {
        let mut scalar = |st: &mut Lanes, j: usize| self.scalar::<MODE>(rp, w, st, j);
        let cols = orow.len();
        scalar_run(
            st,
            orow,
            j..cols,
            rp.q0,
            self.put,
            &mut scalar,
            (&mut qlo, &mut qhi),
        )?;
        u_of(qlo, rp.q0, self.h.max_u)?;
        u_of(qhi, rp.q0, self.h.max_u)?;
        Ok(())
    }

    /// Row `i` of a block (words `w`, lane states `st`) straight into `orow`: vector groups of
    /// 16 or 8 columns where possible (their values converted and stored or added with vectors
    /// when the sink allows), the rest one value at a time on its lane; then the row's code
    /// range check.
    fn row<const MODE: u8>(
        &self,
        w: &[u8],
        st: &mut Lanes,
        i: usize,
        orow: &mut [T],
    ) -> Result<()> {
        let rp = self.par::<MODE>(i);
        if rp.ai == 0 {
            let u = u_of(0, rp.q0, self.h.max_u)?;
            orow.iter_mut().for_each(|o| (self.put)(o, 0, u));
            return Ok(());
        }
        let mut done = (0, i64::MAX, i64::MIN);
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            let row = self.row_simd(&rp, w);
            let mut scalar = |st: &mut Lanes, j: usize| self.scalar::<MODE>(&rp, w, st, j);
            #[cfg(alcm_avx512)]
            if self.wide {
                // SAFETY: `wide` is only set when AVX-512F is present; a vector sink is only
                // used when T is f32 (`new`).
                done = unsafe {
                    avx512::row::<MODE, T>(&row, st, orow, rp.q0, self.put, self.sink, &mut scalar)?
                };
            }
            if done.0 == 0 {
                // SAFETY: `simd` is only set when AVX2 is present (`have_avx2`); a vector sink
                // is only used when T is f32 (`new`).
                done = unsafe {
                    row_avx2::<MODE, T>(&row, st, orow, rp.q0, self.put, self.sink, &mut scalar)?
                };
            }
        }
        self.row_end::<MODE>(&rp, w, st, orow, done)
    }

    /// The rows of a block from row `row0` (`out.len() / cols` rows).
    fn rows<const MODE: u8>(
        &self,
        w: &[u8],
        st: &mut Lanes,
        row0: usize,
        out: &mut [T],
    ) -> Result<()> {
        for (i, orow) in (row0..).zip(out.chunks_exact_mut(self.cols)) {
            self.row::<MODE>(w, st, i, orow)?;
        }
        Ok(())
    }

    /// Two blocks' rows, row `k` of one beside row `k` of the other where both take the
    /// AVX-512 decoder (`avx512::row_pair`), else one after the other; then the longer
    /// block's last rows alone. A block that fails stops there while the other goes on.
    fn rows_pair<const MODE: u8>(
        &self,
        w: [&[u8]; 2],
        st: [&mut Lanes; 2],
        row0: [usize; 2],
        out: [&mut [T]; 2],
    ) -> [Result<()>; 2] {
        let [st0, st1] = st;
        let [out0, out1] = out;
        let mut r0 = out0.chunks_exact_mut(self.cols);
        let mut r1 = out1.chunks_exact_mut(self.cols);
        let (mut i0, mut i1) = (row0[0], row0[1]);
        let mut done = [Ok(()), Ok(())];
        for _ in 0..r0.len().min(r1.len()) {
            let (Some(o0), Some(o1)) = (r0.next(), r1.next()) else {
                unreachable!("both blocks have rows left");
            };
            let (p0, p1) = (self.par::<MODE>(i0), self.par::<MODE>(i1));
            done = if self.wide && p0.ai != 0 && p1.ai != 0 {
                self.row_pair_wide::<MODE>(w, [&p0, &p1], [&mut *st0, &mut *st1], [o0, o1])
            } else {
                [
                    self.row::<MODE>(w[0], st0, i0, o0),
                    self.row::<MODE>(w[1], st1, i1, o1),
                ]
            };
            (i0, i1) = (i0 + 1, i1 + 1);
            if done.iter().any(|d| d.is_err()) {
                break;
            }
        }
        // A block that has not failed decodes its rows left alone: the longer block's last
        // rows, or every row after its partner failed.
        let [d0, d1] = done;
        [
            d0.and_then(|()| {
                r0.zip(i0..)
                    .try_for_each(|(o, i)| self.row::<MODE>(w[0], st0, i, o))
            }),
            d1.and_then(|()| {
                r1.zip(i1..)
                    .try_for_each(|(o, i)| self.row::<MODE>(w[1], st1, i, o))
            }),
        ]
    }

    /// Two rows with a scale code each on the AVX-512 decoder side by side, then their ends.
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    fn row_pair_wide<const MODE: u8>(
        &self,
        w: [&[u8]; 2],
        rp: [&RowPar; 2],
        st: [&mut Lanes; 2],
        out: [&mut [T]; 2],
    ) -> [Result<()>; 2] {
        let [st0, st1] = st;
        let [o0, o1] = out;
        let (row0, row1) = (self.row_simd(rp[0], w[0]), self.row_simd(rp[1], w[1]));
        let mut s0 = |st: &mut Lanes, j: usize| self.scalar::<MODE>(rp[0], w[0], st, j);
        let mut s1 = |st: &mut Lanes, j: usize| self.scalar::<MODE>(rp[1], w[1], st, j);
        // SAFETY: `wide` (checked by the caller) is only set when AVX-512F is present; a
        // vector sink is only used when T is f32 (`new`); both rows have `cols` values.
        let [d0, d1] = unsafe {
            avx512::row_pair::<MODE, T>(
                [&row0, &row1],
                [&mut *st0, &mut *st1],
                [&mut *o0, &mut *o1],
                [rp[0].q0, rp[1].q0],
                self.put,
                self.sink,
                [&mut s0, &mut s1],
            )
        };
        [
            d0.and_then(|d| self.row_end::<MODE>(rp[0], w[0], st0, o0, d)),
            d1.and_then(|d| self.row_end::<MODE>(rp[1], w[1], st1, o1, d)),
        ]
    }

    #[cfg(not(all(target_arch = "x86_64", alcm_avx512)))]
    fn row_pair_wide<const MODE: u8>(
        &self,
        _: [&[u8]; 2],
        _: [&RowPar; 2],
        _: [&mut Lanes; 2],
        _: [&mut [T]; 2],
    ) -> [Result<()>; 2] {
        unreachable!("`wide` is false without the AVX-512 decoder")
    }
}

/// The values `range` of a row one at a time on their lanes (a row's tail, or a group the
/// vector step declined), into `out` by `put`, widening `ext` (lowest, highest) by their codes.
fn scalar_run<T, S: FnMut(&mut Lanes, usize) -> Result<i64> + ?Sized>(
    st: &mut Lanes,
    out: &mut [T],
    range: std::ops::Range<usize>,
    q0: i64,
    put: &impl Fn(&mut T, i64, u32),
    scalar: &mut S,
    ext: (&mut i64, &mut i64),
) -> Result<()> {
    for k in range {
        let q = scalar(st, k)?;
        *ext.0 = (*ext.0).min(q);
        *ext.1 = (*ext.1).max(q);
        put(&mut out[k], q, q.wrapping_sub(q0) as u32);
    }
    Ok(())
}

/// A vector group's codes `qs` into `out` by `put` (the sink of element types other than f32).
#[cfg(target_arch = "x86_64")]
pub(super) fn put_codes<T>(out: &mut [T], qs: &[i32], q0: i64, put: &impl Fn(&mut T, i64, u32)) {
    for (o, &q) in out.iter_mut().zip(qs) {
        let q = q as i64;
        put(o, q, q.wrapping_sub(q0) as u32);
    }
}

/// The smallest non-zero column scale code `b_lo` when every non-zero one lies within
/// `width − 1` of it (`RowSimd::win`, `RowSimd::win16`), else `None`.
#[cfg(target_arch = "x86_64")]
fn pick_window_base(b: &[u8], width: u8) -> Option<u8> {
    let nz = b.iter().filter(|&&v| v != 0);
    match (nz.clone().min(), nz.max()) {
        (Some(&lo), Some(&hi)) if hi - lo < width => Some(lo),
        _ => None,
    }
}

/// The start of a row's window of `width` picks (`RowSimd::win`, `RowSimd::win16`) for its
/// scale code `ai` and the columns' `b_lo` ([`pick_window_base`]): a coded column's
/// `a_i + b_j` lies in `a_i + b_lo ..= a_i + b_lo + width − 1` and is never past 510 (the last
/// of the 511 picks), so the window from min(a_i + b_lo, 511 − width) holds every coded
/// column's pick.
#[cfg(target_arch = "x86_64")]
pub(super) fn pick_window(fl: &Flat, ai: u8, b_lo: u8, width: usize) -> usize {
    (ai as usize + b_lo as usize).min(fl.pick.len() - width)
}

/// What a vector group of a row needs.
#[cfg(target_arch = "x86_64")]
struct RowSimd<'a> {
    w: &'a [u8],
    fl: &'a Flat,
    ai: u8,
    /// Where every coded column's pick `a + b_j` lies in `fl.pick[win..win + 32]`, if it does
    /// (the non-zero column scale codes within 31 of each other, as on the MiniLM weights: the
    /// AVX-512 decoder then takes a group's picks by one permute of two vectors instead of a
    /// gather).
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    win: Option<usize>,
    /// Where they lie in `fl.pick[win16..win16 + 16]`, if they do (within 15 of each other):
    /// the AVX2 decoder then takes a group's picks by two permutes of 8 instead of a gather.
    win16: Option<usize>,
    b: &'a [u8],
    cneg: &'a [bool],
    ccls: &'a [u8],
    fr: [u32; 4],
    rneg: bool,
}

/// Word `min(p + k, maxw)` of each lane from the four words from `q` (`wa`: words q, q + 1;
/// `wb`: words q + 2, q + 3), where `q ≤ min(p + k, maxw) ≤ q + 3` ([`groups_avx2`]).
///
/// # Safety
/// AVX2 must be available (inlined into AVX2 code only; no closures, which would not take
/// the caller's features).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn window_word(
    wa: std::arch::x86_64::__m256i,
    wb: std::arch::x86_64::__m256i,
    p: std::arch::x86_64::__m256i,
    q: std::arch::x86_64::__m256i,
    maxw: std::arch::x86_64::__m256i,
    k: i32,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let c = _mm256_sub_epi32(
        _mm256_min_epu32(_mm256_add_epi32(p, _mm256_set1_epi32(k)), maxw),
        q,
    );
    // Shifts of 32 or more give 0: words 0–1 from `wa`, 2–3 from `wb`.
    let sh = _mm256_slli_epi32::<4>(c);
    let hi = _mm256_srlv_epi32(wb, _mm256_sub_epi32(sh, _mm256_set1_epi32(32)));
    _mm256_and_si256(
        _mm256_or_si256(_mm256_srlv_epi32(wa, sh), hi),
        _mm256_set1_epi32(0xFFFF),
    )
}

/// The lanes whose state `v` is below L (`lim`: L with its sign bit flipped, for an unsigned
/// comparison) shift in their word `wd`: the new states, and the mask of lanes that took it.
///
/// # Safety
/// As [`window_word`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn renorm_avx2(
    v: std::arch::x86_64::__m256i,
    wd: std::arch::x86_64::__m256i,
    lim: std::arch::x86_64::__m256i,
    sign_bit: std::arch::x86_64::__m256i,
) -> (std::arch::x86_64::__m256i, std::arch::x86_64::__m256i) {
    use std::arch::x86_64::*;
    let need = _mm256_cmpgt_epi32(lim, _mm256_xor_si256(v, sign_bit));
    let nv = _mm256_or_si256(_mm256_slli_epi32::<16>(v), wd);
    (_mm256_blendv_epi8(v, nv, need), need)
}

/// Columns `j[k]..j[k] + 8` (lanes `j[k] mod 16 ..`, eight consecutive lanes) as one vector
/// each, for k < N (N = 2: the two halves of the lanes, whose chains of states are
/// independent, step by step side by side): the same steps as `value_fast`, each lane with
/// its own word position; a lane of a zero column keeps its state (and its code is 0).
/// Returns the new states and positions and the eight codes `q` (|q| < 2^16) of each group,
/// or `None`, having changed nothing, when a lane needs an escape or more than 8 low bits
/// (the caller decodes the groups one at a time).
///
/// Why side by side: on Zen 3 a group's gathers (~27 cycles) stall the ~60 operations after
/// them, which fill the vector scheduler; the other chain's operations, after them in program
/// order, then wait too. Interleaved, each waiting operation has an independent neighbour.
///
/// # Safety
/// AVX2 must be available: inlined into AVX2 code only ([`row_avx2`]; as a function of its
/// own with that feature, rustc 1.95 left it uninlined in most copies, a call per group with
/// its vectors through memory; and no closures, which would not take the caller's features).
/// Every gather stays inside its slice: table indices are bounded by the table layout
/// (`Flat`), word reads are clamped to the block's last word.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the steps of the N groups, side by side
unsafe fn groups_avx2<const MODE: u8, const N: usize>(
    r: &RowSimd,
    x: [std::arch::x86_64::__m256i; N],
    p: [std::arch::x86_64::__m256i; N],
    j: [usize; N],
) -> Option<(
    [std::arch::x86_64::__m256i; N],
    [std::arch::x86_64::__m256i; N],
    [std::arch::x86_64::__m256i; N],
)> {
    use std::arch::x86_64::*;
    debug_assert!(j.iter().all(|&j| j + 8 <= r.b.len()));
    let zero = _mm256_setzero_si256();
    let ones = _mm256_set1_epi32(-1);
    let sign_bit = _mm256_set1_epi32(i32::MIN);
    let lim = _mm256_set1_epi32(L as i32 ^ i32::MIN);
    let last = (r.w.len() / 2 - 1) as i32;
    let maxw = _mm256_set1_epi32(last);
    let wbase = r.w.as_ptr() as *const i32;
    let v0 = [zero; N];
    // A value takes at most three words (one per step), each lane's next ones in order from
    // its position p: the four words from q = min(p, last − 3) come in by two gathers that
    // depend on p only, off the chain of states, and a renormalisation picks its word from
    // them. Word p + k is read as word min(p + k, last) (a lane past its end is reported as
    // truncated after the block, whatever it read), at offset c = min(p + k, last) − q ≤ 3.
    let (mut q, mut wa, mut wb) = (v0, v0, v0);
    for k in 0..N {
        q[k] = _mm256_min_epu32(p[k], _mm256_set1_epi32(last - 3));
        wa[k] = _mm256_i32gather_epi32::<2>(wbase, q[k]);
        wb[k] = _mm256_i32gather_epi32::<2>(wbase, _mm256_add_epi32(q[k], _mm256_set1_epi32(2)));
    }
    let (mut act, mut ti, mut s, mut esc) = (v0, v0, v0, v0);
    let mut wide = zero;
    for k in 0..N {
        (act[k], ti[k], s[k], esc[k]) =
            steps_avx2::picks(r.fl, r.ai, r.win16, r.b.as_ptr().add(j[k]));
        let w = _mm256_and_si256(_mm256_cmpgt_epi32(s[k], _mm256_set1_epi32(8)), act[k]);
        wide = _mm256_or_si256(wide, w);
    }
    if _mm256_movemask_epi8(wide) != 0 {
        return None;
    }
    // Magnitude step: the slot's entry (`Flat::slot`: symbol, frequency, offset in its
    // range) by one gather, where the symbol and then its frequency took two in a row.
    let mut e = v0;
    for k in 0..N {
        e[k] = steps_avx2::slot_entries(r.fl, ti[k], x[k]);
    }
    let mut sym = v0;
    let mut bad = zero;
    for k in 0..N {
        sym[k] = _mm256_srli_epi32::<24>(e[k]);
        let b = _mm256_xor_si256(_mm256_cmpgt_epi32(esc[k], sym[k]), ones);
        bad = _mm256_or_si256(bad, _mm256_and_si256(b, act[k]));
    }
    if _mm256_movemask_epi8(bad) != 0 {
        return None;
    }
    let (mut v, mut n1, mut p1, mut w0, mut w1) = (v0, v0, v0, v0, v0);
    for k in 0..N {
        w0[k] = window_word(wa[k], wb[k], p[k], q[k], maxw, 0);
        w1[k] = window_word(wa[k], wb[k], p[k], q[k], maxw, 1);
        let vk = steps_avx2::magnitude_state(e[k], x[k]);
        (v[k], n1[k]) = renorm_avx2(vk, w0[k], lim, sign_bit);
        p1[k] = _mm256_sub_epi32(p[k], n1[k]);
    }
    // s ≤ 8 low bits.
    let (mut n2, mut p2, mut m) = (v0, v0, v0);
    for k in 0..N {
        let vk;
        (vk, m[k]) = steps_avx2::low_bits(v[k], s[k], sym[k]);
        let wd = _mm256_blendv_epi8(w0[k], w1[k], n1[k]);
        (v[k], n2[k]) = renorm_avx2(vk, wd, lim, sign_bit);
        p2[k] = _mm256_sub_epi32(p1[k], n2[k]);
    }
    let (mut xo, mut po, mut qo) = (v0, v0, v0);
    for k in 0..N {
        let (vf, pf, neg) = if MODE == SIGN_NONE {
            (v[k], p2[k], zero)
        } else {
            let f = steps_avx2::sign_freqs::<MODE>(r.fr, r.ccls.as_ptr().add(j[k]));
            let (flip, v2) = steps_avx2::sign_state(v[k], f);
            // The third word: w0, w1 or w2 by the words the first two steps took.
            let wd = _mm256_blendv_epi8(
                _mm256_blendv_epi8(w0[k], w1[k], _mm256_or_si256(n1[k], n2[k])),
                window_word(wa[k], wb[k], p[k], q[k], maxw, 2),
                _mm256_and_si256(n1[k], n2[k]),
            );
            let (v2, n3) = renorm_avx2(v2, wd, lim, sign_bit);
            let p3 = _mm256_sub_epi32(p2[k], n3);
            let nz = _mm256_xor_si256(_mm256_cmpeq_epi32(m[k], zero), ones);
            let pred = steps_avx2::predicted_neg::<MODE>(r.cneg.as_ptr().add(j[k]), r.rneg);
            (
                _mm256_blendv_epi8(v[k], v2, nz),
                _mm256_blendv_epi8(p2[k], p3, nz),
                _mm256_and_si256(_mm256_xor_si256(flip, pred), nz),
            )
        };
        xo[k] = _mm256_blendv_epi8(x[k], vf, act[k]);
        po[k] = _mm256_blendv_epi8(p[k], pf, act[k]);
        qo[k] = _mm256_and_si256(_mm256_sub_epi32(_mm256_xor_si256(m[k], neg), neg), act[k]);
    }
    Some((xo, po, qo))
}

/// The vector groups of a row (columns `0..cols / 8 · 8`) with the 16 lane states held in two
/// vectors, each group's values written into `out` by `sink` (a vector sink only when T is
/// f32); a group the vector step declines (escape, wide low bits) goes through `scalar` on
/// the lane states and `put`. Returns the number of columns done and the extremes of their
/// codes.
///
/// # Safety
/// AVX2 must be available; see [`groups_avx2`]. `sink` is [`Sink::Put`] unless T is f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn row_avx2<const MODE: u8, T: Copy>(
    r: &RowSimd,
    st: &mut Lanes,
    out: &mut [T],
    q0: i64,
    put: &impl Fn(&mut T, i64, u32),
    sink: Sink,
    scalar: &mut dyn FnMut(&mut Lanes, usize) -> Result<i64>,
) -> Result<(usize, i64, i64)> {
    use std::arch::x86_64::*;
    let load = |st: &Lanes, h: usize| {
        let ps: [u32; 8] = std::array::from_fn(|k| st.pos[8 * h + k] as u32);
        (
            _mm256_loadu_si256(st.x.as_ptr().add(8 * h) as *const __m256i),
            _mm256_loadu_si256(ps.as_ptr() as *const __m256i),
        )
    };
    let store = |st: &mut Lanes, h: usize, x: __m256i, p: __m256i| {
        let mut ps = [0u32; 8];
        _mm256_storeu_si256(st.x.as_mut_ptr().add(8 * h) as *mut __m256i, x);
        _mm256_storeu_si256(ps.as_mut_ptr() as *mut __m256i, p);
        for (sp, &p) in st.pos[8 * h..8 * h + 8].iter_mut().zip(&ps) {
            *sp = p as usize;
        }
    };
    let consts = steps_avx2::sink_consts(sink);
    let (mut vlo, mut vhi) = (_mm256_set1_epi32(i32::MAX), _mm256_set1_epi32(i32::MIN));
    let (mut qlo, mut qhi) = (i64::MAX, i64::MIN);
    let mut any_vector = false;
    let (mut x0, mut p0) = load(st, 0);
    let (mut x1, mut p1) = load(st, 1);
    let cols8 = out.len() / 8 * 8;
    // A group's codes `qv` of columns `j..j + 8` into `out`.
    // Columns j..j + 16 a step: lanes 0–7 (x0, p0), then 8–15 (x1, p1), both vector steps
    // in one straight line so that the two chains of states overlap. The two groups share no
    // lane, so the second's step may run before the first's values are taken (or, where the
    // first is declined, decoded one at a time), as in the order of the columns.
    let mut j = 0;
    while j < cols8 {
        let two = j + 16 <= cols8;
        let pair = if two {
            groups_avx2::<MODE, 2>(r, [x0, x1], [p0, p1], [j, j + 8])
        } else {
            None
        };
        let (g0, g1) = match pair {
            Some(([xa, xb], [pa, pb], [qa, qb])) => (Some((xa, pa, qa)), Some((xb, pb, qb))),
            // A group declined (or one group left): one at a time.
            None => (
                groups_avx2::<MODE, 1>(r, [x0], [p0], [j]).map(|([x], [p], [q])| (x, p, q)),
                match two {
                    true => groups_avx2::<MODE, 1>(r, [x1], [p1], [j + 8])
                        .map(|([x], [p], [q])| (x, p, q)),
                    false => None,
                },
            ),
        };
        (x0, p0) = match g0 {
            Some((x, p, qv)) => {
                any_vector = true;
                vlo = _mm256_min_epi32(vlo, qv);
                vhi = _mm256_max_epi32(vhi, qv);
                steps_avx2::sink8(&mut out[j..j + 8], qv, sink, consts, q0, put);
                (x, p)
            }
            None => {
                store(st, 0, x0, p0);
                scalar_run(st, out, j..j + 8, q0, put, scalar, (&mut qlo, &mut qhi))?;
                load(st, 0)
            }
        };
        if two {
            (x1, p1) = match g1 {
                Some((x, p, qv)) => {
                    any_vector = true;
                    vlo = _mm256_min_epi32(vlo, qv);
                    vhi = _mm256_max_epi32(vhi, qv);
                    steps_avx2::sink8(&mut out[j + 8..j + 16], qv, sink, consts, q0, put);
                    (x, p)
                }
                None => {
                    store(st, 1, x1, p1);
                    let k = j + 8;
                    scalar_run(st, out, k..k + 8, q0, put, scalar, (&mut qlo, &mut qhi))?;
                    load(st, 1)
                }
            };
        }
        j += if two { 16 } else { 8 };
    }
    store(st, 0, x0, p0);
    store(st, 1, x1, p1);
    let (mut lo, mut hi) = ([0i32; 8], [0i32; 8]);
    _mm256_storeu_si256(lo.as_mut_ptr() as *mut __m256i, vlo);
    _mm256_storeu_si256(hi.as_mut_ptr() as *mut __m256i, vhi);
    if any_vector {
        qlo = qlo.min(lo.into_iter().min().unwrap_or(i32::MAX) as i64);
        qhi = qhi.max(hi.into_iter().max().unwrap_or(i32::MIN) as i64);
    }
    Ok((cols8, qlo, qhi))
}

/// Tests only: when set, [`have_avx2`] answers false, so the scalar path decodes (it gives
/// the same values; other tests running meanwhile are unaffected but for speed).
#[cfg(test)]
pub(crate) static SCALAR_ONLY: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Tests only: when set, the AVX-512 decoder and encoder are not used (the AVX2 ones run
/// instead).
#[cfg(test)]
pub(crate) static NO_AVX512: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Tests only: when set, blocks are decoded one at a time ([`pairs_pay`] answers false).
#[cfg(test)]
pub(crate) static NO_PAIRS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

#[cfg(all(target_arch = "x86_64", alcm_avx512))]
#[path = "lanes_dec_avx512.rs"]
pub(super) mod avx512;

#[cfg(test)]
#[path = "lanes_tests.rs"]
pub(super) mod tests;
