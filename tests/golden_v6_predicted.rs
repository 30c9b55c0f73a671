//! Version-6 golden frames of lossless method 6, the predicted split (written once by
//! `ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden_v6`): each is a
//! version-6 lossless frame of backend 4 whose payload is method 6 with the flags the tool
//! describes: a rank-one matrix with zero rows and a zero column in every type (signs and heads
//! predicted) and Adam's second moment of fc1 in bfloat16 (heads predicted). Each decodes to the
//! values rebuilt here from the tool's description (not from the codec), and is refused as
//! corrupt when relabelled version 5 (method 6 came with version 6).

#[path = "common/frames.rs"]
mod frames;

use std::path::{Path, PathBuf};

use alcm::half::{bf16, f16};
use alcm::{decompress_bytes, peek, read_npy_f32, Dtype, ErrorKind};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn frame(stem: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("golden/{stem}.alcm"))).unwrap()
}

fn payload(f: &[u8]) -> &[u8] {
    let info = peek(f).unwrap();
    &f[f.len() - 4 - info.payload_len as usize..f.len() - 4]
}

/// The rank-one tensor as `make_golden_v6` describes it: 256 × 160 products `r_i · c_j`, each
/// factor `±(1 + k/4) · 2^e` from three draws `d = s >> 33` of the LCG
/// `s ← s·6364136223846793005 + 1442695040888963407` from `s = 6` (`k = d1 mod 4`,
/// `e = (d2 mod 12) − 6`, negative for odd `d3`), the 256 row factors first; rows 3 and 50 and
/// column 7 are zero.
fn rank1(dtype: Dtype) -> Vec<u8> {
    let mut s = 6u64;
    let mut draw = || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        s >> 33
    };
    let mut factors = |n: usize| -> Vec<f64> {
        (0..n)
            .map(|_| {
                let (d1, d2, d3) = (draw(), draw(), draw());
                let sign = if d3 % 2 == 1 { -1.0 } else { 1.0 };
                sign * (1.0 + (d1 % 4) as f64 / 4.0) * 2f64.powi((d2 % 12) as i32 - 6)
            })
            .collect()
    };
    let (r, c) = (factors(256), factors(160));
    let mut out = Vec::new();
    for (i, a) in r.iter().enumerate() {
        for (j, b) in c.iter().enumerate() {
            // Exact in every type: 4 significant bits, exponents within -12..=10.
            let x = if i == 3 || i == 50 || j == 7 {
                0.0
            } else {
                a * b
            };
            match dtype {
                Dtype::F32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
                Dtype::BF16 => {
                    out.extend_from_slice(&(((x as f32).to_bits() >> 16) as u16).to_le_bytes())
                }
                Dtype::F16 => out.extend_from_slice(&f16::from_f64(x).to_bits().to_le_bytes()),
                _ => out.extend_from_slice(&x.to_le_bytes()),
            }
        }
    }
    out
}

/// Checks the frame `stem`: version 6, lossless (mode 3), backend 4, method 6 with `flags`, and
/// decoding to `want`, whose count and CRC-32 the `.decoded.crc32` file also holds; relabelled
/// version 5 it is corrupt.
fn check(stem: &str, dtype: Dtype, want: &[u8], flags: u8) {
    let f = frame(stem);
    let info = peek(&f).unwrap();
    assert_eq!(
        (info.format_version, info.mode.id(), info.backend.id()),
        (6, 3, 4),
        "{stem}"
    );
    assert_eq!(&payload(&f)[..2], &[6, flags], "{stem}: method, flags");
    let d = decompress_bytes(&f).unwrap();
    assert_eq!(d.dtype, dtype, "{stem}");
    assert!(d.bytes == want, "{stem}: decoded values differ");
    let text = std::fs::read_to_string(dir().join(format!("golden/{stem}.decoded.crc32"))).unwrap();
    assert_eq!(
        text.trim(),
        format!(
            "{} {:08x}",
            want.len() / dtype.width(),
            crc32fast::hash(want)
        ),
        "{stem}"
    );
    let old = frames::relabelled(&f, 5);
    assert_eq!(
        decompress_bytes(&old).unwrap_err().kind(),
        ErrorKind::Corrupt,
        "{stem} as version 5"
    );
}

#[test]
fn rank_one_golden_frames_decode_to_their_values() {
    for (name, dtype) in [
        ("f32", Dtype::F32),
        ("bf16", Dtype::BF16),
        ("f16", Dtype::F16),
        ("f64", Dtype::F64),
    ] {
        let stem = format!("v6_{name}_rank1x256x160_lossless_predicted");
        check(&stem, dtype, &rank1(dtype), 3);
    }
}

#[test]
fn adam_golden_frame_decodes_to_the_rounded_tensor() {
    let (x, shape) =
        read_npy_f32(&dir().join("gradients/adam_exp_avg_sq_step02000_fc1.weight.npy")).unwrap();
    assert_eq!(shape, vec![256, 64]);
    let want: Vec<u8> = x
        .iter()
        .flat_map(|&v| bf16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    check(
        "v6_bf16_adamsq_fc1_lossless_predicted",
        Dtype::BF16,
        &want,
        2,
    );
}
