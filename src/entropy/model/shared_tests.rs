//! Kind-6 coder: the documented order of the words (against an encoder written from the
//! module documentation), round trips on every path, the encoder's paths against each other,
//! damaged payloads, and when the plan picks kind 6.

use super::super::lanes::tests::{
    codes, golden_frames_decode_alike_on_the_scalar_path, values_and_sums_equal_the_codes,
};
use super::super::lanes::{NO_AVX512, SCALAR_ONLY};
use super::super::{decode, encode::split_rows};
use super::*;
use std::sync::atomic::Ordering;

/// The plan of `q` (`rows` rows) set to write kind 6, its codes and row minima.
fn shared_plan(q: &[i64], rows: usize) -> (ModelPlan, Vec<u32>, Vec<i64>) {
    let (u, qmin) = split_rows(q, rows).unwrap();
    let mut plan = plan_codes(&u, &qmin, 1, None).unwrap();
    plan.shared = true;
    (plan, u, qmin)
}

/// A symbol as the documentation lists it: a table symbol or `bits` uniform bits.
enum Sym {
    Table(EncSym),
    Uniform(u32, u32),
}

/// `bits` bits of `v` in pieces of 8, low first, the top piece `bits − 8(p − 1)` bits.
fn pieces_low_first(v: u64, bits: u32) -> Vec<(u32, u32)> {
    let p = bits.div_ceil(8);
    (0..p)
        .map(|k| {
            let b = if k + 1 == p { bits - 8 * (p - 1) } else { 8 };
            (((v >> (8 * k)) & ((1 << b) - 1)) as u32, b)
        })
        .collect()
}

/// The words of `plan`'s stream made from the module documentation alone: every symbol of
/// every group listed in decoding order (magnitudes with their escapes, low-bit rounds
/// aligned at the top piece, signs; states ascending within a step), then coded in reverse
/// on 16 states into one word list.
fn documented_words(plan: &ModelPlan, u: &[u32], qmin: &[i64]) -> Vec<u16> {
    let (cols, tabs, syms) = (plan.cols, tables(), enc_syms(plan.family));
    let sign_syms = plan.sign_syms();
    let cneg = plan.col_pred_neg();
    let mut list: Vec<(usize, Sym)> = Vec::new();
    let mut rbuf = row_buf::<u32>(cols);
    for i in 0..plan.rows {
        let Some(ctx) = plan.row_enc(i, u, &mut rbuf, qmin, &cneg, syms, &sign_syms, tabs) else {
            continue;
        };
        for c0 in (0..cols).step_by(STATES) {
            let n = STATES.min(cols - c0);
            let live: Vec<usize> = (0..n).filter(|&l| ctx.b[c0 + l] != 0).collect();
            let val = |l: usize| ctx.q0 + ctx.row[c0 + l] as i64;
            let pick = |l: usize| ctx.picks[ctx.b[c0 + l] as usize];
            for &l in &live {
                let (p, m) = (pick(l), val(l).unsigned_abs());
                let hi = m >> p.s;
                let base = p.ti as usize * 256;
                if hi < p.esc as u64 {
                    list.push((l, Sym::Table(syms[base + hi as usize])));
                } else {
                    let extra = hi - p.esc as u64;
                    let nb = 64 - extra.leading_zeros();
                    list.push((l, Sym::Table(syms[base + p.esc as usize])));
                    list.push((l, Sym::Uniform(nb, 6)));
                    for (v, b) in pieces_low_first(extra, nb) {
                        list.push((l, Sym::Uniform(v, b)));
                    }
                }
            }
            let low: Vec<Vec<(u32, u32)>> = (0..n)
                .map(|l| {
                    if !live.contains(&l) {
                        return Vec::new();
                    }
                    let s = pick(l).s as u32;
                    pieces_low_first(val(l).unsigned_abs() & ((1u64 << s) - 1), s)
                })
                .collect();
            let top = low.iter().map(Vec::len).max().unwrap_or(0);
            for t in (0..top).rev() {
                for (l, ps) in low.iter().enumerate() {
                    if ps.len() > t {
                        let (v, b) = ps[ps.len() - 1 - t];
                        list.push((l, Sym::Uniform(v, b)));
                    }
                }
            }
            if ctx.code_sign {
                for &l in live.iter().filter(|&&l| val(l) != 0) {
                    let j = c0 + l;
                    let flip = (val(l) < 0) != (ctx.rneg != ctx.cneg[j]);
                    let e = ctx.sign_syms[ctx.ccls[j] as usize][flip as usize];
                    list.push((l, Sym::Table(e)));
                }
            }
        }
    }
    let mut wb = WordBuf {
        buf: vec![0; 2 * list.len() + 64],
        pos: 0,
    };
    let mut x = [L; STATES];
    for (l, s) in list.iter().rev() {
        match s {
            Sym::Table(e) => wb.put(&mut x[*l], e),
            Sym::Uniform(v, b) => wb.put_uniform(&mut x[*l], *v, *b),
        }
    }
    let mut words = wb.buf[..wb.pos].to_vec();
    crate::entropy::rans::push_final_states(&x, &mut words);
    words
}

