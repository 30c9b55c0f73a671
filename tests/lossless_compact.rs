//! The compact split (lossless method 5, `entropy/floatbits/compact.rs`, format version 5) seen
//! from outside: small tensors of every element width pick it where it is the smallest, every
//! payload round-trips bit-exactly (property tests over random bit patterns, lengths 0..2000),
//! every truncation is an error, and a frame of version 4 or less may not hold it.

#[path = "common/frames.rs"]
mod frames;

use alcm::internals::lossless;
use alcm::{Encoder, EncoderConfig, Mode};
use proptest::prelude::*;

#[path = "common/lcg.rs"]
mod lcg;
use lcg::Lcg;

/// Roughly Gaussian, scale `s`, from four draws of `g`.
fn gauss(g: &mut Lcg, s: f64) -> f64 {
    let u: f64 = (0..4).map(|_| (g.next() % 1_000_000) as f64 / 1e6).sum();
    (u - 2.0) * s
}

/// `n` weight-like values (Gaussian, scale 0.05) of `w` bytes: bfloat16 / float32 / float64
/// for w = 2 / 4 / 8, or float16 when `f16`.
fn weights(n: usize, w: usize, f16: bool, seed: u64) -> Vec<u8> {
    let mut g = Lcg(seed);
    (0..n)
        .flat_map(|_| {
            let v = gauss(&mut g, 0.05);
            match (w, f16) {
                (2, true) => alcm::half::f16::from_f64(v)
                    .to_bits()
                    .to_le_bytes()
                    .to_vec(),
                (2, false) => alcm::half::bf16::from_f64(v)
                    .to_bits()
                    .to_le_bytes()
                    .to_vec(),
                (4, _) => (v as f32).to_le_bytes().to_vec(),
                _ => v.to_le_bytes().to_vec(),
            }
        })
        .collect()
}

fn round_trip(b: &[u8], w: usize) -> Vec<u8> {
    let p = lossless::encode(b, w, &[b.len() / w]);
    let mut out = vec![0x5Au8; b.len()];
    lossless::decode(&p, w, &mut out).unwrap_or_else(|e| panic!("width {w}: {e}"));
    assert!(out == b, "width {w}: not bit-exact");
    p
}

/// Biases of a few hundred values: the split's fixed costs (about 20 bytes per stream) lose to
/// the compact layout in every type, and every cut of its payload is an error.
#[test]
fn small_tensors_choose_the_compact_split() {
    for (w, f16) in [(2, false), (2, true), (4, false), (8, false)] {
        for n in [64, 256, 384] {
            let b = weights(n, w, f16, n as u64);
            let p = round_trip(&b, w);
            assert_eq!(p[0], 5, "width {w} (f16 {f16}), {n} values");
            // Head bits: 5 for float16, 8 otherwise.
            assert_eq!(p[1], if f16 { 5 } else { 8 }, "width {w}, {n} values");
            let mut out = vec![0u8; b.len()];
            for cut in 0..p.len() {
                assert!(lossless::decode(&p[..cut], w, &mut out).is_err());
            }
        }
    }
}

/// A matrix of 2 rows of different precision (the second rounded to float16's 10 mantissa
/// bits, as MiniLM's token-type embeddings are): one block per row, each with its own tables.
#[test]
fn rows_of_different_precision_take_blocks() {
    let mut g = Lcg(21);
    let b: Vec<u8> = (0..768)
        .flat_map(|i| {
            let v = gauss(&mut g, 0.02) as f32;
            let u = if i < 384 {
                v.to_bits()
            } else {
                v.to_bits() & !0x1FFF
            };
            u.to_le_bytes()
        })
        .collect();
    let p = lossless::encode(&b, 4, &[2, 384]);
    assert_eq!(
        (p[0], p[1], p[2]),
        (5, 0x88, 2),
        "method 5, 8 head bits, 2 blocks"
    );
    let one = lossless::encode(&b, 4, &[768]);
    assert!(
        p.len() < one.len(),
        "{} blocked, {} as a vector",
        p.len(),
        one.len()
    );
    let mut out = vec![0u8; b.len()];
    lossless::decode(&p, 4, &mut out).unwrap();
    assert!(out == b);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bit patterns, lengths 0..2000 elements, widths 2, 4, 8; half of them drawn from a
    /// few values (tables), some zero runs (the zero-head class).
    #[test]
    fn random_bit_patterns_round_trip(
        w in prop::sample::select(vec![2usize, 4, 8]),
        n in 0usize..2000,
        seed in any::<u64>(),
        few in any::<bool>(),
    ) {
        let mut g = Lcg(seed);
        let pool: Vec<u64> = (0..6).map(|_| g.next() ^ (g.next() << 43)).collect();
        let b: Vec<u8> = (0..n)
            .flat_map(|_| {
                let u = match g.next() % 8 {
                    0 => 0,
                    _ if few => pool[(g.next() % 6) as usize],
                    _ => g.next() ^ (g.next() << 43),
                };
                u.to_le_bytes()[..w].to_vec()
            })
            .collect();
        let p = round_trip(&b, w);
        prop_assert!(p.len() <= b.len() + 1);
    }

    /// Damaged compact payloads: an error or some output of the right length, never a panic.
    #[test]
    fn damaged_payloads_do_not_panic(seed in any::<u64>(), at in any::<usize>(), bit in 0u8..8) {
        let b = weights(100 + (seed % 300) as usize, 2, seed % 2 == 0, seed);
        let mut p = lossless::encode(&b, 2, &[b.len() / 2]);
        prop_assert_eq!(p[0], 5);
        let i = 1 + at % (p.len() - 1);
        p[i] ^= 1 << bit;
        let mut out = vec![0u8; b.len()];
        let _ = lossless::decode(&p, 2, &mut out);
    }
}

/// A lossless float32 frame of a small tensor holds method 5 and decodes to the very bits;
/// labelled with version 4 (which had no method 5) it is corrupt.
#[test]
fn frames_of_version_4_may_not_hold_method_5() {
    let b = weights(256, 4, false, 9);
    let v: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless)).unwrap();
    let frame = enc.compress(&v, &[256], None).unwrap().bytes;
    frames::check_lossless_method_gate(&frame, &v, 5, &[4, 3]);
}
