//! Kind-5 lane coder: round trips, the scalar, AVX2 and AVX-512 paths against each other,
//! damaged payloads.

use super::super::tests::offset_codes;
use super::super::{accumulate_values, decode, decode_values, encode};
use super::*;
use std::sync::atomic::Ordering;

/// Codes of a rank-1 scaled Gaussian (Box-Muller), `rows × cols`, with all-zero rows and
/// columns, a few escapes and, when `signed` is false, no negative value.
pub(crate) fn codes(rows: usize, cols: usize, scale: f64, signed: bool, seed: u64) -> Vec<i64> {
    let mut s = seed;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let rs: Vec<f64> = (0..rows)
        .map(|i| {
            if i % 37 == 5 {
                0.0
            } else {
                (2.0 * rnd()).exp()
            }
        })
        .collect();
    let cs: Vec<f64> = (0..cols)
        .map(|j| {
            if j % 29 == 3 {
                0.0
            } else {
                (1.5 * rnd()).exp()
            }
        })
        .collect();
    let mut q = Vec::with_capacity(rows * cols);
    for r in &rs {
        for c in &cs {
            let g = (-2.0 * rnd().ln()).sqrt() * (std::f64::consts::TAU * rnd()).cos();
            let v = (g * r * c * scale).round() as i64;
            q.push(if signed { v } else { v.abs() });
        }
    }
    q[1234] = 1 << 28;
    q[rows * cols - 7] = if signed { -(1 << 20) } else { 1 << 20 };
    q
}

pub(crate) fn qmin_of(q: &[i64], rows: usize) -> Vec<i64> {
    q.chunks_exact(q.len() / rows)
        .map(|r| *r.iter().min().unwrap())
        .collect()
}

/// Decodes on the default path (AVX-512 where the CPU and compiler have it) and the scalar
/// one, returning both; the AVX2 path (no AVX-512) must agree with the default, values or
/// error kind.
fn decode_both(p: &[u8], qmin: &[i64], n: usize) -> (Result<Vec<u32>>, Result<Vec<u32>>) {
    let mut a = vec![0u32; n];
    let ra = decode(p, qmin, 4, &mut a).map(|_| a);
    NO_AVX512.store(true, Ordering::SeqCst);
    let mut c = vec![0u32; n];
    let rc = decode(p, qmin, 4, &mut c).map(|_| c);
    NO_AVX512.store(false, Ordering::SeqCst);
    match (&ra, &rc) {
        (Ok(x), Ok(y)) => assert!(x == y, "AVX2 and default paths differ"),
        (Err(x), Err(y)) => assert_eq!(x.kind(), y.kind(), "{x} / {y}"),
        (x, y) => panic!(
            "default {:?} / AVX2 {:?}",
            x.as_ref().err(),
            y.as_ref().err()
        ),
    }
    SCALAR_ONLY.store(true, Ordering::SeqCst);
    let mut b = vec![0u32; n];
    let rb = decode(p, qmin, 4, &mut b).map(|_| b);
    SCALAR_ONLY.store(false, Ordering::SeqCst);
    (ra, rb)
}

/// Tensors of ≥ 2^16 values are written as kind 5 (one block below 2^19 values) and decode
/// to the codes they were made from on both paths; widths not a multiple of 8 or 16 leave
/// scalar tails in each row. Smaller tensors stay kind 3.
#[test]
fn kind5_round_trips_on_both_paths() {
    let q = codes(128, 511, 3.0, true, 5);
    assert_eq!(
        encode(&q, 128).unwrap()[0],
        KIND_SHAPED,
        "below 2^16 values"
    );
    for (rows, cols, scale, signed) in [
        (384usize, 384usize, 2.0, true),
        (100, 700, 0.7, true),
        (1024usize, 512usize, 3.0, true),
        (700, 777, 0.4, true),
        (600, 1003, 40.0, false),
        (4096, 130, 1.0, true),
    ] {
        let q = codes(rows, cols, scale, signed, rows as u64);
        let p = encode(&q, rows).unwrap();
        assert_eq!(p[0], KIND_LANES_BLOCKS, "{rows}x{cols}");
        let qmin = qmin_of(&q, rows);
        let (a, b) = decode_both(&p, &qmin, q.len());
        let a = a.unwrap_or_else(|e| panic!("default {rows}x{cols}: {e}"));
        let b = b.unwrap_or_else(|e| panic!("scalar {rows}x{cols}: {e}"));
        for (name, out) in [("default", a), ("scalar", b)] {
            for (k, (&u, &v)) in out.iter().zip(&q).enumerate() {
                assert_eq!(
                    qmin[k / cols] + u as i64,
                    v,
                    "{name} {rows}x{cols} value {k}"
                );
            }
        }
    }
}

/// The version-3 golden frames decode to their pinned CRC-32 on the scalar path too (the
/// CRCs were written from the vector path on an AVX2 machine).
#[test]
fn golden_kind5_frames_decode_alike_on_the_scalar_path() {
    golden_frames_decode_alike_on_the_scalar_path("v3_", 3);
}

