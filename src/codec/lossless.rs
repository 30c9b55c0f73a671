//! Lossless coding of floating-point elements (backend 4, `ALCM_BACKEND_FLOAT`): raw
//! little-endian elements of 2, 4 or 8 bytes (bfloat16 / float16, float32, float64) in, the
//! same bytes out, bit for bit (every NaN payload, −0, subnormals).
//!
//! The payload is whichever of four methods measured smallest: the float-layout split
//! (`entropy/floatbits`; from 2^16 elements its laned form, method 4, unless the exponents
//! need contexts), the byte-shuffled order-0 rANS planes (backend 2's coder on
//! the raw bytes), deflate-6 of the raw bytes, or the bytes stored. The split nearly always
//! wins; the others are the simple baselines the payload is never larger than (deflate only
//! where its matches can pay: many repeated elements, or many repeated 8-byte windows in a
//! small tensor). On a tensor of up to 64 KiB only the methods that can be smallest are coded,
//! chosen from predicted sizes (`encode_small`).
//!
//! # Layout
//! ```text
//! u8 method: 0 stored (the raw bytes follow), 1 deflate (a raw deflate stream),
//!            2 shuffled (order0.rs payload of the byte-shuffled elements: plane j = byte j),
//!            3 split (entropy/floatbits layout),
//!            4 laned split (entropy/floatbits/laned.rs; format version ≥ 5)
//!            5 compact split (entropy/floatbits/compact.rs; format version ≥ 5)
//!            6 predicted split (entropy/floatbits/predict2d.rs: the split of a matrix with
//!              its signs and heads predicted from their neighbours; format version ≥ 6)
//! the method's body, which must end exactly at the end of the payload
//! ```

use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
use miniz_oxide::inflate::core::{decompress as inflate, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use crate::entropy::{self, floatbits, order0};
use crate::error::{Error, Result};

mod deflate_screen;
mod estimate;
#[doc(hidden)]
pub mod lz_gate;

const METHOD_STORED: u8 = 0;
const METHOD_DEFLATE: u8 = 1;
const METHOD_SHUFFLED: u8 = 2;
const METHOD_SPLIT: u8 = 3;
const METHOD_LANED: u8 = 4;

/// Elements from which the split is laned (method 4): below, its 16 lanes' fixed costs
/// (about 110 bytes a rANS stream more than method 3's) weigh more than its speed.
const LANED_FROM: usize = 1 << 16;
/// The compact split of small tensors (`floatbits/compact.rs`), format version ≥ 5.
pub(crate) const METHOD_COMPACT: u8 = 5;
/// The predicted split of a matrix (`floatbits/predict2d.rs`), format version ≥ 6.
const METHOD_PREDICTED: u8 = 6;

/// Deflate level of the deflate method (the baseline it stands for: deflate-6).
const DEFLATE_LEVEL: u8 = 6;
/// Raw sizes up to this many bytes consider every method, choosing which to code from
/// predicted sizes.
const TRY_ALL_BELOW: usize = 1 << 16;
/// A method whose predicted size is at most `.0 / .1` × the best size known is coded. On the
/// tensors of ../shared/data up to 64 KiB (`tools/src/bin/lossless_trials.rs`), the compact
/// split's prediction is 0 or 1 byte above its coded size and the shuffled planes' 0–2 %
/// above, never below: a method left out could not have been smaller.
const CHOICE_MARGIN: (usize, usize) = (102, 100);

/// Whether `w` is an element width this coder takes.
pub fn width_ok(w: usize) -> bool {
    matches!(w, 2 | 4 | 8)
}

/// Byte-shuffles elements of `w` bytes: plane j = byte j of every element.
fn shuffle(bytes: &[u8], w: usize) -> Vec<u8> {
    match w {
        2 => shuffle_of::<2>(bytes),
        4 => shuffle_of::<4>(bytes),
        _ => shuffle_of::<8>(bytes),
    }
}

/// [`shuffle`] for `W`-byte elements: each plane written by its own zipped pass (the
/// width-generic loop indexed `j·n + i` with bounds checks, element after element, was 7 % of
/// encoding a 64 KiB float16 weight whose shuffled planes are coded).
fn shuffle_of<const W: usize>(bytes: &[u8]) -> Vec<u8> {
    let n = bytes.len() / W;
    let mut s = vec![0u8; n * W];
    for (j, plane) in s.chunks_exact_mut(n.max(1)).enumerate().take(W) {
        for (d, e) in plane.iter_mut().zip(bytes.chunks_exact(W)) {
            *d = e[j];
        }
    }
    s
}

fn unshuffle(s: &[u8], w: usize, out: &mut [u8]) {
    let n = out.len() / w;
    for (i, e) in out.chunks_exact_mut(w).enumerate() {
        for (j, b) in e.iter_mut().enumerate() {
            *b = s[j * n + i];
        }
    }
}

/// Share of elements equal to their predecessor, in 1/1024: where deflate's matches may pay.
#[doc(hidden)]
pub fn repeats_per_1024(bytes: &[u8], w: usize) -> usize {
    let n = bytes.len() / w;
    if n < 2 {
        return 0;
    }
    let same = match w {
        2 => same_as_previous::<2>(bytes),
        4 => same_as_previous::<4>(bytes),
        _ => same_as_previous::<8>(bytes),
    };
    same * 1024 / (n - 1)
}

/// Elements of `W` bytes equal to their predecessor: 32 bytes at a time against the same
/// shifted by one element on the AVX2 path, the same count either way.
fn same_as_previous<const W: usize>(bytes: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { same_as_previous_avx2::<W>(bytes) };
    }
    same_as_previous_scalar::<W>(bytes)
}

