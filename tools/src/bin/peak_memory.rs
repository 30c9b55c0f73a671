//! Peak heap of compress and decompress of an N-value tensor in each mode, measured with a
//! counting global allocator (exact bytes requested from the allocator, not RSS), and the
//! process high-water mark (VmHWM) for comparison. Figures are documented in docs/SECURITY.md.
//!
//!     cargo run --release -p alcm-tools --bin peak_memory [N]     # default N = 16 Mi values (64 MiB)
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

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(16 << 20);
    let channels = 256;
    let shape = [channels, n / channels];
    let n = channels * (n / channels);
    // Gradient-like data: heavy-tailed, 20 % exact zeros.
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let x: Vec<f32> = (0..n)
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
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "N = {n} values ({:.1} MiB input), {channels} channels; compress_bound = {:.1} MiB",
        mib(4 * n),
        mib(compress_bound(n))
    );
    println!(
        "{:<26} {:>14} {:>14} {:>12} {:>16}",
        "mode", "compress peak", "decompress", "frame", "peak / input"
    );
    let mut x_nf = x.clone();
    x_nf[12345] = f32::NAN;
    for (name, mode, keep) in [
        ("adaptive", Mode::Adaptive, false),
        ("relative_l2 1e-2", Mode::RelativeL2(1e-2), false),
        ("max_abs 1e-5", Mode::MaxAbs(1e-5), false),
        ("lossless", Mode::Lossless, false),
        ("relative_l2 1e-2 + NaN kept", Mode::RelativeL2(1e-2), true),
    ] {
        let cfg = EncoderConfig::default()
            .with_mode(mode)
            .with_non_finite(if keep {
                NonFinitePolicy::Keep
            } else {
                NonFinitePolicy::Refuse
            });
        let enc = Encoder::new(cfg).unwrap();
        let input = if keep { &x_nf } else { &x };
        let (c, cp) = peak_of(|| enc.compress(input, &shape, None).unwrap());
        let (d, dp) = peak_of(|| decompress(&c.bytes).unwrap());
        assert_eq!(d.data.len(), n);
        drop(d);
        println!(
            "{name:<26} {:>10.1} MiB {:>10.1} MiB {:>8.1} MiB {:>9.2}x / {:.2}x",
            mib(cp),
            mib(dp),
            mib(c.bytes.len()),
            cp as f64 / (4 * n) as f64,
            dp as f64 / (4 * n) as f64
        );
    }
    println!(
        "VmHWM (whole process, incl. the input and its copy): {:.1} MiB",
        vm_hwm_kib() as f64 / 1024.0
    );
}
