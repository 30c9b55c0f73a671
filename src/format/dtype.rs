//! Element types: which IEEE 754 format a tensor's values are in, and the conversions the
//! typed encoder and decoder need. The lossy machinery works on float32; a bfloat16 or
//! float16 value converts to float32 exactly, a float64 value is rounded to nearest (the encoder
//! accounts for that rounding in the error bound, `codec/typed.rs`). Decoding rounds the
//! float32 reconstruction to the frame's type, round-to-nearest-even.

use half::{bf16, f16};

use crate::abi;
use crate::error::{Error, Result};

/// Element type of a tensor and of a frame (the frame's dtype byte, `ALCM_DTYPE_*` in C).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dtype {
    /// IEEE 754 binary32 (`f32`, C `float`): 1 sign, 8 exponent, 23 mantissa bits.
    F32,
    /// bfloat16: the upper half of a binary32 (1 sign, 8 exponent, 7 mantissa bits).
    BF16,
    /// IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits).
    F16,
    /// IEEE 754 binary64 (`f64`, C `double`).
    F64,
}

impl Dtype {
    /// Every element type, in id order.
    pub const ALL: [Dtype; 4] = [Dtype::F32, Dtype::BF16, Dtype::F16, Dtype::F64];

    /// The id stored in frames (`ALCM_DTYPE_*`).
    pub fn id(self) -> u8 {
        (match self {
            Dtype::F32 => abi::ALCM_DTYPE_F32,
            Dtype::BF16 => abi::ALCM_DTYPE_BF16,
            Dtype::F16 => abi::ALCM_DTYPE_F16,
            Dtype::F64 => abi::ALCM_DTYPE_F64,
        }) as u8
    }

    /// The type of a stored id; `None` for an unknown one.
    pub fn from_id(id: u32) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| u32::from(d.id()) == id)
    }

    /// Bytes per value.
    pub fn width(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::BF16 | Dtype::F16 => 2,
            Dtype::F64 => 8,
        }
    }

    /// The usual name (`"float32"`, `"bfloat16"`, `"float16"`, `"float64"`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::BF16 => "bfloat16",
            Dtype::F16 => "float16",
            Dtype::F64 => "float64",
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type alcm compresses: `f32`, `f64`, [`half::bf16`], [`half::f16`]. Sealed.
pub trait Element: Copy + sealed::Sealed + Send + Sync + 'static {
    /// The element type of `Self`.
    const DTYPE: Dtype;
    /// The value's little-endian bytes, appended to `out`.
    fn put_le(self, out: &mut Vec<u8>);
    /// The value of `Self::DTYPE.width()` little-endian bytes.
    fn from_le(bytes: &[u8]) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::bf16 {}
    impl Sealed for half::f16 {}
}

macro_rules! element {
    ($t:ty, $d:expr, $n:literal, $to:expr, $from:expr) => {
        impl Element for $t {
            const DTYPE: Dtype = $d;
            fn put_le(self, out: &mut Vec<u8>) {
                #[allow(clippy::redundant_closure_call)]
                out.extend_from_slice(&($to)(self).to_le_bytes());
            }
            fn from_le(bytes: &[u8]) -> Self {
                let mut b = [0u8; $n];
                b.copy_from_slice(&bytes[..$n]);
                #[allow(clippy::redundant_closure_call)]
                ($from)(b)
            }
        }
    };
}
element!(f32, Dtype::F32, 4, f32::to_bits, |b| f32::from_bits(
    u32::from_le_bytes(b)
));
element!(f64, Dtype::F64, 8, f64::to_bits, |b| f64::from_bits(
    u64::from_le_bytes(b)
));
element!(bf16, Dtype::BF16, 2, bf16::to_bits, |b| bf16::from_bits(
    u16::from_le_bytes(b)
));
element!(f16, Dtype::F16, 2, f16::to_bits, |b| f16::from_bits(
    u16::from_le_bytes(b)
));

