//! Two-dimensional prediction of a matrix's signs and heads, for the predicted split (lossless
//! method 6).
//!
//! A gradient `dL/dW = Σ_b δ_b x_bᵀ` over a small batch, and Adam's moments built from such
//! gradients, are close to low rank: the sign of element (i, j) is mostly `r_i · c_j`, and its
//! exponent mostly `a_i + b_j`. A row then repeats the previous row's sign pattern, or its
//! negation, and its exponent profile shifted by a constant. Shuffle + LZ coders (blosc2) find
//! some of that as long matches in the shuffled bytes; the split's order-0 and predecessor
//! models do not see it at all. Two reversible transforms of the **kept** elements (those left
//! by the split's zero-row and zero-column masks) seen as a `kr × kc` matrix in row-major order,
//! neighbours outside the matrix counting as 0:
//!
//! - **signs**: the sign bit `s` of element (i, j) is replaced by `s ⊕ s_left ⊕ s_up ⊕ s_upleft`
//!   (for `s = r_i ⊕ c_j` exactly 0); on the first row the prediction is the left sign, on the
//!   first column the sign above;
//! - **heads**: the head `h` (the 8 bits below the sign) is replaced by `h − MED(left, up,
//!   upleft) mod 256`, MED being the median edge detector of LOCO-I / JPEG-LS (`min(left, up)`
//!   when `upleft ≥ max`, `max` when `upleft ≤ min`, else `left + up − upleft`), which is
//!   exact for `h = a_i + b_j` away from edges.
//!
//! The split then codes the transformed elements as method 3 does, except that its planes of
//! rests are still told apart by the **true** head (a zero head marks zeros and subnormals),
//! so its decoder first undoes the head transform, then merges, then undoes the sign transform
//! in row-major order (each sign's neighbours are restored before it).
//!
//! Each transform is chosen by estimate (`context::estimated_bits`, deterministic), each when it
//! saves more than the encoder's minimum ([`MIN_SAVING_BITS`], or 1 % of the raw size where the
//! laned split is the alternative): the heads when their residuals' order-0 coding is also 3 %
//! below the heads' coding ([`head_saving`], after a screen on every fourth row,
//! [`heads_may_pay`]); the signs only where the plane holding them (the top rest byte) would be
//! rANS-coded anyway, since a stored plane decodes at the speed of a copy ([`sign_saving`]).
//! On a matrix that may be laned, a sample of its first rows must show the saving first
//! ([`sample_pays`]).

use super::context;
use super::context_screen::ideal_bits;
use super::Masks;
use crate::entropy::order0;

/// Flag bit: the kept elements' signs are predicted.
pub(crate) const SIGNS: u8 = 1;
/// Flag bit: the kept elements' heads are coded as residuals of the MED predictor.
pub(crate) const HEADS: u8 = 2;
/// Every flag bit that a payload may set.
pub(crate) const ALL: u8 = SIGNS | HEADS;

/// Bits a transform must save (by estimate) to be used: more than the method's header (flags
/// and the row count, 5 bytes) and the estimates' rounding.
pub(crate) const MIN_SAVING_BITS: f64 = 64.0;

/// The kept elements of a `rows`-row matrix as a matrix of their own: the indices of the kept
/// rows and columns (O(rows + columns) memory).
pub(crate) struct Kept {
    rows: Vec<usize>,
    cols: Vec<usize>,
    /// Columns of the full matrix.
    width: usize,
}

impl Kept {
    /// The kept matrix of `n` elements as `rows` rows under `masks` (their row count must be
    /// `rows`), or `None` when it is not a matrix of at least 2 × 2 kept elements, or has more
    /// rows than the payload's `u32` can say.
    pub(crate) fn new(n: usize, rows: usize, masks: &Masks) -> Option<Kept> {
        if rows < 2 || n % rows != 0 || n / rows < 2 || rows as u64 > u32::MAX as u64 {
            return None;
        }
        let width = n / rows;
        let (kr, kc): (Vec<usize>, Vec<usize>) = match masks {
            None => ((0..rows).collect(), (0..width).collect()),
            Some((zr, zc)) => {
                if zr.len() != rows || zc.len() != width {
                    return None;
                }
                let keep = |f: &[bool]| -> Vec<usize> { (0..f.len()).filter(|&i| !f[i]).collect() };
                (keep(zr), keep(zc))
            }
        };
        (kr.len() >= 2 && kc.len() >= 2).then_some(Kept {
            rows: kr,
            cols: kc,
            width,
        })
    }

