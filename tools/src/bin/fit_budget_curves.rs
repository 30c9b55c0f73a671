//! Fits the rate–distortion curve model of the model-level budget's `predictor` method
//! (`alcm::archive::CurveModel`, src/archive/predict.rs): measures each training tensor's
//! stored bytes in an archive at 13 relative-L2 bounds (1e-4 to 0.41, doubling), fits the
//! coefficients by least squares, and prints them with the prediction error (|log2 of
//! predicted / measured bytes|, median and 90th percentile) on the training tensors and on two
//! held-out sets: tests/data and the MiniLM weights. Training: the tensors of
//! ../shared/data/gradients and ../shared/data/weights that are neither MiniLM's nor in
//! tests/data.
//!
//! cargo run --release -p alcm-tools --bin fit_budget_curves [-- --check]
//! With --check it only scores `CurveModel::FITTED` (the coefficients in the library).

use std::path::{Path, PathBuf};

use alcm::archive::{ArchiveOptions, ArchiveWriter, Bound, CurveModel};
use alcm::{read_npy_f32, tensor_stats};

struct Tensor {
    name: String,
    data: Vec<f32>,
    shape: Vec<usize>,
}

fn load(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<Tensor> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .filter(|p| keep(&p.file_name().unwrap().to_string_lossy()))
        .filter_map(|p| {
            let (data, shape) = read_npy_f32(&p).ok()?;
            (data.iter().all(|v| v.is_finite()) && data.iter().any(|&v| v != 0.0)).then(|| Tensor {
                name: p.file_name().unwrap().to_string_lossy().into_owned(),
                data,
                shape,
            })
        })
        .collect()
}

/// (bound, stored bytes) at the 13 bounds.
fn measure(t: &Tensor) -> Vec<(f64, f64)> {
    (0..13)
        .map(|k| {
            let b = 1e-4 * 2f64.powi(k);
            let mut w = ArchiveWriter::new(Vec::new(), ArchiveOptions::default()).unwrap();
            let e = w
                .add_f32(&t.name, &t.data, &t.shape, Bound::RelativeL2(b))
                .unwrap();
            (b, e.stored_bytes() as f64)
        })
        .collect()
}

/// |log2(predicted / measured)| of every point: (median, 90th percentile).
fn score(m: &CurveModel, set: &[(&Tensor, Vec<(f64, f64)>)]) -> (f64, f64) {
    let mut errs: Vec<f64> = set
        .iter()
        .flat_map(|(t, pts)| {
            let s = tensor_stats(&t.data);
            pts.iter()
                .map(move |&(b, bytes)| (m.bytes(&s, &t.shape, b) / bytes).log2().abs())
        })
        .collect();
    errs.sort_by(f64::total_cmp);
    let q = |p: f64| errs[((errs.len() - 1) as f64 * p) as usize];
    (q(0.5), q(0.9))
}

fn curves(set: &[Tensor]) -> Vec<(&Tensor, Vec<(f64, f64)>)> {
    set.iter().map(|t| (t, measure(t))).collect()
}

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = root.join("../shared/data");
    let tests = root.join("tests/data");
    let in_tests = |sub: &str, f: &str| tests.join(sub).join(f).exists();
    let mut train = load(&shared.join("gradients"), |f| !in_tests("gradients", f));
    train.extend(load(&shared.join("weights"), |f| {
        !f.starts_with("minilm") && !in_tests("weights", f)
    }));
    let mut held_tests = load(&tests.join("gradients"), |_| true);
    held_tests.extend(load(&tests.join("weights"), |_| true));
    let minilm = load(&shared.join("weights"), |f| f.starts_with("minilm"));
    eprintln!(
        "training tensors {}, tests/data {}, MiniLM {}",
        train.len(),
        held_tests.len(),
        minilm.len()
    );
    let (tr, te, mi) = (curves(&train), curves(&held_tests), curves(&minilm));
    let model = if check {
        CurveModel::FITTED
    } else {
        let samples: Vec<_> = tr
            .iter()
            .flat_map(|(t, pts)| {
                let s = tensor_stats(&t.data);
                pts.iter().filter_map(move |&(b, bytes)| {
                    CurveModel::target(bytes, t.data.len(), &t.shape)
                        .map(|y| (CurveModel::features(&s, b), y))
                })
            })
            .collect();
        eprintln!("{} training points", samples.len());
        CurveModel::fit(&samples).expect("fit")
    };
    println!(
        "coef: [{}]",
        model.coef.map(|c| format!("{c:.6}")).join(", ")
    );
    for (name, set) in [("training", &tr), ("tests/data", &te), ("MiniLM", &mi)] {
        let (med, p90) = score(&model, set);
        println!(
            "{name}: |log2(predicted/measured bytes)| median {med:.3}, 90th percentile {p90:.3}"
        );
    }
}
