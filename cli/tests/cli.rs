//! The `alcm` binary and its library on a real model file: a .safetensors assembled from the
//! shipped tensors of tests/data (plus an int64 and a bfloat16 tensor), round tripped in every
//! mode, and one of bfloat16, float16 and float64 tensors made from them. Errors are checked
//! against values computed here from the inputs (half types decoded here from their layouts).

use std::path::{Path, PathBuf};
use std::process::Command;

use alcm::archive::Bound;
use alcm_cli::files::{self, Kind};
use alcm_cli::policy::Policy;
use safetensors::tensor::TensorView;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

/// (name, f32 values, shape) of every shipped tensor.
fn shipped() -> Vec<(String, Vec<f32>, Vec<usize>)> {
    let mut out = Vec::new();
    for sub in ["weights", "gradients"] {
        let mut paths: Vec<_> = std::fs::read_dir(data_dir().join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for p in paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        {
            let (v, s) = alcm::read_npy_f32(&p).unwrap();
            out.push((
                format!("{sub}.{}", p.file_stem().unwrap().to_string_lossy()),
                v,
                s,
            ));
        }
    }
    out
}

/// A safetensors model file of the shipped tensors, with header metadata.
fn model_file(dir: &Path) -> PathBuf {
    let ts = shipped();
    let bytes: Vec<(String, Vec<u8>, Vec<usize>, safetensors::Dtype)> = ts
        .iter()
        .map(|(n, v, s)| {
            (
                n.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                s.clone(),
                safetensors::Dtype::F32,
            )
        })
        .chain([
            (
                "step".to_string(),
                2000i64.to_le_bytes().to_vec(),
                vec![],
                safetensors::Dtype::I64,
            ),
            (
                "half.scale".to_string(),
                vec![0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40],
                vec![3],
                safetensors::Dtype::BF16,
            ),
        ])
        .collect();
    let views: Vec<_> = bytes
        .iter()
        .map(|(n, b, s, d)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta = Some(
        [("format".to_string(), "pt".to_string())]
            .into_iter()
            .collect(),
    );
    let path = dir.join("model.safetensors");
    std::fs::write(&path, safetensors::serialize(views, &meta).unwrap()).unwrap();
    path
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("alcm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn alcm(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_alcm"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn l2(a: impl Iterator<Item = f64>) -> f64 {
    a.map(|v| v * v).sum::<f64>().sqrt()
}

/// Checks `out` (a decompressed safetensors file) against the input model for `bound`.
fn check_against(input: &Path, out: &Path, bound: Bound, lossless_names: &str) {
    let a = std::fs::read(input).unwrap();
    let b = std::fs::read(out).unwrap();
    let (sa, sb) = (
        safetensors::SafeTensors::deserialize(&a).unwrap(),
        safetensors::SafeTensors::deserialize(&b).unwrap(),
    );
    // Same header bytes: names, shapes, dtypes, offsets and metadata.
    let n = u64::from_le_bytes(a[..8].try_into().unwrap()) as usize;
    assert_eq!(a[..8 + n], b[..8 + n]);
    for (name, va) in sa.tensors() {
        let vb = sb.tensor(&name).unwrap();
        if va.dtype() != safetensors::Dtype::F32 || name.contains(lossless_names) {
            assert_eq!(va.data(), vb.data(), "{name}");
            continue;
        }
        let x: Vec<f64> = va
            .data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect();
        let y: Vec<f64> = vb
            .data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect();
        match bound {
            Bound::Lossless => assert_eq!(va.data(), vb.data(), "{name}"),
            Bound::RelativeL2(e) => {
                let err = l2(x.iter().zip(&y).map(|(p, q)| p - q));
                assert!(err <= e * l2(x.iter().copied()), "{name}");
            }
            Bound::MaxAbs(e) => {
                assert!(x.iter().zip(&y).all(|(p, q)| (p - q).abs() <= e), "{name}")
            }
        }
    }
}

#[test]
fn cli_round_trips_a_model_in_every_mode() {
    let d = tmp("modes");
    let model = model_file(&d);
    let raw_len = std::fs::metadata(&model).unwrap().len();
    for (flags, bound, lossless_names) in [
        (vec!["--lossless"], Bound::Lossless, "\0"),
        (vec!["--rel-l2", "1e-3"], Bound::RelativeL2(1e-3), "\0"),
        (
            vec!["--rel-l2", "1e-2", "--override", "*bias*=lossless"],
            Bound::RelativeL2(1e-2),
            "bias",
        ),
        (
            vec!["--max-abs", "1e-4", "--threads", "2"],
            Bound::MaxAbs(1e-4),
            "\0",
        ),
    ] {
        let arc = d.join("m.alcm");
        let back = d.join("back.safetensors");
        let mut args = vec!["compress", s(&model), "-o", s(&arc), "--force"];
        args.extend(flags.iter());
        let (ok, out, err) = alcm(&args);
        assert!(ok, "{flags:?}: {err}");
        assert!(out.contains("tensors"), "{out}");
        let arc_len = std::fs::metadata(&arc).unwrap().len();
        assert!(arc_len < raw_len, "{flags:?}: {arc_len} >= {raw_len}");
        let (ok, out, err) = alcm(&["verify", s(&arc)]);
        assert!(ok && out.contains("OK"), "{err}");
        let (ok, out, _) = alcm(&["info", s(&arc)]);
        assert!(ok);
        assert!(
            out.contains("weights.minilm_embeddings.LayerNorm.weight")
                && out.contains("BF16")
                && out.contains("I64")
        );
        let (ok, _, err) = alcm(&["decompress", s(&arc), "-o", s(&back), "--force"]);
        assert!(ok, "{err}");
        if bound == Bound::Lossless {
            assert_eq!(
                std::fs::read(&model).unwrap(),
                std::fs::read(&back).unwrap(),
                "lossless is byte-identical"
            );
        }
        check_against(&model, &back, bound, lossless_names);
    }
}

#[test]
fn npz_and_npy_in_and_out() {
    let d = tmp("npz");
    let model = model_file(&d);
    let arc = d.join("m.alcm");
    assert!(alcm(&["compress", s(&model), "-o", s(&arc), "--lossless"]).0);
    // The bfloat16 tensor has no numpy type: a clear error.
    let (ok, _, err) = alcm(&["decompress", s(&arc), "-o", s(&d.join("m.npz"))]);
    assert!(
        !ok && err.contains("numpy has no") && err.lines().count() == 1,
        "{err}"
    );
    // An npz of the shipped fixtures (float32, float64, int64, ...) goes in and out unchanged.
    let npz = data_dir().join("fixtures/savez_stored.npz");
    let arc2 = d.join("n.alcm");
    let out = d.join("n.npz");
    assert!(alcm(&["compress", s(&npz), "-o", s(&arc2), "--lossless"]).0);
    assert!(alcm(&["decompress", s(&arc2), "-o", s(&out)]).0);
    assert_eq!(
        alcm::read_npz_file(&npz).unwrap(),
        alcm::read_npz_file(&out).unwrap()
    );
    // One .npy, lossy, back to .npy.
    let npy = data_dir().join("gradients/grad_step00100_fc1.weight.npy");
    let (arc3, out3) = (d.join("g.alcm"), d.join("g.npy"));
    assert!(alcm(&["compress", s(&npy), "-o", s(&arc3), "--max-abs", "1e-5"]).0);
    assert!(alcm(&["decompress", s(&arc3), "-o", s(&out3)]).0);
    let (x, sx) = alcm::read_npy_f32(&npy).unwrap();
    let (y, sy) = alcm::read_npy_f32(&out3).unwrap();
    assert_eq!(sx, sy);
    assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() <= 1e-5));
}

#[test]
fn bad_input_and_flags_give_one_line_errors_and_nothing_is_overwritten() {
    let d = tmp("errors");
    let model = model_file(&d);
    let arc = d.join("m.alcm");
    assert!(alcm(&["compress", s(&model), "-o", s(&arc)]).0);
    let before = std::fs::read(&arc).unwrap();
    // Existing output without --force.
    let (ok, _, err) = alcm(&["compress", s(&model), "-o", s(&arc), "--lossless"]);
    assert!(
        !ok && err.contains("--force") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(std::fs::read(&arc).unwrap(), before);
    // A corrupted archive: verify and decompress fail, one line each.
    let mut bad = before.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    let badp = d.join("bad.alcm");
    std::fs::write(&badp, &bad).unwrap();
    for args in [
        vec!["verify", s(&badp)],
        vec![
            "decompress",
            s(&badp),
            "-o",
            "/nonexistent-dir/x.safetensors",
        ],
    ] {
        let (ok, _, err) = alcm(&args);
        assert!(
            !ok && err.starts_with("alcm: error:") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    // Not an archive, a missing file, bad flags.
    for args in [
        vec!["info", s(&model)],
        vec!["verify", "/nonexistent/file.alcm"],
        vec!["compress", s(&model), "-o", s(&d.join("x.zip"))],
        vec![
            "compress",
            s(&model),
            "-o",
            s(&d.join("y.alcm")),
            "--rel-l2",
            "1.5",
        ],
        vec![
            "compress",
            s(&model),
            "-o",
            s(&d.join("y.alcm")),
            "--rel-l2",
            "1e-3",
            "--lossless",
        ],
        vec![
            "compress",
            s(&model),
            "-o",
            s(&d.join("y.alcm")),
            "--override",
            "nonsense",
        ],
        vec![
            "compress",
            s(&model),
            "-o",
            s(&d.join("y.alcm")),
            "--threads",
            "0",
        ],
        vec!["frobnicate"],
    ] {
        let (ok, _, err) = alcm(&args);
        assert!(
            !ok && err.lines().count() == 1 && err.starts_with("alcm: "),
            "{args:?}: {err}"
        );
    }
    assert!(!d.join("y.alcm").exists());
    // The archive streams into a temporary file renamed at the end: none is left behind.
    assert_eq!(leftover_temp_files(&d), Vec::<String>::new());
}

/// Names of hidden (temporary) files in `d`.
fn leftover_temp_files(d: &Path) -> Vec<String> {
    std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn library_round_trip_keeps_names_shapes_and_bounds() {
    let d = tmp("lib");
    let model = files::read_model(&model_file(&d)).unwrap();
    let policy = Policy {
        default: Bound::RelativeL2(1e-3),
        overrides: vec![("*LayerNorm*".into(), Bound::Lossless)],
    };
    let arc = files::compress_model(&model, &policy, Default::default(), |_| {}).unwrap();
    let mut r = files::open_archive(&arc, 1).unwrap();
    assert_eq!(r.entries().len(), model.tensors.len());
    for t in &model.tensors {
        let e = r.entry(&t.name).unwrap().clone();
        assert_eq!((e.dtype, &e.shape), (t.dtype, &t.shape));
        // Float types (float32 and the bfloat16 scale) take the bound, the int64 is raw.
        let want = if !t.dtype.is_coded() || t.name.contains("LayerNorm") {
            Bound::Lossless
        } else {
            Bound::RelativeL2(1e-3f32 as f64)
        }; // stored as f32
        assert_eq!(e.bound, want, "{}", t.name);
    }
    let st = files::decompress_archive(&mut r, Kind::Safetensors, |_| {}).unwrap();
    assert_eq!(st[..64], model.bytes[..64]);
    assert_eq!(st.len(), model.bytes.len());
}

#[test]
fn model_budgets_hold_on_the_decoded_model() {
    let d = tmp("budget");
    let model = model_file(&d);
    let (arc, back) = (d.join("b.alcm"), d.join("b.safetensors"));
    let x = std::fs::read(&model).unwrap();
    let f32s = |b: &[u8]| -> Vec<(String, Vec<f64>)> {
        let st = safetensors::SafeTensors::deserialize(b).unwrap();
        let mut v: Vec<_> = st
            .tensors()
            .into_iter()
            // The budget covers every float tensor, each in its own type.
            .filter(|(_, t)| {
                use safetensors::Dtype::*;
                matches!(t.dtype(), F32 | BF16 | F16 | F64)
            })
            .map(|(n, t)| (n, typed_values(t.dtype(), t.data())))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    for (flags, eps) in [
        (
            vec!["--budget-rel-l2", "1e-3", "--budget-method", "closed-form"],
            1e-3,
        ),
        (
            vec!["--budget-rel-l2", "1e-2", "--override", "*bias*=lossless"],
            1e-2,
        ),
        (
            vec!["--budget-rel-l2", "2e-3", "--budget-method", "predictor"],
            2e-3,
        ),
    ] {
        let mut args = vec!["compress", s(&model), "-o", s(&arc), "--force"];
        args.extend(flags.iter());
        let (ok, out, err) = alcm(&args);
        assert!(ok, "{err}");
        assert!(out.contains("model relative L2 error"), "{out}");
        assert!(alcm(&["decompress", s(&arc), "-o", s(&back), "--force"]).0);
        let (a, b) = (f32s(&x), f32s(&std::fs::read(&back).unwrap()));
        let (mut e2, mut n2) = (0f64, 0f64);
        for ((na, va), (nb, vb)) in a.iter().zip(&b) {
            assert_eq!(na, nb);
            if na.contains("bias") && eps == 1e-2 {
                assert_eq!(va, vb, "{na} is lossless by override");
            }
            e2 += va
                .iter()
                .zip(vb)
                .map(|(p, q)| (p - q) * (p - q))
                .sum::<f64>();
            n2 += va.iter().map(|p| p * p).sum::<f64>();
        }
        assert!((e2 / n2).sqrt() <= eps, "{flags:?}: {}", (e2 / n2).sqrt());
    }
    let (ok, _, err) = alcm(&[
        "compress",
        s(&model),
        "-o",
        s(&arc),
        "--force",
        "--budget-bytes",
        "100",
    ]);
    assert!(!ok && err.lines().count() == 1, "{err}");
    let (ok, _, err) = alcm(&[
        "compress",
        s(&model),
        "-o",
        s(&arc),
        "--force",
        "--budget-bytes",
        "60000",
    ]);
    assert!(ok, "{err}");
    assert!(std::fs::metadata(&arc).unwrap().len() <= 60000);
    // The byte budget may write the archive more than once: each try's temporary file is gone.
    assert_eq!(leftover_temp_files(&d), Vec::<String>::new());
}

/// bfloat16 bits are the upper half of a binary32.
fn bf16_value(h: u16) -> f64 {
    f32::from_bits((h as u32) << 16) as f64
}

/// binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
fn f16_value(h: u16) -> f64 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let (e, m) = ((h >> 10) & 31, (h & 1023) as f64);
    match e {
        0 => sign * m * 2f64.powi(-24),
        31 if m == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + m / 1024.0) * 2f64.powi(e as i32 - 15),
    }
}

fn typed_values(d: safetensors::Dtype, b: &[u8]) -> Vec<f64> {
    match d {
        safetensors::Dtype::BF16 => b
            .chunks(2)
            .map(|c| bf16_value(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        safetensors::Dtype::F16 => b
            .chunks(2)
            .map(|c| f16_value(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        safetensors::Dtype::F64 => b
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        _ => b
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
    }
}

/// A safetensors file of shipped tensors converted to bfloat16, float16 and float64.
fn typed_model_file(dir: &Path) -> PathBuf {
    let ts = shipped();
    let mut tensors: Vec<(String, Vec<u8>, Vec<usize>, safetensors::Dtype)> = Vec::new();
    for (k, (n, v, shape)) in ts.iter().enumerate().filter(|(_, t)| t.1.len() >= 100) {
        let (d, b): (_, Vec<u8>) = match k % 3 {
            0 => (
                safetensors::Dtype::BF16,
                v.iter()
                    .flat_map(|&x| alcm::half::bf16::from_f32(x).to_le_bytes())
                    .collect(),
            ),
            1 => (
                safetensors::Dtype::F16,
                v.iter()
                    .flat_map(|&x| alcm::half::f16::from_f32(x).to_le_bytes())
                    .collect(),
            ),
            _ => (
                safetensors::Dtype::F64,
                v.iter()
                    .enumerate()
                    .flat_map(|(i, &x)| (x as f64 * (1.0 + (i % 5) as f64 * 1e-9)).to_le_bytes())
                    .collect(),
            ),
        };
        tensors.push((n.clone(), b, shape.clone(), d));
    }
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, b, s, d)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let path = dir.join("typed.safetensors");
    std::fs::write(&path, safetensors::serialize(views, &None).unwrap()).unwrap();
    path
}

/// Checks decompressed safetensors bytes `b` against the input `a` for `bound`.
fn check_typed(a: &[u8], b: &[u8], bound: Bound) {
    let n = u64::from_le_bytes(a[..8].try_into().unwrap()) as usize;
    assert_eq!(a[..8 + n], b[..8 + n], "same header");
    let (sa, sb) = (
        safetensors::SafeTensors::deserialize(a).unwrap(),
        safetensors::SafeTensors::deserialize(b).unwrap(),
    );
    let mut types = std::collections::HashSet::new();
    for (name, va) in sa.tensors() {
        let vb = sb.tensor(&name).unwrap();
        types.insert(format!("{:?}", va.dtype()));
        let (x, y) = (
            typed_values(va.dtype(), va.data()),
            typed_values(vb.dtype(), vb.data()),
        );
        assert_eq!(x.len(), y.len());
        match bound {
            Bound::Lossless => assert_eq!(va.data(), vb.data(), "{name}"),
            Bound::RelativeL2(e) => {
                let err = l2(x.iter().zip(&y).map(|(p, q)| p - q));
                assert!(err <= e * l2(x.iter().copied()), "{name}: {err}");
            }
            Bound::MaxAbs(e) => {
                assert!(x.iter().zip(&y).all(|(p, q)| (p - q).abs() <= e), "{name}")
            }
        }
    }
    assert_eq!(types.len(), 3, "{types:?}");
}

#[test]
fn half_and_double_models_round_trip_coded_through_cli_and_library() {
    let d = tmp("typed");
    let model = typed_model_file(&d);
    let input = std::fs::read(&model).unwrap();
    for (flags, bound) in [
        (vec!["--lossless"], Bound::Lossless),
        (vec!["--rel-l2", "1e-3"], Bound::RelativeL2(1e-3)),
        (vec!["--max-abs", "1e-4"], Bound::MaxAbs(1e-4)),
    ] {
        let (arc, back) = (d.join("t.alcm"), d.join("t.safetensors"));
        let mut args = vec!["compress", s(&model), "-o", s(&arc), "--force"];
        args.extend(flags.iter());
        let (ok, _, err) = alcm(&args);
        assert!(ok, "{flags:?}: {err}");
        // Coded, not stored raw: the archive is smaller than the file.
        let arc_len = std::fs::metadata(&arc).unwrap().len() as usize;
        assert!(arc_len < input.len(), "{flags:?}: {arc_len}");
        assert!(alcm(&["verify", s(&arc)]).0);
        let (ok, _, err) = alcm(&["decompress", s(&arc), "-o", s(&back), "--force"]);
        assert!(ok, "{err}");
        check_typed(&input, &std::fs::read(&back).unwrap(), bound);
        // The library gives the same archive and the same file back.
        let m = files::read_model(&model).unwrap();
        let policy = Policy {
            default: bound,
            overrides: vec![],
        };
        let lib = files::compress_model(&m, &policy, Default::default(), |_| {}).unwrap();
        assert_eq!(lib, std::fs::read(&arc).unwrap(), "{flags:?}");
        let mut r = files::open_archive(&lib, 1).unwrap();
        // Bounds are stored as f32.
        assert!(r.entries().iter().all(|e| {
            std::mem::discriminant(&e.bound) == std::mem::discriminant(&bound)
                && e.bound.target() as f32 == bound.target() as f32
        }));
        let st = files::decompress_archive(&mut r, Kind::Safetensors, |_| {}).unwrap();
        check_typed(&input, &st, bound);
    }
}

#[test]
fn model_budgets_cover_half_and_double_tensors() {
    // Every tensor of the typed model is bfloat16, float16 or float64: the budget spends its
    // error on them (no tensor left lossless) and holds on the decoded values of each type.
    let d = tmp("typed-budget");
    let model = typed_model_file(&d);
    let input = std::fs::read(&model).unwrap();
    let (arc, back) = (d.join("t.alcm"), d.join("t.safetensors"));
    for method in ["closed-form", "predictor", "search"] {
        let eps = 1e-2;
        let (ok, out, err) = alcm(&[
            "compress",
            s(&model),
            "-o",
            s(&arc),
            "--force",
            "--budget-rel-l2",
            "1e-2",
            "--budget-method",
            method,
        ]);
        assert!(ok, "{method}: {err}");
        assert!(out.contains("model relative L2 error"), "{out}");
        let bytes = std::fs::read(&arc).unwrap();
        let r = files::open_archive(&bytes, 1).unwrap();
        assert!(
            r.entries()
                .iter()
                .all(|e| matches!(e.bound, Bound::RelativeL2(_))),
            "{method}: every float tensor takes part"
        );
        assert!(alcm(&["decompress", s(&arc), "-o", s(&back), "--force"]).0);
        let decoded = std::fs::read(&back).unwrap();
        let (sa, sb) = (
            safetensors::SafeTensors::deserialize(&input).unwrap(),
            safetensors::SafeTensors::deserialize(&decoded).unwrap(),
        );
        let (mut e2, mut n2) = (0f64, 0f64);
        for (name, va) in sa.tensors() {
            let vb = sb.tensor(&name).unwrap();
            let (x, y) = (
                typed_values(va.dtype(), va.data()),
                typed_values(vb.dtype(), vb.data()),
            );
            e2 += x
                .iter()
                .zip(&y)
                .map(|(p, q)| (p - q) * (p - q))
                .sum::<f64>();
            n2 += x.iter().map(|p| p * p).sum::<f64>();
        }
        let model_err = (e2 / n2).sqrt();
        assert!(model_err <= eps, "{method}: {model_err}");
        // The budget is spent, not wasted: the model error is within a factor 4 of it.
        assert!(model_err > eps / 4.0, "{method}: {model_err}");
    }
    assert_eq!(leftover_temp_files(&d), Vec::<String>::new());
}
