//! Element types bfloat16, float16 and float64 beside float32: every mode round-trips, the error
//! bounds hold on the caller's values and the decoder's typed output (measured here in f64 on
//! the values themselves), lossless is bit-exact for any bit pattern, and hostile frames are
//! refused.

use alcm::half::{bf16, f16};
use alcm::{
    decompress, decompress_bytes, decompress_typed, peek, read_npy_f32, BackendKind, DecodeOptions,
    Dtype, Encoder, EncoderConfig, ErrorKind, FrameMode, Mode, NonFinitePolicy,
};
use proptest::prelude::*;

fn tensor(name: &str) -> (Vec<f32>, Vec<usize>) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gradients")
        .join(name);
    read_npy_f32(&p).unwrap()
}

/// The little-endian bytes of `x` rounded (to nearest even) into `dtype`, and their values.
fn cast(x: &[f32], dtype: Dtype) -> (Vec<u8>, Vec<f64>) {
    let mut bytes = Vec::new();
    let mut vals = Vec::new();
    for &v in x {
        match dtype {
            Dtype::BF16 => {
                let h = bf16::from_f32(v);
                bytes.extend_from_slice(&h.to_bits().to_le_bytes());
                vals.push(h.to_f64());
            }
            Dtype::F16 => {
                let h = f16::from_f32(v);
                bytes.extend_from_slice(&h.to_bits().to_le_bytes());
                vals.push(h.to_f64());
            }
            Dtype::F64 => {
                // Values with bits below float32's precision, so the float64 → float32 rounding
                // is part of what the bound must cover.
                let d = v as f64 * (1.0 + 1e-9) + 1e-12;
                bytes.extend_from_slice(&d.to_le_bytes());
                vals.push(d);
            }
            _ => {
                bytes.extend_from_slice(&v.to_le_bytes());
                vals.push(v as f64);
            }
        }
    }
    (bytes, vals)
}

/// The values of decoded bytes of `dtype`, read independently of the library.
fn values_of(bytes: &[u8], dtype: Dtype) -> Vec<f64> {
    match dtype {
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16) as f64)
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f64())
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        _ => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
            .collect(),
    }
}

const TYPES: [Dtype; 4] = [Dtype::F32, Dtype::BF16, Dtype::F16, Dtype::F64];

#[test]
fn every_mode_and_type_round_trips_within_its_bound() {
    for name in [
        "grad_step00001_fc3.weight.npy",
        "adam_exp_avg_step02000_fc1.weight.npy",
        "adam_exp_avg_sq_step02000_fc3.bias.npy",
    ] {
        let (x, shape) = tensor(name);
        let scale = x.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
        for dtype in TYPES {
            let (bytes, vals) = cast(&x, dtype);
            let norm = vals.iter().map(|v| v * v).sum::<f64>().sqrt();
            for mode in [
                Mode::Adaptive,
                Mode::RelativeL2(1e-1),
                Mode::RelativeL2(1e-2),
                Mode::RelativeL2(1e-3),
                Mode::MaxAbs(scale * 1e-2),
                Mode::MaxAbs(scale * 1e-3),
                Mode::Lossless,
            ] {
                let enc = Encoder::new(EncoderConfig::default().with_mode(mode)).unwrap();
                let c = enc.compress_bytes(&bytes, dtype, &shape, None).unwrap();
                let what = format!("{name} {dtype} {mode:?}");
                let info = peek(&c.bytes).unwrap();
                assert_eq!(info.element_type(), dtype, "{what}");
                assert_eq!(info.dtype, dtype.id(), "{what}");
                assert_eq!(c.report.input_bytes, bytes.len(), "{what}");
                let d = decompress_bytes(&c.bytes).unwrap();
                assert_eq!((d.dtype, &d.shape), (dtype, &shape), "{what}");
                assert_eq!(d.bytes.len(), bytes.len(), "{what}");
                let y = values_of(&d.bytes, dtype);
                match mode {
                    Mode::RelativeL2(eps) => {
                        let err = vals
                            .iter()
                            .zip(&y)
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum::<f64>();
                        assert!(
                            err.sqrt() <= eps * norm,
                            "{what}: {} > {}",
                            err.sqrt() / norm,
                            eps
                        );
                        // Not wasteful: the bound is used (or the frame is lossless).
                        assert!(
                            err.sqrt() >= 0.5 * eps * norm || info.mode == FrameMode::Lossless,
                            "{what}: error {} of {eps}",
                            err.sqrt() / norm
                        );
                    }
                    Mode::MaxAbs(e) => {
                        for (i, (a, b)) in vals.iter().zip(&y).enumerate() {
                            assert!((a - b).abs() <= e, "{what}: value {i}: {a} vs {b}");
                        }
                    }
                    Mode::Lossless => assert_eq!(d.bytes, bytes, "{what}"),
                    _ => assert!(y.iter().all(|v| v.is_finite()), "{what}"),
                }
                if dtype == Dtype::F32 {
                    // The typed entry gives the float32 API's frame, byte for byte.
                    let plain = enc.compress(&x, &shape, None).unwrap();
                    assert_eq!(plain.bytes, c.bytes, "{what}");
                }
            }
        }
    }
}

