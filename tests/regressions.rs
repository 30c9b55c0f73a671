//! Every fuzzer finding, kept forever as a test with the crashing input inline.
//! (Found with `fuzz/run.sh`; see docs/SECURITY.md.)

#[path = "common/bounds.rs"]
mod bounds;
#[path = "common/roundtrip_case.rs"]
mod roundtrip_case;

use alcm::{decompress, BackendKind, Encoder, EncoderConfig, Mode, NonFinitePolicy};

/// Replays a `roundtrip` fuzz input exactly as the fuzz target reads it.
fn replay(raw: &[u8]) {
    let case = roundtrip_case::decode(raw).expect("the input is a case");
    if let Err(m) = roundtrip_case::run(&case) {
        panic!("{m}\nconfig {:?}\nshape {:?}", case.cfg, case.shape);
    }
}

/// roundtrip, crash-d95e4716eda4a7d143a650e0a0bc56c39731015f (raw fuzz input inline): a
/// channel whose range is subnormal. Adaptive mode at 16 bits wants a step of
/// 1.13e-40 / 65535 = 1.72e-45, which rounds to the smallest f32 (1.40e-45) when stored, so
/// with the top code capped at 65535 the largest value came back as 9.18e-41 instead of
/// 1.13e-40 — an error of 2.1e-41, four orders of magnitude beyond step/2.
/// Fix (src/codec/quant.rs, quantize_range_channel): the top code follows the stored step, and the
/// step is at least the smallest positive f32 (it used to collapse to 0 for tinier ranges).
#[test]
fn fuzz_roundtrip_subnormal_channel_range_adaptive() {
    const RAW: [u8; 39] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3a, 0x01,
    ];
    replay(&RAW);
    // The same case written out:
    let cfg = EncoderConfig::default()
        .with_base_precision(16)
        .with_min_precision(16)
        .with_threshold(0.999)
        .with_max_drop_ratio(0.99)
        .with_backend(BackendKind::Store)
        .with_deflate_level(2)
        .with_mode(Mode::Adaptive)
        .with_non_finite(NonFinitePolicy::Keep);
    let shape = [7usize, 7, 7];
    let mut x = vec![0f32; 343];
    x[5] = f32::from_bits(0x13aff); // 1.13e-40
    let enc = Encoder::new(cfg.clone()).unwrap();
    // The full allocation (max_bits; 1.0 was clamped to it before issue 13 made values
    // outside [min_bits, max_bits] an error).
    for alloc in [None, Some(&[0.9][..])] {
        let d = decompress(&enc.compress(&x, &shape, alloc).unwrap().bytes).unwrap();
        bounds::check_bound(&cfg, &x, &shape, alloc, &d).unwrap();
    }
    // And ranges so small that the ideal step underflows to 0 (it used to decode every value
    // of the channel to its minimum).
    for hi_bits in [1u32, 2, 3, 100, 255, 70_000] {
        let x = [0.0, f32::from_bits(hi_bits), f32::from_bits(hi_bits / 2)];
        let d = decompress(&enc.compress(&x, &[3], None).unwrap().bytes).unwrap();
        bounds::check_bound(&cfg, &x, &[3], None, &d).unwrap();
    }
}

/// roundtrip, crash-3ad458fbdb7c724de09a554d7c13eadcef96909f (also found by the property
/// tests): a channel spanning [−1.7e38, f32::MAX] in adaptive mode. The stored f32 step is
/// rounded up by a fraction of an ulp, so the top code reconstructed to f32::MAX + ε in f64,
/// which `as f32` turned into +∞: a finite input came back infinite.
/// Fix (src/codec/quant.rs, dequantize, Range branch): saturate the reconstruction to ±f32::MAX
/// (the value it stands for is ≤ f32::MAX, so the error stays within step/2).
#[test]
fn fuzz_roundtrip_channel_reaching_f32_max_adaptive() {
    const RAW: [u8; 99] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x7f, 0x7f, 0x7f,
        0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,
        0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,
        0x7f, 0x7f, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbf, 0xff, 0xc6, 0xff, 0xff, 0x2c, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0xff, 0x3a,
    ];
    replay(&RAW);
    // Written out: the extremes of f32 in one channel, at every precision.
    for bits in 2..=16u32 {
        let cfg = EncoderConfig::default()
            .with_base_precision(bits)
            .with_min_precision(1);
        let x = [f32::MAX, -3e38, 1.0, f32::MAX, -1.7e38, 3e38, f32::MIN, 0.5];
        let d = decompress(
            &Encoder::new(cfg.clone())
                .unwrap()
                .compress(&x, &[2, 4], None)
                .unwrap()
                .bytes,
        )
        .unwrap();
        bounds::check_bound(&cfg, &x, &[2, 4], None, &d).unwrap();
    }
}

