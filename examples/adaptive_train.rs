//! The main job: the original prototype's experiment (GUIDE §1) on real gradients.
//!
//! 1. Load `configs/entropy_config.yaml` and `configs/encoder_config.yaml` (the original's files).
//! 2. Train the entropy predictor on measured targets: every channel of every gradient in the
//!    data directory, target = the smallest allocation meeting `--target` relative L2 error.
//! 3. For 10 epochs compress one weight gradient per epoch with the baseline (deflate-6 of the
//!    raw float32 bytes, as numpy's savez_compressed does) and with the adaptive encoder
//!    (predictor's per-channel allocation), decode the adaptive frame from its bytes, feed the
//!    adaptive CAQ to the scheduler and its threshold back into the encoder.
//! 4. Print the per-epoch table and the means; write a results JSON.
//!
//! cargo run --release --example adaptive_train -- [DIR] [--epochs 10] [--target 0.02] [--out FILE]
//! DIR defaults to the repository's tests/data/gradients (real gradients shipped with alcm).

use std::path::{Path, PathBuf};

use alcm::read_npy_f32;
use alcm::Predictor;
use alcm::{
    cpu_time_seconds, decompress, error_metrics, variance_percent, Encoder, EncoderConfig,
    PredictorConfig, Scheduler, SchedulerConfig, TrainingSet,
};

struct EpochRow {
    epoch: usize,
    tensor: String,
    baseline_caq: f64,
    adaptive_caq: f64,
    gain_pct: f64,
    ratio: f64,
    baseline_ratio: f64,
    rel_error: f64,
    bits_per_value: f64,
    threshold: f64,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("adaptive_train: {e}");
        std::process::exit(1);
    }
}

