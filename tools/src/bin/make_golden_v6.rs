//! Writes the version-6 golden frames of lossless method 6, the predicted split
//! (`src/entropy/floatbits/predict2d.rs`), under tests/data/golden/, each with `.decoded.crc32`
//! (value count and CRC-32 of the decoded little-endian bytes). tests/golden.rs,
//! tests/golden_dtype.rs and tests/golden_v6_predicted.rs require them to decode bit-exactly
//! forever. Existing files are never overwritten. Run only when the format version changes:
//!
//!     ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden_v6
//!
//! - `v6_<type>_rank1x256x160_lossless_predicted`: a rank-one matrix `r_i · c_j`, 256 × 160, in
//!   every type, rows 3 and 50 and column 7 zero (masks). Each factor is `±m · 2^e` with
//!   `m = 1 + k/4`, from the LCG `s ← s·6364136223846793005 + 1442695040888963407` (seed 6,
//!   `d = s >> 33`; three draws per factor, rows first: `k = d1 mod 4`, `e = (d2 mod 12) − 6`,
//!   negative when `d3` is odd). The products are exact in every type. Signs and exponents are
//!   fully predictable: both predictions (flags 3) where the top rest plane is rANS-coded.
//! - `v6_bf16_adamsq_fc1_lossless_predicted`: Adam's second moment of fc1 (256 × 64,
//!   tests/data/gradients), rounded to bfloat16: heads predicted (flags 2), zero rows and
//!   columns (masks).
use std::path::Path;

use alcm::half::{bf16, f16};
use alcm::{decompress_bytes, peek, read_npy_f32, Dtype, Encoder, EncoderConfig, Mode};

const ROWS: usize = 256;
const COLS: usize = 160;

/// The rank-one golden tensor's values (module doc).
fn rank1() -> Vec<f64> {
    let mut s = 6u64;
    let mut draw = || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        s >> 33
    };
    let mut factor = || {
        let (d1, d2, d3) = (draw(), draw(), draw());
        let x = (1.0 + (d1 % 4) as f64 / 4.0) * 2f64.powi((d2 % 12) as i32 - 6);
        if d3 % 2 == 1 {
            -x
        } else {
            x
        }
    };
    let r: Vec<f64> = (0..ROWS).map(|_| factor()).collect();
    let c: Vec<f64> = (0..COLS).map(|_| factor()).collect();
    let mut v = Vec::with_capacity(ROWS * COLS);
    for (i, &a) in r.iter().enumerate() {
        for (j, &b) in c.iter().enumerate() {
            let zero = i == 3 || i == 50 || j == 7;
            v.push(if zero { 0.0 } else { a * b });
        }
    }
    v
}

fn bytes_of(v: &[f64], dtype: Dtype) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| match dtype {
            Dtype::F32 => (x as f32).to_le_bytes().to_vec(),
            Dtype::BF16 => bf16::from_f64(x).to_bits().to_le_bytes().to_vec(),
            Dtype::F16 => f16::from_f64(x).to_bits().to_le_bytes().to_vec(),
            _ => x.to_le_bytes().to_vec(),
        })
        .collect()
}

/// Writes the frame of `b` (`dtype`, `shape`) as `stem`, checking it decodes bit-exactly and
/// holds method 6 with `flags`.
fn write(out: &Path, stem: &str, b: &[u8], dtype: Dtype, shape: &[usize], flags: u8) {
    if out.join(format!("{stem}.alcm")).exists() {
        println!("{stem}: kept (golden frames are never overwritten)");
        return;
    }
    let c = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless))
        .unwrap()
        .compress_bytes(b, dtype, shape, None)
        .unwrap();
    let d = decompress_bytes(&c.bytes).unwrap();
    assert!(d.bytes == b, "{stem}: not bit-exact");
    let info = peek(&c.bytes).unwrap();
    let payload = &c.bytes[c.bytes.len() - 4 - info.payload_len as usize..];
    assert_eq!(
        (info.backend.id(), payload[0], payload[1]),
        (4, 6, flags),
        "{stem}: backend 4, method 6, flags"
    );
    std::fs::write(out.join(format!("{stem}.alcm")), &c.bytes).unwrap();
    std::fs::write(
        out.join(format!("{stem}.decoded.crc32")),
        format!(
            "{} {:08x}\n",
            b.len() / dtype.width(),
            crc32fast::hash(&d.bytes)
        ),
    )
    .unwrap();
    println!("{stem}: {} bytes", c.bytes.len());
}

fn main() {
    if std::env::var_os("ALCM_WRITE_GOLDEN").is_none() {
        eprintln!("refusing to (re)write golden frames: set ALCM_WRITE_GOLDEN=1 (only when the format version changes)");
        std::process::exit(2);
    }
    let out = Path::new("tests/data/golden");
    let v = rank1();
    for (dtype, name, flags) in [
        (Dtype::F32, "f32", 3),
        (Dtype::BF16, "bf16", 3),
        (Dtype::F16, "f16", 3),
        (Dtype::F64, "f64", 3),
    ] {
        let stem = format!("v6_{name}_rank1x256x160_lossless_predicted");
        write(
            out,
            &stem,
            &bytes_of(&v, dtype),
            dtype,
            &[ROWS, COLS],
            flags,
        );
    }
    let (x, shape) = read_npy_f32(Path::new(
        "tests/data/gradients/adam_exp_avg_sq_step02000_fc1.weight.npy",
    ))
    .unwrap();
    let b: Vec<u8> = x
        .iter()
        .flat_map(|&v| bf16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    write(
        out,
        "v6_bf16_adamsq_fc1_lossless_predicted",
        &b,
        Dtype::BF16,
        &shape,
        2,
    );
}
