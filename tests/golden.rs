//! Format compatibility: the golden frames under tests/data/golden/ (written once by
//! `ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden`, only when the format version
//! changes) must decode bit-exactly to their `.decoded.npy` (or, for a frame too large for that,
//! the value count and CRC-32 in `.decoded.crc32`) forever. A failure here means a change
//! altered how existing frames decode: fix the change, never the golden files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use alcm::{decompress, peek, read_npy_f32, ErrorKind, FORMAT_VERSION};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

fn golden() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "alcm"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn with_crc(mut f: Vec<u8>) -> Vec<u8> {
    let n = f.len();
    let crc = crc32fast::hash(&f[..n - 4]);
    f[n - 4..].copy_from_slice(&crc.to_le_bytes());
    f
}

/// What the frame bytes say, read at the offsets of docs/FORMAT.md (not through the decoder):
/// (version, mode, backend, flags, payload). The payload ends 4 bytes (the CRC) before the end.
fn raw_fields(f: &[u8]) -> (u8, u8, u8, u8, &[u8]) {
    let rank = f[9] as usize;
    let at = 16 + 8 * rank + 44;
    let payload_len = u64::from_le_bytes(f[at..at + 8].try_into().unwrap()) as usize;
    (
        f[4],
        f[5],
        f[6],
        f[7],
        &f[f.len() - 4 - payload_len..f.len() - 4],
    )
}

/// (kind, family, sign mode) of a rANS-model payload (src/entropy/model/: kinds 1–2 have no
/// family byte, i.e. the Gaussian family 0).
fn model_fields(p: &[u8]) -> (u8, u8, u8) {
    if p[0] >= 3 {
        (p[0], p[1], p[2])
    } else {
        (p[0], 0, p[1])
    }
}

#[test]
fn golden_frames_decode_bit_exactly() {
    let frames = golden();
    let v1 = frames.iter().filter(|(n, _)| n.starts_with("v1_")).count();
    let v2 = frames.iter().filter(|(n, _)| n.starts_with("v2_")).count();
    assert!(
        v1 >= 26 && v2 >= 9,
        "golden frames missing: {v1} of version 1, {v2} of version 2"
    );
    let mut seen = BTreeSet::new();
    for (name, bytes) in &frames {
        let info = peek(bytes).unwrap();
        if info.dtype != 1 {
            continue; // other element types: tests/golden_dtype.rs
        }
        seen.insert((info.mode.id(), info.backend.id()));
        let d = decompress(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let npy = dir().join(format!("{name}.decoded.npy"));
        if npy.exists() {
            let (want, shape) = read_npy_f32(&npy).unwrap();
            assert_eq!(d.shape, shape, "{name}");
            assert_eq!(d.data.len(), want.len(), "{name}");
            for (i, (a, b)) in d.data.iter().zip(&want).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{name}: value {i} decodes to {a:e}, golden {b:e}"
                );
            }
        } else {
            let text = std::fs::read_to_string(dir().join(format!("{name}.decoded.crc32")))
                .unwrap_or_else(|_| panic!("{name}: neither .decoded.npy nor .decoded.crc32"));
            let mut it = text.split_whitespace();
            let n: usize = it.next().unwrap().parse().unwrap();
            let crc = u32::from_str_radix(it.next().unwrap(), 16).unwrap();
            let bits: Vec<u8> = d
                .data
                .iter()
                .flat_map(|v| v.to_bits().to_le_bytes())
                .collect();
            assert_eq!(d.data.len(), n, "{name}");
            assert_eq!(
                crc32fast::hash(&bits),
                crc,
                "{name}: decoded values differ from the golden ones"
            );
        }
    }
    // Every mode with store, deflate and rANS is covered, the rank-1 model (backend 3) in both
    // error-bounded modes, and frames with exceptions.
    for mode in 0..4u8 {
        for backend in 0..3u8 {
            assert!(
                seen.contains(&(mode, backend)),
                "no golden frame for mode {mode} backend {backend}"
            );
        }
    }
    for mode in [0u8, 1, 2] {
        assert!(
            seen.contains(&(mode, 3)),
            "no golden frame for mode {mode} backend 3"
        );
    }
    assert!(frames
        .iter()
        .any(|(_, b)| peek(b).unwrap().n_exceptions > 0));
}

