//! The encoder: tensor → frame bytes plus a report. It orchestrates the steps; the work lives
//! in `quant` (codes), `pack` (bytes), `backend` (lossless stage) and `format` (the frame).
//!
//! Modes (see [`Mode`]):
//! - `Adaptive`: the original's scheme — per-channel precision from a bit allocation
//!   (predictor output), magnitude pruning, range quantization per channel.
//! - `RelativeL2(ε)`: guarantees ‖x − x̂‖₂ ≤ ε‖x‖₂. One step for the whole tensor, searched so
//!   that the error measured on the decoder's own reconstruction meets ε at the largest step.
//! - `MaxAbs(e)`: guarantees |x − x̂| ≤ e for every value (step 2e; the rare value that float
//!   rounding would push past e is stored verbatim).
//! - `Lossless`: the bits of every value, byte-plane shuffled, through the backend.
//!
//! Whatever the mode, a frame never exceeds [`compress_bound`]: if the lossy frame would be
//! larger than storing the raw values, a stored lossless frame is written instead.

use std::time::Instant;

use crate::codec::config::{EncoderConfig, Mode, NonFinitePolicy};
use crate::codec::fused::{self, Fused};
use crate::codec::lossless;
use crate::codec::payload;
use crate::codec::precision::channel_bits;
use crate::codec::prescan::{Prescan, SUM_BLOCK};
use crate::codec::quant::{self, ChannelParams, Code};
use crate::codec::quant_direct;
use crate::codec::typed::{self, Typed};
use crate::entropy;
use crate::entropy::pack;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, Dtype, FrameMode, FrameParts, MAX_RANK};
use crate::util::cputime::cpu_time_seconds;
use crate::util::shape::{channel_count, check_shape, effective_rank};

/// What a compression did, for logging, the scheduler and the CAQ.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Size of the input in bytes (the element width per value: 4 for float32).
    pub input_bytes: usize,
    /// Size of the frame in bytes.
    pub output_bytes: usize,
    /// input_bytes / output_bytes (0 for an empty tensor).
    pub ratio: f64,
    /// Frame bits per input value (8 · output_bytes / values; 0 for an empty tensor).
    pub bits_per_value: f64,
    /// Fraction of all values that pruning set to zero (non-zero values only count).
    pub dropped_ratio: f64,
    /// Precision used per channel: the allocated bits (adaptive), or log2 of the number of
    /// code levels the channel spans (error-bounded modes), or 32 (lossless).
    pub bits_per_channel: Vec<f64>,
    /// CPU time of the calling thread spent in the call.
    pub cpu_seconds: f64,
    /// Compression-Accuracy Quotient: ratio / (cpu_seconds + 1).
    pub caq: f64,
    /// Frame mode actually written (lossless when the size fallback applied).
    pub mode: FrameMode,
    /// Values stored verbatim (non-finite values kept, rounding outliers).
    pub exceptions: usize,
    /// The uniform quantization step (error-bounded modes), else 0.
    pub step: f64,
}

/// Compressed bytes plus the report of how they were made.
#[derive(Debug, Clone, PartialEq)]
pub struct Compressed {
    /// The frame: everything [`crate::decompress`] needs.
    pub bytes: Vec<u8>,
    /// How the frame was made.
    pub report: Report,
}

/// A configured encoder. Cheap to create; holds no buffers between calls. `&Encoder` may be
/// shared across threads (compress takes `&self`).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoder {
    config: EncoderConfig,
}

/// The quantized form of a tensor, before packing (codes of type `C`: u32, or u16 where they
/// fit, `quant::Code`).
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct Quantized<C = u32> {
    pub(super) mode: u8,
    pub(super) params: ChannelParams,
    pub(super) codes: Vec<C>,
    pub(super) exceptions: Vec<(u64, f32)>,
    n_pruned: u64,
    pub(super) target: f64,
    bits_per_channel: Vec<f64>,
    /// The largest of `codes` when the quantizer knows it (each channel's largest code minus
    /// its offset): the frame's code width without a pass over the codes.
    max_code: Option<u32>,
}

/// The relative-L2 search's step, and its quantized tensor when its last pass wrote it, else
/// the rows' extremes (empty when unknown) for the quantizer.
type FusedResult<C> = (f64, std::result::Result<Quantized<C>, Vec<(f32, f32)>>);

/// A quantized tensor with u32 codes, or u16 codes where they fit (`quant::Code`).
enum Lossy {
    Wide(Quantized<u32>),
    Narrow(Quantized<u16>),
}

impl Lossy {
    fn with_mode(mut self, mode: u8) -> Self {
        match &mut self {
            Lossy::Wide(q) => q.mode = mode,
            Lossy::Narrow(q) => q.mode = mode,
        }
        self
    }
}

/// Matrices of at least this many values keep u16 codes where they fit (compress peak memory,
/// issue 12): below it their u32 codes take at most 256 KiB, and widening each row for the
/// rank-1 model's passes cost +1.8 % of the instructions of the trainer's compressions
/// (tensors of ≤ 32 768 values; callgrind).
const NARROW_MATRIX_MIN: usize = 1 << 16;

/// [`quantize_uniform`] into u16 codes when `narrow` and every channel spans at most 2^16
/// levels (half the code buffer), else into u32 codes: the same codes either way. In max-abs
/// mode u16 codes are also taken where a few values lie beyond their channel's window of
/// 2^16 levels: those become exceptions ([`narrow_window`]). `ext`: every row's extremes
/// when known (see [`quantize_uniform_holed`]), else empty.
#[allow(clippy::too_many_arguments)]
fn quantize_lossy(
    (data, ext): (&[f32], &[(f32, f32)]),
    holes: &[(u64, f32)],
    shape: &[usize],
    step: f64,
    max_abs: Option<f64>,
    target: f64,
    threads: usize,
    narrow: bool,
) -> Option<Lossy> {
    if narrow {
        let src = (data, ext);
        let q = quantize_uniform_holed::<u16>(src, holes, shape, step, max_abs, target, threads);
        if let Some(q) = q {
            return Some(Lossy::Narrow(q));
        }
    }
    quantize_uniform_holed::<u32>((data, ext), holes, shape, step, max_abs, target, threads)
        .map(Lossy::Wide)
}