/// [`same_as_previous`] compared as fixed-size arrays (a slice comparison per element would
/// be a `memcmp` call each), pairs by zipped iterators.
fn same_as_previous_scalar<const W: usize>(bytes: &[u8]) -> usize {
    let el = |e: &[u8]| -> [u8; W] { e.try_into().unwrap_or([0; W]) };
    bytes
        .chunks_exact(W)
        .zip(bytes[W.min(bytes.len())..].chunks_exact(W))
        .map(|(a, b)| (el(a) == el(b)) as usize)
        .sum()
}

/// # Safety
/// AVX2 must be available; `W` ∈ {2, 4, 8}.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn same_as_previous_avx2<const W: usize>(bytes: &[u8]) -> usize {
    use std::arch::x86_64::*;
    let n = bytes.len() / W;
    if n < 2 {
        return 0;
    }
    // Byte i of elements 0..n−1 against byte i + W (their successors); each equal element
    // sets W bits of the byte mask.
    let limit = (n - 1) * W;
    let p = bytes.as_ptr();
    let (mut i, mut bits) = (0usize, 0usize);
    while i + 32 <= limit {
        let a = _mm256_loadu_si256(p.add(i) as *const __m256i);
        let b = _mm256_loadu_si256(p.add(i + W) as *const __m256i);
        let eq = match W {
            2 => _mm256_cmpeq_epi16(a, b),
            4 => _mm256_cmpeq_epi32(a, b),
            _ => _mm256_cmpeq_epi64(a, b),
        };
        bits += (_mm256_movemask_epi8(eq) as u32).count_ones() as usize;
        i += 32;
    }
    // i is a whole number of elements (32 is a multiple of W): the pairs from element i/W on.
    bits / W + same_as_previous_scalar::<W>(&bytes[i..n * W])
}

/// The rows of a tensor of `shape` seen as a matrix: its first dimension other than 1 when
/// at least two are (the zero-row and zero-column masks of the split), else 1.
fn matrix_rows(shape: &[usize]) -> usize {
    let mut dims = shape.iter().copied().filter(|&d| d > 1);
    match (dims.next(), dims.next()) {
        (Some(r), Some(_)) => r,
        _ => 1,
    }
}

