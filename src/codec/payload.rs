//! The payload of a frame's integer codes: which entropy coder writes it (the rank-1 model,
//! order-0 rANS over folded byte planes, deflate or store — chosen by measured or bounded
//! size), and the way back, decoding straight into the caller's output buffer. This is the one
//! place where the codec meets [`crate::entropy`]: the encoder and decoder only see a backend id
//! and bytes.

use crate::codec::fold;
use crate::codec::quant::{self, ChannelParams, Code};
use crate::entropy::pack;
use crate::entropy::BackendKind;
use crate::entropy::{self, model::ModelPlan};
use crate::error::{Error, Result};
use crate::format::FrameInfo;

/// The model's size is first estimated on every 16th row: enough to decide which payload to
/// build first, never to skip one.
const ESTIMATE_ROW_STEP: usize = 16;
/// A model payload below the order-0 entropy bound is kept without building the order-0
/// payload, which can be no smaller than the bound: each byte plane is stored (8 bits a
/// byte), constant (entropy 0) or coded with its own static frequencies (at least its
/// empirical entropy), behind headers. The factor only absorbs the bound's rounding (a sum of
/// f64 logarithms); it was 0.995, which built the order-0 payload for nothing on 3 of the 13
/// MiniLM weights at 1e-2 (the model payload 0.3–0.5 % below the bound).
const CLEARLY_BELOW_BOUND: f64 = 1.0 - 1e-9;
/// The model is coded only if its exact ideal size is within 0.1 % of the order-0 payload: its
/// payload is within ±0.03 % of that ideal size (measured over the bench), so a model skipped
/// here would not have been smaller.
const MODEL_MAY_WIN: f64 = 1.001;
/// An estimate within 0.05 % of the order-0 payload codes the model without its exact ideal
/// size first (the synthetic Gaussian weight at 1e-2: estimate 908 255 bytes, order-0 payload
/// 908 182, model payload 908 143 — the model wins by 39 bytes, and the exact ideal pass was
/// 20 % of the compression's instructions).
const NEAR_TIE: f64 = 1.0005;
/// Only from this many values on (kind-5 payloads): below, the coder's fixed overhead is not
/// within ±0.03 % of the ideal size.
const NEAR_TIE_MIN: usize = 1 << 19;
/// An estimate less than 1 % above the order-0 payload's floor is replaced by the model's exact
/// ideal size before choosing which payload to build first: the 1/16-row estimate can be that
/// far off (MiniLM layer-0 value weight at 1e-2: estimate 127 766 bytes, floor 127 649, exact
/// ideal 127 200, model payload 127 185), and a model below the floor spares the order-0 payload.
/// Below [`NEAR_TIE_MIN`] values only: from there on a near tie codes the model without the
/// exact ideal pass, which this would add back.
const NEAR_FLOOR: f64 = 1.01;

#[cfg(test)]
thread_local! {
    // Tests only: on this thread, [exact ideal passes taken near the floor, order-0 payloads
    // built], and whether the near-floor pass is switched off (the reference choice).
    static PROBE: std::cell::Cell<([usize; 2], bool)> = const { std::cell::Cell::new(([0; 2], false)) };
    // Tests only: [frames kept on the sample's bound, exact bounds counted], and whether the
    // sample is switched off (the reference choice).
    static SAMPLE_PROBE: std::cell::Cell<([usize; 2], bool)> = const { std::cell::Cell::new(([0; 2], false)) };
}

