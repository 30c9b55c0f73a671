//! The neural entropy predictor against independent expectations (hand-computed values and
//! numpy-computed outputs of a prototype-style model file; see tests/fixtures_gen/).

use std::path::PathBuf;

use alcm::internals::predictor::{
    det_asinh, det_exp, det_ln, det_log10, det_sigmoid, transform_features,
};
use alcm::{npy_bytes_f64, npy_bytes_i64, npz_bytes, read_npz_file, ErrorKind, NpyData, Predictor};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures")
        .join(name)
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
    }
}

#[test]
fn deterministic_exp_and_ln_match_libm() {
    let mut worst = 0.0f64;
    for i in -50_000..=50_000 {
        let x = i as f64 * 1e-3 + 1e-7;
        worst = worst.max(rel(det_exp(x), x.exp()));
    }
    assert!(worst < 1e-14, "exp worst relative error {worst:e}");
    assert_eq!(det_exp(0.0), 1.0);
    assert_eq!(det_exp(800.0), f64::INFINITY);
    assert_eq!(det_exp(-800.0), 0.0);
    assert!(rel(det_exp(-740.0), (-740.0f64).exp()) < 1e-9); // subnormal result
    assert!(rel(det_exp(709.0), 709.0f64.exp()) < 1e-14);
    let mut worst = 0.0f64;
    for i in 1..100_000 {
        let x = i as f64 * 0.37e-2;
        worst = worst.max((det_ln(x) - x.ln()).abs() / x.ln().abs().max(1.0));
    }
    for x in [1e-300, 5e-324, 1e-30, 1e-8, 0.5, 2.0, 1e10, 1e300] {
        worst = worst.max((det_ln(x) - x.ln()).abs() / x.ln().abs().max(1.0));
    }
    assert!(worst < 1e-15, "ln worst error {worst:e}");
    assert!((det_log10(1e-8) + 8.0).abs() < 1e-14);
    for x in [-1e12, -3.0, -0.5, 0.0, 1e-3, 0.7, 5.0, 1e9] {
        assert!(
            (det_asinh(x) - f64::asinh(x)).abs() <= 1e-14 * f64::asinh(x).abs().max(1.0),
            "asinh({x})"
        );
    }
    assert_eq!(det_sigmoid(0.0), 0.5);
    assert_eq!(det_sigmoid(f64::NAN), 0.5);
    assert_eq!(det_sigmoid(-1e9), 0.0);
    assert_eq!(det_sigmoid(1e9), 1.0);
}

#[test]
fn transform_is_finite_on_extreme_features() {
    for f in [
        [0.0; 6],
        [1e-3, 1e-8, 1e-4, 50.0, 3000.0, 0.99],
        [-1e30, 1e300, 1e150, -1e6, 0.0, 1.0],
    ] {
        assert!(
            transform_features(&f).iter().all(|v| v.is_finite()),
            "{f:?}"
        );
    }
}

/// H = 2, identity normalisation, hand-set weights:
/// W1 rows: x0 → [0.5, -1.0], x1 → [0.25, 1.0], other rows 0; b1 = [0, -2]; W2 = [2, 5]; b2 = -2.
#[test]
fn forward_on_hand_set_weights() {
    let mut w1 = vec![0.0; 12];
    w1[0] = 0.5;
    w1[1] = -1.0;
    w1[2] = 0.25;
    w1[3] = 1.0;
    let p = Predictor::from_weights(
        2,
        w1,
        vec![0.0, -2.0],
        vec![2.0, 5.0],
        -2.0,
        0.2,
        0.9,
        0.001,
    )
    .unwrap();
    // x = [1,2,0..]: a = [0.5+0.5, -1+2-2] = [1, -1] → h = [1, 0]; z = 2 − 2 = 0; s = 0.5
    // out = 0.2 + 0.7·0.5 = 0.55
    assert!((p.forward(&[1.0, 2.0, 0.0, 0.0, 0.0, 0.0]) - 0.55).abs() < 1e-15);
    // x = [2,2,0..]: a = [1.5, -2] → h = [1.5, 0]; z = 3 − 2 = 1; s = 1/(1+e^-1) = 0.7310585786300049
    // out = 0.2 + 0.7·0.7310585786300049 = 0.7117410050410034
    assert!((p.forward(&[2.0, 2.0, 0.0, 0.0, 0.0, 0.0]) - 0.711_741_005_041_003_4).abs() < 1e-15);
    // x = [0,4,0..]: a = [1, 2] → h = [1, 2]; z = 2 + 10 − 2 = 10; s = 0.9999546021312976
    // out = 0.2 + 0.7·s = 0.8999682214919083
    assert!((p.forward(&[0.0, 4.0, 0.0, 0.0, 0.0, 0.0]) - 0.899_968_221_491_908_3).abs() < 1e-15);
    // Non-finite inputs are replaced by 0 (→ a = [0, -2], z = −2), never NaN.
    let out = p.forward(&[f64::NAN, f64::INFINITY, 0.0, 0.0, 0.0, 0.0]);
    let s = 1.0 / (1.0 + 2.0f64.exp());
    assert!((out - (0.2 + 0.7 * s)).abs() < 1e-15);
}

