//! The laned split (method 4) round-trips bit-exactly on the scalar and the AVX2 decoder at
//! every length up to 300 and at large ones, for 2-, 4- and 8-byte elements (random bits,
//! float-like values, NaN payloads, −0, subnormals, zero rows and columns); every truncation
//! is an error and no corruption panics.

use super::*;

/// splitmix64: a fixed stream of test bits (independent of the code under test).
struct Bits(u64);

impl Bits {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A roughly Gaussian f64 (sum of four uniforms, centred).
    fn gauss(&mut self) -> f64 {
        (0..4)
            .map(|_| (self.next() >> 11) as f64 / (1u64 << 53) as f64)
            .sum::<f64>()
            - 2.0
    }
}

/// `n` elements of `w` bytes of a kind: 0 random bits, 1 float-like (skewed heads), 2 float-like
/// with zeros, −0, NaN payloads, infinities and subnormals mixed in.
fn elements(n: usize, w: usize, kind: u32, seed: u64) -> Vec<u8> {
    let mut r = Bits(seed);
    let mut out = Vec::with_capacity(n * w);
    for _ in 0..n {
        let x = r.gauss() * 0.05;
        let special = kind == 2 && r.next() % 4 == 0;
        let u: u64 = match (kind, w) {
            (0, _) => r.next(),
            (_, 8) => x.to_bits(),
            (_, 4) => (x as f32).to_bits() as u64,
            // bfloat16 (the top half of a float32) or float16 from the same value.
            (_, _) if r.next() % 2 == 0 => ((x as f32).to_bits() >> 16) as u64,
            _ => half_bits(x as f32) as u64,
        };
        let u = if special {
            let top = 8 * w as u32 - 1;
            let exp_all = ((1u64 << top) - 1) & !((1u64 << (top - exp_bits(w))) - 1);
            match r.next() % 6 {
                0 => 0,
                1 => 1 << top,                                    // −0
                2 => exp_all | (r.next() & 0xFFFF) | 1,           // NaN with a payload
                3 => exp_all,                                     // +∞
                4 => r.next() & ((1 << (top - exp_bits(w))) - 1), // subnormal
                _ => (1 << top) | exp_all | 1,                    // negative NaN
            }
        } else {
            u
        };
        out.extend_from_slice(&u.to_le_bytes()[..w]);
    }
    out
}

fn exp_bits(w: usize) -> u32 {
    match w {
        2 => 8,
        4 => 8,
        _ => 11,
    }
}

/// float32 → float16 bits by truncation (the bit layout is what matters here).
fn half_bits(x: f32) -> u16 {
    let u = x.to_bits();
    let sign = (u >> 16) & 0x8000;
    let e = ((u >> 23) & 0xFF) as i32 - 127 + 15;
    if e <= 0 {
        return sign as u16;
    }
    if e >= 31 {
        return (sign | 0x7C00) as u16;
    }
    (sign | (e as u32) << 10 | (u >> 13) & 0x3FF) as u16
}

/// The laned coding of `bytes` (as a matrix of `rows` rows), with its method-4 check.
fn laned(bytes: &[u8], w: usize, rows: usize) -> Vec<u8> {
    let mut out = Vec::new();
    assert!(
        super::super::encode(bytes, w, rows, true, &mut out),
        "laned layout written"
    );
    out
}

fn decode_both(p: &[u8], w: usize, len: usize) -> Vec<Result<Vec<u8>>> {
    let mut res = Vec::new();
    for simd in [false, lane_plane::have_avx2()] {
        let mut out = vec![0xA5u8; len];
        let mut pos = 0;
        res.push(decode_with(p, &mut pos, w, &mut out, simd).and_then(|()| {
            if pos == p.len() {
                Ok(out)
            } else {
                Err(Error::corrupt("trailing bytes"))
            }
        }));
    }
    res
}

fn round_trip(bytes: &[u8], w: usize, rows: usize, what: &str) -> Vec<u8> {
    let p = laned(bytes, w, rows);
    for (k, r) in decode_both(&p, w, bytes.len()).into_iter().enumerate() {
        let out = r.unwrap_or_else(|e| panic!("{what} (path {k}): {e}"));
        assert!(out == bytes, "{what} (path {k}): not bit-exact");
    }
    p
}