/// Encodes the codes (`width` bytes each) of a frame with `backend`; returns the backend id
/// actually written and the payload. `model_allowed`: the tensor has rows and columns for the
/// rank-1 model. `max_code`: the codes' largest, when the caller knows it. The payload never
/// exceeds the decoder's expansion bound ([`entropy::check_sizes`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode<C: Code>(
    params: &ChannelParams,
    codes: &[C],
    max_code: Option<u32>,
    width: u8,
    backend: BackendKind,
    level: u8,
    threads: usize,
    model_allowed: bool,
) -> (u8, Vec<u8>) {
    let mut backend_id = entropy::backend_id(backend);
    let raw_len = codes.len() * width as usize;
    // The rank-1 parametric model (backend 3) is written when smaller (entropy::model).
    // Its statistics come first. When its ideal size (a table lookup per value; estimated
    // on every 16th row) is below the order-0 payload's floor (the entropy bound of the
    // codes, or the coder's overhead above it: `fold::payload_floor`), it is coded first, and
    // when its payload is below that floor the backend-2 payload cannot be smaller and is
    // not built at all.
    // Otherwise the backend-2 payload is built first, and the model is coded only if its
    // ideal size is within 0.1 % of that payload: the model's payload is within ±0.03 %
    // of its ideal size (measured), so a skipped model would not have been smaller (checked
    // over the bench: the same choices, the same bytes as coding both).
    // The model reads u32 or u16 codes (row by row as u32: the same payload either way).
    let plan = match model_allowed {
        true if backend_id == entropy::BACKEND_RANS => {
            plan_frame_codes(params, codes, width, threads).map(|(p, q)| (p, q, codes))
        }
        _ => None,
    };
    // The planes' histograms of the folded codes, when the model needs the order-0 bound:
    // counted once, when first needed, for the bound and the order-0 payload (not at all when
    // a sample shows the model well below the bound).
    let counted = std::sync::OnceLock::new();
    let has_plan = plan.is_some();
    let hists = || -> Option<&[[u64; 256]]> {
        counted
            .get_or_init(|| {
                #[cfg(test)]
                SAMPLE_PROBE.with(|p| p.set(([p.get().0[0], p.get().0[1] + 1], p.get().1)));
                has_plan
                    .then(|| fold::folded_histograms(params, width, codes, threads, max_code))
                    .flatten()
            })
            .as_deref()
    };
    let bound = || hists().map_or(0.0, |h| fold::bound_of_histograms(h, codes.len()));
    let order0_on = |threads: usize| {
        #[cfg(test)]
        PROBE.with(|p| p.set(([p.get().0[0], p.get().0[1] + 1], p.get().1)));
        if backend_id == entropy::BACKEND_RANS {
            // rANS frames carry the codes folded around each channel's zero code (fold.rs),
            // coded one byte plane at a time (no packed copy of all planes).
            return fold::encode_folded(params, width, codes, threads, hists());
        }
        entropy::encode(backend_id, level, &packed(codes, width), width)
    };
    let order0 = || order0_on(threads);
    let order0_size = || fold::encoded_folded_size(params, width, codes, threads, hists());
    // (payload, whether it is the model's): the model only when strictly smaller.
    let smaller = |m: Vec<u8>, p: Vec<u8>| {
        if m.len() < p.len() {
            (m, true)
        } else {
            (p, false)
        }
    };
    // The model payload when strictly smaller than an order-0 payload of `p_len` bytes (ties
    // go to order-0, as `smaller`), else the order-0 payload, coded once the model is dropped.
    let model_or_order0 = |m: Vec<u8>, p_len: usize| {
        if m.len() < p_len {
            (m, true)
        } else {
            drop(m);
            (order0(), false)
        }
    };
    // Whether a payload of `held` bytes and another of about `other` fit side by side beside
    // the codes within the frame's worst case (`compress_bound`, issue 12's target for the
    // call's heap); `other` is taken as the larger of the two, and 1 % more. Where they do not,
    // the payload built second is compared with the first one's size alone: the first is
    // dropped (or, for order-0, counted without its bytes), and rebuilt if it wins.
    let side_by_side = |held: usize, other: f64| {
        std::mem::size_of_val(codes) + held + (1.01 * other.max(held as f64)) as usize
            <= crate::compress_bound(codes.len())
    };
    let (payload, is_model) = match plan {
        None => (order0(), false),
        Some((mut plan, qmin, codes)) => {
            // Which to build first: an estimate from every 16th row is enough. It also
            // decides a mid-sized tensor's kind (3 or 5), and the estimate then counts it.
            let estimate = plan.ideal_bytes(codes, &qmin, threads, ESTIMATE_ROW_STEP);
            let estimate = plan.choose_lanes(estimate);
            // Well below a sample's bound (less its error's margin): the model alone, without
            // counting every code for the exact bound. Otherwise the model built here is the
            // one the exact test below would build (`built`).
            let mut built = None;
            if let Some(limit) = sampled_limit(params, width, codes) {
                if estimate < limit {
                    let m = plan.encode_sized(codes, &qmin, threads, estimate);
                    if (m.len() as f64) < limit {
                        #[cfg(test)]
                        SAMPLE_PROBE.with(|p| p.set(([p.get().0[0] + 1, p.get().0[1]], p.get().1)));
                        let model = entropy::BACKEND_RANS_MODEL;
                        return finish_with(model, m, codes, width, level, raw_len);
                    }
                    built = Some(m);
                }
            }
            let b0 = bound();
            // A floor under the order-0 payload (its tables exactly, its words from the
            // cross-entropy of its frequencies less a margin; `order0::plane_size_floor`),
            // above the entropy bound by the coder's overhead (≈ 0.5 % on the MiniLM weights).
            // Computed only where the bound does not decide (a few µs a plane).
            let mut memo = None;
            let mut floor =
                || *memo.get_or_insert_with(|| hists().map_or(0.0, fold::payload_floor).max(b0));
            let below = |m: &[u8], f: f64| (m.len() as f64) < CLEARLY_BELOW_BOUND * f;
            let mut model_first = estimate < b0 || estimate < floor();
            // Near the floor, the exact ideal size decides instead of the estimate. It is the
            // ideal pass the other branch would run (reused there), and either branch ends in
            // the smaller payload, so the choice and the bytes are the same.
            let mut exact = None;
            #[cfg(test)]
            let near_floor = NEAR_FLOOR * if PROBE.with(|p| p.get().1) { 0.0 } else { 1.0 };
            #[cfg(not(test))]
            let near_floor = NEAR_FLOOR;
            if !model_first && codes.len() < NEAR_TIE_MIN && estimate < near_floor * floor() {
                #[cfg(test)]
                PROBE.with(|p| p.set(([p.get().0[0] + 1, p.get().0[1]], p.get().1)));
                let ideal = plan.ideal_bytes(codes, &qmin, threads, 1);
                exact = Some(ideal);
                model_first = ideal < b0 || ideal < floor();
            }
            if !model_first {
                // A model built on the sample's word is not held while the order-0 payload is
                // built (the two side by side only where `side_by_side` allows).
                drop(built.take());
            }
            if model_first {
                // The model may win: coded first, and kept without the order-0 payload when
                // below the bound or the floor. Otherwise both are coded (no ideal pass): the
                // smaller is the choice the ideal pass leads to, since a model it skips is larger.
                let m = match built.take() {
                    Some(m) => m,
                    None => plan.encode_sized(codes, &qmin, threads, exact.unwrap_or(estimate)),
                };
                if below(&m, b0) || below(&m, floor()) {
                    (m, true)
                } else if side_by_side(m.len(), floor()) {
                    smaller(m, order0())
                } else {
                    // The order-0 payload's exact size, counted without its bytes: the model
                    // is kept when strictly smaller (ties go to order-0, as `smaller`), else
                    // it is dropped before the order-0 payload is coded, so the two are never
                    // held side by side. The price is a second order-0 coding where order-0
                    // wins after the model was built, hence only where both would not fit
                    // (the bench's u16 codes at relative L2 1e-3; not its u8 codes, whose
                    // payloads fit beside them).
                    model_or_order0(m, order0_size())
                }
            } else {
                // Both the order-0 payload and the model's exact ideal size are needed here
                // (the ideal size is an integer sum per block, the same on any number of
                // threads), except on a near tie of a large tensor (the estimate within 0.05 %
                // of the order-0 payload): the model is then coded whatever its exact ideal
                // size says, and the ideal pass (≈ 55 instructions a value) is skipped where it
                // does not run beside the order-0 coder. The rule does not depend on the thread
                // count; it changes no choice where a model is large enough for its ±0.03 % to
                // cover the 0.1 % test (checked over every frame of frame_hashes; on a
                // 768-value tensor it would have).
                let near_tie =
                    |p: &[u8]| codes.len() >= NEAR_TIE_MIN && estimate < NEAR_TIE * p.len() as f64;
                let (p, ideal) = if exact.is_some() {
                    (order0(), exact)
                } else if threads > 1 && width == 1 {
                    // One byte plane: its coder is serial, so the ideal pass runs beside it.
                    let (ideal, p) = crate::util::par::join(
                        || plan.ideal_bytes(codes, &qmin, 1, 1),
                        || order0_on(threads - 1),
                    );
                    (p, Some(ideal))
                } else {
                    // Several planes are coded on the threads (or one thread): the order-0
                    // payload first, then the ideal pass on the threads unless it is a near tie.
                    let p = order0();
                    let ideal = (!near_tie(&p)).then(|| plan.ideal_bytes(codes, &qmin, threads, 1));
                    (p, ideal)
                };
                if near_tie(&p) || ideal.is_some_and(|i| i < MODEL_MAY_WIN * p.len() as f64) {
                    let expected = ideal.unwrap_or(estimate);
                    if side_by_side(p.len(), expected) {
                        smaller(plan.encode_sized(codes, &qmin, threads, expected), p)
                    } else {
                        // The order-0 payload is dropped while the model is coded (its size
                        // kept: the same choice as `smaller`), and coded again if it wins.
                        let p_len = p.len();
                        drop(p);
                        model_or_order0(plan.encode_sized(codes, &qmin, threads, expected), p_len)
                    }
                } else {
                    (p, false)
                }
            }
        }
    };
    if is_model {
        backend_id = entropy::BACKEND_RANS_MODEL;
    }
    finish_with(backend_id, payload, codes, width, level, raw_len)
}

