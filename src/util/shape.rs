//! Tensor shapes: the value count of a shape (checked) and its channel count (the slices
//! along the first axis that the quantizer treats apart).

use crate::error::{Error, Result};

/// Number of channels of a tensor of this shape: the first dimension for rank ≥ 2, and 1 for a
/// scalar or vector (a per-value "channel" would carry more side information than data).
/// A tensor with no values has no channels.
pub fn channel_count(shape: &[usize]) -> usize {
    let n: usize = shape.iter().product();
    if n == 0 {
        0
    } else if shape.len() >= 2 {
        shape[0]
    } else {
        1
    }
}

/// Checks that `data.len()` equals the product of `shape` (without overflow) and returns it.
pub fn check_shape(data_len: usize, shape: &[usize]) -> Result<usize> {
    let mut n: usize = 1;
    for &d in shape {
        n = n
            .checked_mul(d)
            .ok_or_else(|| Error::invalid_argument(format!("shape {shape:?} overflows usize")))?;
    }
    if n != data_len {
        return Err(Error::invalid_argument(format!(
            "shape {shape:?} holds {n} values but the data has {data_len}"
        )));
    }
    Ok(n)
}
