//! The lossless float coder (`codec/lossless.rs`, backend 4) on raw elements of 2, 4 and 8
//! bytes: bit-exact round trips over random bit patterns (every NaN payload, −0, subnormals,
//! infinities), sizes against hand-computed entropy of built tensors, hostile payloads
//! rejected, and float32 frames of the lossless mode using it.

#[path = "common/frames.rs"]
mod frames;

use alcm::internals::lossless;
use alcm::{decompress, peek, Encoder, EncoderConfig, ErrorKind, Mode};
use proptest::prelude::*;

fn round_trip(bytes: &[u8], w: usize, shape: &[usize]) -> Vec<u8> {
    let p = lossless::encode(bytes, w, shape);
    let mut out = vec![0xA5u8; bytes.len()];
    lossless::decode(&p, w, &mut out).unwrap_or_else(|e| panic!("width {w}: {e}"));
    assert!(out == bytes, "width {w}, shape {shape:?}: not bit-exact");
    assert!(p.len() <= bytes.len() + 1, "payload larger than stored");
    p
}

#[path = "common/lcg.rs"]
mod lcg;
use lcg::Lcg;

/// Elements of width `w` from a mix of special and random bit patterns.
fn element(kind: u8, r: u64, w: usize) -> u64 {
    let bits = 8 * w as u32;
    let sign = 1u64 << (bits - 1);
    let exp_bits = match w {
        2 => 8, // bfloat16's layout; float16's is covered by random patterns
        4 => 8,
        _ => 11,
    };
    let man = bits - 1 - exp_bits;
    let exp_all = ((1u64 << exp_bits) - 1) << man;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    };
    match kind % 8 {
        0 => 0,                                    // +0
        1 => sign,                                 // −0
        2 => exp_all | (r & ((1 << man) - 1)) | 1, // NaN, any payload
        3 => exp_all | (r & sign),                 // ±inf
        4 => r & ((1 << man) - 1) | (r & sign),    // subnormal
        _ => r & mask,                             // anything
    }
}

fn tensor(seed: u64, n: usize, w: usize) -> Vec<u8> {
    let mut g = Lcg(seed);
    let mut b = Vec::with_capacity(n * w);
    for _ in 0..n {
        let k = g.next() as u8;
        let e = element(k, g.next() ^ (g.next() << 21), w);
        b.extend_from_slice(&e.to_le_bytes()[..w]);
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_bit_patterns_round_trip(seed in any::<u64>(), n in 0usize..3000,
                                      wi in 0usize..3, rows in 1usize..40) {
        let w = [2, 4, 8][wi];
        let b = tensor(seed, n, w);
        round_trip(&b, w, &[n]);
        if n % rows == 0 && n > 0 {
            round_trip(&b, w, &[rows, n / rows]);
        }
    }

    #[test]
    fn any_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..5000), wi in 0usize..3) {
        let w = [2, 4, 8][wi];
        let b = &bytes[..bytes.len() / w * w];
        round_trip(b, w, &[b.len() / w]);
    }
}

/// Large enough to take the context coder and every plane kind (stored, constant, rANS).
#[test]
fn large_mixed_tensors_round_trip() {
    for (w, seed) in [(2, 1), (4, 2), (8, 3)] {
        round_trip(&tensor(seed, 200_003, w), w, &[200_003]);
    }
    // Gaussian-like float32 with runs of zeros and zero rows / columns.
    let (rows, cols) = (300, 257);
    let mut g = Lcg(9);
    let mut v = vec![0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            if r % 7 == 3 || c % 11 == 5 || g.next() % 5 == 0 {
                continue;
            }
            let s: f32 = (0..4).map(|_| (g.next() % 1_000_000) as f32 / 1e6).sum();
            v[r * cols + c] = (s - 2.0) * 1e-3;
        }
    }
    let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let with_shape = round_trip(&b, 4, &[rows, cols]);
    let flat = round_trip(&b, 4, &[rows * cols]);
    // 43 zero rows and 24 zero columns of 300 × 257: flagged, they cost a few bytes instead of
    // about a bit per element.
    assert!(
        with_shape.len() + (43 * 257 + 24 * 300) / 16 < flat.len(),
        "zero rows/columns: {} bytes with the shape, {} without",
        with_shape.len(),
        flat.len()
    );
}

