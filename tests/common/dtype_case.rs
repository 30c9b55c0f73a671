//! One input of the `dtype` fuzz target (and of its corpus replay in tests/fuzz_corpus_dtype.rs):
//! - first byte ≥ 0x80: the rest is a frame (CRC recomputed) → `decompress_bytes`: a typed error,
//!   or values of the frame's type whose byte count is ∏shape × width, which `peek` and
//!   `decompress_bytes_into` agree with;
//! - else the byte selects an element type (bits 0–1) and a mode (bits 2–3), the next one the
//!   bound, the rest are values of that type (≤ 4096): compress_bytes → decompress_bytes must
//!   give the shape, the type, and the bound on the decoded values (lossless: every bit).

use alcm::{
    decompress_bytes, peek, DecodeOptions, Dtype, Encoder, EncoderConfig, Mode, NonFinitePolicy,
};

fn value(bytes: &[u8], dtype: Dtype, i: usize) -> f64 {
    let w = dtype.width();
    let b = &bytes[i * w..(i + 1) * w];
    match dtype {
        Dtype::BF16 => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16) as f64,
        Dtype::F16 => alcm::half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f64(),
        Dtype::F64 => f64::from_le_bytes(b.try_into().unwrap()),
        _ => f32::from_le_bytes(b.try_into().unwrap()) as f64,
    }
}

pub fn check(raw: &[u8]) {
    let Some((&head, rest)) = raw.split_first() else {
        return;
    };
    if head >= 0x80 {
        let mut f = rest.to_vec();
        if f.len() >= 8 {
            let n = f.len();
            let crc = crc32fast::hash(&f[..n - 4]);
            f[n - 4..].copy_from_slice(&crc.to_le_bytes());
        }
        match DecodeOptions::default()
            .with_max_values(1 << 24)
            .decompress_bytes(&f)
        {
            Ok(d) => {
                let info = peek(&f).expect("a decodable frame peeks");
                assert_eq!(info.shape, d.shape);
                assert_eq!(info.element_type(), d.dtype);
                assert_eq!(d.bytes.len() as u64, info.n_values * d.dtype.width() as u64);
                let mut out = vec![0u8; d.bytes.len()];
                DecodeOptions::default()
                    .decompress_bytes_into(&f, &mut out)
                    .expect("decompress_bytes_into agrees");
                assert!(out == d.bytes);
            }
            Err(e) => assert!(!e.message().is_empty()),
        }
        return;
    }
    let dtype = Dtype::ALL[(head & 3) as usize];
    let Some((&b, values)) = rest.split_first() else {
        return;
    };
    let mode = match (head >> 2) & 3 {
        0 => Mode::Lossless,
        1 => Mode::MaxAbs(2f64.powi(-((b % 40) as i32) + 8)),
        2 => Mode::RelativeL2([1e-1, 1e-2, 1e-3, 0.5][(b % 4) as usize]),
        _ => Mode::Adaptive,
    };
    let w = dtype.width();
    let n = (values.len() / w).min(4096);
    let bytes = &values[..n * w];
    let shape = if n >= 8 && n % 4 == 0 {
        vec![4, n / 4]
    } else {
        vec![n]
    };
    let enc = Encoder::new(
        EncoderConfig::default()
            .with_mode(mode)
            .with_non_finite(NonFinitePolicy::Keep),
    )
    .unwrap();
    let c = enc
        .compress_bytes(bytes, dtype, &shape, None)
        .expect("valid input compresses");
    let d = decompress_bytes(&c.bytes).expect("own frame decodes");
    assert_eq!((d.dtype, &d.shape), (dtype, &shape));
    assert_eq!(d.bytes.len(), bytes.len());
    let (mut err, mut norm) = (0f64, 0f64);
    for i in 0..n {
        let (x, y) = (value(bytes, dtype, i), value(&d.bytes, dtype, i));
        if !x.is_finite() {
            assert!(
                x.is_nan() == y.is_nan() && (x.is_nan() || x == y),
                "value {i}: {x} vs {y}"
            );
            continue;
        }
        match mode {
            Mode::MaxAbs(e) => assert!((x - y).abs() <= e, "value {i}: {x} vs {y}, bound {e}"),
            Mode::RelativeL2(_) => {
                err += (x - y) * (x - y);
                norm += x * x;
            }
            _ => {}
        }
    }
    match mode {
        Mode::Lossless => assert!(d.bytes == bytes, "lossless must give every bit back"),
        Mode::RelativeL2(eps) => {
            assert!(
                err.sqrt() <= eps * norm.sqrt(),
                "relative error {} > {eps}",
                (err / norm).sqrt()
            )
        }
        _ => {}
    }
}
