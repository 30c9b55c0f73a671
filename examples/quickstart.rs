//! The smallest complete use of alcm from Rust: compress a real gradient with a guaranteed
//! relative error, decode it from the bytes alone, and check the guarantee.
//!
//! cargo run --release --example quickstart [-- FILE.npy]
use alcm::{decompress, read_npy_f32, Encoder, EncoderConfig, Mode};
use std::path::PathBuf;

fn main() -> alcm::Result<()> {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/gradients/grad_step00100_fc1.weight.npy")
        });
    let (x, shape) = read_npy_f32(&path)?;

    // ‖x − x̂‖₂ ≤ 1e-2 · ‖x‖₂, guaranteed on the decoded values.
    let encoder = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(1e-2)))?;
    let frame = encoder.compress(&x, &shape, None)?;

    let y = decompress(&frame.bytes)?;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (a, b) in x.iter().zip(&y.data) {
        num += (*a as f64 - *b as f64).powi(2);
        den += (*a as f64).powi(2);
    }
    let rel = (num / den).sqrt();
    println!(
        "{}: shape {:?}, {} → {} bytes ({:.1}×, {:.2} bits/value), relative L2 error {:.2e} (bound 1e-2)",
        path.display(),
        y.shape,
        frame.report.input_bytes,
        frame.report.output_bytes,
        frame.report.ratio,
        frame.report.bits_per_value,
        rel
    );
    assert!(rel <= 1e-2);
    Ok(())
}
