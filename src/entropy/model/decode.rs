//! The model's decoder: payload header, then each block's rows with a fast path for the
//! common value and the rare cases (escapes, wide low bits) out of line; values are written
//! straight into the caller's buffer (codes, code bits or dequantized values).

use super::*;

pub(super) struct Rd<'a> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Rd<'a> {
    pub(super) fn take(&mut self, k: usize) -> Result<&'a [u8]> {
        if self.b.len() - self.pos < k {
            return Err(Error::truncated(format!(
                "rANS-model payload ends early ({k} more bytes needed)"
            )));
        }
        let s = &self.b[self.pos..self.pos + k];
        self.pos += k;
        Ok(s)
    }
    pub(super) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
}

pub(super) fn read_bits<'a>(r: &mut Rd<'a>, n: usize) -> Result<&'a [u8]> {
    r.take(n.div_ceil(8))
}

#[inline(always)]
pub(super) fn bit(bytes: &[u8], i: usize) -> bool {
    bytes[i / 8] >> (i % 8) & 1 != 0
}

/// Decodes a payload into the frame's codes `u = q − qmin_c` (`out.len()` values, `qmin.len()`
/// rows), checking that each code fits `width` bytes.
pub fn decode(payload: &[u8], qmin: &[i64], width: u8, out: &mut [u32]) -> Result<()> {
    decode_with(payload, qmin, width, out, 1, Sink::Put, |o, _, u| *o = u)
}

/// `decode` into codes held as f32 bits (`f32::from_bits(u)`), for in-place dequantization
/// by the decoder without a code buffer; the blocks of a kind-2 payload on up to `threads`
/// threads.
pub fn decode_code_bits(
    payload: &[u8],
    qmin: &[i64],
    width: u8,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    decode_with(payload, qmin, width, out, threads, Sink::Put, |o, _, u| {
        *o = f32::from_bits(u)
    })
}

/// Decodes a payload straight to values, `x̂ = (q · step) as f32` — the same arithmetic as
/// `quant::dequantize` for uniform codes (`q = qmin_c + u` exactly), fused into the decode loop.
/// The code range checks are those of `decode`.
/// The blocks of a kind-2 payload are decoded on up to `threads` threads.
pub fn decode_values(
    payload: &[u8],
    qmin: &[i64],
    step: f64,
    width: u8,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    decode_with(
        payload,
        qmin,
        width,
        out,
        threads,
        Sink::Store(step),
        |o, q, _| *o = (q as f64 * step) as f32,
    )
}

/// As [`decode_values`], but each value is added: `out[i] += scale · x̂[i]` (f32 product, then
/// f32 sum: the arithmetic of decoding and then adding), with no buffer of decoded values. On
/// error `out` may be partly summed.
pub fn accumulate_values(
    payload: &[u8],
    qmin: &[i64],
    step: f64,
    width: u8,
    scale: f32,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    decode_with(
        payload,
        qmin,
        width,
        out,
        threads,
        Sink::Add(step, scale),
        |o, q, _| *o += scale * (q as f64 * step) as f32,
    )
}

/// What the decoder does with a value, as the vector paths see it: `Put` — call the scalar
/// `put` (codes); `Store(step)` — `out = (q · step) as f32`; `Add(step, scale)` —
/// `out += scale · (q · step) as f32`. The scalar `put` given with `Store` / `Add` does the
/// same arithmetic.
#[derive(Clone, Copy, Debug)]
pub(super) enum Sink {
    Put,
    Store(f64),
    Add(f64, f32),
}

/// The parsed side information of a payload.
pub(super) struct Head<'a> {
    /// Shape family (table set; kinds 1–2: 0, the Gaussian).
    pub(super) family: u8,
    pub(super) mode: u8,
    /// P(sign as predicted) · M per class sum (all equal unless sign mode 3).
    pub(super) fs: [u32; BINS],
    pub(super) a: &'a [u8],
    pub(super) b: &'a [u8],
    pub(super) rs: &'a [u8],
    /// Per column: predicted negative (sign modes 2, 3), else false.
    pub(super) cneg: Vec<bool>,
    /// Sign mode 3: the packed row classes and the column classes (else empty, all 0).
    pub(super) rcls: &'a [u8],
    pub(super) ccls: Vec<u8>,
    pub(super) max_u: u64,
}

