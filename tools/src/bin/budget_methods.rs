//! The model-level relative-L2 budget's four methods side by side (src/archive/budget.rs):
//! uniform, closed form, predictor (curves predicted from statistics) and search (measured
//! curves). For each: the archive's data bytes, the model's relative L2 error measured on the
//! decoded tensors, the planning time and the planning + writing time (process CPU time, best
//! of `--reps`, methods interleaved). The budget is the error one uniform bound of `--eps`
//! reaches, so every method is compared at the same total error.
//!
//! cargo run --release -p alcm-tools --bin budget_methods -- DIR... [--eps 1e-3] [--reps 3]
//! [--prefix P]   e.g. DIR = tests/data/gradients tests/data/weights (the tests/data mix), or
//! ../shared/data/weights --prefix minilm (MiniLM).

use std::io::Cursor;
use std::path::PathBuf;

use alcm::archive::{
    plan_rel_l2, ArchiveOptions, ArchiveReader, ArchiveWriter, Bound, BudgetMethod, BudgetTensor,
    ReadOptions,
};
use alcm::{cpu_time_seconds as cpu_time, read_npy_f32};

type Model = Vec<(String, Vec<f32>, Vec<usize>)>;

fn load(dirs: &[PathBuf], prefix: &str) -> Model {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| {
            let (v, s) = read_npy_f32(p).ok()?;
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            v.iter().all(|x| x.is_finite()).then_some((name, v, s))
        })
        .collect()
}

/// (data bytes, model relative L2 measured on the decoded tensors).
fn write_and_measure(m: &Model, bounds: &[Bound]) -> (u64, f64) {
    let mut w = ArchiveWriter::new(Vec::new(), ArchiveOptions::default()).unwrap();
    for ((n, v, s), b) in m.iter().zip(bounds) {
        w.add_f32(n, v, s, *b).unwrap();
    }
    let data: u64 = w.entries().iter().map(|e| e.stored_bytes()).sum();
    let bytes = w.finish().unwrap();
    let mut r = ArchiveReader::new(Cursor::new(&bytes), ReadOptions::default()).unwrap();
    let (mut e2, mut x2) = (0f64, 0f64);
    for (n, v, _) in m {
        let y = r.read_f32(n).unwrap();
        for (a, b) in v.iter().zip(&y) {
            e2 += (*a as f64 - *b as f64).powi(2);
            x2 += (*a as f64).powi(2);
        }
    }
    (data, (e2 / x2).sqrt())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut dirs, mut eps, mut reps, mut prefix) = (Vec::new(), 1e-3, 3, String::new());
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--eps" => {
                eps = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--reps" => {
                reps = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--prefix" => {
                prefix = args[i + 1].clone();
                i += 1;
            }
            d => dirs.push(PathBuf::from(d)),
        }
        i += 1;
    }
    let m = load(&dirs, &prefix);
    let raw: usize = m.iter().map(|t| 4 * t.1.len()).sum();
    println!("{} tensors, {raw} raw bytes", m.len());
    let bt: Vec<BudgetTensor> = m
        .iter()
        .map(|(n, v, s)| BudgetTensor {
            name: n,
            data: v,
            shape: s,
            fixed: None,
            stored: None,
        })
        .collect();
    let opts = ArchiveOptions::default();
    let uniform = plan_rel_l2(&bt, eps, BudgetMethod::Uniform, &opts).unwrap();
    let (u_bytes, budget) = write_and_measure(&m, &uniform);
    println!("budget: the model error of uniform {eps:e}: {budget:.4e} ({u_bytes} bytes)");
    println!(
        "| method | data bytes | vs uniform | model rel. L2 | plan CPU s | plan + write CPU s |"
    );
    println!("|---|---|---|---|---|---|");
    let methods = [
        ("uniform", BudgetMethod::Uniform),
        ("closed form", BudgetMethod::ClosedForm),
        ("predictor", BudgetMethod::Predictor),
        ("search", BudgetMethod::Search),
    ];
    let mut best = vec![(f64::MAX, f64::MAX); methods.len()];
    let mut results = vec![(0u64, 0f64); methods.len()];
    for _ in 0..reps {
        for (k, &(_, method)) in methods.iter().enumerate() {
            let t0 = cpu_time();
            // Uniform at eps itself: the run whose model error is the budget.
            let target = if method == BudgetMethod::Uniform {
                eps
            } else {
                budget
            };
            let bounds = plan_rel_l2(&bt, target, method, &opts).unwrap();
            let t1 = cpu_time();
            let mut w = ArchiveWriter::new(Vec::new(), opts.clone()).unwrap();
            for ((n, v, s), b) in m.iter().zip(&bounds) {
                w.add_f32(n, v, s, *b).unwrap();
            }
            let t2 = cpu_time();
            best[k] = (best[k].0.min(t1 - t0), best[k].1.min(t2 - t0));
            results[k] = write_and_measure(&m, &bounds);
        }
    }
    for (k, (name, _)) in methods.iter().enumerate() {
        let (bytes, err) = results[k];
        println!(
            "| {name} | {bytes} | {:.3} | {err:.4e} | {:.3} | {:.3} |",
            bytes as f64 / u_bytes as f64,
            best[k].0,
            best[k].1
        );
    }
}
