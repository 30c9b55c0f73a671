//! Encoder/decoder invariants on synthetic tensors: round trips meet the promised bounds,
//! output is deterministic and within compress_bound, and damaged frames give typed errors.

use alcm::{
    compress_bound, decompress, peek, DecodeOptions, Encoder, EncoderConfig, ErrorKind, Mode,
    NonFinitePolicy,
};

/// Deterministic heavy-tailed test data (xorshift + a product of two uniforms, like a gradient).
fn synth(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            if i % 5 == 0 {
                0.0
            } else {
                ((next() - 0.5) * (next() - 0.5) * 1e-2 * (1.0 + (i % 7) as f64)) as f32
            }
        })
        .collect()
}

fn encoder(mode: Mode) -> Encoder {
    Encoder::new(EncoderConfig::default().with_mode(mode)).unwrap()
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum();
    let den: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
    (num / den).sqrt()
}

fn max_abs(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max)
}

#[test]
fn relative_l2_bound_holds_and_is_tight() {
    let x = synth(64 * 48, 1);
    for eps in [1e-1, 1e-2, 1e-3, 1e-5] {
        let c = encoder(Mode::RelativeL2(eps))
            .compress(&x, &[64, 48], None)
            .unwrap();
        let d = decompress(&c.bytes).unwrap();
        assert_eq!(d.shape, vec![64, 48]);
        let e = rel_l2(&x, &d.data);
        assert!(e <= eps, "eps {eps}: achieved {e}");
        // The search takes the largest step that meets the target: not wastefully below it.
        assert!(
            e > 0.8 * eps,
            "eps {eps}: achieved {e} is far below the target"
        );
    }
}

#[test]
fn relative_l2_on_tensors_searched_loosely_holds_on_any_thread_count() {
    // From 2^14 values the step search stops within 0.5 % of the largest step (0.2 % below):
    // the bound still holds on the decoded values, the step is not far below it, and the
    // bytes do not depend on the threads.
    for (n, seed) in [(1usize << 14, 11u64), (40_000, 12), (150_000, 13)] {
        let x = synth(n, seed);
        let shape = [n / 100, 100];
        let x = &x[..shape[0] * 100];
        for eps in [1e-1, 1e-2, 1e-3] {
            let frame = |threads| {
                let cfg = EncoderConfig::default()
                    .with_mode(Mode::RelativeL2(eps))
                    .with_threads(threads);
                Encoder::new(cfg)
                    .unwrap()
                    .compress(x, &shape, None)
                    .unwrap()
                    .bytes
            };
            let one = frame(1);
            for threads in [2, 3] {
                assert!(frame(threads) == one, "{n} eps {eps}: {threads} threads");
            }
            let d = decompress(&one).unwrap();
            let e = rel_l2(x, &d.data);
            assert!(e <= eps, "{n} eps {eps}: achieved {e}");
            assert!(e > 0.95 * eps, "{n} eps {eps}: achieved {e}, far below");
        }
    }
}

#[test]
fn max_abs_bound_holds_for_every_value() {
    let x = synth(5000, 2);
    for e in [1e-3, 1e-5, 3e-7] {
        let c = encoder(Mode::MaxAbs(e))
            .compress(&x, &[50, 100], None)
            .unwrap();
        let d = decompress(&c.bytes).unwrap();
        assert!(
            max_abs(&x, &d.data) <= e,
            "bound {e}: max error {}",
            max_abs(&x, &d.data)
        );
    }
}

#[test]
fn more_bits_means_less_error_in_adaptive_mode() {
    let x = synth(128 * 64, 3);
    let mut last = f64::INFINITY;
    for a in [0.2, 0.4, 0.6, 0.9] {
        let c = encoder(Mode::Adaptive)
            .compress(&x, &[128, 64], Some(&[a]))
            .unwrap();
        let d = decompress(&c.bytes).unwrap();
        let e = rel_l2(&x, &d.data);
        assert!(e < last, "allocation {a}: error {e} not below {last}");
        last = e;
    }
    // 8 bits over the range of each channel: error well below 1 %.
    assert!(last < 0.01, "{last}");
}

#[test]
fn lossless_is_bit_exact_including_specials() {
    let mut x = synth(1000, 4);
    x[3] = -0.0;
    x[4] = f32::from_bits(1); // subnormal
    x[5] = 3.0e38;
    let c = encoder(Mode::Lossless).compress(&x, &[1000], None).unwrap();
    let d = decompress(&c.bytes).unwrap();
    assert!(x
        .iter()
        .zip(&d.data)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn output_is_deterministic_and_within_bound() {
    // Incompressible data: every mode must still fit compress_bound.
    let mut s = 12345u32;
    let noise: Vec<f32> = (0..4096)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f32::from_bits((s >> 2) | 0x0080_0000)
        })
        .collect();
    for mode in [
        Mode::Adaptive,
        Mode::RelativeL2(1e-6),
        Mode::MaxAbs(1e-30),
        Mode::Lossless,
    ] {
        for x in [&synth(4096, 5), &noise] {
            let a = encoder(mode).compress(x, &[64, 64], None).unwrap();
            let b = encoder(mode).compress(x, &[64, 64], None).unwrap();
            assert_eq!(a.bytes, b.bytes, "{mode:?} not deterministic");
            assert!(
                a.bytes.len() <= compress_bound(x.len()),
                "{mode:?}: {} > bound",
                a.bytes.len()
            );
            assert!(decompress(&a.bytes).is_ok());
        }
    }
}

