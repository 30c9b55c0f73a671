//! The lossless float coder's choice on small tensors (`codec/lossless.rs`, `encode_small`):
//! it codes only the methods whose predicted size can win, so its payload must still be the
//! smallest of the split, the compact split and the shuffled planes, each coded in full
//! (`lossless::trial`), but for the split where the compact split would save under 0.2 %; deflate-6 must be tried where long windows repeat, and every payload
//! must round-trip.

use alcm::internals::lossless;

fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// Float32 values of a gradient-like matrix: noise of varying scale, with zero rows and
/// columns when `dead`.
fn matrix(rows: usize, cols: usize, dead: bool, seed: u64) -> Vec<f32> {
    let mut next = xorshift(seed);
    let mut v = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let x = (next() % 20_001) as f32 / 10_000.0 - 1.0;
            let scale = 10f32.powi(-((next() % 4) as i32));
            v.push(if dead && (r % 5 == 2 || c % 7 == 3) {
                0.0
            } else {
                x * scale
            });
        }
    }
    v
}

fn bf16(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
        .collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn check(bytes: &[u8], w: usize, shape: &[usize]) -> Vec<u8> {
    let p = lossless::encode(bytes, w, shape);
    let trial = |m: u8| lossless::trial(bytes, w, shape, m).map_or(usize::MAX, |t| t.len());
    let others = trial(2).min(trial(3)).min(bytes.len() + 1);
    let best_trial = others.min(trial(5));
    // The split may stand where the compact split saves it less than 0.2 % (the compact
    // split decodes more slowly).
    let split_kept = p[0] == 3 && p.len() <= others && p.len() * 499 <= trial(5) * 500;
    assert!(
        p.len() <= best_trial || split_kept,
        "{} bytes chosen (method {}), a full trial gives {best_trial}",
        p.len(),
        p[0]
    );
    let mut out = vec![0u8; bytes.len()];
    lossless::decode(&p, w, &mut out).unwrap();
    assert_eq!(out, bytes);
    p
}

#[test]
fn the_choice_is_never_larger_than_a_full_trial() {
    for (k, &(rows, cols)) in [(1, 7), (4, 64), (16, 40), (32, 200), (64, 128)]
        .iter()
        .enumerate()
    {
        for dead in [false, true] {
            let v = matrix(rows, cols, dead, 7 + k as u64);
            let shape = [rows, cols];
            check(&f32_bytes(&v), 4, &shape);
            check(&bf16(&v), 2, &shape);
            let f16: Vec<u8> = v
                .iter()
                .flat_map(|&x| half::f16::from_f32(x).to_bits().to_le_bytes())
                .collect();
            check(&f16, 2, &shape);
        }
    }
    // Random bit patterns (NaNs, subnormals, everything), tiny and up to 64 KiB.
    let mut next = xorshift(99);
    for len in [2usize, 8, 24, 1000, 65_536] {
        let b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        check(&b, 2, &[len / 2]);
        check(&b[..len / 4 * 4], 4, &[len / 4]);
    }
}

#[test]
fn dead_units_choose_the_split_and_cyclic_labels_deflate() {
    // A 64 × 128 bfloat16 gradient with every fifth row and seventh column dead: the split
    // flags them and wins (coded only because it has masks to flag).
    let v = matrix(64, 128, true, 3);
    let p = check(&bf16(&v), 2, &[64, 128]);
    assert_eq!(p[0], 3, "the split (method 3)");
    // Labels 0..9 in a cycle, as float32: deflate's long matches win, and the gate lets it try.
    let labels: Vec<f32> = (0..1000).map(|i| (i % 10) as f32).collect();
    let b = bf16(&labels);
    assert!(
        lossless::lz_gate::window_repeats_per_1024(&b, 2)
            >= lossless::lz_gate::DEFLATE_FROM_REPEATS
    );
    let p = check(&b, 2, &[1000]);
    assert_eq!(p[0], 1, "deflate (method 1)");
}