    /// Kept columns.
    pub(crate) fn cols(&self) -> usize {
        self.cols.len()
    }

    /// Kept elements.
    fn len(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    /// The sign bits (0 or 1) of the kept elements of `bytes`, in order.
    fn signs(&self, bytes: &[u8], w: usize) -> Vec<u8> {
        let kc = self.cols.len();
        let mut s = vec![0u8; self.len()];
        for (&r, out) in self.rows.iter().zip(s.chunks_exact_mut(kc)) {
            let row = &bytes[r * self.width * w..(r + 1) * self.width * w];
            if kc == self.width {
                match w {
                    2 => signs_of::<2>(row, out),
                    4 => signs_of::<4>(row, out),
                    _ => signs_of::<8>(row, out),
                }
            } else {
                for (o, &c) in out.iter_mut().zip(&self.cols) {
                    *o = row[c * w + w - 1] >> 7;
                }
            }
        }
        s
    }

    /// The first `rows` kept rows (at least 2) as a matrix of their own.
    fn first_rows(&self, rows: usize) -> Kept {
        Kept {
            rows: self.rows[..rows.clamp(2, self.rows.len())].to_vec(),
            cols: self.cols.clone(),
            width: self.width,
        }
    }
}

/// The sign bits of the elements of `W` bytes of `row` into `out` (one pass that vectorises).
fn signs_of<const W: usize>(row: &[u8], out: &mut [u8]) {
    for (o, e) in out.iter_mut().zip(row.chunks_exact(W)) {
        *o = e[W - 1] >> 7;
    }
}

/// The MED (median edge detector) prediction of a head from its left, upper and upper-left
/// neighbours: `left + up − upleft` clamped to `[min(left, up), max(left, up)]`, which is the
/// median of the three (branch-free).
#[inline(always)]
fn med(left: u8, up: u8, upleft: u8) -> u8 {
    let g = left as i16 + up as i16 - upleft as i16;
    g.clamp(left.min(up) as i16, left.max(up) as i16) as u8
}

/// The heads (kept order, `kc` kept columns) replaced by their MED residuals.
pub(crate) fn head_residuals(heads: &[u8], kc: usize) -> Vec<u8> {
    let mut r = vec![0u8; heads.len()];
    for (i, (row, out)) in heads
        .chunks_exact(kc)
        .zip(r.chunks_exact_mut(kc))
        .enumerate()
    {
        if i == 0 {
            out[0] = row[0];
            for ((o, &h), &left) in out[1..].iter_mut().zip(&row[1..]).zip(row) {
                *o = h.wrapping_sub(left);
            }
            continue;
        }
        let up = &heads[(i - 1) * kc..i * kc];
        out[0] = row[0].wrapping_sub(up[0]);
        // Five slices of one length and an index: vectorised (16-bit lanes).
        let n = kc - 1;
        let (h, left, u, ul) = (&row[1..kc], &row[..n], &up[1..kc], &up[..n]);
        let o = &mut out[1..kc];
        for c in 0..n {
            o[c] = h[c].wrapping_sub(med(left[c], u[c], ul[c]));
        }
    }
    r
}

/// A head from its residual `r` and its left, upper and upper-left neighbours (`left` as i32).
#[inline(always)]
fn unpredict(r: u8, left: i32, up: u8, upleft: u8) -> i32 {
    let u = up as i32;
    let pred = (left + (u - upleft as i32)).clamp(left.min(u), left.max(u));
    (r as i32 + pred) & 0xFF
}

/// Undoes [`head_residuals`] in place (row-major: every neighbour is restored first). Rows go
/// in pairs, the second one column behind the first: two independent chains through `left`,
/// each about five operations long.
pub(crate) fn undo_head_residuals(heads: &mut [u8], kc: usize) {
    if kc == 0 || heads.len() < kc {
        return;
    }
    for c in 1..kc {
        heads[c] = heads[c].wrapping_add(heads[c - 1]);
    }
    let rows = heads.len() / kc;
    let mut i = 1;
    while i + 1 < rows {
        let (done, rest) = heads.split_at_mut(i * kc);
        let up = &done[(i - 1) * kc..];
        let (a, b) = rest.split_at_mut(kc);
        let b = &mut b[..kc];
        a[0] = a[0].wrapping_add(up[0]);
        b[0] = b[0].wrapping_add(a[0]);
        let mut la = a[0] as i32;
        let mut lb = b[0] as i32;
        if kc > 1 {
            la = unpredict(a[1], la, up[1], up[0]);
            a[1] = la as u8;
        }
        for c in 2..kc {
            la = unpredict(a[c], la, up[c], up[c - 1]);
            a[c] = la as u8;
            lb = unpredict(b[c - 1], lb, a[c - 1], a[c - 2]);
            b[c - 1] = lb as u8;
        }
        if kc > 1 {
            b[kc - 1] = unpredict(b[kc - 1], lb, a[kc - 1], a[kc - 2]) as u8;
        }
        i += 2;
    }
    if i < rows {
        let (done, rest) = heads.split_at_mut(i * kc);
        let up = &done[(i - 1) * kc..];
        let row = &mut rest[..kc];
        row[0] = row[0].wrapping_add(up[0]);
        let mut left = row[0] as i32;
        for c in 1..kc {
            left = unpredict(row[c], left, up[c], up[c - 1]);
            row[c] = left as u8;
        }
    }
}

/// The predicted sign bit of every kept element from the signs `s` of all (kept order, `kc`
/// kept columns): `left ⊕ up ⊕ upleft`, outside neighbours 0.
fn sign_predictions(s: &[u8], kc: usize) -> Vec<u8> {
    let mut p = vec![0u8; s.len()];
    for (i, (prow, srow)) in p.chunks_exact_mut(kc).zip(s.chunks_exact(kc)).enumerate() {
        if i == 0 {
            prow[1..].copy_from_slice(&srow[..kc - 1]);
            continue;
        }
        let up = &s[(i - 1) * kc..i * kc];
        prow[0] = up[0];
        let inner = prow[1..].iter_mut().zip(srow).zip(&up[1..]).zip(up);
        for (((o, &left), &u), &ul) in inner {
            *o = left ^ u ^ ul;
        }
    }
    p
}

/// The predicted sign bits of the kept elements of `bytes` (kept order).
pub(crate) fn predicted_signs(bytes: &[u8], w: usize, kept: &Kept) -> Vec<u8> {
    sign_predictions(&kept.signs(bytes, w), kept.cols())
}

/// Calls `f(i, p)` for byte `i` of the top rest plane and the predicted sign `p` of its
/// element: the plane holds the kept elements whose head ≠ 0 (`heads`: every kept head; `p`:
/// every kept element's predicted sign).
fn for_each_top(heads: &[u8], p: &[u8], top_len: usize, mut f: impl FnMut(usize, u8)) {
    if top_len == heads.len() {
        // No zero head: element k is byte k of the plane.
        p.iter().enumerate().for_each(|(i, &pk)| f(i, pk));
        return;
    }
    let mut i = 0;
    for (&h, &pk) in heads.iter().zip(p) {
        if h != 0 {
            f(i, pk);
            i += 1;
        }
    }
    debug_assert_eq!(i, top_len);
}

/// Bits the sign prediction saves on the split's top rest plane `top` (byte `w − 2` of the rests
/// of the kept elements whose head ≠ 0, whose bit 7 is the sign) by the estimated sizes of
/// its coding before and after (`plane_bits_of`; one pass counting bytes by predicted sign),
/// or 0 when the plane would be stored as it is. A stored plane decodes at the speed of a
/// copy: coding it for its signs' sake made the fc2 gradients of ../shared/data (bfloat16)
/// decode 2.3x slower for 3 % of their size.
pub(crate) fn sign_saving(top: &[u8], heads: &[u8], p: &[u8]) -> f64 {
    let mut by_pred = vec![0u64; 512];
    for_each_top(heads, p, top.len(), |i, pk| {
        by_pred[(pk as usize) << 8 | top[i] as usize] += 1
    });
    let (mut plain, mut predicted) = ([0u64; 256], [0u64; 256]);
    for b in 0..256 {
        plain[b] = by_pred[b] + by_pred[256 + b];
        predicted[b] = by_pred[b] + by_pred[256 + (b ^ 0x80)];
    }
    let n = top.len();
    let before = super::plane_bits_of(&plain, n);
    if before >= 8.0 * n as f64 {
        return 0.0;
    }
    before - super::plane_bits_of(&predicted, n)
}

/// Replaces each sign in the split's top rest plane `top` ([`sign_saving`]) by its prediction
/// error. The signs of zero heads (zeros, subnormals) are left alone: their rests go to
/// planes of their own that are nearly all zero, and predicted signs would fill them with
/// ones; they still serve as their neighbours' predictors.
pub(crate) fn predict_top_signs(top: &mut [u8], heads: &[u8], p: &[u8]) {
    for_each_top(heads, p, top.len(), |i, pk| top[i] ^= pk << 7);
}

/// Undoes [`predict_top_signs`] in place on the decoded elements `out`, whose kept heads
/// (the true ones) are `heads`.
pub(crate) fn undo_signs(out: &mut [u8], w: usize, kept: &Kept, heads: &[u8]) {
    let kc = kept.cols();
    // Byte offset of each kept column's top byte in a row, and the previous kept row's signs.
    let offsets: Vec<usize> = kept.cols.iter().map(|&c| c * w + w - 1).collect();
    let mut up = vec![0u8; kc];
    let row_bytes = kept.width * w;
    for (&r, hrow) in kept.rows.iter().zip(heads.chunks_exact(kc)) {
        let row = &mut out[r * row_bytes..(r + 1) * row_bytes];
        let (mut left, mut upleft) = (0u8, 0u8);
        for ((u, &at), &h) in up.iter_mut().zip(&offsets).zip(hrow) {
            // Branch-free, the chain through `left` three operations long: a zero head's sign
            // was not predicted (mask 0).
            let x = *u ^ upleft;
            let keep = ((h != 0) as u8).wrapping_neg();
            let b = row[at];
            let s = (b >> 7) ^ (keep & (left ^ x) & 1);
            row[at] = (b & 0x7F) | (s << 7);
            upleft = *u;
            *u = s;
            left = s;
        }
    }
}

/// Bits the head residuals save over the heads coded as `plain` (by
/// [`context::estimated_bits`]; −∞, and no residuals, where `screen` is set and
/// [`heads_may_pay`] rules them out), the residuals, and how to code them: order-0 (on the tensors
/// of ../shared/data, predecessor contexts never paid on residuals, and counting their pairs
/// would cost as much as the heads' own).
pub(crate) fn head_saving(
    heads: &[u8],
    plain: &context::Histogram,
    kc: usize,
    screen: bool,
) -> (f64, Vec<u8>, context::Histogram) {
    if screen && !heads_may_pay(heads, kc) {
        return (f64::NEG_INFINITY, Vec::new(), (plain.0, None));
    }
    let res = head_residuals(heads, kc);
    let coded = (order0::histogram(&res), None);
    let before = context::estimated_bits(plain);
    let saving = before - context::estimated_bits(&coded);
    // The estimate prices context tables at 12 bits an entry where the coder often writes
    // them shorter (counts): on the Adam moments of fc2 it found 237 bits saved out of
    // 79 913 where coding lost 1 328. Below 3 % it is not trusted.
    let saving = if saving < before * HEADS_MARGIN {
        0.0
    } else {
        saving
    };
    (saving, res, coded)
}

/// Whether the head residuals may pay, from every fourth row of a matrix of at least 16 rows
/// (all rows below): their ideal order-0 size must be 1 % below the heads' own. A permissive
/// screen: [`head_saving`] asks for 3 % against the heads' coding, which is at most their
/// order-0 size (contexts are used only when smaller). Weights, whose residuals are larger
/// than their heads, stop here at a quarter of the cost.
fn heads_may_pay(heads: &[u8], kc: usize) -> bool {
    let rows = heads.len() / kc;
    if rows < 16 {
        return true;
    }
    let (mut plain, mut res) = ([0u64; 256], [0u64; 256]);
    for i in (1..rows).step_by(4) {
        let (row, up) = (&heads[i * kc..(i + 1) * kc], &heads[(i - 1) * kc..i * kc]);
        plain[row[0] as usize] += 1;
        res[row[0].wrapping_sub(up[0]) as usize] += 1;
        for c in 1..kc {
            plain[row[c] as usize] += 1;
            res[row[c].wrapping_sub(med(row[c - 1], up[c], up[c - 1])) as usize] += 1;
        }
    }
    ideal_bits(&res) < 0.99 * ideal_bits(&plain)
}

/// Fraction of the heads' estimated size below which a head saving is not trusted
/// ([`head_saving`]).
const HEADS_MARGIN: f64 = 0.03;

/// Kept elements in the sample of [`sample_pays`].
pub(crate) const SAMPLE: usize = 1 << 14;

/// Kept elements of the sample of [`sample_pays`] in `kept`.
pub(crate) fn sample_len(kept: &Kept) -> usize {
    kept.first_rows(SAMPLE / kept.cols()).len()
}

/// Whether the predictions save more than `min_saving` bits on the whole matrix when their
/// savings on its first rows (about [`SAMPLE`] kept elements, at least 2 rows; `heads`: the
/// kept heads, `top`: the top rest plane of those ≠ 0, as in `encode_as`) are scaled to its
/// size.
pub(crate) fn sample_pays(
    bytes: &[u8],
    w: usize,
    kept: &Kept,
    heads: &[u8],
    top: &[u8],
    min_saving: f64,
) -> bool {
    let kc = kept.cols();
    // As `sample_len`.
    let sample = kept.first_rows(SAMPLE / kc);
    let sh = &heads[..sample.len()];
    let st = &top[..sh.iter().filter(|&&h| h != 0).count()];
    let signs = match super::plane_stored(&order0::histogram(st), st.len()) {
        true => 0.0,
        false => sign_saving(st, sh, &predicted_signs(bytes, w, &sample)),
    };
    // Against the sample's order-0 heads (cheaper than its contexts, and never smaller).
    let heads = head_saving(sh, &(order0::histogram(sh), None), kc, true).0;
    let scale = kept.len() as f64 / sample.len() as f64;
    (signs.max(0.0) + heads.max(0.0)) * scale > min_saving
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn med_matches_its_definition_by_hand() {
        // (left, up, upleft) -> prediction
        assert_eq!(med(10, 20, 25), 10); // upleft above both: the smaller
        assert_eq!(med(10, 20, 5), 20); // upleft below both: the larger
        assert_eq!(med(10, 20, 12), 18); // between: left + up - upleft
        assert_eq!(med(200, 250, 201), 249);
        assert_eq!(med(7, 7, 7), 7);
        assert_eq!(med(0, 255, 1), 254);
    }

    #[test]
    fn head_residuals_of_a_rank_one_exponent_matrix_vanish_inside() {
        // h = a_i + b_j: MED is exact wherever it takes left + up - upleft.
        let a = [100u8, 103, 99, 101];
        let b = [0u8, 5, 2, 7, 1];
        let heads: Vec<u8> = a
            .iter()
            .flat_map(|&x| b.iter().map(move |&y| x + y))
            .collect();
        let r = head_residuals(&heads, 5);
        // First row: left prediction (0 before the first): 100, 5, -3, 5, -6.
        assert_eq!(&r[..5], &[100, 5, 253, 5, 250]);
        // First column: the head above: 103 - 100, 99 - 103, 101 - 99.
        assert_eq!([r[5], r[10], r[15]], [3, 252, 2]);
        // Inside, MED takes left + up − upleft where upleft lies strictly between (the row and
        // column steps of opposite signs), e.g. (1, 2): a rises by 3, b falls by 3.
        let mut exact = 0;
        for i in 1..4 {
            for j in 1..5 {
                let (l, u, ul) = (
                    heads[i * 5 + j - 1],
                    heads[i * 5 + j - 5],
                    heads[i * 5 + j - 6],
                );
                if ul > l.min(u) && ul < l.max(u) {
                    assert_eq!(r[i * 5 + j], 0, "({i}, {j})");
                    exact += 1;
                }
            }
        }
        assert!(exact >= 3, "{exact}");
        let mut back = r.clone();
        undo_head_residuals(&mut back, 5);
        assert_eq!(back, heads);
    }

    #[test]
    fn head_residuals_round_trip_on_any_bytes() {
        let mut s = 1u64;
        for (kc, rows) in [
            (2usize, 9usize),
            (3, 1),
            (3, 2),
            (7, 3),
            (7, 4),
            (64, 6),
            (5, 7),
        ] {
            let heads: Vec<u8> = (0..kc * rows)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (s >> 56) as u8
                })
                .collect();
            let mut back = head_residuals(&heads, kc);
            undo_head_residuals(&mut back, kc);
            assert_eq!(back, heads, "kc {kc}, rows {rows}");
        }
    }

    /// bfloat16 elements (little-endian) of the given bit patterns.
    fn bf16(u: &[u16]) -> Vec<u8> {
        u.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Checks [`predict_top_signs`] on `bytes` (bfloat16 elements, mantissa 0, so that the
    /// top rest byte of a head ≠ 0 is its sign alone) against the sign errors `want` of the
    /// elements whose head ≠ 0, and that [`undo_signs`] of the elements carrying those errors
    /// gives `bytes` back.
    fn check_bf16_signs(bytes: &[u8], kept: &Kept, want: &[u8]) {
        let top: Vec<u8> = bytes
            .chunks(2)
            .filter(|e| e[1] & 0x7F != 0 || e[0] & 0x80 != 0)
            .map(|e| e[1] & 0x80)
            .collect();
        let heads: Vec<u8> = bytes.chunks(2).map(|e| (e[1] << 1) | (e[0] >> 7)).collect();
        let mut p = top.clone();
        predict_top_signs(&mut p, &heads, &predicted_signs(bytes, 2, kept));
        assert_eq!(p.iter().map(|b| b >> 7).collect::<Vec<_>>(), want);
        let mut decoded = bytes.to_vec();
        let mut it = p.iter();
        for e in decoded.chunks_mut(2) {
            if e[1] & 0x7F != 0 || e[0] & 0x80 != 0 {
                e[1] = e[1] & 0x7F | it.next().unwrap();
            }
        }
        undo_signs(&mut decoded, 2, kept, &heads);
        assert_eq!(decoded, bytes);
    }

    #[test]
    fn rank_one_signs_predict_to_zero_and_back() {
        // s_ij = r_i xor c_j on a 3 x 4 matrix of ±1.0.
        let r = [0u16, 1, 1];
        let c = [1u16, 0, 1, 1];
        let u: Vec<u16> = r
            .iter()
            .flat_map(|&x| c.iter().map(move |&y| 0x3F80 | (x ^ y) << 15))
            .collect();
        let kept = Kept::new(12, 3, &None).unwrap();
        // Signs 1 0 1 1 / 0 1 0 0 / 0 1 0 0. First row: s xor left (0 before the first):
        // 1, 0^1, 1^0, 1^1. First column: s xor up: s_10 = 0 under 1, s_20 = 0 under 0.
        // Inside: s xor left xor up xor upleft, 0 for a rank-one pattern.
        check_bf16_signs(&bf16(&u), &kept, &[1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn zero_heads_keep_their_signs_and_still_predict() {
        // -1 -0 -1 / +1 -1 +0: the zeros' signs are not predicted, but (0, 1)'s sign 1 is the
        // left neighbour of (0, 2) and the upper one of (1, 1).
        let u = [0xBF80u16, 0x8000, 0xBF80, 0x3F80, 0xBF80, 0x0000];
        let kept = Kept::new(6, 2, &None).unwrap();
        // (0,0): 1 ^ 0; (0,2): 1 ^ left 1; (1,0): 0 ^ up 1; (1,1): 1 ^ (0 ^ 1 ^ 1).
        check_bf16_signs(&bf16(&u), &kept, &[1, 0, 1, 1]);
    }

    #[test]
    fn masked_rows_and_columns_are_skipped() {
        // 3 x 3 float32, row 1 and column 0 masked: the kept matrix is rows {0, 2} x cols {1, 2}.
        let masks: Masks = Some((vec![false, true, false], vec![true, false, false]));
        let kept = Kept::new(9, 3, &masks).unwrap();
        assert_eq!(
            (kept.rows.clone(), kept.cols.clone()),
            (vec![0, 2], vec![1, 2])
        );
        let mut bytes = vec![0u8; 36];
        // Kept elements 0xBF000000 (head 0x7E, top rest byte 0x80: the sign). Signs 1 1 / 1 1:
        // predictions 0 1 / 1 1 (left; up; left ^ up ^ upleft), errors 1 0 / 0 0.
        for i in [1usize, 2, 7, 8] {
            bytes[i * 4 + 3] = 0xBF;
        }
        let mut p = vec![0x80; 4];
        predict_top_signs(&mut p, &[0x7E; 4], &predicted_signs(&bytes, 4, &kept));
        assert_eq!(p, vec![0x80, 0, 0, 0]);
        let mut decoded = bytes.clone();
        decoded[2 * 4 + 3] = 0x3F;
        decoded[7 * 4 + 3] = 0x3F;
        decoded[8 * 4 + 3] = 0x3F;
        undo_signs(&mut decoded, 4, &kept, &[0x7E; 4]);
        assert_eq!(decoded, bytes);
        // Fewer than 2 kept rows or columns, or masks of other rows: no matrix.
        let one_row: Masks = Some((vec![false, true, true], vec![false, false, false]));
        assert!(Kept::new(9, 3, &one_row).is_none());
        assert!(Kept::new(9, 9, &None).is_none());
        assert!(Kept::new(12, 4, &masks).is_none());
        // More rows than a u32 says (refused before anything is allocated).
        let rows = (u32::MAX as usize).saturating_add(1);
        assert!(Kept::new(rows.saturating_mul(2), rows, &None).is_none());
    }
}