/// `put(out, q, u)` writes the value of code `q` (`u = q − qmin_c`, wrapping) into `out`;
/// `sink` says what it does, for the vector paths of kind 5.
pub(super) fn decode_with<T: Copy + Send + 'static>(
    payload: &[u8],
    qmin: &[i64],
    width: u8,
    out: &mut [T],
    threads: usize,
    sink: Sink,
    put: impl Fn(&mut T, i64, u32) + Sync,
) -> Result<()> {
    let simd = lanes::have_avx2();
    decode_with_simd(payload, qmin, width, out, threads, sink, put, simd)
}

/// [`decode_with`] on the vector paths (`simd`: the CPU must have AVX2) or the scalar ones:
/// the same values and errors either way.
#[allow(clippy::too_many_arguments)]
pub(super) fn decode_with_simd<T: Copy + Send + 'static>(
    payload: &[u8],
    qmin: &[i64],
    width: u8,
    out: &mut [T],
    threads: usize,
    sink: Sink,
    put: impl Fn(&mut T, i64, u32) + Sync,
    simd: bool,
) -> Result<()> {
    let rows = qmin.len();
    let n = out.len();
    if rows == 0 || n % rows != 0 || n == 0 {
        return Err(Error::corrupt(
            "rANS-model payload for a tensor without rows",
        ));
    }
    let cols = n / rows;
    let mut r = Rd { b: payload, pos: 0 };
    let kind = r.u8()?;
    if !(KIND_RANK1..=KIND_SHARED).contains(&kind) {
        return Err(Error::corrupt("unknown rANS-model kind"));
    }
    let shaped = kind >= KIND_SHAPED;
    let family = if shaped { r.u8()? } else { 0 };
    if family >= crate::entropy::model::family::FAMILIES {
        return Err(Error::corrupt(format!(
            "unknown rANS-model shape family {family}"
        )));
    }
    let mode = r.u8()?;
    if mode > if shaped { SIGN_CLASSES } else { SIGN_SVD } {
        return Err(Error::corrupt(format!(
            "unknown rANS-model sign mode {mode}"
        )));
    }
    let mut fs = [0u32; BINS];
    let n_f = match mode {
        SIGN_NONE => 0,
        SIGN_CLASSES => BINS,
        _ => 1,
    };
    for slot in fs.iter_mut().take(n_f) {
        let b = r.take(2)?;
        let f = u16::from_le_bytes([b[0], b[1]]) as u32;
        if !(1..M).contains(&f) {
            return Err(Error::corrupt(format!("sign frequency {f} out of range")));
        }
        *slot = f;
    }
    if n_f == 1 {
        fs = [fs[0]; BINS];
    }
    let (a_packed, b_packed);
    let (a, b) = if shaped {
        let (v, used) = crate::entropy::model::family::read_scale_codes(&payload[r.pos..], rows)?;
        r.pos += used;
        a_packed = v;
        let (v, used) = crate::entropy::model::family::read_scale_codes(&payload[r.pos..], cols)?;
        r.pos += used;
        b_packed = v;
        (&a_packed[..], &b_packed[..])
    } else {
        (r.take(rows)?, r.take(cols)?)
    };
    let (rs, cs) = if mode >= SIGN_SVD {
        (read_bits(&mut r, rows)?, read_bits(&mut r, cols)?)
    } else {
        (&[][..], &[][..])
    };
    let (rcls, ccls) = if mode == SIGN_CLASSES {
        let rc = r.take(rows.div_ceil(4))?;
        let cc = r.take(cols.div_ceil(4))?;
        (
            rc,
            (0..cols)
                .map(|j| crate::entropy::model::sign::class_at(cc, j))
                .collect(),
        )
    } else {
        (&[][..], vec![0u8; cols])
    };
    let lanes = kind == KIND_LANES_BLOCKS;
    let rows_per_block = if kind == KIND_RANK1_BLOCKS || kind == KIND_SHAPED_BLOCKS || lanes {
        let v = r.take(4)?;
        let v = u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize;
        if v == 0 {
            return Err(Error::corrupt("rANS-model block of 0 rows"));
        }
        v.min(rows)
    } else {
        rows
    };
    // Every block's word stream (at most `rows` blocks: bounded by the declared shape).
    let n_blocks = rows.div_ceil(rows_per_block);
    let mut streams = Vec::with_capacity(if lanes { 0 } else { n_blocks });
    let mut lane_blocks = Vec::with_capacity(if lanes { n_blocks } else { 0 });
    for _ in 0..n_blocks {
        if lanes {
            lane_blocks.push(lanes::read_block(payload, &mut r.pos)?);
            continue;
        }
        let wb = r.take(4)?;
        let w = u32::from_le_bytes([wb[0], wb[1], wb[2], wb[3]]) as usize;
        let states = if kind == KIND_SHARED {
            shared::STATES
        } else {
            LANES
        };
        if w < 2 * states {
            return Err(Error::corrupt(format!(
                "rANS-model payload has fewer than {} words",
                2 * states
            )));
        }
        streams.push(
            r.take(
                w.checked_mul(2)
                    .ok_or_else(|| Error::corrupt("word count overflows"))?,
            )?,
        );
    }
    if r.pos != payload.len() {
        return Err(Error::corrupt(format!(
            "{} unexpected bytes after the rANS-model payload",
            payload.len() - r.pos
        )));
    }
    let max_u: u64 = if width >= 4 {
        u32::MAX as u64
    } else {
        (1u64 << (8 * width as u32)) - 1
    };
    let cneg: Vec<bool> = (0..cols).map(|j| mode >= SIGN_SVD && bit(cs, j)).collect();
    let head = Head {
        family,
        mode,
        fs,
        a,
        b,
        rs,
        cneg,
        rcls,
        ccls,
        max_u,
    };
    if lanes && n_blocks >= 2 && lanes::pairs_pay(simd) {
        return decode_lane_pairs(
            &head,
            &lane_blocks,
            qmin,
            out,
            (rows_per_block, cols),
            &put,
            (simd, sink, threads),
        );
    }
    let results =
        crate::util::par::map_chunks_mut(threads, out, rows_per_block * cols, |k, block| {
            if kind == KIND_SHARED {
                return shared::decode_block(
                    &head, streams[k], qmin, block, cols, &put, simd, sink,
                );
            }
            if lanes {
                return lanes::decode_block(
                    &head,
                    &lane_blocks[k],
                    qmin,
                    k * rows_per_block,
                    block,
                    cols,
                    &put,
                    simd,
                    sink,
                );
            }
            decode_block(
                &head,
                streams[k],
                qmin,
                k * rows_per_block,
                block,
                cols,
                &put,
                simd,
            )
        });
    results.into_iter().collect()
}

