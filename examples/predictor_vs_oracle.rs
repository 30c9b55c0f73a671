//! Does the learned part earn its keep? For a target relative L2 error, the predictor chooses
//! each channel's allocation without searching. This compares, on tensors it was not trained
//! on, its bits per value and achieved error with (a) the oracle — the per-channel search it
//! stands in for — and (b) one fixed allocation for every channel (the mean training target).
//!
//! cargo run --release --example predictor_vs_oracle -- [DIR] [--target 0.02] [--epochs 30]
//! DIR defaults to ../shared/data (falls back to tests/data); split as in train_predictor.

use std::path::PathBuf;

#[path = "common/mod.rs"]
mod common;

use alcm::allocation::empirical_channel_allocations;
use alcm::npy::read_npy_f32;
use alcm::predictor::Predictor;
use alcm::{decompress, error_metrics, Encoder, EncoderConfig, PredictorConfig, TrainingSet};



fn main() -> alcm::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut dir, mut target, mut epochs) = (None, 0.02f64, 30usize);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--target" => { target = args[i + 1].parse().expect("number"); i += 1; }
            "--epochs" => { epochs = args[i + 1].parse().expect("number"); i += 1; }
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
            test.push((f.file_name().unwrap().to_string_lossy().into_owned(), x, shape));
        } else {
            train.add_tensor(&x, &shape, target, &cfg)?;
        }
    }
    let pc = PredictorConfig::default();
    let mut p = Predictor::new(pc.hidden_size, pc.min_bits, pc.max_bits, pc.learning_rate, pc.seed)?;
    p.train(&train.features, &train.targets, epochs)?;
    let fixed = train.targets.iter().sum::<f64>() / train.len() as f64;
    println!("target relative L2 error {target}; trained on {} channels; fixed allocation = mean target {fixed:.4}", train.len());
    println!("{:<58} {:>8} | {:>7} {:>9} | {:>7} {:>9} | {:>7} {:>9}", "held-out tensor", "values", "oracle", "error", "predict", "error", "fixed", "error");
    let (mut tot_o, mut tot_p, mut tot_f, mut n_tot) = (0.0, 0.0, 0.0, 0usize);
    let mut ratios = Vec::new();
    let mut err_ratios = Vec::new();
    for (name, x, shape) in &test {
        if x.len() < 4096 {
            continue;
        }
        let oracle = empirical_channel_allocations(x, shape, target, &cfg)?;
        let predicted = p.predict_channels(x, shape)?;
        let mut res = Vec::new();
        for alloc in [&oracle[..], &predicted[..], &[fixed][..]] {
            let c = enc.compress(x, shape, Some(alloc))?;
            let d = decompress(&c.bytes)?;
            res.push((c.report.bits_per_value, error_metrics(x, &d.data)?.rel_l2));
        }
        println!(
            "{:<58} {:>8} | {:>7.3} {:>9.3e} | {:>7.3} {:>9.3e} | {:>7.3} {:>9.3e}",
            name, x.len(), res[0].0, res[0].1, res[1].0, res[1].1, res[2].0, res[2].1
        );
        tot_o += res[0].0 * x.len() as f64;
        tot_p += res[1].0 * x.len() as f64;
        tot_f += res[2].0 * x.len() as f64;
        n_tot += x.len();
        ratios.push(res[1].0 / res[0].0);
        err_ratios.push(res[1].1 / target);
    }
    ratios.sort_by(f64::total_cmp);
    err_ratios.sort_by(f64::total_cmp);
    let med = |v: &[f64]| if v.is_empty() { f64::NAN } else { v[v.len() / 2] };
    println!(
        "\nvalue-weighted bits/value: oracle {:.3}, predictor {:.3} ({:+.1} %), fixed {:.3} ({:+.1} %)",
        tot_o / n_tot as f64,
        tot_p / n_tot as f64,
        (tot_p / tot_o - 1.0) * 100.0,
        tot_f / n_tot as f64,
        (tot_f / tot_o - 1.0) * 100.0
    );
    println!(
        "median predictor/oracle bits {:.3}; median achieved error / target {:.3} (max {:.3})",
        med(&ratios),
        med(&err_ratios),
        err_ratios.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
