//! Tensors of any element type (bfloat16, float16, float64 beside float32), both ways.
//!
//! Lossless frames hold the values' own bytes (`encoder::lossless_frame`, one function for
//! every width). The lossy modes quantize the float32 image of the values (exact for bfloat16
//! and float16, rounded to nearest for float64) with the float32 machinery, and the decoder
//! rounds its float32 reconstruction to nearest-even into the frame's type. The error bounds
//! hold on the caller's values and on what the decoder returns:
//! - max_abs(e): the float32 pass runs with a smaller bound e' that leaves room for the output
//!   rounding (bfloat16, float16: e' = max(e/2, e − half the type's spacing at the largest
//!   magnitude), since rounding moves a value by at most its distance to the caller's value,
//!   which lies on the grid) or for the float64 → float32 rounding (e' = e − the largest
//!   |x − f32(x)|); then every value is checked on the decoder's exact output and a value
//!   that misses e is stored verbatim. When float32 cannot honour e (e' ≤ 0) the frame is
//!   lossless.
//! - relative_l2(ε): the float32 step search runs with an internal ε' below ε, estimated from
//!   the output rounding; the error of the decoder's exact output is then measured against
//!   the caller's values, ε' is corrected from that measure (at most 4 passes), and a frame
//!   that still misses ε is never written: the frame is lossless instead.

use std::time::Instant;

use crate::codec::decoder::{decode_checked, DecodeOptions};
use crate::codec::encoder::{quantize_uniform, Compressed, Encoder, Quantized};
use crate::codec::quant;
use crate::entropy::{self, pack};
use crate::error::{Error, ErrorKind, Result};
use crate::format::dtype::{
    half_spacing, to_f32, value_count, values_of, with_dtype, write_output, Exact,
};
use crate::format::{self, DecodeLimits, Dtype, Element, FrameInfo, FrameMode};

/// The caller's values when they are not float32: their type and little-endian bytes.
pub(super) struct Typed<'a> {
    pub(super) dtype: Dtype,
    pub(super) raw: &'a [u8],
}

/// A decoded tensor of any element type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DecodedBytes {
    /// The frame's element type.
    pub dtype: Dtype,
    /// The values, C order, little-endian, `dtype.width()` bytes each.
    pub bytes: Vec<u8>,
    /// The shape the frame records.
    pub shape: Vec<usize>,
}

impl Encoder {
    /// Compresses a C-contiguous tensor of `dtype` values given as little-endian bytes
    /// (`shape`'s product × `dtype.width()` bytes). The frame records the type; the error
    /// bounds of the mode hold on these values and on what [`decompress_bytes`] returns (module
    /// notes of `codec/typed.rs`); lossless frames give back every bit (NaN payloads, −0,
    /// subnormals). Float32 gives the same frame as [`Encoder::compress`].
    pub fn compress_bytes(
        &self,
        bytes: &[u8],
        dtype: Dtype,
        shape: &[usize],
        allocation: Option<&[f64]>,
    ) -> Result<Compressed> {
        value_count(bytes, dtype)?;
        // A lossless frame holds these bytes: the float32 image below (a copy, for float32)
        // serves the quantizer only.
        if matches!(self.config().mode, crate::codec::config::Mode::Lossless) {
            return self.compress_lossless_bytes(bytes, dtype, shape);
        }
        let values = to_f32(bytes, dtype);
        let typed = Typed { dtype, raw: bytes };
        let typed = (dtype != Dtype::F32).then_some(&typed);
        self.compress_impl(&values, shape, allocation, None, typed)
    }