impl Encoder {
    /// An encoder with `config` (validated: an out-of-range setting is
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) naming the key).
    pub fn new(config: EncoderConfig) -> Result<Self> {
        config.validate()?;
        Ok(Encoder { config })
    }

    /// The settings in force.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Sets the pruning threshold (the scheduler's output), in (0, 1).
    pub fn set_threshold(&mut self, threshold: f64) -> Result<()> {
        let mut c = self.config.clone();
        c.threshold = threshold;
        c.validate()?;
        self.config = c;
        Ok(())
    }

    /// Sets the mode (validated as in [`Encoder::new`]; unchanged on error).
    pub fn set_mode(&mut self, mode: Mode) -> Result<()> {
        let mut c = self.config.clone();
        c.mode = mode;
        c.validate()?;
        self.config = c;
        Ok(())
    }

    /// Compresses a C-contiguous float32 tensor of `shape` (rank ≤ 8). `allocation` (adaptive
    /// mode only) is the predictor's output: `None` (full precision), one value for the whole
    /// tensor, or one per channel.
    pub fn compress(
        &self,
        data: &[f32],
        shape: &[usize],
        allocation: Option<&[f64]>,
    ) -> Result<Compressed> {
        self.compress_impl(data, shape, allocation, None, None)
    }

    /// [`Encoder::compress`] of an n-dimensional array (any rank up to 8, any memory order: a
    /// non-C-contiguous view is copied into C order first). Decode it back to an array with
    /// [`crate::decompress_array`].
    ///
    /// ```
    /// use alcm::{Encoder, EncoderConfig, Mode};
    /// let x = ndarray::Array2::<f32>::from_shape_fn((64, 32), |(i, j)| ((i * 32 + j) as f32).sin());
    /// let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(1e-2)))?;
    /// let frame = enc.compress_array(x.view().into_dyn(), None)?;
    /// let y = alcm::decompress_array(&frame.bytes)?;
    /// assert_eq!(y.shape(), &[64, 32]);
    /// # Ok::<(), alcm::Error>(())
    /// ```
    pub fn compress_array(
        &self,
        array: ndarray::ArrayViewD<'_, f32>,
        allocation: Option<&[f64]>,
    ) -> Result<Compressed> {
        match array.as_slice() {
            Some(s) => self.compress(s, array.shape(), allocation),
            None => {
                let owned = array.as_standard_layout();
                let s = owned
                    .as_slice()
                    .ok_or_else(|| Error::invalid_argument("array is not C-contiguous"))?;
                self.compress(s, array.shape(), allocation)
            }
        }
    }

    /// Like [`Encoder::compress`], and writes to `reconstruction` (one value per input value)
    /// exactly what [`crate::decompress`] will return for the frame, bit for bit: the encoder
    /// dequantizes its own codes with the decoder's function ([`quant::dequantize`]) and
    /// applies the same verbatim values, so callers that need `x − decode(frame)` (error
    /// feedback) skip decoding the frame. On error `reconstruction` is left unchanged.
    pub fn compress_reconstructed(
        &self,
        data: &[f32],
        shape: &[usize],
        allocation: Option<&[f64]>,
        reconstruction: &mut [f32],
    ) -> Result<Compressed> {
        if reconstruction.len() != data.len() {
            return Err(Error::invalid_argument(format!(
                "the reconstruction buffer holds {} values, the tensor {}",
                reconstruction.len(),
                data.len()
            )));
        }
        self.compress_impl(data, shape, allocation, Some(reconstruction), None)
    }

    /// Compresses `data`; with `typed`, `data` is the float32 image of the caller's values
    /// `typed.raw` (another element type, `codec/typed.rs`), whose bounds hold on those values.
    pub(super) fn compress_impl(
        &self,
        data: &[f32],
        shape: &[usize],
        allocation: Option<&[f64]>,
        mut reconstruction: Option<&mut [f32]>,
        typed: Option<&Typed<'_>>,
    ) -> Result<Compressed> {
        // This call's parallel passes share its workers, joined when it returns (util/pool.rs).
        let _workers = crate::util::pool::Scope::enter(self.config.threads);
        let cpu0 = cpu_time_seconds();
        let wall0 = Instant::now();
        let n = checked_tensor(data.len(), shape)?;
        let dtype = typed.map_or(Dtype::F32, |t| t.dtype);
        let bound = format::compress_bound_typed(n, dtype);
        // A float64 value beyond float32's range has no float32 image to quantize: such a
        // tensor is stored lossless, refused only for its own non-finite values.
        let fits = typed.map_or(true, |t| typed::fits_f32(t, data));
        // Relative-L2 on float32: the step search's first pass also finds whether any value is
        // non-finite, so the separate scan runs only when one is (one pass fewer).
        let mut pre = match (self.config.mode, typed) {
            (Mode::RelativeL2(_), None) => {
                let per = fused::row_len(data.len(), shape, LONG_ROW);
                Some(super::prescan::scan(data, self.config.threads, per))
            }
            _ => None,
        };
        let non_finite = if pre.as_ref().is_some_and(|p| p.finite) {
            Vec::new()
        } else if fits {
            // The first pass's figures were of the values before cleaning: not the search's.
            pre = None;
            self.scan_non_finite(data)?
        } else {
            let own = typed.map_or(Vec::new(), typed::non_finite_image);
            self.scan_non_finite(&own)?;
            Vec::new()
        };
        // Kept non-finite values are stored verbatim; the quantizer sees zeros in their place
        // (a lossless frame holds the values' own bytes: no quantizer, no copy). The uniform
        // modes on float32 read them as holes (`holes.rs`: a piece of the input is copied
        // only where it has one); the adaptive mode's pruning and the typed paths read a
        // zeroed copy of the input.
        let quantizes = fits && !matches!(self.config.mode, Mode::Lossless);
        let holed = typed.is_none() && !matches!(self.config.mode, Mode::Adaptive);
        let holes: &[(u64, f32)] = if holed { &non_finite } else { &[] };
        let cleaned: Option<Vec<f32>> =
            (quantizes && !holed && !non_finite.is_empty()).then(|| {
                data.iter()
                    .map(|&v| if v.is_finite() { v } else { 0.0 })
                    .collect()
            });
        let values = cleaned.as_deref().unwrap_or(data);

        // u16 codes where they fit, when nothing needs u32 codes (the typed paths and the
        // other backends do). The rank-1 model reads u16 codes row by row, widened: on
        // matrices below NARROW_MATRIX_MIN values that costs more than the memory it saves.
        let narrow = typed.is_none()
            && entropy::backend_id(self.config.backend) == entropy::BACKEND_RANS
            && (effective_rank(shape) < 2 || data.len() >= NARROW_MATRIX_MIN);
        let quantized = match self.config.mode {
            Mode::Lossless => None,
            // A float64 value beyond float32's range has no float32 image to quantize.
            _ if !fits => None,
            Mode::Adaptive => Some(self.quantize_adaptive(values, shape, allocation, narrow)?),
            Mode::RelativeL2(eps) => match typed {
                Some(t) => {
                    typed::quantize_relative(self, t, values, shape, eps, &wall0)?.map(Lossy::Wide)
                }
                None => {
                    self.relative_lossy(values, holes, shape, eps, pre.take(), narrow, &wall0)?
                }
            },
            Mode::MaxAbs(e) if typed.is_some() => typed
                .and_then(|t| typed::quantize_max_abs(t, values, shape, e, self.config.threads))
                .map(Lossy::Wide),
            // 2e overflows for e > f64::MAX / 2; the frame needs a finite step (any step
            // that large maps every f32 to code 0, which meets such a bound).
            Mode::MaxAbs(e) => quantize_lossy(
                (values, &[]),
                holes,
                shape,
                (2.0 * e).min(f64::MAX),
                Some(e),
                e,
                self.config.threads,
                narrow,
            ),
        };
        // The zeroed copy served the quantizer only: freed before the codes are coded.
        drop(cleaned);
        let mut bytes = None;
        // The lossless report's fields (a vector per channel) only for a lossless frame: not
        // held through the lossy coding (compress peak memory).
        let mut report_fields = None;
        if let Some(q) = quantized {
            let r = reconstruction.as_deref_mut();
            let done = match q {
                Lossy::Wide(q) => self.finish_lossy(q, &non_finite, shape, dtype, bound, r),
                Lossy::Narrow(q) => self.finish_lossy(q, &non_finite, shape, dtype, bound, r),
            };
            if let Some((frame, fields)) = done {
                report_fields = Some(fields);
                bytes = Some(frame);
            }
        }
        let bytes = match bytes {
            Some(b) => b,
            None => {
                // Lossless: requested, or the fallback when a lossy frame would not pay.
                if let Some(r) = reconstruction {
                    r.copy_from_slice(data);
                }
                let raw = match typed {
                    Some(t) => std::borrow::Cow::Borrowed(t.raw),
                    None => crate::format::dtype::le_bytes(data),
                };
                self.lossless_bytes(&raw, dtype, shape)
            }
        };
        let fields = report_fields.unwrap_or_else(|| lossless_fields(shape));
        Ok(compressed(bytes, n, dtype, fields, cpu0))
    }

    /// Lossless compression of a tensor from its little-endian bytes alone: the frame holds
    /// those bytes, so no float32 image is made (4 bytes a value, and a pass, beside a 2-byte
    /// input) and non-finite values are found in the bytes themselves.
    pub(super) fn compress_lossless_bytes(
        &self,
        raw: &[u8],
        dtype: Dtype,
        shape: &[usize],
    ) -> Result<Compressed> {
        let _workers = crate::util::pool::Scope::enter(self.config.threads);
        let cpu0 = cpu_time_seconds();
        let n = checked_tensor(raw.len() / dtype.width(), shape)?;
        // Kept non-finite values are just bytes to a lossless frame: only a refusal looks.
        if matches!(self.config.non_finite, NonFinitePolicy::Refuse) {
            if let Some(i) = first_non_finite_raw(raw, dtype, self.config.threads) {
                return Err(non_finite_refused(
                    i,
                    crate::format::dtype::value_f64(raw, dtype, i),
                ));
            }
        }
        let bytes = self.lossless_bytes(raw, dtype, shape);
        let fields = lossless_fields(shape);
        Ok(compressed(bytes, n, dtype, fields, cpu0))
    }

    /// The lossless frame of the values' bytes `raw`: the configured backend when lossless
    /// was requested, stored when it is the fallback of a lossy frame that would not pay, and
    /// stored whenever coding would exceed the compress bound.
    fn lossless_bytes(&self, raw: &[u8], dtype: Dtype, shape: &[usize]) -> Vec<u8> {
        let requested = matches!(self.config.mode, Mode::Lossless);
        let backend_id = if requested {
            entropy::backend_id(self.config.backend)
        } else {
            entropy::BACKEND_STORE
        };
        let width = dtype.width();
        let frame = lossless_frame(
            raw,
            width,
            dtype,
            shape,
            backend_id,
            self.config.deflate_level,
        );
        if frame.len() > format::compress_bound_typed(raw.len() / width, dtype) {
            lossless_frame(raw, width, dtype, shape, entropy::BACKEND_STORE, 0)
        } else {
            frame
        }
    }

    fn scan_non_finite(&self, data: &[f32]) -> Result<Vec<(u64, f32)>> {
        // Blocks tested on the threads (the common all-finite case costs one vectorised pass
        // shared by the threads); the first non-finite index is then found in order.
        let blocks =
            crate::util::par::map(self.config.threads, data.len().div_ceil(SUM_BLOCK), |k| {
                // Exponent all ones: inf or NaN. A fold without early exit, so the loop vectorises.
                let block = &data[k * SUM_BLOCK..((k + 1) * SUM_BLOCK).min(data.len())];
                block.iter().fold(false, |any, v| {
                    any | ((v.to_bits() & 0x7fff_ffff) >= 0x7f80_0000)
                })
            });
        let Some(k) = blocks.iter().position(|&b| b) else {
            return Ok(Vec::new());
        };
        let Some(first) = data
            .iter()
            .skip(k * SUM_BLOCK)
            .position(|v| !v.is_finite())
            .map(|i| i + k * SUM_BLOCK)
        else {
            return Ok(Vec::new());
        };
        match self.config.non_finite {
            NonFinitePolicy::Refuse => Err(non_finite_refused(first, data[first] as f64)),
            NonFinitePolicy::Keep => Ok(data
                .iter()
                .enumerate()
                .skip(first)
                .filter(|(_, v)| !v.is_finite())
                .map(|(i, &v)| (i as u64, v))
                .collect()),
        }
    }

    fn quantize_adaptive(
        &self,
        data: &[f32],
        shape: &[usize],
        allocation: Option<&[f64]>,
        narrow: bool,
    ) -> Result<Lossy> {
        let channels = channel_count(shape);
        let bits = channel_bits(allocation, channels, &self.config)?;
        let prune = quant::prune_decision(data, self.config.threshold, self.config.max_drop_ratio)?;
        let t = prune.magnitude_threshold;
        // At ≤ 15 bits every range code fits u16 (the top code is at most 2^15, the stored
        // step's rounding included).
        if narrow && bits.iter().all(|&b| b <= 15.0) {
            let (params, codes) = quantize_range::<u16>(data, channels, &bits, t);
            return Ok(Lossy::Narrow(adaptive(params, codes, prune.pruned, bits)));
        }
        let (params, codes) = quantize_range::<u32>(data, channels, &bits, t);
        Ok(Lossy::Wide(adaptive(params, codes, prune.pruned, bits)))
    }

    /// Searches the largest uniform step whose reconstruction meets ‖x − x̂‖ ≤ ε‖x‖.
    pub(super) fn quantize_relative(
        &self,
        data: &[f32],
        shape: &[usize],
        eps: f64,
        wall0: &Instant,
    ) -> Result<Option<Quantized>> {
        // The typed loop (`typed.rs`) runs this search again and again with a corrected bound
        // and stops on its own 0.2 % rules: a looser search moves where it ends (seen: +11.9 %
        // on a float16 frame), so it keeps the 0.2 % search.
        let threads = self.config.threads;
        let full = |s, m| uniform_error_sq(data, &[], s, m, threads);
        let Some(step) = self.relative_step(data, &[], eps, None, false, wall0, full)? else {
            return Ok(None);
        };
        let mut q = match quantize_uniform(data, shape, step, None, eps, self.config.threads) {
            Some(q) => q,
            None => return Ok(None),
        };
        q.mode = format::MODE_RELATIVE_L2;
        Ok(Some(q))
    }

    /// The relative-L2 mode on float32 (`holes`: kept non-finite values): the step search,
    /// whose full passes write the codes where rows are short (`fused.rs`), then the quantizer
    /// only when the search did not end on its last pass's step. `narrow`: see
    /// [`quantize_lossy`] (the same codes and code type as it gives).
    #[allow(clippy::too_many_arguments)]
    fn relative_lossy(
        &self,
        data: &[f32],
        holes: &[(u64, f32)],
        shape: &[usize],
        eps: f64,
        pre: Option<Prescan>,
        narrow: bool,
        wall0: &Instant,
    ) -> Result<Option<Lossy>> {
        let searched = match narrow {
            true => self
                .relative_fused::<u16>(data, holes, shape, eps, pre, wall0)?
                .map(|(s, q)| (s, q.map(Lossy::Narrow))),
            false => self
                .relative_fused::<u32>(data, holes, shape, eps, pre, wall0)?
                .map(|(s, q)| (s, q.map(Lossy::Wide))),
        };
        let threads = self.config.threads;
        let q = match searched {
            None => None,
            Some((_, Ok(q))) => Some(q),
            // The rows' extremes from the first pass: the quantizer reads each value once.
            Some((step, Err(ext))) => {
                let src = (data, &ext[..]);
                quantize_lossy(src, holes, shape, step, None, eps, threads, narrow)
            }
        };
        Ok(q.map(|q| q.with_mode(format::MODE_RELATIVE_L2)))
    }

    /// [`Self::relative_lossy`]'s search with passes writing codes of type `C`: the step
    /// (`None`: no lossy step), and the quantized tensor when the last pass's codes are the
    /// step's and all fit `C` (their buffer is freed otherwise, before the caller quantizes),
    /// else the rows' extremes if the first pass found them.
    fn relative_fused<C: Code>(
        &self,
        data: &[f32],
        holes: &[(u64, f32)],
        shape: &[usize],
        eps: f64,
        pre: Option<Prescan>,
        wall0: &Instant,
    ) -> Result<Option<FusedResult<C>>> {
        let threads = self.config.threads;
        let per = fused::row_len(data.len(), shape, LONG_ROW);
        // The rows' extremes from the first pass (made here with the holes if not already).
        let mut pre = pre.unwrap_or_else(|| super::prescan::scan_holed(data, holes, threads, per));
        let rows = std::mem::take(&mut pre.rows);
        let guessed = pre.sub.is_some();
        let pre = Some(pre);
        let mut fused = Fused::<C>::new(data.len(), per, rows);
        let writes = fused::pays();
        let mut passes = 0;
        let full = |s, m| {
            passes += 1;
            match fused.as_mut() {
                // Which passes write codes: a pass that writes them costs ≈ 1.3 plain ones
                // on a tensor of one block of the sum (one chain of additions), the
                // quantizer's pass saved ≈ 0.65. From a subsample's guess the first full
                // pass is nearly always the last; from the first guess of a smaller tensor
                // it was the last on 9 of 30 tensors of `shared/data`, and the search then
                // took 2 passes on 11, 3 on 7, 4 on 3: every pass but that first one writes
                // codes (PERFORMANCE.md, session 21). Once one does, all later ones do.
                Some(f) if writes && (guessed || passes > 1) => {
                    f.pass((data, holes), s, m, threads)
                }
                _ => uniform_error_sq(data, holes, s, m, threads),
            }
        };
        let Some(step) = self.relative_step(data, holes, eps, pre, true, wall0, full)? else {
            return Ok(None);
        };
        let q = (fused.as_mut())
            .and_then(|f| f.take(step))
            .and_then(|(codes, rows)| fused_quantized(codes, &rows, per, step, eps, threads));
        Ok(Some(match q {
            Some(q) => (step, Ok(q)),
            None => (step, Err(fused.map_or(Vec::new(), Fused::into_extremes))),
        }))
    }

    /// The relative-L2 mode's step for `data` (`search_relative_step` under the time budget);
    /// `pre`: its first pass over `data`, if made already; `loose`: see `search_relative_step`;
    /// `full`: a full pass (see `search_relative_step`).
    #[allow(clippy::too_many_arguments)]
    fn relative_step(
        &self,
        data: &[f32],
        holes: &[(u64, f32)],
        eps: f64,
        pre: Option<Prescan>,
        loose: bool,
        wall0: &Instant,
        full: impl FnMut(f64, f32) -> Option<f64>,
    ) -> Result<Option<f64>> {
        let threads = self.config.threads;
        search_relative_step(data, holes, eps, threads, pre, loose, full, || {
            if wall0.elapsed().as_secs_f64() > self.config.timeout_seconds {
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "compression exceeded timeout_seconds = {}",
                        self.config.timeout_seconds
                    ),
                ))
            } else {
                Ok(())
            }
        })
    }

    /// The frame of `q` with the kept non-finite values, and the report's fields; `None` when
    /// it would exceed `bound` (the caller writes a lossless frame). Writes the reconstruction.
    #[allow(clippy::type_complexity)]
    fn finish_lossy<C: Code>(
        &self,
        mut q: Quantized<C>,
        non_finite: &[(u64, f32)],
        shape: &[usize],
        dtype: Dtype,
        bound: usize,
        reconstruction: Option<&mut [f32]>,
    ) -> Option<(Vec<u8>, ReportFields)> {
        q.exceptions.extend(non_finite.iter().copied());
        q.exceptions.sort_unstable_by_key(|e| e.0);
        let frame = self.write_quantized(&q, shape, dtype);
        if frame.len() > bound {
            return None;
        }
        let step = match &q.params {
            ChannelParams::Uniform { step, .. } => *step,
            ChannelParams::Range { .. } => 0.0,
        };
        if let Some(r) = reconstruction {
            quant::dequantize_codes(&q.params, &q.codes, r);
            for &(i, v) in &q.exceptions {
                r[i as usize] = v;
            }
        }
        let fields = (
            q.mode,
            q.bits_per_channel,
            q.n_pruned,
            q.exceptions.len(),
            step,
        );
        Some((frame, fields))
    }

    fn write_quantized<C: Code>(&self, q: &Quantized<C>, shape: &[usize], dtype: Dtype) -> Vec<u8> {
        let threads = self.config.threads;
        let max_code = q.max_code.unwrap_or_else(|| max_code_of(&q.codes, threads));
        let width = pack::width_for(max_code);
        let raw_len = q.codes.len() * width as usize;
        let (backend_id, payload) = payload::encode(
            &q.params,
            &q.codes,
            Some(max_code),
            width,
            self.config.backend,
            self.config.deflate_level,
            threads,
            // Trivial dimensions do not count: `(N, 1)` is coded as `(N,)` (see `channel_count`).
            effective_rank(shape) >= 2,
        );
        let params = format::encode_params(&q.params);
        format::write_frame_around(
            &FrameParts {
                mode: q.mode,
                dtype: dtype.id(),
                backend: backend_id,
                code_width: width,
                shape,
                target: q.target,
                n_pruned: q.n_pruned,
                params: &params,
                shared_qmin: format::shares_qmin(&q.params),
                exceptions: &q.exceptions,
                raw_len: raw_len as u64,
            },
            payload,
            threads,
        )
    }
}