/// The golden frames named `prefix…` (at least `min`) decode to their pinned CRC-32 on the
/// scalar path.
pub(crate) fn golden_frames_decode_alike_on_the_scalar_path(prefix: &str, min: usize) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with(prefix) && name.ends_with(".alcm")) {
            continue;
        }
        let want = std::fs::read_to_string(p.with_extension("decoded.crc32")).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        SCALAR_ONLY.store(true, Ordering::SeqCst);
        let d = crate::decompress(&bytes);
        SCALAR_ONLY.store(false, Ordering::SeqCst);
        let d = d.unwrap();
        let bits: Vec<u8> = d
            .data
            .iter()
            .flat_map(|v| v.to_bits().to_le_bytes())
            .collect();
        let got = format!("{} {:08x}", d.data.len(), crc32fast::hash(&bits));
        assert_eq!(got, want.trim(), "{name}");
        seen += 1;
    }
    assert!(seen >= min, "{seen} golden frames {prefix}*");
}

/// Straight to values and summed into a buffer, on the vector and scalar paths: each value is
/// `(q as f64 * step) as f32` of the code it was made from, each sum `base + scale · value`
/// in f32 (what decoding and then adding gives), bit for bit; the rows hold escapes (codes up
/// to 2^28, decoded one group at a time) and scalar tails.
#[test]
fn values_and_sums_equal_the_codes_on_both_paths() {
    for (rows, cols, scale, signed) in [(1024usize, 515usize, 3.0, true), (600, 1003, 40.0, false)]
    {
        let q = codes(rows, cols, scale, signed, 7 + rows as u64);
        let p = encode(&q, rows).unwrap();
        assert_eq!(p[0], KIND_LANES_BLOCKS);
        values_and_sums_equal_the_codes(&p, &q, rows);
    }
}

/// [`decode_values`] and [`accumulate_values`] of payload `p` of the codes `q` (`rows` rows)
/// on the vector and scalar paths: each value `(q as f64 * step) as f32`, each sum `base +
/// scale · value` in f32, bit for bit.
pub(crate) fn values_and_sums_equal_the_codes(p: &[u8], q: &[i64], rows: usize) {
    let cols = q.len() / rows;
    {
        let qmin = qmin_of(q, rows);
        let base: Vec<f32> = (0..q.len()).map(|k| (k % 97) as f32 * 0.25 - 3.0).collect();
        for (step, s) in [(1e-3, 0.5f32), (1.0 / 3.0, -1.75), (7.77e-9, 3.0)] {
            let want_v: Vec<u32> = q
                .iter()
                .map(|&v| ((v as f64 * step) as f32).to_bits())
                .collect();
            let want_s: Vec<u32> = q
                .iter()
                .zip(&base)
                .map(|(&v, &o)| (o + s * (v as f64 * step) as f32).to_bits())
                .collect();
            for (scalar, no512) in [(false, false), (false, true), (true, false)] {
                SCALAR_ONLY.store(scalar, Ordering::SeqCst);
                NO_AVX512.store(no512, Ordering::SeqCst);
                let mut v = vec![0f32; q.len()];
                let rv = decode_values(p, &qmin, step, 4, &mut v, 1);
                let mut a = base.clone();
                let ra = accumulate_values(p, &qmin, step, 4, s, &mut a, 2);
                SCALAR_ONLY.store(false, Ordering::SeqCst);
                NO_AVX512.store(false, Ordering::SeqCst);
                rv.unwrap();
                ra.unwrap();
                let v: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
                let a: Vec<u32> = a.iter().map(|x| x.to_bits()).collect();
                assert!(
                    v == want_v,
                    "values, {rows}x{cols} step {step} scalar {scalar} no AVX-512 {no512}"
                );
                assert!(
                    a == want_s,
                    "sums, {rows}x{cols} step {step} scalar {scalar} no AVX-512 {no512}"
                );
            }
        }
    }
}

/// Damaged kind-5 payloads: both paths refuse them alike (truncation reported as such),
/// never panic.
#[test]
fn kind5_damage_is_refused_alike_on_both_paths() {
    let (rows, cols) = (1024usize, 520usize);
    let q = codes(rows, cols, 2.0, true, 11);
    let p = encode(&q, rows).unwrap();
    let qmin = qmin_of(&q, rows);
    let n = q.len();
    let mut s = 5u64;
    let mut refused = 0;
    for t in 0..40 {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut m = p.clone();
        if t % 4 == 0 {
            m.truncate(p.len() - 1 - (s >> 40) as usize % 1000);
        } else {
            let at = p.len() / 2 + (s >> 33) as usize % (p.len() / 2);
            m[at] ^= 1 << ((s >> 20) % 8);
        }
        let (a, b) = decode_both(&m, &qmin, n);
        match (a, b) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "mutation {t}"),
            (Err(x), Err(y)) => {
                refused += 1;
                assert_eq!(x.kind(), y.kind(), "mutation {t}: {x} / {y}");
            }
            (x, y) => panic!("mutation {t}: {:?} / {:?}", x.err(), y.err()),
        }
    }
    assert!(refused >= 30, "only {refused} of 40 mutations refused");
}