    /// [`Encoder::compress_bytes`] of a slice of `f32`, `f64`, [`half::bf16`] or [`half::f16`].
    ///
    /// ```
    /// use alcm::{Encoder, EncoderConfig, Mode};
    /// use half::bf16;
    /// let x: Vec<bf16> = (0..256).map(|i| bf16::from_f32((i as f32 * 0.1).sin())).collect();
    /// let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::MaxAbs(1e-2)))?;
    /// let frame = enc.compress_typed(&x, &[16, 16], None)?;
    /// let (y, shape) = alcm::decompress_typed::<bf16>(&frame.bytes)?;
    /// assert_eq!(shape, [16, 16]);
    /// assert!(x.iter().zip(&y).all(|(a, b)| (a.to_f64() - b.to_f64()).abs() <= 1e-2));
    /// # Ok::<(), alcm::Error>(())
    /// ```
    pub fn compress_typed<T: Element>(
        &self,
        data: &[T],
        shape: &[usize],
        allocation: Option<&[f64]>,
    ) -> Result<Compressed> {
        let bytes = format::dtype::le_bytes(data);
        self.compress_bytes(&bytes, T::DTYPE, shape, allocation)
    }
}

// The passes over the caller's values below are generic over their type (`Exact`) and
// dispatched once per pass (`with_dtype!`), each summing in index order as before.

/// Whether every finite value has a finite float32 image (only float64 can fail).
pub(super) fn fits_f32(t: &Typed<'_>, values: &[f32]) -> bool {
    t.dtype != Dtype::F64
        || values_of::<f64>(t.raw)
            .zip(values)
            .all(|(x, v)| v.is_finite() || !x.is_finite())
}

/// The caller's non-finite values (as f32), zeros in place of the finite ones: what the
/// non-finite policy sees of a tensor without a float32 image.
pub(super) fn non_finite_image(t: &Typed<'_>) -> Vec<f32> {
    fn image<T: Exact>(raw: &[u8]) -> Vec<f32> {
        values_of::<T>(raw)
            .map(|x| {
                let x = x.exact();
                if !x.is_finite() {
                    x as f32
                } else {
                    0.0
                }
            })
            .collect()
    }
    with_dtype!(t.dtype, T => image::<T>(t.raw))
}

/// The largest finite |x| of the caller's values, and the largest |x − f32(x)|.
fn magnitudes(t: &Typed<'_>, values: &[f32]) -> (f64, f64) {
    fn of<T: Exact>(raw: &[u8], values: &[f32]) -> (f64, f64) {
        let (mut m, mut conv) = (0f64, 0f64);
        for (x, &v) in values_of::<T>(raw).zip(values) {
            let x = x.exact();
            if x.is_finite() {
                m = m.max(x.abs());
                conv = conv.max((x - v as f64).abs());
            }
        }
        (m, conv)
    }
    with_dtype!(t.dtype, T => of::<T>(t.raw, values))
}

/// Max-abs quantization of the float32 image `values` for a bound `e` on the caller's values
/// and the decoder's typed output; `None` when float32 cannot honour `e` (lossless then).
pub(super) fn quantize_max_abs(
    t: &Typed<'_>,
    values: &[f32],
    shape: &[usize],
    e: f64,
    threads: usize,
) -> Option<Quantized> {
    let (m, conv) = magnitudes(t, values);
    let inner = match t.dtype {
        Dtype::F64 => e - conv,
        _ => (e - half_spacing(t.dtype, m + e)).max(e / 2.0),
    };
    if inner.is_nan() || inner <= 0.0 {
        return None;
    }
    let mut q = quantize_uniform(
        values,
        shape,
        (2.0 * inner).min(f64::MAX),
        Some(inner),
        e,
        threads,
    )?;
    // The decoder's exact output, checked value by value against the caller's value.
    let mut recon = vec![0f32; values.len()];
    quant::dequantize(&q.params, &q.codes, &mut recon);
    fn misses<T: Exact>(
        raw: &[u8],
        values: &[f32],
        recon: &[f32],
        q: &Quantized,
        e: f64,
    ) -> Vec<(u64, f32)> {
        let mut stored = q.exceptions.iter().map(|x| x.0).peekable();
        let mut extra = Vec::new();
        for (i, (x, &y)) in values_of::<T>(raw).zip(recon).enumerate() {
            if stored.peek() == Some(&(i as u64)) {
                stored.next();
                continue;
            }
            let x = x.exact();
            // Non-finite values are the caller's exceptions (or refused).
            let d = (x - T::rounded(y)).abs();
            if x.is_finite() && (d.is_nan() || d > e) {
                extra.push((i as u64, values[i]));
            }
        }
        extra
    }
    let extra = with_dtype!(t.dtype, T => misses::<T>(t.raw, values, &recon, &q, e));
    q.exceptions.extend(extra);
    q.exceptions.sort_unstable_by_key(|x| x.0);
    Some(q)
}