/// Encodes `bytes`, little-endian elements of `w` ∈ {2, 4, 8} bytes (`bytes.len()` a multiple
/// of `w`) of a tensor of `shape` (C order; it only guides the coding), into a payload no
/// larger than `bytes.len() + 1`, and never larger than the smallest of the methods it tries.
/// Deterministic.
pub fn encode(bytes: &[u8], w: usize, shape: &[usize]) -> Vec<u8> {
    assert!(
        width_ok(w) && bytes.len() % w == 0,
        "lossless::encode: {} bytes of {w}-byte elements",
        bytes.len()
    );
    let consider = |best: &mut Vec<u8>, cand: Vec<u8>| {
        if cand.len() < best.len() {
            *best = cand;
        }
    };
    let rows = matrix_rows(shape);
    let small = bytes.len() <= TRY_ALL_BELOW;
    let mut best = match small {
        true if !bytes.is_empty() => encode_small(bytes, w, rows),
        _ => {
            // Grown by what each stream adds, not by a guess of its size (issue 12: the
            // payload beside the stream being coded stays within the input's size).
            let mut p = Vec::with_capacity(64);
            p.push(METHOD_SPLIT);
            let laned = bytes.len() / w >= LANED_FROM;
            // Where the laned split (fast AVX2 decoding) is the alternative, the serial
            // predicted split must save 1 % of the raw size, as contexts must save 2 % of theirs.
            let saving = match laned {
                true => PREDICT_SAVING.max(bytes.len() as f64 * 8.0 / 100.0),
                false => PREDICT_SAVING,
            };
            p[0] = match floatbits::encode_as(bytes, w, rows, laned, Some(saving), &mut p) {
                floatbits::Layout::Split => METHOD_SPLIT,
                floatbits::Layout::Laned => METHOD_LANED,
                floatbits::Layout::Predicted => METHOD_PREDICTED,
            };
            p
        }
    };
    // Deflate-6 is slow on long repeats (10-25 ms on a 128 KiB gradient). On a small tensor:
    // only where long windows repeat and its first 4 KiB deflate well enough (`lz_gate`). On
    // a large one: only where long windows repeat (`deflate_screen::may_pay`) and level 1 of
    // its first 16 KiB keeps within 1.25x the rate below (`prefix_within`), then the fast
    // level 1 first, compressing only until its output reaches 1.1x the best so far (the
    // same answer as its full length), and level 6 only below that. On the float tensors of
    // ../shared/data with that many repeats, level 6 saves 1-3 % over level 1 (image-like
    // data up to 27 %, where level 1 is 1.6-2x the split), and never wins.
    let deflate_len = |b: &[u8]| miniz_oxide::deflate::compress_to_vec(b, DEFLATE_LEVEL).len();
    if (small
        && lz_gate::window_repeats_reach(bytes, w, lz_gate::DEFLATE_FROM_REPEATS)
        && lz_gate::prefix_may_win(bytes, best.len(), deflate_len))
        || (!small
            && repeats_per_1024(bytes, w) >= 128
            && deflate_screen::may_pay(bytes, w)
            && deflate_screen::prefix_within(bytes, level1_limit(best.len()))
            && deflate_screen::shorter_than(bytes, 1, level1_limit(best.len())))
    {
        let mut c = vec![METHOD_DEFLATE];
        c.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(bytes, DEFLATE_LEVEL));
        consider(&mut best, c);
    }
    if best.len() > bytes.len() + 1 {
        best.clear();
        best.push(METHOD_STORED);
        best.extend_from_slice(bytes);
    }
    best
}

/// The deflate-1 length below which a large tensor gets the deflate-6 trial: within 10 % of
/// the best payload of `best` bytes (`len · 10 < best · 11`).
fn level1_limit(best: usize) -> usize {
    // len · 10 < best · 11  ⇔  len < ⌈best · 11 / 10⌉ (len an integer).
    best.saturating_mul(11).div_ceil(10)
}

/// How much smaller than the split (method 3) the compact split must be to replace it, as
/// the fraction `.0 / .1` of the split's size: 0.2 % (its slower decoding, `encode_small`).
const COMPACT_MARGIN: (usize, usize) = (499, 500);

/// Whether a compact split of `compact` bytes replaces the split of `split` bytes (if coded).
fn compact_pays(compact: usize, split: Option<usize>) -> bool {
    match split {
        Some(s) => compact.saturating_mul(COMPACT_MARGIN.1) < s.saturating_mul(COMPACT_MARGIN.0),
        None => true,
    }
}

/// The smallest size a compact split predicted at `est` bytes may code to: 0.1 % and 2 bytes
/// below. On the tensors of ../shared/data up to 64 KiB it coded 1 or 2 bytes below
/// (`lossless_trials`); where its prediction cannot pay [`COMPACT_MARGIN`] even so, it is not
/// coded (the 16 384- and 32 768-value MLP weights, where it was coded and then lost to the
/// margin: 0.6 ms of a 2.6 ms float16 encode).
fn compact_lowest(est: usize) -> usize {
    est.saturating_sub(2 + est / 1000)
}

