//! Several threads compressing and decoding at once, each with `threads = 2` (each call's passes
//! run on workers of its own, `util/pool.rs`), get the same frames and values as one caller
//! alone.

use alcm::{DecodeOptions, Encoder, EncoderConfig, Mode};

/// 2^18 values (enough for the block-split payloads that use the threads), rows of
/// different scales, seeded per tensor.
fn tensor(seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..(1usize << 18))
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
            (u * (1.0 + (i / 512 % 64) as f64 / 8.0) * 1e-2) as f32
        })
        .collect()
}

#[test]
fn concurrent_two_thread_callers_match_one_alone() {
    let shape = [512usize, 512];
    let modes = [
        Mode::RelativeL2(1e-2),
        Mode::RelativeL2(1e-3),
        Mode::Adaptive,
    ];
    let encoder = |mode, threads| {
        Encoder::new(
            EncoderConfig::default()
                .with_mode(mode)
                .with_threads(threads),
        )
        .unwrap()
    };
    let inputs: Vec<Vec<f32>> = (0..modes.len() as u64).map(|k| tensor(3 + k)).collect();
    // Alone, one thread: the reference (the same bytes at any thread count).
    let alone: Vec<(Vec<u8>, Vec<u32>)> = modes
        .iter()
        .zip(&inputs)
        .map(|(&m, x)| {
            let f = encoder(m, 1).compress(x, &shape, None).unwrap().bytes;
            let d = DecodeOptions::default().decompress(&f).unwrap().data;
            (f, d.iter().map(|v| v.to_bits()).collect())
        })
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = modes
            .iter()
            .zip(&inputs)
            .map(|(&m, x)| {
                s.spawn(move || {
                    let mut got = Vec::new();
                    for _ in 0..2 {
                        let f = encoder(m, 2).compress(x, &shape, None).unwrap().bytes;
                        let d = DecodeOptions::default()
                            .with_threads(2)
                            .decompress(&f)
                            .unwrap()
                            .data;
                        got.push((f, d.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()));
                    }
                    got
                })
            })
            .collect();
        for ((h, want), m) in handles.into_iter().zip(&alone).zip(modes) {
            for got in h.join().unwrap() {
                assert!(
                    got.0 == want.0,
                    "{m:?}: frame differs from one caller alone"
                );
                assert!(got.1 == want.1, "{m:?}: decoded values differ");
            }
        }
    });
}