/// Shapes with escapes (`codes` plants two), wide low bits (large scales), all-zero rows and
/// columns, rows not a multiple of 16 columns, and non-negative tensors (no sign step).
fn cases() -> Vec<(usize, usize, f64, bool)> {
    vec![
        (256, 64, 0.8, true),
        (128, 256, 3.0, true),
        (64, 100, 0.5, true),
        (40, 77, 40.0, true),
        (50, 33, 900.0, false),
        (90, 16, 2.0, true),
        (30, 130, 0.05, true),
        (60, 48, 5000.0, true),
    ]
}

/// Every path of the encoder writes the documented order's words.
#[test]
fn words_follow_the_documented_order_on_every_path() {
    for (rows, cols, scale, signed) in cases() {
        let q = codes(rows, cols, scale, signed, (rows * cols) as u64);
        let (plan, u, qmin) = shared_plan(&q, rows);
        let want = documented_words(&plan, &u, &qmin);
        for path in super::super::lanes::enc_paths() {
            let got = encode_rows(&plan, &u, &qmin, path);
            assert!(got == want, "{rows}x{cols} scale {scale} {path:?}");
        }
    }
}

/// Signs of probability one half in every class (which the AVX2 encoder codes as uniform
/// bits, `lanes_enc_avx2::signs_flat`), and of one half in all classes but one: every path
/// still writes the documented order's words, and the payload decodes to the codes.
#[test]
fn words_with_even_signs_follow_the_documented_order_on_every_path() {
    for (rows, cols, scale, signed) in cases().into_iter().filter(|c| c.3) {
        let q = codes(rows, cols, scale, signed, 3 + (rows * cols) as u64);
        let (mut plan, u, qmin) = shared_plan(&q, rows);
        if plan.mode == SIGN_NONE {
            continue;
        }
        for odd in [None, Some(2)] {
            plan.fs = [M / 2; BINS];
            if let Some(k) = odd {
                plan.fs[k] = M / 2 + 1;
            }
            let want = documented_words(&plan, &u, &qmin);
            for path in super::super::lanes::enc_paths() {
                let got = encode_rows(&plan, &u, &qmin, path);
                assert!(got == want, "{rows}x{cols} scale {scale} {odd:?} {path:?}");
            }
            let p = plan.encode(&u, &qmin, 1);
            let got = decode_all(&p, &qmin, u.len()).unwrap();
            assert!(
                got == u,
                "{rows}x{cols} scale {scale} {odd:?}: decoded codes"
            );
        }
    }
}

/// Decodes `p` on the default path (AVX-512 where present), without AVX-512 and scalar only;
/// all three must agree (values or error kind). Returns the default's result.
fn decode_all(p: &[u8], qmin: &[i64], n: usize) -> Result<Vec<u32>> {
    let run = || {
        let mut a = vec![0u32; n];
        decode(p, qmin, 4, &mut a).map(|_| a)
    };
    let a = run();
    NO_AVX512.store(true, Ordering::SeqCst);
    let b = run();
    NO_AVX512.store(false, Ordering::SeqCst);
    SCALAR_ONLY.store(true, Ordering::SeqCst);
    let c = run();
    SCALAR_ONLY.store(false, Ordering::SeqCst);
    for (name, other) in [("no AVX-512", &b), ("scalar", &c)] {
        match (&a, other) {
            (Ok(x), Ok(y)) => assert!(x == y, "default and {name} paths differ"),
            (Err(x), Err(y)) => assert_eq!(x.kind(), y.kind(), "{x} / {y}"),
            (x, y) => panic!(
                "default {:?} / {name} {:?}",
                x.as_ref().err(),
                y.as_ref().err()
            ),
        }
    }
    a
}

