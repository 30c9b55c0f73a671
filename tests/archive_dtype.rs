//! Archives of bfloat16, float16 and float64 tensors: coded through the typed codec in every
//! mode, the bounds checked on the decoded values with decoders written here from the IEEE
//! layouts (not the library's), lossless byte-identical, row ranges equal to slices of the
//! whole tensor, and the index ids equal to the frame format's (`ALCM_DTYPE_*`: 1 float32,
//! 2 bfloat16, 3 float16, 4 float64).

#[path = "common/data.rs"]
mod data;

use std::io::Cursor;

use alcm::archive::{ArchiveOptions, ArchiveReader, ArchiveWriter, Bound, Dtype, ReadOptions};

/// bfloat16 bits are the upper half of a binary32.
fn bf16_value(h: u16) -> f64 {
    f32::from_bits((h as u32) << 16) as f64
}

/// binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
fn f16_value(h: u16) -> f64 {
    let s = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let (e, m) = ((h >> 10) & 31, (h & 1023) as f64);
    match e {
        0 => s * m * 2f64.powi(-24),
        31 if m == 0.0 => s * f64::INFINITY,
        31 => f64::NAN,
        _ => s * (1.0 + m / 1024.0) * 2f64.powi(e as i32 - 15),
    }
}

fn values(dtype: Dtype, bytes: &[u8]) -> Vec<f64> {
    match dtype {
        Dtype::BF16 => bytes
            .chunks(2)
            .map(|c| bf16_value(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::F16 => bytes
            .chunks(2)
            .map(|c| f16_value(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::F64 => bytes
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        _ => unreachable!(),
    }
}

/// The tensor `x` (float32 values) in `dtype`, little-endian; float64 gets a low-order
/// perturbation so that its values are not all float32 ones.
fn encode(dtype: Dtype, x: &[f32]) -> Vec<u8> {
    match dtype {
        Dtype::BF16 => x
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
        Dtype::F16 => x
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
        Dtype::F64 => x
            .iter()
            .enumerate()
            .flat_map(|(i, &v)| (v as f64 * (1.0 + (i % 7) as f64 * 1e-10)).to_le_bytes())
            .collect(),
        _ => unreachable!(),
    }
}

/// (name, dtype, shape, bytes): real tensors of tests/data in each type, and one tensor of
/// special values.
fn tensors() -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let mut out = Vec::new();
    let files = data::data_files();
    for (k, dtype) in [Dtype::BF16, Dtype::F16, Dtype::F64]
        .into_iter()
        .enumerate()
    {
        for p in files.iter().skip(k).step_by(4).take(4) {
            let (x, shape) = alcm::read_npy_f32(p).unwrap();
            let name = format!("{dtype:?}.{}", p.file_stem().unwrap().to_string_lossy());
            out.push((name, dtype, shape, encode(dtype, &x)));
        }
        let mut special: Vec<f32> = (0..3000).map(|i| (i as f32 * 0.01).sin()).collect();
        special[..6].copy_from_slice(&[
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            1e-7,
            -3e-8,
        ]);
        out.push((
            format!("{dtype:?}.special"),
            dtype,
            vec![30, 100],
            encode(dtype, &special),
        ));
    }
    out
}

fn l2(a: impl Iterator<Item = f64>) -> f64 {
    a.map(|v| v * v).sum::<f64>().sqrt()
}

/// Checks decoded `y` against input `x` (both little-endian `dtype` bytes) for `bound`.
fn check(name: &str, dtype: Dtype, x: &[u8], y: &[u8], bound: Bound) {
    assert_eq!(x.len(), y.len(), "{name}");
    if bound == Bound::Lossless {
        assert_eq!(x, y, "{name}: lossless is byte-identical");
        return;
    }
    let (a, b) = (values(dtype, x), values(dtype, y));
    for (i, (p, q)) in a.iter().zip(&b).enumerate() {
        if !p.is_finite() {
            // Non-finite values are kept exactly.
            assert!(
                p.is_nan() && q.is_nan() || p == q,
                "{name}[{i}]: {p} -> {q}"
            );
        }
    }
    let finite = || a.iter().zip(&b).filter(|(p, _)| p.is_finite());
    match bound {
        Bound::RelativeL2(e) => {
            let err = l2(finite().map(|(p, q)| p - q));
            assert!(err <= e * l2(finite().map(|(p, _)| *p)), "{name}: {err}");
        }
        Bound::MaxAbs(e) => {
            for (p, q) in finite() {
                assert!((p - q).abs() <= e, "{name}: {p} -> {q}");
            }
        }
        Bound::Lossless => unreachable!(),
    }
}

#[test]
fn half_and_double_tensors_round_trip_coded_in_every_mode() {
    let ts = tensors();
    let raw: usize = ts.iter().map(|t| t.3.len()).sum();
    for bound in [
        Bound::Lossless,
        Bound::RelativeL2(1e-3),
        Bound::RelativeL2(1e-2),
        Bound::MaxAbs(1e-3),
        Bound::MaxAbs(1e-5),
    ] {
        // Small blocks, so that large tensors span several (row ranges cross them).
        let opts = ArchiveOptions::default().with_block_values(1000);
        let mut w = ArchiveWriter::new(Vec::new(), opts).unwrap();
        for (n, d, s, b) in &ts {
            let e = w.add_typed(n, *d, s, b, bound).unwrap();
            assert_eq!(e.bound, bound);
            assert!(e.achieved <= bound.target(), "{n}: {}", e.achieved);
        }
        let bytes = w.finish().unwrap();
        let mut r = ArchiveReader::new(Cursor::new(&bytes[..]), ReadOptions::default()).unwrap();
        let mut coded = 0;
        for (n, d, s, b) in &ts {
            let e = r.entry(n).unwrap().clone();
            assert_eq!((e.dtype, &e.shape), (*d, s));
            coded += e.blocks.iter().filter(|b| !b.raw).count();
            let y = r.read_bytes(n).unwrap();
            check(n, *d, b, &y, bound);
            if s.first().is_some_and(|&r| r >= 3) {
                let (lo, hi) = (1, s[0] - 1);
                let row = y.len() / s[0];
                assert_eq!(
                    r.read_rows_bytes(n, lo..hi).unwrap(),
                    y[lo * row..hi * row],
                    "{n}"
                );
            }
            assert!(r.read_f32(n).is_err(), "{n} is not float32");
        }
        // Coded, not stored raw: most blocks are frames, and the archive is smaller.
        assert!(coded > ts.len(), "{bound:?}: {coded} coded blocks");
        assert!(bytes.len() < raw, "{bound:?}: {} >= {raw}", bytes.len());
        assert_eq!(r.verify().unwrap(), ts.len());
    }
}

#[test]
fn lossy_bounds_on_other_types_cost_less_than_lossless() {
    // A smooth float64 tensor: a lossy bound must actually shrink it (the codec ran).
    let x: Vec<f64> = (0..20000).map(|i| (i as f64 * 1e-3).sin()).collect();
    let b: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let size = |bound| {
        let mut w = ArchiveWriter::new(Vec::new(), ArchiveOptions::default()).unwrap();
        w.add_typed("x", Dtype::F64, &[200, 100], &b, bound)
            .unwrap();
        w.finish().unwrap().len()
    };
    let (lossless, lossy) = (size(Bound::Lossless), size(Bound::MaxAbs(1e-4)));
    assert!(
        lossless < b.len() && lossy * 4 < lossless,
        "{lossy} {lossless}"
    );
}

#[test]
fn float_type_ids_are_the_frame_formats() {
    // The frame format's element types and their ids (`ALCM_DTYPE_*`).
    for (d, t) in [
        (Dtype::F32, alcm::Dtype::F32),
        (Dtype::BF16, alcm::Dtype::BF16),
        (Dtype::F16, alcm::Dtype::F16),
        (Dtype::F64, alcm::Dtype::F64),
    ] {
        assert_eq!(d.id(), t.id());
        assert_eq!(d.element_type(), Some(t));
    }
    assert_eq!((Dtype::BF16.id(), Dtype::F16.id()), (2, 3));
    assert!(!Dtype::I32.is_coded());
    // Integers take any bound but are stored raw and lossless.
    let mut w = ArchiveWriter::new(Vec::new(), ArchiveOptions::default()).unwrap();
    let e = w
        .add_typed(
            "i",
            Dtype::I32,
            &[2],
            &[1, 0, 0, 0, 2, 0, 0, 0],
            Bound::MaxAbs(1.0),
        )
        .unwrap();
    assert_eq!(e.bound, Bound::Lossless);
    assert!(e.blocks.iter().all(|b| b.raw));
}
