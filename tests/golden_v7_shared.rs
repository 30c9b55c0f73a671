//! Version-7 golden frames (payload kind 6, `src/entropy/model/shared.rs`): besides decoding
//! bit-exactly (tests/golden.rs checks every golden frame), each is kind 6 with the sign mode
//! it was made for, meets its error target against the tensor it was made from (read or
//! regenerated here), and is corrupt when relabelled version 6.

#[path = "common/frames.rs"]
mod frames;
use frames::{payload, rel_l2};
#[path = "common/kind6.rs"]
mod kind6;

use std::path::{Path, PathBuf};

use alcm::{decompress, peek, read_npy_f32, ErrorKind};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

fn gradient(name: &str) -> Vec<f32> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gradients")
        .join(name);
    read_npy_f32(&p).unwrap().0
}

/// A golden frame's name, its tensor, its relative-L2 target (None: adaptive mode) and the
/// sign modes it may hold.
type Case = (&'static str, Vec<f32>, Option<f64>, Vec<u8>);

fn cases() -> Vec<Case> {
    let g = gradient("grad_step00100_fc1.weight.npy");
    vec![
        (
            "v7_grad100fc1_rel1e-2_shared",
            g.clone(),
            Some(1e-2),
            vec![2, 3],
        ),
        (
            "v7_adamsqfc1_rel1e-3_shared",
            gradient("adam_exp_avg_sq_step02000_fc1.weight.npy"),
            Some(1e-3),
            vec![1],
        ),
        ("v7_grad100fc1_adaptive_shared", g, None, vec![0, 2, 3]),
        (
            "v7_outliers300x100_rel1e-2_shared",
            kind6::shared_tensor().0,
            Some(1e-2),
            vec![0, 2, 3],
        ),
    ]
}

#[test]
fn kind6_golden_frames_meet_their_targets() {
    for (name, x, target, modes) in cases() {
        let bytes = std::fs::read(dir().join(format!("{name}.alcm"))).unwrap();
        assert_eq!(peek(&bytes).unwrap().format_version, 7, "{name}");
        let p = payload(&bytes);
        assert_eq!(p[0], 6, "{name}: payload kind");
        assert!(modes.contains(&p[2]), "{name}: sign mode {}", p[2]);
        let d = decompress(&bytes).unwrap();
        let rel = rel_l2(&d.data, &x);
        match target {
            Some(t) => assert!(rel <= t && rel > t / 10.0, "{name}: relative L2 {rel}"),
            None => assert!(rel < 0.1, "{name}: relative L2 {rel}"),
        }
    }
}

/// The planted outliers (±1, far beyond their rows' scales: escapes) come back within the
/// frame's error.
#[test]
fn kind6_outliers_come_back() {
    let (x, _) = kind6::shared_tensor();
    let bytes = std::fs::read(dir().join("v7_outliers300x100_rel1e-2_shared.alcm")).unwrap();
    let d = decompress(&bytes).unwrap();
    let err = (0..x.len())
        .filter(|&k| x[k].abs() == 1.0)
        .map(|k| (d.data[k] - x[k]).abs())
        .fold(0f32, f32::max);
    assert!(err < 0.05, "outlier error {err}");
    assert_eq!(x.iter().filter(|v| v.abs() == 1.0).count(), 8);
}

/// Kind 6 came with version 7: in a frame relabelled version 6 it is corrupt.
#[test]
fn kind6_in_a_version_6_frame_is_corrupt() {
    for (name, ..) in cases() {
        let f = std::fs::read(dir().join(format!("{name}.alcm"))).unwrap();
        let f = frames::relabelled(&f, 6);
        assert_eq!(
            decompress(&f).err().map(|e| e.kind()),
            Some(ErrorKind::Corrupt),
            "{name}"
        );
    }
}
