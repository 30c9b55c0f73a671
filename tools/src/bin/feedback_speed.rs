//! Error-feedback compression speed: `ErrorFeedback::compress` on a synthetic 1024 × 1024
//! gradient (rank-1 row × column scales), single thread, best of several steps, in MB/s of
//! input (by wall clock and by the calling thread's CPU time, which a shared machine disturbs
//! less), for the relative-L2 (1e-2), max-abs and adaptive modes. Each step feeds the residual
//! forward, as a training loop does.
//!
//! cargo run --release -p alcm-tools --bin feedback_speed [-- --reps 10]

use std::time::Instant;

#[path = "../../../examples/common/mod.rs"]
mod common;

use alcm::{cpu_time_seconds, Encoder, EncoderConfig, ErrorFeedback, Mode};

fn main() -> alcm::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let reps = match args.iter().position(|a| a == "--reps") {
        Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(10),
        None => 10,
    };
    let (g, shape) = common::synthetic(7, true);
    let mb = g.len() as f64 * 4.0 / 1e6;
    for (name, mode) in [
        ("relative_l2 1e-2", Mode::RelativeL2(1e-2)),
        ("max_abs 1e-5", Mode::MaxAbs(1e-5)),
        ("adaptive", Mode::Adaptive),
    ] {
        let enc = Encoder::new(EncoderConfig::default().with_mode(mode))?;
        let mut ef = ErrorFeedback::new(&shape)?;
        let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
        let mut bits = 0.0;
        for _ in 0..reps {
            let (t, cpu) = (Instant::now(), cpu_time_seconds());
            let c = ef.compress(&enc, &g, None)?;
            best_cpu = best_cpu.min(cpu_time_seconds() - cpu);
            best = best.min(t.elapsed().as_secs_f64());
            bits = c.report.bits_per_value;
        }
        println!(
            "{name:<18} feedback compress {:>7.1} MB/s wall, {:>7.1} MB/s CPU (best of {reps}), {bits:.3} bits/value",
            mb / best,
            mb / best_cpu
        );
    }
    Ok(())
}
