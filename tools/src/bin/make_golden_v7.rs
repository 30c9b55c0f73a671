//! Writes the version-7 golden frames of rANS-model payload kind 6, 16 states on one word
//! stream (`src/entropy/model/shared.rs`), under tests/data/golden/, each with
//! `.decoded.crc32` (value count and CRC-32 of the decoded little-endian f32 bytes).
//! tests/golden.rs and tests/golden_v7_shared.rs require them to decode bit-exactly forever.
//! Existing files are never overwritten. Run only when the format version changes:
//!
//!     ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden_v7
//!
//! - `v7_grad100fc1_rel1e-2_shared`: the fc1 gradient of step 100 (256 × 64,
//!   tests/data/gradients) at relative L2 1e-2: signs predicted (sign mode 2 or 3).
//! - `v7_adamsqfc1_rel1e-3_shared`: Adam's second moment of fc1 at relative L2 1e-3: no
//!   negative value, so no sign step (sign mode 1).
//! - `v7_grad100fc1_adaptive_shared`: the fc1 gradient in adaptive mode: wide low bits (the
//!   decoder's scalar groups inside vector rows).
//! - `v7_outliers300x100_rel1e-2_shared`: `shared_tensor()` of tests/golden_v7_shared.rs,
//!   300 × 100 (rows of 6 full groups and a 4-column tail), with planted outliers that need
//!   escapes, at relative L2 1e-2.
use std::path::Path;

use alcm::{decompress, peek, read_npy_f32, Encoder, EncoderConfig, Mode};

#[path = "../../../tests/common/kind6.rs"]
mod kind6;

fn write(out: &Path, stem: &str, x: &[f32], shape: &[usize], mode: Mode) {
    if out.join(format!("{stem}.alcm")).exists() {
        println!("{stem}: kept (golden frames are never overwritten)");
        return;
    }
    let c = Encoder::new(EncoderConfig::default().with_mode(mode))
        .unwrap()
        .compress(x, shape, None)
        .unwrap();
    let info = peek(&c.bytes).unwrap();
    let payload = &c.bytes[c.bytes.len() - 4 - info.payload_len as usize..];
    assert_eq!((info.backend.id(), payload[0]), (3, 6), "{stem}: kind 6");
    let d = decompress(&c.bytes).unwrap();
    let bytes: Vec<u8> = d.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(out.join(format!("{stem}.alcm")), &c.bytes).unwrap();
    std::fs::write(
        out.join(format!("{stem}.decoded.crc32")),
        format!("{} {:08x}\n", d.data.len(), crc32fast::hash(&bytes)),
    )
    .unwrap();
    println!("{stem}: {} bytes, sign mode {}", c.bytes.len(), payload[2]);
}

fn main() {
    if std::env::var_os("ALCM_WRITE_GOLDEN").is_none() {
        eprintln!("refusing to (re)write golden frames: set ALCM_WRITE_GOLDEN=1 (only when the format version changes)");
        std::process::exit(2);
    }
    let out = Path::new("tests/data/golden");
    let data = Path::new("tests/data/gradients");
    let (g, gs) = read_npy_f32(&data.join("grad_step00100_fc1.weight.npy")).unwrap();
    let (a, as_) = read_npy_f32(&data.join("adam_exp_avg_sq_step02000_fc1.weight.npy")).unwrap();
    let (t, ts) = kind6::shared_tensor();
    write(
        out,
        "v7_grad100fc1_rel1e-2_shared",
        &g,
        &gs,
        Mode::RelativeL2(1e-2),
    );
    write(
        out,
        "v7_adamsqfc1_rel1e-3_shared",
        &a,
        &as_,
        Mode::RelativeL2(1e-3),
    );
    write(
        out,
        "v7_grad100fc1_adaptive_shared",
        &g,
        &gs,
        Mode::Adaptive,
    );
    write(
        out,
        "v7_outliers300x100_rel1e-2_shared",
        &t,
        &ts,
        Mode::RelativeL2(1e-2),
    );
}
