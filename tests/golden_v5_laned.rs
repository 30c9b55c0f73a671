//! Version-5 golden frames of lossless method 4, the laned split (written once by
//! `ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden_v5`): each is a
//! version-5 lossless frame of backend 4 whose payload is method 4; together they take the
//! decoder's block path (no mask, no zero head: bfloat16, float64) and its general path (masks:
//! float32; zero heads: float16), with stored, constant and rANS planes; each decodes to the
//! values rebuilt here from the tool's description (not from the codec), and is refused as
//! corrupt when relabelled version 4 (method 4 came with version 5).

#[path = "common/frames.rs"]
mod frames;

use std::path::{Path, PathBuf};

use alcm::half::{bf16, f16};
use alcm::{decompress_bytes, peek, Dtype, ErrorKind};

fn frame(name: &str) -> Vec<u8> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    std::fs::read(dir.join(format!("v5_{name}_laned256x256_lossless_float.alcm"))).unwrap()
}

fn payload(f: &[u8]) -> &[u8] {
    let info = peek(f).unwrap();
    &f[f.len() - 4 - info.payload_len as usize..f.len() - 4]
}

/// The values of the golden tensors, as `make_golden_v5` describes them: `q / 1024`, `q` in
/// −8..=8 from the LCG `s ← s·6364136223846793005 + 1442695040888963407` (two draws per value,
/// `q = (d1 mod 17) − 8` with `d = s >> 33`); bfloat16 / float64 replace `q = 0` by 9; float32
/// zeroes rows 5, 77 and 200 and puts `d2 mod 256` in each other value's lowest byte.
fn expected(dtype: Dtype) -> Vec<u8> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut draw = || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) as u32
    };
    let mut out = Vec::new();
    for i in 0..256 * 256 {
        let (d1, d2) = (draw(), draw());
        let mut q = (d1 % 17) as i32 - 8;
        if q == 0 && matches!(dtype, Dtype::BF16 | Dtype::F64) {
            q = 9;
        }
        // q / 1024 is exact in every type: |q| < 16 needs 4 significant bits.
        let x = q as f64 / 1024.0;
        match dtype {
            Dtype::F32 => {
                let u = if [5, 77, 200].contains(&(i / 256)) {
                    0
                } else {
                    (x as f32).to_bits() & !0xFF | (d2 & 0xFF)
                };
                out.extend_from_slice(&u.to_le_bytes());
            }
            Dtype::BF16 => {
                out.extend_from_slice(&(((x as f32).to_bits() >> 16) as u16).to_le_bytes())
            }
            Dtype::F16 => out.extend_from_slice(&f16::from_f64(x).to_bits().to_le_bytes()),
            _ => out.extend_from_slice(&x.to_le_bytes()),
        }
    }
    out
}

const CASES: [(&str, Dtype); 4] = [
    ("f32", Dtype::F32),
    ("bf16", Dtype::BF16),
    ("f16", Dtype::F16),
    ("f64", Dtype::F64),
];

#[test]
fn laned_golden_frames_are_version_5_method_4() {
    for (name, dtype) in CASES {
        let f = frame(name);
        let info = peek(&f).unwrap();
        assert_eq!(
            (info.format_version, info.mode.id(), info.backend.id()),
            (5, 3, 4),
            "{name}"
        );
        assert_eq!(info.element_type(), dtype, "{name}");
        let p = payload(&f);
        // method 4, then the mask flag: masks only in the float32 frame.
        assert_eq!((p[0], p[1]), (4, (dtype == Dtype::F32) as u8), "{name}");
    }
    // The zero-head count (u64 after the mask flag): none in bfloat16 / float64; float16 keeps
    // its zeros (q = 0 in about one value of 17).
    let zeros = |name: &str| u64::from_le_bytes(payload(&frame(name))[2..10].try_into().unwrap());
    assert_eq!(zeros("bf16"), 0);
    assert_eq!(zeros("f64"), 0);
    let z = zeros("f16");
    assert!((2_000..6_000).contains(&z), "float16: {z} zero heads");
}

#[test]
fn laned_golden_frames_decode_to_their_described_values() {
    for (name, dtype) in CASES {
        let d = decompress_bytes(&frame(name)).unwrap();
        assert_eq!(d.shape, vec![256, 256], "{name}");
        let want = expected(dtype);
        assert!(
            d.bytes == want,
            "{name}: decoded bytes differ from the description"
        );
    }
    // bf16 of q/1024 is the top half of the float32 bits (exact: no rounding happened).
    assert_eq!(
        bf16::from_f32(3.0 / 1024.0).to_bits(),
        ((3.0f32 / 1024.0).to_bits() >> 16) as u16
    );
}

#[test]
fn laned_golden_frames_are_corrupt_as_version_4() {
    for (name, _) in CASES {
        let f = frames::relabelled(&frame(name), 4);
        assert_eq!(
            decompress_bytes(&f).unwrap_err().kind(),
            ErrorKind::Corrupt,
            "{name}"
        );
    }
}
