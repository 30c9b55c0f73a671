//! `DecodeOptions::decompress` on several threads: a large model frame has its output zeroed
//! and its checksum computed in pieces on the threads (`decoder.rs`, `decompress_threaded`).
//! The values must be those of a one-thread decode, and a damaged byte anywhere in the frame
//! must still be a checksum error (a piece left out or combined out of order would not be).

use alcm::{peek, DecodeOptions, Encoder, EncoderConfig, ErrorKind, Mode, NonFinitePolicy};

/// `rows × cols` values with row and column scales (the rank-1 model wins) and some zeros.
fn matrix(rows: usize, cols: usize) -> Vec<f32> {
    let mut s = 99u64;
    (0..rows * cols)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
            let (r, c) = (i / cols, i % cols);
            if i % 9 == 4 {
                0.0
            } else {
                (v * (1.0 + (r % 5) as f64) * (1.0 + (c % 3) as f64)) as f32
            }
        })
        .collect()
}

fn frame(x: &[f32], shape: &[usize]) -> Vec<u8> {
    let cfg = EncoderConfig::default().with_mode(Mode::RelativeL2(1e-2));
    Encoder::new(cfg)
        .unwrap()
        .compress(x, shape, None)
        .unwrap()
        .bytes
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn large_model_frames_decode_the_same_on_any_thread_count() {
    // 2^19 values: the smallest frame the threaded path takes; and one below it.
    for (rows, cols) in [(512usize, 1024usize), (300, 1000)] {
        let x = matrix(rows, cols);
        let f = frame(&x, &[rows, cols]);
        assert_eq!(peek(&f).unwrap().backend, alcm::Backend::RansModel);
        let one = DecodeOptions::default().decompress(&f).unwrap();
        for t in [2, 3, 4, 7] {
            let d = DecodeOptions::default()
                .with_threads(t)
                .decompress(&f)
                .unwrap();
            assert_eq!(d.shape, one.shape, "{t} threads");
            assert!(
                bits(&d.data) == bits(&one.data),
                "{rows}×{cols}, {t} threads"
            );
        }
    }
}

#[test]
fn a_damaged_byte_anywhere_is_a_checksum_error_on_any_thread_count() {
    let (rows, cols) = (512usize, 1024usize);
    let f = frame(&matrix(rows, cols), &[rows, cols]);
    let info = peek(&f).unwrap();
    let start = f.len() - 4 - info.payload_len as usize;
    // Bytes of the payload in every piece of up to 7 threads (the pieces' edges too), the
    // last checksummed byte, and the stored checksum itself.
    let body = f.len() - 4;
    let mut at: Vec<usize> = (0..=28)
        .map(|k| start + (body - 1 - start) * k / 28)
        .collect();
    for p in [2usize, 3, 7] {
        for k in 1..p {
            let edge = body / p * k;
            at.extend([edge - 1, edge]);
        }
    }
    at.extend([body - 1, body, f.len() - 1]);
    for &i in &at {
        let mut bad = f.clone();
        bad[i] ^= 0x10;
        for t in [1, 2, 3, 7] {
            let e = DecodeOptions::default()
                .with_threads(t)
                .decompress(&bad)
                .expect_err("a damaged frame must not decode");
            assert_eq!(e.kind(), ErrorKind::Checksum, "byte {i}, {t} threads: {e}");
        }
    }
}

#[test]
fn a_kept_non_finite_value_does_not_reach_the_step_search() {
    // Relative-L2 takes the step search's statistics from its first pass, which also detects
    // non-finite values: with one kept, the step must be that of the data with a 0 in its
    // place (the quantizer's view), not one derived from a NaN or infinite norm.
    let (rows, cols) = (512usize, 1024usize);
    let x = matrix(rows, cols);
    for bad in [f32::NAN, f32::INFINITY] {
        let mut y = x.clone();
        y[300_001] = bad;
        let mut z = x.clone();
        z[300_001] = 0.0;
        for t in [1, 2] {
            let cfg = EncoderConfig::default()
                .with_mode(Mode::RelativeL2(1e-2))
                .with_threads(t);
            let keep = cfg.clone().with_non_finite(NonFinitePolicy::Keep);
            let ry = Encoder::new(keep)
                .unwrap()
                .compress(&y, &[rows, cols], None)
                .unwrap();
            let rz = Encoder::new(cfg)
                .unwrap()
                .compress(&z, &[rows, cols], None)
                .unwrap();
            assert!(ry.report.step.is_finite() && ry.report.step > 0.0);
            assert_eq!(
                ry.report.step.to_bits(),
                rz.report.step.to_bits(),
                "{bad}, {t}"
            );
            assert_eq!(ry.report.exceptions, 1);
        }
    }
}
