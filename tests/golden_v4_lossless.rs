//! Version-4 golden frames of the lossless float-layout coder (backend 4, `codec/lossless.rs`):
//! besides decoding bit-exactly (tests/golden.rs checks every golden frame against its
//! `.decoded.npy`), each is a version-4 lossless frame of backend 4, together they cover the
//! payload's parts (zero-row/column masks, exponent contexts, a fallback method), the gradient
//! decodes to the very bits of its source tensor, and each is corrupt when relabelled version 3.

#[path = "common/frames.rs"]
mod frames;

use std::path::{Path, PathBuf};

use alcm::{decompress, peek, read_npy_f32, ErrorKind};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

fn frame(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("v4_{name}_lossless_float.alcm"))).unwrap()
}

fn payload(f: &[u8]) -> &[u8] {
    let info = peek(f).unwrap();
    &f[f.len() - 4 - info.payload_len as usize..f.len() - 4]
}

const NAMES: [&str; 4] = ["grad_fc1weight", "wide128x256", "special64x64", "tiny7"];

#[test]
fn v4_lossless_golden_frames_are_backend_4() {
    for name in NAMES {
        let f = frame(name);
        let info = peek(&f).unwrap();
        assert_eq!(
            (info.format_version, info.mode.id(), info.backend.id()),
            (4, 3, 4),
            "{name}"
        );
    }
    // Payload: u8 method (3 = split), then the split's mask flag, then the head stream's K.
    let g = frame("grad_fc1weight");
    let p = payload(&g);
    assert_eq!(
        (p[0], p[1]),
        (3, 1),
        "gradient: split with zero-row/column masks"
    );
    let w = frame("wide128x256");
    let p = payload(&w);
    assert_eq!((p[0], p[1]), (3, 0), "wide: split without masks");
    assert!(p[2] > 1, "wide: {} exponent contexts", p[2]);
    assert_ne!(payload(&frame("tiny7"))[0], 3, "tiny: a fallback method");
}

#[test]
fn v4_lossless_gradient_decodes_to_its_source_bits() {
    let (src, shape) = read_npy_f32(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/gradients/grad_step00100_fc1.weight.npy"),
    )
    .unwrap();
    let d = decompress(&frame("grad_fc1weight")).unwrap();
    assert_eq!(d.shape, shape);
    assert!(d
        .data
        .iter()
        .zip(&src)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    // The special-values frame keeps NaN payloads and −0 (read from its decoded values).
    let s = decompress(&frame("special64x64")).unwrap();
    assert!(s
        .data
        .iter()
        .any(|v| v.is_nan() && v.to_bits() & 0x3F_FFFF != 0));
    assert!(s.data.iter().any(|v| v.to_bits() == 0x8000_0000));
}

#[test]
fn v4_lossless_golden_frames_relabelled_3_are_corrupt() {
    for name in NAMES {
        let f = frames::relabelled(&frame(name), 3);
        assert_eq!(
            decompress(&f).unwrap_err().kind(),
            ErrorKind::Corrupt,
            "{name}"
        );
        assert_eq!(peek(&f).unwrap_err().kind(), ErrorKind::Corrupt, "{name}");
    }
}
