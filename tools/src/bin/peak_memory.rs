//! Peak heap of compress and decompress of an N-value tensor in each mode, measured with a
//! counting global allocator (exact bytes requested from the allocator, not RSS), and the
//! process high-water mark (VmHWM) for comparison. Figures are documented in docs/SECURITY.md.
//!
//!     cargo run --release -p alcm-tools --bin peak_memory [N|FILE.npy [MODE]]
//!
//! N values of synthetic gradient-like data in 256 rows (default 16 Mi values, 64 MiB), or a
//! tensor file. Each mode with 1 and 2 threads; the second of two calls is measured (the
//! model's static tables are built once per process, not per call); "over bound" is the peak
//! minus `compress_bound(N)`, issue 12's target for the heap a call allocates on top of its
//! input (plus O(rows + columns)).
use alcm::{compress_bound, decompress, Encoder, EncoderConfig, Mode, NonFinitePolicy};

#[path = "../../../tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{peak_of, Counting};

#[global_allocator]
static A: Counting = Counting;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        })
        .unwrap_or(0)
}

/// Gradient-like data of about `n` values in 256 rows: heavy-tailed, 20 % exact zeros.
fn synthetic(n: usize) -> (Vec<f32>, Vec<usize>) {
    let channels = 256;
    let n = channels * (n / channels);
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let x = (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            if i % 5 == 0 {
                0.0
            } else {
                (u * u * u * 1e-2) as f32
            }
        })
        .collect();
    (x, vec![channels, n / channels])
}

fn main() {
    let arg = std::env::args().nth(1);
    // Optional: only the mode of this name (for a heap profiler's run).
    let only = std::env::args().nth(2);
    let (x, shape) = match arg.as_deref() {
        Some(p) if p.ends_with(".npy") => alcm::read_npy_f32(std::path::Path::new(p)).unwrap(),
        _ => synthetic(arg.map_or(16 << 20, |s| s.parse().unwrap())),
    };
    let n = x.len();
    let channels = shape[0];
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "N = {n} values ({:.1} MiB input), {channels} rows; compress_bound = {:.1} MiB",
        mib(4 * n),
        mib(compress_bound(n))
    );
    // Issue 12's bound for a compress call: the frame's worst case (`compress_bound`) on top
    // of the caller's input, plus O(rows + columns); "over" is the peak minus that bound.
    println!(
        "{:<28} {:>3} {:>13} {:>11} {:>13} {:>10} {:>14}",
        "mode", "thr", "compress peak", "over bound", "decompress", "frame", "peak / input"
    );
    let mut x_nf = x.clone();
    // Within the tensor whatever its size (a 384-value bias has no value 12345).
    x_nf[12345 % n.max(1)] = f32::NAN;
    for threads in [1, 2] {
        for (name, mode, keep) in [
            ("adaptive", Mode::Adaptive, false),
            ("relative_l2 1e-1", Mode::RelativeL2(1e-1), false),
            ("relative_l2 1e-2", Mode::RelativeL2(1e-2), false),
            ("relative_l2 1e-3", Mode::RelativeL2(1e-3), false),
            ("max_abs 1e-5", Mode::MaxAbs(1e-5), false),
            ("lossless", Mode::Lossless, false),
            ("relative_l2 1e-2 + NaN kept", Mode::RelativeL2(1e-2), true),
        ] {
            if only.as_deref().is_some_and(|o| name != o) {
                continue;
            }
            let cfg = EncoderConfig::default()
                .with_mode(mode)
                .with_threads(threads)
                .with_non_finite(if keep {
                    NonFinitePolicy::Keep
                } else {
                    NonFinitePolicy::Refuse
                });
            let enc = Encoder::new(cfg).unwrap();
            let input = if keep { &x_nf } else { &x };
            // The second call is measured: the model's static tables (built once per process,
            // per table set, on first use) are not a per-call cost.
            enc.compress(input, &shape, None).unwrap();
            let (c, cp) = peak_of(|| enc.compress(input, &shape, None).unwrap());
            let (d, dp) = peak_of(|| decompress(&c.bytes).unwrap());
            assert_eq!(d.data.len(), n);
            drop(d);
            println!(
                "{name:<28} {threads:>3} {:>9.1} MiB {:>7.3} MiB {:>9.1} MiB {:>6.1} MiB {:>7.2}x / {:.2}x",
                mib(cp),
                (cp as f64 - compress_bound(n) as f64) / (1 << 20) as f64,
                mib(dp),
                mib(c.bytes.len()),
                cp as f64 / (4 * n) as f64,
                dp as f64 / (4 * n) as f64
            );
        }
    }
    println!(
        "VmHWM (whole process, incl. the input and its copy): {:.1} MiB",
        vm_hwm_kib() as f64 / 1024.0
    );
}