#[test]
fn xavier_init_is_bounded_and_seeded() {
    let h = 64;
    let a = Predictor::new(h, 0.2, 0.9, 0.001, 42).unwrap();
    let l1 = (6.0f64 / (6 + h) as f64).sqrt();
    let l2 = (6.0f64 / (h + 1) as f64).sqrt();
    assert_eq!(a.w1().len(), 6 * h);
    assert_eq!(a.w2().len(), h);
    assert!(a.w1().iter().all(|w| w.abs() <= l1));
    assert!(a.w2().iter().all(|w| w.abs() <= l2));
    // Uses the range: some weights beyond half the limit on both sides.
    assert!(a.w1().iter().any(|&w| w > 0.5 * l1) && a.w1().iter().any(|&w| w < -0.5 * l1));
    assert!(a.b1().iter().all(|&b| b == 0.0) && a.b2() == 0.0);
    let b = Predictor::new(h, 0.2, 0.9, 0.001, 42).unwrap();
    assert_eq!(a, b);
    let c = Predictor::new(h, 0.2, 0.9, 0.001, 43).unwrap();
    assert_ne!(a.w1(), c.w1());
    // SplitMix64 reference value (seed 0, first output) from the published algorithm.
    assert_eq!(
        alcm::internals::predictor::SplitMix64::new(0).next_u64(),
        0xe220_a839_7b1d_cdaf
    );
}