/// roundtrip target, found by reading the input layout for extreme bounds (the fuzz input
/// inline is what the target would need): `MaxAbs(e)` with e > f64::MAX / 2 (any finite e is a
/// valid config) made the step 2e = +∞, which the encoder wrote and its own decoder then
/// refused ("invalid quantization step inf") — an undecodable frame from a valid call.
/// Fix (src/codec/encoder.rs, compress): the max-abs step is min(2e, f64::MAX).
#[test]
fn roundtrip_max_abs_bound_near_f64_max() {
    // mode byte 0x81 (max_abs, raw f64 bound follows), e = 1e308; the rest zero: a 0-d tensor.
    replay(&[0x81, 0xa0, 0xc8, 0xeb, 0x85, 0xf3, 0xcc, 0xe1, 0x7f]);
    for e in [1e308, f64::MAX, 9e307, 1e300, 1e39] {
        let cfg = EncoderConfig::default().with_mode(Mode::MaxAbs(e));
        let x = [1.0f32, -2.0, 3e38, 0.0, f32::MIN, f32::from_bits(1)];
        let d = decompress(
            &Encoder::new(cfg.clone())
                .unwrap()
                .compress(&x, &[6], None)
                .unwrap()
                .bytes,
        )
        .unwrap();
        bounds::check_bound(&cfg, &x, &[6], None, &d).unwrap();
    }
}

/// A huge constant tensor: rANS codes it in a few bytes (constant planes), which would break
/// the decoder's rule that a payload cannot stand for more than ~1040× its size (the rule that
/// bounds what a hostile frame can make the decoder allocate). The encoder must then write a
/// deflate payload instead, and the frame must decode.
#[test]
fn huge_constant_tensor_keeps_the_expansion_bound() {
    let x = vec![0.0f32; 1 << 20];
    for mode in [
        alcm::Mode::RelativeL2(1e-2),
        alcm::Mode::MaxAbs(1e-3),
        alcm::Mode::Adaptive,
        alcm::Mode::Lossless,
    ] {
        let c = alcm::Encoder::new(alcm::EncoderConfig::default().with_mode(mode))
            .unwrap()
            .compress(&x, &[1024, 1024], None)
            .unwrap();
        let info = alcm::peek(&c.bytes).unwrap();
        assert!(
            info.raw_len <= info.payload_len * 1040 + 1024,
            "{mode:?}: {} raw bytes from {}",
            info.raw_len,
            info.payload_len
        );
        let d = alcm::decompress(&c.bytes).unwrap();
        assert!(d.data.iter().all(|v| *v == 0.0));
    }
}

/// Fuzz finding (exchange_message, 2026-12-05): a channel table whose code offset is the varint
/// 2^64 - 1 unzigzags to i64::MIN, and `abs()` of it overflowed (a panic in debug builds, a
/// wrapped negative value that passed the range check in release ones). The frame decoder now
/// refuses it as `Corrupt`. The input is the target's: its CRC is recomputed first.
#[test]
fn code_offset_of_i64_min_is_corrupt_not_an_overflow() {
    use alcm::collective::{message_len, ShardedExchange};
    let mut m: Vec<u8> = vec![
        0x91, 0x01, 0x80, 0x0a, 0x04, 0x02, 0x00, 0x12, 0x79, 0x00, 0x3a, 0x3c, 0x2b, 0x76, 0x00,
        0xc7, 0x00, 0x3d, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        0x00, 0x82, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x15,
        0x1a, 0x06, 0x69, 0x02, 0x04, 0x35, 0x20, 0x50, 0x6a, 0x63, 0x00, 0x8b, 0x00, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03, 0x00, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0x15, 0x1a, 0x06, 0x69, 0x02, 0x04, 0x35, 0x01, 0x00, 0x00,
        0x06, 0x01, 0x00, 0x00, 0x06, 0x05, 0x2b, 0xcd, 0xf8, 0x00, 0x01, 0x00, 0x00, 0x19, 0x5a,
        0x67, 0x85, 0xa1, 0x4a, 0x3f, 0x3e, 0x6e, 0xc6, 0xf4, 0x9d, 0x23, 0xff, 0x01, 0xae, 0xf0,
    ];
    let n = message_len(&m).unwrap();
    let start = (0..n).find(|&i| m[i] & 0x80 == 0).unwrap() + 1;
    let crc = crc32fast::hash(&m[start..n - 4]);
    m[n - 4..n].copy_from_slice(&crc.to_le_bytes());
    m.truncate(n);
    let mut ex = ShardedExchange::new(&[64, 40], 2, 0).unwrap();
    let mut acc = vec![0.0f32; 32 * 40];
    let e = ex.accumulate(&m, 0.5, &mut acc).unwrap_err();
    assert_eq!(e.kind(), alcm::ErrorKind::Corrupt, "{e}");
    assert!(acc.iter().all(|&v| v == 0.0));
}
