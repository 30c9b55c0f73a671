//! Backend 3 (rank-1 parametric model, `src/entropy/model/`): full-frame round trips of every
//! shipped tensor with the bound checked, identical reconstructions to the order-0 backends
//! (same codes), deterministic bytes, typed errors on truncated/corrupted payloads, and the
//! model tables pinned by a checksum.

#[path = "common/data.rs"]
mod data;
use data::data_files;

use alcm::internals::{BACKEND_RANS, BACKEND_RANS_MODEL};
use alcm::{decompress, peek, read_npy_f32, BackendKind, Encoder, EncoderConfig, ErrorKind, Mode};

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let d = *x as f64 - *y as f64;
        num += d * d;
        den += *x as f64 * *x as f64;
    }
    if den > 0.0 {
        (num / den).sqrt()
    } else {
        num.sqrt()
    }
}

fn encoder(mode: Mode, backend: BackendKind) -> Encoder {
    Encoder::new(
        EncoderConfig::default()
            .with_mode(mode)
            .with_backend(backend),
    )
    .unwrap()
}

#[test]
fn every_tensor_round_trips_through_model_frames() {
    let mut model_frames = 0;
    for path in data_files() {
        let (x, shape) = read_npy_f32(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for eps in [1e-1, 1e-2, 1e-3] {
            let c = encoder(Mode::RelativeL2(eps), BackendKind::Rans)
                .compress(&x, &shape, None)
                .unwrap();
            let info = peek(&c.bytes).unwrap();
            assert!(
                info.backend.id() == BACKEND_RANS || info.backend.id() == BACKEND_RANS_MODEL,
                "{name}"
            );
            model_frames += (info.backend.id() == BACKEND_RANS_MODEL) as usize;
            let d = decompress(&c.bytes).unwrap();
            assert_eq!(d.shape, shape);
            let e = rel_l2(&x, &d.data);
            assert!(e <= eps, "{name} at {eps}: error {e}");
            // Same codes as the order-0 path: bit-identical reconstruction with deflate.
            let c2 = encoder(Mode::RelativeL2(eps), BackendKind::Deflate)
                .compress(&x, &shape, None)
                .unwrap();
            let d2 = decompress(&c2.bytes).unwrap();
            assert!(
                d.data
                    .iter()
                    .zip(&d2.data)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{name} at {eps}"
            );
            // Max-abs mode takes the same path.
            let e_abs = 1e-3 * x.iter().fold(0f32, |m, v| m.max(v.abs())) as f64 + 1e-30;
            let c3 = encoder(Mode::MaxAbs(e_abs), BackendKind::Rans)
                .compress(&x, &shape, None)
                .unwrap();
            let d3 = decompress(&c3.bytes).unwrap();
            assert!(
                x.iter()
                    .zip(&d3.data)
                    .all(|(a, b)| (*a as f64 - *b as f64).abs() <= e_abs),
                "{name}"
            );
        }
    }
    assert!(
        model_frames >= 20,
        "the model should win on most rank-2 tensors ({model_frames})"
    );
}

/// A rank-2 tensor the model is chosen for: a gradient-like outer product plus noise.
fn synthetic(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let r: Vec<f64> = (0..rows).map(|_| rnd() * 4.0).collect();
    let c: Vec<f64> = (0..cols).map(|_| rnd().abs() * 3.0).collect();
    let mut x = Vec::with_capacity(rows * cols);
    for ri in &r {
        for cj in &c {
            x.push((ri * cj * (1.0 + rnd())) as f32);
        }
    }
    x
}

fn model_frame(eps: f64) -> (Vec<f32>, Vec<u8>) {
    let x = synthetic(48, 80, 7);
    let c = encoder(Mode::RelativeL2(eps), BackendKind::Rans)
        .compress(&x, &[48, 80], None)
        .unwrap();
    assert_eq!(peek(&c.bytes).unwrap().backend.id(), BACKEND_RANS_MODEL);
    (x, c.bytes)
}

#[test]
fn deterministic_bytes() {
    for eps in [1e-1, 1e-2, 1e-3] {
        let (x, a) = model_frame(eps);
        let b = encoder(Mode::RelativeL2(eps), BackendKind::Rans)
            .compress(&x, &[48, 80], None)
            .unwrap()
            .bytes;
        assert_eq!(a, b);
        let d1 = decompress(&a).unwrap();
        let d2 = decompress(&a).unwrap();
        assert_eq!(d1, d2);
    }
}

/// Rewrites the CRC so that the payload decoder itself sees the damage.
fn fix_crc(frame: &mut [u8]) {
    let n = frame.len();
    let crc = crc32fast::hash(&frame[..n - 4]);
    frame[n - 4..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn truncated_or_corrupted_payloads_give_typed_errors() {
    let (_, frame) = model_frame(1e-2);
    let info = peek(&frame).unwrap();
    let p0 = info.frame_len as usize - 4 - info.payload_len as usize;
    let typed = |e: alcm::Error| {
        matches!(
            e.kind(),
            ErrorKind::Corrupt | ErrorKind::Truncated | ErrorKind::Checksum
        )
    };
    // Truncation of the frame.
    for cut in 0..frame.len() {
        assert!(decompress(&frame[..cut]).is_err());
    }
    // Every single-byte corruption of the payload, CRC made valid again: typed error or
    // (rarely) a different valid tensor, never a panic.
    let mut errors = 0;
    for i in p0..frame.len() - 4 {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut f = frame.clone();
            f[i] ^= flip;
            fix_crc(&mut f);
            match decompress(&f) {
                Err(e) => {
                    assert!(typed(e.clone()), "byte {i}: {e}");
                    errors += 1;
                }
                Ok(d) => assert_eq!(d.data.len(), 48 * 80),
            }
        }
    }
    assert!(
        errors > (frame.len() - 4 - p0) * 2,
        "most corruptions must be detected ({errors})"
    );
    // Payload decoder called directly on truncated payloads.
    let payload = &frame[p0..frame.len() - 4];
    let qmin = vec![-1_000_000i64; 48];
    let mut out = vec![0u32; 48 * 80];
    for cut in 0..payload.len() {
        let e = alcm::internals::model::decode(&payload[..cut], &qmin, 4, &mut out).unwrap_err();
        assert!(typed(e.clone()), "cut {cut}: {e}");
    }
    // Garbage payloads of random bytes.
    let mut s = 1u64;
    for len in [0usize, 1, 2, 3, 10, 100, 300, 1000] {
        for _ in 0..20 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (s >> 56) as u8
                })
                .collect();
            let _ = alcm::internals::model::decode(&junk, &qmin, 2, &mut out);
        }
    }
}

