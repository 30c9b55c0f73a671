//! Writes the version-5 golden frames of lossless method 4, the laned split
//! (`src/entropy/floatbits/laned.rs`), under tests/data/golden/
//! (`v5_<type>_laned256x256_lossless_float.alcm`), each with `.decoded.crc32` (value count and
//! CRC-32 of the decoded little-endian bytes). tests/golden.rs, tests/golden_dtype.rs and
//! tests/golden_v5_laned.rs require them to decode bit-exactly forever. Existing files are
//! never overwritten. Run only when the format version changes:
//!
//!     ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden_v5
//!
//! The tensors (256 × 256, the smallest size the encoder lanes): `q / 1024` with `q` in
//! −8..=8 from a fixed LCG, exact in every type. float32: three zero rows (masks) and a random
//! lowest byte (a stored plane); bfloat16 and float64: `q ≠ 0` (no zero head: the block path);
//! float16: zeros kept (zero heads without masks). tests/golden_v5_laned.rs rebuilds the same
//! values on its own.
use std::path::Path;

use alcm::half::{bf16, f16};
use alcm::{decompress_bytes, peek, Dtype, Encoder, EncoderConfig, Mode, FORMAT_VERSION};

const SIDE: usize = 256;

/// The golden tensor's element bytes for `dtype` (module doc).
fn tensor(dtype: Dtype) -> Vec<u8> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) as u32
    };
    let mut out = Vec::new();
    for i in 0..SIDE * SIDE {
        let (r1, r2) = (next(), next());
        let mut q = (r1 % 17) as i32 - 8;
        if q == 0 && matches!(dtype, Dtype::BF16 | Dtype::F64) {
            q = 9;
        }
        let x = q as f32 / 1024.0;
        match dtype {
            Dtype::F32 => {
                let row = i / SIDE;
                let u = if [5, 77, 200].contains(&row) {
                    0
                } else {
                    x.to_bits() & !0xFF | (r2 & 0xFF)
                };
                out.extend_from_slice(&u.to_le_bytes());
            }
            Dtype::BF16 => out.extend_from_slice(&bf16::from_f32(x).to_bits().to_le_bytes()),
            Dtype::F16 => out.extend_from_slice(&f16::from_f32(x).to_bits().to_le_bytes()),
            _ => out.extend_from_slice(&(x as f64).to_le_bytes()),
        }
    }
    out
}

fn main() {
    if std::env::var_os("ALCM_WRITE_GOLDEN").is_none() {
        eprintln!("refusing to (re)write golden frames: set ALCM_WRITE_GOLDEN=1 (only when the format version changes)");
        std::process::exit(2);
    }
    let out = Path::new("tests/data/golden");
    for (dtype, name) in [
        (Dtype::F32, "f32"),
        (Dtype::BF16, "bf16"),
        (Dtype::F16, "f16"),
        (Dtype::F64, "f64"),
    ] {
        let stem = format!("v{FORMAT_VERSION}_{name}_laned256x256_lossless_float");
        if out.join(format!("{stem}.alcm")).exists() {
            println!("{stem}: kept (golden frames are never overwritten)");
            continue;
        }
        let b = tensor(dtype);
        let c = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless))
            .unwrap()
            .compress_bytes(&b, dtype, &[SIDE, SIDE], None)
            .unwrap();
        let d = decompress_bytes(&c.bytes).unwrap();
        assert!(d.bytes == b, "{stem}: not bit-exact");
        let info = peek(&c.bytes).unwrap();
        let payload = &c.bytes[c.bytes.len() - 4 - info.payload_len as usize..];
        assert_eq!(
            (info.backend.id(), payload[0]),
            (4, 4),
            "{stem}: backend 4, method 4"
        );
        std::fs::write(out.join(format!("{stem}.alcm")), &c.bytes).unwrap();
        std::fs::write(
            out.join(format!("{stem}.decoded.crc32")),
            format!("{} {:08x}\n", SIDE * SIDE, crc32fast::hash(&d.bytes)),
        )
        .unwrap();
        println!("{stem}: {} bytes", c.bytes.len());
    }
}
