//! The predictor learns the measured allocations: on channels it never saw, its squared error
//! is clearly below that of always predicting the mean training target.

use std::path::Path;

use alcm::read_npy_f32;
use alcm::Predictor;
use alcm::{decompress, Encoder, EncoderConfig, TrainingSet};
use alcm::{empirical_bit_allocation, empirical_channel_allocations, internals::evaluate};

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum();
    let den: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn empirical_allocation_is_the_smallest_that_meets_the_target() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gradients/grad_step00100_fc1.weight.npy");
    let (x, shape) = read_npy_f32(&path).unwrap();
    let cfg = EncoderConfig::default();
    let enc = Encoder::new(cfg.clone()).unwrap();
    for target in [0.004, 0.008, 0.015] {
        let a = empirical_bit_allocation(&x, &shape, target, &cfg).unwrap();
        assert!(
            a > cfg.min_bits && a < cfg.max_bits,
            "target {target}: allocation {a} saturated"
        );
        // Encoding at a meets the target; 1 % less allocation misses it.
        let at = |alloc: f64| {
            rel_l2(
                &x,
                &decompress(&enc.compress(&x, &shape, Some(&[alloc])).unwrap().bytes)
                    .unwrap()
                    .data,
            )
        };
        assert!(at(a) <= target, "target {target}: error {} at {a}", at(a));
        assert!(at(a - 0.05 * (cfg.max_bits - cfg.min_bits)) > target);
        // Per-channel allocations meet the target channel by channel (except channels that
        // miss it even at max_bits, where pruning alone costs more).
        let per = empirical_channel_allocations(&x, &shape, target, &cfg).unwrap();
        assert_eq!(per.len(), shape[0]);
        let d = decompress(&enc.compress(&x, &shape, Some(&per)).unwrap().bytes)
            .unwrap()
            .data;
        let w = x.len() / shape[0];
        for c in 0..shape[0] {
            let (xs, ds) = (&x[c * w..(c + 1) * w], &d[c * w..(c + 1) * w]);
            if per[c] < cfg.max_bits && xs.iter().any(|v| *v != 0.0) {
                assert!(
                    rel_l2(xs, ds) <= target,
                    "target {target} channel {c}: {}",
                    rel_l2(xs, ds)
                );
            }
        }
    }
}

#[test]
fn predictor_beats_the_mean_target_on_held_out_channels() {
    let cfg = EncoderConfig::default();
    let (mut train, mut test) = (TrainingSet::default(), TrainingSet::default());
    let mut k = 0usize;
    for sub in ["gradients", "weights"] {
        let mut files: Vec<_> = std::fs::read_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(sub),
        )
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
        files.sort();
        for f in files {
            let (x, shape) = read_npy_f32(&f).unwrap();
            let mut all = TrainingSet::default();
            all.add_tensor(&x, &shape, 0.05, &cfg).unwrap();
            // Alternate channels between the sets (a running counter, so one-channel tensors
            // alternate too).
            for (feat, t) in all.features.iter().zip(&all.targets) {
                let set = if k % 2 == 0 { &mut train } else { &mut test };
                set.features.push(*feat);
                set.targets.push(*t);
                k += 1;
            }
        }
    }
    assert!(train.len() > 400 && test.len() > 400);
    let mut p = Predictor::new(64, cfg.min_bits, cfg.max_bits, 0.001, 42).unwrap();
    let history = p.train(&train.features, &train.targets, 300).unwrap();
    assert!(history.last().unwrap() < &history[0]);
    let mean = train.targets.iter().sum::<f64>() / train.len() as f64;
    let (mse, base) = evaluate(&p, &test, mean);
    println!("held-out MSE {mse:.6} vs mean-target {base:.6}");
    assert!(
        mse < 0.7 * base,
        "held-out MSE {mse} is not clearly below the baseline {base}"
    );
}