#[test]
fn model_tables_are_pinned() {
    // The tables are built by a fixed routine from IEEE basic operations only (hand-written
    // exp, Simpson integration, integer normalisation), so every platform must produce the
    // same frequencies. The value below was computed once on x86-64 Linux when the tables were
    // introduced; a change means frames written elsewhere would not decode: never update it
    // without a new backend id.
    assert_eq!(
        alcm::internals::model::table_checksum(),
        TABLE_CRC,
        "{:#010x}",
        alcm::internals::model::table_checksum()
    );
}

const TABLE_CRC: u32 = 0x3488_8184;

/// Large tensors (≥ 2^19 values) are coded in independent blocks of rows (payload kind 2): the
/// bytes do not depend on the thread count, any thread count decodes them identically, and
/// damaged blocks give typed errors.
#[test]
fn blocked_frames_are_thread_independent_and_checked() {
    let (rows, cols) = (640, 1024);
    let x = synthetic(rows, cols, 11);
    let shape = [rows, cols];
    let mk = |threads| {
        Encoder::new(
            EncoderConfig::default()
                .with_mode(Mode::RelativeL2(1e-2))
                .with_threads(threads),
        )
        .unwrap()
        .compress(&x, &shape, None)
        .unwrap()
        .bytes
    };
    let f1 = mk(1);
    assert_eq!(f1, mk(2));
    assert_eq!(f1, mk(3));
    let info = peek(&f1).unwrap();
    assert_eq!(info.backend.id(), BACKEND_RANS_MODEL);
    let p0 = info.frame_len as usize - 4 - info.payload_len as usize;
    assert_eq!(f1[p0], alcm::internals::model::KIND_LANES_BLOCKS);
    let d1 = decompress(&f1).unwrap();
    assert!(rel_l2(&x, &d1.data) <= 1e-2);
    for t in [2, 3, 8] {
        let dt = alcm::DecodeOptions::default()
            .with_threads(t)
            .decompress(&f1)
            .unwrap();
        assert!(d1
            .data
            .iter()
            .zip(&dt.data)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    // Damage in the payload (CRC made valid): typed errors or another valid tensor, no panic.
    let typed = |e: alcm::Error| {
        matches!(
            e.kind(),
            ErrorKind::Corrupt | ErrorKind::Truncated | ErrorKind::Checksum
        )
    };
    let n = f1.len() - 4;
    for i in (p0..n).step_by(((n - p0) / 97).max(1)) {
        let mut f = f1.clone();
        f[i] ^= 0x5A;
        fix_crc(&mut f);
        for t in [1, 2] {
            if let Err(e) = alcm::DecodeOptions::default()
                .with_threads(t)
                .decompress(&f)
            {
                assert!(typed(e.clone()), "byte {i}: {e}");
            }
        }
    }
    for cut in [p0 + 1, p0 + 5, (p0 + n) / 2, n - 1] {
        assert!(decompress(&f1[..cut]).is_err());
    }
}

/// Codes of a real tensor at a uniform step for relative error ≈ `eps` (q = round(x/step)),
/// and the row minima.
fn real_codes(x: &[f32], rows: usize, eps: f64) -> (Vec<i64>, Vec<i64>) {
    let rms = (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64).sqrt();
    let step = (eps * rms * 12f64.sqrt()).max(1e-30);
    let q: Vec<i64> = x
        .iter()
        .map(|&v| (v as f64 / step).round() as i64)
        .collect();
    let qmin = q
        .chunks_exact(q.len() / rows)
        .map(|r| *r.iter().min().unwrap())
        .collect();
    (q, qmin)
}

#[test]
fn shape_family_tables_are_pinned() {
    // Family 0 is the Gaussian of kinds 1-2; families 1-2 the generalised Gaussians
    // (src/entropy/model/family.rs). Values computed once on x86-64 Linux when the families were
    // introduced; never update them without a new payload kind.
    use alcm::internals::model::family::family_checksum;
    assert_eq!(family_checksum(0), TABLE_CRC);
    assert_eq!(
        family_checksum(1),
        FAMILY1_CRC,
        "{:#010x}",
        family_checksum(1)
    );
    assert_eq!(
        family_checksum(2),
        FAMILY2_CRC,
        "{:#010x}",
        family_checksum(2)
    );
}

const FAMILY1_CRC: u32 = 0xe1e9_c6f5;
const FAMILY2_CRC: u32 = 0xca62_ac71;

#[test]
fn every_family_round_trips_real_tensors() {
    let mut tested = 0;
    for path in data_files() {
        let (x, shape) = read_npy_f32(&path).unwrap();
        if shape.len() < 2 || x.len() < 256 {
            continue;
        }
        let rows = shape[0];
        for eps in [1e-1, 1e-2, 1e-3] {
            let (q, qmin) = real_codes(&x, rows, eps);
            let mut sizes = Vec::new();
            for fam in 0..alcm::internals::model::family::FAMILIES {
                let p = alcm::internals::model::encode_family(&q, rows, Some(fam)).unwrap();
                assert_eq!((p[0], p[1]), (alcm::internals::model::KIND_SHAPED, fam));
                let mut u = vec![0u32; q.len()];
                alcm::internals::model::decode(&p, &qmin, 4, &mut u).unwrap();
                let cols = q.len() / rows;
                for (k, (&uk, &qk)) in u.iter().zip(&q).enumerate() {
                    assert_eq!(
                        qmin[k / cols] + uk as i64,
                        qk,
                        "{path:?} family {fam} at {eps}: value {k}"
                    );
                }
                sizes.push(p.len());
            }
            // The encoder's own choice is one of them, and never the largest by more than
            // its estimate's error (a sampled histogram of the magnitude symbols).
            let chosen = alcm::internals::model::encode_family(&q, rows, None).unwrap();
            assert_eq!(chosen.len(), sizes[chosen[1] as usize]);
            let best = *sizes.iter().min().unwrap();
            assert!(
                chosen.len() as f64 <= best as f64 * 1.01 + 16.0,
                "{path:?} at {eps}: {sizes:?} chose {}",
                chosen[1]
            );
            assert!(alcm::internals::model::encode_family(
                &q,
                rows,
                Some(alcm::internals::model::family::FAMILIES)
            )
            .is_none());
            tested += 1;
        }
    }
    assert!(tested >= 20, "{tested}");
}

#[test]
fn gradients_choose_a_lighter_tailed_family() {
    // Measured on ../shared/data (src/entropy/model/family.rs): given the rank-1 scales, gradient codes
    // are lighter-tailed than a Gaussian, so most shipped gradients pick family 1 or 2.
    let (mut light, mut total) = (0, 0);
    for path in data_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (x, shape) = read_npy_f32(&path).unwrap();
        if !name.starts_with("grad") || shape.len() < 2 || x.len() < 4096 {
            continue;
        }
        for eps in [1e-2, 1e-3] {
            let (q, _) = real_codes(&x, shape[0], eps);
            let p = alcm::internals::model::encode_family(&q, shape[0], None).unwrap();
            light += (p[1] > 0) as usize;
            total += 1;
        }
    }
    assert!(total >= 2 && light * 2 > total, "{light} of {total}");
}

/// Rewrites a kind-4 payload of family 0 into the kind-2 layout of the module docs (no family
/// byte, one byte per scale code).
fn as_kind2(p: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    fn unpack(b: &[u8], len: usize) -> (Vec<u8>, usize) {
        let (base, bits) = (b[0] as u32, b[1] as usize);
        let mut v = Vec::new();
        for i in 0..len {
            let mut field = 0u32;
            for k in 0..bits {
                let bit = i * bits + k;
                field |= ((b[2 + bit / 8] >> (bit % 8)) as u32 & 1) << k;
            }
            v.push(if field == 0 {
                0
            } else {
                (base + field - 1) as u8
            });
        }
        (v, 2 + (len * bits).div_ceil(8))
    }
    assert_eq!(
        (p[0], p[1]),
        (alcm::internals::model::KIND_SHAPED_BLOCKS, 0)
    );
    let mode = p[2];
    let mut out = vec![alcm::internals::model::KIND_RANK1_BLOCKS, mode];
    let mut pos = 3;
    if mode != alcm::internals::model::SIGN_NONE {
        out.extend_from_slice(&p[3..5]);
        pos = 5;
    }
    let (a, used) = unpack(&p[pos..], rows);
    pos += used;
    let (b, used) = unpack(&p[pos..], cols);
    pos += used;
    out.extend_from_slice(&a);
    out.extend_from_slice(&b);
    out.extend_from_slice(&p[pos..]);
    out
}

#[test]
fn legacy_kind_2_still_decodes() {
    let (rows, cols) = (640, 1024);
    let x = synthetic(rows, cols, 5);
    let (q, qmin) = real_codes(&x, rows, 1e-2);
    let p4 = alcm::internals::model::encode_family_v2(&q, rows, Some(0)).unwrap();
    let p2 = as_kind2(&p4, rows, cols);
    let (mut u4, mut u2) = (vec![0u32; q.len()], vec![0u32; q.len()]);
    alcm::internals::model::decode(&p4, &qmin, 4, &mut u4).unwrap();
    alcm::internals::model::decode(&p2, &qmin, 4, &mut u2).unwrap();
    assert_eq!(u4, u2);
    assert!(u2
        .iter()
        .zip(&q)
        .enumerate()
        .all(|(k, (&u, &qk))| qmin[k / cols] + u as i64 == qk));
    // Kind 2 with family tables is not a thing: a family byte there is read as the sign mode.
    let mut bad = p4.clone();
    bad[0] = alcm::internals::model::KIND_RANK1_BLOCKS;
    assert!(alcm::internals::model::decode(&bad, &qmin, 4, &mut u2).is_err());
}

#[test]
fn hostile_shaped_payloads_are_rejected() {
    let x = synthetic(48, 80, 3);
    let (q, qmin) = real_codes(&x, 48, 1e-2);
    let p = alcm::internals::model::encode_family(&q, 48, Some(1)).unwrap();
    let mut out = vec![0u32; q.len()];
    let typed = |e: alcm::Error| matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated);
    // Unknown family.
    for fam in [alcm::internals::model::family::FAMILIES, 200, 255] {
        let mut f = p.clone();
        f[1] = fam;
        assert_eq!(
            alcm::internals::model::decode(&f, &qmin, 4, &mut out)
                .unwrap_err()
                .kind(),
            ErrorKind::Corrupt
        );
    }
    // Scale-code headers: base 0, more than 8 bits, or a bit count that runs past the end.
    let sc = match p[2] {
        alcm::internals::model::SIGN_NONE => 3,
        alcm::internals::model::SIGN_CLASSES => 3 + 2 * alcm::internals::model::sign::BINS,
        _ => 5,
    };
    for (off, v) in [(0, 0u8), (1, 9), (1, 255), (1, 8)] {
        let mut f = p.clone();
        f[sc + off] = v;
        if let Err(e) = alcm::internals::model::decode(&f, &qmin, 4, &mut out) {
            assert!(typed(e.clone()), "{e}");
        } else {
            panic!("scale-code header byte {off} = {v} accepted");
        }
    }
    // Every truncation.
    for cut in 0..p.len() {
        assert!(typed(
            alcm::internals::model::decode(&p[..cut], &qmin, 4, &mut out).unwrap_err()
        ));
    }
    // Unknown kinds.
    for k in [0u8, 6, 255] {
        let mut f = p.clone();
        f[0] = k;
        assert_eq!(
            alcm::internals::model::decode(&f, &qmin, 4, &mut out)
                .unwrap_err()
                .kind(),
            ErrorKind::Corrupt
        );
    }
}

