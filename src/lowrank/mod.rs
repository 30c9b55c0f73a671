//! Low-rank gradient compression (PowerSGD, Vogels et al. 2019) whose factors travel as alcm
//! frames at a bounded relative L2 error instead of float32, with warm start and error
//! feedback. Transport is the caller's: each step of one `rows x cols` gradient `G` on every
//! rank of `N` is two rounds,
//!
//! 1. [`LowRank::begin`]: `M = G + residual`, `P = M Q` coded as a frame; the caller sums the
//!    `N` decoded P frames (in rank order, so every rank gets the same bits);
//! 2. [`LowRank::after_p`]: orthonormalises that sum into `P̂`, codes `M^T P̂`; the caller sums
//!    the `N` decoded Q frames the same way;
//! 3. [`LowRank::finish`]: `out = scale · P̂ Q^T` (scale `1/N` for the mean), the residual
//!    becomes `M - out`, and the summed `Q` is kept as the next step's start.
//!
//! Low rank pays only for a matrix whose factors are much smaller than it
//! ([`low_rank_pays`]); other tensors (biases, norms, conv kernels) should go through the
//! ordinary modes, and [`LowRank::new`] refuses them.

mod linalg;

use crate::codec::config::{EncoderConfig, Mode};
use crate::codec::encoder::{Compressed, Encoder};
use crate::error::{Error, Result};

/// Settings of a [`LowRank`] compressor. Every rank of a job must use the same.
#[derive(Debug, Clone, PartialEq)]
pub struct LowRankConfig {
    /// Rank of the factors `P` (`rows x rank`) and `Q` (`cols x rank`); at least 1.
    pub rank: usize,
    /// Relative L2 error of each coded factor, in (0, 1).
    pub factor_target: f64,
    /// Low rank is used only when `rows·cols >= min_compression · rank · (rows + cols)`;
    /// at least 1.
    pub min_compression: f64,
    /// Keep the error `M - approximation` and add it to the next gradient.
    pub feedback: bool,
    /// Seed of the starting `Q` (and of columns redrawn when they vanish).
    pub seed: u64,
}

impl Default for LowRankConfig {
    /// Rank 2, factors at relative L2 0.02, `min_compression` 2, feedback on, seed 0.
    fn default() -> Self {
        LowRankConfig {
            rank: 2,
            factor_target: 0.02,
            min_compression: 2.0,
            feedback: true,
            seed: 0,
        }
    }
}

impl LowRankConfig {
    fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(Error::config("rank", "must be at least 1"));
        }
        if !(self.factor_target > 0.0 && self.factor_target < 1.0) {
            return Err(Error::config(
                "factor_target",
                format!("must be in (0, 1), got {}", self.factor_target),
            ));
        }
        if !(self.min_compression.is_finite() && self.min_compression >= 1.0) {
            return Err(Error::config(
                "min_compression",
                format!("must be finite and >= 1, got {}", self.min_compression),
            ));
        }
        Ok(())
    }
}

/// Whether a tensor of `shape` goes low-rank under `config`: 2-D and
/// `rows·cols >= min_compression · rank · (rows + cols)` (the factors are at least
/// `min_compression` times smaller than the matrix).
pub fn low_rank_pays(shape: &[usize], config: &LowRankConfig) -> bool {
    let [rows, cols] = shape else { return false };
    let (r, c, k) = (*rows as f64, *cols as f64, config.rank as f64);
    *rows > 0 && *cols > 0 && r * c >= config.min_compression * k * (r + c)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    SentP,
    SentQ,
}

/// One rank's low-rank state for one matrix: the warm-start `Q`, the residual, and the
/// step in progress. Not shared between threads while in use; may move between threads.
///
/// ```
/// use alcm::lowrank::{LowRank, LowRankConfig};
/// // One rank (N = 1) and a rank-1 matrix: recovered up to the factors' coding error.
/// let (rows, cols) = (32, 24);
/// let g: Vec<f32> = (0..rows * cols).map(|i| ((i / cols) as f32 - 9.5) * ((i % cols) as f32 + 1.0)).collect();
/// let mut lr = LowRank::new(&[rows, cols], LowRankConfig { rank: 1, ..Default::default() })?;
/// let p = alcm::decompress(&lr.begin(&g)?.bytes)?.data;
/// let q = alcm::decompress(&lr.after_p(&p)?.bytes)?.data;
/// let mut out = vec![0.0f32; rows * cols];
/// lr.finish(&q, 1.0, &mut out)?;
/// let err: f32 = g.iter().zip(&out).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt();
/// let norm: f32 = g.iter().map(|a| a * a).sum::<f32>().sqrt();
/// assert!(err / norm < 0.05);
/// # Ok::<(), alcm::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LowRank {
    config: LowRankConfig,
    rows: usize,
    cols: usize,
    encoder: Encoder,
    q: Vec<f32>,
    residual: Vec<f32>,
    m: Vec<f32>,
    p: Vec<f32>,
    phase: Phase,
}

