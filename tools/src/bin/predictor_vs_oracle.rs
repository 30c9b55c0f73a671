//! Does the learned part earn its keep? For a target relative L2 error, the predictor chooses
//! each channel's allocation without searching. This compares, on tensors it was not trained
//! on, its bits per value and achieved error with (a) the oracle — the per-channel search it
//! stands in for — and (b) one fixed allocation for every channel (the mean training target);
//! also the predictor guarded by the closed-form error model (`guard_channel_allocations`) and
//! that model alone (`modelled_channel_allocations`). Results: docs/PERFORMANCE.md.
//!
//! cargo run --release -p alcm-tools --bin predictor_vs_oracle -- [DIR] [--target 0.02] [--epochs 30]
//! DIR defaults to ../shared/data (falls back to tests/data); split as in train_predictor.

use std::path::PathBuf;

#[path = "../../../examples/common/mod.rs"]
mod common;

use alcm::read_npy_f32;
use alcm::Predictor;
use alcm::{decompress, error_metrics, Encoder, EncoderConfig, PredictorConfig, TrainingSet};
use alcm::{
    empirical_channel_allocations, guard_channel_allocations, modelled_channel_allocations,
};

fn main() -> alcm::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut dir, mut target, mut epochs) = (None, 0.02f64, 30usize);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--target" => {
                target = args[i + 1].parse().expect("number");
                i += 1;
            }
            "--epochs" => {
                epochs = args[i + 1].parse().expect("number");
                i += 1;
            }
            d => dir = Some(PathBuf::from(d)),
        }
        i += 1;
    }
    let dir = common::data_dir(dir);
    let files = common::find_npy(&dir);
    let cfg = EncoderConfig::default();
    let enc = Encoder::new(cfg.clone())?;
    let mut train = TrainingSet::default();
    let mut test = Vec::new();
    for f in &files {
        let (x, shape) = read_npy_f32(f)?;
        if common::held_out(f) {
            test.push((
                f.file_name().unwrap().to_string_lossy().into_owned(),
                x,
                shape,
            ));
        } else {
            train.add_tensor(&x, &shape, target, &cfg)?;
        }
    }
    let pc = PredictorConfig::default();
    let mut p = Predictor::new(
        pc.hidden_size,
        pc.min_bits,
        pc.max_bits,
        pc.learning_rate,
        pc.seed,
    )?;
    p.train(&train.features, &train.targets, epochs)?;
    let fixed = train.targets.iter().sum::<f64>() / train.len() as f64;
    println!("target relative L2 error {target}; trained on {} channels; fixed allocation = mean target {fixed:.4}", train.len());
    println!(
        "columns: bits/value and achieved relative L2 error of each way to choose the allocations"
    );
    println!("  oracle  = per-channel search (empirical_channel_allocations)");
    println!("  mlp     = the predictor alone (predict_channels)");
    println!("  guarded = the predictor, raised to the closed-form error model (guard_channel_allocations)");
    println!("  model   = the closed-form error model alone (modelled_channel_allocations)");
    println!("  fixed   = one allocation for every channel (the mean training target)");
    let names = ["oracle", "mlp", "guarded", "model", "fixed"];
    print!("{:<58} {:>8}", "held-out tensor", "values");
    for n in names {
        print!(" | {n:>7} {:>9}", "error");
    }
    println!();
    let k = names.len();
    let mut tot = vec![0.0f64; k];
    let mut n_tot = 0usize;
    let mut bit_ratios = vec![Vec::new(); k];
    let mut err_ratios = vec![Vec::new(); k];
    for (name, x, shape) in &test {
        if x.len() < 4096 {
            continue;
        }
        let oracle = empirical_channel_allocations(x, shape, target, &cfg)?;
        let mlp = p.predict_channels(x, shape)?;
        let mut guarded = mlp.clone();
        guard_channel_allocations(&mut guarded, x, shape, target, &cfg)?;
        let model = modelled_channel_allocations(x, shape, target, &cfg)?;
        let mut res = Vec::new();
        for alloc in [
            &oracle[..],
            &mlp[..],
            &guarded[..],
            &model[..],
            &[fixed][..],
        ] {
            let c = enc.compress(x, shape, Some(alloc))?;
            let d = decompress(&c.bytes)?;
            res.push((c.report.bits_per_value, error_metrics(x, &d.data)?.rel_l2));
        }
        print!("{:<58} {:>8}", name, x.len());
        for (i, r) in res.iter().enumerate() {
            print!(" | {:>7.3} {:>9.3e}", r.0, r.1);
            tot[i] += r.0 * x.len() as f64;
            bit_ratios[i].push(r.0 / res[0].0);
            err_ratios[i].push(r.1 / target);
        }
        println!();
        n_tot += x.len();
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else {
            v[v.len() / 2]
        }
    };
    println!(
        "\n{:<8} {:>18} {:>10} {:>22} {:>16} {:>16}",
        "choice",
        "bits/value (wtd)",
        "vs oracle",
        "median bits / oracle",
        "median err/tgt",
        "max err/tgt"
    );
    for i in 0..k {
        let max = err_ratios[i].iter().copied().fold(f64::NAN, f64::max);
        println!(
            "{:<8} {:>18.3} {:>+9.1}% {:>22.3} {:>16.3} {:>16.3}",
            names[i],
            tot[i] / n_tot as f64,
            (tot[i] / tot[0] - 1.0) * 100.0,
            med(&mut bit_ratios[i]),
            med(&mut err_ratios[i]),
            max
        );
    }
    Ok(())
}