#[test]
fn empty_scalar_and_zero_dim_tensors() {
    for (data, shape) in [
        (vec![], vec![0usize]),
        (vec![], vec![7, 0, 3]),
        (vec![1.5f32], vec![]),
        (vec![0.0f32; 6], vec![2, 3]),
    ] {
        for mode in [
            Mode::Adaptive,
            Mode::RelativeL2(1e-2),
            Mode::MaxAbs(1e-3),
            Mode::Lossless,
        ] {
            let c = encoder(mode).compress(&data, &shape, None).unwrap();
            let d = decompress(&c.bytes).unwrap();
            assert_eq!(d.shape, shape);
            assert_eq!(d.data.len(), data.len());
            if mode != Mode::Adaptive {
                assert!(max_abs(&data, &d.data) <= 1e-2 * 1.5, "{mode:?} {shape:?}");
            }
        }
    }
}

#[test]
fn non_finite_refused_by_default_and_kept_exactly_on_request() {
    let mut x = synth(300, 6);
    x[17] = f32::NAN;
    x[200] = f32::NEG_INFINITY;
    let err = encoder(Mode::RelativeL2(1e-2))
        .compress(&x, &[300], None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NonFinite);
    assert!(err.message().contains("index 17"), "{}", err.message());
    for mode in [Mode::Adaptive, Mode::RelativeL2(1e-2), Mode::MaxAbs(1e-4)] {
        let enc = Encoder::new(
            EncoderConfig::default()
                .with_mode(mode)
                .with_non_finite(NonFinitePolicy::Keep),
        )
        .unwrap();
        let d = decompress(&enc.compress(&x, &[300], None).unwrap().bytes).unwrap();
        assert!(d.data[17].is_nan());
        assert_eq!(d.data[200], f32::NEG_INFINITY);
        assert!(d
            .data
            .iter()
            .enumerate()
            .all(|(i, v)| v.is_finite() || i == 17 || i == 200));
    }
}

#[test]
fn kept_non_finite_values_are_zeros_to_the_quantizer_wherever_they_fall() {
    // The uniform modes read kept non-finite values as zeros in place (no zeroed copy of the
    // input): the frame must decode to what the zeroed tensor's frame decodes to, with the
    // kept values back in their places. Holes in one row, a whole row, across the step
    // search's 2^16-value blocks, on a long channel's 4096-value pieces (a vector), and many.
    let (rows, cols) = (1024usize, 640usize);
    let x = synth(rows * cols, 11);
    let patterns: Vec<(&str, Vec<usize>)> = vec![
        ("one", vec![300_001]),
        ("row", (5 * cols..6 * cols).collect()),
        (
            "edges",
            vec![0, 4095, 4096, 65_535, 65_536, 1 << 18, rows * cols - 1],
        ),
        ("many", (0..rows * cols).step_by(97).collect()),
    ];
    for (what, holes) in &patterns {
        let mut y = x.clone();
        let mut z = x.clone();
        for (k, &i) in holes.iter().enumerate() {
            y[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][k % 3];
            z[i] = 0.0;
        }
        for shape in [vec![rows, cols], vec![rows * cols]] {
            for mode in [
                Mode::RelativeL2(1e-2),
                Mode::RelativeL2(1e-3),
                Mode::MaxAbs(1e-4),
            ] {
                for threads in [1, 2] {
                    let cfg = EncoderConfig::default()
                        .with_mode(mode)
                        .with_threads(threads);
                    let keep = cfg.clone().with_non_finite(NonFinitePolicy::Keep);
                    let cy = Encoder::new(keep)
                        .unwrap()
                        .compress(&y, &shape, None)
                        .unwrap();
                    let cz = Encoder::new(cfg)
                        .unwrap()
                        .compress(&z, &shape, None)
                        .unwrap();
                    let case = format!("{what} {shape:?} {mode:?} t{threads}");
                    assert_eq!(cy.report.mode, cz.report.mode, "{case}");
                    assert_eq!(cy.report.step.to_bits(), cz.report.step.to_bits(), "{case}");
                    let dy = decompress(&cy.bytes).unwrap().data;
                    let mut dz = decompress(&cz.bytes).unwrap().data;
                    for &i in holes {
                        dz[i] = y[i];
                    }
                    let same = dy
                        .iter()
                        .zip(&dz)
                        .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
                    assert!(same, "{case}");
                }
            }
        }
    }
}

