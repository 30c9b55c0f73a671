//! Error-feedback compression speed: `ErrorFeedback::compress` on a synthetic 1024 × 1024
//! gradient (rank-1 row × column scales), single thread, best of several steps, in MB/s of
//! input (by wall clock and by the calling thread's CPU time, which a shared machine disturbs
//! less), for the relative-L2 (1e-2), max-abs and adaptive modes. Each step feeds the residual
//! forward, as a training loop does.
//!
//! cargo run --release --example feedback_speed [-- --reps 10]

use std::time::Instant;

use alcm::{cpu_time_seconds, Encoder, EncoderConfig, ErrorFeedback, Mode};

fn synthetic_gradient(seed: u64) -> (Vec<f32>, Vec<usize>) {
    let (r, c) = (1024usize, 1024usize);
    let mut s = seed;
    let mut rnd = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut gauss = move || {
        let (u, v) = (rnd(), rnd());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    let rs: Vec<f64> = (0..r).map(|_| (gauss() * 1.5).exp()).collect();
    let cs: Vec<f64> = (0..c).map(|_| gauss().exp()).collect();
    let mut x = Vec::with_capacity(r * c);
    for ri in &rs {
        for cj in &cs {
            x.push((gauss() * ri * cj * 1e-3) as f32);
        }
    }
    (x, vec![r, c])
}

fn main() -> alcm::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let reps = match args.iter().position(|a| a == "--reps") {
        Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(10),
        None => 10,
    };
    let (g, shape) = synthetic_gradient(7);
    let mb = g.len() as f64 * 4.0 / 1e6;
    for (name, mode) in [("relative_l2 1e-2", Mode::RelativeL2(1e-2)), ("max_abs 1e-5", Mode::MaxAbs(1e-5)), ("adaptive", Mode::Adaptive)] {
        let enc = Encoder::new(EncoderConfig { mode, ..Default::default() })?;
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
