//! Tensor shapes: the value count of a shape (checked), its channel count (the slices along
//! the first non-trivial axis that the quantizer treats apart) and the rank the codec sees.

use crate::error::{Error, Result};

/// Number of channels of a tensor of this shape: the first dimension other than 1 when at least
/// two dimensions are other than 1, else 1 (a scalar or a vector, whatever its trivial
/// dimensions). Dimensions of size 1 do not change the layout of the values, so they must not
/// change the model: `(N,)`, `(N, 1)`, `(1, N)` and `(N, 1, 1)` are all one channel of N
/// values, and `(1, M, K)` is M channels of K, like `(M, K)`. (A per-value "channel" would carry
/// more side information than data.) A tensor with no values has no channels.
pub fn channel_count(shape: &[usize]) -> usize {
    let n: usize = shape.iter().product();
    let mut dims = shape.iter().filter(|&&d| d != 1);
    match (dims.next(), dims.next()) {
        _ if n == 0 => 0,
        (Some(&d), Some(_)) => d,
        _ => 1,
    }
}

/// The channel count of frames written before trivial dimensions were skipped (the first
/// dimension for rank ≥ 2): the decoder still accepts it, so those frames keep decoding.
pub(crate) fn legacy_channel_count(shape: &[usize]) -> usize {
    let n: usize = shape.iter().product();
    if n == 0 {
        0
    } else if shape.len() >= 2 {
        shape[0]
    } else {
        1
    }
}

/// Number of dimensions other than 1: the rank the codec sees.
pub(crate) fn effective_rank(shape: &[usize]) -> usize {
    shape.iter().filter(|&&d| d != 1).count()
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
