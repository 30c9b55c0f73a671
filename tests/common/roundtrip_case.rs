//! The `roundtrip` fuzz target's input layout: fuzz bytes → (valid encoder config, small
//! tensor of finite values, shape, allocation). Shared with tests/regressions.rs so a crashing
//! fuzz input can be replayed byte for byte in the normal test suite.
#![allow(dead_code)]

use alcm::{BackendKind, EncoderConfig, Mode, NonFinitePolicy};

pub struct Case {
    pub cfg: EncoderConfig,
    pub values: Vec<f32>,
    pub shape: Vec<usize>,
    pub allocation: Option<Vec<f64>>,
}

struct Bytes<'a>(&'a [u8]);
impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |a, i| a | (self.u8() as u64) << (8 * i))
    }
    /// Uniform in [0, 1].
    fn unit(&mut self) -> f64 {
        self.u16() as f64 / 65535.0
    }
}

/// Decodes a fuzz input; `None` for inputs the target skips.
pub fn decode(data: &[u8]) -> Option<Case> {
    let mut b = Bytes(data);
    let sel = b.u8();
    let mode = match sel % 4 {
        // ε log-uniform in [1e-6, 0.9]
        0 => Mode::RelativeL2((1e-6 * (0.9f64 / 1e-6).powf(b.unit())).min(0.9)),
        1 => {
            let e = if sel & 0x80 != 0 {
                f64::from_bits(b.u64()) // any valid (finite, > 0) bound, however extreme
            } else {
                10f64.powf(-30.0 + 60.0 * b.unit())
            };
            if !(e.is_finite() && e > 0.0) {
                return None;
            }
            Mode::MaxAbs(e)
        }
        2 => Mode::Lossless,
        _ => Mode::Adaptive,
    };
    let flags = b.u8();
    let base = 1 + (b.u8() % 16) as u32;
    let min = 1 + (b.u8() as u32 % base);
    let cfg = EncoderConfig::default()
        .with_mode(mode)
        .with_backend(
            [BackendKind::Deflate, BackendKind::Store, BackendKind::Rans]
                [(flags as usize & 1) + (flags as usize >> 2 & 1)],
        )
        .with_non_finite(if flags & 2 == 0 {
            NonFinitePolicy::Refuse
        } else {
            NonFinitePolicy::Keep
        })
        .with_deflate_level(b.u8() % 11)
        .with_base_precision(base)
        .with_min_precision(min)
        .with_threshold(b.unit() * 0.998 + 0.001)
        .with_max_drop_ratio(b.unit() * 0.99);
    // Shape: rank 0..=5, dims 0..=7; at most 2048 values.
    let rank = (b.u8() % 6) as usize;
    let shape: Vec<usize> = (0..rank).map(|_| (b.u8() % 8) as usize).collect();
    let n: usize = shape.iter().product();
    if n > 2048 {
        return None;
    }
    let alloc_sel = b.u8();
    let a0 = b.unit();
    let mut values: Vec<f32> = Vec::with_capacity(n);
    for i in 0..n {
        let v = f32::from_bits(u32::from_le_bytes([b.u8(), b.u8(), b.u8(), b.u8()]));
        // Finite values only (the non-finite policy has its own tests): repeat the previous
        // value instead, which also yields constant runs.
        values.push(if v.is_finite() {
            v
        } else if i > 0 {
            values[i - 1]
        } else {
            0.0
        });
    }
    let channels = alcm::channel_count(&shape);
    let allocation = match alloc_sel % 3 {
        0 => None,
        1 => Some(vec![a0]),
        _ => Some(
            (0..channels)
                .map(|c| (a0 + c as f64 * 0.37) % 1.0)
                .collect(),
        ),
    };
    Some(Case {
        cfg,
        values,
        shape,
        allocation,
    })
}

/// Runs one case: compress, decompress, check the bound. `Err` describes a violation.
pub fn run(case: &Case) -> Result<(), String> {
    let enc = alcm::Encoder::new(case.cfg.clone()).map_err(|e| format!("config: {e}"))?;
    let alloc = case.allocation.as_deref();
    let c = enc
        .compress(&case.values, &case.shape, alloc)
        .map_err(|e| format!("compress: {e}"))?;
    if c.bytes.len() > alcm::compress_bound(case.values.len()) {
        return Err(format!(
            "frame of {} bytes exceeds compress_bound",
            c.bytes.len()
        ));
    }
    let d = alcm::decompress(&c.bytes).map_err(|e| format!("decompress of our own frame: {e}"))?;
    super::bounds::check_bound(&case.cfg, &case.values, &case.shape, alloc, &d)
}
