//! `alcm::tensor_stats` / `alcm::channel_stats` against independent numpy expectations
//! (`tests/data/fixtures/stats.tsv`, written by `tests/fixtures_gen/stats_fixtures.py`).
//!
//! Tolerances: mean, var, std relative 1e-9 (the mean's near-zero floor is 1e-9 of the spread,
//! plus an absolute 1e-12 for an exactly-zero spread); skew and kurtosis relative 1e-7 with an
//! absolute floor of 1e-12 near zero; sparsity and numel exact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alcm::{channel_stats, tensor_stats, TensorStats};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A minimal reader for NumPy format 1.0 files holding `<f4` data in C order (the test data's
/// format). Local to this test on purpose: it checks the library against an independent reader.
fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() >= 10 && &bytes[..6] == b"\x93NUMPY",
        "{}: not .npy",
        path.display()
    );
    assert_eq!(
        (bytes[6], bytes[7]),
        (1, 0),
        "{}: only format 1.0",
        path.display()
    );
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let start = header.find("'shape': (").unwrap() + "'shape': (".len();
    let end = start + header[start..].find(')').unwrap();
    let shape: Vec<usize> = header[start..end]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let payload = &bytes[10 + hlen..];
    let n: usize = shape.iter().product();
    assert_eq!(payload.len(), n * 4, "{}: payload size", path.display());
    let data = payload
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, data)
}

/// The hand-made cases of stats_fixtures.py (keep in sync with `CASES` there).
fn case(name: &str) -> (Vec<usize>, Vec<f32>) {
    match name {
        "constant" => (vec![7], vec![0.25; 7]),
        "zeros" => (vec![5], vec![0.0; 5]),
        "one_two_three_four" => (vec![4], vec![1.0, 2.0, 3.0, 4.0]),
        "matrix_3x4_zero_row" => (
            vec![3, 4],
            vec![
                1.0, -2.0, 3.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.25, -8.0, 1e-7,
            ],
        ),
        _ => panic!("unknown case {name}"),
    }
}

struct Row {
    channel: i64,
    numel: usize,
    v: [f64; 7], // mean var std skew kurtosis sparsity (index 6 unused)
}

fn load_fixtures() -> BTreeMap<String, Vec<Row>> {
    let text = std::fs::read_to_string(data_dir().join("fixtures/stats.tsv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "name\tchannel\tnumel\tmean\tvar\tstd\tskew\tkurtosis\tsparsity"
    );
    let mut map: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 9, "{line}");
        let mut v = [0.0; 7];
        for (i, s) in f[3..9].iter().enumerate() {
            v[i] = s.parse().unwrap();
        }
        map.entry(f[0].to_string()).or_default().push(Row {
            channel: f[1].parse().unwrap(),
            numel: f[2].parse().unwrap(),
            v,
        });
    }
    map
}

/// Returns the worst error relative to its tolerance (must be ≤ 1) and panics with context
/// otherwise.
fn check(what: &str, got: &TensorStats, want: &Row) -> f64 {
    assert_eq!(got.count, want.numel, "{what}: count");
    let [mean, var, std, skew, kurt, sparsity, _] = want.v;
    let tols = [
        (
            "mean",
            got.mean,
            mean,
            1e-9 * mean.abs() + 1e-9 * std + 1e-12,
        ),
        ("var", got.var, var, 1e-9 * var.abs()),
        ("std", got.std, std, 1e-9 * std.abs()),
        ("skew", got.skew, skew, 1e-7 * skew.abs() + 1e-12),
        ("kurtosis", got.kurtosis, kurt, 1e-7 * kurt.abs() + 1e-12),
        ("sparsity", got.sparsity, sparsity, 0.0),
    ];
    let mut worst: f64 = 0.0;
    for (name, g, w, tol) in tols {
        let err = (g - w).abs();
        assert!(
            err <= tol,
            "{what}: {name} = {g:e}, numpy {w:e}, |diff| {err:e} > tol {tol:e}"
        );
        if tol > 0.0 {
            worst = worst.max(err / tol);
        }
    }
    worst
}

#[test]
fn stats_agree_with_numpy() {
    let fixtures = load_fixtures();
    let mut files = 0;
    let mut channels = 0;
    let mut worst: f64 = 0.0;
    for (name, rows) in &fixtures {
        let (shape, data) = match name.strip_prefix("case:") {
            Some(c) => case(c),
            None => {
                files += 1;
                read_npy_f32(&data_dir().join(name))
            }
        };
        let whole = rows
            .iter()
            .find(|r| r.channel == -1)
            .expect("whole-tensor row");
        worst = worst.max(check(
            &format!("{name} (whole)"),
            &tensor_stats(&data),
            whole,
        ));

        let per = channel_stats(&data, &shape).unwrap();
        let want: Vec<&Row> = rows.iter().filter(|r| r.channel >= 0).collect();
        assert_eq!(per.len(), want.len(), "{name}: channel count");
        for (i, (g, w)) in per.iter().zip(&want).enumerate() {
            assert_eq!(w.channel, i as i64, "{name}: channel order");
            worst = worst.max(check(&format!("{name} channel {i}"), g, w));
            channels += 1;
        }
    }
    // Every shipped tensor has fixtures (a new .npy without regenerated fixtures fails here).
    let mut on_disk = 0;
    for sub in ["gradients", "weights"] {
        for e in std::fs::read_dir(data_dir().join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "npy") {
                let key = format!("{sub}/{}", p.file_name().unwrap().to_str().unwrap());
                assert!(fixtures.contains_key(&key), "{key} has no fixture rows");
                on_disk += 1;
            }
        }
    }
    assert_eq!(files, on_disk);
    assert!(files >= 30, "expected the shipped tensors, found {files}");
    assert!(channels > 1000);
    eprintln!("{files} files, {channels} channels; worst error / tolerance = {worst:.3e}");
}

#[test]
fn npy_reader_sanity() {
    let (shape, data) = read_npy_f32(&data_dir().join("gradients/grad_step00001_fc3.weight.npy"));
    assert_eq!(shape, vec![10, 128]);
    assert_eq!(data.len(), 1280);
    let (shape, _) = read_npy_f32(&data_dir().join("weights/minilm_embeddings.LayerNorm.bias.npy"));
    assert_eq!(shape, vec![384]);
}