/// The adaptive mode's quantized tensor.
fn adaptive<C>(
    params: ChannelParams,
    codes: Vec<C>,
    pruned: usize,
    bits: Vec<f64>,
) -> Quantized<C> {
    Quantized {
        mode: format::MODE_ADAPTIVE,
        params,
        codes,
        exceptions: Vec::new(),
        n_pruned: pruned as u64,
        target: 0.0,
        bits_per_channel: bits,
        // A channel's range need not reach its top code: counted by `write_quantized`.
        max_code: None,
    }
}

/// The largest of `codes` (0 for none), counted on the threads (any split: the same maximum).
fn max_code_of<C: Code>(codes: &[C], threads: usize) -> u32 {
    crate::util::par::map(threads, codes.len().div_ceil(SUM_BLOCK), |k| {
        C::max_code(&codes[k * SUM_BLOCK..((k + 1) * SUM_BLOCK).min(codes.len())])
    })
    .into_iter()
    .max()
    .unwrap_or(0)
}

/// Range-quantizes every channel with its precision, pruning |x| ≤ `prune_at` to zero.
fn quantize_range<C: Code>(
    data: &[f32],
    channels: usize,
    bits: &[f64],
    prune_at: f32,
) -> (ChannelParams, Vec<C>) {
    let mut codes: Vec<C> = crate::util::par::zeroed(data.len());
    let (mut lo, mut step) = (Vec::with_capacity(channels), Vec::with_capacity(channels));
    if let Some(per) = data.len().checked_div(channels) {
        for (c, (xs, us)) in data
            .chunks_exact(per)
            .zip(codes.chunks_exact_mut(per))
            .enumerate()
        {
            let (l, st) = quant::quantize_range_pruned(xs, prune_at, bits[c], us);
            lo.push(l);
            step.push(st);
        }
    }
    (ChannelParams::Range { lo, step }, codes)
}

