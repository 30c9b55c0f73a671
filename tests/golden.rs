//! Format compatibility: the golden frames under tests/data/golden/ (written once by
//! `ALCM_WRITE_GOLDEN=1 cargo run --example make_golden`, only when the format version
//! changes) must decode bit-exactly to their `.decoded.npy` forever. A failure here means a
//! change altered how existing frames decode: fix the change, never the golden files.

use std::path::Path;

use alcm::{decompress, npy::read_npy_f32, peek, ErrorKind, FORMAT_VERSION};

fn golden() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "alcm"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn golden_frames_decode_bit_exactly() {
    let frames = golden();
    assert!(frames.len() >= 26, "golden frames missing: {}", frames.len());
    let mut seen = std::collections::BTreeSet::new();
    for (name, bytes) in &frames {
        let info = peek(bytes).unwrap();
        seen.insert((info.mode, info.backend));
        let d = decompress(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let npy = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/golden/{name}.decoded.npy"));
        let (want, shape) = read_npy_f32(&npy).unwrap();
        assert_eq!(d.shape, shape, "{name}");
        assert_eq!(d.data.len(), want.len(), "{name}");
        for (i, (a, b)) in d.data.iter().zip(&want).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{name}: value {i} decodes to {a:e}, golden {b:e}");
        }
    }
    // Every mode with store, deflate and rANS is covered, the rank-1 model (backend 3) in both
    // error-bounded modes, and frames with exceptions.
    for mode in 0..4u8 {
        for backend in 0..3u8 {
            assert!(seen.contains(&(mode, backend)), "no golden frame for mode {mode} backend {backend}");
        }
    }
    for mode in [0u8, 1, 2] {
        assert!(seen.contains(&(mode, 3)), "no golden frame for mode {mode} backend 3");
    }
    assert!(frames.iter().any(|(_, b)| peek(b).unwrap().n_exceptions > 0));
}

#[test]
fn golden_frames_are_of_the_current_version() {
    for (name, bytes) in golden() {
        if name.starts_with(&format!("v{FORMAT_VERSION}_")) {
            assert_eq!(peek(&bytes).unwrap().format_version, FORMAT_VERSION);
        }
    }
}

/// A frame of a newer (or older, unknown) format version is refused with FormatVersion even
/// when its checksum is valid, by decompress and by peek.
#[test]
fn unknown_format_versions_are_refused() {
    let (_, frame) = golden().into_iter().next().unwrap();
    for v in [0u8, 2, 3, 0x7f, 0xff] {
        let mut f = frame.clone();
        f[4] = v;
        let n = f.len();
        let crc = crc32fast::hash(&f[..n - 4]);
        f[n - 4..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decompress(&f).unwrap_err().kind(), ErrorKind::FormatVersion, "version {v}");
        assert_eq!(peek(&f).unwrap_err().kind(), ErrorKind::FormatVersion, "version {v}");
    }
}
