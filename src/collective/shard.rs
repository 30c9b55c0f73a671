//! Row-aligned shards: a tensor's first axis split as evenly as possible, so that every shard
//! is itself a tensor of whole channels (alcm's channels are slices along the first axis).

use std::ops::Range;

use crate::error::{Error, Result};

/// The value ranges (C order) of the `n` shards of a tensor of `shape`: rows (slices along the
/// first axis; a rank-0 tensor is one row of one value) split into `n` consecutive groups, the
/// first `rows % n` shards one row longer. Shards may be empty when there are fewer rows than
/// shards. `InvalidArgument` for `n == 0` or a shape whose size overflows.
pub fn shard_ranges(shape: &[usize], n: usize) -> Result<Vec<Range<usize>>> {
    if n == 0 {
        return Err(Error::invalid_argument(
            "the shard count must be at least 1",
        ));
    }
    let (rows, row_len) = rows_of(shape)?;
    let (base, extra) = (rows / n, rows % n);
    let mut out = Vec::with_capacity(n);
    let mut start = 0usize;
    for j in 0..n {
        let r = base + usize::from(j < extra);
        // No overflow: the rows sum to `rows` and rows * row_len was checked.
        out.push(start * row_len..(start + r) * row_len);
        start += r;
    }
    Ok(out)
}

/// The shape of a shard of `len` values of a tensor of `shape`: the first axis shortened to
/// the shard's rows (a rank-0 tensor's shard keeps rank 1 so that an empty shard is `[0]`).
pub fn shard_shape(shape: &[usize], len: usize) -> Result<Vec<usize>> {
    let (_, row_len) = rows_of(shape)?;
    let mut s = if shape.is_empty() {
        vec![1]
    } else {
        shape.to_vec()
    };
    s[0] = len.checked_div(row_len).unwrap_or(0);
    Ok(s)
}

/// (rows, values per row) of `shape`.
fn rows_of(shape: &[usize]) -> Result<(usize, usize)> {
    let overflow = || Error::invalid_argument(format!("shape {shape:?} overflows usize"));
    let row_len = shape
        .iter()
        .skip(1)
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(overflow)?;
    let rows = shape.first().copied().unwrap_or(1);
    rows.checked_mul(row_len).ok_or_else(overflow)?;
    Ok((rows, row_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_evenly_first_shards_longer() {
        // 10 rows of 3 into 4 shards: 3, 3, 2, 2 rows.
        let r = shard_ranges(&[10, 3], 4).unwrap();
        assert_eq!(r, vec![0..9, 9..18, 18..24, 24..30]);
        assert_eq!(shard_shape(&[10, 3], 9).unwrap(), vec![3, 3]);
        assert_eq!(shard_shape(&[10, 3], 6).unwrap(), vec![2, 3]);
    }

    #[test]
    fn fewer_rows_than_shards_gives_empty_shards() {
        let r = shard_ranges(&[2, 5], 4).unwrap();
        assert_eq!(r, vec![0..5, 5..10, 10..10, 10..10]);
        assert_eq!(shard_shape(&[2, 5], 0).unwrap(), vec![0, 5]);
        // A vector's rows are its values; a scalar is one row.
        assert_eq!(shard_ranges(&[5], 2).unwrap(), vec![0..3, 3..5]);
        assert_eq!(shard_ranges(&[], 2).unwrap(), vec![0..1, 1..1]);
        assert_eq!(shard_shape(&[], 0).unwrap(), vec![0]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(shard_ranges(&[4], 0).is_err());
        assert!(shard_ranges(&[usize::MAX, 3], 2).is_err());
    }
}
