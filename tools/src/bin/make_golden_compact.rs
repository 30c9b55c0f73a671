//! Writes the version-5 golden frames of the compact split (lossless float-layout method 5,
//! `entropy/floatbits/compact.rs`) under tests/data/golden/: one lossless frame per element
//! type (`v5_<type>_fc2bias_lossless_compact.alcm`) of a 128-value bias from tests/data, cast to
//! the type (bfloat16 / float16: round to nearest; float64: widened and scaled by 1 + 1e-9 so that
//! its low mantissa bits are not zero), each with the little-endian bytes it must decode to
//! (`.decoded.bin`; float32 also `.decoded.crc32`, which tests/golden.rs reads); and a float32
//! frame of 300 small integers (`v5_f32_labels_lossless_compact`, values 0..=9 from a 64-bit LCG, state ← 6364136223846793005·state + 1442695040888963407 from 1, value (state >> 33) mod 10), whose
//! top rest chunk is coded with one table per head.
//! tests/golden_v5_compact.rs requires them to decode bit-exactly forever. Existing files are
//! never overwritten:
//!
//!     ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden_compact
use std::path::Path;

use alcm::half::{bf16, f16};
use alcm::{
    decompress_bytes, peek, read_npy_f32, Dtype, Encoder, EncoderConfig, Mode, FORMAT_VERSION,
};

fn main() {
    if std::env::var_os("ALCM_WRITE_GOLDEN").is_none() {
        eprintln!("refusing to (re)write golden frames: set ALCM_WRITE_GOLDEN=1");
        std::process::exit(2);
    }
    let out = Path::new("tests/data/golden");
    let (x, shape) = read_npy_f32(Path::new(
        "tests/data/gradients/grad_step00010_fc2.bias.npy",
    ))
    .unwrap();
    let mut state = 1u64;
    let labels: Vec<u8> = (0..300)
        .flat_map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (((state >> 33) % 10) as f32).to_le_bytes()
        })
        .collect();
    let mut cases: Vec<(&str, Dtype, Vec<u8>, Vec<usize>)> =
        vec![("f32_labels", Dtype::F32, labels, vec![300])];
    for (name, dtype) in [
        ("f32_fc2bias", Dtype::F32),
        ("bf16_fc2bias", Dtype::BF16),
        ("f16_fc2bias", Dtype::F16),
        ("f64_fc2bias", Dtype::F64),
    ] {
        let bytes: Vec<u8> = x
            .iter()
            .flat_map(|&v| match dtype {
                Dtype::F32 => v.to_le_bytes().to_vec(),
                Dtype::BF16 => bf16::from_f32(v).to_bits().to_le_bytes().to_vec(),
                Dtype::F16 => f16::from_f32(v).to_bits().to_le_bytes().to_vec(),
                _ => (v as f64 * (1.0 + 1e-9)).to_le_bytes().to_vec(),
            })
            .collect();
        cases.push((name, dtype, bytes, shape.clone()));
    }
    for (name, dtype, bytes, shape) in cases {
        let stem = format!("v{FORMAT_VERSION}_{name}_lossless_compact");
        if out.join(format!("{stem}.alcm")).exists() {
            println!("{stem}: kept (golden frames are never overwritten)");
            continue;
        }
        let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless)).unwrap();
        let c = enc.compress_bytes(&bytes, dtype, &shape, None).unwrap();
        let info = peek(&c.bytes).unwrap();
        let method = c.bytes[c.bytes.len() - 4 - info.payload_len as usize];
        assert_eq!((info.backend.id(), method), (4, 5), "{stem}: not method 5");
        let d = decompress_bytes(&c.bytes).unwrap();
        assert!(d.bytes == bytes, "{stem}: not bit-exact");
        std::fs::write(out.join(format!("{stem}.alcm")), &c.bytes).unwrap();
        std::fs::write(out.join(format!("{stem}.decoded.bin")), &d.bytes).unwrap();
        if dtype == Dtype::F32 {
            let crc = crc32fast::hash(&d.bytes);
            std::fs::write(
                out.join(format!("{stem}.decoded.crc32")),
                format!("{} {crc:08x}\n", bytes.len() / 4),
            )
            .unwrap();
        }
        println!(
            "{stem}: {} values, {} bytes, payload {} bytes",
            info.n_values,
            c.bytes.len(),
            info.payload_len
        );
    }
}