/// The smallest of the split, the compact split and the shuffled planes for a small tensor
/// (at least one element), coding only those that can be smallest (the compact split only
/// when it saves `COMPACT_MARGIN` over the split, if coded). The split's fixed costs
/// (rANS states, word counts, byte tables) decide small tensors: it is coded only where it
/// can beat the compact split (`compact::split_may_win`: masks or head contexts), and coded
/// first: the compact split is not even planned where the elements' entropy shows it cannot
/// replace it. Then the compact split's and the shuffled planes' sizes are predicted, and
/// each is coded only when its prediction comes within `CHOICE_MARGIN` of the best size known
/// (coded or predicted).
fn encode_small(bytes: &[u8], w: usize, rows: usize) -> Vec<u8> {
    let mut best: Option<Vec<u8>> = None;
    let known = |best: &Option<Vec<u8>>| best.as_ref().map_or(usize::MAX, Vec::len);
    let consider = |best: &mut Option<Vec<u8>>, cand: Vec<u8>| {
        if cand.len() < known(best) {
            *best = Some(cand);
        }
    };
    let mut split_len = None;
    if floatbits::compact::split_may_win(bytes, w, rows) {
        let mut c = vec![METHOD_SPLIT];
        if floatbits::encode_as(bytes, w, rows, false, Some(PREDICT_SAVING), &mut c)
            == floatbits::Layout::Predicted
        {
            c[0] = METHOD_PREDICTED;
        }
        split_len = Some(c.len());
        consider(&mut best, c);
    }
    // Not planned where it certainly cannot replace the split (`plan_best_against`): then it
    // would not have been coded, or not chosen, either.
    let compact = floatbits::compact::plan_best_against(bytes, w, rows, split_len);
    let compact_est = compact
        .as_ref()
        .map_or(usize::MAX, |p| 1 + p.estimated_bytes());
    let shuffled_est = estimate::shuffled_bytes(bytes, w);
    let near = |est: usize, known: usize| {
        est.saturating_mul(CHOICE_MARGIN.1) <= known.saturating_mul(CHOICE_MARGIN.0)
    };
    if let Some(plan) = &compact {
        if near(compact_est, known(&best).min(shuffled_est))
            && compact_pays(compact_lowest(compact_est), split_len)
        {
            let mut c = vec![METHOD_COMPACT];
            plan.write(bytes, w, &mut c);
            // The compact split decodes through one serial rANS state, 5-13x slower than the
            // split on the 16 384- and 32 768-value weights where both were coded; where it
            // saves less than COMPACT_MARGIN over the split (0.02-0.08 % there), the split's
            // decoding speed is worth more.
            if compact_pays(c.len(), split_len) {
                consider(&mut best, c);
            }
        }
    }
    // Coded also when nothing else was (its prediction is then below the compact one's).
    if best.is_none() || near(shuffled_est, known(&best).min(compact_est)) {
        let mut c = vec![METHOD_SHUFFLED];
        c.extend_from_slice(&order0::encode(&shuffle(bytes, w), w as u8));
        consider(&mut best, c);
    }
    best.unwrap_or_else(|| [&[METHOD_STORED][..], bytes].concat())
}

/// The payload of method `method` (1 deflate-6, 2 shuffled, 3 split, 5 compact, 6 predicted)
/// for `bytes`, whatever [`encode`] would choose, or `None` for another method, an empty input
/// to the compact split, or a tensor whose predictions do not pay: for the calibration tool (`tools/src/bin/lossless_trials.rs`) and tests.
#[doc(hidden)]
pub fn trial(bytes: &[u8], w: usize, shape: &[usize], method: u8) -> Option<Vec<u8>> {
    assert!(width_ok(w) && bytes.len() % w == 0);
    let mut c = vec![method];
    match method {
        METHOD_DEFLATE => {
            c.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(bytes, DEFLATE_LEVEL))
        }
        METHOD_SHUFFLED => c.extend_from_slice(&order0::encode(&shuffle(bytes, w), w as u8)),
        METHOD_SPLIT => {
            floatbits::encode(bytes, w, matrix_rows(shape), false, &mut c);
        }
        METHOD_COMPACT if !bytes.is_empty() => {
            floatbits::compact::encode_best(bytes, w, matrix_rows(shape), &mut c)
        }
        METHOD_PREDICTED => {
            let rows = matrix_rows(shape);
            let layout = floatbits::encode_as(bytes, w, rows, false, Some(PREDICT_SAVING), &mut c);
            if layout != floatbits::Layout::Predicted {
                return None;
            }
        }
        _ => return None,
    }
    Some(c)
}