/// Exact reading of an element type's values, and of the decoder's rounding into it, for the
/// passes of the typed lossy modes over a tensor (`codec/typed.rs`). Monomorphised: through
/// [`value_f64`], which matches on the type for every value, and the same for the rounding,
/// those passes cost about 80 instructions a bfloat16 value.
pub(crate) trait Exact: Element {
    /// The value, exactly, as f64.
    fn exact(self) -> f64;
    /// What the decoder returns for a float32 reconstruction `y` (rounded to nearest-even
    /// into this type; float64 widens), exactly, as f64.
    fn rounded(y: f32) -> f64;
}

impl Exact for f32 {
    #[inline(always)]
    fn exact(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn rounded(y: f32) -> f64 {
        y as f64
    }
}

impl Exact for f64 {
    #[inline(always)]
    fn exact(self) -> f64 {
        self
    }
    #[inline(always)]
    fn rounded(y: f32) -> f64 {
        y as f64
    }
}

// Both half types widen through float32, which holds each of their values exactly: a
// bfloat16 is the top half of a float32's bits, and float16 → float32 is one F16C instruction
// where the CPU has it (`half`'s `std` feature detects it at run time). `half`'s own
// `to_f64` is a branchy software conversion (≈ 50 instructions a value). NaN payloads may
// differ between the two routes, but these passes only test finiteness and do arithmetic.
impl Exact for bf16 {
    #[inline(always)]
    fn exact(self) -> f64 {
        f32::from_bits((self.to_bits() as u32) << 16) as f64
    }
    #[inline(always)]
    fn rounded(y: f32) -> f64 {
        // `bf16::from_f32`'s rounding (to nearest, ties to even: the carry out of the low 16
        // bits of b + 0x7FFF + the kept part's last bit) without its branches. A NaN stays a
        // NaN (its payload does not matter here).
        let b = y.to_bits();
        let r = f32::from_bits((b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16) << 16);
        if y.is_nan() {
            f64::NAN
        } else {
            r as f64
        }
    }
}

impl Exact for f16 {
    #[inline(always)]
    fn exact(self) -> f64 {
        self.to_f32() as f64
    }
    #[inline(always)]
    fn rounded(y: f32) -> f64 {
        f16::from_f32(y).exact()
    }
}

/// The values of the little-endian `raw` (a whole number of `T`s), in order.
#[inline]
pub(crate) fn values_of<T: Element>(raw: &[u8]) -> impl Iterator<Item = T> + '_ {
    raw.chunks_exact(T::DTYPE.width()).map(T::from_le)
}

/// `$e` with the type `$T` standing for the Rust type of the element type `$d`: one
/// monomorphised pass per type instead of a `match` per value.
macro_rules! with_dtype {
    ($d:expr, $T:ident => $e:expr) => {
        match $d {
            $crate::format::Dtype::F32 => {
                type $T = f32;
                $e
            }
            $crate::format::Dtype::F64 => {
                type $T = f64;
                $e
            }
            $crate::format::Dtype::BF16 => {
                type $T = half::bf16;
                $e
            }
            $crate::format::Dtype::F16 => {
                type $T = half::f16;
                $e
            }
        }
    };
}
pub(crate) use with_dtype;

/// The little-endian bytes of `data`.
pub fn to_le_bytes<T: Element>(data: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * T::DTYPE.width());
    for &v in data {
        v.put_le(&mut out);
    }
    out
}

/// The little-endian bytes of `data`, borrowed where they are its memory (a little-endian
/// target): no copy of the caller's tensor.
pub(crate) fn le_bytes<T: Element>(data: &[T]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: `Element` is sealed to f32, f64, bf16 and f16, plain values without
        // padding; the view covers exactly `data`'s initialised memory (`u8` needs no
        // alignment) and borrows `data` immutably for its lifetime.
        std::borrow::Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data))
        })
    } else {
        std::borrow::Cow::Owned(to_le_bytes(data))
    }
}

/// `data`'s memory as bytes to write the values' little-endian bytes into, on a
/// little-endian target (`None` elsewhere).
pub(crate) fn le_bytes_mut<T: Element>(data: &mut [T]) -> Option<&mut [u8]> {
    // SAFETY: `Element` is sealed to f32, f64, bf16 and f16, for which every bit pattern is
    // a valid value; the view covers exactly `data`'s memory and borrows it mutably.
    cfg!(target_endian = "little").then(|| unsafe {
        std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(data))
    })
}