fn run() -> alcm::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut dir, mut epochs, mut target, mut out) =
        (root.join("tests/data/gradients"), 10usize, 0.02f64, None);
    let mut i = 0;
    while i < args.len() {
        let value = |i: usize| args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--epochs" => {
                epochs = value(i)
                    .parse()
                    .map_err(|_| alcm::Error::invalid_argument("--epochs takes a whole number"))?;
                i += 1;
            }
            "--target" => {
                target = value(i)
                    .parse()
                    .map_err(|_| alcm::Error::invalid_argument("--target takes a number"))?;
                i += 1;
            }
            "--out" => {
                out = Some(PathBuf::from(value(i)));
                i += 1;
            }
            other => dir = PathBuf::from(other),
        }
        i += 1;
    }
    let pcfg = PredictorConfig::from_yaml_file(&root.join("configs/entropy_config.yaml"))?;
    let ecfg = EncoderConfig::from_yaml_file(&root.join("configs/encoder_config.yaml"))?;

    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| alcm::Error::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .collect();
    files.sort();
    let is_grad = |p: &Path| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("grad"))
    };
    let grads: Vec<&PathBuf> = files.iter().filter(|p| is_grad(p)).collect();
    let train_files: Vec<&PathBuf> = if grads.is_empty() {
        files.iter().collect()
    } else {
        grads
    };
    // Epoch tensors: the matrices (weight gradients) among them, in name order.
    let mut epoch_tensors = Vec::new();
    let mut set = TrainingSet::default();
    for f in &train_files {
        let (x, shape) = read_npy_f32(f)?;
        set.add_tensor(&x, &shape, target, &ecfg)?;
        if shape.len() >= 2 {
            epoch_tensors.push((
                f.file_name().unwrap().to_string_lossy().into_owned(),
                x,
                shape,
            ));
        }
    }
    if epoch_tensors.is_empty() {
        return Err(alcm::Error::invalid_argument(format!(
            "no matrix-shaped .npy tensors in {}",
            dir.display()
        )));
    }

    println!(
        "alcm adaptive experiment on {} ({} tensors)",
        dir.display(),
        train_files.len()
    );
    let mut predictor = Predictor::new(
        pcfg.hidden_size,
        pcfg.min_bits,
        pcfg.max_bits,
        pcfg.learning_rate,
        pcfg.seed,
    )?;
    let history = predictor.train(&set.features, &set.targets, pcfg.epochs)?;
    println!(
        "predictor: trained on {} channels (target relative L2 {target}), loss {:.5} -> {:.5}",
        set.len(),
        history.first().copied().unwrap_or(0.0),
        history.last().copied().unwrap_or(0.0)
    );

    let mut encoder = Encoder::new(ecfg.clone())?;
    let mut scheduler = Scheduler::new(
        SchedulerConfig::default()
            .with_initial_threshold(ecfg.threshold)
            .with_decay(pcfg.decay),
    )?;
    println!(
        "\n{:>5}  {:<34} {:>12} {:>12} {:>8} {:>7} {:>10} {:>7} {:>10}",
        "epoch",
        "tensor",
        "baseline CAQ",
        "adaptive CAQ",
        "gain %",
        "ratio",
        "rel error",
        "bits/v",
        "threshold"
    );
    let mut rows = Vec::new();
    for epoch in 1..=epochs {
        let (name, x, shape) = &epoch_tensors[(epoch - 1) % epoch_tensors.len()];
        // Baseline: deflate-6 of the raw little-endian float32 bytes (numpy savez_compressed).
        let t0 = cpu_time_seconds();
        let raw: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let base = miniz_oxide::deflate::compress_to_vec(&raw, 6);
        let base_cpu = cpu_time_seconds() - t0;
        let baseline_ratio = raw.len() as f64 / base.len() as f64;
        let baseline_caq = alcm::caq(baseline_ratio, base_cpu)?;
        // Adaptive: predictor allocation per channel + encoder; CAQ times both.
        let t1 = cpu_time_seconds();
        let allocation = predictor.predict_channels(x, shape)?;
        let c = encoder.compress(x, shape, Some(&allocation))?;
        let cpu = cpu_time_seconds() - t1;
        let adaptive_caq = alcm::caq(c.report.ratio, cpu)?;
        let decoded = decompress(&c.bytes)?;
        let m = error_metrics(x, &decoded.data)?;
        let threshold = scheduler.update(adaptive_caq)?;
        encoder.set_threshold(threshold)?;
        let row = EpochRow {
            epoch,
            tensor: name.clone(),
            baseline_caq,
            adaptive_caq,
            gain_pct: (adaptive_caq / baseline_caq - 1.0) * 100.0,
            ratio: c.report.ratio,
            baseline_ratio,
            rel_error: m.rel_l2,
            bits_per_value: c.report.bits_per_value,
            threshold,
        };
        println!(
            "{:>5}  {:<34} {:>12.3} {:>12.3} {:>+8.1} {:>6.2}x {:>10.3e} {:>7.3} {:>10.5}",
            row.epoch,
            row.tensor,
            row.baseline_caq,
            row.adaptive_caq,
            row.gain_pct,
            row.ratio,
            row.rel_error,
            row.bits_per_value,
            row.threshold
        );
        rows.push(row);
    }
    let mean = |f: &dyn Fn(&EpochRow) -> f64| rows.iter().map(f).sum::<f64>() / rows.len() as f64;
    let (mb, ma, mr, me, mbr) = (
        mean(&|r| r.baseline_caq),
        mean(&|r| r.adaptive_caq),
        mean(&|r| r.ratio),
        mean(&|r| r.rel_error),
        mean(&|r| r.baseline_ratio),
    );
    let gain = (ma / mb - 1.0) * 100.0;
    let var = variance_percent(&rows.iter().map(|r| r.adaptive_caq).collect::<Vec<_>>())?;
    println!("\nmean baseline CAQ {mb:.3} (ratio {mbr:.2}x)   mean adaptive CAQ {ma:.3} (ratio {mr:.2}x)   gain {gain:+.1} %");
    println!("mean relative L2 error {me:.3e}   adaptive CAQ run-to-run variance {var:.1} %   final threshold {:.5}", scheduler.threshold());

    let out = out.unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        PathBuf::from(format!("results/adaptive/run_{secs}.json"))
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| alcm::Error::io(parent, e))?;
    }
    let epochs_json: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "    {{\"epoch\": {}, \"tensor\": \"{}\", \"baseline_caq\": {:.6}, \"adaptive_caq\": {:.6}, \"gain_pct\": {:.4}, \"ratio\": {:.6}, \"baseline_ratio\": {:.6}, \"rel_error\": {:.6e}, \"bits_per_value\": {:.6}, \"threshold\": {:.6}}}",
                r.epoch, r.tensor, r.baseline_caq, r.adaptive_caq, r.gain_pct, r.ratio, r.baseline_ratio, r.rel_error, r.bits_per_value, r.threshold
            )
        })
        .collect();
    let json = format!(
        "{{\n  \"data_dir\": \"{}\",\n  \"target_rel_error\": {target},\n  \"predictor_training_channels\": {},\n  \"predictor_loss_history\": [{}],\n  \"mean_baseline_caq\": {mb:.6},\n  \"mean_adaptive_caq\": {ma:.6},\n  \"caq_gain_pct\": {gain:.4},\n  \"mean_ratio\": {mr:.6},\n  \"mean_rel_error\": {me:.6e},\n  \"adaptive_caq_variance_pct\": {var:.4},\n  \"epochs\": [\n{}\n  ]\n}}\n",
        dir.display().to_string().replace('\\', "\\\\").replace('"', "\\\""),
        set.len(),
        history.iter().map(|l| format!("{l:.6}")).collect::<Vec<_>>().join(", "),
        epochs_json.join(",\n")
    );
    alcm::internals::write_atomic(&out, json.as_bytes())?;
    println!("results: {}", out.display());
    Ok(())
}
