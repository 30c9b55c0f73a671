//! `Encoder::compress_reconstructed` hands back exactly what the real decoder returns for the
//! frame (bit for bit, every mode, backend, thread count, kept non-finite values, the lossless
//! fallback), and error feedback built on it keeps `residual = (g + r) − decompress(frame)`.

use std::path::Path;

use alcm::{
    decompress, read_npy_f32, BackendKind, Encoder, EncoderConfig, ErrorFeedback, ErrorKind, Mode,
    NonFinitePolicy,
};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn tensors() -> Vec<(String, Vec<f32>, Vec<usize>)> {
    let mut out = Vec::new();
    for sub in ["gradients", "weights"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(sub);
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "npy"))
            .step_by(3)
        {
            let (x, s) = read_npy_f32(f).unwrap();
            out.push((f.file_name().unwrap().to_string_lossy().into_owned(), x, s));
        }
    }
    // Large enough (2^19 values) for the block-split rank-1 model payload and threads.
    let mut s = 3u64;
    let big: Vec<f32> = (0..(1usize << 19))
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
            (u * (1.0 + (i % 512) as f64 / 64.0) * 1e-3) as f32
        })
        .collect();
    out.push(("synthetic 1024x512".into(), big, vec![1024, 512]));
    out
}

fn check(enc: &Encoder, name: &str, x: &[f32], shape: &[usize]) -> u8 {
    let mut rec = vec![f32::from_bits(0x7fc0_1234); x.len()];
    let c = enc
        .compress_reconstructed(x, shape, None, &mut rec)
        .unwrap();
    let d = decompress(&c.bytes).unwrap();
    assert_eq!(bits(&rec), bits(&d.data), "{name}: {:?}", enc.config().mode);
    // Same frame as the plain entry point.
    assert_eq!(
        c.bytes,
        enc.compress(x, shape, None).unwrap().bytes,
        "{name}"
    );
    c.report.mode.id()
}

#[test]
fn reconstruction_is_bit_identical_to_the_decoder() {
    for (name, x, shape) in tensors() {
        let abs_max = x.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        for backend in [BackendKind::Rans, BackendKind::Deflate, BackendKind::Store] {
            for mode in [
                Mode::Adaptive,
                Mode::RelativeL2(1e-1),
                Mode::RelativeL2(1e-3),
                Mode::MaxAbs(abs_max * 1e-4),
                Mode::Lossless,
            ] {
                for threads in [1, 2] {
                    let enc = Encoder::new(
                        EncoderConfig::default()
                            .with_mode(mode)
                            .with_backend(backend)
                            .with_threads(threads),
                    )
                    .unwrap();
                    check(&enc, &name, &x, &shape);
                }
            }
        }
        // Adaptive with per-channel allocations.
        let channels = alcm::channel_count(&shape);
        let alloc: Vec<f64> = (0..channels)
            .map(|c| 0.2 + 0.7 * (c % 7) as f64 / 6.0)
            .collect();
        let enc = Encoder::new(EncoderConfig::default()).unwrap();
        let mut rec = vec![0f32; x.len()];
        let c = enc
            .compress_reconstructed(&x, &shape, Some(&alloc), &mut rec)
            .unwrap();
        assert_eq!(
            bits(&rec),
            bits(&decompress(&c.bytes).unwrap().data),
            "{name} per-channel"
        );
    }
}

#[test]
fn reconstruction_keeps_non_finite_values_and_the_lossless_fallback() {
    let mut x: Vec<f32> = (0..4096)
        .map(|i| ((i as f32) * 0.37).sin() * 1e-2)
        .collect();
    x[5] = f32::NAN;
    x[77] = f32::INFINITY;
    x[4000] = f32::from_bits(0xffc0_0042); // a NaN with a payload: kept bit for bit
    for mode in [
        Mode::Adaptive,
        Mode::RelativeL2(1e-2),
        Mode::MaxAbs(1e-4),
        Mode::Lossless,
    ] {
        let enc = Encoder::new(
            EncoderConfig::default()
                .with_mode(mode)
                .with_non_finite(NonFinitePolicy::Keep),
        )
        .unwrap();
        check(&enc, "non-finite", &x, &[64, 64]);
    }
    // One value per channel: the adaptive parameters alone (8 bytes per channel) exceed the
    // raw bytes, so a stored lossless frame is written; the reconstruction is the input.
    let enc = Encoder::new(EncoderConfig::default()).unwrap();
    let rows: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.7).cos()).collect();
    assert_eq!(
        check(&enc, "fallback", &rows, &[1000, 1]),
        alcm::FrameMode::Lossless.id()
    );
}

#[test]
fn reconstruction_buffer_is_checked_and_untouched_on_error() {
    let enc = Encoder::new(EncoderConfig::default()).unwrap();
    let x = [1.0f32, 2.0, f32::NAN, 4.0];
    let mut rec = [7.0f32; 4];
    let e = enc
        .compress_reconstructed(&x, &[4], None, &mut rec)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NonFinite);
    assert_eq!(rec, [7.0; 4]);
    let mut short = [7.0f32; 3];
    let e = enc
        .compress_reconstructed(&[1.0, 2.0, 3.0, 4.0], &[4], None, &mut short)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(short, [7.0; 3]);
}

#[test]
fn feedback_residual_is_input_minus_the_decoded_frame() {
    let (g, shape) = read_npy_f32(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/gradients/grad_step00100_fc1.weight.npy"),
    )
    .unwrap();
    for mode in [Mode::Adaptive, Mode::RelativeL2(5e-2), Mode::MaxAbs(1e-4)] {
        let enc = Encoder::new(
            EncoderConfig::default()
                .with_mode(mode)
                .with_non_finite(NonFinitePolicy::Keep),
        )
        .unwrap();
        let mut fb = ErrorFeedback::new(&shape).unwrap();
        for step in 0..4 {
            let mut gs: Vec<f32> = g.iter().map(|v| v * (1.0 + step as f32 * 0.25)).collect();
            if step == 2 {
                gs[10] = f32::NAN;
            }
            let before = fb.residual().to_vec();
            let c = fb.compress(&enc, &gs, None).unwrap();
            let decoded = decompress(&c.bytes).unwrap().data;
            for i in 0..gs.len() {
                let d = (gs[i] + before[i]) - decoded[i];
                let want = if d.is_finite() { d } else { 0.0 };
                assert_eq!(
                    fb.residual()[i].to_bits(),
                    want.to_bits(),
                    "{mode:?} step {step} index {i}"
                );
            }
        }
        // A failed step leaves the residual as it was.
        let before = fb.residual().to_vec();
        assert!(fb.compress(&enc, &g[1..], None).is_err());
        assert_eq!(fb.residual(), &before[..]);
    }
}