/// The version-2 frames cover what version 2 added, read from the bytes: payload kinds 3 and 4,
/// shape families 0–2, sign modes 0–3, the shared-qmin flag set and clear, adaptive mode.
/// The version-1 frames carry none of it.
#[test]
fn golden_frames_cover_each_version_s_features() {
    let mut v2 = BTreeSet::new();
    for (name, bytes) in golden() {
        let (version, mode, backend, flags, payload) = raw_fields(&bytes);
        assert_eq!(
            Some(version),
            name[1..].split('_').next().and_then(|v| v.parse().ok()),
            "{name}"
        );
        let shared = flags & 2 != 0;
        if version == 1 {
            assert!(!shared, "{name}");
            assert!(backend != 3 || payload[0] <= 2, "{name}");
        } else if backend == 3 {
            let (kind, family, sign) = model_fields(payload);
            v2.insert((mode, kind, family, sign, shared));
        }
    }
    // (mode, kind, family, sign mode, shared qmin): 1 = relative L2, 2 = max abs, 0 = adaptive.
    let required = [
        (1, 3, 0, 0, true),
        (2, 3, 1, 0, true),
        (2, 3, 1, 0, false),
        (1, 3, 2, 1, true),
        (2, 3, 2, 2, true),
        (1, 3, 2, 3, true),
        (0, 3, 1, 0, false),
        (0, 3, 2, 3, false),
        (1, 4, 0, 0, true),
    ];
    for c in required {
        assert!(v2.contains(&c), "no version-2 golden frame with (mode, kind, family, sign, shared) = {c:?}; have {v2:?}");
    }
}

#[path = "common/kind4.rs"]
mod kind4;

/// The frame without a `.decoded.npy` still meets its error target against the tensor it was
/// made from, and its zero rows decode to exact zeros.
#[test]
fn kind4_golden_frame_meets_its_bound() {
    let bytes = std::fs::read(dir().join("v2_synth1024x512_rel1e-1_model.alcm")).unwrap();
    let d = decompress(&bytes).unwrap();
    assert_eq!(d.shape, vec![1024, 512]);
    let (x, _) = kind4::kind4_tensor();
    let (mut err, mut norm) = (0f64, 0f64);
    for (a, b) in d.data.iter().zip(&x) {
        err += (*a as f64 - *b as f64).powi(2);
        norm += (*b as f64).powi(2);
    }
    let rel = (err / norm).sqrt();
    assert!(rel <= 0.1 && rel > 0.01, "relative L2 error {rel}");
    assert!(d
        .data
        .chunks(512)
        .skip(1)
        .step_by(2)
        .all(|r| r.iter().all(|v| v.to_bits() == 0)));
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
    for v in [0u8, FORMAT_VERSION + 1, 0x7f, 0xff] {
        let mut f = frame.clone();
        f[4] = v;
        let f = with_crc(f);
        assert_eq!(
            decompress(&f).unwrap_err().kind(),
            ErrorKind::FormatVersion,
            "version {v}"
        );
        assert_eq!(
            peek(&f).unwrap_err().kind(),
            ErrorKind::FormatVersion,
            "version {v}"
        );
    }
}

/// Version 2 only adds to version 1: every version-1 golden frame relabelled as version 2
/// decodes to the same values.
#[test]
fn version_1_frames_relabelled_2_decode_the_same() {
    for (name, bytes) in golden().into_iter().filter(|(n, _)| n.starts_with("v1_")) {
        let mut f = bytes.clone();
        f[4] = 2;
        let a = decompress(&bytes).unwrap();
        let b = decompress(&with_crc(f)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a.shape, b.shape, "{name}");
        assert!(
            a.data
                .iter()
                .zip(&b.data)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{name}"
        );
    }
}

/// What only version 2 may contain is corrupt in a version-1 frame (version-1 writers never
/// produced it): the shared-qmin flag (refused by peek too) and rANS-model kinds 3–4.
#[test]
fn version_2_features_in_a_version_1_frame_are_corrupt() {
    let mut flagged = 0;
    let mut kind3_unflagged = 0;
    for (name, bytes) in golden().into_iter().filter(|(n, _)| n.starts_with("v2_")) {
        let (_, _, backend, flags, payload) = raw_fields(&bytes);
        let mut f = bytes.clone();
        f[4] = 1;
        let f = with_crc(f);
        if flags & 2 != 0 {
            flagged += 1;
            assert_eq!(peek(&f).unwrap_err().kind(), ErrorKind::Corrupt, "{name}");
            assert_eq!(
                decompress(&f).err().map(|e| e.kind()),
                Some(ErrorKind::Corrupt),
                "{name}"
            );
        } else if backend == 3 && payload[0] >= 3 {
            kind3_unflagged += 1;
            assert_eq!(peek(&f).unwrap().format_version, 1, "{name}");
            assert_eq!(
                decompress(&f).err().map(|e| e.kind()),
                Some(ErrorKind::Corrupt),
                "{name}"
            );
        }
    }
    assert!(flagged > 0 && kind3_unflagged > 0);
}
