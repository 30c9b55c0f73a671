//! Trains the entropy predictor on measured allocations and shows that it learns: trained on
//! one part of a directory of real tensors, it is scored on the other part against the
//! baseline of always predicting the mean training target.
//!
//! cargo run --release --example train_predictor -- [DIR] [--target 0.05] [--epochs 10] [--save model.npz]
//! DIR defaults to ../shared/data (falls back to tests/data). The split is by file name:
//! a file goes to the held-out set when a stable hash of its name is odd.

use std::path::PathBuf;

#[path = "common/mod.rs"]
mod common;

use alcm::internals::evaluate;
use alcm::read_npy_f32;
use alcm::Predictor;
use alcm::{EncoderConfig, PredictorConfig, TrainingSet};

fn main() -> alcm::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut dir, mut target, mut epochs, mut save) = (None, 0.05f64, 10usize, None);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--target" => {
                target = args[i + 1].parse().expect("--target takes a number");
                i += 1;
            }
            "--epochs" => {
                epochs = args[i + 1].parse().expect("--epochs takes a number");
                i += 1;
            }
            "--save" => {
                save = Some(PathBuf::from(&args[i + 1]));
                i += 1;
            }
            other => dir = Some(PathBuf::from(other)),
        }
        i += 1;
    }
    let dir = common::data_dir(dir);
    let files = common::find_npy(&dir);
    let cfg = EncoderConfig::default();
    let (mut train, mut test) = (TrainingSet::default(), TrainingSet::default());
    for f in &files {
        let (x, shape) = read_npy_f32(f)?;
        let set = if common::held_out(f) {
            &mut test
        } else {
            &mut train
        };
        set.add_tensor(&x, &shape, target, &cfg)?;
    }
    let pc = PredictorConfig::default();
    let mut predictor = Predictor::new(
        pc.hidden_size,
        pc.min_bits,
        pc.max_bits,
        pc.learning_rate,
        pc.seed,
    )?;
    let history = predictor.train(&train.features, &train.targets, epochs)?;
    let mean_target = train.targets.iter().sum::<f64>() / train.len().max(1) as f64;
    let (mse, base) = evaluate(&predictor, &test, mean_target);
    let (train_mse, train_base) = evaluate(&predictor, &train, mean_target);
    println!(
        "data: {} ({} files), target relative L2 error {target}",
        dir.display(),
        files.len()
    );
    println!(
        "training channels: {}, held-out channels: {}",
        train.len(),
        test.len()
    );
    println!(
        "loss per epoch: {}",
        history
            .iter()
            .map(|l| format!("{l:.5}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("train    MSE: predictor {train_mse:.6}  mean-target baseline {train_base:.6}");
    println!(
        "held-out MSE: predictor {mse:.6}  mean-target baseline {base:.6}  (ratio {:.3})",
        mse / base
    );
    if let Some(p) = save {
        predictor.save(&p)?;
        println!("saved {}", p.display());
    }
    Ok(())
}