/// `(Σ (x − out(ŷ))², Σ (f32(x) − ŷ)²)` over the finite values: the error of the decoder's
/// typed output against the caller's values, and the float32 quantization error.
fn typed_errors(t: &Typed<'_>, values: &[f32], q: &Quantized) -> (f64, f64) {
    let mut recon = vec![0f32; values.len()];
    quant::dequantize(&q.params, &q.codes, &mut recon);
    for &(i, v) in &q.exceptions {
        recon[i as usize] = v;
    }
    fn sums<T: Exact>(raw: &[u8], values: &[f32], recon: &[f32]) -> (f64, f64) {
        let (mut err, mut quant_err) = (0f64, 0f64);
        for ((x, &y), &v) in values_of::<T>(raw).zip(recon).zip(values) {
            let x = x.exact();
            if x.is_finite() {
                let d = x - T::rounded(y);
                let dq = v as f64 - y as f64;
                err += d * d;
                quant_err += dq * dq;
            }
        }
        (err, quant_err)
    }
    let (err, quant_err) = with_dtype!(t.dtype, T => sums::<T>(t.raw, values, &recon));
    (err, quant_err)
}

/// Relative-L2 quantization for a bound `eps` on the caller's values and the decoder's typed
/// output (module notes); `None` when no frame meets it (lossless then).
pub(super) fn quantize_relative(
    enc: &Encoder,
    t: &Typed<'_>,
    values: &[f32],
    shape: &[usize],
    eps: f64,
    wall0: &Instant,
) -> Result<Option<Quantized>> {
    // ‖x‖² and the expected squared error of the output rounding (a value rounded onto a grid
    // of spacing 2h moves by h²/3 in the mean square) or of the float64 → float32 rounding.
    fn sums<T: Exact>(raw: &[u8], values: &[f32]) -> (f64, f64) {
        let (mut norm_sq, mut round_sq) = (0f64, 0f64);
        for (x, &v) in values_of::<T>(raw).zip(values) {
            let x = x.exact();
            if x.is_finite() {
                norm_sq += x * x;
                let h = half_spacing(T::DTYPE, x.abs());
                let c = x - v as f64;
                round_sq += h * h / 3.0 + c * c;
            }
        }
        (norm_sq, round_sq)
    }
    let (norm_sq, round_sq) = with_dtype!(t.dtype, T => sums::<T>(t.raw, values));
    let target_sq = eps * eps * norm_sq;
    let norm = norm_sq.sqrt();
    if norm == 0.0 {
        return enc.quantize_relative(values, shape, eps, wall0);
    }
    // The float32 error left once the rounding is paid for (at least a quarter of it).
    let mut inner = (target_sq - round_sq).max(target_sq / 4.0).sqrt() / norm * 0.999;
    let mut best: Option<(f64, Quantized)> = None;
    let attempt = |inner: f64| -> Result<Option<(bool, f64, f64, Quantized)>> {
        let Some(mut q) = enc.quantize_relative(values, shape, inner, wall0)? else {
            return Ok(None);
        };
        q.target = eps;
        let (err_sq, quant_sq) = typed_errors(t, values, &q);
        Ok(Some((err_sq <= target_sq, err_sq, quant_sq, q)))
    };
    for _ in 0..6 {
        let Some((ok, err_sq, quant_sq, q)) = attempt(inner)? else {
            break;
        };
        // The rounding's share of the error, as measured: what the float32 error may be.
        let rest = (target_sq - (err_sq - quant_sq).max(0.0)).max(target_sq / 4.0);
        let mut next = if quant_sq > 0.0 {
            inner * (rest / quant_sq).sqrt() * 0.999
        } else {
            inner
        };
        if ok {
            if best.as_ref().map_or(true, |(b, _)| inner > *b) {
                best = Some((inner, q));
            }
            // Within 0.5 % of the bound, or no room to grow: done.
            if err_sq >= 0.99 * target_sq || next <= inner * 1.002 {
                break;
            }
        } else {
            // Below the last passing bound, and at least in proportion to the miss (the error
            // grows about linearly with the step).
            next = next.min(inner * (target_sq / err_sq).sqrt() * 0.99);
            if let Some((b, _)) = &best {
                next = next.max(*b);
            }
            if best.is_some() && next <= best.as_ref().map_or(0.0, |b| b.0) * 1.002 {
                break;
            }
        }
        inner = next;
    }
    if best.is_none() {
        // The bound that holds whatever the rounding does: rounding onto the grid of the
        // caller's values moves a value by at most its quantization error, so half the bound
        // suffices for bfloat16 / float16; float64 pays its float32 rounding ‖x − f32(x)‖.
        fn conv_sq<T: Exact>(raw: &[u8], values: &[f32]) -> f64 {
            values_of::<T>(raw)
                .zip(values)
                .map(|(x, &v)| x.exact() - v as f64)
                .filter(|d| d.is_finite())
                .map(|d| d * d)
                .sum::<f64>()
        }
        let conv = with_dtype!(t.dtype, T => conv_sq::<T>(t.raw, values)).sqrt();
        let norm_v = values
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| v as f64 * v as f64)
            .sum::<f64>()
            .sqrt();
        let safe = match t.dtype {
            Dtype::F64 => (eps * norm - conv) / norm_v * 0.999,
            _ => eps / 2.0 * 0.999,
        };
        if safe > 0.0 && norm_v > 0.0 {
            if let Some((true, _, _, q)) = attempt(safe)? {
                best = Some((safe, q));
            }
        }
    }
    Ok(best.map(|(_, q)| q))
}

