//! Property tests: random shapes (rank 0–8, zero-size dimensions, small element counts) and
//! values drawn to include ±0, subnormals, ±3e38, constant channels, all-zero tensors and
//! single values. In every mode the decoded tensor has the same shape and meets the promised
//! bound (checked by tests/common/bounds.rs, independently of the encoder); kept non-finite
//! values come back exactly; statistics and metrics never return NaN for finite input.

#[path = "common/bounds.rs"]
mod bounds;

use alcm::{
    channel_stats, decompress, error_metrics, tensor_stats, BackendKind, Encoder, EncoderConfig,
    Mode, NonFinitePolicy, Predictor,
};
use proptest::prelude::*;

/// A value: mostly ordinary, with a fair share of the awkward ones.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -1.0f32..1.0,
        1 => Just(0.0f32),
        1 => Just(-0.0f32),
        1 => (1u32..0x0080_0000).prop_map(f32::from_bits),          // positive subnormals
        1 => (1u32..0x0080_0000).prop_map(|b| -f32::from_bits(b)),  // negative subnormals
        1 => prop_oneof![Just(3e38f32), Just(-3e38f32), Just(f32::MAX), Just(f32::MIN)],
        1 => prop_oneof![Just(f32::MIN_POSITIVE), Just(1e-30f32), Just(1e30f32)],
        2 => any::<u32>().prop_map(f32::from_bits).prop_filter("finite", |v| v.is_finite()),
    ]
}

/// Shape of rank 0..=8 with small dimensions (0..=3, so zero-size ones are common) and at most
/// 256 values.
fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![6 => 1usize..=3, 1 => Just(0usize)], 0..=8).prop_map(
        |mut s| {
            while s.iter().product::<usize>() > 256 {
                let i = s.iter().position(|&d| d > 1).unwrap();
                s[i] -= 1;
            }
            s
        },
    )
}

/// Tensor in one of several flavours: random values, all zeros, constant channels, one value.
fn tensor() -> impl Strategy<Value = (Vec<f32>, Vec<usize>)> {
    (shape(), 0u8..4, value(), any::<u64>()).prop_flat_map(|(shape, kind, c, _)| {
        let n: usize = shape.iter().product();
        let data: BoxedStrategy<Vec<f32>> = match kind {
            0 => Just(vec![0.0f32; n]).boxed(),
            1 => Just(vec![c; n]).boxed(),
            2 => {
                // constant channels: one value per leading index
                let ch = if shape.len() >= 2 { shape[0].max(1) } else { 1 };
                prop::collection::vec(value(), ch)
                    .prop_map(move |vals| {
                        (0..n).map(|i| vals[(i * vals.len()) / n.max(1)]).collect()
                    })
                    .boxed()
            }
            _ => prop::collection::vec(value(), n).boxed(),
        };
        (data, Just(shape))
    })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Adaptive),
        (-6.0f64..-0.05).prop_map(|l| Mode::RelativeL2(10f64.powf(l))),
        (-30.0f64..30.0).prop_map(|l| Mode::MaxAbs(10f64.powf(l))),
        Just(Mode::Lossless),
    ]
}

fn config() -> impl Strategy<Value = EncoderConfig> {
    (
        mode(),
        0u8..3,
        1u32..=16,
        0u32..16,
        0.001f64..0.999,
        0.0f64..0.99,
    )
        .prop_map(|(mode, backend, base, min, threshold, max_drop_ratio)| {
            EncoderConfig::default()
                .with_mode(mode)
                .with_backend(
                    [BackendKind::Store, BackendKind::Deflate, BackendKind::Rans][backend as usize],
                )
                .with_base_precision(base)
                .with_min_precision(1 + min % base)
                .with_threshold(threshold)
                .with_max_drop_ratio(max_drop_ratio)
        })
}

fn all_finite(s: &alcm::TensorStats) -> bool {
    s.features().iter().all(|v| v.is_finite())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_mode_meets_its_bound((x, shape) in tensor(), cfg in config(), alloc in prop::option::of(0.0f64..1.0)) {
        let enc = Encoder::new(cfg.clone()).unwrap();
        let allocation = alloc.as_ref().map(std::slice::from_ref);
        let c = enc.compress(&x, &shape, allocation).unwrap();
        prop_assert!(c.bytes.len() <= alcm::compress_bound(x.len()));
        let d = decompress(&c.bytes).unwrap();
        if let Err(m) = bounds::check_bound(&cfg, &x, &shape, allocation, &d) {
            return Err(TestCaseError::fail(format!("{m}\n{cfg:?} shape {shape:?}")));
        }
        let r = &c.report;
        for v in [r.ratio, r.bits_per_value, r.dropped_ratio, r.caq, r.step] {
            prop_assert!(v.is_finite(), "report {r:?}");
        }
        prop_assert!(r.bits_per_channel.iter().all(|b| b.is_finite()), "report {r:?}");
    }

    #[test]
    fn non_finite_kept_exactly((mut x, shape) in tensor(), cfg in config(), marks in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3), 1..4)) {
        prop_assume!(!x.is_empty());
        for (i, k) in marks {
            let n = x.len();
            x[i.index(n)] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][k as usize];
        }
        let refuse = Encoder::new(cfg.clone()).unwrap();
        prop_assert_eq!(refuse.compress(&x, &shape, None).unwrap_err().kind(), alcm::ErrorKind::NonFinite);
        let cfg = cfg.with_non_finite(NonFinitePolicy::Keep);
        let d = decompress(&Encoder::new(cfg.clone()).unwrap().compress(&x, &shape, None).unwrap().bytes).unwrap();
        if let Err(m) = bounds::check_bound(&cfg, &x, &shape, None, &d) {
            return Err(TestCaseError::fail(format!("{m}\n{cfg:?} shape {shape:?}")));
        }
    }

    #[test]
    fn statistics_metrics_and_predictor_never_nan((x, shape) in tensor(), noise in prop::collection::vec(value(), 256)) {
        prop_assert!(all_finite(&tensor_stats(&x)), "{:?}", tensor_stats(&x));
        for s in channel_stats(&x, &shape).unwrap() {
            prop_assert!(all_finite(&s), "{s:?}");
        }
        let y: Vec<f32> = x.iter().zip(&noise).map(|(a, b)| a * 0.5 + b * 1e-3).map(|v| if v.is_finite() { v } else { 0.0 }).collect();
        for (a, b) in [(&x, &x), (&x, &y)] {
            let m = error_metrics(a, b).unwrap();
            for v in [m.mse, m.mae, m.rel_l2, m.max_abs, m.psnr, m.snr] {
                prop_assert!(!v.is_nan(), "{m:?}");
            }
        }
        let p = Predictor::new(8, 0.2, 0.9, 0.01, 3).unwrap();
        let a = p.predict_tensor(&x);
        prop_assert!(a.is_finite() && (0.2..=0.9).contains(&a), "{a}");
        for a in p.predict_channels(&x, &shape).unwrap() {
            prop_assert!(a.is_finite(), "{a}");
        }
    }
}