/// Squared L2 error of uniform quantization with `step`, measured on the decoder's own
/// arithmetic; `None` when a code does not fit the exact-integer range.
pub(super) fn uniform_error_sq(
    data: &[f32],
    holes: &[(u64, f32)],
    step: f64,
    max_abs: f32,
    threads: usize,
) -> Option<f64> {
    let inv = 1.0 / step;
    // One range check for the tensor (the largest |x| gives the largest |code|) instead of one
    // per value; `uniform_code` applies the same test.
    quant::uniform_code(max_abs, inv)?;
    // Fixed blocks of SUM_BLOCK values (quant::error_sq_block: four partial sums), blocks
    // added in order: deterministic whatever the thread count and the instruction set. Two
    // blocks a work item, summed side by side (`error_sq_pair`).
    let blocks = data.len().div_ceil(SUM_BLOCK);
    let parts = crate::util::par::map(threads, blocks.div_ceil(2), |k| {
        let (mut s0, mut s1) = (Vec::new(), Vec::new());
        let range =
            |b: usize| (b * SUM_BLOCK).min(data.len())..((b + 1) * SUM_BLOCK).min(data.len());
        let a = super::holes::piece(data, range(2 * k), holes, &mut s0);
        let b = super::holes::piece(data, range(2 * k + 1), holes, &mut s1);
        quant::error_sq_pair(a, b, inv, step)
    });
    Some(
        parts
            .into_iter()
            .flat_map(|(a, b)| [a, b])
            .take(blocks)
            .sum(),
    )
}

/// The largest step (within 0.2 %; 0.5 % when `loose` from 2^14 values) with
/// ‖x − x̂‖ ≤ ε‖x‖, or `None` when none exists short of lossless. `check` is called once per
/// pass (time budget). `pre`: the first pass over these same (finite) values when the caller
/// has made it already (`prescan::scan`).
/// `holes`: kept non-finite values, read as zeros (`holes.rs`). `loose`: whether a tensor
/// from [`LOOSE_FROM`] values may stop within [`LOOSE_TOLERANCE`] (else always 0.2 %).
/// `full(step, max_abs)`: a pass over all of `data`, [`uniform_error_sq`] or one giving its
/// very value (`fused.rs`, which also writes the step's codes).
#[allow(clippy::too_many_arguments)]
pub(crate) fn search_relative_step(
    data: &[f32],
    holes: &[(u64, f32)],
    eps: f64,
    threads: usize,
    pre: Option<Prescan>,
    loose: bool,
    mut full: impl FnMut(f64, f32) -> Option<f64>,
    mut check: impl FnMut() -> Result<()>,
) -> Result<Option<f64>> {
    let pre = pre.unwrap_or_else(|| super::prescan::scan_holed(data, holes, threads, 0));
    let stats = pre.stats;
    // Large tensors: search on a deterministic strided subsample first (≈64 Ki values), then
    // run the full search from that estimate; only full-data passes decide the result.
    let guess = match pre.sub {
        Some((sub, nonzero, max_abs)) => {
            // The target from the norm of the whole tensor, scaled to the sample: the sample's
            // own norm is dominated by its few largest values and misses the full one by > 10 %
            // on heavy-tailed tensors, while the error (≤ Δ²/4 per value) samples well. Saves a
            // full pass on such tensors.
            let target_sq = stats.0 * (sub.len() as f64 / data.len() as f64);
            let sub_stats = (0.0, nonzero, max_abs);
            let mut pass = |s, m| uniform_error_sq(&sub, &[], s, m, 1);
            let at = (target_sq, None, TOLERANCE);
            search_from(eps, sub_stats, at, &mut check, &mut pass)?
        }
        None => None,
    };
    let tol = if loose && data.len() >= LOOSE_FROM {
        LOOSE_TOLERANCE
    } else {
        TOLERANCE
    };
    let at = (stats.0, guess.map(|g| g * 0.999), tol);
    search_from(eps, stats, at, &mut check, &mut full)
}

/// How far below the largest passing step the search may stop (relative): it ends on a
/// passing step predicted within this of the largest, or one this close below a failing one.
const TOLERANCE: f64 = 0.002;
/// [`TOLERANCE`] of the full-data passes on tensors of at least [`LOOSE_FROM`] values. The
/// error is a noisy function of the step (a 0.3–0.5 % change of the step moves it by as much
/// as the model predicts), so the last passes of a 0.2 % search are mostly spent on that
/// noise: at 0.5 % a fifth fewer passes over the data set, at most +0.22 % bytes on any
/// rANS frame (+0.33 % deflate; measured, PERFORMANCE.md, session 19 `step19`). The passes' steps are the 0.2 % search's (the next
/// guess does not depend on the tolerance), so its result is one that search also passed, and
/// never above its result.
const LOOSE_TOLERANCE: f64 = 0.005;
/// Tensors from this many values use [`LOOSE_TOLERANCE`]. Below, a pass is a few microseconds
/// while a step 0.5 % short moves whole bytes of a small frame (+1.6 % seen on 384 values).
const LOOSE_FROM: usize = 1 << 14;

/// The search on data with statistics `stats` (`(Σ x², number of non-zero values, max |x|)`)
/// for an error of at most `eps · √norm_sq` (`norm_sq`: the data's Σ x², or the whole
/// tensor's scaled to a sample), from `guess` if any, stopping within `tol` of the largest
/// step (relative, [`TOLERANCE`]). `pass(step, max |x|)`: the data's squared error at `step`
/// ([`uniform_error_sq`]).
fn search_from(
    eps: f64,
    stats: (f64, usize, f32),
    (norm_sq, guess, tol): (f64, Option<f64>, f64),
    check: &mut impl FnMut() -> Result<()>,
    pass: &mut impl FnMut(f64, f32) -> Option<f64>,
) -> Result<Option<f64>> {
    let (_, nonzero, max_abs) = stats;
    if nonzero == 0 {
        return Ok(Some(1.0));
    }
    let target = eps * norm_sq.sqrt();
    // Uniform rounding error has RMS step/√12 per non-zero value: the first guess.
    let mut s = guess
        .unwrap_or(target * (12.0 / nonzero as f64).sqrt())
        .min(4.0 * max_abs as f64)
        .max(f64::MIN_POSITIVE * 1e10);
    let (mut ok, mut bad): (Option<f64>, Option<f64>) = (None, None);
    let mut prev: Option<(f64, f64)> = None;
    // Deterministic ln/exp (basic IEEE operations): the chosen step must be the same everywhere.
    let (ln, exp) = (crate::util::detmath::det_ln, crate::util::detmath::det_exp);
    for _ in 0..60 {
        check()?;
        let e = match pass(s, max_abs) {
            Some(e) => e.sqrt(),
            None => return Ok(ok),
        };
        // Local model e ∝ s^p, p from the last two passes (1 at first): the error grows more
        // slowly than the step when many values round to zero.
        let p = match prev {
            Some((ps, pe)) if pe > 0.0 && e > 0.0 && ps != s && pe != e => {
                (ln(e / pe) / ln(s / ps)).clamp(0.1, 2.0)
            }
            _ => 1.0,
        };
        prev = Some((s, e));
        if e <= target {
            ok = Some(ok.map_or(s, |o: f64| o.max(s)));
            // An accepted step predicted within `tol` of the largest one: done.
            if ok == Some(s) && (e >= target || ln(target / e) / p <= tol) {
                break;
            }
        } else {
            bad = Some(bad.map_or(s, |b: f64| b.min(s)));
        }
        match (ok, bad) {
            (Some(o), Some(b)) if b / o < 1.0 + tol => break,
            (Some(o), None) if o >= 4.0 * max_abs as f64 => break,
            _ => {}
        }
        // Aim just below the target.
        let mut next = if e > 0.0 {
            s * exp(ln(0.9995 * target / e) / p)
        } else {
            s * 2.0
        };
        // The error is a step function of the step: the secant alone can creep towards a jump
        // by ever smaller increments (seen: 60 passes), so every pass must make real progress.
        match (ok, bad) {
            (Some(o), Some(b)) => {
                if !(next > o * 1.0005 && next < b / 1.0005) {
                    next = (o * b).sqrt();
                }
            }
            // Just under a 0.2 % bracket whatever `tol`: the steps tried do not depend on it.
            (Some(o), None) => next = next.max(o * 1.0019),
            (None, Some(b)) => next = next.min(b * 0.999),
            (None, None) => {}
        }
        if !(next.is_finite() && next > 0.0) {
            break;
        }
        s = next;
    }
    Ok(ok)
}

/// Uniform quantization with `step`; with `max_abs`, values whose reconstruction misses the
/// bound (float rounding at a cell edge) become exceptions. `None` when the codes of a channel
/// span more than 2^32 levels (the caller falls back to lossless).
pub(super) fn quantize_uniform<C: Code>(
    data: &[f32],
    shape: &[usize],
    step: f64,
    max_abs: Option<f64>,
    target: f64,
    threads: usize,
) -> Option<Quantized<C>> {
    quantize_uniform_holed((data, &[]), &[], shape, step, max_abs, target, threads)
}