/// `(backend_id, payload)`, or a deflate payload where the payload is beyond the decoder's
/// expansion bound.
fn finish_with<C: Code>(
    mut backend_id: u8,
    mut payload: Vec<u8>,
    codes: &[C],
    width: u8,
    level: u8,
    raw_len: usize,
) -> (u8, Vec<u8>) {
    if !entropy::expansion_ok(payload.len() as u64, raw_len as u64) {
        // Keep the decoder's allocation bound (entropy::check_sizes): deflate, unfolded.
        payload = entropy::encode(
            entropy::BACKEND_DEFLATE,
            level,
            &packed(codes, width),
            width,
        );
        backend_id = entropy::BACKEND_DEFLATE;
    }
    (backend_id, payload)
}

/// The size in bytes below which a model payload is kept without the exact order-0 bound:
/// the bound estimated from a sample of the codes ([`fold::sampled_bound`]) less a margin
/// for the sample's error, `SAMPLE_ERROR / √(codes seen)` (relative). `None` for tensors
/// too small for a sample of [`SAMPLE_SEEN`] codes (there the count is a few microseconds).
///
/// The margin: over every relative-L2 and max-abs model payload of `frame_hashes` (548, with
/// samples of every 3rd to every 13th code: 128 to 350 000 codes seen), the sampled bound
/// exceeded the exact one by at most 3.8 / √seen (a 32 768-value optimizer-state tensor, whose
/// rare wide codes fill its upper byte plane), and by at most 0.7 % from 32 768 codes seen.
/// A frame kept on the sample is the one the exact bound gives unless the sample is off by
/// more than its margin: `frame_hashes` and the typed set are unchanged by it.
fn sampled_limit<C: Code>(params: &ChannelParams, width: u8, codes: &[C]) -> Option<f64> {
    #[cfg(test)]
    if SAMPLE_PROBE.with(|p| p.get().1) {
        return None;
    }
    let n = codes.len();
    // About SAMPLE_SEEN codes (a fixed cost, the same for every tensor, spent for nothing
    // where the model is close to the bound, as on the MiniLM weights), one every `stride`,
    // prime to the row length so that the sample visits every column.
    let per = n / params.channels().max(1);
    let stride = (2..=n / SAMPLE_SEEN).rev().find(|&s| gcd(s, per) == 1)?;
    let (bound, seen) = fold::sampled_bound(params, width, codes, stride)?;
    Some(bound * (1.0 - SAMPLE_ERROR / (seen as f64).sqrt()))
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The codes [`sampled_limit`] samples: at least this many (fewer than twice as many). About
/// 4 µs on the 32 768-value fc2 gradients, against 20 µs for counting all of them; the margin
/// is then 11 %, which the gradients' models clear (their estimates are 0.6–0.9 of the bound;
/// the MiniLM weights' 0.99–1.01, where the sample is spent for nothing).
const SAMPLE_SEEN: usize = 2048;
/// The sample's margin: a relative error of `SAMPLE_ERROR / √seen` (measured: at most 3.8).
const SAMPLE_ERROR: f64 = 5.0;

/// The codes packed in `width` byte planes (`pack::pack`; other code types widened first).
fn packed<C: Code>(codes: &[C], width: u8) -> Vec<u8> {
    let mut raw = Vec::new();
    match C::as_u32(codes) {
        Some(c) => pack::pack(c, width, &mut raw),
        None => {
            let wide: Vec<u32> = codes.iter().map(|u| u.get()).collect();
            pack::pack(&wide, width, &mut raw);
        }
    }
    raw
}

/// The model's plan for a frame's codes and the rows' offsets `qmin` it is to be used with
/// (`ModelPlan::encode` / `ideal_bytes`); `None` when the model does not apply.
fn plan_frame_codes<C: Code>(
    params: &ChannelParams,
    codes: &[C],
    width: u8,
    threads: usize,
) -> Option<(ModelPlan, Vec<i64>)> {
    let qmin = frame_qmin(params, width);
    let rows = qmin.len();
    if rows == 0 || codes.is_empty() || codes.len() % rows != 0 {
        return None;
    }
    Some((
        entropy::model::plan_codes(codes, &qmin, threads, None)?,
        qmin,
    ))
}

/// The signed offset of each row's codes, `q = qmin_c + u`: the uniform modes' smallest code,
/// or, in adaptive mode, minus the channel's zero code (so that q = 0 reconstructs ≈ 0 and the
/// zero-mean model applies to range-quantized channels too).
pub(crate) fn frame_qmin(params: &ChannelParams, width: u8) -> Vec<i64> {
    match params {
        ChannelParams::Uniform { qmin, .. } => qmin.clone(),
        ChannelParams::Range { .. } => fold::zero_codes(params, width)
            .into_iter()
            .map(|z| -(z as i64))
            .collect(),
    }
}

/// Decodes the payload of a frame into `out` (one value per code) and dequantizes it with
/// `params`; verbatim values (exceptions) are the caller's.
pub(crate) fn decode(
    info: &FrameInfo,
    params: Option<&ChannelParams>,
    payload: &[u8],
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    // Backend 3 (rank-1 parametric model) decodes straight to values (dequantisation fused
    // into the decode loop).
    if info.backend == entropy::Backend::RansModel {
        check_model_kind(info, payload)?;
        match params {
            Some(ChannelParams::Uniform { qmin, step }) if !out.is_empty() => {
                entropy::model::decode_values(payload, qmin, *step, info.code_width, out, threads)?
            }
            // Adaptive frames: codes relative to each channel's zero code (decoded into `out`
            // as f32 bits), then the usual range dequantization in place.
            Some(p @ ChannelParams::Range { .. }) if !out.is_empty() => {
                let qmin = frame_qmin(p, info.code_width);
                entropy::model::decode_code_bits(payload, &qmin, info.code_width, out, threads)?;
                dequantize_bits(p, info.code_width, false, out);
            }
            _ => {
                return Err(Error::corrupt(
                    "rANS-model backend in a frame without quantized codes",
                ))
            }
        }
        return Ok(());
    }
    if info.backend == entropy::Backend::Float {
        return decode_float(payload, info.code_width as usize, out, info.format_version);
    }
    // The codes are decoded into `out` itself, each held as f32 bits, and dequantized in
    // place: no code buffer, and for rANS (planes = code bytes) and store no byte buffer.
    entropy::check_sizes(info.backend.id(), payload.len() as u64, info.raw_len)?;
    pack::check_planes(info.raw_len, info.code_width, out.len())?;
    match info.backend {
        entropy::Backend::Rans => entropy::order0::decode_code_bits(payload, info.code_width, out)?,
        entropy::Backend::Store => pack::unpack_bits(payload, info.code_width, out)?,
        _ => pack::unpack_bits(
            &entropy::decode(info.backend.id(), payload, info.raw_len as usize)?,
            info.code_width,
            out,
        )?,
    }
    if let Some(p) = params {
        dequantize_bits(
            p,
            info.code_width,
            info.backend == entropy::Backend::Rans,
            out,
        );
    }
    Ok(())
}

/// Refuses a model payload kind newer than the frame's format version.
fn check_model_kind(info: &FrameInfo, payload: &[u8]) -> Result<()> {
    // Version-1 writers produced kinds 1–2 only: a later kind in a version-1 frame was
    // altered, not written by a newer library (the payload decoder itself is versionless).
    if info.format_version < 2
        && payload
            .first()
            .is_some_and(|&k| k >= entropy::model::KIND_SHAPED)
    {
        return Err(Error::corrupt(format!(
            "rANS-model payload kind {} in a version-1 frame",
            payload[0]
        )));
    }
    // Likewise kind 6 (16 states on one stream) came with version 7.
    if info.format_version < 7
        && payload
            .first()
            .is_some_and(|&k| k >= entropy::model::KIND_SHARED)
    {
        return Err(Error::corrupt(format!(
            "rANS-model payload kind {} in a version-{} frame",
            payload[0], info.format_version
        )));
    }
    // Likewise kind 5 (independent lane streams) came with version 3.
    if info.format_version < 3
        && payload
            .first()
            .is_some_and(|&k| k >= entropy::model::KIND_LANES_BLOCKS)
    {
        return Err(Error::corrupt(format!(
            "rANS-model payload kind {} in a version-{} frame",
            payload[0], info.format_version
        )));
    }
    Ok(())
}

/// `out += scale · decode(payload)` (f32 product, then f32 sum, per value in index order)
/// without a buffer of decoded values, for the payloads that decode straight to values (the
/// model's, uniform codes); `Ok(false)`, with `out` untouched, for any other payload (the
/// caller decodes it into a buffer). Verbatim values (exceptions) are the caller's. On error
/// `out` may be partly summed.
pub(crate) fn accumulate(
    info: &FrameInfo,
    params: Option<&ChannelParams>,
    payload: &[u8],
    scale: f32,
    out: &mut [f32],
    threads: usize,
) -> Result<bool> {
    match params {
        Some(ChannelParams::Uniform { qmin, step })
            if info.backend == entropy::Backend::RansModel && !out.is_empty() =>
        {
            check_model_kind(info, payload)?;
            entropy::model::accumulate_values(
                payload,
                qmin,
                *step,
                info.code_width,
                scale,
                out,
                threads,
            )?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Decodes a lossless float-layout payload (`codec/lossless.rs`) of `width`-byte elements into
/// `out` (float32 frames: width 4).
fn decode_float(payload: &[u8], width: usize, out: &mut [f32], version: u8) -> Result<()> {
    if width != 4 {
        return Err(Error::corrupt(format!(
            "float-layout payload of {width}-byte elements in a float32 frame"
        )));
    }
    // The payload's little-endian element bytes are decoded straight into `out`'s memory: no
    // byte buffer of the output's size.
    // SAFETY: the view covers exactly `out`'s memory (4 bytes per value), `u8` needs no
    // alignment, and every bit pattern written through it is a valid `f32`; `out` is not used
    // while the view lives.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), out.len() * 4) };
    crate::codec::lossless::decode_in_version(payload, 4, bytes, version)?;
    if cfg!(target_endian = "big") {
        out.iter_mut()
            .for_each(|v| *v = f32::from_bits(u32::from_le(v.to_bits())));
    }
    Ok(())
}

/// Replaces the codes held as f32 bits in `out` (`f32::from_bits(code)`) by their values:
/// `fold::fold_codes` undone first when `unfold` (backend 2), then `quant::dequantize` — the
/// same arithmetic, fused into one pass over the buffer.
fn dequantize_bits(p: &quant::ChannelParams, width: u8, unfold: bool, out: &mut [f32]) {
    let channels = p.channels();
    if channels == 0 || out.len() % channels != 0 || out.len() < channels {
        // Not produced by `format::open_frame` (the channel count comes from the shape); kept
        // exact with the two separate passes and a code buffer.
        let mut codes: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
        if unfold {
            fold::fold_codes(p, width, &mut codes, false);
        }
        out.fill(0.0);
        quant::dequantize(p, &codes, out);
        return;
    }
    let per = out.len() / channels;
    let r_max: u32 = if width >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * width as u32)) - 1
    };
    let zeros = if unfold {
        fold::zero_codes(p, width)
    } else {
        vec![0; channels]
    };
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::is_x86_feature_detected!("avx2");
    for (c, (oc, &z)) in out.chunks_exact_mut(per).zip(&zeros).enumerate() {
        let m = z.min(r_max - z);
        let up = z < r_max - z;
        let identity = !unfold || (m == 0 && z == 0);
        let code = |v: f32| {
            let s = v.to_bits();
            if identity {
                s
            } else {
                fold::unfold_branchless(s.min(r_max), z, m, up)
            }
        };
        let (base, step) = p.affine(c);
        match p {
            // As `quant::dequantize`: uniform codes are exact integers q = qmin + u.
            quant::ChannelParams::Uniform { qmin, .. } => {
                let q0 = qmin[c];
                oc.iter_mut()
                    .for_each(|o| *o = ((q0 + code(*o) as i64) as f64 * step) as f32);
            }
            quant::ChannelParams::Range { .. } => {
                #[cfg(target_arch = "x86_64")]
                if identity && avx2 {
                    // SAFETY: AVX2 checked above.
                    unsafe { crate::codec::quant_avx2::range_values_from_bits(oc, base, step) };
                    continue;
                }
                let mx = f32::MAX as f64;
                oc.iter_mut()
                    .for_each(|o| *o = (base + code(*o) as f64 * step).clamp(-mx, mx) as f32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PROBE, SAMPLE_PROBE};
    use crate::{Encoder, EncoderConfig, Mode};

    /// A `rows` × `cols` Gaussian tensor scaled by `(1 + a·r_i)(1 + a·c_j)` for each `a`.
    fn scaled_gaussians(rows: usize, cols: usize, a: &[f64]) -> Vec<Vec<f32>> {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let gauss: Vec<f64> = (0..rows * cols)
            .map(|_| (-2.0 * rnd().ln()).sqrt() * (std::f64::consts::TAU * rnd()).cos())
            .collect();
        let (ru, cv): (Vec<f64>, Vec<f64>) = (
            (0..rows).map(|_| rnd() - 0.5).collect(),
            (0..cols).map(|_| rnd() - 0.5).collect(),
        );
        a.iter()
            .map(|&a| {
                gauss
                    .iter()
                    .enumerate()
                    .map(|(i, g)| (g * (1.0 + a * ru[i / cols]) * (1.0 + a * cv[i % cols])) as f32)
                    .collect()
            })
            .collect()
    }

    /// From no rank-1 structure (the model no smaller than order-0) to a strong one (the model
    /// far below), and the gradients of `tests/data`: the frames with the sampled bound are
    /// the frames without it; the strong ones are kept on the sample without counting every
    /// code, the weak ones are not.
    #[test]
    fn the_sampled_bound_changes_no_frame_and_spares_the_exact_count() {
        let (rows, cols) = (256usize, 384usize);
        let a: Vec<f64> = (0..12).map(|k| 0.2 * k as f64).collect();
        let mut tensors: Vec<(Vec<f32>, Vec<usize>)> = scaled_gaussians(rows, cols, &a)
            .into_iter()
            .map(|x| (x, vec![rows, cols]))
            .collect();
        for name in [
            "grad_step00100_fc1.weight.npy",
            "adam_exp_avg_step02000_fc1.weight.npy",
        ] {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/gradients")
                .join(name);
            let (x, s) = crate::read_npy_f32(&p).unwrap();
            tensors.push((x, s));
        }
        let (mut kept, mut counted) = (vec![], vec![]);
        for eps in [1e-1, 1e-2, 1e-3] {
            let enc =
                Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(eps))).unwrap();
            for (x, shape) in &tensors {
                let run = |off: bool| {
                    SAMPLE_PROBE.with(|p| p.set(([0; 2], off)));
                    let f = enc.compress(x, shape, None).unwrap().bytes;
                    (f, SAMPLE_PROBE.with(|p| p.get().0))
                };
                let (reference, [0, _]) = run(true) else {
                    panic!("kept on the sample while switched off")
                };
                let (frame, [k, c]) = run(false);
                assert_eq!(frame, reference, "eps {eps}, shape {shape:?}");
                kept.push(k);
                counted.push(c);
            }
        }
        // The kept frames counted nothing; the others counted once.
        for (k, c) in kept.iter().zip(&counted) {
            assert_eq!(k + c, 1, "kept {k}, counted {c}");
        }
        let n_kept: usize = kept.iter().sum();
        assert!(
            n_kept > 0 && n_kept < kept.len(),
            "kept on the sample {n_kept} of {}",
            kept.len()
        );
        // No rank-1 structure (a = 0): the model is near order-0, never kept on a sample.
        assert_eq!(kept[0], 0);
    }

    /// Weights-like tensors whose rank-1 structure grows from none to clear, so that the model
    /// payload goes from larger to smaller than the order-0 one, through near ties. With the
    /// exact ideal size taken near the floor, every frame is the one chosen without it (the
    /// smaller payload), the near-floor pass runs on some of them, and where it finds the model
    /// below the floor no order-0 payload is built at all.
    #[test]
    fn the_exact_ideal_near_the_floor_changes_no_choice_and_spares_order0() {
        let (rows, cols) = (256usize, 256usize);
        let a: Vec<f64> = (0..24).map(|k| 0.02 * k as f64).collect();
        let tensors = scaled_gaussians(rows, cols, &a);
        let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(1e-2))).unwrap();
        let (mut fired, mut spared) = (0, 0);
        for (x, a) in tensors.iter().zip(&a) {
            let run = |off: bool| {
                PROBE.with(|p| p.set(([0; 2], off)));
                let f = enc.compress(x, &[rows, cols], None).unwrap().bytes;
                (f, PROBE.with(|p| p.get().0))
            };
            let (reference, [0, _]) = run(true) else {
                panic!("the near-floor pass ran while switched off")
            };
            let (frame, [near, order0]) = run(false);
            assert_eq!(frame, reference, "a = {a}");
            if near > 0 {
                fired += 1;
                spared += (order0 == 0) as usize;
            }
        }
        assert!(
            fired > 0 && spared > 0,
            "fired {fired}, spared the order-0 payload {spared}"
        );
    }
}
