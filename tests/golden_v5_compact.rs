//! Version-5 golden frames of the compact split (lossless float-layout method 5; written once by
//! `ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden_compact`): one per
//! element type, each a lossless frame of backend 4 whose payload is method 5, decoding to the
//! very bits of its source (a tests/data bias cast to the type, recomputed here) and to its
//! `.decoded.bin`, and corrupt when relabelled version 4; a frame of small integers pins the
//! per-head tables of the top rest chunk. A failure means a change altered how
//! existing frames decode: fix the change, never the golden files.

#[path = "common/frames.rs"]
mod frames;

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
        let old = frames::relabelled(&f, 4);
        assert_eq!(
            decompress_bytes(&old).unwrap_err().kind(),
            ErrorKind::Corrupt,
            "{stem} as version 4"
        );
    }
}

fn varint(p: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0;
    for k in 0.. {
        let b = p[*pos];
        *pos += 1;
        v |= ((b & 0x7F) as u64) << (7 * k);
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

/// Skips a count table of total `n` (docs/FORMAT.md, "Compact split") and returns c0.
fn skip_table(p: &[u8], pos: &mut usize, n: u64) -> u64 {
    let c0 = varint(p, pos);
    if c0 < n {
        let _lo = varint(p, pos);
        let span = varint(p, pos);
        if span > 0 {
            let b = p[*pos] as u64;
            *pos += 1 + (span * b).div_ceil(8) as usize;
        }
    }
    c0
}

/// The labels frame (300 values 0..=9 from an LCG, as `make_golden_compact` draws them) codes
/// its top rest chunk with one table per head: read at the offsets of docs/FORMAT.md.
#[test]
fn v5_compact_labels_frame_has_per_head_tables() {
    let mut state = 1u64;
    let source: Vec<u8> = (0..300)
        .flat_map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (((state >> 33) % 10) as f32).to_le_bytes()
        })
        .collect();
    let f = std::fs::read(dir().join("v5_f32_labels_lossless_compact.alcm")).unwrap();
    let d = decompress_bytes(&f).unwrap();
    assert!(d.bytes == source);
    let info = peek(&f).unwrap();
    let p = &f[f.len() - 4 - info.payload_len as usize..f.len() - 4];
    assert_eq!((p[0], p[1]), (5, 8));
    let mut pos = 2;
    let c0 = skip_table(p, &mut pos, 300);
    assert_eq!(
        c0 as usize,
        source.chunks(4).filter(|c| c == &[0, 0, 0, 0]).count()
    );
    // Chunks 0 and 1 (the low 16 mantissa bits) are 0 for every integer: tables with c0 = all.
    for _ in 0..2 {
        assert_eq!(p[pos], 1);
        pos += 1;
        assert_eq!(skip_table(p, &mut pos, 300 - c0), 300 - c0);
    }
    assert_eq!(p[pos], 2, "the top chunk: one table per head");
}