#[test]
fn every_length_to_300_round_trips_on_both_paths() {
    for w in [2, 4, 8] {
        for kind in 0..3 {
            for n in 0..=300 {
                let b = elements(n, w, kind, (w * 1000 + n) as u64 + kind as u64 * 7);
                round_trip(&b, w, 1, &format!("w {w} kind {kind} n {n}"));
            }
        }
    }
}

#[test]
fn large_tensors_round_trip_on_both_paths() {
    for (w, kind, n) in [
        (4, 1, 70_001),
        (2, 1, 65_555),
        (2, 2, 66_000),
        (8, 1, 40_000),
        (4, 2, 100_003),
    ] {
        let b = elements(n, w, kind, n as u64);
        let p = round_trip(&b, w, 1, &format!("w {w} kind {kind} n {n}"));
        // Float-like heads are skewed: their plane is rANS-coded (kind byte 2 after the mask
        // flag and the zero count), so the lanes are what was tested.
        assert_eq!(
            (p[0], p[9]),
            (0, 2),
            "w {w} kind {kind}: heads coded on lanes"
        );
    }
}

#[test]
fn zero_rows_and_columns_are_masked_and_round_trip() {
    let (rows, cols) = (37, 41);
    for w in [2, 4, 8] {
        let mut b = elements(rows * cols, w, 1, 5);
        for r in [0, 3, 36] {
            b[r * cols * w..(r + 1) * cols * w].fill(0);
        }
        for r in 0..rows {
            let at = (r * cols + 7) * w;
            b[at..at + w].fill(0);
        }
        let p = round_trip(&b, w, rows, &format!("masked w {w}"));
        assert_eq!(p[0], 1, "w {w}: masks present");
    }
}

#[test]
fn the_zero_count_is_the_number_of_kept_zero_heads() {
    // float32: 1.0 (head 127), +0 (head 0), the subnormal 1e-45 (head 0), −0 (head 0).
    let vals = [1.0f32, 0.0, f32::from_bits(1), -0.0, 2.0];
    let b: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let p = round_trip(&b, 4, 1, "hand-checked");
    assert_eq!(p[0], 0, "no masks");
    assert_eq!(u64::from_le_bytes(p[1..9].try_into().unwrap()), 3);
}

#[test]
fn truncations_are_errors_and_corruptions_do_not_panic() {
    for (w, kind, n) in [(4, 1, 300), (2, 2, 257), (8, 2, 64), (4, 1, 3_000)] {
        let b = elements(n, w, kind, 99);
        let p = laned(&b, w, 1);
        // Every cut of the small payloads; of the large one, every cut near either end and
        // every 61st between (each cut decodes the whole prefix: quadratic).
        let cuts =
            (0..p.len()).filter(|&c| p.len() < 4000 || c < 300 || c + 300 > p.len() || c % 61 == 0);
        for cut in cuts {
            for r in decode_both(&p[..cut], w, b.len()) {
                assert!(
                    r.is_err(),
                    "w {w} n {n}: a cut at {cut} of {} decoded",
                    p.len()
                );
            }
        }
        let mut r = Bits(n as u64);
        for _ in 0..400 {
            let mut q = p.clone();
            let at = (r.next() % q.len() as u64) as usize;
            q[at] ^= 1 << (r.next() % 8);
            let [a, s] = &decode_both(&q, w, b.len())[..] else {
                unreachable!("two paths")
            };
            // Both paths agree on whether the payload decodes, and to what.
            match (a, s) {
                (Ok(x), Ok(y)) => assert!(x == y, "paths differ after a flip at {at}"),
                (Err(_), Err(_)) => {}
                _ => panic!("one path decoded a flip at {at}, the other did not"),
            }
        }
    }
}

#[test]
fn a_lane_word_count_past_the_symbols_is_corrupt() {
    let b = elements(1000, 4, 1, 3);
    let mut p = laned(&b, 4, 1);
    // After the mask flag (1), the zero count (8) and the heads' kind, table and counts: raise
    // lane 0's word count far beyond one word per symbol.
    let table_end = {
        let mut pos = 10;
        crate::entropy::order0::read_freq_table_at(&p, &mut pos).unwrap();
        pos
    };
    p[table_end..table_end + 4].copy_from_slice(&100_000u32.to_le_bytes());
    for r in decode_both(&p, 4, b.len()) {
        assert!(r.unwrap_err().message().contains("words"));
    }
}

