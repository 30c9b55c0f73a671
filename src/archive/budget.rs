//! One error budget for a whole model: per-tensor relative-L2 bounds chosen so that the
//! whole state dict's relative L2 error `‖X − X̂‖ / ‖X‖` (all its float tensors as one vector,
//! each in its own type: float32, or bfloat16 / float16 / float64 through
//! [`BudgetTensor::stored`])
//! stays within ε, or the archive within a byte budget, at the smallest size (or error).
//!
//! Four ways to choose, compared by `bench/archive_bench.py`:
//! - [`BudgetMethod::Uniform`]: every tensor gets ε (meets the budget trivially).
//! - [`BudgetMethod::ClosedForm`]: equal slope of the high-rate rate–distortion curves. A
//!   tensor of n values quantized with step Δ costs about n·log2(σ/Δ) bits for a squared error
//!   n·Δ²/12, so dR/dD = −n/(2D ln 2) and equal slopes mean equal Δ in every tensor: bound
//!   b_i = ε · rms(X) / rms(x_i), which spends exactly ε²‖X‖² in total (capped at 0.5).
//! - [`BudgetMethod::Predictor`]: the same Lagrangian choice as the search, on curves
//!   predicted from each tensor's statistics by [`CurveModel`] instead of measured: one
//!   statistics pass per tensor, no trial compression. The error each choice counts is the
//!   bound's (b²‖x‖²), so the budget holds on the decoded values.
//! - [`BudgetMethod::Search`]: each tensor's real curve, measured by writing it at 9 bounds
//!   from half to twice its closed-form one (and lossless), then a Lagrangian choice on the convex hulls
//!   with λ found by bisection. The sizes and errors are the archive's own (same blocks, same
//!   bytes), so the budget holds for the recorded errors exactly.

use super::dtype::Dtype;
use super::index::{Bound, EntryInfo};
use super::predict::CurveModel;
use super::writer::{ArchiveOptions, ArchiveWriter};
use crate::error::{Error, Result};
use crate::format::dtype::value_f64;
use crate::learn::stats::tensor_stats;

/// How [`plan_rel_l2`] chooses the per-tensor bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetMethod {
    /// Every tensor gets ε.
    Uniform,
    /// Equal slope under the high-rate model: b_i = ε · rms(X) / rms(x_i).
    ClosedForm,
    /// Measured curves, Lagrangian choice.
    Search,
    /// Curves predicted from each tensor's statistics ([`CurveModel::FITTED`]), Lagrangian
    /// choice on them: no trial compression. The budget holds by the bounds themselves.
    Predictor,
}

/// One float32 tensor of the model to plan for.
#[derive(Debug, Clone, Copy)]
pub struct BudgetTensor<'a> {
    /// Name (for messages).
    pub name: &'a str,
    /// Values, C order.
    pub data: &'a [f32],
    /// Shape.
    pub shape: &'a [usize],
    /// A bound that is not the planner's to choose (e.g. lossless by an override). Its error
    /// still counts against the budget (0 for lossless; the bound itself for the others).
    pub fixed: Option<Bound>,
    /// A tensor stored as bfloat16, float16 or float64: its type and little-endian bytes,
    /// `data` then holding its values as float32 (exactly for the half types, rounded for
    /// float64) for the statistics. Norms, errors and the search's trial archives use these
    /// bytes, so the budget counts each tensor in its own type. `None`: a float32 tensor.
    pub stored: Option<(Dtype, &'a [u8])>,
}

impl BudgetTensor<'_> {
    /// Writes the tensor into `w` with `bound` in its own type.
    fn write<'w>(&self, w: &'w mut ArchiveWriter<Vec<u8>>, bound: Bound) -> Result<&'w EntryInfo> {
        match self.stored {
            Some((dtype, bytes)) => w.add_typed(self.name, dtype, self.shape, bytes, bound),
            None => w.add_f32(self.name, self.data, self.shape, bound),
        }
    }

    /// ‖x‖² over the finite values, in the tensor's own type.
    fn norm2(&self) -> f64 {
        match self.stored.and_then(|(d, b)| Some((d.element_type()?, b))) {
            Some((element, bytes)) => (0..bytes.len() / element.width())
                .map(|i| value_f64(bytes, element, i))
                .filter(|v| v.is_finite())
                .map(|v| v * v)
                .sum(),
            None => norm2(self.data),
        }
    }
}