/// The predicted split (method 6) of `bytes` with both predictions on, whatever they save, or
/// `None` when the tensor is not a matrix of at least 2 × 2 elements left by the zero-row and
/// zero-column masks: for tests and fuzz seeds ([`encode`] writes it only where it pays).
#[doc(hidden)]
pub fn encode_predicted_forced(bytes: &[u8], w: usize, shape: &[usize]) -> Option<Vec<u8>> {
    assert!(width_ok(w) && bytes.len() % w == 0);
    let mut p = vec![METHOD_PREDICTED];
    let rows = matrix_rows(shape);
    let layout = floatbits::encode_as(bytes, w, rows, false, Some(f64::NEG_INFINITY), &mut p);
    (layout == floatbits::Layout::Predicted).then_some(p)
}

/// The predicted payload sizes of the compact split (`None` for an empty input) and of the
/// shuffled planes that the choice of [`encode`] compares, method byte included: for the
/// calibration tool (`tools/src/bin/lossless_trials.rs`).
#[doc(hidden)]
pub fn predicted_sizes(bytes: &[u8], w: usize, shape: &[usize]) -> (Option<usize>, usize) {
    assert!(width_ok(w) && bytes.len() % w == 0);
    let compact = floatbits::compact::plan_best(bytes, w, matrix_rows(shape));
    (
        compact.map(|p| 1 + p.estimated_bytes()),
        estimate::shuffled_bytes(bytes, w),
    )
}

/// The laned split (method 4) of `bytes` at any size, for tests and fuzz seeds ([`encode`]
/// writes it only from 2^16 elements), or `None` when the heads would be coded with contexts
/// (method 3).
pub fn encode_laned(bytes: &[u8], w: usize, shape: &[usize]) -> Option<Vec<u8>> {
    assert!(width_ok(w) && bytes.len() % w == 0);
    let mut p = vec![METHOD_LANED];
    floatbits::encode(bytes, w, matrix_rows(shape), true, &mut p).then_some(p)
}

/// First frame format version whose payloads may use methods 4 and 5.
const METHODS_4_5_VERSION: u8 = 5;
/// First frame format version whose payloads may use method 6.
const METHOD_6_VERSION: u8 = 6;
/// Bits the predicted split must save over the split, by estimate, to be written
/// (`floatbits::predict2d::MIN_SAVING_BITS`).
const PREDICT_SAVING: f64 = floatbits::predict2d::MIN_SAVING_BITS;

/// [`decode`] of the payload of a frame of `format_version`: methods 4 and 5 came with version
/// 5 and method 6 with version 6, so a frame of an older version holding one is corrupt.
pub fn decode_in_version(
    payload: &[u8],
    w: usize,
    out: &mut [u8],
    format_version: u8,
) -> Result<()> {
    let first = payload.first().copied();
    if (format_version < METHODS_4_5_VERSION && matches!(first, Some(4 | 5)))
        || (format_version < METHOD_6_VERSION && first == Some(METHOD_PREDICTED))
    {
        return Err(Error::corrupt(format!(
            "lossless float method {} in a version-{format_version} frame",
            payload[0]
        )));
    }
    decode(payload, w, out)
}