/// The zero rows and columns by hand, where the column pass may stop early (every column has
/// a non-zero byte) and where it must not (a column's only non-zero byte lies past the rows
/// it tests at).
#[test]
fn zero_masks_stop_only_when_no_column_can_be_zero() {
    use super::super::zero_masks;
    let (rows, cols, w) = (20, 5, 2);
    let matrix = |f: &dyn Fn(usize, usize) -> bool| -> Vec<u8> {
        let mut b = vec![0u8; rows * cols * w];
        for r in 0..rows {
            for c in 0..cols {
                if f(r, c) {
                    // A non-zero high byte only: the column test looks at every byte.
                    b[(r * cols + c) * w + 1] = 0x3C;
                }
            }
        }
        b
    };
    // All non-zero: no masks.
    assert!(zero_masks(&matrix(&|_, _| true), w, rows).is_none());
    // Column 3 non-zero only in row 17 (after the tests at rows 8 and 16): not a zero column,
    // and no other mask, so none.
    assert!(zero_masks(&matrix(&|r, c| c != 3 || r == 17), w, rows).is_none());
    // Column 3 zero throughout.
    let (zr, zc) = zero_masks(&matrix(&|_, c| c != 3), w, rows).expect("masks");
    assert!(zr.iter().all(|&z| !z));
    assert_eq!(zc, [false, false, false, true, false]);
    // Row 12 zero, every column non-zero from the first rows on (the pass stops early).
    let (zr, zc) = zero_masks(&matrix(&|r, _| r != 12), w, rows).expect("masks");
    assert_eq!(zr.iter().filter(|&&z| z).count(), 1);
    assert!(zr[12] && zc.iter().all(|&z| !z));
}

/// A block with zero heads merged run by run gives the scalar merge's bytes: zeros first,
/// last, side by side, alone and everywhere, runs shorter and longer than a vector, for 2-
/// and 4-byte elements.
#[test]
fn merge_around_zeros_is_the_scalar_merge() {
    if !lane_plane::have_avx2() {
        return;
    }
    fn check<const W: usize>(h: &[u8], r: &mut Bits) {
        let nb = h.iter().filter(|&&x| x == 0).count();
        let plane =
            |len: usize, r: &mut Bits| -> Vec<u8> { (0..len).map(|_| r.next() as u8).collect() };
        let pa: Vec<Vec<u8>> = (0..W - 1).map(|_| plane(h.len() - nb, r)).collect();
        let pb: Vec<Vec<u8>> = (0..W - 1).map(|_| plane(nb, r)).collect();
        let (mut ra, mut rb): ([&[u8]; 7], [&[u8]; 7]) = ([&[]; 7], [&[]; 7]);
        for j in 0..W - 1 {
            (ra[j], rb[j]) = (&pa[j], &pb[j]);
        }
        let mut want = vec![0u8; W * h.len()];
        merge::<W>(h, &ra[..W - 1], &rb[..W - 1], &None, &mut want);
        let mut got = vec![0u8; W * h.len()];
        assert!(merge_around_zeros::<W>(h, &ra, &rb, &mut got, true));
        assert!(got == want, "W {W}, {} heads, zeros at {:?}", h.len(), {
            h.iter()
                .enumerate()
                .filter(|(_, &x)| x == 0)
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        });
    }
    let mut r = Bits(99);
    for len in [1usize, 15, 16, 17, 40, 1024] {
        let layouts: Vec<Vec<usize>> = vec![
            vec![0],
            vec![len - 1],
            vec![0, len - 1],
            vec![len / 2],
            (len / 3..(len / 3 + 3).min(len)).collect(),
            (0..len).collect(),
            (0..len).step_by(7).collect(),
        ];
        for zeros in layouts {
            let mut h: Vec<u8> = (0..len).map(|_| 1 + (r.next() % 255) as u8).collect();
            for &k in &zeros {
                h[k] = 0;
            }
            check::<2>(&h, &mut r);
            check::<4>(&h, &mut r);
        }
    }
}