/// The AVX2 and AVX-512 encoders write the scalar encoder's words, lane by lane, whatever the sign mode,
/// with escapes, wide low parts (s > 24), offsets ≥ 2^30 and rows whose smallest code is
/// beyond ±2^30 (the cases it hands back to the scalar code) mixed in.
#[test]
fn vector_encoder_words_equal_scalar_words() {
    if !have_avx2() {
        return;
    }
    let mut modes = std::collections::BTreeSet::new();
    for (rows, cols, scale, signed, rank1_signs) in [
        (64usize, 512usize, 3.0, true, false),
        (50, 777, 0.4, true, true),
        (40, 1003, 40.0, false, false),
        (300, 130, 1.0, true, true),
        (33, 2048, 0.05, true, false),
    ] {
        let mut q = codes(rows, cols, scale, signed, (rows * cols) as u64);
        if rank1_signs {
            // Signs of an outer product: the singular-pair sign model pays.
            for (k, v) in q.iter_mut().enumerate() {
                let (i, j) = (k / cols, k % cols);
                let neg = ((i * 7) % 3 == 0) != ((j * 5) % 7 < 3);
                *v = if neg { -v.abs() } else { v.abs() };
            }
        }
        // A row of huge codes (wide low parts, offsets ≥ 2^30), a row shifted beyond 2^30.
        for j in 0..cols {
            q[2 * cols + j] = (j as i64 - if signed { 100 } else { 0 }) << 33;
            q[3 * cols + j] += 3 << 30;
        }
        let (qmin, codes) = offset_codes(&q, cols);
        let plan = plan_codes(&codes, &qmin, 1, None).unwrap();
        modes.insert(plan.mode);
        let rpb = plan.rpb;
        for r0 in (0..rows).step_by(rpb) {
            let r = r0..(r0 + rpb).min(rows);
            let a = encode_rows_with(&plan, &codes, &qmin, r.clone(), EncPath::Scalar, ALL_LANES);
            for &path in &enc_paths() {
                let b = encode_rows_with(&plan, &codes, &qmin, r.clone(), path, ALL_LANES);
                assert_eq!(b, a, "{rows}x{cols} scale {scale} block {r0}, {path:?}");
                // The two halves of the lanes coded apart (as on two threads): the same words,
                // the other half's lists empty.
                let lo = encode_rows_with(&plan, &codes, &qmin, r.clone(), path, LOW_LANES);
                let hi = encode_rows_with(&plan, &codes, &qmin, r.clone(), path, HIGH_LANES);
                assert_eq!(&lo[..8], &a[..8], "{rows}x{cols} low lanes, {path:?}");
                assert_eq!(&hi[8..], &a[8..], "{rows}x{cols} high lanes, {path:?}");
                assert!(lo[8..].iter().chain(&hi[..8]).all(|w| w.is_empty()));
            }
        }
    }
    assert!(modes.len() >= 3, "sign modes covered: {modes:?}");
}

use super::super::encode::Enc3Path;

/// The kind-3 vector paths this CPU (and compiler) has.
fn kind3_paths() -> Vec<Enc3Path> {
    let mut paths = Vec::new();
    if have_avx2() {
        paths.push(Enc3Path::Avx2);
        #[cfg(all(target_arch = "x86_64", alcm_avx512))]
        if super::super::enc3_avx512::available() {
            paths.push(Enc3Path::Avx512);
        }
    }
    paths
}

/// The kind-3 vector encoders (`enc3_avx2.rs`, `enc3_avx512.rs`) write the scalar encoder's word stream, word for
/// word, whatever the sign mode, with all-zero columns, escapes, wide low parts (s > 24),
/// offsets ≥ 2^30, rows whose smallest code is beyond ±2^30 and column counts that leave a
/// scalar tail (not a multiple of 4) mixed in.
#[test]
fn kind3_vector_encoder_words_equal_scalar_words() {
    use super::super::encode::encode_rows_with as kind3_rows;
    let mut modes = std::collections::BTreeSet::new();
    for (rows, cols, scale, signed, rank1_signs) in [
        (64usize, 512usize, 3.0, true, false),
        (50, 777, 0.4, true, true),
        (40, 1003, 40.0, false, false),
        (300, 130, 1.0, true, true),
        (33, 2050, 0.05, true, false),
        (16, 90, 0.7, true, false),
        // σ up to ~2^20: 9–24 low bits, two or three pieces.
        (24, 300, 3e4, true, false),
    ] {
        let mut q = codes(rows, cols, scale, signed, (rows * cols) as u64 + 1);
        if rank1_signs {
            for (k, v) in q.iter_mut().enumerate() {
                let (i, j) = (k / cols, k % cols);
                let neg = ((i * 7) % 3 == 0) != ((j * 5) % 7 < 3);
                *v = if neg { -v.abs() } else { v.abs() };
            }
        }
        for j in 0..cols {
            q[2 * cols + j] = (j as i64 - if signed { 100 } else { 0 }) << 33;
            q[3 * cols + j] += 3 << 30;
        }
        let (qmin, codes) = offset_codes(&q, cols);
        let plan = plan_codes(&codes, &qmin, 1, None).unwrap();
        modes.insert(plan.mode);
        let b = kind3_rows(&plan, &codes, &qmin, 0..rows, Enc3Path::Scalar);
        assert!(b.len() > rows, "{rows}x{cols}: {} words", b.len());
        for path in kind3_paths() {
            let a = kind3_rows(&plan, &codes, &qmin, 0..rows, path);
            assert_eq!(a, b, "{rows}x{cols} scale {scale} {path:?}");
        }
    }
    assert!(modes.len() >= 3, "sign modes covered: {modes:?}");
}

/// Kind-3 payloads written on the AVX2 path decode to the codes (an independent check of the
/// words beyond equality with the scalar encoder).
#[test]
fn kind3_payloads_round_trip() {
    for (rows, cols, scale, signed) in [(64usize, 512usize, 2.0, true), (31, 97, 9.0, false)] {
        let q = codes(rows, cols, scale, signed, 77);
        let p = encode(&q, rows).unwrap();
        assert_eq!(p[0], KIND_SHAPED, "{rows}x{cols}");
        let qmin = qmin_of(&q, rows);
        let mut out = vec![0u32; q.len()];
        decode(&p, &qmin, 4, &mut out).unwrap();
        for (k, (&u, &v)) in out.iter().zip(&q).enumerate() {
            assert_eq!(qmin[k / cols] + u as i64, v, "{rows}x{cols} value {k}");
        }
    }
}