/// Decodes a payload of [`encode`] into `out`, whose length is the raw byte count (a multiple
/// of `w`). Every input either fills `out` exactly or is an error; besides fixed tables, at
/// most `out.len()` bytes are allocated.
pub fn decode(payload: &[u8], w: usize, out: &mut [u8]) -> Result<()> {
    if !width_ok(w) || out.len() % w != 0 {
        return Err(Error::corrupt(format!(
            "lossless float payload for {} bytes of {w}-byte elements",
            out.len()
        )));
    }
    let (&method, body) = payload
        .split_first()
        .ok_or_else(|| Error::truncated("lossless float payload is empty"))?;
    match method {
        METHOD_STORED => {
            if body.len() != out.len() {
                return Err(Error::corrupt(format!(
                    "stored float payload holds {} bytes, {} expected",
                    body.len(),
                    out.len()
                )));
            }
            out.copy_from_slice(body);
        }
        METHOD_DEFLATE => {
            // Straight into `out`: the stream must fill it exactly and end with the payload.
            let mut d = Box::<DecompressorOxide>::default();
            let (status, used, written) = inflate(
                &mut d,
                body,
                out,
                0,
                TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
            );
            if status != TINFLStatus::Done || used != body.len() || written != out.len() {
                return Err(Error::corrupt(format!(
                    "deflate float payload is invalid ({status:?}: {used} of {} bytes read, \
                     {written} of {} written)",
                    body.len(),
                    out.len()
                )));
            }
        }
        METHOD_SHUFFLED => {
            if body.first() != Some(&(w as u8)) {
                return Err(Error::corrupt(
                    "shuffled float payload does not have one plane per element byte",
                ));
            }
            let s = order0::decode(body, out.len())?;
            unshuffle(&s, w, out);
        }
        METHOD_SPLIT => {
            let mut pos = 0;
            floatbits::decode(body, &mut pos, w, out)?;
            if pos != body.len() {
                return Err(Error::corrupt(format!(
                    "{} unexpected bytes after the float-layout payload",
                    body.len() - pos
                )));
            }
        }
        METHOD_LANED => {
            let mut pos = 0;
            floatbits::laned::decode(body, &mut pos, w, out)?;
            if pos != body.len() {
                return Err(Error::corrupt(format!(
                    "{} unexpected bytes after the laned float-layout payload",
                    body.len() - pos
                )));
            }
        }
        METHOD_COMPACT => floatbits::compact::decode(body, w, out)?,
        METHOD_PREDICTED => {
            let mut pos = 0;
            floatbits::decode_predicted(body, &mut pos, w, out)?;
            if pos != body.len() {
                return Err(Error::corrupt(format!(
                    "{} unexpected bytes after the predicted float-layout payload",
                    body.len() - pos
                )));
            }
        }
        m => return Err(Error::corrupt(format!("unknown lossless float method {m}"))),
    }
    Ok(())
}

