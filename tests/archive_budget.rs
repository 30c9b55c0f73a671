//! Model-level budgets (src/archive/budget.rs) on the real tensors of tests/data: the whole
//! model's relative L2 error, computed here from the decoded tensors, stays within the budget,
//! and spending it at equal slope beats one uniform bound.

#[path = "common/data.rs"]
mod data;

use std::io::Cursor;

use alcm::archive::{
    plan_bytes, plan_rel_l2, ArchiveOptions, ArchiveReader, ArchiveWriter, Bound, BudgetMethod,
    BudgetTensor, ReadOptions,
};

fn model() -> Vec<(String, Vec<f32>, Vec<usize>)> {
    // Every third shipped tensor: gradients, optimizer state, weights and biases mixed.
    data::data_files()
        .iter()
        .step_by(3)
        .map(|p| {
            let (v, s) = alcm::read_npy_f32(p).unwrap();
            (p.file_stem().unwrap().to_string_lossy().into_owned(), v, s)
        })
        .collect()
}

fn budget_tensors(m: &[(String, Vec<f32>, Vec<usize>)]) -> Vec<BudgetTensor<'_>> {
    m.iter()
        .map(|(n, v, s)| BudgetTensor {
            name: n,
            data: v,
            shape: s,
            fixed: n.contains("bias").then_some(Bound::Lossless),
            stored: None,
        })
        .collect()
}

/// (archive bytes, model relative L2 measured on the decoded tensors).
fn write_and_measure(m: &[(String, Vec<f32>, Vec<usize>)], bounds: &[Bound]) -> (usize, f64) {
    let mut w = ArchiveWriter::new(Vec::new(), ArchiveOptions::default()).unwrap();
    for ((n, v, s), b) in m.iter().zip(bounds) {
        w.add_f32(n, v, s, *b).unwrap();
    }
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
    (bytes.len(), (e2 / x2).sqrt())
}

#[test]
fn closed_form_bounds_follow_one_over_rms_and_spend_the_budget_exactly() {
    // Two tensors of 1000 values, rms 1 and 2: b ∝ 1/rms, and Σ b_i²‖x_i‖² = ε²‖X‖².
    let a = vec![1.0f32; 1000];
    let b: Vec<f32> = (0..1000)
        .map(|i| if i % 2 == 0 { 2.0 } else { -2.0 })
        .collect();
    let t = [
        BudgetTensor {
            name: "a",
            data: &a,
            shape: &[1000],
            fixed: None,
            stored: None,
        },
        BudgetTensor {
            name: "b",
            data: &b,
            shape: &[1000],
            fixed: None,
            stored: None,
        },
    ];
    let eps = 1e-2;
    let bounds = plan_rel_l2(
        &t,
        eps,
        BudgetMethod::ClosedForm,
        &ArchiveOptions::default(),
    )
    .unwrap();
    let (Bound::RelativeL2(ba), Bound::RelativeL2(bb)) = (bounds[0], bounds[1]) else {
        panic!("{bounds:?}")
    };
    // rms(X) = sqrt((1 + 4) / 2); b_a = ε·rms(X)/1, b_b = ε·rms(X)/2.
    let rms = (2.5f64).sqrt();
    assert!(
        (ba - eps * rms).abs() < 1e-12 && (bb - eps * rms / 2.0).abs() < 1e-12,
        "{ba} {bb}"
    );
    let spent = ba * ba * 1000.0 + bb * bb * 4000.0;
    assert!((spent - eps * eps * 5000.0).abs() < 1e-9);
    assert!(plan_rel_l2(
        &t,
        1.5,
        BudgetMethod::ClosedForm,
        &ArchiveOptions::default()
    )
    .is_err());
}

#[test]
fn a_model_budget_is_met_and_beats_a_uniform_bound() {
    let m = model();
    let bt = budget_tensors(&m);
    let eps = 1e-3;
    let opts = ArchiveOptions::default();
    let uniform = plan_rel_l2(&bt, eps, BudgetMethod::Uniform, &opts).unwrap();
    let (u_size, u_err) = write_and_measure(&m, &uniform);
    assert!(u_err <= eps);
    // The same total error as the uniform run reached, spent at equal slope.
    let mut sizes = Vec::new();
    for method in [
        BudgetMethod::ClosedForm,
        BudgetMethod::Search,
        BudgetMethod::Predictor,
    ] {
        let bounds = plan_rel_l2(&bt, u_err, method, &opts).unwrap();
        for (b, t) in bounds.iter().zip(&bt) {
            if t.fixed.is_some() {
                assert_eq!(*b, Bound::Lossless);
            }
        }
        let (size, err) = write_and_measure(&m, &bounds);
        println!(
            "{method:?}: {size} bytes, error {err:.4e}; uniform {u_size} bytes, error {u_err:.4e}"
        );
        assert!(err <= u_err * (1.0 + 1e-9), "{method:?}: {err} > {u_err}");
        sizes.push(size);
    }
    assert!(
        (sizes[0] as f64) < 0.9 * u_size as f64,
        "closed form {} vs uniform {u_size}",
        sizes[0]
    );
    assert!(
        (sizes[1] as f64) < 0.9 * u_size as f64,
        "search {} vs uniform {u_size}",
        sizes[1]
    );
    assert!(
        (sizes[2] as f64) < 0.9 * u_size as f64,
        "predictor {} vs uniform {u_size}",
        sizes[2]
    );
}

