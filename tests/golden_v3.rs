//! Version-3 golden frames (payload kind 5, `src/entropy/model/lanes.rs`): besides decoding bit-exactly
//! (tests/golden.rs checks every golden frame), each is kind 5, meets its error target against
//! the tensor it was made from (regenerated here), and is corrupt when relabelled version 2.

#[path = "common/frames.rs"]
mod frames;
use frames::{payload, rel_l2};

use std::path::{Path, PathBuf};

use alcm::{decompress, peek, ErrorKind};

#[path = "common/kind4.rs"]
mod kind4;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

#[test]
fn kind5_golden_frames_meet_their_targets() {
    let (synth, _) = kind4::kind4_tensor();
    let (signed, _) = kind4::kind5_signed_tensor();
    for (name, x, target) in [
        ("v3_synth1024x512_rel1e-1_model", &synth, 1e-1),
        ("v3_rank1signs640x1000_rel1e-2_model", &signed, 1e-2),
    ] {
        let bytes = std::fs::read(dir().join(format!("{name}.alcm"))).unwrap();
        assert_eq!(peek(&bytes).unwrap().format_version, 3, "{name}");
        assert_eq!(payload(&bytes)[0], 5, "{name}: payload kind");
        let d = decompress(&bytes).unwrap();
        let rel = rel_l2(&d.data, x);
        assert!(
            rel <= target && rel > target / 10.0,
            "{name}: relative L2 {rel}"
        );
    }
    // The predicted-sign frame uses sign mode 2 or 3 (the rank-1 term decides the signs).
    let bytes = std::fs::read(dir().join("v3_rank1signs640x1000_rel1e-2_model.alcm")).unwrap();
    assert!(payload(&bytes)[2] >= 2);
}

/// Adaptive mode: wide low-bit symbols (the decoder's scalar fallback inside vector rows).
/// Its allocation (0.3) sets no error target; the values are close and the all-zero rows (odd
/// rows of the tensor) decode to exact zeros.
#[test]
fn kind5_adaptive_golden_frame_is_close() {
    let (x, _) = kind4::kind4_tensor();
    let bytes = std::fs::read(dir().join("v3_synth1024x512_adaptive_model.alcm")).unwrap();
    assert_eq!(payload(&bytes)[0], 5);
    let d = decompress(&bytes).unwrap();
    let rel = rel_l2(&d.data, &x);
    assert!(rel < 0.1, "relative L2 {rel}");
    assert!(d
        .data
        .chunks(512)
        .skip(1)
        .step_by(2)
        .all(|r| r.iter().all(|v| v.to_bits() == 0)));
}

/// Kind 5 came with version 3: in a frame relabelled version 2 it is corrupt.
#[test]
fn kind5_in_a_version_2_frame_is_corrupt() {
    for name in [
        "v3_synth1024x512_rel1e-1_model",
        "v3_synth1024x512_adaptive_model",
    ] {
        let f = std::fs::read(dir().join(format!("{name}.alcm"))).unwrap();
        let f = frames::relabelled(&f, 2);
        assert_eq!(
            decompress(&f).err().map(|e| e.kind()),
            Some(ErrorKind::Corrupt),
            "{name}"
        );
    }
}