/// Decodes a frame of any element type with the default [`DecodeOptions`].
pub fn decompress_bytes(frame: &[u8]) -> Result<DecodedBytes> {
    DecodeOptions::default().decompress_bytes(frame)
}

/// Decodes a frame whose element type is `T` with the default [`DecodeOptions`]; a frame of
/// another type is [`ErrorKind::InvalidArgument`].
pub fn decompress_typed<T: Element>(frame: &[u8]) -> Result<(Vec<T>, Vec<usize>)> {
    DecodeOptions::default().decompress_typed(frame)
}

impl DecodeOptions {
    /// Decodes a frame of any element type into a new buffer of its type's bytes.
    pub fn decompress_bytes(&self, frame: &[u8]) -> Result<DecodedBytes> {
        let info = format::open_frame(
            frame,
            &DecodeLimits {
                max_values: self.max_values,
            },
        )?;
        let dtype = info.element_type();
        let len = (info.n_values as usize)
            .checked_mul(dtype.width())
            .ok_or_else(|| Error::too_large("the frame's byte size overflows"))?;
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(len)
            .map_err(|_| Error::too_large(format!("cannot allocate {len} output bytes")))?;
        bytes.resize(len, 0);
        decode_bytes(frame, &info, &mut bytes, self.threads)?;
        Ok(DecodedBytes {
            dtype,
            bytes,
            shape: info.shape,
        })
    }