#[test]
fn constructor_validates() {
    for (h, lo, hi, lr) in [
        (0, 0.2, 0.9, 0.001),
        (65537, 0.2, 0.9, 0.001),
        (4, 0.9, 0.2, 0.001),
        (4, f64::NAN, 0.9, 0.001),
        (4, 0.2, 0.9, 0.0),
        (4, 0.2, 0.9, f64::INFINITY),
    ] {
        let e = Predictor::new(h, lo, hi, lr, 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
    let mut p = Predictor::new(4, 0.2, 0.9, 0.001, 1).unwrap();
    assert!(p.set_learning_rate(-1.0).is_err());
    p.set_learning_rate(0.01).unwrap();
    assert_eq!(p.learning_rate(), 0.01);
    assert_eq!((p.hidden_size(), p.min_bits(), p.max_bits()), (4, 0.2, 0.9));
}

/// Feature vectors from simple synthetic tensors, and a target that depends on them.
fn learnable_problem() -> (Vec<[f64; 6]>, Vec<f64>) {
    let mut feats = Vec::new();
    let mut targets = Vec::new();
    for i in 0..40 {
        let scale = 10f64.powi(-(i % 8)); // var over many decades, as with real gradients
        let sparsity = (i % 5) as f64 / 5.0;
        let kurt = 1.5 + (i % 7) as f64 * 40.0;
        feats.push([
            0.01 * scale * ((i % 3) as f64 - 1.0),
            scale * scale,
            scale,
            ((i % 4) as f64 - 1.5),
            kurt,
            sparsity,
        ]);
        // Allocation grows with log-scale and falls with sparsity.
        targets.push(0.3 + 0.04 * (i % 8) as f64 - 0.2 * sparsity + 0.1);
    }
    (feats, targets)
}

#[test]
fn training_reduces_the_loss_and_is_deterministic() {
    let (f, t) = learnable_problem();
    let mut p = Predictor::new(16, 0.2, 0.9, 0.05, 7).unwrap();
    assert!(p.normalization().is_none());
    let hist = p.train(&f, &t, 60).unwrap();
    assert_eq!(hist.len(), 60);
    assert!(
        p.normalization().is_some(),
        "normalisation fitted on first training"
    );
    assert!(hist[59] < 0.25 * hist[0], "loss {} → {}", hist[0], hist[59]);
    let mut q = Predictor::new(16, 0.2, 0.9, 0.05, 7).unwrap();
    assert_eq!(q.train(&f, &t, 60).unwrap(), hist);
    assert_eq!(p, q);
}

#[test]
fn training_validates_inputs() {
    let mut p = Predictor::new(4, 0.2, 0.9, 0.01, 1).unwrap();
    let f = [[0.0, 1.0, 1.0, 0.0, 3.0, 0.0]; 3];
    assert!(p.train(&[], &[], 1).is_err());
    assert!(p.train(&f, &[0.5, 0.5], 1).is_err());
    assert!(p.train(&f, &[0.5, f64::NAN, 0.5], 1).is_err());
    let mut bad = f;
    bad[1][4] = f64::INFINITY;
    assert!(p.train(&bad, &[0.5; 3], 1).is_err());
    assert_eq!(p.train(&f, &[0.5; 3], 0).unwrap(), Vec::<f64>::new());
}

#[test]
fn save_load_gives_bit_identical_predictions() {
    let (f, t) = learnable_problem();
    let mut p = Predictor::new(8, 0.1, 0.95, 0.02, 3).unwrap();
    p.train(&f, &t, 5).unwrap();
    let dir = std::env::temp_dir().join(format!("alcm-predictor-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.npz");
    p.save(&path).unwrap();
    let q = Predictor::load(&path).unwrap();
    assert_eq!(p, q);
    for x in &f {
        assert_eq!(p.forward(x).to_bits(), q.forward(x).to_bits());
    }
    assert_eq!(p.to_npz_bytes(), q.to_npz_bytes());
    // The file carries the documented keys.
    let keys: Vec<String> = read_npz_file(&path)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for k in [
        "W1",
        "b1",
        "W2",
        "b2",
        "hidden_size",
        "min_bits",
        "max_bits",
        "norm_mean",
        "norm_std",
        "learning_rate",
        "alcm_model_version",
    ] {
        assert!(keys.iter().any(|x| x == k), "missing {k}");
    }
    // An untrained model (no normalisation) round-trips too.
    let fresh = Predictor::new(3, 0.2, 0.9, 0.001, 9).unwrap();
    assert_eq!(
        Predictor::from_npz_bytes(&fresh.to_npz_bytes()).unwrap(),
        fresh
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn loads_a_prototype_model_and_matches_numpy() {
    let p = Predictor::load(&fixture("proto_model.npz")).unwrap();
    assert_eq!(p.hidden_size(), 64);
    assert_eq!((p.min_bits(), p.max_bits()), (0.2, 0.9));
    assert!(
        p.normalization().is_none(),
        "prototype models use raw features"
    );
    let cases = read_npz_file(&fixture("proto_model_cases.npz")).unwrap();
    let get = |k: &str| cases.iter().find(|(n, _)| n == k).unwrap().1.to_f64();
    let feats = get("features");
    let expected = get("expected");
    assert_eq!(feats.len(), 6 * expected.len());
    for (i, e) in expected.iter().enumerate() {
        let mut x = [0.0; 6];
        x.copy_from_slice(&feats[6 * i..6 * i + 6]);
        let out = p.forward(&x);
        assert!((out - e).abs() < 1e-13, "case {i}: {out} vs numpy {e}");
    }
    // Whole-tensor prediction on a real gradient (statistics computed by numpy in the script).
    let (data, shape) = alcm::read_npy_f32(&fixture("grad_step00001_fc3.bias.npy")).unwrap();
    let want = get("grad_expected")[0];
    let got = p.predict_tensor(&data);
    assert!((got - want).abs() < 1e-9, "{got} vs numpy {want}");
    let per_channel = p.predict_channels(&data, &shape).unwrap();
    assert_eq!(per_channel.len(), 1);
    assert_eq!(per_channel[0], got);
}

#[test]
fn predict_channels_shapes() {
    let p = Predictor::new(4, 0.2, 0.9, 0.001, 5).unwrap();
    let data: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let m = p.predict_channels(&data, &[3, 4]).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[1], p.predict_tensor(&data[4..8]));
    assert!(m.iter().all(|v| (0.2..=0.9).contains(v)));
    assert!(p.predict_channels(&[], &[0, 4]).unwrap().is_empty());
    assert!(p.predict_channels(&data, &[5, 4]).is_err());
}

/// The prototype fixture's members, as npy bytes, with one member replaced or removed.
fn proto_with(replace: &str, with: Option<Vec<u8>>) -> Vec<u8> {
    let members = read_npz_file(&fixture("proto_model.npz")).unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, a) in members {
        let bytes = match &a.data {
            NpyData::I64(v) => npy_bytes_i64(&a.shape, v),
            _ => npy_bytes_f64(&a.shape, &a.to_f64()),
        };
        if name == replace {
            if let Some(w) = &with {
                entries.push((name, w.clone()));
            }
        } else {
            entries.push((name, bytes));
        }
    }
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    npz_bytes(&refs)
}

#[test]
fn invalid_model_files_are_invalid_model_errors() {
    let good = std::fs::read(fixture("proto_model.npz")).unwrap();
    assert!(Predictor::from_npz_bytes(&proto_with("none", None)).is_ok());
    let mut nan_w1 = vec![0.1; 6 * 64];
    nan_w1[17] = f64::NAN;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"not a zip file at all, sorry".to_vec()),
        ("missing W2", proto_with("W2", None)),
        (
            "W1 wrong shape",
            proto_with("W1", Some(npy_bytes_f64(&[6, 63], &vec![0.1; 6 * 63]))),
        ),
        (
            "W1 transposed",
            proto_with("W1", Some(npy_bytes_f64(&[64, 6], &vec![0.1; 6 * 64]))),
        ),
        (
            "W1 NaN",
            proto_with("W1", Some(npy_bytes_f64(&[6, 64], &nan_w1))),
        ),
        (
            "b1 wrong length",
            proto_with("b1", Some(npy_bytes_f64(&[65], &vec![0.0; 65]))),
        ),
        (
            "hidden_size mismatch",
            proto_with("hidden_size", Some(npy_bytes_i64(&[], &[32]))),
        ),
        (
            "hidden_size zero",
            proto_with("hidden_size", Some(npy_bytes_i64(&[], &[0]))),
        ),
        (
            "hidden_size huge",
            proto_with("hidden_size", Some(npy_bytes_i64(&[], &[1 << 40]))),
        ),
        (
            "hidden_size not scalar",
            proto_with("hidden_size", Some(npy_bytes_i64(&[2], &[64, 64]))),
        ),
        (
            "min >= max",
            proto_with("min_bits", Some(npy_bytes_f64(&[], &[0.95]))),
        ),
        (
            "max NaN",
            proto_with("max_bits", Some(npy_bytes_f64(&[], &[f64::NAN]))),
        ),
        (
            "b2 Inf",
            proto_with("b2", Some(npy_bytes_f64(&[1], &[f64::INFINITY]))),
        ),
        (
            "W2 as int",
            proto_with("W2", Some(npy_bytes_i64(&[64, 1], &[0; 64]))),
        ),
        (
            "member not npy",
            proto_with("b1", Some(b"\x93NUMPY garbage".to_vec())),
        ),
    ];
    for (what, bytes) in cases {
        let e = Predictor::from_npz_bytes(&bytes).expect_err(what);
        assert_eq!(e.kind(), ErrorKind::InvalidModel, "{what}: {e}");
    }
    // Future model versions and half a normalisation are refused.
    let p = Predictor::new(4, 0.2, 0.9, 0.001, 1).unwrap();
    let owned: Vec<(String, Vec<u8>)> = alcm::read_npz(&p.to_npz_bytes())
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k != "alcm_model_version")
        .map(|(k, a)| {
            let b = match &a.data {
                NpyData::I64(v) => npy_bytes_i64(&a.shape, v),
                _ => npy_bytes_f64(&a.shape, &a.to_f64()),
            };
            (k, b)
        })
        .collect();
    let mut entries: Vec<(&str, Vec<u8>)> =
        owned.iter().map(|(k, b)| (k.as_str(), b.clone())).collect();
    entries.push(("alcm_model_version", npy_bytes_i64(&[], &[2])));
    let e = Predictor::from_npz_bytes(&npz_bytes(&entries)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidModel);
    entries.pop();
    entries.push(("norm_mean", npy_bytes_f64(&[6], &[0.0; 6])));
    let e = Predictor::from_npz_bytes(&npz_bytes(&entries)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidModel);
    // Every truncation of a valid file fails cleanly.
    let bytes = p.to_npz_bytes();
    for n in (0..bytes.len()).step_by(13) {
        assert_eq!(
            Predictor::from_npz_bytes(&bytes[..n]).unwrap_err().kind(),
            ErrorKind::InvalidModel
        );
    }
    let e = Predictor::load(&fixture("does_not_exist.npz")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
}