#[test]
fn sign_classes_round_trip_and_reject_damage() {
    use alcm::internals::model::{decode, encode_family, KIND_RANK1, SIGN_CLASSES};
    let typed = |e: alcm::Error| matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Truncated);
    let mut with_classes = 0;
    for path in data_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (x, shape) = read_npy_f32(&path).unwrap();
        if !name.starts_with("grad") || shape.len() < 2 || x.len() < 1024 {
            continue;
        }
        let rows = shape[0];
        let cols = x.len() / rows;
        for eps in [1e-1, 1e-2, 1e-3] {
            let (q, qmin) = real_codes(&x, rows, eps);
            let p = encode_family(&q, rows, None).unwrap();
            if p[2] != SIGN_CLASSES {
                continue;
            }
            with_classes += 1;
            let mut u = vec![0u32; q.len()];
            decode(&p, &qmin, 4, &mut u).unwrap();
            assert!(
                u.iter()
                    .zip(&q)
                    .enumerate()
                    .all(|(k, (&uk, &qk))| qmin[k / cols] + uk as i64 == qk),
                "{name} at {eps}"
            );
            // Seven u16 probabilities follow the mode byte; 0 is out of range.
            for bin in 0..7 {
                let mut f = p.clone();
                f[3 + 2 * bin] = 0;
                f[4 + 2 * bin] = 0;
                assert_eq!(
                    decode(&f, &qmin, 4, &mut u).unwrap_err().kind(),
                    ErrorKind::Corrupt
                );
            }
            for cut in (0..p.len()).step_by(7) {
                assert!(typed(decode(&p[..cut], &qmin, 4, &mut u).unwrap_err()));
            }
            // Mode 3 does not exist in kind 1.
            let mut f = p.clone();
            f.remove(1);
            f[0] = KIND_RANK1;
            assert!(typed(decode(&f, &qmin, 4, &mut u).unwrap_err()));
        }
    }
    assert!(
        with_classes >= 2,
        "sign classes should pay on some shipped gradients ({with_classes})"
    );
}