/// [`quantize_uniform`] of `data` with zeros in its `holes` (kept non-finite values,
/// `holes.rs`): a row, or a piece of a long one, is copied only where it has one. `ext`: the
/// smallest and largest value of every row (with its holes as zeros, `prescan::scan_holed`),
/// or empty: read from each row.
pub(super) fn quantize_uniform_holed<C: Code>(
    (data, ext): (&[f32], &[(f32, f32)]),
    holes: &[(u64, f32)],
    shape: &[usize],
    step: f64,
    max_abs: Option<f64>,
    target: f64,
    threads: usize,
) -> Option<Quantized<C>> {
    let channels = channel_count(shape);
    let inv = 1.0 / step;
    let Some(per) = data.len().checked_div(channels) else {
        return uniform_quantized(Vec::new(), Vec::new(), 0, step, target, threads);
    };
    {
        // Blocks of channels (any partition gives the same codes), one per work item, as
        // many per thread.
        let cpb = crate::util::par::balanced_chunk(
            channels,
            crate::entropy::model::rows_per_block(channels, per),
            threads,
        );
        // The quantizer writes every code itself: no zeroing pass over the buffer.
        let quantize = |k: usize, ub: &mut [std::mem::MaybeUninit<C>]| {
            let mut out: RowsOut = (
                Vec::with_capacity(cpb),
                Vec::with_capacity(cpb),
                Vec::new(),
                (i64::MIN, 0u64),
                0usize,
            );
            // One pass per channel into a row buffer of codes (exact integers in f64), then
            // `u = q − lo` in cache; both loops vectorise.
            // A channel longer than LONG_ROW (a vector is one channel) is coded a piece at
            // a time (`long_channel_codes`): the row buffer stays O(LONG_ROW).
            let mut qs = vec![0f64; per.min(LONG_ROW)];
            let mut scratch = Vec::new();
            // Values past the last whole channel (none while the data has the shape's
            // count) keep the zeros the buffer used to be filled with.
            let whole = ub.len() - ub.len() % per.max(1);
            ub[whole..].fill(std::mem::MaybeUninit::new(C::wrap(0)));
            for (ci, us) in ub.chunks_exact_mut(per).enumerate() {
                let c = k * cpb + ci;
                let before = out.2.len();
                let long = if per > LONG_ROW {
                    let (qs, ex, first) = (&mut qs, &mut out.2, c * per);
                    let src = Holed { data, holes, first };
                    long_channel_codes(src, inv, step, max_abs, qs, us, ex)
                } else {
                    None
                };
                let (lo, hi) = match long {
                    Some((lo, hi)) => {
                        if hi - lo > C::MAX as f64 {
                            return None;
                        }
                        // u = q − lo, from q mod 2^bits (exact: 0 ≤ q − lo ≤ C::MAX).
                        let l32 = lo as i64 as u32;
                        // SAFETY: `long_channel_codes` wrote the whole channel (it stops
                        // early only when the range exceeds `C::MAX`, rejected above).
                        let us = unsafe { crate::util::par::assume_written(us) };
                        us.iter_mut()
                            .for_each(|u| *u = C::wrap(u.get().wrapping_sub(l32)));
                        (lo, hi)
                    }
                    None => {
                        out.2.truncate(before);
                        // The row whole (a long one only beyond ±2^50 codes), zeros in
                        // its holes.
                        let range = c * per..(c + 1) * per;
                        let xs = super::holes::piece(data, range, holes, &mut scratch);
                        // Relative-L2 has no rounding outliers to find: no f64 code row
                        // (`quant_direct`: the same codes and range).
                        let direct = match (max_abs, ext.get(c)) {
                            (None, Some(&e)) => Some(e),
                            (None, None) => quant_direct::extremes(xs),
                            (Some(_), _) => None,
                        };
                        if let Some(ext) = direct {
                            let (lo, hi, big) = quant_direct::code_range(ext, inv);
                            if big.is_nan() || big >= 9.0e15 || hi - lo > C::MAX as f64 {
                                return None;
                            }
                            quant_direct::offsets(xs, inv, lo, us);
                            (lo, hi)
                        } else {
                            let mut full;
                            let qs = if per > LONG_ROW {
                                // Codes beyond ±2^51 (never seen in practice): a whole row.
                                full = vec![0f64; per];
                                &mut full
                            } else {
                                &mut qs
                            };
                            let (lo, hi, big) = quant::uniform_codes_f64(xs, inv, qs);
                            // The exact-integer range of `uniform_code` (also rejects NaN).
                            if big.is_nan() || big >= 9.0e15 {
                                return None;
                            }
                            let (lo, hi) = match hi - lo > C::MAX as f64 {
                                false => (lo, hi),
                                // Max-abs into u16: the channel's codes in a window of
                                // 2^16 levels, the few values beyond it exceptions (their
                                // reconstruction misses the bound: pushed below).
                                true if max_abs.is_some() && C::MAX < u32::MAX => {
                                    let (l, h, beyond) = narrow_window(qs, C::MAX as f64)?;
                                    out.4 += beyond;
                                    (l, h)
                                }
                                true => return None,
                            };
                            C::offset(qs, lo, us);
                            if let Some(e) = max_abs {
                                push_rounding_outliers(qs, xs, step, e, c * per, &mut out.2);
                            }
                            (lo, hi)
                        }
                    }
                };
                push_row(&mut out, lo, hi);
            }
            Some(out)
        };
        // SAFETY: `quantize` returns `Some` only once it wrote its chunk: each arm writes the
        // whole channel (`long_channel_codes`, `quant_direct::offsets`, `C::offset`, all of
        // `us`) or returns `None`, and any values past the last whole channel are zeroed.
        let (codes, parts) = unsafe {
            crate::util::par::map_written_chunks(threads, data.len(), (cpb * per).max(1), quantize)
        }?;
        uniform_quantized(codes, parts, per, step, target, threads)
    }
}

/// The uniform quantizer's result (relative-L2: `target` ε) from a fused pass's codes and
/// rows' code ranges (`fused.rs`), rows of `per` values.
pub(super) fn fused_quantized<C: Code>(
    codes: Vec<C>,
    rows: &[fused::RowRange],
    per: usize,
    step: f64,
    target: f64,
    threads: usize,
) -> Option<Quantized<C>> {
    let mut part = RowsOut::default();
    for &(lo, hi) in rows {
        push_row(&mut part, lo, hi);
    }
    uniform_quantized(codes, vec![part], per, step, target, threads)
}

/// What a block of rows of the uniform quantizer records: per row its smallest code and its
/// precision, the block's exceptions, `(largest code, widest row span)`, and the number of
/// values beyond their row's window ([`narrow_window`]).
type RowsOut = (Vec<i64>, Vec<f64>, Vec<(u64, f32)>, (i64, u64), usize);

/// Records a row whose codes span `lo..=hi`.
fn push_row(out: &mut RowsOut, lo: f64, hi: f64) {
    let (lo, hi) = (lo as i64, hi as i64);
    out.0.push(lo);
    out.1.push(((hi - lo) as f64 + 1.0).log2());
    let (top, wide) = out.3;
    out.3 = (top.max(hi), wide.max((hi - lo) as u64));
}

/// The uniform quantizer's result from the codes `u` of rows of `per` values and its blocks'
/// records (in row order); `None` when too many values lie beyond their row's window.
fn uniform_quantized<C: Code>(
    mut codes: Vec<C>,
    parts: Vec<RowsOut>,
    per: usize,
    step: f64,
    target: f64,
    threads: usize,
) -> Option<Quantized<C>> {
    let rows = parts.iter().map(|p| p.0.len()).sum();
    let mut qmin = Vec::with_capacity(rows);
    let mut bits_per_channel = Vec::with_capacity(rows);
    let mut exceptions = Vec::new();
    let (mut hi, mut widest, mut beyond) = (i64::MIN, 0u64, 0usize);
    for p in parts {
        let (q, b, e, (h, w), n) = p;
        qmin.extend(q);
        bits_per_channel.extend(b);
        exceptions.extend(e);
        hi = hi.max(h);
        widest = widest.max(w);
        beyond += n;
    }
    // Exceptions for codes beyond the u16 windows cost ≈ 8 bytes each: at most one value
    // in 4096 (≤ 0.02 bits a value), else the u32 codes.
    if beyond > codes.len() / WINDOW_SHARE {
        return None;
    }
    let max_code = match codes.is_empty() {
        // Empty: no channel's range counts.
        true => 0,
        false => share_qmin(&mut qmin, &mut codes, per, hi, widest as u32, threads),
    };
    Some(Quantized {
        mode: format::MODE_MAX_ABS,
        params: ChannelParams::Uniform { step, qmin },
        codes,
        exceptions,
        n_pruned: 0,
        target,
        bits_per_channel,
        max_code: Some(max_code),
    })
}

/// Channels longer than this are quantized a piece of this many values at a time.
const LONG_ROW: usize = 1 << 12;

/// At most one value in this many may lie beyond its channel's window of u16 codes
/// ([`narrow_window`]) in a tensor, at most one in [`WINDOW_ROW_SHARE`] of a channel.
const WINDOW_SHARE: usize = 4096;
const WINDOW_ROW_SHARE: usize = 64;

/// The window of `width + 1` code levels holding the most of a channel's codes `qs` (the
/// lowest such window), `qs` clamped into it, and how many codes were beyond it; `None` when
/// more than one in [`WINDOW_ROW_SHARE`] were.
///
/// Why: one outlying row (the MiniLM intermediate weight at max-abs 1e-5 has one of 1536
/// rows spanning 129 443 levels) made every code of the tensor u32, the size of the input:
/// with the frame and the coder's buffers, the compress call held 1.58 × the input, over
/// issue 12's bound. The values beyond the window become exceptions, exact.
fn narrow_window(qs: &mut [f64], width: f64) -> Option<(f64, f64, usize)> {
    let mut s = qs.to_vec();
    s.sort_unstable_by(f64::total_cmp);
    let (mut best, mut at, mut j) = (0, 0, 0);
    for i in 0..s.len() {
        while j < s.len() && s[j] - s[i] <= width {
            j += 1;
        }
        if j - i > best {
            (best, at) = (j - i, i);
        }
    }
    let beyond = s.len() - best;
    if beyond * WINDOW_ROW_SHARE > s.len() {
        return None;
    }
    let (lo, hi) = (s[at], s[at + best - 1]);
    for q in qs.iter_mut() {
        *q = q.clamp(lo, hi);
    }
    Some((lo, hi, beyond))
}