/// The values of little-endian `bytes` (a whole number of `T`s).
pub fn from_le_bytes<T: Element>(bytes: &[u8]) -> Vec<T> {
    bytes
        .chunks_exact(T::DTYPE.width())
        .map(T::from_le)
        .collect()
}

/// Checks that `bytes` holds a whole number of `dtype` values; returns the count.
pub(crate) fn value_count(bytes: &[u8], dtype: Dtype) -> Result<usize> {
    if bytes.len() % dtype.width() != 0 {
        return Err(Error::invalid_argument(format!(
            "{} bytes are not a whole number of {dtype} values ({} bytes each)",
            bytes.len(),
            dtype.width()
        )));
    }
    Ok(bytes.len() / dtype.width())
}

/// Value `i` of the little-endian `bytes` of `dtype`, exactly, as f64.
#[inline]
pub(crate) fn value_f64(bytes: &[u8], dtype: Dtype, i: usize) -> f64 {
    let w = dtype.width();
    let b = &bytes[i * w..(i + 1) * w];
    match dtype {
        Dtype::F32 => f32::from_le(b) as f64,
        Dtype::BF16 => bf16::from_le(b).exact(),
        Dtype::F16 => f16::from_le(b).exact(),
        Dtype::F64 => f64::from_le(b),
    }
}

/// The values as float32: exact for bfloat16 and float16, round-to-nearest for float64 (a
/// finite float64 beyond float32's range becomes ±inf: the caller checks).
pub(crate) fn to_f32(bytes: &[u8], dtype: Dtype) -> Vec<f32> {
    let w = dtype.width();
    let it = bytes.chunks_exact(w);
    match dtype {
        Dtype::F32 => it.map(f32::from_le).collect(),
        Dtype::BF16 => it.map(|b| bf16::from_le(b).to_f32()).collect(),
        Dtype::F16 => it.map(|b| f16::from_le(b).to_f32()).collect(),
        Dtype::F64 => it.map(|b| f64::from_le(b) as f32).collect(),
    }
}

/// Writes the float32 reconstruction `ys` into `out` as little-endian `dtype` values (rounded
/// to nearest-even; float64 widens exactly). `out` holds `ys.len() · width` bytes.
pub(crate) fn write_output(ys: &[f32], dtype: Dtype, out: &mut [u8]) {
    // One loop per type (a `match` per value cost the bfloat16 decode ~25 instructions a value).
    let w = dtype.width();
    let outs = out.chunks_exact_mut(w).zip(ys);
    match dtype {
        Dtype::F32 => outs.for_each(|(o, &y)| o.copy_from_slice(&y.to_le_bytes())),
        Dtype::BF16 => {
            outs.for_each(|(o, &y)| o.copy_from_slice(&bf16::from_f32(y).to_bits().to_le_bytes()))
        }
        Dtype::F16 => {
            outs.for_each(|(o, &y)| o.copy_from_slice(&f16::from_f32(y).to_bits().to_le_bytes()))
        }
        Dtype::F64 => outs.for_each(|(o, &y)| o.copy_from_slice(&(y as f64).to_le_bytes())),
    }
}