/// Checks each typed tensor's bytes against its values.
fn check_stored(tensors: &[BudgetTensor]) -> Result<()> {
    for t in tensors {
        if let Some((dtype, bytes)) = t.stored {
            if !dtype.is_coded() || bytes.len() != t.data.len() * dtype.size() {
                return Err(Error::invalid_argument(format!(
                    "{}: {dtype:?} bytes of {} values expected, got {} bytes",
                    t.name,
                    t.data.len(),
                    bytes.len()
                )));
            }
        }
    }
    Ok(())
}

/// Largest relative bound the planner gives a tensor.
const MAX_BOUND: f64 = 0.5;

fn norm2(x: &[f32]) -> f64 {
    x.iter()
        .filter(|v| v.is_finite())
        .map(|&v| v as f64 * v as f64)
        .sum()
}

/// The squared error a fixed bound may spend (max-abs e: at most n·e²).
fn fixed_d(t: &BudgetTensor, n2: f64) -> f64 {
    match t.fixed {
        Some(Bound::RelativeL2(e)) => e * e * n2,
        Some(Bound::MaxAbs(e)) => e * e * t.data.len() as f64,
        _ => 0.0,
    }
}

/// Per-tensor bounds (one per tensor of `tensors`, in order) keeping the model's relative L2
/// error within `eps`.
pub fn plan_rel_l2(
    tensors: &[BudgetTensor],
    eps: f64,
    method: BudgetMethod,
    options: &ArchiveOptions,
) -> Result<Vec<Bound>> {
    if !(eps > 0.0 && eps < 1.0) {
        return Err(Error::invalid_argument(format!(
            "the model budget must be in (0, 1), got {eps}"
        )));
    }
    check_stored(tensors)?;
    let n2: Vec<f64> = tensors.iter().map(|t| t.norm2()).collect();
    let total2: f64 = n2.iter().sum();
    let budget = eps * eps * total2
        - tensors
            .iter()
            .zip(&n2)
            .map(|(t, &n)| fixed_d(t, n))
            .sum::<f64>();
    if budget < 0.0 {
        return Err(Error::invalid_argument(
            "the fixed per-tensor bounds alone exceed the model budget",
        ));
    }
    let free: Vec<usize> = (0..tensors.len())
        .filter(|&i| tensors[i].fixed.is_none() && n2[i] > 0.0)
        .collect();
    let mut bounds: Vec<Bound> = tensors
        .iter()
        .map(|t| t.fixed.unwrap_or(Bound::RelativeL2(eps)))
        .collect();
    if method == BudgetMethod::Uniform {
        return Ok(bounds);
    }
    let closed = closed_form(
        &free
            .iter()
            .map(|&i| (n2[i], tensors[i].data.len() as f64))
            .collect::<Vec<_>>(),
        budget,
    );
    for (&i, &b) in free.iter().zip(&closed) {
        bounds[i] = Bound::RelativeL2(b);
    }
    if method == BudgetMethod::ClosedForm {
        return Ok(bounds);
    }
    if method == BudgetMethod::Predictor {
        let curves: Vec<_> = free
            .iter()
            .map(|&i| predicted_curve(&tensors[i], n2[i]))
            .collect();
        if let Some(choice) = equal_slope(&curves, budget) {
            for ((&i, c), k) in free.iter().zip(&curves).zip(choice) {
                bounds[i] = c[k].0;
            }
        }
        // Else even the tightest bounds miss: the closed form (which meets it) stays.
        return Ok(bounds);
    }
    let curves = free
        .iter()
        .zip(&closed)
        .map(|(&i, &b)| curve(&tensors[i], n2[i], b, options))
        .collect::<Result<Vec<_>>>()?;
    // If even the most accurate points miss, the closed form (which meets it) stays.
    if let Some(choice) = equal_slope(&curves, budget) {
        for ((&i, c), k) in free.iter().zip(&curves).zip(choice) {
            bounds[i] = c[k].0;
        }
    }
    Ok(bounds)
}