/// The AVX2 sign steps read each column's symbol by its class: a row coded with seven
/// distinct sign symbol pairs, column classes cycling through 0..4, the row's class 0..4 and
/// both row signs gives the scalar encoder's words and states, lane by lane (the plans of the
/// other tests mostly have one sign class).
#[test]
#[cfg(target_arch = "x86_64")]
fn vector_sign_steps_follow_the_column_classes() {
    if !have_avx2() {
        return;
    }
    let (rows, cols) = (6, 256);
    let q = codes(rows, cols, 3.0, true, 11);
    let (qmin, codes) = offset_codes(&q, cols);
    let plan = plan_codes(&codes, &qmin, 1, None).unwrap();
    let (tabs, syms) = (tables(), enc_syms(plan.family));
    let cneg: Vec<bool> = (0..cols).map(|j| j % 3 == 0).collect();
    let ccls: Vec<u8> = (0..cols).map(|j| (j * 7 / 5 % 4) as u8).collect();
    // Seven distinct pairs; then every pair of probability one half (coded as uniform bits),
    // and one half in all classes but the last one a row reads.
    let pairs = |f: &dyn Fn(usize) -> u32| -> [[EncSym; 2]; BINS] {
        std::array::from_fn(|k| [EncSym::new(f(k), 0), EncSym::new(M - f(k), f(k))])
    };
    let tables = [
        pairs(&|k| 300 + 550 * k as u32),
        pairs(&|_| M / 2),
        pairs(&|k| if k == 6 { M / 2 - 1 } else { M / 2 }),
    ];
    let bufs = || -> Vec<WordBuf> {
        (0..LANES)
            .map(|_| WordBuf {
                buf: vec![0; 4096],
                pos: 0,
            })
            .collect()
    };
    let mut checked = 0;
    for (i, sign_syms) in (0..rows).flat_map(|i| tables.iter().map(move |t| (i, t))) {
        let Some(mut ctx) = plan.row_enc(i, &codes, &mut [], &qmin, &cneg, syms, sign_syms, tabs)
        else {
            continue;
        };
        if !super::super::lanes_enc_avx2::row_fits(ctx.q0) {
            continue;
        }
        ctx.ccls = &ccls;
        ctx.code_sign = true;
        for (rc, rneg) in [(0, false), (1, true), (2, false), (3, true)] {
            ctx.sign_syms = &sign_syms[rc..];
            ctx.rneg = rneg;
            let (mut ws, mut xs) = (bufs(), [L; LANES]);
            for j in (0..cols).rev() {
                ctx.value(&mut ws[j % LANES], &mut xs[j % LANES], j);
            }
            let (mut wv, mut xv) = (bufs(), [L; LANES]);
            let mut packs = Box::new([
                super::super::lanes_enc_avx2::Pack::new(),
                super::super::lanes_enc_avx2::Pack::new(),
            ]);
            // SAFETY: AVX2 checked above, the row fits, 256 columns (a multiple of LANES),
            // sixteen lanes, `fc` packs the family's symbols.
            unsafe {
                super::super::lanes_enc_avx2::encode_run(
                    &ctx,
                    &flat(plan.family).fc,
                    &mut wv,
                    &mut xv,
                    ALL_LANES,
                    &mut packs,
                    0..cols,
                );
            }
            assert_eq!(xv, xs, "row {i} class {rc}");
            for l in 0..LANES {
                assert_eq!(
                    &wv[l].buf[..wv[l].pos],
                    &ws[l].buf[..ws[l].pos],
                    "row {i} lane {l}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 48, "{checked} rows coded");
}

/// [`vector_sign_steps_follow_the_column_classes`] for the kind-3 AVX2 and AVX-512 encoders
/// (`enc3_avx2.rs`, `enc3_avx512.rs`): four states, one word stream, word for word the scalar
/// one.
#[test]
#[cfg(target_arch = "x86_64")]
fn kind3_vector_sign_steps_follow_the_column_classes() {
    if !have_avx2() {
        return;
    }
    let (rows, cols) = (6, 256);
    let q = codes(rows, cols, 3.0, true, 12);
    let (qmin, codes) = offset_codes(&q, cols);
    let plan = plan_codes(&codes, &qmin, 1, None).unwrap();
    let (tabs, syms) = (tables(), enc_syms(plan.family));
    let cneg: Vec<bool> = (0..cols).map(|j| j % 3 == 0).collect();
    let ccls: Vec<u8> = (0..cols).map(|j| (j * 7 / 5 % 4) as u8).collect();
    let sign_syms: [[EncSym; 2]; BINS] = std::array::from_fn(|k| {
        let f = 300 + 550 * k as u32;
        [EncSym::new(f, 0), EncSym::new(M - f, f)]
    });
    let buf = || WordBuf {
        buf: vec![0; 8192],
        pos: 0,
    };
    let mut checked = 0;
    for i in 0..rows {
        let Some(mut ctx) = plan.row_enc(i, &codes, &mut [], &qmin, &cneg, syms, &sign_syms, tabs)
        else {
            continue;
        };
        if !super::super::lanes_enc_avx2::row_fits(ctx.q0) {
            continue;
        }
        ctx.ccls = &ccls;
        ctx.code_sign = true;
        for (rc, rneg) in [(0, true), (1, false), (2, true), (3, false)] {
            ctx.sign_syms = &sign_syms[rc..];
            ctx.rneg = rneg;
            let (mut ws, mut xs) = (buf(), [L; 4]);
            for j in (0..cols).rev() {
                ctx.value(&mut ws, &mut xs[j % 4], j);
            }
            let (mut wv, mut xv) = (buf(), [L; 4]);
            // SAFETY: AVX2 checked above, the row fits, 256 columns (a multiple of 4), `fc`
            // packs the family's symbols, the buffer has room past the row's words.
            unsafe {
                super::super::enc3_avx2::encode_run4(
                    &ctx,
                    packed_syms(plan.family),
                    &mut wv,
                    &mut xv,
                    0,
                    cols,
                );
            }
            assert_eq!(xv, xs, "row {i} class {rc}");
            assert_eq!(&wv.buf[..wv.pos], &ws.buf[..ws.pos], "row {i} class {rc}");
            #[cfg(all(target_arch = "x86_64", alcm_avx512))]
            if super::super::enc3_avx512::available() {
                let (mut w5, mut x5) = (buf(), [L; 4]);
                // SAFETY: the CPU has the features (`available`), the row fits, 256 columns.
                unsafe {
                    super::super::enc3_avx512::encode_run4(&ctx, &mut w5, &mut x5, 0, cols);
                }
                assert_eq!(x5, xs, "AVX-512, row {i} class {rc}");
                assert_eq!(
                    &w5.buf[..w5.pos],
                    &ws.buf[..ws.pos],
                    "AVX-512, row {i} class {rc}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 16, "{checked} rows coded");
}

/// A kind-5 payload of several blocks (100 columns: lanes of 7 and 6 values a
/// row) is its header and each block's lanes laid out by `push_block`, whatever room the
/// payload is first made with (none: every lane's words kept apart and the payload grown;
/// half; one byte short; exact; twice) and on 1 to 3 threads (whole blocks, and blocks in
/// halves of lanes where they do not divide among the threads), and it decodes to its codes.
#[test]
fn kind5_payload_is_its_blocks_lanes_whatever_its_room() {
    let (rows, cols) = (7366, 100);
    let q = codes(rows, cols, 40.0, true, 17);
    let (qmin, u) = offset_codes(&q, cols);
    let plan = plan_codes(&u, &qmin, 1, None).unwrap();
    assert!(plan.n_blocks() >= 3, "{} blocks", plan.n_blocks());
    assert!(plan.lanes_kind());
    let mut want = plan.header(true);
    for r0 in (0..rows).step_by(plan.rpb) {
        let r = r0..(r0 + plan.rpb).min(rows);
        push_block(
            &encode_rows_with(&plan, &u, &qmin, r, enc_path(), ALL_LANES),
            &mut want,
        );
    }
    let size = want.len();
    for threads in 1..=3 {
        for room in [0, size / 2, size - 1, size, 2 * size] {
            let got = plan.encode_as(&u, &qmin, threads, true, room);
            assert!(got == want, "room {room}, {threads} threads");
        }
    }
    let (simd, scalar) = decode_both(&want, &qmin, rows * cols);
    assert_eq!(simd.unwrap(), u);
    assert_eq!(scalar.unwrap(), u);
}

/// A single block of 2^15 … 2^16 values is written as kind 5 exactly when the lanes' extra
/// 112 bytes are at most 0.8 % of the kind-3 estimate: then it decodes to its codes on both
/// paths, costs at most 1 % more than kind 3, and is the same on 1 and 2 threads. A
/// low-entropy tensor of that size stays kind 3; a large-entropy one of 2^15 − 2 values takes
/// kind 6 (`shared.rs`: 48 extra bytes) instead.
#[test]
fn mid_sized_tensors_take_lanes_when_they_cost_under_one_percent() {
    for (rows, cols, scale, lanes) in [
        (128usize, 256usize, 3.0, true),
        (256, 200, 9.0, true),
        (128, 256, 0.02, false),
        (127, 258, 9.0, false),
    ] {
        let shared = (rows, cols) == (127, 258);
        let q = codes(rows, cols, scale, true, 11);
        let (qmin, u) = offset_codes(&q, cols);
        let kind3 = plan_codes(&u, &qmin, 1, None).unwrap();
        let estimate = kind3.ideal_bytes(&u, &qmin, 1, 16);
        let p3 = kind3.encode(&u, &qmin, 1);
        assert_eq!(p3[0], KIND_SHAPED);
        let mut payloads = vec![];
        for threads in [1, 2] {
            let mut plan = plan_codes(&u, &qmin, threads, None).unwrap();
            let chosen = plan.choose_lanes(plan.ideal_bytes(&u, &qmin, threads, 16));
            let expected = match (lanes, shared) {
                (true, _) => estimate + 112.0,
                (false, true) => estimate + 48.0,
                _ => estimate,
            };
            assert_eq!(chosen, expected, "{rows}x{cols} scale {scale}");
            payloads.push(plan.encode(&u, &qmin, threads));
        }
        assert_eq!(payloads[0], payloads[1], "{rows}x{cols}: 1 and 2 threads");
        let p = &payloads[0];
        if shared {
            assert_eq!(
                p[0], KIND_SHARED,
                "{rows}x{cols} scale {scale} takes kind 6"
            );
            continue;
        }
        if !lanes {
            assert_eq!(*p, p3, "{rows}x{cols} scale {scale} stays kind 3");
            continue;
        }
        assert!(
            0.008 * estimate >= 112.0,
            "{rows}x{cols}: estimate {estimate}"
        );
        assert_eq!(p[0], KIND_LANES_BLOCKS, "{rows}x{cols}");
        assert!(
            (p.len() as f64) < 1.01 * p3.len() as f64,
            "{rows}x{cols}: {} against kind 3's {}",
            p.len(),
            p3.len()
        );
        let (a, b) = decode_both(p, &qmin, q.len());
        for (name, out) in [("default", a.unwrap()), ("scalar", b.unwrap())] {
            for (k, (&w, &v)) in out.iter().zip(&q).enumerate() {
                assert_eq!(
                    qmin[k / cols] + w as i64,
                    v,
                    "{name} {rows}x{cols} value {k}"
                );
            }
        }
    }
}

/// A lane whose first word is 0 starts below `L`, which no encoder writes: refused as corrupt
/// before any value is decoded, on every path (the AVX-512 decoder relies on states ≥ L).
#[test]
fn a_lane_starting_below_l_is_refused() {
    let (rows, cols) = (384usize, 384usize);
    let q = codes(rows, cols, 2.0, true, 11);
    let p = encode(&q, rows).unwrap();
    assert_eq!(p[0], KIND_LANES_BLOCKS);
    // One block, last in the payload: its 16 word counts, then its words up to the end.
    let count = |o: usize, l: usize| {
        u32::from_le_bytes(p[o + 4 * l..o + 4 * l + 4].try_into().unwrap()) as usize
    };
    let at = (0..p.len() - 4 * LANES)
        .find(|&o| 4 * LANES + 2 * (0..LANES).map(|l| count(o, l)).sum::<usize>() == p.len() - o)
        .expect("the block's word counts");
    let start5: usize = (0..5).map(|l| count(at, l)).sum();
    let first = at + 4 * LANES + 2 * start5;
    let qmin = qmin_of(&q, rows);
    let (a, b) = decode_both(&p, &qmin, q.len());
    assert!(a.is_ok() && b.is_ok());
    let mut m = p.clone();
    m[first..first + 2].fill(0);
    let (a, b) = decode_both(&m, &qmin, q.len());
    for e in [a.unwrap_err(), b.unwrap_err()] {
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains("below its lower bound"), "{e}");
    }
}

/// Decodes `p` into values and into sums (`base + s · value`) on `threads` threads, blocks two
/// at a time where the CPU takes them so (`pairs`) or one at a time: the bits, or the error
/// as text.
fn values_and_sums(
    p: &[u8],
    qmin: &[i64],
    n: usize,
    threads: usize,
    pairs: bool,
) -> (
    std::result::Result<Vec<u32>, String>,
    std::result::Result<Vec<u32>, String>,
) {
    NO_PAIRS.store(!pairs, Ordering::SeqCst);
    let mut v = vec![0f32; n];
    let rv = decode_values(p, qmin, 0.01, 4, &mut v, threads);
    let mut a: Vec<f32> = (0..n).map(|k| (k % 13) as f32 - 6.0).collect();
    let ra = accumulate_values(p, qmin, 0.01, 4, -0.5, &mut a, threads);
    NO_PAIRS.store(false, Ordering::SeqCst);
    let bits = |x: Vec<f32>| x.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
    (
        rv.map(|_| bits(v)).map_err(|e| e.to_string()),
        ra.map(|_| bits(a)).map_err(|e| e.to_string()),
    )
}

/// Blocks decoded two at a time (`decode_block_pair`, the AVX-512 decoder) give what they
/// give one at a time: the values and the sums, and on damaged payloads the same error (the
/// first failing block's, as text), on 1–3 threads. The shapes' last blocks are shorter than
/// the others (a pair of unequal blocks), and eight blocks on three threads (runs of 3, 3 and
/// 2) leave two threads a pair and a block alone.
#[test]
fn paired_blocks_decode_as_blocks_alone() {
    if !pairs_pay(have_avx2()) {
        return; // no AVX-512 decoder: blocks are never paired
    }
    for (rows, cols, damage) in [(1001usize, 600usize, true), (2990, 520, false)] {
        let q = codes(rows, cols, 2.0, true, rows as u64 + 3);
        let p = encode(&q, rows).unwrap();
        assert_eq!(p[0], KIND_LANES_BLOCKS, "{rows}x{cols}");
        let rpb = crate::entropy::model::rows_per_block(rows, cols);
        assert!(
            rows.div_ceil(rpb) >= 4 && rows % rpb != 0,
            "{rows}x{cols}: {rpb}"
        );
        assert_eq!(rows.div_ceil(rpb), if rows == 2990 { 8 } else { 4 });
        let qmin = qmin_of(&q, rows);
        let n = q.len();
        let mut cases = vec![p.clone()];
        let mut s = rows as u64;
        for t in 0..if damage { 8 } else { 0 } {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            let mut m = p.clone();
            if t % 4 == 0 {
                m.truncate(p.len() - 1 - (s >> 40) as usize % 5000);
            } else {
                // The later blocks' words: a pair's second block fails while its first decodes.
                let at = p.len() * 2 / 5 + (s >> 33) as usize % (p.len() * 3 / 5);
                m[at] ^= 1 << ((s >> 20) % 8);
            }
            cases.push(m);
        }
        for (c, m) in cases.iter().enumerate() {
            for threads in [1, 2, 3] {
                let paired = values_and_sums(m, &qmin, n, threads, true);
                let alone = values_and_sums(m, &qmin, n, threads, false);
                assert_eq!(paired, alone, "{rows}x{cols} case {c} threads {threads}");
                if c == 0 {
                    let v = paired.0.unwrap();
                    for (k, (&got, &code)) in v.iter().zip(&q).enumerate() {
                        let want = ((code as f64 * 0.01) as f32).to_bits();
                        assert_eq!(got, want, "{rows}x{cols} value {k}");
                    }
                }
            }
        }
    }
}

/// A random vector-group case's column signs and classes, the row's sign frequencies and
/// predicted sign, and the lanes' first states, drawn from `rnd` in that order (states near
/// `L`, rare and near-certain sign frequencies among them).
#[cfg(target_arch = "x86_64")]
pub(crate) struct RandomLanes {
    pub(crate) cneg: Vec<bool>,
    pub(crate) ccls: Vec<u8>,
    pub(crate) fr: [u32; 4],
    pub(crate) rneg: bool,
    pub(crate) x0: [u32; LANES],
}

#[cfg(target_arch = "x86_64")]
impl RandomLanes {
    pub(crate) fn new(rnd: &mut impl FnMut() -> u64) -> Self {
        let cneg: Vec<bool> = (0..LANES).map(|_| rnd() % 2 == 0).collect();
        let ccls: Vec<u8> = (0..LANES).map(|_| rnd() as u8).collect();
        let pick_f = |r: u64| match r % 4 {
            0 => 1 + (r >> 8) as u32 % 16,
            1 => M - 1 - (r >> 8) as u32 % 16,
            _ => 1 + (r >> 8) as u32 % (M - 1),
        };
        let fr = [pick_f(rnd()), pick_f(rnd()), pick_f(rnd()), pick_f(rnd())];
        let rneg = rnd() % 2 == 0;
        let x0: [u32; LANES] = std::array::from_fn(|_| match rnd() % 3 {
            0 => L + (rnd() % 256) as u32,
            1 => L + (rnd() % L as u64) as u32,
            _ => (rnd() as u32).max(L),
        });
        RandomLanes {
            cneg,
            ccls,
            fr,
            rneg,
            x0,
        }
    }

    /// The case of these lanes in sign mode `mode`, family `family`, row scale code `ai` and
    /// column scale codes `b`.
    pub(crate) fn case<'a>(&'a self, mode: u8, family: u8, ai: u8, b: &'a [u8]) -> RowCase<'a> {
        RowCase {
            mode,
            family,
            ai,
            b,
            cneg: &self.cneg,
            ccls: &self.ccls,
            fr: self.fr,
            rneg: self.rneg,
        }
    }
}

/// A random vector-group case's row and columns (the group tests of `lanes_dec_avx512.rs` and
/// [`avx2_groups_are_eight_scalar_steps_a_lane`]).
#[cfg(target_arch = "x86_64")]
pub(crate) struct RowCase<'a> {
    pub(crate) mode: u8,
    pub(crate) family: u8,
    pub(crate) ai: u8,
    pub(crate) b: &'a [u8],
    pub(crate) cneg: &'a [bool],
    pub(crate) ccls: &'a [u8],
    pub(crate) fr: [u32; 4],
    pub(crate) rneg: bool,
}

#[cfg(target_arch = "x86_64")]
impl RowCase<'_> {
    /// Column `l`'s value on its lane by the scalar step (`value_fast`) from state `x` and
    /// word position `pos`: the new state, position and code.
    pub(crate) fn scalar(&self, words: &[u8], l: usize, x: u32, pos: usize) -> (u32, usize, i64) {
        use crate::entropy::model::decode::{dpicks, value_fast};
        let (mut x, mut pos) = (x, pos);
        if self.b[l] == 0 {
            return (x, pos, 0);
        }
        let mode = self.mode;
        let f = if mode == SIGN_CLASSES {
            self.fr[self.ccls[l] as usize & 3]
        } else {
            self.fr[0]
        };
        let pk = &dpicks(self.family)[self.ai as usize + self.b[l] as usize];
        let svd = mode == SIGN_SVD || mode == SIGN_CLASSES;
        let neg = svd && (self.rneg != self.cneg[l]);
        let q = match mode {
            SIGN_PLAIN => value_fast::<SIGN_PLAIN>(&mut x, words, &mut pos, pk, neg, f),
            SIGN_NONE => value_fast::<SIGN_NONE>(&mut x, words, &mut pos, pk, neg, f),
            SIGN_SVD => value_fast::<SIGN_SVD>(&mut x, words, &mut pos, pk, neg, f),
            _ => value_fast::<SIGN_CLASSES>(&mut x, words, &mut pos, pk, neg, f),
        }
        .unwrap();
        (x, pos, q)
    }
}

/// The AVX2 decoder's groups against 8 scalar steps (`value_fast`) per lane from random
/// states, positions, words, scale codes and sign classes in every sign mode: two groups side
/// by side (`groups_avx2::<_, 2>`) give what each gives alone, and both the states,
/// positions and codes of the scalar steps, wherever the vector steps take them; a pair is
/// declined exactly when one of its groups is. Positions up to the words' last give the
/// clamped window of words (`q = last − 3 < p`). Where the coded columns' picks fit a window
/// of 16 (every other case), its permutes give what the gather gave, clamped windows at the
/// table's end included.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_groups_are_eight_scalar_steps_a_lane() {
    use std::arch::x86_64::*;
    if !have_avx2() {
        return;
    }
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    const WORDS: usize = 600;
    let words: Vec<u8> = (0..2 * WORDS).map(|_| rnd() as u8).collect();
    let (mut taken, mut declined, mut windows, mut clamped, mut near_end) =
        ([0usize; 4], 0, 0, 0, 0);
    for t in 0..40_000 {
        let mode = (t % 4) as u8;
        let family = (t / 4 % 3) as u8;
        // One case in four with a + b near the 511 picks' end (a clamped window).
        let high = t % 16 < 4;
        let ai = if high {
            230 + rnd() % 25
        } else {
            1 + rnd() % 254
        } as u8;
        let lo = if high {
            230 + rnd() % 26
        } else {
            1 + rnd() % 255
        };
        let near = rnd() % 2 == 0;
        let b: Vec<u8> = (0..LANES)
            .map(|_| match (rnd() % 9 == 0, near) {
                (true, _) => 0,
                (false, true) => (lo + rnd() % 16).min(255) as u8,
                (false, false) => rnd() as u8,
            })
            .collect();
        let rl = RandomLanes::new(&mut rnd);
        let (cneg, ccls, fr, rneg, x0) = (&rl.cneg, &rl.ccls, rl.fr, rl.rneg, rl.x0);
        // A lane takes at most two words a value: from WORDS − 2 on, its words are all read.
        let p0: [u32; LANES] = std::array::from_fn(|_| match rnd() % 8 {
            0 => (WORDS - 12 + (rnd() % 11) as usize) as u32,
            _ => 2 + (rnd() % (WORDS as u64 - 20)) as u32,
        });
        near_end += p0.iter().any(|&p| p as usize > WORDS - 4) as usize;
        let fl = flat(family);
        let win16 = pick_window_base(&b, 16).map(|lo| pick_window(fl, ai, lo, 16));
        windows += win16.is_some() as usize;
        clamped += (win16 == Some(fl.pick.len() - 16)) as usize;
        let run = |win16: Option<usize>| {
            let r = RowSimd {
                w: &words,
                fl,
                ai,
                #[cfg(alcm_avx512)]
                win: None,
                win16,
                b: &b,
                cneg,
                ccls,
                fr,
                rneg,
            };
            type Out = Option<[[u32; 8]; 3]>;
            let out = |g: Option<(__m256i, __m256i, __m256i)>| -> Out {
                g.map(|(x, p, q)| {
                    let mut v = [[0u32; 8]; 3];
                    for (d, s) in v.iter_mut().zip([x, p, q]) {
                        // SAFETY: eight lanes of 4 bytes into an array of 8.
                        unsafe { _mm256_storeu_si256(d.as_mut_ptr() as *mut __m256i, s) };
                    }
                    v
                })
            };
            // SAFETY: the test returned above unless the CPU has AVX2; eight lanes of 4 bytes
            // each from arrays of 16; `win16` as `RowsCtx` makes it.
            unsafe {
                let ld = |a: &[u32; LANES], h: usize| {
                    _mm256_loadu_si256(a.as_ptr().add(8 * h) as *const __m256i)
                };
                let (xa, xb, pa, pb) = (ld(&x0, 0), ld(&x0, 1), ld(&p0, 0), ld(&p0, 1));
                macro_rules! both {
                    ($m:expr) => {{
                        let pair = groups_avx2::<{ $m }, 2>(&r, [xa, xb], [pa, pb], [0, 8]);
                        let one = |x, p, j| {
                            groups_avx2::<{ $m }, 1>(&r, [x], [p], [j])
                                .map(|([x], [p], [q])| (x, p, q))
                        };
                        (
                            pair.map(|([x0, x1], [p0, p1], [q0, q1])| {
                                [out(Some((x0, p0, q0))), out(Some((x1, p1, q1)))]
                            }),
                            [out(one(xa, pa, 0)), out(one(xb, pb, 8))],
                        )
                    }};
                }
                match mode {
                    SIGN_PLAIN => both!(SIGN_PLAIN),
                    SIGN_NONE => both!(SIGN_NONE),
                    SIGN_SVD => both!(SIGN_SVD),
                    _ => both!(SIGN_CLASSES),
                }
            }
        };
        let (pair, ones) = run(None);
        if win16.is_some() {
            assert_eq!(
                run(win16),
                (pair, ones),
                "case {t} mode {mode}: the window's picks"
            );
        }
        match pair {
            Some(p) => assert_eq!(p, ones, "case {t} mode {mode}: pair against one by one"),
            None => {
                declined += 1;
                assert!(
                    ones.iter().any(|g| g.is_none()),
                    "case {t}: pair declined alone"
                );
            }
        }
        let case = rl.case(mode, family, ai, &b);
        for (h, g) in ones.iter().enumerate() {
            let Some([xs, ps, qs]) = g else { continue };
            for k in 0..8 {
                let l = 8 * h + k;
                let (x, pos, q) = case.scalar(&words, l, x0[l], p0[l] as usize);
                assert_eq!(
                    (xs[k], ps[k] as usize, qs[k] as i32 as i64),
                    (x, pos, q),
                    "case {t} lane {l} mode {mode}"
                );
                taken[pos - p0[l] as usize] += 1;
            }
        }
    }
    assert!(taken[2] > 0 && taken[3] == 0, "words per lane: {taken:?}");
    assert!(declined > 100, "{declined} pairs declined");
    assert!(windows > 10_000, "{windows} cases with a window of picks");
    assert!(clamped > 100, "{clamped} windows at the table's end");
    assert!(
        near_end > 1000,
        "{near_end} cases with a lane near its words' end"
    );
}
