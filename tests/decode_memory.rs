//! Decoding allocates the output and O(channels) more, whatever the backend writing the codes
//! (rANS, store, the rank-1 model with uniform or range codes): the codes are decoded into the
//! output buffer itself (as f32 bits) and dequantized in place. Deflate is the exception (its
//! inflated byte stream, `n × width` bytes, is kept; see docs/SECURITY.md), and so is the
//! lossless float-layout coder (backend 4: its decoded streams, 4 bytes per value). A counting global
//! allocator measures the peak heap of each decode (one #[test] only, so no other test of this
//! binary allocates concurrently).

use alcm::{decompress, peek, BackendKind, DecodeOptions, Encoder, EncoderConfig, Mode};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{peak_of, Counting};

#[global_allocator]
static A: Counting = Counting;

#[test]
fn decode_allocates_the_output_and_o_channels() {
    // 256 rows × 2048 columns (2 MiB of f32; ≥ 2^19 values, so the model codes independent
    // blocks): row and column scales (the rank-1 model wins) and 10 % zeros.
    let (rows, cols) = (256usize, 2048usize);
    let mut s = 12345u64;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64 - 0.5
    };
    let x: Vec<f32> = (0..rows * cols)
        .map(|i| {
            let (r, c) = (i / cols, i % cols);
            let v = rnd();
            if i % 10 == 3 {
                0.0
            } else {
                (v * (1.0 + (r % 7) as f64) * (1.0 + (c % 5) as f64)) as f32
            }
        })
        .collect();
    let n = x.len();
    let mut backends = std::collections::BTreeSet::new();
    for (mode, backend) in [
        (Mode::RelativeL2(1e-2), BackendKind::Rans),
        (Mode::RelativeL2(1e-3), BackendKind::Rans),
        (Mode::Adaptive, BackendKind::Rans),
        (Mode::MaxAbs(1e-3), BackendKind::Rans),
        (Mode::Lossless, BackendKind::Rans),
        (Mode::RelativeL2(1e-2), BackendKind::Store),
        (Mode::Lossless, BackendKind::Store),
    ] {
        let cfg = EncoderConfig::default()
            .with_mode(mode)
            .with_backend(backend);
        let c = Encoder::new(cfg)
            .unwrap()
            .compress(&x, &[rows, cols], None)
            .unwrap();
        let id = peek(&c.bytes).unwrap().backend.id();
        backends.insert(id);
        // First decode builds the static model tables (allocated once per process).
        let reference = decompress(&c.bytes).unwrap();
        for threads in [1, 2] {
            let (d, peak) = peak_of(|| {
                DecodeOptions::default()
                    .with_threads(threads)
                    .decompress(&c.bytes)
                    .unwrap()
            });
            assert!(d
                .data
                .iter()
                .zip(&reference.data)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            // Output, the 16 KiB rANS slot table, and per-channel / per-column / per-block
            // vectors (≤ 64 bytes each).
            let mut budget = 4 * n + 16384 + 64 * (rows + cols) + 4096;
            if id == 4 {
                // The lossless float-layout coder (codec/lossless.rs) holds its decoded
                // streams (heads and rests: 4 bytes per value) before merging them into the
                // output, and its exponent context tables (16 KiB per 4096 values at most).
                budget += 8 * n;
            }
            assert!(
                peak <= budget,
                "{mode:?} backend {id}, {threads} threads: decode peak {peak} > {budget} bytes"
            );
            // The typed API decodes into the values' own memory: the same budget (it held
            // a float32 buffer, its bytes and their copy, 12n bytes, before).
            let (t, peak) = peak_of(|| {
                DecodeOptions::default()
                    .with_threads(threads)
                    .decompress_typed::<f32>(&c.bytes)
                    .unwrap()
            });
            assert!(t
                .0
                .iter()
                .zip(&reference.data)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(
                peak <= budget,
                "{mode:?} backend {id}, {threads} threads: typed decode peak {peak} > {budget} bytes"
            );
        }
    }
    assert!(
        backends.contains(&4) && backends.contains(&3) && backends.contains(&0),
        "backends covered: {backends:?}"
    );
}