/// The points (one per curve) at the smallest λ (least weight on error, so the smallest
/// sizes) whose choice spends at most `budget` squared error; `None` if even the most
/// accurate points spend more.
fn equal_slope(curves: &[Vec<(Bound, f64, f64)>], budget: f64) -> Option<Vec<usize>> {
    let pick = |lambda: f64| pick_points(curves, lambda);
    let spent = |choice: &[usize]| -> f64 { curves.iter().zip(choice).map(|(c, &k)| c[k].2).sum() };
    let (mut lo, mut hi) = (-60f64, 60f64); // log2 λ, per byte of squared error over bytes
    let scale = curves
        .iter()
        .flat_map(|c| c.iter().map(|p| p.1))
        .fold(0f64, f64::max)
        .max(1.0)
        / budget.max(f64::MIN_POSITIVE);
    if spent(&pick(scale * 2f64.powf(hi))) > budget {
        return None;
    }
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if spent(&pick(scale * 2f64.powf(mid))) <= budget {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(pick(scale * 2f64.powf(hi)))
}

/// (bound, predicted bytes, the bound's squared error b²‖x‖²) at 8 bounds per octave from
/// 1e-6 to [`MAX_BOUND`]: the error counted is the guarantee, so the choice meets the budget
/// whatever the prediction's error.
fn predicted_curve(t: &BudgetTensor, n2: f64) -> Vec<(Bound, f64, f64)> {
    let s = tensor_stats(t.data);
    let model = CurveModel::FITTED;
    let steps = (8.0 * (MAX_BOUND / 1e-6).log2()).ceil() as i32;
    (0..=steps)
        .map(|k| (1e-6 * 2f64.powf(k as f64 / 8.0)).min(MAX_BOUND))
        .map(|b| {
            (
                Bound::RelativeL2(b),
                model.bytes(&s, t.shape, b),
                b * b * n2,
            )
        })
        .collect()
}

/// Equal-Δ bounds b_i ∝ 1/rms_i spending `budget` squared error over tensors `(‖x‖², n)`,
/// with any bound above [`MAX_BOUND`] capped and the rest re-spread.
fn closed_form(t: &[(f64, f64)], budget: f64) -> Vec<f64> {
    let mut capped = vec![false; t.len()];
    loop {
        let left = budget
            - t.iter()
                .zip(&capped)
                .filter(|(_, &c)| c)
                .map(|(x, _)| MAX_BOUND * MAX_BOUND * x.0)
                .sum::<f64>();
        let n: f64 = t
            .iter()
            .zip(&capped)
            .filter(|(_, &c)| !c)
            .map(|(x, _)| x.1)
            .sum();
        // Equal per-value squared error λ: D_i = λ n_i, b_i² = λ n_i / ‖x_i‖².
        let lambda = (left / n.max(1.0)).max(0.0);
        let b: Vec<f64> = t
            .iter()
            .zip(&capped)
            .map(|(x, &c)| {
                if c {
                    MAX_BOUND
                } else {
                    (lambda * x.1 / x.0).sqrt()
                }
            })
            .collect();
        let over: Vec<usize> = (0..t.len())
            .filter(|&i| !capped[i] && b[i] > MAX_BOUND)
            .collect();
        if over.is_empty() {
            // A bound must be positive and below 1; float noise aside it is.
            return b.into_iter().map(|v| v.clamp(1e-7, MAX_BOUND)).collect();
        }
        for i in over {
            capped[i] = true;
        }
    }
}

/// Per curve, the index of the point minimising size + `lambda` · error (the equal-slope choice
/// for the Lagrange multiplier `lambda`).
fn pick_points(curves: &[Vec<(Bound, f64, f64)>], lambda: f64) -> Vec<usize> {
    curves
        .iter()
        .map(|c| {
            (0..c.len())
                .min_by(|&a, &b| (c[a].1 + lambda * c[a].2).total_cmp(&(c[b].1 + lambda * c[b].2)))
                .unwrap_or(0)
        })
        .collect()
}

/// (bound, stored bytes, recorded squared error) at 9 bounds from b0/2 to 2·b0, and lossless.
fn curve(
    t: &BudgetTensor,
    n2: f64,
    b0: f64,
    options: &ArchiveOptions,
) -> Result<Vec<(Bound, f64, f64)>> {
    points(
        t,
        n2,
        (-4..=4).map(|k| b0 * 2f64.powf(k as f64 / 4.0)),
        options,
    )
}

/// The measured points of `bounds` (clamped to (0, 0.5]) and of lossless.
fn points(
    t: &BudgetTensor,
    n2: f64,
    bounds: impl Iterator<Item = f64>,
    options: &ArchiveOptions,
) -> Result<Vec<(Bound, f64, f64)>> {
    let mut pts = Vec::new();
    for bound in bounds
        .map(|b| Bound::RelativeL2(b.clamp(1e-7, MAX_BOUND)))
        .chain([Bound::Lossless])
    {
        let mut w = ArchiveWriter::new(Vec::new(), options.clone())?;
        let e = t.write(&mut w, bound)?;
        pts.push((bound, e.stored_bytes() as f64, e.achieved * e.achieved * n2));
    }
    Ok(pts)
}

/// Per-tensor bounds keeping the tensors' stored bytes within `max_bytes` at the smallest
/// model error, from the measured curves (Lagrangian choice; λ by bisection). `fixed` tensors
/// are written as fixed and their size counts. Errors if even the loosest bounds do not fit.
pub fn plan_bytes(
    tensors: &[BudgetTensor],
    max_bytes: u64,
    options: &ArchiveOptions,
) -> Result<Vec<Bound>> {
    check_stored(tensors)?;
    let mut fixed_bytes = 0f64;
    let mut curves = Vec::with_capacity(tensors.len());
    for t in tensors {
        let n2 = t.norm2();
        match t.fixed {
            Some(b) => {
                let mut w = ArchiveWriter::new(Vec::new(), options.clone())?;
                fixed_bytes += t.write(&mut w, b)?.stored_bytes() as f64;
                curves.push(Vec::new());
            }
            None => curves.push(curve_wide(t, n2, options)?),
        }
    }
    let room = max_bytes as f64 - fixed_bytes;
    let pick = |lambda: f64| pick_points(&curves, lambda);
    let size = |choice: &[usize]| -> f64 {
        curves
            .iter()
            .zip(choice)
            .filter(|(c, _)| !c.is_empty())
            .map(|(c, &k)| c[k].1)
            .sum()
    };
    let total2: f64 = tensors
        .iter()
        .map(|t| t.norm2())
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    // λ in bytes per unit of relative squared error: large λ buys accuracy.
    let (mut lo, mut hi) = (-40f64, 80f64);
    if size(&pick(2f64.powf(lo) / total2)) > room {
        return Err(Error::invalid_argument(format!(
            "the tensors need more than {max_bytes} bytes even at the loosest bounds"
        )));
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if size(&pick(2f64.powf(mid) / total2)) <= room {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let choice = pick(2f64.powf(lo) / total2);
    Ok(tensors
        .iter()
        .zip(&curves)
        .zip(choice)
        .map(|((t, c), k)| t.fixed.unwrap_or_else(|| c[k].0))
        .collect())
}

/// 1e-4 to 0.4 spaced by 2, and lossless.
fn curve_wide(
    t: &BudgetTensor,
    n2: f64,
    options: &ArchiveOptions,
) -> Result<Vec<(Bound, f64, f64)>> {
    points(t, n2, (0..=12).map(|k| 1e-4 * 2f64.powi(k)), options)
}
