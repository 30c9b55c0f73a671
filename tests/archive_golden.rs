//! Archive format compatibility: the golden archives under tests/data/golden_archive/ (one per
//! archive version, written once by `ALCM_WRITE_GOLDEN_ARCHIVE=1 cargo test --test
//! archive_golden`, only when the archive version changes) must read back forever to the
//! decoded bytes recorded beside them (`<name>.decoded.tsv`: tensor, byte count, CRC-32 of the
//! decoded little-endian elements). The bounds are also checked on the decoded values against
//! the source tensors of tests/data. A failure means a change altered how existing archives
//! read: fix the change, never the golden files.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use alcm::archive::{
    ArchiveOptions, ArchiveReader, ArchiveWriter, Bound, Dtype, ReadOptions, ARCHIVE_VERSION,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden_archive")
}

fn npy(rel: &str) -> (Vec<f32>, Vec<usize>) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    alcm::read_npy_f32(&p).unwrap()
}

/// bfloat16 by truncating a binary32 (exact for the test: the source is what is stored).
fn to_bf16(x: &[f32]) -> Vec<u8> {
    x.iter()
        .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
        .collect()
}

fn f64_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect()
}

/// (name, dtype, shape, source bytes, bound): every kind of entry the format has — lossless,
/// relative L2 (with the bound repeated, so the "same bound" flag is used), max-abs, a tensor
/// cut into several blocks, typed coded blocks, a raw integer tensor.
type Golden = (&'static str, Dtype, Vec<usize>, Vec<u8>, Bound);

fn contents() -> Vec<Golden> {
    let f32b = |x: &[f32]| -> Vec<u8> { x.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let (b3, s3) = npy("gradients/grad_step00100_fc3.bias.npy");
    let (b2, s2) = npy("gradients/grad_step00100_fc2.bias.npy");
    let (w3, sw3) = npy("gradients/grad_step00100_fc3.weight.npy");
    let (a3, sa3) = npy("gradients/adam_exp_avg_step02000_fc3.weight.npy");
    let (w1, sw1) = npy("gradients/grad_step01000_fc1.weight.npy");
    let (lw, slw) = npy("weights/minilm_embeddings.LayerNorm.weight.npy");
    let (lb, slb) = npy("weights/minilm_embeddings.LayerNorm.bias.npy");
    let steps: Vec<u8> = [1i64, 100, 2000]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    vec![
        ("fc3.bias", Dtype::F32, s3, f32b(&b3), Bound::Lossless),
        (
            "fc2.bias",
            Dtype::F32,
            s2,
            f32b(&b2),
            Bound::RelativeL2(1e-2),
        ),
        (
            "fc3.weight",
            Dtype::F32,
            sw3,
            f32b(&w3),
            Bound::RelativeL2(1e-2),
        ),
        (
            "adam.fc3.weight",
            Dtype::F32,
            sa3,
            f32b(&a3),
            Bound::RelativeL2(1e-3),
        ),
        (
            "fc1.weight",
            Dtype::F32,
            sw1,
            f32b(&w1),
            Bound::MaxAbs(1e-4),
        ),
        (
            "ln.weight.bf16",
            Dtype::BF16,
            slw,
            to_bf16(&lw),
            Bound::RelativeL2(1e-2),
        ),
        (
            "ln.bias.f64",
            Dtype::F64,
            slb,
            f64_bytes(&lb),
            Bound::Lossless,
        ),
        ("steps", Dtype::I64, vec![3], steps, Bound::Lossless),
    ]
}

const METADATA: &[u8] = b"{\"golden\":\"archive\"}";

fn write_current() -> Vec<u8> {
    // 4096 values per block: fc1.weight (16 384 values) is cut into 4 blocks.
    let mut w = ArchiveWriter::new(
        Vec::new(),
        ArchiveOptions::default().with_block_values(4096),
    )
    .unwrap();
    for (name, dtype, shape, bytes, bound) in contents() {
        w.add_typed(name, dtype, &shape, &bytes, bound).unwrap();
    }
    w.set_metadata(METADATA);
    w.finish().unwrap()
}

fn decoded_table(bytes: &[u8]) -> String {
    let mut r = ArchiveReader::new(Cursor::new(bytes), ReadOptions::default()).unwrap();
    assert_eq!(r.verify().unwrap(), contents().len());
    assert_eq!(r.metadata(), METADATA);
    let mut out = String::new();
    for (name, ..) in contents() {
        let d = r.read_bytes(name).unwrap();
        out += &format!("{name}\t{}\t{:08x}\n", d.len(), crc32fast::hash(&d));
    }
    out
}

fn golden_files() -> Vec<(u8, Vec<u8>, String)> {
    let mut out = Vec::new();
    for v in 1..=ARCHIVE_VERSION {
        let a = dir().join(format!("archive_v{v}.alca"));
        let t = dir().join(format!("archive_v{v}.decoded.tsv"));
        if let (Ok(a), Ok(t)) = (std::fs::read(&a), std::fs::read_to_string(&t)) {
            out.push((v, a, t));
        }
    }
    out
}

#[test]
fn golden_archives_read_back_to_their_recorded_bytes() {
    if std::env::var_os("ALCM_WRITE_GOLDEN_ARCHIVE").is_some() {
        let bytes = write_current();
        std::fs::create_dir_all(dir()).unwrap();
        let v = ARCHIVE_VERSION;
        std::fs::write(dir().join(format!("archive_v{v}.alca")), &bytes).unwrap();
        std::fs::write(
            dir().join(format!("archive_v{v}.decoded.tsv")),
            decoded_table(&bytes),
        )
        .unwrap();
    }
    let files = golden_files();
    // Every archive version this library has written has its golden archive.
    assert_eq!(
        files.iter().map(|f| f.0).collect::<Vec<_>>(),
        (1..=ARCHIVE_VERSION).collect::<Vec<_>>()
    );
    for (v, bytes, table) in &files {
        assert_eq!(bytes[4], *v, "archive_v{v}.alca declares its version");
        assert_eq!(&decoded_table(bytes), table, "archive_v{v}.alca");
    }
}

#[test]
fn golden_archives_keep_their_bounds_and_lossless_bytes() {
    for (v, bytes, _) in golden_files() {
        let mut r = ArchiveReader::new(Cursor::new(&bytes), ReadOptions::default()).unwrap();
        for (name, dtype, shape, src, bound) in contents() {
            let e = r.entry(name).unwrap().clone();
            // Bounds are stored as f32.
            let f32_bound = match bound {
                Bound::RelativeL2(e) => Bound::RelativeL2(e as f32 as f64),
                Bound::MaxAbs(e) => Bound::MaxAbs(e as f32 as f64),
                Bound::Lossless => Bound::Lossless,
            };
            assert_eq!(
                (e.dtype, &e.shape, e.bound),
                (dtype, &shape, f32_bound),
                "v{v} {name}"
            );
            let d = r.read_bytes(name).unwrap();
            let (x, y): (Vec<f64>, Vec<f64>) = match dtype {
                Dtype::F32 => (
                    src.chunks(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                        .collect(),
                    d.chunks(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                        .collect(),
                ),
                Dtype::BF16 => {
                    let f = |b: &[u8]| -> Vec<f64> {
                        b.chunks(2)
                            .map(|c| {
                                f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)
                                    as f64
                            })
                            .collect()
                    };
                    (f(&src), f(&d))
                }
                _ => {
                    assert_eq!(d, src, "v{v} {name}");
                    continue;
                }
            };
            let err2: f64 = x.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).sum();
            let norm2: f64 = x.iter().map(|a| a * a).sum();
            let max = x
                .iter()
                .zip(&y)
                .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
            match bound {
                Bound::Lossless => assert_eq!(d, src, "v{v} {name}"),
                Bound::RelativeL2(e) => assert!((err2 / norm2).sqrt() <= e, "v{v} {name}"),
                Bound::MaxAbs(e) => assert!(max <= e, "v{v} {name}"),
            }
        }
    }
}

#[test]
fn the_current_writer_stores_the_same_frames_as_every_golden_archive() {
    // The codec's frames did not change: today's archive of the same tensors decodes to the
    // same bytes as every older archive version.
    let now = decoded_table(&write_current());
    for (v, _, table) in golden_files() {
        assert_eq!(now, table, "archive_v{v}");
    }
}