#[test]
fn the_predictor_meets_tight_and_loose_budgets_and_spends_more_where_values_are_larger() {
    // Bounds chosen on predicted curves: the budget holds on the decoded values whatever the
    // prediction's error, at budgets from tight to loose.
    let m: Vec<_> = model().into_iter().filter(|t| t.1.len() >= 1000).collect();
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
    let mut last = usize::MAX;
    for eps in [1e-4, 1e-3, 1e-2, 1e-1] {
        let bounds = plan_rel_l2(&bt, eps, BudgetMethod::Predictor, &opts).unwrap();
        let (size, err) = write_and_measure(&m, &bounds);
        assert!(err <= eps, "{eps}: {err}");
        // A looser budget never costs more bytes.
        assert!(size <= last, "{eps}: {size} > {last}");
        last = size;
        // Equal slope: a tensor of small RMS gets a looser relative bound than one of a large
        // RMS (the same absolute error costs it fewer bits), as in the closed form.
        let rms = |v: &[f32]| {
            (v.iter().map(|&x| x as f64 * x as f64).sum::<f64>() / v.len() as f64).sqrt()
        };
        let (lo, hi) = (0..m.len()).fold((0, 0), |(lo, hi), i| {
            (
                if rms(&m[i].1) < rms(&m[lo].1) { i } else { lo },
                if rms(&m[i].1) > rms(&m[hi].1) { i } else { hi },
            )
        });
        assert!(
            bounds[lo].target() > bounds[hi].target(),
            "{eps}: {:?} vs {:?}",
            bounds[lo],
            bounds[hi]
        );
    }
}

#[test]
fn a_byte_budget_is_met_and_more_bytes_give_less_error() {
    let m: Vec<_> = model()
        .into_iter()
        .filter(|t| t.1.len() <= 20_000)
        .take(4)
        .collect();
    let bt = budget_tensors(&m);
    let raw: usize = m.iter().map(|t| 4 * t.1.len()).sum();
    let mut last = f64::INFINITY;
    for frac in [0.08, 0.2] {
        let max = (raw as f64 * frac) as u64;
        let bounds = plan_bytes(&bt, max, &ArchiveOptions::default()).unwrap();
        let mut w = ArchiveWriter::new(Vec::new(), ArchiveOptions::default()).unwrap();
        let mut data = 0;
        for ((n, v, s), b) in m.iter().zip(&bounds) {
            data += w.add_f32(n, v, s, *b).unwrap().stored_bytes();
        }
        assert!(data <= max, "{data} > {max}");
        let (_, err) = write_and_measure(&m, &bounds);
        assert!(err < last, "{frac}: {err} !< {last}");
        last = err;
    }
    assert!(plan_bytes(&bt, 10, &ArchiveOptions::default()).is_err());
}

#[test]
fn typed_tensors_count_in_their_own_type() {
    // A float32 and a bfloat16 tensor (its values exactly representable in float32): every
    // method meets the budget on the decoded bfloat16 values, measured here from the bits.
    let m = model();
    let (a, sa) = (&m[0].1, &m[0].2);
    let (b, sb) = (&m[1].1, &m[1].2);
    let bf: Vec<u8> = b
        .iter()
        .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
        .collect();
    let bv: Vec<f32> = b
        .iter()
        .map(|v| f32::from_bits(v.to_bits() & 0xFFFF_0000))
        .collect();
    let bt = [
        BudgetTensor {
            name: "a",
            data: a,
            shape: sa,
            fixed: None,
            stored: None,
        },
        BudgetTensor {
            name: "b",
            data: &bv,
            shape: sb,
            fixed: None,
            stored: Some((alcm::archive::Dtype::BF16, &bf)),
        },
    ];
    let eps = 1e-2;
    let opts = ArchiveOptions::default();
    for method in [
        BudgetMethod::ClosedForm,
        BudgetMethod::Predictor,
        BudgetMethod::Search,
    ] {
        let bounds = plan_rel_l2(&bt, eps, method, &opts).unwrap();
        let mut w = ArchiveWriter::new(Vec::new(), opts.clone()).unwrap();
        w.add_f32("a", a, sa, bounds[0]).unwrap();
        w.add_typed("b", alcm::archive::Dtype::BF16, sb, &bf, bounds[1])
            .unwrap();
        let bytes = w.finish().unwrap();
        let mut r = ArchiveReader::new(Cursor::new(&bytes), ReadOptions::default()).unwrap();
        let ya = r.read_f32("a").unwrap();
        let yb: Vec<f64> = r
            .read_bytes("b")
            .unwrap()
            .chunks(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64)
            .collect();
        let mut e2: f64 = a
            .iter()
            .zip(&ya)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum();
        e2 += bv
            .iter()
            .zip(&yb)
            .map(|(x, y)| (*x as f64 - y).powi(2))
            .sum::<f64>();
        let n2: f64 = a.iter().chain(&bv).map(|&x| x as f64 * x as f64).sum();
        assert!((e2 / n2).sqrt() <= eps, "{method:?}: {}", (e2 / n2).sqrt());
    }
    // Bytes that do not match the values are refused.
    let mut bad = bt;
    bad[1].stored = Some((alcm::archive::Dtype::BF16, &bf[..2]));
    assert!(plan_rel_l2(&bad, eps, BudgetMethod::ClosedForm, &opts).is_err());
    assert!(plan_bytes(&bad, 1 << 20, &opts).is_err());
}