/// [`encode`] for a frame: a payload that would break the frames' allocation bound (the raw
/// size at most 1040 × the payload + 1024, `entropy::expansion_ok`: a huge run of zeros) is
/// replaced by the deflate method (level 10), which always keeps it.
pub fn encode_bounded(bytes: &[u8], w: usize, shape: &[usize]) -> Vec<u8> {
    let p = encode(bytes, w, shape);
    if entropy::expansion_ok(p.len() as u64, bytes.len() as u64) {
        return p;
    }
    let mut c = vec![METHOD_DEFLATE];
    c.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(bytes, 10));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plane j holds byte j of every element, in order, for every width and a few lengths.
    #[test]
    fn shuffle_by_definition() {
        let data: Vec<u8> = (0..8 * 37).map(|i| (i * 7 + i / 5) as u8).collect();
        for w in [2usize, 4, 8] {
            for n in [0usize, 1, 2, 37] {
                let bytes = &data[..n * w];
                let s = shuffle(bytes, w);
                assert_eq!(s.len(), n * w);
                for i in 0..n {
                    for j in 0..w {
                        assert_eq!(s[j * n + i], bytes[i * w + j], "w {w} n {n} i {i} j {j}");
                    }
                }
                let mut back = vec![0u8; n * w];
                unshuffle(&s, w, &mut back);
                assert_eq!(back, bytes);
            }
        }
    }

    /// The AVX2 count of elements equal to their predecessor is the scalar one: runs, pairs
    /// differing in a single byte (any byte of the element), lengths around the 32-byte
    /// blocks, a trailing partial element.
    #[test]
    fn vector_repeat_count_is_the_scalar_one() {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            let mut s = 11u64;
            let mut next = || {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (s >> 33) as usize
            };
            for w in [2usize, 4, 8] {
                for len in [0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 200, 1001] {
                    let mut b = vec![0u8; len * w + len % 3];
                    // Runs of equal elements, broken by flipping one byte of an element.
                    for k in 0..len {
                        if k > 0 && next() % 3 != 0 {
                            b.copy_within((k - 1) * w..k * w, k * w);
                            if next() % 4 == 0 {
                                b[k * w + next() % w] ^= 1 << (next() % 8);
                            }
                        } else {
                            for j in 0..w {
                                b[k * w + j] = next() as u8;
                            }
                        }
                    }
                    let body = &b[..len * w];
                    let want = match w {
                        2 => same_as_previous_scalar::<2>(&b),
                        4 => same_as_previous_scalar::<4>(&b),
                        _ => same_as_previous_scalar::<8>(&b),
                    };
                    // An independent count: element slices compared directly.
                    let direct = (1..len)
                        .filter(|&k| body[(k - 1) * w..k * w] == body[k * w..(k + 1) * w])
                        .count();
                    assert_eq!(want, direct, "w {w} len {len}");
                    // SAFETY: the CPU has AVX2.
                    let got = unsafe {
                        match w {
                            2 => same_as_previous_avx2::<2>(&b),
                            4 => same_as_previous_avx2::<4>(&b),
                            _ => same_as_previous_avx2::<8>(&b),
                        }
                    };
                    assert_eq!(got, want, "w {w} len {len}");
                }
            }
        }
    }

    /// Where the compact split is not planned because the split is below the elements'
    /// entropy (`plan_best_against`), a full compact coding is indeed not smaller than the
    /// split by the margin; and the skip happens on data whose exponents follow each other
    /// (smooth scales: the split's exponent contexts win), so the test sees both outcomes.
    #[test]
    fn the_entropy_bound_skips_only_what_could_not_win() {
        let mut s = 5u64;
        let mut next = move || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut skipped, mut planned) = (0, 0);
        for (k, n) in [4096usize, 8192, 16_384, 32_768].into_iter().enumerate() {
            for smooth in [true, false] {
                // A scale drifting slowly (smooth) or drawn anew per value, times noise.
                let mut scale = 1e-3f64;
                let v: Vec<f32> = (0..n)
                    .map(|_| {
                        scale = if smooth {
                            (scale * (1.0 + 0.2 * (next() - 0.5))).clamp(1e-6, 1.0)
                        } else {
                            10f64.powf(-6.0 * next())
                        };
                        ((next() - 0.5) * scale) as f32
                    })
                    .collect();
                let b: Vec<u8> = v
                    .iter()
                    .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
                    .collect();
                let rows = [1, 64, 128, 256][k];
                let mut split = vec![METHOD_SPLIT];
                floatbits::encode(&b, 2, rows, false, &mut split);
                let full = trial(&b, 2, &[rows, n / rows], METHOD_COMPACT).unwrap();
                match floatbits::compact::plan_best_against(&b, 2, rows, Some(split.len())) {
                    None => {
                        skipped += 1;
                        assert!(!compact_pays(full.len(), Some(split.len())), "n {n}");
                    }
                    Some(_) => planned += 1,
                }
            }
        }
        assert!(
            skipped > 0 && planned > 0,
            "skipped {skipped}, planned {planned}"
        );
    }

    #[test]
    fn level1_limit_is_ten_percent_above_the_best() {
        // len · 10 < best · 11: best 100 admits up to 109, best 105 (115.5) up to 115.
        assert_eq!(level1_limit(100), 110);
        assert_eq!(level1_limit(105), 116);
        assert_eq!(level1_limit(0), 0);
        for best in 0..2000usize {
            for len in best..best * 2 + 2 {
                assert_eq!(
                    len < level1_limit(best),
                    len * 10 < best * 11,
                    "{best} {len}"
                );
            }
        }
    }

    #[test]
    fn the_compact_split_replaces_the_split_only_beyond_the_margin() {
        // 0.2 % of 1000 bytes is 2: 997 saves 0.3 %, 998 exactly 0.2 %, 999 0.1 %.
        assert!(compact_pays(997, Some(1000)));
        assert!(!compact_pays(998, Some(1000)));
        assert!(!compact_pays(999, Some(1000)));
        assert!(!compact_pays(1001, Some(1000)));
        // No split coded: the compact split stands on its own size.
        assert!(compact_pays(5000, None));
        // Predicted 1003 bytes: it may code to 1003 − 2 − 1 = 1000, enough against a split of
        // 1003 (1000·500 < 1003·499 = 500 497) but not of 1002 (500 000 ≥ 499 998).
        assert_eq!(compact_lowest(1003), 1000);
        assert!(compact_pays(compact_lowest(1003), Some(1003)));
        assert!(!compact_pays(compact_lowest(1003), Some(1002)));
        assert_eq!(compact_lowest(1), 0);
    }
}
