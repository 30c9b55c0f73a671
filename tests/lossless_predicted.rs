//! The predicted split (lossless method 6, `entropy/floatbits/predict2d.rs`, format version 6)
//! seen from outside: Adam's moments of a real layer pick it and shrink, random matrices of
//! every width round-trip bit-exactly with both predictions forced (random bit patterns, zero
//! rows and columns, zero heads), low-rank structure is what makes it pay, damaged payloads are
//! errors and never panics, and a frame of version 5 or less may not hold it.

#[path = "common/frames.rs"]
mod frames;

use alcm::internals::lossless;
use alcm::{
    decompress_bytes, peek, read_npy_f32, Dtype, Encoder, EncoderConfig, ErrorKind, Mode,
    FORMAT_VERSION,
};
use proptest::prelude::*;

#[path = "common/lcg.rs"]
mod lcg;
use lcg::Lcg;

fn data(name: &str) -> (Vec<f32>, Vec<usize>) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gradients");
    read_npy_f32(&p.join(name)).unwrap()
}

/// `v` as little-endian elements of `dtype` (round to nearest even).
fn cast(v: &[f32], dtype: Dtype) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| match dtype {
            Dtype::BF16 => alcm::half::bf16::from_f32(x)
                .to_bits()
                .to_le_bytes()
                .to_vec(),
            Dtype::F16 => alcm::half::f16::from_f32(x)
                .to_bits()
                .to_le_bytes()
                .to_vec(),
            Dtype::F64 => (x as f64).to_le_bytes().to_vec(),
            _ => x.to_le_bytes().to_vec(),
        })
        .collect()
}

fn decode(p: &[u8], w: usize, n: usize) -> Vec<u8> {
    let mut out = vec![0xA5u8; n];
    lossless::decode(p, w, &mut out).unwrap_or_else(|e| panic!("width {w}: {e}"));
    out
}

/// Adam's second moment of fc1 (256 × 64): its exponents are close to a_i + b_j (rank one), so
/// the predicted heads save 2.8 % of the float32 payload and 7 % of the bfloat16 one against
/// the split (method 3) of the same bytes, measured with `lossless_trials`; here at least
/// 2 % and 5 %. Both decode to the very bits, through the frame API too.
#[test]
fn adam_moments_take_the_predicted_split() {
    let (v, shape) = data("adam_exp_avg_sq_step02000_fc1.weight.npy");
    assert_eq!(shape, vec![256, 64]);
    for (dtype, most) in [(Dtype::F32, 0.98), (Dtype::BF16, 0.95)] {
        let w = dtype.width();
        let b = cast(&v, dtype);
        let p = lossless::encode(&b, w, &shape);
        let split = lossless::trial(&b, w, &shape, 3).unwrap();
        assert_eq!(p[0], 6, "{dtype:?}");
        assert_eq!(p[1], 2, "{dtype:?}: heads predicted, signs (all +) not");
        assert!(
            (p.len() as f64) < most * split.len() as f64,
            "{dtype:?}: {} bytes against the split's {}",
            p.len(),
            split.len()
        );
        assert!(decode(&p, w, b.len()) == b, "{dtype:?}: not bit-exact");
        let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless)).unwrap();
        let frame = enc.compress_bytes(&b, dtype, &shape, None).unwrap().bytes;
        assert_eq!(peek(&frame).unwrap().format_version, FORMAT_VERSION);
        assert!(decompress_bytes(&frame).unwrap().bytes == b, "{dtype:?}");
    }
}

