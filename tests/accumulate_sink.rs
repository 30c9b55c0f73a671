//! Decode-and-accumulate (`Accumulator::accumulate`) against decoding and then adding, bit for
//! bit, for frames summed as they decode (model payloads: kinds 3 and 5, with verbatim values)
//! and frames that go through the scratch buffer (adaptive, lossless); and the sum of several
//! frames against a float64 reference within the error bound.

use alcm::collective::Accumulator;
use alcm::{decompress, Backend, Encoder, EncoderConfig, Mode, NonFinitePolicy};

/// A rank-1-scaled Gaussian tensor `rows × cols` (deterministic LCG + Box-Muller).
fn tensor(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let rs: Vec<f64> = (0..rows).map(|_| (1.5 * rnd()).exp()).collect();
    let cs: Vec<f64> = (0..cols).map(|_| rnd().exp()).collect();
    let mut x = Vec::with_capacity(rows * cols);
    for r in &rs {
        for c in &cs {
            let g = (-2.0 * rnd().ln()).sqrt() * (std::f64::consts::TAU * rnd()).cos();
            x.push((g * r * c * 1e-3) as f32);
        }
    }
    x
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// `out + scale · decode(frame)` the long way: a decoded tensor, then the add.
fn decode_then_add(frame: &[u8], scale: f32, out: &[f32]) -> Vec<f32> {
    let d = decompress(frame).unwrap().data;
    out.iter().zip(&d).map(|(&o, &v)| o + scale * v).collect()
}

#[test]
fn accumulate_equals_decode_then_add_bit_for_bit() {
    let big = (768usize, 700usize); // ≥ 2^19 values: payload kind 5
    let small = (64usize, 256usize); // kind 3
    let mut cases = vec![];
    for (rows, cols) in [big, small] {
        let mut x = tensor(rows, cols, rows as u64);
        // (The large tensor in fewer modes: test time.)
        let modes: &[Mode] = if rows == big.0 {
            &[Mode::RelativeL2(1e-2), Mode::Adaptive]
        } else {
            &[
                Mode::RelativeL2(1e-2),
                Mode::RelativeL2(1e-1),
                Mode::MaxAbs(2e-4),
                Mode::Adaptive,
                Mode::Lossless,
            ]
        };
        for &mode in modes {
            cases.push((x.clone(), vec![rows, cols], mode));
        }
        // Verbatim values (non-finite) inside a model frame.
        x[3] = f32::INFINITY;
        x[rows * cols - 2] = f32::NEG_INFINITY;
        x[cols + 5] = f32::NAN;
        cases.push((x, vec![rows, cols], Mode::RelativeL2(1e-2)));
    }
    let mut direct = 0;
    let mut acc = Accumulator::new();
    let mut acc2 = Accumulator::with_threads(2);
    for (x, shape, mode) in cases {
        let enc = Encoder::new(
            EncoderConfig::default()
                .with_mode(mode)
                .with_non_finite(NonFinitePolicy::Keep),
        )
        .unwrap();
        let frame = enc.compress(&x, &shape, None).unwrap().bytes;
        let info = alcm::peek(&frame).unwrap();
        if info.backend == Backend::RansModel && !matches!(mode, Mode::Adaptive) {
            direct += 1;
        }
        let base: Vec<f32> = (0..x.len())
            .map(|k| (k % 13) as f32 * 1e-3 - 5e-3)
            .collect();
        for scale in [1.0f32, 0.5, -0.3] {
            let want = decode_then_add(&frame, scale, &base);
            for a in [&mut acc, &mut acc2] {
                let mut out = base.clone();
                a.accumulate(&frame, scale, &mut out).unwrap();
                assert!(
                    bits(&out) == bits(&want),
                    "{mode:?} {shape:?} backend {:?} scale {scale}",
                    info.backend
                );
            }
        }
    }
    // The cases exercise the direct (no scratch) path: model frames of uniform codes.
    assert!(direct >= 4, "{direct} model frames");
}

/// Three frames summed with weights: within the sum of their error bounds of the float64 sum
/// of the originals (plus the f32 rounding of the sum).
#[test]
fn weighted_sum_of_frames_meets_the_bound_against_float64() {
    let (rows, cols) = (768usize, 700usize);
    let target = 1e-2;
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(target))).unwrap();
    let weights = [0.5f32, 0.25, -1.5];
    let xs: Vec<Vec<f32>> = (0..3).map(|r| tensor(rows, cols, 100 + r)).collect();
    let mut out = vec![0f32; rows * cols];
    let mut acc = Accumulator::new();
    let mut reference = vec![0f64; rows * cols];
    let mut bound = 0.0;
    for (x, &w) in xs.iter().zip(&weights) {
        let frame = enc.compress(x, &[rows, cols], None).unwrap().bytes;
        assert_eq!(alcm::peek(&frame).unwrap().backend, Backend::RansModel);
        acc.accumulate(&frame, w, &mut out).unwrap();
        for (r, &v) in reference.iter_mut().zip(x) {
            *r += w as f64 * v as f64;
        }
        bound +=
            (w as f64).abs() * target * x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
    }
    let err = out
        .iter()
        .zip(&reference)
        .map(|(&o, &r)| (o as f64 - r).powi(2))
        .sum::<f64>()
        .sqrt();
    let rnorm = reference.iter().map(|r| r * r).sum::<f64>().sqrt();
    // f32 products and sums: a few units of 2^-24 relative per value.
    let slack = 4.0 * f32::EPSILON as f64 * rnorm;
    assert!(
        err <= bound + slack,
        "error {err} > bound {bound} + {slack}"
    );
    assert!(err > 0.0, "lossy frames: some error expected");
}