/// Half the spacing of `dtype`'s values at magnitude `m` (finite, ≥ 0): the most that
/// rounding a value of magnitude ≤ `m` into `dtype` can move it (0 for float32 and float64,
/// whose output is the float32 reconstruction itself).
pub(crate) fn half_spacing(dtype: Dtype, m: f64) -> f64 {
    let (mant_bits, min_exp) = match dtype {
        Dtype::F32 | Dtype::F64 => return 0.0,
        Dtype::BF16 => (7, -126),
        Dtype::F16 => (10, -14),
    };
    // Exponent of m (at least the smallest normal exponent: subnormals share its spacing).
    let e = if m > 0.0 {
        (((m.to_bits() >> 52) & 0x7ff) as i32 - 1023).max(min_exp)
    } else {
        min_exp
    };
    // 2^(e − mant_bits − 1) from its exponent bits: e ∈ [min_exp, 1023] puts the power in
    // [2^−134, 2^1015], a normal f64, so this is exactly `powi`'s value (which was a libm call
    // per value in the relative-L2 mode's first pass).
    f64::from_bits(((e - mant_bits - 1 + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit layouts, computed by hand from the IEEE 754 / bfloat16 definitions.
    #[test]
    fn hand_checked_bit_layouts() {
        assert_eq!(bf16::from_f32(1.0).to_bits(), 0x3F80);
        assert_eq!(bf16::from_f32(-2.0).to_bits(), 0xC000);
        assert_eq!(f16::from_f32(1.0).to_bits(), 0x3C00);
        assert_eq!(f16::from_f32(-2.0).to_bits(), 0xC000);
        assert_eq!(f16::from_f32(65504.0).to_bits(), 0x7BFF);
        // Smallest f16 subnormal 2^-24; smallest bf16 subnormal 2^-133.
        assert_eq!(f16::from_bits(0x0001).to_f64(), 2f64.powi(-24));
        assert_eq!(bf16::from_bits(0x0001).to_f64(), 2f64.powi(-133));
        // 1 + 2^-8 is halfway between bf16 1.0 (0x3F80) and 1 + 2^-7 (0x3F81): ties to even.
        assert_eq!(bf16::from_f32(1.0 + 2f32.powi(-8)).to_bits(), 0x3F80);
        assert_eq!(bf16::from_f32(1.0 + 3.0 * 2f32.powi(-8)).to_bits(), 0x3F82);
        // Little-endian bytes: f16 1.0 is 00 3C, f64 1.0 is 00 .. 00 F0 3F.
        assert_eq!(to_le_bytes(&[f16::from_f32(1.0)]), [0x00, 0x3C]);
        assert_eq!(to_le_bytes(&[1.0f64])[6..], [0xF0, 0x3F]);
        assert_eq!(value_f64(&[0x80, 0x3F], Dtype::BF16, 0), 1.0);
        assert_eq!(Dtype::from_id(2), Some(Dtype::BF16));
        assert_eq!(Dtype::from_id(0), None);
        assert_eq!(Dtype::from_id(5), None);
    }

    /// The value of a 16-bit pattern with `e_bits` exponent and `m_bits` mantissa bits, from
    /// the IEEE 754 definition (bias 2^(e_bits−1) − 1, subnormals at the smallest exponent);
    /// `None` for the all-ones exponent.
    fn by_definition(bits: u16, e_bits: u32, m_bits: u32) -> Option<f64> {
        let (m, e) = (
            (bits as u32) & ((1 << m_bits) - 1),
            (bits as u32 >> m_bits) & ((1 << e_bits) - 1),
        );
        let bias = (1i32 << (e_bits - 1)) - 1;
        let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
        if e == (1 << e_bits) - 1 {
            return None;
        }
        let (mant, exp) = match e {
            0 => (m as f64, 1 - bias - m_bits as i32),
            _ => ((m | 1 << m_bits) as f64, e as i32 - bias - m_bits as i32),
        };
        Some(sign * mant * 2f64.powi(exp))
    }

    /// Every bfloat16 and float16 bit pattern widens (`Exact::exact`) to its value by the
    /// definition, and is non-finite exactly where the definition says so.
    #[test]
    fn exact_widening_is_the_value_of_every_bit_pattern() {
        for bits in 0..=u16::MAX {
            let (b, h) = (bf16::from_bits(bits).exact(), f16::from_bits(bits).exact());
            match by_definition(bits, 8, 7) {
                Some(v) => assert_eq!(b.to_bits(), v.to_bits(), "bf16 {bits:#06x}"),
                None => assert!(
                    !b.is_finite() && (b.is_nan() == (bits & 0x7F != 0)),
                    "bf16 {bits:#06x}"
                ),
            }
            match by_definition(bits, 5, 10) {
                Some(v) => assert_eq!(h.to_bits(), v.to_bits(), "f16 {bits:#06x}"),
                None => assert!(
                    !h.is_finite() && (h.is_nan() == (bits & 0x3FF != 0)),
                    "f16 {bits:#06x}"
                ),
            }
        }
    }

    /// `Exact::rounded` is round-to-nearest-even into the type, checked against the type's
    /// sorted finite values (from the definition): the nearest one, the even one on a tie,
    /// infinity from the midpoint above the largest finite value on. Inputs: every 4099th
    /// float32 bit pattern, and every midpoint between neighbouring values of the type.
    #[test]
    fn rounded_is_round_to_nearest_even() {
        for (name, e_bits, m_bits, rounded) in [
            ("bf16", 8, 7, <bf16 as Exact>::rounded as fn(f32) -> f64),
            ("f16", 5, 10, <f16 as Exact>::rounded as fn(f32) -> f64),
        ] {
            // Non-negative finite values in bit order (= value order), with their bits.
            let grid: Vec<(f64, u16)> = (0..0x8000u16)
                .filter_map(|b| by_definition(b, e_bits, m_bits).map(|v| (v, b)))
                .collect();
            let max = grid.last().unwrap().0;
            let overflow = max + (max - grid[grid.len() - 2].0) / 2.0;
            let reference = |y: f32| -> f64 {
                let a = (y as f64).abs();
                let r = if a >= overflow {
                    f64::INFINITY
                } else {
                    let k = grid.partition_point(|g| g.0 <= a);
                    let (lo, hi) = (grid[k - 1], grid.get(k).copied().unwrap_or(grid[k - 1]));
                    let (dl, dh) = (a - lo.0, hi.0 - a);
                    if dl < dh || (dl == dh && lo.1 % 2 == 0) {
                        lo.0
                    } else {
                        hi.0
                    }
                };
                if y.is_sign_negative() {
                    -r
                } else {
                    r
                }
            };
            for y in [f32::INFINITY, f32::NEG_INFINITY] {
                assert_eq!(rounded(y), y as f64, "{name} {y}");
            }
            for bits in [0x7FC0_0000u32, 0x7F80_0001, 0xFFFF_FFFF, 0x7FFF_8000] {
                assert!(rounded(f32::from_bits(bits)).is_nan(), "{name} {bits:#x}");
            }
            let mids = grid.windows(2).map(|w| ((w[0].0 + w[1].0) / 2.0) as f32);
            let sweep = (0..=u32::MAX / 4099).map(|k| f32::from_bits(k * 4099));
            for y in sweep.chain(mids).filter(|y| y.is_finite()) {
                for y in [y, -y] {
                    let (got, want) = (rounded(y), reference(y));
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{name} of {y:e} ({:#010x})",
                        y.to_bits()
                    );
                }
            }
        }
    }

    #[test]
    fn half_spacing_matches_the_grid() {
        // bf16 values in [1, 2) are 2^-7 apart; f16 in [1024, 2048) are 1 apart.
        assert_eq!(half_spacing(Dtype::BF16, 1.5), 2f64.powi(-8));
        assert_eq!(half_spacing(Dtype::F16, 1500.0), 0.5);
        assert_eq!(half_spacing(Dtype::F16, 0.0), 2f64.powi(-25));
        assert_eq!(half_spacing(Dtype::F32, 3.0), 0.0);
        // The power from its exponent bits is `powi`'s value at every exponent, subnormal,
        // zero and non-finite magnitude.
        for (d, mant, min_exp) in [(Dtype::BF16, 7, -126), (Dtype::F16, 10, -14)] {
            let ms = (0..2047u64)
                .map(|e| f64::from_bits(e << 52 | 0x5_5555_5555))
                .chain([0.0, f64::MIN_POSITIVE / 3.0, f64::INFINITY, f64::NAN]);
            for m in ms {
                let e = if m > 0.0 {
                    (((m.to_bits() >> 52) & 0x7ff) as i32 - 1023).max(min_exp)
                } else {
                    min_exp
                };
                assert_eq!(half_spacing(d, m), 2f64.powi(e - mant - 1), "{d} {m:e}");
            }
        }
    }
}
