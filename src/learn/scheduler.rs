//! The CAQ scheduler: adapts the pruning threshold to the trend of the compression-accuracy
//! quotient (CAQ, see [`crate::learn::metrics::caq`]).
//!
//! Semantics follow the original prototype (GUIDE §1): `update(caq)` counts the step and pushes
//! the score into a window of the last `window` scores. When the window holds at least two
//! scores, `trend = newest − oldest` (of the window only, not the whole history). A rising CAQ
//! (`trend > 0`) makes the scheduler more aggressive (`threshold ×= decay`); a flat or falling one
//! backs off (`threshold ÷= decay`). The threshold is clipped to `[min_threshold, max_threshold]`
//! and recorded in the history. With fewer than two scores the threshold is unchanged (but still
//! recorded).
//!
//! Unlike the prototype, [`Scheduler::reset`] returns to the configured `initial_threshold`
//! (the prototype always reset to 0.01), and invalid scores are rejected without touching state.

use std::collections::VecDeque;

use crate::error::{Error, Result};

/// Scheduler settings. Defaults are the prototype's; build with
/// `SchedulerConfig::default().with_window(..)`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SchedulerConfig {
    /// Threshold before the first update and after `reset()` (default 0.01).
    pub initial_threshold: f64,
    /// Multiplicative step, `0 < decay < 1` (default 0.95).
    pub decay: f64,
    /// Number of recent CAQ scores the trend is computed over, `≥ 2` (default 5).
    pub window: usize,
    /// Lower clip of the threshold (default 0.001).
    pub min_threshold: f64,
    /// Upper clip of the threshold (default 0.1).
    pub max_threshold: f64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            initial_threshold: 0.01,
            decay: 0.95,
            window: 5,
            min_threshold: 0.001,
            max_threshold: 0.1,
        }
    }
}

crate::util::with_setters!(SchedulerConfig {
    initial_threshold: f64 => with_initial_threshold,
    decay: f64 => with_decay,
    window: usize => with_window,
    min_threshold: f64 => with_min_threshold,
    max_threshold: f64 => with_max_threshold,
});

impl SchedulerConfig {
    /// Checks `0 < decay < 1`, `window ≥ 2` and `0 < min_threshold ≤ initial_threshold ≤
    /// max_threshold < 1`. Errors are [`crate::ErrorKind::InvalidConfig`] and name the key.
    pub fn validate(&self) -> Result<()> {
        if !(self.decay > 0.0 && self.decay < 1.0) {
            return Err(Error::config(
                "scheduler.decay",
                format!("must be in (0, 1), got {}", self.decay),
            ));
        }
        if self.window < 2 {
            return Err(Error::config(
                "scheduler.window",
                format!("must be >= 2, got {}", self.window),
            ));
        }
        if !(self.min_threshold > 0.0 && self.min_threshold < 1.0) {
            return Err(Error::config(
                "scheduler.min_threshold",
                format!(
                    "must satisfy 0 < min_threshold <= initial_threshold <= max_threshold < 1, got {}",
                    self.min_threshold
                ),
            ));
        }
        if !(self.max_threshold >= self.min_threshold && self.max_threshold < 1.0) {
            return Err(Error::config(
                "scheduler.max_threshold",
                format!(
                    "must satisfy min_threshold ({}) <= max_threshold < 1, got {}",
                    self.min_threshold, self.max_threshold
                ),
            ));
        }
        if !(self.initial_threshold >= self.min_threshold
            && self.initial_threshold <= self.max_threshold)
        {
            return Err(Error::config(
                "scheduler.initial_threshold",
                format!(
                    "must be in [min_threshold, max_threshold] = [{}, {}], got {}",
                    self.min_threshold, self.max_threshold, self.initial_threshold
                ),
            ));
        }
        Ok(())
    }
}

/// A snapshot of the scheduler state (the prototype's `stats()`).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerStats {
    /// Number of successful `update` calls since creation or the last reset.
    pub step: u64,
    /// Current threshold.
    pub threshold: f64,
    /// Mean of the scores in the window; 0 when the window is empty.
    pub mean_caq: f64,
    /// Newest − oldest score of the window; 0 with fewer than two scores.
    pub trend: f64,
    /// The window's scores, oldest first.
    pub window: Vec<f64>,
}

/// The CAQ-driven threshold scheduler. Not thread-safe by itself (`&mut self` to update); one
/// scheduler per training job.
#[derive(Debug, Clone)]
pub struct Scheduler {
    config: SchedulerConfig,
    threshold: f64,
    step: u64,
    window: VecDeque<f64>,
    history: Vec<f64>,
}

