//! Small shared pieces with no knowledge of tensors or frames: deterministic math (the same
//! bits on every platform), the thread helpers, and atomic file writes.

pub mod cputime;
pub mod detmath;
#[cfg(all(target_arch = "x86_64", alcm_avx512))]
mod detmath_avx512;
pub mod fsutil;
pub(crate) mod par;
pub(crate) mod pool;
pub mod shape;
pub(crate) mod steal;
#[cfg(test)]
pub(crate) mod test_rng;
pub(crate) mod varint;

/// `with_*` setters for a `#[non_exhaustive]` settings struct with public fields, so that
/// users build it as `Config::default().with_mode(..).with_threads(..)` and fields can be
/// added without breaking them (a struct literal outside the crate would break).
macro_rules! with_setters {
    ($ty:ty { $($field:ident : $t:ty => $with:ident),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Returns the settings with [`", stringify!($field), "`](Self::",
                    stringify!($field), ") set to the given value (checked when they are used).")]
                #[must_use]
                pub fn $with(mut self, $field: $t) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
pub(crate) use with_setters;
