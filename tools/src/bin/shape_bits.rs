//! Bits per value of the same values stored as `(N,)`, `(N, 1)`, `(1, N)` and `(N, 1, 1)`, in
//! every lossy mode, with the decoded error checked against each mode's bound. Trivial
//! dimensions must not change the model, so the four columns should agree to a few header
//! bytes. Tensors: the real 1-D tensors (biases, norms, bias gradients) of the data
//! directory joined into one vector (in file order), the largest single real bias, and a
//! deterministic Gaussian vector of 6 625 values.
//!
//! cargo run --release -p alcm-tools --bin shape_bits -- [DATA_DIR]
#[path = "../../../examples/common/mod.rs"]
mod common;
use alcm::{decompress, read_npy_f32, Encoder, EncoderConfig, Mode};
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = common::data_dir(args.next().map(PathBuf::from));
    let (mut joined, mut largest) = (Vec::new(), (String::new(), Vec::new()));
    for p in common::find_npy(&dir) {
        if let Ok((x, s)) = read_npy_f32(&p) {
            if s.len() == 1 && x.iter().all(|v| v.is_finite()) {
                joined.extend_from_slice(&x);
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if name.contains("bias") && x.len() > largest.1.len() {
                    largest = (name, x);
                }
            }
        }
    }
    let tensors = [
        (format!("{} real 1-D tensors joined", dir.display()), joined),
        (format!("{} (real bias)", largest.0), largest.1),
        (
            "Gaussian 6625 values".to_string(),
            common::gaussian(6625, 7),
        ),
    ];
    let modes = [
        ("adaptive", Mode::Adaptive),
        ("relL2 1e-1", Mode::RelativeL2(1e-1)),
        ("relL2 1e-2", Mode::RelativeL2(1e-2)),
        ("relL2 1e-3", Mode::RelativeL2(1e-3)),
        ("maxabs 1e-4", Mode::MaxAbs(1e-4)),
    ];
    let mut failures = 0;
    for (name, x) in &tensors {
        let n = x.len();
        if n == 0 {
            continue;
        }
        let shapes = [vec![n], vec![n, 1], vec![1, n], vec![n, 1, 1]];
        println!("\n{name}: {n} values; bits/value (frame bytes) per shape");
        println!(
            "{:<12} {:>18} {:>18} {:>18} {:>18}   max spread",
            "mode", "(N,)", "(N,1)", "(1,N)", "(N,1,1)"
        );
        for (label, mode) in modes {
            let enc = Encoder::new(EncoderConfig::default().with_mode(mode)).expect("encoder");
            let mut line = format!("{label:<12}");
            let mut sizes = Vec::new();
            for shape in &shapes {
                let c = enc.compress(x, shape, None).expect("compress");
                let back = decompress(&c.bytes).expect("decompress");
                assert_eq!(&back.shape, shape);
                let (rel, max) = common::errors(x, &back.data);
                let ok = match mode {
                    Mode::RelativeL2(e) => rel <= e,
                    Mode::MaxAbs(e) => max <= e,
                    _ => true,
                };
                if !ok {
                    failures += 1;
                    println!("  BOUND MISSED: {label} {shape:?} rel {rel:.3e} max {max:.3e}");
                }
                sizes.push(c.bytes.len());
                line += &format!(
                    " {:>9.3} ({:>6})",
                    c.bytes.len() as f64 * 8.0 / n as f64,
                    c.bytes.len()
                );
            }
            let spread = sizes.iter().max().unwrap() - sizes.iter().min().unwrap();
            println!("{line}   {spread} B");
        }
    }
    if failures > 0 {
        eprintln!("{failures} error bounds missed");
        std::process::exit(1);
    }
}
