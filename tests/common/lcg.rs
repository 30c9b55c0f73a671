//! The 64-bit LCG the lossless tests draw their data from (shared via `#[path]`).
#![allow(dead_code)]

/// `state ← state·6364136223846793005 + 1442695040888963407`; each draw is the state's top 53
/// bits.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
}