/// Kind-6 payloads decode to the codes they were made from, on every decoding path.
#[test]
fn kind6_round_trips_on_every_path() {
    for (rows, cols, scale, signed) in cases() {
        let q = codes(rows, cols, scale, signed, 7 + rows as u64);
        let (plan, u, qmin) = shared_plan(&q, rows);
        let p = plan.encode(&u, &qmin, 1);
        assert_eq!(p[0], KIND_SHARED, "{rows}x{cols}");
        let out = decode_all(&p, &qmin, q.len()).unwrap_or_else(|e| panic!("{rows}x{cols}: {e}"));
        for (k, (&d, &v)) in out.iter().zip(&q).enumerate() {
            assert_eq!(qmin[k / cols] + d as i64, v, "{rows}x{cols} value {k}");
        }
    }
}

/// Every truncation and a sample of byte flips of a kind-6 payload give an error or (flips
/// only) some codes, never a panic, alike on every path; a payload cut anywhere in its words
/// is an error.
#[test]
fn damaged_kind6_payloads_are_refused_alike_on_every_path() {
    let (rows, cols) = (24, 64);
    let q = codes(rows, cols, 1.5, true, 3);
    let (plan, u, qmin) = shared_plan(&q, rows);
    let p = plan.encode(&u, &qmin, 1);
    assert!(decode_all(&p, &qmin, q.len()).is_ok());
    for cut in 0..p.len() {
        assert!(
            decode_all(&p[..cut], &qmin, q.len()).is_err(),
            "cut at {cut}"
        );
    }
    let mut s = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let mut d = p.clone();
        let k = (s % d.len() as u64) as usize;
        d[k] ^= 1 << ((s >> 40) % 8);
        let _ = decode_all(&d, &qmin, q.len());
    }
}

/// A state below L in the payload is refused (the vector decoder's two-words bound needs
/// every state ≥ L).
#[test]
fn a_state_below_l_is_refused() {
    let (rows, cols) = (32, 64);
    let q = codes(rows, cols, 2.0, true, 11);
    let (plan, u, qmin) = shared_plan(&q, rows);
    let mut p = plan.encode(&u, &qmin, 1);
    let words = p.len() - 2 * encode_rows(&plan, &u, &qmin, EncPath::Scalar).len();
    // State 3's high half (words start after the u32 count).
    p[words + 4 * 3] = 0;
    p[words + 4 * 3 + 1] = 0;
    let e = decode_all(&p, &qmin, q.len()).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
}

/// The plan writes kind 6 where its 48 extra bytes are at most 0.8 % of the estimate and the
/// rows have at least 16 columns; kind 5 where that is chosen; else kind 3.
#[test]
fn the_plan_chooses_kind6_by_its_share_of_the_payload() {
    let kind_of = |rows: usize, cols: usize, estimate: f64| {
        let q = codes(rows, cols, 1.0, true, 1);
        let (u, qmin) = split_rows(&q, rows).unwrap();
        let mut plan = plan_codes(&u, &qmin, 1, None).unwrap();
        let e = plan.choose_lanes(estimate);
        (plan.encode(&u, &qmin, 1)[0], e - estimate)
    };
    // 48 ≤ 0.008 · 6100: kind 6, and the estimate grows by its 48 bytes; not at 5900.
    assert_eq!(kind_of(256, 64, 6100.0), (KIND_SHARED, 48.0));
    assert_eq!(kind_of(256, 64, 5900.0), (KIND_SHAPED, 0.0));
    // Fewer than 16 columns: kind 3 whatever the size.
    assert_eq!(kind_of(2048, 15, 1e6), (KIND_SHAPED, 0.0));
    // 2^15 values with room for kind 5's 112 bytes: kind 5.
    assert_eq!(kind_of(128, 256, 14_100.0), (KIND_LANES_BLOCKS, 112.0));
    // Too small for kind 5's bytes, enough for kind 6's.
    assert_eq!(kind_of(128, 256, 13_000.0), (KIND_SHARED, 48.0));
}

/// Straight to values and summed into a buffer on every path: the codes' values bit for bit
/// (rows with escapes, wide low bits and tails of 4 columns).
#[test]
fn kind6_values_and_sums_equal_the_codes_on_every_path() {
    for (rows, cols, scale, signed) in [(200usize, 100usize, 3.0, true), (60, 48, 5000.0, true)] {
        let q = codes(rows, cols, scale, signed, 5 + rows as u64);
        let (plan, u, qmin) = shared_plan(&q, rows);
        let p = plan.encode(&u, &qmin, 1);
        assert_eq!(p[0], KIND_SHARED);
        values_and_sums_equal_the_codes(&p, &q, rows);
    }
}

/// The version-7 golden frames (kind 6) decode to their pinned CRC-32 on the scalar path too
/// (the CRCs were written from the AVX-512 path).
#[test]
fn golden_kind6_frames_decode_alike_on_the_scalar_path() {
    golden_frames_decode_alike_on_the_scalar_path("v7_", 4);
}
