//! Row-aligned shards: a tensor's first axis split as evenly as possible, so that every shard
//! is itself a tensor of whole channels (alcm's channels are slices along the first axis).

use std::ops::Range;

use crate::error::{Error, Result};

/// How a tensor is split among ranks: at most one shard per rank, none smaller than
/// `min_values` values (so that a small tensor is not cut into frames that are mostly header),
/// the non-empty shards given to consecutive ranks starting at `first_rank` (give each tensor of
/// a model its own `first_rank` so that small tensors spread over the ranks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardLayout {
    /// Smallest shard, in values (0 and 1: every rank gets rows while rows last).
    pub min_values: usize,
    /// The rank of the first non-empty shard (taken modulo the rank count).
    pub first_rank: usize,
}

/// The value ranges (C order), one per rank, of a tensor of `shape` split into `n` shards by
/// `layout`: the rows (slices along the first axis; a rank-0 tensor is one row of one value) are
/// split into `m` consecutive groups, `m` = the number of shards of at least
/// `layout.min_values` values that fit (at least 1, at most `n` and the row count), the first
/// `rows % m` groups one row longer; group `i` belongs to rank `(first_rank + i) % n` and every
/// other rank gets an empty range. `InvalidArgument` for `n == 0` or a shape whose size overflows.
pub fn shard_ranges(shape: &[usize], n: usize, layout: ShardLayout) -> Result<Vec<Range<usize>>> {
    if n == 0 {
        return Err(Error::invalid_argument(
            "the shard count must be at least 1",
        ));
    }
    let (rows, row_len) = rows_of(shape)?;
    let total = rows * row_len; // checked by rows_of
    let fit = total.checked_div(layout.min_values.max(1)).unwrap_or(0);
    let m = fit.clamp(1, n.min(rows).max(1));
    let (base, extra) = (rows / m, rows % m);
    let mut groups = Vec::with_capacity(m);
    let mut start = 0usize;
    for i in 0..m {
        let r = base + usize::from(i < extra);
        groups.push(start * row_len..(start + r) * row_len);
        start += r;
    }
    let first = layout.first_rank % n;
    let end = groups.last().map_or(0, |g| g.end);
    Ok((0..n)
        .map(|j| {
            let i = (j + n - first) % n;
            groups.get(i).cloned().unwrap_or(end..end)
        })
        .collect())
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
        let r = shard_ranges(&[10, 3], 4, ShardLayout::default()).unwrap();
        assert_eq!(r, vec![0..9, 9..18, 18..24, 24..30]);
        assert_eq!(shard_shape(&[10, 3], 9).unwrap(), vec![3, 3]);
        assert_eq!(shard_shape(&[10, 3], 6).unwrap(), vec![2, 3]);
    }

    #[test]
    fn fewer_rows_than_shards_gives_empty_shards() {
        let r = shard_ranges(&[2, 5], 4, ShardLayout::default()).unwrap();
        assert_eq!(r, vec![0..5, 5..10, 10..10, 10..10]);
        assert_eq!(shard_shape(&[2, 5], 0).unwrap(), vec![0, 5]);
        // A vector's rows are its values; a scalar is one row.
        let d = ShardLayout::default();
        assert_eq!(shard_ranges(&[5], 2, d).unwrap(), vec![0..3, 3..5]);
        assert_eq!(shard_ranges(&[], 2, d).unwrap(), vec![0..1, 1..1]);
        assert_eq!(shard_shape(&[], 0).unwrap(), vec![0]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let d = ShardLayout::default();
        assert!(shard_ranges(&[4], 0, d).is_err());
        assert!(shard_ranges(&[usize::MAX, 3], 2, d).is_err());
    }

    #[test]
    fn minimum_size_and_first_rank() {
        // 10 rows of 3 = 30 values, shards of at least 12 values: 2 shards (5 rows each),
        // given to ranks 3 and 0 (first_rank 3 of 4).
        let l = ShardLayout {
            min_values: 12,
            first_rank: 3,
        };
        assert_eq!(
            shard_ranges(&[10, 3], 4, l).unwrap(),
            vec![15..30, 30..30, 30..30, 0..15]
        );
        // A tensor smaller than the minimum is one shard; first_rank wraps modulo n.
        let l = ShardLayout {
            min_values: 100,
            first_rank: 6,
        };
        assert_eq!(
            shard_ranges(&[10, 3], 4, l).unwrap(),
            vec![30..30, 30..30, 0..30, 30..30]
        );
        // An empty tensor: every shard empty.
        assert!(shard_ranges(&[0, 3], 3, l)
            .unwrap()
            .iter()
            .all(|r| r.is_empty()));
    }
}