/// Codes of a long channel `xs`, a piece of `qs.len()` values at a time, into `us` as
/// `q mod 2^32` (the caller subtracts the channel's smallest code); max-abs rounding outliers
/// are pushed to `exceptions` (indices from `first`). Returns the channel's smallest and
/// largest code, or `None` when |x/Δ| reaches 2^50 or is NaN (the caller then quantizes the
/// channel whole, as short channels are).
#[allow(clippy::too_many_arguments)]
fn long_channel_codes<C: Code>(
    xs: Holed<'_>,
    inv: f64,
    step: f64,
    max_abs: Option<f64>,
    qs: &mut [f64],
    us: &mut [std::mem::MaybeUninit<C>],
    exceptions: &mut Vec<(u64, f32)>,
) -> Option<(f64, f64)> {
    // 1.5 · 2^52: for an integer |q| < 2^51, q + BIAS is exact with ulp 1 and the low 32 bits
    // of its representation are q mod 2^32 (2^51 is a multiple of 2^32).
    const BIAS: f64 = 6_755_399_441_055_744.0;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let piece = qs.len();
    let first = xs.first;
    let mut scratch = Vec::new();
    for (j, uc) in us.chunks_mut(piece).enumerate() {
        let at = first + j * piece;
        let xc = super::holes::piece(xs.data, at..at + uc.len(), xs.holes, &mut scratch);
        let q = &mut qs[..xc.len()];
        let (l, h, big) = quant::uniform_codes_f64(xc, inv, q);
        if big.is_nan() || big >= 1_125_899_906_842_624.0 {
            return None;
        }
        lo = lo.min(l);
        hi = hi.max(h);
        if hi - lo > C::MAX as f64 {
            // Too wide for `C`: the caller gives up (a narrower type is only tried first).
            return Some((lo, hi));
        }
        for (u, &v) in uc.iter_mut().zip(q.iter()) {
            u.write(C::wrap((v + BIAS).to_bits() as u32));
        }
        if let Some(e) = max_abs {
            push_rounding_outliers(q, xc, step, e, first + j * piece, exceptions);
        }
    }
    Some((lo, hi))
}

/// The values `xs` (index `first` on) whose reconstruction from codes `qs` misses `e`.
fn push_rounding_outliers(
    qs: &[f64],
    xs: &[f32],
    step: f64,
    e: f64,
    first: usize,
    out: &mut Vec<(u64, f32)>,
) {
    for (k, (&q, &x)) in qs.iter().zip(xs).enumerate() {
        let xr = (q * step) as f32;
        if (x as f64 - xr as f64).abs() > e {
            out.push(((first + k) as u64, x));
        }
    }
}

/// A channel of the input from index `first`, with zeros in its holes (`holes.rs`).
#[derive(Clone, Copy)]
struct Holed<'a> {
    data: &'a [f32],
    holes: &'a [(u64, f32)],
    first: usize,
}

/// Re-bases every channel's codes on the tensor's smallest code when that does not widen the
/// code stream, so the frame stores one `qmin` instead of one per channel
/// (`format::FLAG_SHARED_QMIN`). `hi` is the largest code `q`, `widest` the largest `u`. The
/// codes `q = qmin_c + u`, hence the reconstruction, are unchanged. Returns the largest code
/// `u` after the re-basing (`hi − lo` or `widest`), for channels whose `hi − qmin_c` is their
/// largest `u` (each channel's range reaches its largest code).
fn share_qmin<C: Code>(
    qmin: &mut [i64],
    codes: &mut [C],
    per: usize,
    hi: i64,
    widest: u32,
    threads: usize,
) -> u32 {
    let (Some(&lo), Some(&q_max)) = (qmin.iter().min(), qmin.iter().max()) else {
        return widest;
    };
    if lo == q_max || per == 0 {
        return widest;
    }
    let top = match u32::try_from(hi - lo) {
        Ok(top) if pack::width_for(top) == pack::width_for(widest) => top,
        _ => return widest,
    };
    // A pass over all codes: blocks of channels on the threads (integer adds, any split
    // gives the same codes).
    let cpb = crate::util::par::balanced_chunk(
        qmin.len(),
        crate::entropy::model::rows_per_block(qmin.len(), per),
        threads,
    );
    let qm: &[i64] = qmin;
    crate::util::par::map_chunks_mut(threads, codes, cpb * per, |k, block| {
        for (c, us) in block.chunks_exact_mut(per).enumerate() {
            let d = (qm[k * cpb + c] - lo) as u32;
            if d != 0 {
                for u in us {
                    *u = C::wrap(u.get() + d);
                }
            }
        }
    });
    qmin.fill(lo);
    top
}

/// The shape checks of every compression; the value count.
fn checked_tensor(len: usize, shape: &[usize]) -> Result<usize> {
    let n = check_shape(len, shape)?;
    if shape.len() > MAX_RANK {
        return Err(Error::invalid_argument(format!(
            "rank {} exceeds the maximum {MAX_RANK}",
            shape.len()
        )));
    }
    if channel_count(shape) > u32::MAX as usize {
        return Err(Error::invalid_argument("more than 2^32 − 1 channels"));
    }
    Ok(n)
}

/// The report's mode, bits per channel, pruned count, exceptions and step.
type ReportFields = (u8, Vec<f64>, u64, usize, f64);

/// The report fields of a lossless frame.
fn lossless_fields(shape: &[usize]) -> ReportFields {
    (
        format::MODE_LOSSLESS,
        vec![32.0; channel_count(shape)],
        0,
        0,
        0.0,
    )
}

/// The refusal of the non-finite value `v` at index `i` (the default policy).
fn non_finite_refused(i: usize, v: f64) -> Error {
    Error::new(
        ErrorKind::NonFinite,
        format!("value at index {i} is {v} (set non_finite: keep to store such values exactly)"),
    )
}

/// The index of the first non-finite value of the little-endian `dtype` values `raw`, read
/// from their exponent bits (all ones: inf or NaN, a magnitude at or above infinity's). The
/// magnitudes are compared as signed integers (they are never negative): baseline x86-64 has
/// vector compares for signed 16- and 32-bit lanes only, so these loops vectorise.
fn first_non_finite_raw(raw: &[u8], dtype: Dtype, threads: usize) -> Option<usize> {
    match dtype {
        Dtype::BF16 => first_in(raw, threads, |b| i16::from_le_bytes(b) & 0x7fff, 0x7f80),
        Dtype::F16 => first_in(raw, threads, |b| i16::from_le_bytes(b) & 0x7fff, 0x7c00),
        Dtype::F32 => first_in(
            raw,
            threads,
            |b| i32::from_le_bytes(b) & 0x7fff_ffff,
            0x7f80_0000,
        ),
        Dtype::F64 => first_in(
            raw,
            threads,
            |b| i64::from_le_bytes(b) & 0x7fff_ffff_ffff_ffff,
            0x7ff0_0000_0000_0000,
        ),
    }
}

/// The index of the first `W`-byte value of `raw` whose magnitude bits `mag` reach `inf`:
/// blocks tested on the threads (a fold without early exit, so the common case of none
/// vectorises), then the first such block searched in order.
fn first_in<const W: usize, M: Ord + Copy + Sync>(
    raw: &[u8],
    threads: usize,
    mag: impl Fn([u8; W]) -> M + Sync,
    inf: M,
) -> Option<usize> {
    let n = raw.len() / W;
    let block = |k: usize| {
        raw[k * SUM_BLOCK * W..((k + 1) * SUM_BLOCK).min(n) * W]
            .chunks_exact(W)
            .map(|c| {
                let mut b = [0; W];
                b.copy_from_slice(c);
                mag(b)
            })
    };
    let hit = crate::util::par::map(threads, n.div_ceil(SUM_BLOCK), |k| {
        block(k).fold(false, |any, m| any | (m >= inf))
    });
    let k = hit.iter().position(|&h| h)?;
    block(k).position(|m| m >= inf).map(|i| i + k * SUM_BLOCK)
}

/// The compressed frame `bytes` of `n` values of `dtype` with its report.
fn compressed(
    bytes: Vec<u8>,
    n: usize,
    dtype: Dtype,
    fields: ReportFields,
    cpu0: f64,
) -> Compressed {
    let cpu_seconds = (cpu_time_seconds() - cpu0).max(0.0);
    let (mode, bits_per_channel, n_pruned, exceptions, step) = fields;
    let input_bytes = n * dtype.width();
    let per_value = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
    let ratio = if n == 0 {
        0.0
    } else {
        input_bytes as f64 / bytes.len() as f64
    };
    let report = Report {
        input_bytes,
        output_bytes: bytes.len(),
        ratio,
        bits_per_value: per_value(8.0 * bytes.len() as f64),
        dropped_ratio: per_value(n_pruned as f64),
        bits_per_channel,
        cpu_seconds,
        caq: ratio / (cpu_seconds + 1.0),
        mode: FrameMode::from_id(mode).unwrap_or(FrameMode::Lossless),
        exceptions,
        step,
    };
    Compressed { bytes, report }
}

