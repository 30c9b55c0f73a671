//! Writes the golden frames under tests/data/golden/: small frames of tests/data tensors in
//! every mode and backend, each with the values it must decode to (`<name>.decoded.npy`).
//! tests/golden.rs requires those to decode bit-exactly forever.
//!
//! Run ONLY when the format version changes (add the new frames beside the old, never
//! overwrite: frames of every released version must keep decoding):
//!
//!     ALCM_WRITE_GOLDEN=1 cargo run --example make_golden
use std::path::Path;

use alcm::{
    decompress, npy::read_npy_f32, write_npy_f32, BackendKind, Encoder, EncoderConfig, Mode, NonFinitePolicy,
    FORMAT_VERSION,
};

fn main() {
    if std::env::var_os("ALCM_WRITE_GOLDEN").is_none() {
        eprintln!("refusing to (re)write golden frames: set ALCM_WRITE_GOLDEN=1 (only when the format version changes)");
        std::process::exit(2);
    }
    let out = Path::new("tests/data/golden");
    std::fs::create_dir_all(out).unwrap();
    let modes = [
        ("adaptive", Mode::Adaptive),
        ("rel1e-2", Mode::RelativeL2(1e-2)),
        ("maxabs1e-4", Mode::MaxAbs(1e-4)),
        ("lossless", Mode::Lossless),
    ];
    let tensors = [
        ("fc3bias", "tests/data/gradients/grad_step00001_fc3.bias.npy", true),
        ("fc3weight", "tests/data/gradients/grad_step00100_fc3.weight.npy", false),
    ];
    let write = |name: String, enc: &Encoder, x: &[f32], shape: &[usize], alloc: Option<&[f64]>| {
        let c = enc.compress(x, shape, alloc).unwrap();
        let d = decompress(&c.bytes).unwrap();
        let stem = format!("v{FORMAT_VERSION}_{name}");
        if out.join(format!("{stem}.alcm")).exists() {
            println!("{stem}: kept (golden frames are never overwritten)");
            return;
        }
        std::fs::write(out.join(format!("{stem}.alcm")), &c.bytes).unwrap();
        write_npy_f32(&out.join(format!("{stem}.decoded.npy")), &d.shape, &d.data).unwrap();
        println!("{stem}: {} values, {} bytes, mode {}", x.len(), c.bytes.len(), c.report.mode);
    };
    for (tname, path, with_store) in tensors {
        let (x, shape) = read_npy_f32(Path::new(path)).unwrap();
        for (mname, mode) in modes {
            for (bname, backend) in [("deflate", BackendKind::Deflate), ("store", BackendKind::Store), ("rans", BackendKind::Rans)] {
                if backend == BackendKind::Store && !with_store {
                    continue;
                }
                let enc = Encoder::new(EncoderConfig { mode, backend, ..Default::default() }).unwrap();
                write(format!("{tname}_{mname}_{bname}"), &enc, &x, &shape, Some(&[0.5]));
            }
        }
        // Adaptive with a per-channel allocation.
        let channels = alcm::channel_count(&shape);
        let alloc: Vec<f64> = (0..channels).map(|c| 0.2 + 0.7 * c as f64 / channels.max(2) as f64).collect();
        let enc = Encoder::new(EncoderConfig::default()).unwrap();
        write(format!("{tname}_adaptive_perchannel_deflate"), &enc, &x, &shape, Some(&alloc));
    }
    // Adaptive mode through the rank-1 model (backend 3): a 256-channel weight gradient.
    let (x, shape) = read_npy_f32(Path::new("tests/data/gradients/grad_step00100_fc1.weight.npy")).unwrap();
    let enc = Encoder::new(EncoderConfig::default()).unwrap();
    write("fc1weight_adaptive_rans".to_string(), &enc, &x, &shape, Some(&[0.3]));
    // Kept non-finite values (exception list) in every lossy mode.
    let (mut x, shape) = read_npy_f32(Path::new("tests/data/gradients/grad_step00010_fc2.bias.npy")).unwrap();
    x[3] = f32::NAN;
    x[77] = f32::NEG_INFINITY;
    x[100] = f32::INFINITY;
    for (mname, mode) in &modes[..3] {
        let enc = Encoder::new(EncoderConfig { mode: *mode, non_finite: NonFinitePolicy::Keep, ..Default::default() }).unwrap();
        write(format!("fc2bias_nonfinite_{mname}_deflate"), &enc, &x, &shape, None);
    }
}
