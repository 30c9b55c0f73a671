//! Writes the golden frames under tests/data/golden/ for the current format version: frames of
//! tests/data tensors, each with the values it must decode to (`<name>.decoded.npy`, or for a
//! frame too large for that, `<name>.decoded.crc32`: value count and CRC-32 of the decoded
//! values' little-endian bits). tests/golden.rs requires those to decode bit-exactly forever.
//!
//! Run ONLY when the format version changes (add the new frames beside the old, never
//! overwrite: frames of every released version must keep decoding):
//!
//!     ALCM_WRITE_GOLDEN=1 cargo run --release -p alcm-tools --bin make_golden
//!
//! The version-1 set (`v1_*`: every mode × store/deflate/rANS, per-channel allocation, kept
//! NaN/±Inf, the rank-1 model's kinds 1–2) was written by this example as of commit 8efdd82;
//! the current encoder writes version 2, so only the version-2 set below is (re)generated. It
//! covers what version 2 added: rANS-model payload kinds 3 and 4, shape families 0/1/2, sign
//! modes 0–3, the shared-qmin flag (and its absence), in both error-bounded modes and in
//! adaptive mode. The encoder picks family, sign mode and flag itself; the tensors and targets
//! below are the ones whose natural choice covers each (printed, and checked by tests/golden.rs).
use std::path::Path;

use alcm::{
    decompress, peek, read_npy_f32, write_npy_f32, BackendKind, Encoder, EncoderConfig, Mode,
    FORMAT_VERSION,
};

#[path = "../../../tests/common/kind4.rs"]
mod kind4;
use kind4::kind4_tensor;

/// (kind, family, sign mode) of a backend-3 frame, read from its payload bytes.
fn model_choice(frame: &[u8]) -> Option<(u8, u8, u8)> {
    let info = peek(frame).unwrap();
    if info.backend.id() != 3 {
        return None;
    }
    let p = &frame[frame.len() - 4 - info.payload_len as usize..];
    Some(if p[0] >= 3 {
        (p[0], p[1], p[2])
    } else {
        (p[0], 0, p[1])
    })
}

fn main() {
    if std::env::var_os("ALCM_WRITE_GOLDEN").is_none() {
        eprintln!("refusing to (re)write golden frames: set ALCM_WRITE_GOLDEN=1 (only when the format version changes)");
        std::process::exit(2);
    }
    let out = Path::new("tests/data/golden");
    std::fs::create_dir_all(out).unwrap();
    let write = |name: &str, mode: Mode, x: &[f32], shape: &[usize], alloc: Option<&[f64]>| {
        let enc = Encoder::new(
            EncoderConfig::default()
                .with_mode(mode)
                .with_backend(BackendKind::Rans),
        )
        .unwrap();
        let c = enc.compress(x, shape, alloc).unwrap();
        let d = decompress(&c.bytes).unwrap();
        let stem = format!("v{FORMAT_VERSION}_{name}");
        let choice = model_choice(&c.bytes);
        let flags = peek(&c.bytes).unwrap().flags;
        if out.join(format!("{stem}.alcm")).exists() {
            println!("{stem}: kept (golden frames are never overwritten)");
            return;
        }
        std::fs::write(out.join(format!("{stem}.alcm")), &c.bytes).unwrap();
        if d.data.len() <= 1 << 16 {
            write_npy_f32(&out.join(format!("{stem}.decoded.npy")), &d.shape, &d.data).unwrap();
        } else {
            let bits: Vec<u8> = d
                .data
                .iter()
                .flat_map(|v| v.to_bits().to_le_bytes())
                .collect();
            let text = format!("{} {:08x}\n", d.data.len(), crc32fast::hash(&bits));
            std::fs::write(out.join(format!("{stem}.decoded.crc32")), text).unwrap();
        }
        println!(
            "{stem}: {} values, {} bytes, mode {}, flags {flags}, (kind, family, sign mode) {choice:?}",
            x.len(),
            c.bytes.len(),
            c.report.mode.id()
        );
    };
    let load = |f: &str| read_npy_f32(Path::new(&format!("tests/data/gradients/{f}.npy"))).unwrap();
    let alloc = Some(&[0.3][..]);
    // (tensor, name, mode): the natural choice each one gets is printed and pinned by the test.
    let cases: [(&str, &str, Mode); 8] = [
        (
            "grad_step00001_fc3.weight",
            "grad1fc3w_rel1e-2",
            Mode::RelativeL2(1e-2),
        ),
        (
            "grad_step00001_fc3.weight",
            "grad1fc3w_maxabs1e-3",
            Mode::MaxAbs(1e-3),
        ),
        (
            "grad_step00010_fc3.weight",
            "grad10fc3w_maxabs1e-4",
            Mode::MaxAbs(1e-4),
        ),
        (
            "adam_exp_avg_sq_step02000_fc3.weight",
            "adamsqfc3w_rel1e-2",
            Mode::RelativeL2(1e-2),
        ),
        (
            "grad_step00100_fc3.weight",
            "grad100fc3w_maxabs1e-4",
            Mode::MaxAbs(1e-4),
        ),
        (
            "grad_step00100_fc1.weight",
            "grad100fc1w_rel1e-1",
            Mode::RelativeL2(1e-1),
        ),
        (
            "grad_step00010_fc3.weight",
            "grad10fc3w_adaptive",
            Mode::Adaptive,
        ),
        (
            "grad_step00100_fc1.weight",
            "grad100fc1w_adaptive",
            Mode::Adaptive,
        ),
    ];
    for (file, name, mode) in cases {
        let (x, shape) = load(file);
        write(&format!("{name}_model"), mode, &x, &shape, alloc);
    }
    let (x, shape) = kind4_tensor();
    write(
        "synth1024x512_rel1e-1_model",
        Mode::RelativeL2(1e-1),
        &x,
        &shape,
        None,
    );
}
