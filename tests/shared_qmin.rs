//! Frames whose channels share one code offset (`FLAG_SHARED_QMIN`, docs/FORMAT.md): written for
//! the error-bounded modes when re-basing the codes on the tensor's smallest code keeps the
//! code width. Checked against values computed here from the frame's step (not from the
//! decoder), with the params section size derived from the format, and hostile flag/param
//! combinations rejected with typed errors.

#[path = "common/data.rs"]
mod data;
use data::data_files;

use alcm::internals::{FLAG_EXCEPTIONS, FLAG_SHARED_QMIN};
use alcm::{decompress, peek, read_npy_f32, BackendKind, Encoder, EncoderConfig, ErrorKind, Mode};

fn compress(x: &[f32], shape: &[usize], mode: Mode, backend: BackendKind) -> Vec<u8> {
    Encoder::new(
        EncoderConfig::default()
            .with_mode(mode)
            .with_backend(backend),
    )
    .unwrap()
    .compress(x, shape, None)
    .unwrap()
    .bytes
}

/// Offset and length of the channel-parameter section (fixed header layout of FORMAT.md).
fn params_section(frame: &[u8]) -> (usize, usize) {
    let rank = frame[9] as usize;
    let at = 16 + 8 * rank + 16;
    let len = u32::from_le_bytes(frame[at..at + 4].try_into().unwrap()) as usize;
    (16 + 8 * rank + 52, len)
}

fn zigzag_varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