/// A rank-one matrix `r_i · c_j` (160 × 128 float32: above 64 KiB, where the split is always
/// coded) with random signs and magnitudes of two significant bits:
/// every exponent is a_i + b_j and every sign r_i ⊕ c_j, and its top rest plane (the sign over
/// mostly-zero mantissa bits) is rANS-coded anyway, so both predictions are written (flags 3).
/// The same values with their signs scrambled keep the heads but lose the sign prediction
/// (flags 2); independent values (weights) lose both, and stay with another method.
#[test]
fn low_rank_structure_is_what_pays() {
    let (rows, cols) = (160usize, 128usize);
    let mut g = Lcg(7);
    let mut factor = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                let m = [1.0f32, 1.25, 1.5, 1.75][(g.next() % 4) as usize];
                let e = (g.next() % 12) as i32 - 20;
                let s = if g.next() % 2 == 0 { 1.0 } else { -1.0 };
                s * m * 2f32.powi(e)
            })
            .collect()
    };
    let (r, c) = (factor(rows), factor(cols));
    let rank1: Vec<f32> = r
        .iter()
        .flat_map(|&a| c.iter().map(move |&b| a * b))
        .collect();
    let mut g = Lcg(11);
    let scrambled: Vec<f32> = rank1
        .iter()
        .map(|&x| if g.next() % 2 == 0 { x } else { -x })
        .collect();
    let independent: Vec<f32> = (0..rows * cols)
        .map(|_| (g.next() % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let shape = [rows, cols];
    for (v, flags) in [
        (&rank1, Some(3u8)),
        (&scrambled, Some(2)),
        (&independent, None),
    ] {
        let b = cast(v, Dtype::F32);
        let p = lossless::encode(&b, 4, &shape);
        match flags {
            Some(f) => assert_eq!((p[0], p[1]), (6, f)),
            None => assert_ne!(p[0], 6),
        }
        assert!(decode(&p, 4, b.len()) == b);
    }
}

/// `rows × cols` random elements of `w` bytes: any bit pattern (NaN payloads, infinities,
/// subnormals, −0), with some zero rows, zero columns and zero elements.
fn random_matrix(rows: usize, cols: usize, w: usize, seed: u64) -> Vec<u8> {
    let mut g = Lcg(seed);
    let zero_row: Vec<bool> = (0..rows).map(|_| g.next() % 5 == 0).collect();
    let zero_col: Vec<bool> = (0..cols).map(|_| g.next() % 5 == 0).collect();
    let style = g.next() % 3;
    let mut b = vec![0u8; rows * cols * w];
    for i in 0..rows {
        for j in 0..cols {
            let e = &mut b[(i * cols + j) * w..(i * cols + j + 1) * w];
            if zero_row[i] || zero_col[j] || g.next() % 9 == 0 {
                continue;
            }
            let x = g.next() ^ g.next() << 32;
            e.copy_from_slice(&x.to_le_bytes()[..w]);
            if style == 1 {
                // Small exponents: many zero heads (subnormals), signs kept.
                e[w - 1] &= 0x80;
                e[w - 2] &= 0x7F;
            } else if style == 2 {
                // Row-and-column structured heads and signs.
                e[w - 1] = ((i as u8 ^ j as u8) & 1) << 7 | (0x30 + (i % 7) as u8 + (j % 5) as u8);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Both predictions forced on random matrices of every width round-trip bit-exactly, and
    /// every cut of the payload is an error.
    #[test]
    fn forced_predictions_round_trip(
        rows in 2usize..40, cols in 2usize..40, wi in 0usize..3, seed in any::<u64>()
    ) {
        let w = [2usize, 4, 8][wi];
        let b = random_matrix(rows, cols, w, seed);
        if let Some(p) = lossless::encode_predicted_forced(&b, w, &[rows, cols]) {
            prop_assert_eq!(p[0], 6);
            prop_assert!(p[1] == 3 || p[1] == 2, "flags {}", p[1]);
            let mut out = vec![0u8; b.len()];
            lossless::decode(&p, w, &mut out).unwrap();
            prop_assert!(out == b, "not bit-exact");
            let cut = 1 + (seed as usize) % (p.len() - 1);
            prop_assert!(lossless::decode(&p[..cut], w, &mut out).is_err());
        }
    }

    /// A bit flipped anywhere in a forced payload gives an error or some output, never a panic.
    #[test]
    fn damaged_payloads_do_not_panic(seed in any::<u64>(), at in any::<usize>(), bit in 0u8..8) {
        let (rows, cols) = (2 + (seed % 30) as usize, 2 + (seed / 30 % 30) as usize);
        let b = random_matrix(rows, cols, 2, seed);
        if let Some(mut p) = lossless::encode_predicted_forced(&b, 2, &[rows, cols]) {
            let i = 1 + at % (p.len() - 1);
            p[i] ^= 1 << bit;
            let mut out = vec![0u8; b.len()];
            let _ = lossless::decode(&p, 2, &mut out);
        }
    }
}

/// The header's flags and rows are checked: no flag, an unknown flag, and row counts that do
/// not make a matrix of at least 2 × 2 (or differ from the masks') are corrupt.
#[test]
fn bad_headers_are_corrupt() {
    let (rows, cols) = (12usize, 10usize);
    let b = random_matrix(rows, cols, 4, 3);
    let p = lossless::encode_predicted_forced(&b, 4, &[rows, cols]).unwrap();
    let mut out = vec![0u8; b.len()];
    lossless::decode(&p, 4, &mut out).unwrap();
    assert!(out == b);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut q = p.clone();
        f(&mut q);
        let mut out = vec![0u8; b.len()];
        lossless::decode(&q, 4, &mut out).map(|_| ())
    };
    for flags in [0u8, 4, 7, 0x80] {
        let e = with(&|q| q[1] = flags).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "flags {flags}");
    }
    for r in [0u32, 1, 7, 60, 120, u32::MAX] {
        let e = with(&|q| q[2..6].copy_from_slice(&r.to_le_bytes())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "rows {r}");
    }
    for cut in 1..7 {
        assert_eq!(
            with(&|q| q.truncate(cut)).unwrap_err().kind(),
            ErrorKind::Truncated,
            "cut {cut}"
        );
    }
}

/// A lossless frame holding method 6 decodes to the very bits; labelled with version 5 (which
/// had no method 6) it is corrupt.
#[test]
fn frames_of_version_5_may_not_hold_method_6() {
    let (v, shape) = data("adam_exp_avg_sq_step02000_fc1.weight.npy");
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless)).unwrap();
    let frame = enc.compress(&v, &shape, None).unwrap().bytes;
    frames::check_lossless_method_gate(&frame, &v, 6, &[5, 4]);
}