#[test]
fn typed_slices_in_and_out() {
    let x: Vec<f64> = (0..512).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::MaxAbs(1e-2))).unwrap();
    let c = enc.compress_typed(&x, &[16, 32], None).unwrap();
    let (y, shape) = decompress_typed::<f64>(&c.bytes).unwrap();
    assert_eq!(shape, [16, 32]);
    assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() <= 1e-2));
    // Asking for another type, or decoding with the float32 API, is refused.
    assert_eq!(
        decompress_typed::<f32>(&c.bytes).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        decompress(&c.bytes).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let h: Vec<f16> = x.iter().map(|&v| f16::from_f64(v / 1e3)).collect();
    let c = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless))
        .unwrap()
        .compress_typed(&h, &[512], None)
        .unwrap();
    assert_eq!(decompress_typed::<f16>(&c.bytes).unwrap().0, h);
    assert_eq!(
        decompress_typed::<bf16>(&c.bytes).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn bounds_below_float32_precision_give_lossless_float64() {
    let x: Vec<f64> = (0..300).map(|i| 1.0 + i as f64 * 1e-10).collect();
    for mode in [Mode::MaxAbs(1e-12), Mode::RelativeL2(1e-12)] {
        let c = Encoder::new(EncoderConfig::default().with_mode(mode))
            .unwrap()
            .compress_typed(&x, &[300], None)
            .unwrap();
        assert_eq!(c.report.mode, FrameMode::Lossless, "{mode:?}");
        assert_eq!(decompress_typed::<f64>(&c.bytes).unwrap().0, x);
    }
    // Beyond float32's range: no float32 image, the frame is lossless.
    let big = [1e300, -2.5, 3e-300];
    let c = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(1e-2)))
        .unwrap()
        .compress_typed(&big, &[3], None)
        .unwrap();
    assert_eq!(c.report.mode, FrameMode::Lossless);
    assert_eq!(decompress_typed::<f64>(&c.bytes).unwrap().0, big);
}

#[test]
fn non_finite_values_kept_in_lossy_half_frames() {
    let mut x: Vec<bf16> = (0..64).map(|i| bf16::from_f32(i as f32 / 7.0)).collect();
    x[3] = bf16::NAN;
    x[9] = bf16::NEG_INFINITY;
    let enc = Encoder::new(
        EncoderConfig::default()
            .with_mode(Mode::MaxAbs(1e-2))
            .with_non_finite(NonFinitePolicy::Keep),
    )
    .unwrap();
    let (y, _) =
        decompress_typed::<bf16>(&enc.compress_typed(&x, &[64], None).unwrap().bytes).unwrap();
    assert!(y[3].is_nan());
    assert_eq!(y[9], bf16::NEG_INFINITY);
    for i in (0..64).filter(|&i| i != 3 && i != 9) {
        assert!((x[i].to_f64() - y[i].to_f64()).abs() <= 1e-2);
    }
    // Refused by default, naming the index.
    let e = Encoder::new(EncoderConfig::default().with_mode(Mode::MaxAbs(1e-2)))
        .unwrap()
        .compress_typed(&x, &[64], None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NonFinite);
}

