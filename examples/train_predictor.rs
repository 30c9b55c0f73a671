//! Trains the entropy predictor on measured allocations and shows that it learns: trained on
//! one part of a directory of real tensors, it is scored on the other part against the
//! baseline of always predicting the mean training target.
//!
//! cargo run --release --example train_predictor -- [DIR] [--target 0.05] [--epochs 10] [--save model.npz]
//! DIR defaults to ../shared/data (falls back to tests/data). The split is by file name:
//! a file goes to the held-out set when a stable hash of its name is odd.

use std::path::{Path, PathBuf};

use alcm::allocation::evaluate;
use alcm::npy::read_npy_f32;
use alcm::predictor::Predictor;
use alcm::{EncoderConfig, PredictorConfig, TrainingSet};

fn find_npy(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                find_npy(&p, out);
            } else if p.extension().is_some_and(|x| x == "npy") && !p.components().any(|c| c.as_os_str() == "digits" || c.as_os_str() == "fixtures" || c.as_os_str() == "golden") {
                out.push(p);
            }
        }
    }
}

/// FNV-1a of the file name: a split that does not depend on directory order.
fn held_out(p: &Path) -> bool {
    let name = p.file_name().unwrap().to_string_lossy();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h & 1 == 1
}

fn main() -> alcm::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut dir, mut target, mut epochs, mut save) = (None, 0.05f64, 10usize, None);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--target" => { target = args[i + 1].parse().expect("--target takes a number"); i += 1; }
            "--epochs" => { epochs = args[i + 1].parse().expect("--epochs takes a number"); i += 1; }
            "--save" => { save = Some(PathBuf::from(&args[i + 1])); i += 1; }
            other => dir = Some(PathBuf::from(other)),
        }
        i += 1;
    }
    let dir = dir.unwrap_or_else(|| {
        let shared = PathBuf::from("../shared/data");
        if shared.is_dir() { shared } else { PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data") }
    });
    let mut files = Vec::new();
    find_npy(&dir, &mut files);
    files.sort();
    let cfg = EncoderConfig::default();
    let (mut train, mut test) = (TrainingSet::default(), TrainingSet::default());
    for f in &files {
        let (x, shape) = read_npy_f32(f)?;
        let set = if held_out(f) { &mut test } else { &mut train };
        set.add_tensor(&x, &shape, target, &cfg)?;
    }
    let pc = PredictorConfig::default();
    let mut predictor = Predictor::new(pc.hidden_size, pc.min_bits, pc.max_bits, pc.learning_rate, pc.seed)?;
    let history = predictor.train(&train.features, &train.targets, epochs)?;
    let mean_target = train.targets.iter().sum::<f64>() / train.len().max(1) as f64;
    let (mse, base) = evaluate(&predictor, &test, mean_target);
    let (train_mse, train_base) = evaluate(&predictor, &train, mean_target);
    println!("data: {} ({} files), target relative L2 error {target}", dir.display(), files.len());
    println!("training channels: {}, held-out channels: {}", train.len(), test.len());
    println!("loss per epoch: {}", history.iter().map(|l| format!("{l:.5}")).collect::<Vec<_>>().join(" "));
    println!("train    MSE: predictor {train_mse:.6}  mean-target baseline {train_base:.6}");
    println!("held-out MSE: predictor {mse:.6}  mean-target baseline {base:.6}  (ratio {:.3})", mse / base);
    if let Some(p) = save {
        predictor.save(&p)?;
        println!("saved {}", p.display());
    }
    Ok(())
}