/// The blocks of a kind-5 payload two at a time ([`lanes::decode_block_pair`]): each thread's
/// run of blocks (as `par::map` would give it) in pairs of consecutive blocks, an odd one
/// alone. The first failing block's error, as decoding them one by one.
#[allow(clippy::too_many_arguments)]
fn decode_lane_pairs<T: Copy + Send + 'static>(
    head: &Head,
    blocks: &[lanes::LaneBlock],
    qmin: &[i64],
    out: &mut [T],
    (rows_per_block, cols): (usize, usize),
    put: &(impl Fn(&mut T, i64, u32) + Sync),
    (simd, sink, threads): (bool, Sink, usize),
) -> Result<()> {
    let items = pair_items(blocks.len(), threads);
    let block_len = rows_per_block * cols;
    let mut pieces = Vec::with_capacity(items.len());
    let mut rest = out;
    for &(_, count) in &items {
        let (piece, tail) = rest.split_at_mut((count * block_len).min(rest.len()));
        pieces.push(std::sync::Mutex::new(piece));
        rest = tail;
    }
    let results = crate::util::par::map(threads, items.len(), |i| {
        let (k, count) = items[i];
        let mut piece = pieces[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let row0 = k * rows_per_block;
        if count == 1 {
            let r = lanes::decode_block(
                head, &blocks[k], qmin, row0, &mut piece, cols, put, simd, sink,
            );
            return vec![r];
        }
        let (a, b) = piece.split_at_mut(block_len);
        let pair = [Some(&blocks[k]), Some(&blocks[k + 1])];
        lanes::decode_block_pair(head, pair, qmin, row0, [a, b], cols, put, simd, sink).into()
    });
    results.into_iter().flatten().collect()
}

/// `n` blocks as (first block, 1 or 2) items: each of the `threads` runs of `par::map`'s
/// split of blocks in pairs, an odd block last.
fn pair_items(n: usize, threads: usize) -> Vec<(usize, usize)> {
    let t = threads.clamp(1, n.max(1));
    let per = n.div_ceil(t);
    let mut items = Vec::with_capacity(n.div_ceil(2) + t);
    for run in 0..t {
        let (mut k, hi) = ((run * per).min(n), ((run + 1) * per).min(n));
        while k + 1 < hi {
            items.push((k, 2));
            k += 2;
        }
        if k < hi {
            items.push((k, 1));
        }
    }
    items
}

/// The decoder's view of a [`Pick`]: the table's slot → symbol map and its `(cum << 13) |
/// freq` entries by reference, so the hot loop does no index arithmetic or bounds checks.
#[derive(Clone, Copy)]
pub(super) struct DPick {
    pub(super) lut: &'static [u8; M as usize],
    pub(super) fc: &'static [u32; 256],
    pub(super) s: u32,
    pub(super) esc: u32,
}

/// `a + b` (0..=510) → [`DPick`] of the table set of `family`.
pub(super) fn dpicks(family: u8) -> &'static [DPick] {
    static DPICKS: [OnceLock<Vec<DPick>>; N_FAMILIES] = [const { OnceLock::new() }; N_FAMILIES];
    per_family::<Vec<DPick>>(&DPICKS, family, |t| {
        t.pick
            .iter()
            .map(|p| {
                let ti = p.ti as usize;
                let lut = t.lut[ti * M as usize..][..M as usize]
                    .try_into()
                    .expect("a table of M slots");
                let fc = t.fc[ti * 256..][..256]
                    .try_into()
                    .expect("a table of 256 symbols");
                DPick {
                    lut,
                    fc,
                    s: p.s as u32,
                    esc: p.esc as u32,
                }
            })
            .collect()
    })
}

