//! Writes the version-4 golden frames of the element types other than float32 under
//! tests/data/golden/ (`v4_<type>_<tensor>_<mode>.alcm`), each with the little-endian bytes it
//! must decode to (`.decoded.bin`). tests/golden_dtype.rs requires them to decode bit-exactly
//! forever. Existing files are never overwritten. Run only when the format version changes:
//!
//!     ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden_dtype
//!
//! The frames: bfloat16, float16 and float64 casts (round to nearest) of a tests/data gradient,
//! in adaptive, relative-L2 1e-2, max-abs and lossless (rANS) modes, plus a lossless frame of
//! special bit patterns (NaN payloads, ±0, subnormals, ±inf) per type, with the store backend.
use std::path::Path;

use alcm::half::{bf16, f16};
use alcm::{
    decompress_bytes, peek, read_npy_f32, BackendKind, Dtype, Encoder, EncoderConfig, Mode,
    NonFinitePolicy, FORMAT_VERSION,
};

fn cast(x: &[f32], dtype: Dtype) -> Vec<u8> {
    x.iter()
        .flat_map(|&v| match dtype {
            Dtype::BF16 => bf16::from_f32(v).to_bits().to_le_bytes().to_vec(),
            Dtype::F16 => f16::from_f32(v).to_bits().to_le_bytes().to_vec(),
            _ => (v as f64 * (1.0 + 1e-9)).to_le_bytes().to_vec(),
        })
        .collect()
}

fn specials(dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F64 => [
            0u64,
            1 << 63,
            1,
            0x7FF0_0000_0000_0000,
            0x7FF0_0000_DEAD_BEEF,
            0xFFF8_0000_0000_0001,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect(),
        _ => [
            0u16, 0x8000, 0x0001, 0x8001, 0x7C00, 0x7F80, 0x7FC1, 0xFF81, 0x7D55, 0x3C00,
        ]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect(),
    }
}

/// (name, mode, backend, values, shape) of one golden frame.
type Case<'a> = (&'a str, Mode, BackendKind, &'a [u8], &'a [usize]);

fn main() {
    if std::env::var_os("ALCM_WRITE_GOLDEN").is_none() {
        eprintln!("refusing to (re)write golden frames: set ALCM_WRITE_GOLDEN=1 (only when the format version changes)");
        std::process::exit(2);
    }
    let out = Path::new("tests/data/golden");
    let (x, shape) = read_npy_f32(Path::new(
        "tests/data/gradients/grad_step00001_fc3.weight.npy",
    ))
    .unwrap();
    let scale = x.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    for dtype in [Dtype::BF16, Dtype::F16, Dtype::F64] {
        let name = match dtype {
            Dtype::BF16 => "bf16",
            Dtype::F16 => "f16",
            _ => "f64",
        };
        let bytes = cast(&x, dtype);
        let sp = specials(dtype);
        let sp_shape = [sp.len() / dtype.width()];
        let cases: [Case; 5] = [
            (
                "fc3weight_adaptive",
                Mode::Adaptive,
                BackendKind::Rans,
                &bytes,
                &shape,
            ),
            (
                "fc3weight_rel1e-2",
                Mode::RelativeL2(1e-2),
                BackendKind::Rans,
                &bytes,
                &shape,
            ),
            (
                "fc3weight_maxabs",
                Mode::MaxAbs(scale * 1e-3),
                BackendKind::Rans,
                &bytes,
                &shape,
            ),
            (
                "fc3weight_lossless_rans",
                Mode::Lossless,
                BackendKind::Rans,
                &bytes,
                &shape,
            ),
            (
                "specials_lossless_store",
                Mode::Lossless,
                BackendKind::Store,
                &sp,
                &sp_shape,
            ),
        ];
        for (case, mode, backend, b, s) in cases {
            let stem = format!("v{FORMAT_VERSION}_{name}_{case}");
            if out.join(format!("{stem}.alcm")).exists() {
                println!("{stem}: kept (golden frames are never overwritten)");
                continue;
            }
            let enc = Encoder::new(
                EncoderConfig::default()
                    .with_mode(mode)
                    .with_backend(backend)
                    .with_non_finite(NonFinitePolicy::Keep),
            )
            .unwrap();
            let c = enc.compress_bytes(b, dtype, s, None).unwrap();
            let d = decompress_bytes(&c.bytes).unwrap();
            std::fs::write(out.join(format!("{stem}.alcm")), &c.bytes).unwrap();
            std::fs::write(out.join(format!("{stem}.decoded.bin")), &d.bytes).unwrap();
            let info = peek(&c.bytes).unwrap();
            println!(
                "{stem}: {} values, {} bytes, mode {}, backend {}, {} exceptions",
                info.n_values,
                c.bytes.len(),
                info.mode.id(),
                info.backend.id(),
                info.n_exceptions
            );
        }
    }
}