#[test]
fn all_zeros_cost_next_to_nothing() {
    for w in [2, 4, 8] {
        for n in [1usize, 7, 1000, 100_000] {
            let p = round_trip(&vec![0u8; n * w], w, &[n]);
            assert!(p.len() <= 64, "width {w}, {n} zeros: {} bytes", p.len());
        }
    }
}

/// One exponent (values in [1, 2)), random mantissas: the head costs nothing, the rest is the
/// 23 random mantissa bits (the sign bit is constant 0 and the top rest byte holds 7 random
/// bits), so ≈ 23/8 bytes per value and never more than that plus tables.
#[test]
fn one_exponent_costs_its_mantissa() {
    let n = 100_000;
    let mut g = Lcg(4);
    let b: Vec<u8> = (0..n)
        .flat_map(|_| (1.0f32 + (g.next() % (1 << 23)) as f32 / (1u32 << 23) as f32).to_le_bytes())
        .collect();
    let p = round_trip(&b, 4, &[n]);
    let ideal = n as f64 * 23.0 / 8.0;
    assert!(
        (p.len() as f64) < ideal * 1.002 + 64.0 && (p.len() as f64) > ideal * 0.99,
        "{} bytes, ideal {ideal}",
        p.len()
    );
}

/// 1 % non-zero values: the zeros cost about h(0.01) bits each (their rests are constant), the
/// others their exponent and 3 bytes of rest.
#[test]
fn sparse_tensors_cost_their_entropy() {
    let n = 200_000;
    let mut g = Lcg(5);
    let mut nz = 0;
    let b: Vec<u8> = (0..n)
        .flat_map(|_| {
            let v = if g.next() % 100 == 0 {
                nz += 1;
                1.5f32 + (g.next() % 1000) as f32 * 1e-4
            } else {
                0.0
            };
            v.to_le_bytes()
        })
        .collect();
    let p = round_trip(&b, 4, &[n]);
    let q = nz as f64 / n as f64;
    let h = -(q * q.log2() + (1.0 - q) * (1.0 - q).log2());
    // Zero flags (order-0 entropy) + up to 4 bytes per non-zero + tables.
    let bound = n as f64 * h / 8.0 + nz as f64 * 4.0 + 600.0;
    assert!((p.len() as f64) < bound, "{} bytes, bound {bound}", p.len());
    assert!(
        p.len() < n * 4 / 10,
        "{} bytes for {n} sparse values",
        p.len()
    );
}

#[test]
fn hostile_payloads_are_errors() {
    let b = tensor(11, 5000, 4);
    let p = lossless::encode(&b, 4, &[50, 100]);
    let mut out = vec![0u8; b.len()];
    for cut in 0..p.len() {
        assert!(
            lossless::decode(&p[..cut], 4, &mut out).is_err(),
            "truncation at {cut} accepted"
        );
    }
    let mut longer = p.clone();
    longer.push(0);
    assert!(lossless::decode(&longer, 4, &mut out).is_err());
    // Wrong output sizes and widths.
    assert!(lossless::decode(&p, 4, &mut out[..b.len() - 4]).is_err());
    assert!(lossless::decode(&p, 3, &mut out).is_err());
    assert!(lossless::decode(&p, 4, &mut [0u8; 6]).is_err());
    // Unknown method.
    let mut bad = p.clone();
    bad[0] = 9;
    assert!(lossless::decode(&bad, 4, &mut out).is_err());
    // Random corruptions: an error or some output, never a panic.
    let mut g = Lcg(12);
    let mut detected = 0;
    for _ in 0..2000 {
        let mut bad = p.clone();
        let i = g.next() as usize % bad.len();
        bad[i] ^= 1 + (g.next() % 255) as u8;
        if lossless::decode(&bad, 4, &mut out).is_err() {
            detected += 1;
        }
    }
    assert!(detected > 1000, "only {detected}/2000 corruptions detected");
    for len in 0..300 {
        let junk: Vec<u8> = (0..len).map(|_| g.next() as u8).collect();
        for w in [2, 4, 8] {
            let _ = lossless::decode(&junk, w, &mut vec![0u8; 64 * w]);
        }
    }
}