/// Renormalisation of the fast path: the next word is taken (the position, in words,
/// advanced) only when the state is below L. A missing word reads as 0 and the position
/// still advances, so a truncated stream shows as `2·pos > words.len()`, checked at the end of
/// the block and before reporting any other error, and the hot path has no error exit. (The
/// compiler emits a branch around the load; it is mostly predicted. Forcing selects instead
/// measured slower: it makes every step wait for the word position, i.e. for all earlier
/// lanes.)
#[inline(always)]
pub(super) fn renorm_fast(v: u32, words: &[u8], pos: &mut usize) -> u32 {
    let need = v < L;
    let w = match words.get(2 * *pos..2 * *pos + 2) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]) as u32,
        _ => 0,
    };
    *pos += need as usize;
    if need {
        (v << 16) | w
    } else {
        v
    }
}

/// One coded value `q` of the fast path: magnitude symbol with the pick's table, the `s` low
/// bits (one uniform step when `s ≤ 8`), the sign step only when `m ≠ 0`. Escapes go out of
/// line. `pred_neg`: the sign prediction (sign mode 2), else false.
#[inline(always)]
pub(super) fn value_fast<const MODE: u8>(
    x: &mut u32,
    words: &[u8],
    pos: &mut usize,
    p: &DPick,
    pred_neg: bool,
    f: u32,
) -> Result<i64> {
    let v = *x;
    let slot = v & (M - 1);
    let sym = p.lut[slot as usize] as u32;
    let e = p.fc[sym as usize & 255];
    let (fr, c) = (e & ((1 << 13) - 1), e >> 13);
    *x = renorm_fast(fr * (v >> SCALE_BITS) + slot - c, words, pos);
    let s = p.s;
    let hi = if sym < p.esc {
        sym as u64
    } else {
        escape_cold(x, words, pos, sym, s)?
    };
    let lo = if s == 0 {
        0
    } else if s <= 8 {
        uniform_fast(x, words, pos, s) as u64
    } else {
        // Wide scales (adaptive frames of many-bit channels).
        uniform_wide_fast(x, words, pos, s)
    };
    let m = (hi << s) | lo;
    if MODE == SIGN_NONE || m == 0 {
        return Ok(m as i64);
    }
    let v = *x;
    let slot = v & (M - 1);
    let flip = slot >= f;
    let fr = if flip { M - f } else { f };
    let c = if flip { f } else { 0 };
    *x = renorm_fast(fr * (v >> SCALE_BITS) + slot - c, words, pos);
    let neg = -((pred_neg != flip) as i64);
    Ok(((m as i64) ^ neg) - neg)
}

