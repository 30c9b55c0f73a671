//! Kept non-finite values ("holes") as the quantizer sees them: zeros. A piece of the input
//! is read in place where no hole falls in it, else through a copy of that piece alone with
//! zeros in the holes; the tensor itself is never copied (compress peak memory, issue 12: the
//! zeroed copy of the input was 4 bytes a value beside the codes and the payload).
//!
//! The holes are the sorted `(index, value)` list the encoder keeps for the frame's verbatim
//! values, so finding whether a piece has one is a binary search.

/// `data[range]` with zeros in place of its holes: the slice itself when no hole falls in
/// `range`, else a copy in `scratch`. `holes`: sorted by index, every index a non-finite value.
pub(crate) fn piece<'a>(
    data: &'a [f32],
    range: std::ops::Range<usize>,
    holes: &[(u64, f32)],
    scratch: &'a mut Vec<f32>,
) -> &'a [f32] {
    if !any_in(holes, range.clone()) {
        return &data[range];
    }
    scratch.clear();
    scratch.extend(
        data[range]
            .iter()
            .map(|&v| if v.is_finite() { v } else { 0.0 }),
    );
    scratch
}

/// Whether a hole falls in `range` (`holes` sorted by index).
pub(crate) fn any_in(holes: &[(u64, f32)], range: std::ops::Range<usize>) -> bool {
    let first = holes.partition_point(|h| (h.0 as usize) < range.start);
    holes.get(first).is_some_and(|h| (h.0 as usize) < range.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_read_zeros_in_the_holes_and_the_rest_in_place() {
        let mut data: Vec<f32> = (0..100).map(|i| i as f32 + 0.5).collect();
        data[10] = f32::NAN;
        data[11] = f32::INFINITY;
        data[99] = f32::NEG_INFINITY;
        let holes: Vec<(u64, f32)> = [10, 11, 99]
            .iter()
            .map(|&i| (i, data[i as usize]))
            .collect();
        let mut scratch = Vec::new();
        for (a, b) in [
            (0, 10),
            (0, 11),
            (5, 12),
            (11, 12),
            (12, 99),
            (12, 100),
            (0, 100),
            (7, 7),
        ] {
            let want: Vec<f32> = data[a..b]
                .iter()
                .map(|&v| if v.is_finite() { v } else { 0.0 })
                .collect();
            let got = piece(&data, a..b, &holes, &mut scratch);
            assert_eq!(got, &want[..], "{a}..{b}");
            // A piece without a hole is the input itself, not a copy.
            let clean = holes.iter().all(|h| !(a..b).contains(&(h.0 as usize)));
            assert_eq!(got.as_ptr() == data[a..].as_ptr(), clean, "{a}..{b}");
        }
    }
}