/// The lossless mode writes backend 4 in a version-4 frame, and decodes bit-exactly, every
/// NaN payload and −0 included.
#[test]
fn lossless_frames_use_the_float_backend() {
    let b = tensor(21, 4096, 4);
    let v: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let cfg = EncoderConfig::default()
        .with_mode(Mode::Lossless)
        .with_non_finite(alcm::NonFinitePolicy::Keep);
    let frame = Encoder::new(cfg)
        .unwrap()
        .compress(&v, &[64, 64], None)
        .unwrap()
        .bytes;
    let info = peek(&frame).unwrap();
    assert_eq!(
        (info.backend.id(), info.format_version),
        (4, alcm::FORMAT_VERSION)
    );
    let d = decompress(&frame).unwrap();
    assert!(d
        .data
        .iter()
        .zip(&v)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    // Relabelled as version 3 (backend 4 did not exist): refused.
    let old = frames::relabelled(&frame, 3);
    assert_eq!(decompress(&old).unwrap_err().kind(), ErrorKind::Corrupt);
}

/// Weight-like tensors (Gaussian values: order-0 exponents, a rANS-coded top rest byte) take
/// the decoders' fast loops (four words known present, no per-step bounds check) and their
/// checked tails: every length around the point where fewer than four words remain round-trips,
/// and every truncation of the word streams is an error, not a panic or a wrong success.
#[test]
fn order0_fast_loops_and_their_tails() {
    let mut g = Lcg(77);
    let gauss = |g: &mut Lcg| {
        // Sum of 4 uniforms: close enough to Gaussian for a skewed exponent histogram.
        let s: f64 = (0..4).map(|_| (g.next() % 1_000_000) as f64 / 1e6).sum();
        ((s - 2.0) * 0.05) as f32
    };
    // Width 2 from 40 000 values: below 64 KiB the compact split (method 5) may win.
    let lengths = [4095, 4096, 4097, 8191, 20_000, 20_001, 20_002, 20_003];
    let wide = [40_000, 40_001, 40_002, 40_003];
    for n in (1..70).chain(lengths).chain(wide) {
        let v: Vec<f32> = (0..n).map(|_| gauss(&mut g)).collect();
        let b32: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let b16: Vec<u8> = v
            .iter()
            .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        for (b, w) in [(&b32, 4), (&b16, 2)] {
            let p = round_trip(b, w, &[n]);
            if (n == 20_003 && w == 4) || n == 40_003 {
                assert_eq!(p[0], 3, "width {w}: the split method was expected");
                let mut out = vec![0u8; b.len()];
                for cut in p.len().saturating_sub(40)..p.len() {
                    assert!(lossless::decode(&p[..cut], w, &mut out).is_err());
                }
            }
        }
    }
}

/// A rest byte plane is rANS-coded only where that saves at least 0.5 % of it: values in [1, 2)
/// (one exponent, a constant head) with random mantissas and a sign that is + with
/// probability q. The top rest byte (sign and 7 mantissa bits) then has 8 − (1 − h(q)) bits of
/// entropy: q = 0.59 saves 0.0235 bits a byte (0.29 %, stored: the payload holds all 3n rest
/// bytes), q = 0.75 saves 0.189 (2.4 %, coded: about 3n − 0.0236n bytes).
#[test]
fn near_uniform_rest_planes_are_stored() {
    // 300 000 values: enough that even the q = 0.59 plane would save more than its table.
    let n = 300_000;
    for (q, coded) in [(0.59, false), (0.75, true)] {
        let mut g = Lcg(5);
        let b: Vec<u8> = (0..n)
            .flat_map(|_| {
                let neg = (g.next() % 10_000) as f64 >= q * 10_000.0;
                let bits = 0x3F80_0000 | (g.next() as u32 & 0x7F_FFFF) | (neg as u32) << 31;
                bits.to_le_bytes()
            })
            .collect();
        let p = round_trip(&b, 4, &[n]);
        if coded {
            assert!(p.len() < 3 * n - 3 * n / 200, "q {q}: {} bytes", p.len());
            assert!(p.len() > 3 * n - 3 * n / 100, "q {q}: {} bytes", p.len());
        } else {
            assert!(p.len() >= 3 * n, "q {q}: {} bytes", p.len());
            assert!(p.len() < 3 * n + 100, "q {q}: {} bytes", p.len());
        }
    }
}