impl LowRank {
    /// The state for `rows x cols` gradients (`shape` = `[rows, cols]`), with the seeded start
    /// `Q` and a zero residual. `InvalidArgument` when low rank does not pay for `shape`
    /// ([`low_rank_pays`]: use an ordinary mode for it); `InvalidConfig` for a bad setting.
    pub fn new(shape: &[usize], config: LowRankConfig) -> Result<Self> {
        config.validate()?;
        if !low_rank_pays(shape, &config) {
            return Err(Error::invalid_argument(format!(
                "low rank {} does not pay for shape {shape:?} (needs a 2-D matrix with \
                 rows·cols >= {} · rank · (rows + cols)): use an ordinary mode",
                config.rank, config.min_compression
            )));
        }
        let (rows, cols) = (shape[0], shape[1]);
        let n = rows
            .checked_mul(cols)
            .filter(|&n| n as u64 <= crate::abi::ALCM_MAX_ELEMENTS)
            .ok_or_else(|| Error::too_large(format!("shape {shape:?} is too large")))?;
        let encoder = Encoder::new(
            EncoderConfig::default().with_mode(Mode::RelativeL2(config.factor_target)),
        )?;
        let mut q = zeros(cols * config.rank)?;
        q.clear();
        q.extend((0..cols * config.rank).map(|i| linalg::seeded(config.seed, i as u64)));
        Ok(LowRank {
            rows,
            cols,
            encoder,
            q,
            residual: zeros(if config.feedback { n } else { 0 })?,
            m: zeros(n)?,
            p: zeros(rows * config.rank)?,
            phase: Phase::Idle,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LowRankConfig {
        &self.config
    }

    /// `[rows, cols]`.
    pub fn shape(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// Values of a `P` factor (`rows · rank`).
    pub fn p_len(&self) -> usize {
        self.rows * self.config.rank
    }

    /// Values of a `Q` factor (`cols · rank`).
    pub fn q_len(&self) -> usize {
        self.cols * self.config.rank
    }

    /// Round 1: `M = gradient + residual`, returns the frame of `P = M Q` (shape
    /// `[rows, rank]`). Starts a new step (a step left unfinished is dropped, its residual
    /// untouched). On error nothing changes.
    pub fn begin(&mut self, gradient: &[f32]) -> Result<Compressed> {
        self.check_len(gradient.len(), self.m.len(), "gradient")?;
        let mut m = gradient.to_vec();
        if self.config.feedback {
            for (x, r) in m.iter_mut().zip(&self.residual) {
                *x += r;
            }
        }
        let mut p = vec![0.0f32; self.p_len()];
        linalg::mul(&m, self.rows, self.cols, &self.q, self.config.rank, &mut p);
        let frame = self
            .encoder
            .compress(&p, &[self.rows, self.config.rank], None)?;
        self.m = m;
        self.phase = Phase::SentP;
        Ok(frame)
    }

    /// Round 2: `p_sum` is the sum over ranks of the decoded P frames; orthonormalises it
    /// into `P̂` and returns the frame of `M^T P̂` (shape `[cols, rank]`). `InvalidArgument`
    /// out of turn, for a wrong length or non-finite values; on error nothing changes.
    pub fn after_p(&mut self, p_sum: &[f32]) -> Result<Compressed> {
        self.check_phase(Phase::SentP, "after_p", "begin")?;
        self.check_len(p_sum.len(), self.p_len(), "p_sum")?;
        check_finite(p_sum, "p_sum")?;
        let mut p = p_sum.to_vec();
        linalg::orthonormalize(&mut p, self.rows, self.config.rank);
        let mut q = vec![0.0f32; self.q_len()];
        linalg::mul_transposed(&self.m, self.rows, self.cols, &p, self.config.rank, &mut q);
        let frame = self
            .encoder
            .compress(&q, &[self.cols, self.config.rank], None)?;
        self.p = p;
        self.phase = Phase::SentQ;
        Ok(frame)
    }

    /// Last step: `q_sum` is the sum over ranks of the decoded Q frames; writes
    /// `out = scale · P̂ q_sumᵀ` (`rows x cols`; scale `1/N` gives the mean), sets the residual
    /// to `M - out` and keeps `q_sum` as the next start (a column that is all zero is redrawn
    /// from the seed, so a zero gradient does not lose rank for good). `InvalidArgument` out of
    /// turn, for wrong lengths, a non-finite `scale` or non-finite values; on error nothing
    /// changes.
    pub fn finish(&mut self, q_sum: &[f32], scale: f32, out: &mut [f32]) -> Result<()> {
        self.check_phase(Phase::SentQ, "finish", "after_p")?;
        self.check_len(q_sum.len(), self.q_len(), "q_sum")?;
        self.check_len(out.len(), self.m.len(), "out")?;
        check_finite(q_sum, "q_sum")?;
        if !scale.is_finite() {
            return Err(Error::invalid_argument(format!(
                "scale must be finite, got {scale}"
            )));
        }
        let k = self.config.rank;
        linalg::outer(&self.p, q_sum, k, f64::from(scale), out, self.cols);
        if self.config.feedback {
            for ((r, m), o) in self.residual.iter_mut().zip(&self.m).zip(out.iter()) {
                *r = m - o;
            }
        }
        self.q.copy_from_slice(q_sum);
        for c in 0..k {
            if (0..self.cols).all(|j| self.q[j * k + c] == 0.0) {
                for j in 0..self.cols {
                    self.q[j * k + c] = linalg::seeded(self.config.seed, (j * k + c) as u64);
                }
            }
        }
        self.phase = Phase::Idle;
        Ok(())
    }

    /// The warm-start `Q` (`cols x rank`, row-major), for a checkpoint.
    pub fn q(&self) -> &[f32] {
        &self.q
    }

    /// Restores a `Q` saved with [`Self::q`] (cancels a step in progress).
    /// `InvalidArgument` for a wrong length or non-finite values.
    pub fn set_q(&mut self, q: &[f32]) -> Result<()> {
        self.check_len(q.len(), self.q_len(), "q")?;
        check_finite(q, "q")?;
        self.q.copy_from_slice(q);
        self.phase = Phase::Idle;
        Ok(())
    }

    /// The residual (`rows x cols`; empty without feedback), for a checkpoint.
    pub fn residual(&self) -> &[f32] {
        &self.residual
    }

    /// Restores a residual saved with [`Self::residual`] (cancels a step in progress).
    /// `InvalidArgument` for a wrong length (it must be empty without feedback) or
    /// non-finite values.
    pub fn set_residual(&mut self, residual: &[f32]) -> Result<()> {
        self.check_len(residual.len(), self.residual.len(), "residual")?;
        check_finite(residual, "residual")?;
        self.residual.copy_from_slice(residual);
        self.phase = Phase::Idle;
        Ok(())
    }

    fn check_len(&self, got: usize, want: usize, what: &str) -> Result<()> {
        if got != want {
            return Err(Error::invalid_argument(format!(
                "{what} holds {got} values, expected {want} (shape [{}, {}], rank {})",
                self.rows, self.cols, self.config.rank
            )));
        }
        Ok(())
    }

    fn check_phase(&self, want: Phase, call: &str, before: &str) -> Result<()> {
        if self.phase != want {
            return Err(Error::invalid_argument(format!(
                "{call} called out of turn: call {before} first"
            )));
        }
        Ok(())
    }
}

fn check_finite(v: &[f32], what: &str) -> Result<()> {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid_argument(format!(
            "{what}[{i}] is {} (NaN or Inf)",
            v[i]
        )));
    }
    Ok(())
}

/// `n` zeros, or `TooLarge` when they cannot be allocated (never an abort).
fn zeros(n: usize) -> Result<Vec<f32>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::too_large(format!("cannot allocate {n} values")))?;
    v.resize(n, 0.0);
    Ok(v)
}