    /// Decodes a frame into `out`, exactly the frame's value count × its type's width bytes
    /// ([`crate::peek`] gives both); returns the frame's header. A smaller buffer is
    /// [`ErrorKind::BufferTooSmall`], a larger one [`ErrorKind::InvalidArgument`].
    pub fn decompress_bytes_into(&self, frame: &[u8], out: &mut [u8]) -> Result<FrameInfo> {
        let info = format::open_frame(
            frame,
            &DecodeLimits {
                max_values: u64::MAX,
            },
        )?;
        let need = (info.n_values as u128) * info.element_type().width() as u128;
        if out.len() as u128 != need {
            return Err(Error::new(
                if (out.len() as u128) < need {
                    ErrorKind::BufferTooSmall
                } else {
                    ErrorKind::InvalidArgument
                },
                format!(
                    "the frame holds {need} bytes of {}, the output buffer {}",
                    info.element_type(),
                    out.len()
                ),
            ));
        }
        decode_bytes(frame, &info, out, self.threads)?;
        Ok(info)
    }

    /// Decodes a frame whose element type is `T`; a frame of another type is
    /// [`ErrorKind::InvalidArgument`] (nothing is decoded).
    pub fn decompress_typed<T: Element>(&self, frame: &[u8]) -> Result<(Vec<T>, Vec<usize>)> {
        let info = format::peek(frame)?;
        if info.element_type() != T::DTYPE {
            return Err(Error::invalid_argument(format!(
                "the frame holds {} values, not {}",
                info.element_type(),
                T::DTYPE
            )));
        }
        let info = format::open_frame(
            frame,
            &DecodeLimits {
                max_values: self.max_values,
            },
        )?;
        let n = info.n_values as usize;
        let mut values: Vec<T> = Vec::new();
        values
            .try_reserve_exact(n)
            .map_err(|_| Error::too_large(format!("cannot allocate {n} values")))?;
        values.resize(n, T::from_le(&[0; 8]));
        // Decoded into the values' own memory where it holds their little-endian bytes.
        match format::dtype::le_bytes_mut(&mut values) {
            Some(bytes) => decode_bytes(frame, &info, bytes, self.threads)?,
            None => {
                let d = self.decompress_bytes(frame)?;
                values = format::dtype::from_le_bytes(&d.bytes);
            }
        }
        Ok((values, info.shape))
    }
}

/// Decodes the checked frame `info` of `frame` into `out` (its values' bytes).
fn decode_bytes(frame: &[u8], info: &FrameInfo, out: &mut [u8], threads: usize) -> Result<()> {
    let dtype = info.element_type();
    if info.mode == FrameMode::Lossless && dtype != Dtype::F32 {
        let payload = &frame[info.payload_offset..info.payload_offset + info.payload_len as usize];
        if info.backend == entropy::Backend::Float {
            return crate::codec::lossless::decode_in_version(
                payload,
                dtype.width(),
                out,
                info.format_version,
            );
        }
        let planes = match info.backend {
            entropy::Backend::Store => {
                entropy::check_sizes(info.backend.id(), payload.len() as u64, info.raw_len)?;
                std::borrow::Cow::Borrowed(payload)
            }
            b => std::borrow::Cow::Owned(entropy::decode(b.id(), payload, info.raw_len as usize)?),
        };
        return pack::unshuffle(&planes, dtype.width(), out);
    }
    // Float32 values (any mode) and lossy frames of the other types: the float32 decoder,
    // then rounding into the type. Float32 values are decoded straight into an aligned `out`
    // (its little-endian bytes are the values' memory): no buffer of the output's size, no
    // copy, which had made this call 3 × slower than the lossless decoder itself.
    #[cfg(target_endian = "little")]
    if dtype == Dtype::F32 {
        // SAFETY: every bit pattern is a valid `f32`, and `align_to_mut` yields only the
        // aligned middle of `out`, whose bytes it reinterprets in place.
        let (head, values, tail) = unsafe { out.align_to_mut::<f32>() };
        if head.is_empty() && tail.is_empty() {
            return decode_checked(frame, info, values, threads);
        }
    }
    let n = info.n_values as usize;
    let mut values = Vec::new();
    values
        .try_reserve_exact(n)
        .map_err(|_| Error::too_large(format!("cannot allocate {n} values")))?;
    values.resize(n, 0f32);
    decode_checked(frame, info, &mut values, threads)?;
    write_output(&values, dtype, out);
    Ok(())
}
