//! rANS primitives shared by every coder of the entropy layer: the frequency total, the
//! state bounds, deterministic normalisation of counts, the encoder's per-symbol entry
//! (exact reciprocal, no division) and the final-state flush / initial-state load.

/// log2 of the frequency total.
pub const SCALE_BITS: u32 = 12;
pub(crate) const M: u32 = 1 << SCALE_BITS;
/// Lower bound of a normalised state.
pub(crate) const L: u32 = 1 << 16;

/// Normalises counts (at least two non-zero) to frequencies summing to exactly `M`, every
/// present symbol ≥ 1. Integer arithmetic only: deterministic everywhere.
pub(crate) fn normalize(counts: &[u64; 256]) -> [u32; 256] {
    let total: u64 = counts.iter().sum();
    let mut freq = [0u32; 256];
    let mut sum = 0i64;
    for s in 0..256 {
        if counts[s] > 0 {
            // Rounded share, at least 1.
            let f = ((counts[s] as u128 * M as u128 + total as u128 / 2) / total as u128) as u32;
            freq[s] = f.clamp(1, M - 1);
            sum += freq[s] as i64;
        }
    }
    let mut diff = M as i64 - sum;
    // Give or take the difference where it costs least: the largest frequencies (ties → the
    // lowest symbol), one unit at a time, never below 1.
    while diff != 0 {
        let mut best = usize::MAX;
        for s in 0..256 {
            if counts[s] > 0
                && (diff > 0 || freq[s] > 1)
                && (best == usize::MAX || freq[s] > freq[best])
            {
                best = s;
            }
        }
        // diff < 0 ⇒ sum > M ≥ 256 ⇒ some frequency > 1, so `best` exists.
        let step = if diff > 0 {
            diff
        } else {
            // Take at most half of the largest frequency at a time so the others share the cut.
            -(((freq[best] - 1) as i64)
                .min(-diff)
                .min((freq[best] as i64 / 2).max(1)))
        };
        freq[best] = (freq[best] as i64 + step) as u32;
        diff -= step;
    }
    freq
}

/// Per-symbol encoder entry (shared with the model's encoder, `entropy/model/`): the state
/// transition `x → (x / freq)·M + x mod freq + cum` by an exact reciprocal multiplication
/// instead of a 32-bit division (Lemire, Kaser, Kurz 2019: with `rcp = ⌈2^64 / freq⌉`,
/// `⌊x / freq⌋ = ⌊x · rcp / 2^64⌋` for every 32-bit `x`), written as `x + bias + q·(M − freq)`.
/// `freq = 1` (no 64-bit reciprocal) uses `rcp = 2^64 − 1`, which gives `q = x − 1`, and
/// `bias = cum + M − 1` to compensate (ryg_rans' trick).
// `repr(C)`: the AVX2 encoder (`model/lanes_enc_avx2.rs`) gathers the fields as 32-bit words
// (rcp low, rcp high, x_max, bias, cmpl at words 0–4 of 6).
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct EncSym {
    pub(crate) rcp: u64,
    /// Renormalise (emit 16 bits) when the state is ≥ this: `freq · 2^(32 − SCALE_BITS)`.
    pub(crate) x_max: u32,
    pub(crate) bias: u32,
    pub(crate) cmpl: u32,
}

impl EncSym {
    pub(crate) fn new(freq: u32, cum: u32) -> EncSym {
        debug_assert!((1..=M).contains(&freq));
        let (rcp, bias) = if freq == 1 {
            (u64::MAX, cum + M - 1)
        } else {
            (u64::MAX / freq as u64 + 1, cum)
        };
        // freq = M (a certain symbol) would need x_max = 2^32: never renormalise.
        let x_max = if freq >= M {
            u32::MAX
        } else {
            freq << (32 - SCALE_BITS)
        };
        EncSym {
            rcp,
            x_max,
            bias,
            cmpl: M - freq,
        }
    }
}

impl EncSym {
    /// Codes one symbol into state `x`: returns the word to emit (the state's low 16 bits) and
    /// whether to emit it (renormalisation). Callers write the word unconditionally and advance
    /// their position by the flag, so the ~random renormalisation decision costs no branch.
    #[inline(always)]
    pub(crate) fn step(&self, x: &mut u32) -> (u16, bool) {
        let v = *x;
        let emit = v >= self.x_max;
        let word = v as u16;
        let v = if emit { v >> 16 } else { v };
        let q = ((v as u128 * self.rcp as u128) >> 64) as u32;
        *x = v + self.bias + q * self.cmpl;
        (word, emit)
    }
}

/// Appends the final encoder states, last state first, each low half then high half: the
/// caller writes the word stream reversed, so a stream starts with the states in lane order,
/// high half first ([`read_states`]).
pub(crate) fn push_final_states(x: &[u32], words: &mut Vec<u16>) {
    for &s in x.iter().rev() {
        words.push(s as u16);
        words.push((s >> 16) as u16);
    }
}

/// The initial decoder states from the first `4 · N` bytes of a word stream (written by
/// [`push_final_states`]); the caller has checked that they are present.
#[inline]
pub(crate) fn read_states<const N: usize>(words: &[u8]) -> [u32; N] {
    let mut x = [0u32; N];
    for (j, s) in x.iter_mut().enumerate() {
        let b = &words[4 * j..4 * j + 4];
        *s = (u16::from_le_bytes([b[0], b[1]]) as u32) << 16
            | u16::from_le_bytes([b[2], b[3]]) as u32;
    }
    x
}