#[test]
fn peek_reports_shape_without_decoding() {
    let x = synth(600, 7);
    let c = encoder(Mode::RelativeL2(1e-2))
        .compress(&x, &[10, 6, 10], None)
        .unwrap();
    let info = peek(&c.bytes[..16 + 3 * 8 + 52]).unwrap();
    assert_eq!(info.shape, vec![10, 6, 10]);
    assert_eq!(info.n_values, 600);
    assert_eq!(info.n_channels, 10);
    assert_eq!(info.frame_len, c.bytes.len() as u64);
    assert_eq!(info.target, 1e-2);
    let mut out = vec![0f32; 600];
    DecodeOptions::default()
        .decompress_into(&c.bytes, &mut out)
        .unwrap();
    let mut short = vec![0f32; 599];
    assert_eq!(
        DecodeOptions::default()
            .decompress_into(&c.bytes, &mut short)
            .unwrap_err()
            .kind(),
        ErrorKind::BufferTooSmall
    );
}

#[test]
fn every_truncation_and_bit_flip_is_a_typed_error() {
    let x = synth(256, 8);
    let c = encoder(Mode::Adaptive)
        .compress(&x, &[16, 16], Some(&[0.5]))
        .unwrap();
    let b = &c.bytes;
    for len in 0..b.len() {
        let e = decompress(&b[..len]).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Truncated | ErrorKind::BadMagic | ErrorKind::Corrupt
            ),
            "prefix {len}: {e}"
        );
    }
    for i in 0..b.len() {
        for bit in 0..8 {
            let mut m = b.clone();
            m[i] ^= 1 << bit;
            assert!(
                decompress(&m).is_err(),
                "flip of byte {i} bit {bit} went unnoticed"
            );
        }
    }
    let mut extra = b.clone();
    extra.push(0);
    assert_eq!(decompress(&extra).unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(
        decompress(b"garbage garbage garbage").unwrap_err().kind(),
        ErrorKind::BadMagic
    );
    let mut newer = b.clone();
    newer[4] = alcm::FORMAT_VERSION + 1;
    assert_eq!(
        decompress(&newer).unwrap_err().kind(),
        ErrorKind::FormatVersion
    );
}

/// A frame with a valid checksum that declares 2^40 values over a tiny payload must be refused
/// before anything of that size is allocated.
#[test]
fn decompression_bomb_is_refused_before_allocation() {
    let mut f = Vec::new();
    f.extend_from_slice(b"ALCM");
    f.extend_from_slice(&[1, 3, 1, 0, 1, 1, 4, 0]); // v1, lossless, deflate, rank 1, width 4
    f.extend_from_slice(&1u32.to_le_bytes()); // channels
    f.extend_from_slice(&(1u64 << 40).to_le_bytes()); // shape
    f.extend_from_slice(&0f64.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes());
    f.extend_from_slice(&(4u64 << 40).to_le_bytes()); // raw_len
    let payload = [0x03u8, 0x00];
    f.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    f.extend_from_slice(&payload);
    let crc = crc32fast_hash(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    let e = decompress(&f).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::TooLarge | ErrorKind::Corrupt),
        "{e}"
    );
    let e = DecodeOptions::default()
        .with_max_values(u64::MAX)
        .decompress(&f)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
}

/// CRC-32 (IEEE), written out here so the test does not trust the library's checksum code.
fn crc32fast_hash(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
/// Every backend gives the same reconstruction of real gradients (the backend only codes the
/// integer codes), and the bytes are deterministic.
fn real_tensor_codes_round_trip_through_frames() {
    use alcm::{decompress, BackendKind, Encoder, EncoderConfig, Mode};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gradients");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "npy"));
    files.sort();
    assert!(!files.is_empty());
    for path in files.iter().take(6) {
        let (x, shape) = alcm::read_npy_f32(path).unwrap();
        for mode in [
            Mode::RelativeL2(1e-1),
            Mode::RelativeL2(1e-3),
            Mode::MaxAbs(1e-4),
            Mode::Adaptive,
            Mode::Lossless,
        ] {
            let enc = Encoder::new(
                EncoderConfig::default()
                    .with_mode(mode)
                    .with_backend(BackendKind::Rans),
            )
            .unwrap();
            let c = enc.compress(&x, &shape, None).unwrap();
            let d = decompress(&c.bytes).unwrap();
            let dfl = Encoder::new(
                EncoderConfig::default()
                    .with_mode(mode)
                    .with_backend(BackendKind::Deflate),
            )
            .unwrap();
            let c2 = dfl.compress(&x, &shape, None).unwrap();
            // Same quantization whatever the backend: identical reconstruction.
            assert_eq!(
                d.data,
                decompress(&c2.bytes).unwrap().data,
                "{} {mode:?}",
                path.display()
            );
            assert_eq!(c.bytes, enc.compress(&x, &shape, None).unwrap().bytes);
        }
    }
}