/// `bits ≤ 8` uniform bits (frequency `M >> bits = 2^sh`, cum = `sym << sh`: the state loses
/// the `bits` bits above its low `sh`), renormalised as [`renorm_fast`].
#[inline(always)]
pub(super) fn uniform_fast(x: &mut u32, words: &[u8], pos: &mut usize, bits: u32) -> u32 {
    let v = *x;
    let slot = v & (M - 1);
    let sh = SCALE_BITS - bits;
    *x = renorm_fast(
        ((v >> SCALE_BITS) << sh) + (slot & ((1 << sh) - 1)),
        words,
        pos,
    );
    slot >> sh
}

/// `bits ≤ 64` uniform bits in 8-bit pieces, low first.
#[inline(always)]
pub(super) fn uniform_wide_fast(x: &mut u32, words: &[u8], pos: &mut usize, mut bits: u32) -> u64 {
    let (mut v, mut shift) = (0u64, 0u32);
    while bits > 0 {
        let b = bits.min(8);
        v |= (uniform_fast(x, words, pos, b) as u64) << shift;
        shift += b;
        bits -= b;
    }
    v
}

/// After an escape symbol `sym`: the 6-bit length `nb ≤ 56`, then `nb` bits of `hi − sym`
/// (rare, so out of line). A truncated stream shows in `pos` as on the fast path.
#[cold]
#[inline(never)]
pub(super) fn escape_cold(
    x: &mut u32,
    words: &[u8],
    pos: &mut usize,
    sym: u32,
    s: u32,
) -> Result<u64> {
    let nb = uniform_fast(x, words, pos, 6);
    if nb > MAX_ESC_BITS {
        return Err(Error::corrupt("rANS-model escape longer than 56 bits"));
    }
    let hi = uniform_wide_fast(x, words, pos, nb) + sym as u64;
    if hi >> (60 - s.min(60)) != 0 {
        return Err(Error::corrupt("rANS-model code magnitude out of range"));
    }
    Ok(hi)
}

/// Decodes the rows `row0..` of one block (`out.len() / cols` rows) from its word stream;
/// with `simd` (the CPU has AVX2) four columns at a time where they allow (`dec3_avx2.rs`, or
/// `dec3_avx512.rs` where the CPU has AVX-512 IFMA; the same values either way).
#[allow(clippy::too_many_arguments)]
pub(super) fn decode_block<T: Copy>(
    h: &Head,
    words: &[u8],
    qmin: &[i64],
    row0: usize,
    out: &mut [T],
    cols: usize,
    put: &impl Fn(&mut T, i64, u32),
    simd: bool,
) -> Result<()> {
    let a = (qmin, row0, out, cols, put, simd);
    match h.mode {
        SIGN_PLAIN => decode_block_mode::<SIGN_PLAIN, T>(h, words, a),
        SIGN_NONE => decode_block_mode::<SIGN_NONE, T>(h, words, a),
        SIGN_SVD => decode_block_mode::<SIGN_SVD, T>(h, words, a),
        _ => decode_block_mode::<SIGN_CLASSES, T>(h, words, a),
    }
}

/// The arguments of [`decode_block`] after the head and the words.
type BlockArgs<'a, T, P> = (&'a [i64], usize, &'a mut [T], usize, &'a P, bool);

pub(super) fn decode_block_mode<const MODE: u8, T: Copy>(
    h: &Head,
    words: &[u8],
    (qmin, row0, out, cols, put, simd): BlockArgs<T, impl Fn(&mut T, i64, u32)>,
) -> Result<()> {
    let mut x = crate::entropy::rans::read_states::<LANES>(words);
    let mut pos = 2 * LANES;
    // A truncated stream (a needed word missing) is reported as such, whatever error it causes.
    let rows = (qmin, row0, out, cols, put, simd);
    rows_mode::<MODE, T>(h, words, &mut pos, &mut x, rows).map_err(|e| {
        if pos > words.len() / 2 {
            Error::truncated("rANS-model word stream ends early")
        } else {
            e
        }
    })?;
    if pos > words.len() / 2 {
        return Err(Error::truncated("rANS-model word stream ends early"));
    }
    if x != [L; LANES] || pos != words.len() / 2 {
        return Err(Error::corrupt(
            "rANS-model payload does not decode to its initial state (corrupt payload)",
        ));
    }
    Ok(())
}