/// Special bit patterns of each width: ±0, subnormals, ±inf, quiet and signalling NaNs with
/// payloads, the largest finite values.
fn specials(dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::BF16 | Dtype::F16 => [
            0x0000u16, 0x8000, 0x0001, 0x8001, 0x03FF, 0x7F80, 0xFF80, 0x7C00, 0xFC00, 0x7FC1,
            0xFF81, 0x7E01, 0x7D55, 0x7F7F, 0x7BFF, 0xFFFF,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect(),
        Dtype::F64 => [
            0u64,
            1 << 63,
            1,
            0x000F_FFFF_FFFF_FFFF,
            0x7FF0_0000_0000_0000,
            0xFFF0_0000_0000_0000,
            0x7FF8_0000_0000_0001,
            0x7FF0_0000_DEAD_BEEF,
            0xFFFF_FFFF_FFFF_FFFF,
            0x7FEF_FFFF_FFFF_FFFF,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect(),
        _ => [
            0u32,
            1 << 31,
            1,
            0x7F80_0000,
            0x7FC0_0001,
            0x7F80_0001,
            0xFFFF_FFFF,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect(),
    }
}

fn lossless(bytes: &[u8], dtype: Dtype, backend: BackendKind) -> Vec<u8> {
    let n = bytes.len() / dtype.width();
    let enc = Encoder::new(
        EncoderConfig::default()
            .with_mode(Mode::Lossless)
            .with_non_finite(NonFinitePolicy::Keep)
            .with_backend(backend),
    )
    .unwrap();
    enc.compress_bytes(bytes, dtype, &[n], None).unwrap().bytes
}

#[test]
fn lossless_keeps_every_special_bit_pattern() {
    for dtype in TYPES {
        for backend in [BackendKind::Rans, BackendKind::Deflate, BackendKind::Store] {
            let b = specials(dtype);
            let f = lossless(&b, dtype, backend);
            let d = decompress_bytes(&f).unwrap();
            assert_eq!(d.bytes, b, "{dtype} {backend:?}");
            assert_eq!(d.dtype, dtype);
            // The frame stores each value's own width.
            assert_eq!(peek(&f).unwrap().code_width as usize, dtype.width());
        }
    }
}

/// Lossless frames of other types are coded from the caller's bytes, and so is the default
/// refusal of non-finite values: by each type's own exponent field, at the first such index,
/// across the scan's 2^16-value blocks and with two threads.
#[test]
fn lossless_refuses_each_types_own_non_finite_values() {
    let n = 200_000;
    // (type, a finite pattern that another type would read as non-finite, an infinity, a NaN)
    let cases: [(Dtype, u64, u64, u64); 4] = [
        // 0x7C00 is float16's +inf but a finite bfloat16 (2^121).
        (Dtype::BF16, 0x7C00, 0xFF80, 0x7FC1),
        // 0x7BFF is float16's largest finite value.
        (Dtype::F16, 0x7BFF, 0xFC00, 0x7E01),
        // The largest finite float64 has no float32 image, yet is finite.
        (
            Dtype::F64,
            0x7FEF_FFFF_FFFF_FFFF,
            0xFFF0_0000_0000_0000,
            0x7FF0_0000_DEAD_BEEF,
        ),
        (Dtype::F32, 0x7F7F_FFFF, 0xFF80_0000, 0x7F80_0001),
    ];
    for (dtype, finite, inf, nan) in cases {
        let w = dtype.width();
        let put = |b: &mut Vec<u8>, i: usize, v: u64| {
            b[i * w..(i + 1) * w].copy_from_slice(&v.to_le_bytes()[..w]);
        };
        let mut bytes = vec![0u8; n * w];
        for i in (0..n).step_by(3) {
            put(&mut bytes, i, finite);
        }
        for threads in [1, 2] {
            let enc = Encoder::new(
                EncoderConfig::default()
                    .with_mode(Mode::Lossless)
                    .with_threads(threads),
            )
            .unwrap();
            let f = enc.compress_bytes(&bytes, dtype, &[n], None).unwrap();
            assert_eq!(decompress_bytes(&f.bytes).unwrap().bytes, bytes, "{dtype}");
            assert_eq!(f.report.input_bytes, n * w);
            for (first, v) in [(140_001, inf), (199_999, nan), (65_536, nan)] {
                let mut b = bytes.clone();
                put(&mut b, first, v);
                // A later one must not be the one named.
                if first + 7 < n {
                    put(&mut b, first + 7, inf);
                }
                let e = enc.compress_bytes(&b, dtype, &[n], None).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::NonFinite, "{dtype}");
                let text = if v == inf { "-inf" } else { "NaN" };
                assert!(
                    e.to_string()
                        .contains(&format!("value at index {first} is {text} ")),
                    "{dtype}: {e}"
                );
                // Kept, they are bytes like any other.
                let keep = Encoder::new(
                    EncoderConfig::default()
                        .with_mode(Mode::Lossless)
                        .with_non_finite(NonFinitePolicy::Keep),
                )
                .unwrap();
                let f = keep.compress_bytes(&b, dtype, &[n], None).unwrap();
                assert_eq!(decompress_bytes(&f.bytes).unwrap().bytes, b, "{dtype}");
            }
        }
    }
}

/// Float32 frames decode into a caller's byte buffer at any alignment: straight into an
/// aligned one, through a copy into a misaligned one, the same bytes either way.
#[test]
fn float32_frames_decode_into_bytes_at_any_alignment() {
    let (x, shape) = tensor("adam_exp_avg_step02000_fc1.weight.npy");
    let raw: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    for mode in [Mode::Lossless, Mode::RelativeL2(1e-2)] {
        let enc = Encoder::new(EncoderConfig::default().with_mode(mode)).unwrap();
        let f = enc
            .compress_bytes(&raw, Dtype::F32, &shape, None)
            .unwrap()
            .bytes;
        let want: Vec<u8> = match mode {
            Mode::Lossless => raw.clone(),
            _ => decompress(&f)
                .unwrap()
                .data
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        };
        // A u32 buffer gives an aligned start; offsets 1..3 a misaligned one.
        let mut backing = vec![0xA5A5_A5A5u32; x.len() + 1];
        // SAFETY: a view of the u32 buffer's own bytes.
        let bytes: &mut [u8] = unsafe {
            std::slice::from_raw_parts_mut(backing.as_mut_ptr().cast(), backing.len() * 4)
        };
        for offset in 0..4 {
            let out = &mut bytes[offset..offset + raw.len()];
            DecodeOptions::default()
                .decompress_bytes_into(&f, out)
                .unwrap();
            assert_eq!(out, &want[..], "{mode:?} offset {offset}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Random bit patterns of every width, in every backend, come back bit-exact.
    #[test]
    fn lossless_is_bit_exact_for_random_bits(
        raw in proptest::collection::vec(any::<u8>(), 0..2048),
        t in 0usize..4,
        b in 0usize..3,
        low_entropy in any::<bool>(),
    ) {
        let dtype = TYPES[t];
        let backend = [BackendKind::Rans, BackendKind::Deflate, BackendKind::Store][b];
        let mut raw = raw;
        if low_entropy {
            // Mostly-repeated values, as in real tensors (exercises the coders' skewed paths).
            for (i, v) in raw.iter_mut().enumerate() {
                if i % dtype.width() != 0 { *v &= 0x3; }
            }
        }
        raw.truncate(raw.len() / dtype.width() * dtype.width());
        let f = lossless(&raw, dtype, backend);
        prop_assert_eq!(decompress_bytes(&f).unwrap().bytes, raw);
    }
}

fn with_crc(mut f: Vec<u8>) -> Vec<u8> {
    let n = f.len();
    let crc = crc32fast::hash(&f[..n - 4]);
    f[n - 4..].copy_from_slice(&crc.to_le_bytes());
    f
}

#[test]
fn hostile_dtype_fields_are_refused() {
    let x: Vec<bf16> = (0..40).map(|i| bf16::from_f32(i as f32)).collect();
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless)).unwrap();
    let f = enc.compress_typed(&x, &[40], None).unwrap().bytes;
    assert_eq!(f[8], 2, "dtype byte at offset 8 (docs/FORMAT.md)");
    // Unknown dtype ids.
    for id in [0u8, 5, 0xff] {
        let mut g = f.clone();
        g[8] = id;
        let g = with_crc(g);
        assert_eq!(peek(&g).unwrap_err().kind(), ErrorKind::Corrupt, "id {id}");
        assert_eq!(decompress_bytes(&g).unwrap_err().kind(), ErrorKind::Corrupt);
    }
    // A bfloat16 frame labelled version 3 (before element types existed).
    let mut g = f.clone();
    g[4] = 3;
    assert_eq!(peek(&with_crc(g)).unwrap_err().kind(), ErrorKind::Corrupt);
    // Retyped as float32/float64 with the same payload: the code width (2) no longer matches.
    for id in [1u8, 4] {
        let mut g = f.clone();
        g[8] = id;
        assert_eq!(
            peek(&with_crc(g)).unwrap_err().kind(),
            ErrorKind::Corrupt,
            "id {id}"
        );
    }
    // Retyped as float16: a valid frame (same width), decoding to the same bits.
    let mut g = f.clone();
    g[8] = 3;
    let d = decompress_bytes(&with_crc(g)).unwrap();
    assert_eq!((d.dtype, d.bytes.len()), (Dtype::F16, 80));
    // Output buffers of the wrong size.
    let opts = DecodeOptions::default();
    let mut small = vec![0u8; 79];
    assert_eq!(
        opts.decompress_bytes_into(&f, &mut small)
            .unwrap_err()
            .kind(),
        ErrorKind::BufferTooSmall
    );
    let mut big = vec![0u8; 81];
    assert_eq!(
        opts.decompress_bytes_into(&f, &mut big).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let mut exact = vec![0u8; 80];
    opts.decompress_bytes_into(&f, &mut exact).unwrap();
    assert_eq!(
        exact,
        x.iter()
            .flat_map(|v| v.to_bits().to_le_bytes())
            .collect::<Vec<u8>>()
    );
    // Input bytes that are not a whole number of values.
    assert_eq!(
        enc.compress_bytes(&[0u8; 5], Dtype::F16, &[2], None)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        enc.compress_bytes(&[0u8; 6], Dtype::F16, &[2], None)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
}
