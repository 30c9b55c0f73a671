//! Tests only: the deterministic generator the kernel tests draw their inputs from (a 64-bit
//! LCG), in one place rather than a copy per test module.

/// The generator's top 53 bits from `seed` on, one draw per call.
pub(crate) fn bits(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 11
    }
}

/// Uniform draws in (0, 1) from the same sequence as [`bits`].
pub(crate) fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut b = bits(seed);
    move || (b() as f64 + 0.5) / (1u64 << 53) as f64
}
