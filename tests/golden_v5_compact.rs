//! Version-5 golden frames of the compact split (lossless float-layout method 5; written once by
//! `ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden_compact`): one per
//! element type, each a lossless frame of backend 4 whose payload is method 5, decoding to the
//! very bits of its source (a tests/data bias cast to the type, recomputed here) and to its
//! `.decoded.bin`, and corrupt when relabelled version 4. A failure means a change altered how
//! existing frames decode: fix the change, never the golden files.

use std::path::{Path, PathBuf};

use alcm::half::{bf16, f16};
use alcm::{decompress_bytes, peek, read_npy_f32, ErrorKind};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

#[test]
fn v5_compact_golden_frames_decode_to_their_source_bits() {
    let (x, shape) = read_npy_f32(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/gradients/grad_step00010_fc2.bias.npy"),
    )
    .unwrap();
    for (name, dtype_id, head_bits) in [("f32", 1, 8), ("bf16", 2, 8), ("f16", 3, 5), ("f64", 4, 8)]
    {
        let stem = format!("v5_{name}_fc2bias_lossless_compact");
        let f = std::fs::read(dir().join(format!("{stem}.alcm"))).unwrap();
        let info = peek(&f).unwrap();
        assert_eq!(
            (
                info.format_version,
                info.mode.id(),
                info.backend.id(),
                info.dtype
            ),
            (5, 3, 4, dtype_id),
            "{stem}"
        );
        let p = &f[f.len() - 4 - info.payload_len as usize..f.len() - 4];
        assert_eq!(
            (p[0], p[1]),
            (5, head_bits),
            "{stem}: method 5 and its head bits"
        );
        let source: Vec<u8> = x
            .iter()
            .flat_map(|&v| match dtype_id {
                1 => v.to_le_bytes().to_vec(),
                2 => bf16::from_f32(v).to_bits().to_le_bytes().to_vec(),
                3 => f16::from_f32(v).to_bits().to_le_bytes().to_vec(),
                _ => (v as f64 * (1.0 + 1e-9)).to_le_bytes().to_vec(),
            })
            .collect();
        let d = decompress_bytes(&f).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(d.shape, shape, "{stem}");
        assert!(d.bytes == source, "{stem}: not the source's bits");
        let golden = std::fs::read(dir().join(format!("{stem}.decoded.bin"))).unwrap();
        assert!(d.bytes == golden, "{stem}: not the golden bytes");
        let mut old = f.clone();
        old[4] = 4;
        let n = old.len();
        let crc = crc32fast::hash(&old[..n - 4]);
        old[n - 4..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decompress_bytes(&old).unwrap_err().kind(),
            ErrorKind::Corrupt,
            "{stem} as version 4"
        );
    }
}