/// The rows of [`decode_block_mode`]: `x` and `pos` are left where decoding stopped.
#[inline(always)]
pub(super) fn rows_mode<const MODE: u8, T: Copy>(
    h: &Head,
    words: &[u8],
    pos: &mut usize,
    x: &mut [u32; LANES],
    (qmin, row0, out, cols, put, simd): BlockArgs<T, impl Fn(&mut T, i64, u32)>,
) -> Result<()> {
    // The vector step only where a value has a sign step: without one (sign mode 1, e.g. Adam's
    // `exp_avg_sq`) the scalar loop is short enough that the vector step's longer chain per
    // group measured slower (decode of the 256 × 64 `exp_avg_sq` at 1e-2: 0.39 s against 0.33 s
    // for 4000 decodes); so did the AVX-512 step (0.32–0.33 s against 0.25 s for 3000).
    #[cfg(target_arch = "x86_64")]
    let flat = (simd && MODE != SIGN_NONE).then(|| super::lanes::flat(h.family));
    // Decided once a block: the detection is a cached load, but not free per row.
    #[cfg(all(target_arch = "x86_64", alcm_avx512))]
    let avx512 = flat.is_some() && super::dec3_avx512::available();
    #[cfg(all(target_arch = "x86_64", not(alcm_avx512)))]
    let avx512 = false;
    #[cfg(not(target_arch = "x86_64"))]
    let _ = simd;
    let dp = dpicks(h.family);
    let (max_u, b) = (h.max_u, &h.b[..cols]);
    let cneg = &h.cneg[..cols];
    let ccls = &h.ccls[..cols];
    // Sign predicted from the singular pair (modes 2 and 3).
    let svd = MODE == SIGN_SVD || MODE == SIGN_CLASSES;
    for (i, orow) in (row0..).zip(out.chunks_exact_mut(cols)) {
        let q0 = qmin[i];
        if h.a[i] == 0 {
            // The code of 0 (all-zero rows and columns); outside the range only in corrupt frames.
            let u = u_of(0, q0, max_u)?;
            orow.iter_mut().for_each(|o| put(o, 0, u));
            continue;
        }
        let picks: &[DPick; 256] = dp[h.a[i] as usize..][..256].try_into().expect("256 picks");
        let rneg = svd && bit(h.rs, i);
        // The row's sign probabilities per column class (mode 3), else all `fs[0]`.
        let rc = if MODE == SIGN_CLASSES {
            crate::entropy::model::sign::class_at(h.rcls, i) as usize
        } else {
            0
        };
        let fr = [h.fs[rc], h.fs[rc + 1], h.fs[rc + 2], h.fs[rc + 3]];
        #[cfg(target_arch = "x86_64")]
        let vrow = flat.map(|fl| super::dec3_avx2::Row {
            fl,
            words,
            ai: h.a[i] as u32,
            fr,
            rneg,
        });
        let [mut x0, mut x1, mut x2, mut x3] = *x;
        // Range of the row's codes, checked once at the end of the row (every `q` between
        // these extremes is then within the channel's code range).
        let (mut qlo, mut qhi) = (i64::MAX, i64::MIN);
        // A macro, not a closure: the closure was not inlined (a call per value).
        macro_rules! one {
            ($lane:expr, $bj:expr, $cn:expr, $cl:expr, $o:expr) => {{
                let bj: u8 = $bj;
                let q = if bj == 0 {
                    0
                } else {
                    let f = if MODE == SIGN_CLASSES {
                        fr[$cl as usize & 3]
                    } else {
                        fr[0]
                    };
                    value_fast::<MODE>(
                        $lane,
                        words,
                        pos,
                        &picks[bj as usize],
                        svd && (rneg != $cn),
                        f,
                    )?
                };
                qlo = qlo.min(q);
                qhi = qhi.max(q);
                put($o, q, q.wrapping_sub(q0) as u32);
            }};
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(vr) = &vrow {
            // Runs of vector groups, each stopped by a group decoded here.
            let mut xs = [x0, x1, x2, x3];
            let mut j = 0;
            while j + LANES <= cols {
                // SAFETY: `vrow` is only set with AVX2 (`simd`), `avx512` only when
                // `dec3_avx512::available()`; `a_i + b_j ≤ 510`.
                j = unsafe {
                    super::dec3_avx2::run_best::<MODE, T>(
                        avx512,
                        vr,
                        &mut xs,
                        pos,
                        j,
                        (b, cneg, ccls),
                        orow,
                        &mut |o, q| put(o, q, q.wrapping_sub(q0) as u32),
                        (&mut qlo, &mut qhi),
                    )
                };
                if j + LANES > cols {
                    break;
                }
                let [y0, y1, y2, y3] = &mut xs;
                let c = &mut orow[j..j + LANES];
                let (bq, cn, kl) = (&b[j..j + LANES], &cneg[j..j + LANES], &ccls[j..j + LANES]);
                one!(y0, bq[0], cn[0], kl[0], &mut c[0]);
                one!(y1, bq[1], cn[1], kl[1], &mut c[1]);
                one!(y2, bq[2], cn[2], kl[2], &mut c[2]);
                one!(y3, bq[3], cn[3], kl[3], &mut c[3]);
                j += LANES;
            }
            let lanes = xs.iter_mut();
            let rest = orow[j..]
                .iter_mut()
                .zip(lanes)
                .zip(&b[j..])
                .zip(&cneg[j..])
                .zip(&ccls[j..]);
            for ((((o, lane), &bj), &cn), &kl) in rest {
                one!(lane, bj, cn, kl, o);
            }
            *x = xs;
            u_of(qlo, q0, max_u)?;
            u_of(qhi, q0, max_u)?;
            continue;
        }
        let mut chunks = orow.chunks_exact_mut(LANES);
        let mut bc = b.chunks_exact(LANES);
        let mut cc = cneg.chunks_exact(LANES);
        let mut kc = ccls.chunks_exact(LANES);
        for (((c, bq), cn), kl) in (&mut chunks).zip(&mut bc).zip(&mut cc).zip(&mut kc) {
            one!(&mut x0, bq[0], cn[0], kl[0], &mut c[0]);
            one!(&mut x1, bq[1], cn[1], kl[1], &mut c[1]);
            one!(&mut x2, bq[2], cn[2], kl[2], &mut c[2]);
            one!(&mut x3, bq[3], cn[3], kl[3], &mut c[3]);
        }
        let lanes = [&mut x0, &mut x1, &mut x2, &mut x3];
        let rest = chunks
            .into_remainder()
            .iter_mut()
            .zip(lanes)
            .zip(bc.remainder())
            .zip(cc.remainder())
            .zip(kc.remainder());
        for ((((o, lane), &bj), &cn), &kl) in rest {
            one!(lane, bj, cn, kl, o);
        }
        *x = [x0, x1, x2, x3];
        u_of(qlo, q0, max_u)?;
        u_of(qhi, q0, max_u)?;
    }
    Ok(())
}

#[inline(always)]
pub(super) fn u_of(q: i64, q0: i64, max_u: u64) -> Result<u32> {
    match q.checked_sub(q0) {
        Some(u) if u >= 0 && (u as u64) <= max_u => Ok(u as u32),
        _ => Err(Error::corrupt(
            "rANS-model code outside the channel's code range",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::pair_items;

    /// Each thread's run of blocks (`par::map`'s split: ⌈n / threads⌉ each) in pairs, an odd
    /// block last; every block once, in order.
    #[test]
    fn pair_items_pair_each_threads_run() {
        assert_eq!(pair_items(4, 1), [(0, 2), (2, 2)]);
        assert_eq!(pair_items(5, 1), [(0, 2), (2, 2), (4, 1)]);
        assert_eq!(
            pair_items(10, 2),
            [(0, 2), (2, 2), (4, 1), (5, 2), (7, 2), (9, 1)]
        );
        assert_eq!(pair_items(6, 2), [(0, 2), (2, 1), (3, 2), (5, 1)]);
        assert_eq!(pair_items(4, 3), [(0, 2), (2, 2)]);
        assert_eq!(pair_items(3, 8), [(0, 1), (1, 1), (2, 1)]);
        assert_eq!(pair_items(1, 1), [(0, 1)]);
        assert!(pair_items(0, 2).is_empty());
    }
}