/// The lossless frame of every element type, from the values' little-endian `bytes` (`width`
/// each). The default backend (rANS) means the best lossless coder: the float layout's
/// (`codec/lossless.rs`, which keeps the decoder's allocation bound itself); the others code the
/// byte planes (`pack::shuffle`).
fn lossless_frame(
    bytes: &[u8],
    width: usize,
    dtype: Dtype,
    shape: &[usize],
    backend_id: u8,
    level: u8,
) -> Vec<u8> {
    let raw_len = bytes.len();
    let (payload, backend_id) = if backend_id == entropy::BACKEND_RANS {
        (
            lossless::encode_bounded(bytes, width, shape),
            entropy::BACKEND_FLOAT,
        )
    } else {
        let mut raw = Vec::with_capacity(bytes.len());
        pack::shuffle(bytes, width, &mut raw);
        let payload = entropy::encode(backend_id, level, &raw, width as u8);
        if entropy::expansion_ok(payload.len() as u64, raw.len() as u64) {
            (payload, backend_id)
        } else {
            // Keep the decoder's allocation bound (entropy::check_sizes).
            (
                entropy::encode(entropy::BACKEND_DEFLATE, level, &raw, width as u8),
                entropy::BACKEND_DEFLATE,
            )
        }
    };
    format::write_frame_around(
        &FrameParts {
            mode: format::MODE_LOSSLESS,
            dtype: dtype.id(),
            backend: backend_id,
            code_width: width as u8,
            shape,
            target: 0.0,
            n_pruned: 0,
            params: &[],
            shared_qmin: false,
            exceptions: &[],
            raw_len: raw_len as u64,
        },
        payload,
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `qmin_c + u` of every value, and the exceptions, against the definition: q = round(x/Δ)
    /// (`quant::uniform_code`), an outlier where |x − f32(q·Δ)| > e.
    fn check<C: Code>(x: &[f32], shape: &[usize], step: f64, e: Option<f64>, threads: usize) {
        let Some(q) = quantize_uniform::<C>(x, shape, step, e, 0.0, threads) else {
            // Only a narrow type may refuse (codes spanning more levels than it holds).
            assert!(C::MAX < u32::MAX, "{shape:?} step {step}");
            return;
        };
        let ChannelParams::Uniform { qmin, .. } = &q.params else {
            panic!("uniform params");
        };
        let per = x.len() / qmin.len();
        let mut want_exc = Vec::new();
        for (i, &v) in x.iter().enumerate() {
            let code = quant::uniform_code(v, 1.0 / step).unwrap();
            assert_eq!(
                qmin[i / per] + q.codes[i].get() as i64,
                code,
                "value {i} of {shape:?}"
            );
            if let Some(e) = e {
                if (v as f64 - (code as f64 * step) as f32 as f64).abs() > e {
                    want_exc.push((i as u64, v));
                }
            }
        }
        assert_eq!(q.exceptions, want_exc);
        assert_eq!(
            q.max_code,
            Some(max_code_of(&q.codes, 1)),
            "{shape:?} step {step}"
        );
    }

    /// The quantizer's largest code (no pass over the codes) against the codes' own maximum:
    /// channels re-based on a shared smallest code (the maximum is then the tensor's top code
    /// less that code, above every channel's own span) or not (the widest channel), max-abs
    /// rows narrowed to a window of u16 codes, holes, empty channels.
    #[test]
    fn the_quantizers_largest_code_is_the_codes_maximum() {
        let mut draw = crate::util::test_rng::uniform(0x2545_F491_4F6C_DD1D);
        let mut u = move || draw() - 0.5;
        let (rows, cols) = (48, 300);
        let mut shared_above_widest = 0;
        for case in 0..6 {
            // Rows of positive and of negative values: sharing their smallest code raises the
            // top code above every row's own span.
            let x: Vec<f32> = (0..rows * cols)
                .map(|i| {
                    let r = i / cols;
                    let centre = if r % 2 == 0 { 0.6 } else { -0.6 } * case as f64;
                    (u() * (1.0 + r as f64 / 64.0) + centre) as f32
                })
                .collect();
            let mut outlying = x.clone();
            outlying[5 * cols + 7] = 3.0e2;
            for (x, step, e) in [
                (&x, 1e-2, None),
                (&x, 3e-3, Some(1.5e-3)),
                (&x, 1.0, None),
                (&outlying, 2e-3, Some(1e-3)),
            ] {
                for threads in [1, 2] {
                    let holes = [(3u64, 0f32), (cols as u64 * 9 + 2, 0.0)];
                    for holes in [&holes[..0], &holes[..]] {
                        let shape = [rows, cols];
                        let q16 = quantize_uniform_holed::<u16>(
                            (x, &[]),
                            holes,
                            &shape,
                            step,
                            e,
                            0.0,
                            threads,
                        );
                        let q32 = quantize_uniform_holed::<u32>(
                            (x, &[]),
                            holes,
                            &shape,
                            step,
                            e,
                            0.0,
                            threads,
                        );
                        if let Some(q) = &q16 {
                            assert_eq!(q.max_code, Some(max_code_of(&q.codes, 1)), "{case} {step}");
                        }
                        let q = q32.unwrap();
                        let top = max_code_of(&q.codes, 1);
                        assert_eq!(q.max_code, Some(top), "{case} {step} {e:?}");
                        let ChannelParams::Uniform { qmin, .. } = &q.params else {
                            panic!("uniform params");
                        };
                        let span = |r: &[u32]| r.iter().max().unwrap() - r.iter().min().unwrap();
                        let widest = q.codes.chunks(cols).map(span).max().unwrap();
                        if qmin.windows(2).all(|w| w[0] == w[1]) && top > widest {
                            shared_above_widest += 1;
                        }
                    }
                }
            }
        }
        assert!(
            shared_above_widest > 0,
            "no case re-based above the widest row"
        );
        for shape in [[0usize, 4], [4, 0]] {
            let q = quantize_uniform::<u32>(&[], &shape, 1.0, None, 0.0, 1).unwrap();
            assert_eq!(q.max_code, Some(0));
        }
    }

    /// The code buffer is not zeroed (`par::map_written_chunks`): every path must write every
    /// code. Odd shapes (channel lengths not a multiple of any vector width), one to three
    /// threads, both code types, relative-L2 (`quant_direct`) and max-abs (`C::offset`) codes,
    /// each quantized right after freeing a block of the buffer's size full of 0xA5 bytes,
    /// which the allocator hands back: a code left unwritten reads as 0xA5A5….
    #[test]
    fn every_code_is_written_into_a_reused_buffer() {
        let mut draw = crate::util::test_rng::uniform(0x5DEE_CE66_D1CE_4E5B);
        for shape in [
            [1usize, 1],
            [3, 5],
            [7, 13],
            [5, 31],
            [2, 61],
            [17, 9],
            [11, 23],
        ] {
            let n = shape[0] * shape[1];
            let x: Vec<f32> = (0..n).map(|_| (draw() * 2.0 - 0.7) as f32).collect();
            for threads in 1..=3 {
                for (step, e) in [(1e-2, None), (2e-3, Some(1e-3))] {
                    drop(vec![0xA5u8; 2 * n]);
                    check::<u16>(&x, &shape, step, e, threads);
                    drop(vec![0xA5u8; 4 * n]);
                    check::<u32>(&x, &shape, step, e, threads);
                }
            }
        }
    }

    #[test]
    fn long_channels_quantize_by_the_definition() {
        // Channels longer than LONG_ROW go a piece at a time with codes mod 2^32: vectors and
        // long rows against short rows, codes of either sign, codes beyond 2^32 (offset data),
        // and codes beyond 2^50 (the whole-row fallback).
        let n = 2 * (3 * LONG_ROW + 617);
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut u = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let signed: Vec<f32> = (0..n).map(|_| ((u() - 0.4).powi(3) * 8.0) as f32).collect();
        let offset: Vec<f32> = (0..n).map(|_| (5.0e6 + u() * 100.0) as f32).collect();
        let huge: Vec<f32> = (0..n)
            .map(|i| (2.0e12 + (i % 10) as f64 * 262_144.0) as f32)
            .collect();
        for (x, step, e) in [
            (&signed, 1e-3, None),
            (&signed, 2e-4, Some(1e-4)),
            (&offset, 1e-3, Some(5e-4)),
            (&huge, 1e-3, None),
        ] {
            for shape in [vec![n], vec![2, n / 2], vec![n / 2, 2]] {
                for threads in [1, 2] {
                    check::<u32>(x, &shape, step, e, threads);
                    check::<u16>(x, &shape, step, e, threads);
                }
            }
        }
    }

    #[test]
    fn u16_matrix_codes_give_the_model_frames_of_u32_codes() {
        // Matrices read their u16 codes row by row through the rank-1 model (widened per row):
        // the same frames as u32 codes, for the model's kinds 3 (one block, 4 states) and 5
        // (2^16 values and more, lane streams), every sign mode (signed rank-one data, its
        // magnitudes, and a sign pattern the singular pair predicts), widths 1 and 2, with one
        // and two threads, rows whose length is not a multiple of the vector width.
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut uniform = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut gauss = || {
            let u = uniform();
            (-2.0 * (u + 1e-300).ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos()
        };
        let mut model_frames = 0;
        for (rows, cols) in [(96usize, 203usize), (300, 230)] {
            let r: Vec<f64> = (0..rows).map(|i| 0.2 + (i % 7) as f64).collect();
            let c: Vec<f64> = (0..cols).map(|j| 0.5 + (j % 5) as f64 * 0.3).collect();
            let sr: Vec<f64> = (0..rows)
                .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
                .collect();
            let sc: Vec<f64> = (0..cols)
                .map(|j| if j % 4 == 1 { -1.0 } else { 1.0 })
                .collect();
            let base: Vec<f64> = (0..rows * cols).map(|_| gauss()).collect();
            let at = |k: usize| (r[k / cols] * c[k % cols], sr[k / cols] * sc[k % cols]);
            let signed: Vec<f32> = (0..rows * cols)
                .map(|k| (at(k).0 * base[k] * 1e-3) as f32)
                .collect();
            let magnitudes: Vec<f32> = signed.iter().map(|v| v.abs()).collect();
            let predicted: Vec<f32> = (0..rows * cols)
                .map(|k| (at(k).0 * at(k).1 * (base[k].abs() + 0.3) * 1e-3) as f32)
                .collect();
            let shape = [rows, cols];
            for x in [&signed, &magnitudes, &predicted] {
                for threads in [1, 2] {
                    let enc = Encoder::new(EncoderConfig::default().with_threads(threads)).unwrap();
                    for step in [4e-3, 4e-4, 2e-5] {
                        let a =
                            quantize_uniform::<u32>(x, &shape, step, None, 0.0, threads).unwrap();
                        let b = quantize_uniform::<u16>(x, &shape, step, None, 0.0, threads)
                            .expect("these codes fit u16");
                        let fa = enc.write_quantized(&a, &shape, Dtype::F32);
                        assert_eq!(
                            fa,
                            enc.write_quantized(&b, &shape, Dtype::F32),
                            "{rows}x{cols}, step {step}, {threads} threads"
                        );
                        let info = crate::format::peek(&fa).unwrap();
                        model_frames +=
                            (info.backend == crate::entropy::Backend::RansModel) as usize;
                    }
                }
            }
        }
        // The model wrote (most of) them: the u16 rows went through its passes.
        assert!(model_frames >= 24, "{model_frames} model frames of 36");
    }

    #[test]
    fn u16_codes_give_the_frames_of_u32_codes() {
        // The narrow code buffer (vectors) holds the same codes and writes the same frames,
        // with one and two threads, widths 1 and 2; a tensor whose codes span more than 2^16
        // levels is refused by u16 and quantized by u32.
        let n = 3 * LONG_ROW + 77;
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let x: Vec<f32> = (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let u = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.45;
                if i % 5 == 0 {
                    0.0
                } else {
                    (u * u * u) as f32
                }
            })
            .collect();
        for threads in [1, 2] {
            let enc = Encoder::new(EncoderConfig::default().with_threads(threads)).unwrap();
            for (step, e) in [(1e-2, None), (1e-4, None), (2e-5, Some(1e-5))] {
                for shape in [vec![n], vec![n, 1]] {
                    let a = quantize_uniform::<u32>(&x, &shape, step, e, 0.0, threads).unwrap();
                    let Some(b) = quantize_uniform::<u16>(&x, &shape, step, e, 0.0, threads) else {
                        assert!(a.codes.iter().any(|&u| u > u16::MAX as u32), "{step}");
                        continue;
                    };
                    assert!(b
                        .codes
                        .iter()
                        .map(|&u| u as u32)
                        .eq(a.codes.iter().copied()));
                    assert_eq!(a.exceptions, b.exceptions);
                    assert_eq!(a.params, b.params);
                    assert_eq!(
                        enc.write_quantized(&a, &shape, Dtype::F32),
                        enc.write_quantized(&b, &shape, Dtype::F32),
                        "step {step}, {shape:?}, {threads} threads"
                    );
                }
            }
            // Range codes (adaptive mode) at up to 15 bits, pruned or not.
            for (bits, prune_at) in [(8.0, -1.0f32), (15.0, 1e-3), (3.3, 0.0)] {
                let bits = vec![bits];
                let (pa, a) = quantize_range::<u32>(&x, 1, &bits, prune_at);
                let (pb, b) = quantize_range::<u16>(&x, 1, &bits, prune_at);
                assert!(b.iter().map(|&u| u as u32).eq(a.iter().copied()));
                assert_eq!(pa, pb);
                let (qa, qb) = (
                    adaptive(pa, a, 0, bits.clone()),
                    adaptive(pb, b, 0, bits.clone()),
                );
                assert_eq!(
                    enc.write_quantized(&qa, &[n], Dtype::F32),
                    enc.write_quantized(&qb, &[n], Dtype::F32)
                );
            }
            // ±0.125 at a step of 1e-6: 250 001 levels.
            let wide: Vec<f32> = x.iter().map(|v| v.clamp(-0.125, 0.125)).collect();
            assert!(quantize_uniform::<u16>(&wide, &[n], 1e-6, None, 0.0, threads).is_none());
            assert!(quantize_uniform::<u32>(&wide, &[n], 1e-6, None, 0.0, threads).is_some());
        }
    }

    /// Max-abs mode: a row whose codes span more than 2^16 levels because of a few outliers
    /// keeps u16 codes (2-byte code width), its outliers exceptions; every value within the
    /// bound on the decoded output. More outliers than one in 64 of the row (or one in 4096 of
    /// the tensor): u32 codes.
    #[test]
    fn a_few_outliers_keep_max_abs_codes_narrow() {
        // 65 536 values: at most 16 beyond the windows (one in 4096), 16 in a row of 1024.
        let (rows, cols) = (64, 1024);
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut u = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let base: Vec<f32> = (0..rows * cols).map(|_| (u() * 0.2) as f32).collect();
        let e = 1e-5;
        for (outliers, narrow) in [(3usize, true), (cols / 64, true), (cols / 64 + 1, false)] {
            let mut x = base.clone();
            // Row 7: ±1.4 at step 2e-5, 140 000 levels with the others.
            for k in 0..outliers {
                x[7 * cols + 5 + 9 * k] = if k % 2 == 0 { 1.4 } else { -1.4 };
            }
            for threads in [1, 2] {
                let enc = Encoder::new(
                    EncoderConfig::default()
                        .with_mode(Mode::MaxAbs(e))
                        .with_threads(threads),
                )
                .unwrap();
                let c = enc.compress(&x, &[rows, cols], None).unwrap();
                let info = crate::format::peek(&c.bytes).unwrap();
                assert_eq!(
                    info.code_width == 2,
                    narrow,
                    "{outliers} outliers: {info:?}"
                );
                // u16: the outliers are exceptions; u32: the codes hold them.
                assert!(!narrow || info.n_exceptions >= outliers as u64, "{info:?}");
                let d = crate::codec::decoder::decompress(&c.bytes).unwrap();
                for (i, (&a, &b)) in x.iter().zip(&d.data).enumerate() {
                    assert!(
                        (a as f64 - b as f64).abs() <= e,
                        "{outliers}: value {i}: {a} -> {b}"
                    );
                }
            }
        }
    }

    /// Gradient-like values: Gaussian times a log-normal scale per row of 128, a tenth zeros.
    fn heavy_tailed(n: usize, seed: u64) -> Vec<f32> {
        let mut u = crate::util::test_rng::uniform(seed);
        let mut gauss = move || {
            let (a, b) = (u(), u());
            (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
        };
        let mut scale = 1.0;
        (0..n)
            .map(|i| {
                if i % 128 == 0 {
                    scale = (1.5 * gauss()).exp() * 1e-3;
                }
                let g = gauss();
                if g.abs() < 0.125 {
                    0.0
                } else {
                    (g * scale) as f32
                }
            })
            .collect()
    }

    /// `search_from` on the whole of `x` with tolerance `tol`: the step and the passes made.
    fn search(x: &[f32], eps: f64, tol: f64) -> (f64, usize) {
        let stats = crate::codec::prescan::scan(x, 1, 0).stats;
        let mut passes = 0;
        let mut count = || {
            passes += 1;
            Ok(())
        };
        let mut pass = |s, m| uniform_error_sq(x, &[], s, m, 1);
        let s = search_from(eps, stats, (stats.0, None, tol), &mut count, &mut pass);
        (s.unwrap().unwrap(), passes)
    }

    #[test]
    fn the_loose_search_stops_early_on_a_step_that_meets_the_bound() {
        let (mut tight_passes, mut loose_passes) = (0, 0);
        for (k, n) in [1 << 14, 40_000, 100_003].into_iter().enumerate() {
            for seed in 0..3 {
                let x = heavy_tailed(n, 10 * k as u64 + seed);
                let norm_sq: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
                let max_abs = x.iter().fold(0f32, |m, v| m.max(v.abs()));
                for eps in [1e-1, 1e-2, 1e-3] {
                    let (tight, tp) = search(&x, eps, TOLERANCE);
                    let (loose, lp) = search(&x, eps, LOOSE_TOLERANCE);
                    let case = format!("n {n} seed {seed} eps {eps}");
                    // The same steps tried, stopped no later: a step the tight search passed.
                    assert!(lp <= tp, "{case}: {lp} > {tp} passes");
                    assert!(loose <= tight, "{case}: {loose} above {tight}");
                    assert!(loose >= tight * 0.99, "{case}: {loose} far below {tight}");
                    // The bound, on the decoder's arithmetic (the error pass's own sum).
                    let e = uniform_error_sq(&x, &[], loose, max_abs, 1).unwrap();
                    assert!(e <= eps * eps * norm_sq * (1.0 + 1e-12), "{case}: {e}");
                    tight_passes += tp;
                    loose_passes += lp;
                }
            }
        }
        // Not a time: the number of full passes, which the looser rule exists to cut.
        assert!(
            loose_passes < tight_passes,
            "{loose_passes} passes, {tight_passes} at 0.2 %"
        );
    }

    #[test]
    fn only_tensors_from_the_threshold_search_loosely() {
        // A bound where the two tolerances choose different steps both just below the
        // threshold (the tight search's step wanted) and at it (the loose one's).
        let x = heavy_tailed(LOOSE_FROM, 3);
        let differ =
            |x: &[f32], e: f64| search(x, e, TOLERANCE).0 != search(x, e, LOOSE_TOLERANCE).0;
        let eps = (1..60)
            .map(|k| 1e-3 * 1.1f64.powi(k))
            .find(|&e| differ(&x, e) && differ(&x[..LOOSE_FROM - 1], e))
            .expect("a bound where the tolerances differ");
        for (n, tol) in [(LOOSE_FROM - 1, TOLERANCE), (LOOSE_FROM, LOOSE_TOLERANCE)] {
            let x = &x[..n];
            let want = search(x, eps, tol).0;
            let got = |loose| {
                let full = |s, m| uniform_error_sq(x, &[], s, m, 2);
                search_relative_step(x, &[], eps, 2, None, loose, full, || Ok(()))
                    .unwrap()
                    .unwrap()
            };
            assert_eq!(got(true).to_bits(), want.to_bits(), "{n} values");
            // The typed modes' searches stay tight.
            let tight = search(x, eps, TOLERANCE).0;
            assert_eq!(
                got(false).to_bits(),
                tight.to_bits(),
                "{n} values, not loose"
            );
        }
    }
}