fn fix_crc(frame: &mut [u8]) {
    let n = frame.len() - 4;
    let crc = crc32fast::hash(&frame[..n]);
    frame[n..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn shipped_rank2_tensors_use_one_offset_and_decode_to_round_x_over_step() {
    let mut shared = 0;
    let mut rank2 = 0;
    for path in data_files() {
        let (x, shape) = read_npy_f32(&path).unwrap();
        if shape.len() < 2 || shape[0] < 2 || x.is_empty() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for eps in [1e-1, 1e-2, 1e-3] {
            rank2 += 1;
            let frame = compress(&x, &shape, Mode::RelativeL2(eps), BackendKind::Rans);
            let info = peek(&frame).unwrap();
            let (p0, plen) = params_section(&frame);
            let step = f64::from_le_bytes(frame[p0..p0 + 8].try_into().unwrap());
            let inv = 1.0 / step;
            let codes: Vec<i64> = x.iter().map(|&v| (v as f64 * inv).round() as i64).collect();
            if info.flags & FLAG_SHARED_QMIN != 0 {
                shared += 1;
                let qmin = *codes.iter().min().unwrap();
                assert_eq!(
                    plen,
                    8 + zigzag_varint_len(qmin),
                    "{name} at {eps}: one offset, the smallest code"
                );
            } else {
                // Per-channel form: a varint per channel.
                assert!(plen >= 8 + shape[0], "{name} at {eps}");
            }
            let d = decompress(&frame).unwrap();
            for (k, (&q, &y)) in codes.iter().zip(&d.data).enumerate() {
                assert_eq!(
                    y.to_bits(),
                    ((q as f64 * step) as f32).to_bits(),
                    "{name} at {eps}: value {k}"
                );
            }
            let (mut num, mut den) = (0f64, 0f64);
            for (&a, &b) in x.iter().zip(&d.data) {
                num += (a as f64 - b as f64).powi(2);
                den += (a as f64).powi(2);
            }
            assert!(num.sqrt() <= eps * den.sqrt(), "{name} at {eps}");
        }
    }
    assert!(
        rank2 >= 30 && shared * 10 >= rank2 * 9,
        "the shared form should be the rule: {shared} of {rank2}"
    );
}

#[test]
fn shared_offset_is_written_for_max_abs_and_deflate_too() {
    // Rows with different minima: -3.., -1.., 0.. (step 1 at bound 0.5).
    let x: Vec<f32> = (0..64)
        .map(|i| ((i % 16) as f32) - [3.0, 1.0, 0.0, 2.0][i / 16])
        .collect();
    for backend in [BackendKind::Deflate, BackendKind::Rans, BackendKind::Store] {
        let frame = compress(&x, &[4, 16], Mode::MaxAbs(0.5), backend);
        assert_ne!(peek(&frame).unwrap().flags & FLAG_SHARED_QMIN, 0);
        let (_, plen) = params_section(&frame);
        assert_eq!(plen, 8 + 1);
        let d = decompress(&frame).unwrap();
        assert!(x.iter().zip(&d.data).all(|(a, b)| (a - b).abs() <= 0.5));
    }
}

#[test]
fn flag_and_params_mismatches_are_rejected() {
    let x: Vec<f32> = (0..64)
        .map(|i| ((i % 16) as f32) - [3.0, 1.0, 0.0, 2.0][i / 16])
        .collect();
    let shared = compress(&x, &[4, 16], Mode::MaxAbs(0.5), BackendKind::Deflate);
    let flags_at = 7;
    assert_eq!(shared[flags_at] & FLAG_SHARED_QMIN, FLAG_SHARED_QMIN);

    // Flag cleared: the one stored offset is too short for four channels.
    let mut f = shared.clone();
    f[flags_at] &= !FLAG_SHARED_QMIN;
    fix_crc(&mut f);
    let e = decompress(&f).unwrap_err().kind();
    assert!(
        matches!(e, ErrorKind::Truncated | ErrorKind::Corrupt),
        "{e:?}"
    );

    // Flag set where the channels keep their own offsets: rows 0..=255 and -255..=0 fit one
    // byte each but not together, so the encoder keeps per-channel offsets; the flag then
    // leaves trailing bytes.
    let wide: Vec<f32> = (0..256)
        .map(|i| i as f32)
        .chain((0..256).map(|i| -(i as f32)))
        .collect();
    let per = compress(&wide, &[2, 256], Mode::MaxAbs(0.5), BackendKind::Deflate);
    assert_eq!(peek(&per).unwrap().flags & FLAG_SHARED_QMIN, 0);
    assert_eq!(peek(&per).unwrap().code_width, 1);
    assert_eq!(
        params_section(&per).1,
        8 + 1 + 2,
        "qmin 0 and -255 as zigzag varints"
    );
    let mut f = per.clone();
    f[flags_at] |= FLAG_SHARED_QMIN;
    fix_crc(&mut f);
    assert_eq!(decompress(&f).unwrap_err().kind(), ErrorKind::Corrupt);

    // Flag on a one-channel frame: the shared form needs at least two channels.
    let one = compress(&x[..16], &[16], Mode::MaxAbs(0.5), BackendKind::Deflate);
    assert_eq!(peek(&one).unwrap().flags & FLAG_SHARED_QMIN, 0);
    let mut f = one.clone();
    f[flags_at] |= FLAG_SHARED_QMIN;
    fix_crc(&mut f);
    assert_eq!(decompress(&f).unwrap_err().kind(), ErrorKind::Corrupt);

    // Flag on adaptive and lossless frames: refused at the header.
    for mode in [Mode::Lossless, Mode::Adaptive] {
        let enc = Encoder::new(
            EncoderConfig::default()
                .with_mode(mode)
                .with_backend(BackendKind::Deflate),
        )
        .unwrap();
        let mut f = enc.compress(&x, &[4, 16], None).unwrap().bytes;
        f[flags_at] |= FLAG_SHARED_QMIN;
        fix_crc(&mut f);
        assert_eq!(decompress(&f).unwrap_err().kind(), ErrorKind::Corrupt);
        assert_eq!(peek(&f).unwrap_err().kind(), ErrorKind::Corrupt);
    }

    // Unknown flag bits stay errors.
    let mut f = shared.clone();
    f[flags_at] |= 0x80;
    fix_crc(&mut f);
    assert_eq!(decompress(&f).unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(FLAG_EXCEPTIONS & FLAG_SHARED_QMIN, 0);
}