impl Scheduler {
    /// A scheduler at `config.initial_threshold`. Fails if the config does not validate.
    pub fn new(config: SchedulerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Scheduler {
            threshold: config.initial_threshold,
            step: 0,
            window: VecDeque::with_capacity(config.window),
            history: Vec::new(),
            config,
        })
    }

    /// Feeds one CAQ score and returns the new threshold (GUIDE §1). A negative or non-finite
    /// score is an [`crate::ErrorKind::InvalidArgument`] error and leaves the state untouched.
    pub fn update(&mut self, caq: f64) -> Result<f64> {
        if !caq.is_finite() || caq < 0.0 {
            return Err(Error::invalid_argument(format!(
                "caq must be finite and >= 0, got {caq}"
            )));
        }
        self.step += 1;
        if self.window.len() == self.config.window {
            self.window.pop_front();
        }
        self.window.push_back(caq);
        if self.window.len() >= 2 {
            if self.trend() > 0.0 {
                self.threshold *= self.config.decay;
            } else {
                self.threshold /= self.config.decay;
            }
            self.threshold = self
                .threshold
                .clamp(self.config.min_threshold, self.config.max_threshold);
        }
        self.history.push(self.threshold);
        Ok(self.threshold)
    }

    /// The current threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The threshold after each update, oldest first.
    pub fn history(&self) -> &[f64] {
        &self.history
    }

    fn trend(&self) -> f64 {
        match (self.window.front(), self.window.back()) {
            (Some(oldest), Some(newest)) if self.window.len() >= 2 => newest - oldest,
            _ => 0.0,
        }
    }

    /// Step count, threshold, window mean (0 if empty), trend (0 with < 2 scores), window.
    pub fn stats(&self) -> SchedulerStats {
        let mean_caq = if self.window.is_empty() {
            0.0
        } else {
            self.window.iter().sum::<f64>() / self.window.len() as f64
        };
        SchedulerStats {
            step: self.step,
            threshold: self.threshold,
            mean_caq,
            trend: self.trend(),
            window: self.window.iter().copied().collect(),
        }
    }

    /// Clears step count, window and history and returns to `initial_threshold`.
    pub fn reset(&mut self) {
        self.threshold = self.config.initial_threshold;
        self.step = 0;
        self.window.clear();
        self.history.clear();
    }

    /// The configuration this scheduler was built with.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15 * b.abs().max(1.0)
    }

    fn sched() -> Scheduler {
        Scheduler::new(SchedulerConfig::default()).unwrap()
    }

    #[test]
    fn first_update_keeps_threshold_but_records_it() {
        let mut s = sched();
        assert_eq!(s.update(1.0).unwrap(), 0.01);
        assert_eq!(s.history(), &[0.01]);
        let st = s.stats();
        assert_eq!(st.step, 1);
        assert_eq!(st.trend, 0.0);
        assert_eq!(st.mean_caq, 1.0);
        assert_eq!(st.window, vec![1.0]);
    }

    #[test]
    fn empty_stats() {
        let st = sched().stats();
        assert_eq!(st.step, 0);
        assert_eq!(st.mean_caq, 0.0);
        assert_eq!(st.trend, 0.0);
        assert!(st.window.is_empty());
        assert_eq!(st.threshold, 0.01);
    }

    #[test]
    fn trend_up_multiplies_by_decay() {
        let mut s = sched();
        s.update(1.0).unwrap();
        let t = s.update(1.5).unwrap();
        assert!(close(t, 0.01 * 0.95));
        let t = s.update(2.0).unwrap();
        assert!(close(t, 0.01 * 0.95 * 0.95));
        assert!(close(s.stats().trend, 1.0));
        assert!(close(s.stats().mean_caq, 1.5));
    }

    #[test]
    fn trend_down_divides_by_decay() {
        let mut s = sched();
        s.update(2.0).unwrap();
        let t = s.update(1.0).unwrap();
        assert!(close(t, 0.01 / 0.95));
        assert!(close(s.stats().trend, -1.0));
    }

    #[test]
    fn flat_trend_divides_by_decay() {
        let mut s = sched();
        s.update(1.25).unwrap();
        let t = s.update(1.25).unwrap();
        assert!(close(t, 0.01 / 0.95));
        assert_eq!(s.stats().trend, 0.0);
    }

    #[test]
    fn clips_at_both_ends() {
        let mut s = sched();
        // Rising forever: 0.01 * 0.95^k reaches the 0.001 floor after 45 steps (0.95^45 ≈ 0.0994).
        for i in 0..200 {
            s.update(i as f64).unwrap();
        }
        assert_eq!(s.threshold(), 0.001);
        assert!(s.history().iter().all(|&t| (0.001..=0.1).contains(&t)));
        // Falling forever: reaches the 0.1 ceiling.
        s.reset();
        for i in 0..200 {
            s.update(1000.0 - i as f64).unwrap();
        }
        assert_eq!(s.threshold(), 0.1);
        assert_eq!(s.history().len(), 200);
    }

    #[test]
    fn trend_uses_only_the_window() {
        // window 3: scores 10, 1, 2, 3. The full history falls (3 - 10 < 0) but the window
        // [1, 2, 3] rises (3 - 1 = 2 > 0), so the last update must multiply by decay.
        let cfg = SchedulerConfig {
            window: 3,
            ..Default::default()
        };
        let mut s = Scheduler::new(cfg).unwrap();
        let t1 = s.update(10.0).unwrap(); // 1 score: unchanged
        assert_eq!(t1, 0.01);
        let t2 = s.update(1.0).unwrap(); // [10, 1]: down -> /decay
        assert!(close(t2, 0.01 / 0.95));
        let t3 = s.update(2.0).unwrap(); // [10, 1, 2]: 2 - 10 < 0 -> /decay
        assert!(close(t3, 0.01 / 0.95 / 0.95));
        let t4 = s.update(3.0).unwrap(); // [1, 2, 3]: 3 - 1 > 0 -> *decay
        assert!(close(t4, 0.01 / 0.95 / 0.95 * 0.95));
        let st = s.stats();
        assert_eq!(st.window, vec![1.0, 2.0, 3.0]);
        assert_eq!(st.trend, 2.0);
        assert_eq!(st.step, 4);
        assert!(close(st.mean_caq, 2.0));
    }

    #[test]
    fn reset_returns_to_configured_initial_threshold() {
        let cfg = SchedulerConfig {
            initial_threshold: 0.05,
            ..Default::default()
        };
        let mut s = Scheduler::new(cfg).unwrap();
        assert_eq!(s.threshold(), 0.05);
        s.update(1.0).unwrap();
        s.update(2.0).unwrap();
        assert!(s.threshold() != 0.05);
        s.reset();
        assert_eq!(s.threshold(), 0.05);
        assert!(s.history().is_empty());
        let st = s.stats();
        assert_eq!(st.step, 0);
        assert!(st.window.is_empty());
        assert_eq!(s.config().initial_threshold, 0.05);
    }

    #[test]
    fn invalid_caq_rejected_and_state_untouched() {
        let mut s = sched();
        s.update(1.0).unwrap();
        s.update(2.0).unwrap();
        let before = s.stats();
        let hist = s.history().to_vec();
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5] {
            let e = s.update(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        }
        assert_eq!(s.stats(), before);
        assert_eq!(s.history(), &hist[..]);
        // Zero is a valid score.
        s.update(0.0).unwrap();
    }

    #[test]
    fn config_validation_names_keys() {
        let cases: Vec<(SchedulerConfig, &str)> = vec![
            (
                SchedulerConfig {
                    decay: 1.0,
                    ..Default::default()
                },
                "scheduler.decay",
            ),
            (
                SchedulerConfig {
                    decay: 0.0,
                    ..Default::default()
                },
                "scheduler.decay",
            ),
            (
                SchedulerConfig {
                    decay: f64::NAN,
                    ..Default::default()
                },
                "scheduler.decay",
            ),
            (
                SchedulerConfig {
                    window: 1,
                    ..Default::default()
                },
                "scheduler.window",
            ),
            (
                SchedulerConfig {
                    min_threshold: 0.0,
                    ..Default::default()
                },
                "scheduler.min_threshold",
            ),
            (
                SchedulerConfig {
                    max_threshold: 1.0,
                    ..Default::default()
                },
                "scheduler.max_threshold",
            ),
            (
                SchedulerConfig {
                    min_threshold: 0.05,
                    max_threshold: 0.02,
                    ..Default::default()
                },
                "scheduler.max_threshold",
            ),
            (
                SchedulerConfig {
                    initial_threshold: 0.5,
                    ..Default::default()
                },
                "scheduler.initial_threshold",
            ),
            (
                SchedulerConfig {
                    initial_threshold: 0.0001,
                    ..Default::default()
                },
                "scheduler.initial_threshold",
            ),
        ];
        for (cfg, key) in cases {
            let e = Scheduler::new(cfg.clone()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{cfg:?}");
            assert!(e.message().contains(key), "{key} not in {}", e.message());
        }
        SchedulerConfig::default().validate().unwrap();
    }
}
