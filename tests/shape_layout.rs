//! Dimensions of size 1 do not change the model (issue 13, item 11): the same values stored as
//! `(N,)`, `(N, 1)`, `(1, N)` and `(N, 1, 1)` must cost the same bits. Before the fix, `(N, 1)`
//! was N channels of one value each and cost 1.7–2× the bits of `(N,)` at relative L2 1e-2 and
//! 1e-3 (and 6× in adaptive mode). Frames written that way must still decode.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "common/data.rs"]
mod data;

use alcm::{decompress, peek, read_npy_f32, Encoder, EncoderConfig, Mode};
use std::path::Path;

/// Every shipped 1-D real tensor (biases, norms, bias gradients, their Adam moments), joined.
fn real_vectors() -> Vec<f32> {
    let mut out = Vec::new();
    for p in data::data_files() {
        let (x, s) = read_npy_f32(&p).unwrap();
        if s.len() == 1 {
            out.extend(x);
        }
    }
    out
}

const MODES: [Mode; 5] = [
    Mode::Adaptive,
    Mode::RelativeL2(1e-1),
    Mode::RelativeL2(1e-2),
    Mode::RelativeL2(1e-3),
    Mode::MaxAbs(1e-4),
];

/// Frame sizes of `x` in the four shapes; each frame decodes to its shape within the bound.
fn sizes(x: &[f32], mode: Mode) -> Vec<usize> {
    let n = x.len();
    let enc = Encoder::new(EncoderConfig::default().with_mode(mode)).unwrap();
    [vec![n], vec![n, 1], vec![1, n], vec![n, 1, 1]]
        .iter()
        .map(|shape| {
            let c = enc.compress(x, shape, None).unwrap();
            let back = decompress(&c.bytes).unwrap();
            assert_eq!(&back.shape, shape);
            let (rel, max) = common::errors(x, &back.data);
            match mode {
                Mode::RelativeL2(e) => assert!(rel <= e, "{mode:?} {shape:?}: {rel}"),
                Mode::MaxAbs(e) => assert!(max <= e, "{mode:?} {shape:?}: {max}"),
                _ => assert!(rel < 0.05, "{mode:?} {shape:?}: {rel}"),
            }
            assert_eq!(peek(&c.bytes).unwrap().n_channels, 1, "{shape:?}");
            c.bytes.len()
        })
        .collect()
}

/// The only difference allowed is the header's 8 bytes per extra dimension (docs/FORMAT.md:
/// one u64 per dimension): the payload is the same.
fn assert_same_but_header(x: &[f32]) {
    for mode in MODES {
        let s = sizes(x, mode);
        assert_eq!(
            s,
            vec![s[0], s[0] + 8, s[0] + 8, s[0] + 16],
            "{mode:?}, {} values",
            x.len()
        );
    }
}

#[test]
fn trivial_dimensions_cost_only_their_header_bytes_on_real_vectors() {
    let x = real_vectors();
    assert!(x.len() > 2000, "{}", x.len());
    assert_same_but_header(&x);
}

#[test]
fn trivial_dimensions_cost_only_their_header_bytes_on_a_gaussian_vector() {
    assert_same_but_header(&common::gaussian(6625, 7));
}

#[test]
fn a_leading_one_keeps_the_channels_of_the_matrix() {
    // (1, M, K) is the matrix (M, K): same channels, same payload, 8 more header bytes.
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gradients/grad_step00100_fc1.weight.npy");
    let (x, s) = read_npy_f32(&p).unwrap();
    assert_eq!(s, [256, 64]);
    for mode in [Mode::Adaptive, Mode::RelativeL2(1e-2)] {
        let enc = Encoder::new(EncoderConfig::default().with_mode(mode)).unwrap();
        let a = enc.compress(&x, &[256, 64], None).unwrap().bytes;
        let b = enc.compress(&x, &[1, 256, 1, 64], None).unwrap().bytes;
        assert_eq!(peek(&b).unwrap().n_channels, 256);
        assert_eq!(b.len(), a.len() + 16, "{mode:?}");
        // Everything after the shape is the same bytes, but the CRC (header: 16 + 8·rank).
        assert_eq!(a[16 + 16..a.len() - 4], b[16 + 32..b.len() - 4], "{mode:?}");
    }
}

#[test]
fn frames_written_with_one_channel_per_row_still_decode() {
    // Written by alcm before the fix (commit 8faed53): shape (128, 1) or (128, 1, 1) as 128
    // channels of one value. They must decode bit-exactly as they did then, within their bound.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy_shape");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gradients/grad_step00100_fc2.bias.npy");
    let (x, _) = read_npy_f32(&src).unwrap();
    for (name, shape, bound) in [
        ("fc2bias_128x1_adaptive", &[128usize, 1][..], None),
        ("fc2bias_128x1_rel1e-2", &[128, 1], Some((1e-2, 0.0))),
        ("fc2bias_128x1x1_rel1e-3", &[128, 1, 1], Some((1e-3, 0.0))),
        ("fc2bias_128x1_maxabs1e-5", &[128, 1], Some((0.0, 1e-5))),
    ] {
        let frame = std::fs::read(dir.join(format!("{name}.alcm"))).unwrap();
        assert_eq!(peek(&frame).unwrap().n_channels, 128, "{name}");
        let d = decompress(&frame).unwrap();
        assert_eq!(d.shape, shape, "{name}");
        // The values that alcm decoded then, as raw little-endian f32.
        let want: Vec<f32> = std::fs::read(dir.join(format!("{name}.decoded.f32")))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let same = d
            .data
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same && d.data.len() == want.len(), "{name}");
        let (rel, max) = common::errors(&x, &d.data);
        match bound {
            Some((r, 0.0)) => assert!(rel <= r, "{name}: {rel}"),
            Some((_, m)) => assert!(max <= m, "{name}: {max}"),
            None => assert!(rel < 0.05, "{name}: {rel}"),
        }
    }
}
