//! Compressed reduce-scatter + all-gather (`alcm::collective`): sums against a float64
//! reference, the error bound of each stage, residual carry, and the residual store.

use alcm::collective::{
    message_len, shard_ranges, Accumulator, ResidualStore, ShardLayout, ShardedExchange, Stage,
};
use alcm::{Encoder, EncoderConfig, ErrorFeedback, ErrorKind, Mode};

fn real_gradient(step: u32) -> (Vec<f32>, Vec<usize>) {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/data/gradients/grad_step{step:05}_fc1.weight.npy"
    ));
    alcm::read_npy_f32(&p).unwrap()
}

/// Four ranks' gradients of fc1 ([256, 64]): two real gradients, mixed per rank so that no two
/// ranks hold the same tensor.
fn rank_gradients(ranks: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
    let (a, shape) = real_gradient(100);
    let (b, _) = real_gradient(1000);
    let g = (0..ranks)
        .map(|r| {
            let w = (r as f32 + 1.0) / ranks as f32;
            a.iter()
                .zip(&b)
                .map(|(x, y)| w * x + (1.0 - w) * y)
                .collect()
        })
        .collect();
    (g, shape)
}

/// The values of shard `j` in the message `msg` (either stage), decoded by `ex`.
fn decode(ex: &ShardedExchange, msg: &[u8], j: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; ex.shape().iter().product()];
    ex.decode_shard(msg, j, &mut out).unwrap();
    out[ex.shard(j)].to_vec()
}

fn norm(x: impl Iterator<Item = f64>) -> f64 {
    x.map(|v| v * v).sum::<f64>().sqrt()
}

/// One full step over `ranks` simulated ranks; returns (stage-1 messages [from][to], reduced
/// shards as summed by each owner, stage-2 messages, the decoded result on every rank).
#[allow(clippy::type_complexity)]
fn step(
    ex: &mut [ShardedExchange],
    enc: &Encoder,
    grads: &[Vec<f32>],
    scale: f32,
) -> (
    Vec<Vec<Vec<u8>>>,
    Vec<Vec<f32>>,
    Vec<Vec<u8>>,
    Vec<Vec<f32>>,
) {
    let n = ex.len();
    let sent: Vec<Vec<Vec<u8>>> = (0..n)
        .map(|r| {
            (0..n)
                .map(|j| {
                    ex[r]
                        .compress_shard(enc, &grads[r], j)
                        .unwrap()
                        .map_or(Vec::new(), |c| c.bytes)
                })
                .collect()
        })
        .collect();
    let mut reduced = Vec::new();
    let mut gathered = Vec::new();
    for j in 0..n {
        let mut sum = vec![0.0f32; ex[j].shard(j).len()];
        for from in &sent {
            ex[j].accumulate(&from[j], scale, &mut sum).unwrap();
        }
        gathered.push(
            ex[j]
                .compress_reduced(enc, &sum)
                .unwrap()
                .map_or(Vec::new(), |c| c.bytes),
        );
        reduced.push(sum);
    }
    let total = grads[0].len();
    let results = (0..n)
        .map(|r| {
            let mut out = vec![f32::NAN; total];
            for (j, f) in gathered.iter().enumerate() {
                ex[r].decode_shard(f, j, &mut out).unwrap();
            }
            out
        })
        .collect();
    (sent, reduced, gathered, results)
}

#[test]
fn lossless_exchange_sums_like_a_float64_reference() {
    let ranks = 4;
    let (grads, shape) = rank_gradients(ranks);
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless)).unwrap();
    let mut ex: Vec<_> = (0..ranks)
        .map(|r| ShardedExchange::new(&shape, ranks, r).unwrap())
        .collect();
    let (_, _, _, results) = step(&mut ex, &enc, &grads, 1.0);
    for i in 0..grads[0].len() {
        let reference: f64 = grads.iter().map(|g| g[i] as f64).sum();
        // Four f32 additions: at most 3 roundings of the running sum.
        let tol = 4.0 * f32::EPSILON as f64 * grads.iter().map(|g| g[i].abs() as f64).sum::<f64>();
        for res in &results {
            assert!((res[i] as f64 - reference).abs() <= tol, "value {i}");
        }
    }
    // Every rank ends with the same bits.
    assert!(results.iter().all(|r| r == &results[0]));
}

#[test]
fn each_stage_meets_its_error_bound() {
    let eps = 0.05;
    for ranks in [2, 3, 4] {
        let (grads, shape) = rank_gradients(ranks);
        let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(eps))).unwrap();
        let mut ex: Vec<_> = (0..ranks)
            .map(|r| ShardedExchange::new(&shape, ranks, r).unwrap())
            .collect();
        let scale = 1.0 / ranks as f32;
        let (sent, reduced, gathered, results) = step(&mut ex, &enc, &grads, scale);
        let shards = shard_ranges(&shape, ranks, ShardLayout::default()).unwrap();
        for (j, range) in shards.iter().enumerate() {
            // Stage 1: each frame within eps of its shard (zero residual at the first step),
            // so the mean of the decoded shards is within the mean of those bounds of the
            // float64 mean.
            let mut bound = 0.0;
            for (r, g) in grads.iter().enumerate() {
                let x = &g[range.clone()];
                let d = decode(&ex[0], &sent[r][j], j);
                let e = norm(x.iter().zip(&d).map(|(a, b)| (*a - *b) as f64));
                let nx = norm(x.iter().map(|&a| a as f64));
                assert!(
                    e <= eps * nx * 1.0001,
                    "stage 1 rank {r} shard {j}: {e} > {eps}·{nx}"
                );
                bound += eps * nx / ranks as f64;
            }
            let mean: Vec<f64> = range
                .clone()
                .map(|i| grads.iter().map(|g| g[i] as f64).sum::<f64>() / ranks as f64)
                .collect();
            let e1 = norm(reduced[j].iter().zip(&mean).map(|(a, b)| *a as f64 - b));
            assert!(
                e1 <= bound * 1.001 + 1e-9,
                "reduced shard {j}: {e1} > {bound}"
            );
            // Stage 2: the decoded reduced shard within eps of what its owner summed.
            let d = decode(&ex[0], &gathered[j], j);
            let e2 = norm(reduced[j].iter().zip(&d).map(|(a, b)| (*a - *b) as f64));
            let nr = norm(reduced[j].iter().map(|&a| a as f64));
            assert!(
                e2 <= eps * nr * 1.0001,
                "stage 2 shard {j}: {e2} > {eps}·{nr}"
            );
            assert_eq!(&results[0][range.clone()], &d[..]);
        }
        assert!(results.iter().all(|r| r == &results[0]));
    }
}

#[test]
fn messages_concatenate_and_split_again() {
    // What a transport does: one buffer per peer holding the messages of several tensors.
    let ranks = 3;
    let (grads, shape) = rank_gradients(ranks);
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(0.4))).unwrap();
    let mut ex: Vec<_> = (0..ranks)
        .map(|r| ShardedExchange::new(&shape, ranks, r).unwrap())
        .collect();
    let (sent, _, gathered, _) = step(&mut ex, &enc, &grads, 1.0);
    let mut parts: Vec<&[u8]> = sent[0].iter().map(Vec::as_slice).collect();
    parts.extend(gathered.iter().map(Vec::as_slice));
    let buf = parts.concat();
    let mut pos = 0;
    for p in &parts {
        let n = message_len(&buf[pos..]).unwrap();
        assert_eq!(&buf[pos..pos + n], *p);
        pos += n;
    }
    assert_eq!(pos, buf.len());
    assert_eq!(
        message_len(&buf[..parts[0].len() - 1]).unwrap_err().kind(),
        ErrorKind::Truncated
    );
}

#[test]
fn residuals_carry_what_was_not_sent() {
    // With the same gradient every step, T steps deliver T·g minus the last residual:
    // Σ_t decode_t = Σ_t (g + r_{t-1} − r_t) = T·g − r_T, on both stages.
    let ranks = 2;
    let (grads, shape) = rank_gradients(ranks);
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(0.3))).unwrap();
    let mut ex: Vec<_> = (0..ranks)
        .map(|r| ShardedExchange::new(&shape, ranks, r).unwrap())
        .collect();
    let steps = 12;
    let total = grads[0].len();
    let mut delivered = vec![0.0f64; total];
    let mut sent0 = vec![0.0f64; ex[0].shard(1).len()];
    for _ in 0..steps {
        let (sent, _, _, results) = step(&mut ex, &enc, &grads, 0.5);
        for (d, v) in delivered.iter_mut().zip(&results[0]) {
            *d += *v as f64;
        }
        let d = decode(&ex[0], &sent[0][1], 1);
        for (s, v) in sent0.iter_mut().zip(&d) {
            *s += *v as f64;
        }
    }
    // Stage 1, rank 0's shard 1: exact identity up to f32 rounding of the running residual.
    let range = ex[0].shard(1);
    let r1 = ex[0]
        .residual(Stage::Scatter(1))
        .unwrap()
        .residual()
        .to_vec();
    let g = &grads[0][range];
    let gap = norm(
        sent0
            .iter()
            .zip(g)
            .zip(&r1)
            .map(|((s, &gi), &ri)| s - steps as f64 * gi as f64 + ri as f64),
    );
    let gn = norm(g.iter().map(|&v| v as f64));
    assert!(gap <= 1e-4 * steps as f64 * gn, "stage-1 carry gap {gap}");
    assert!(
        r1.iter().any(|&v| v != 0.0),
        "a 0.3 target leaves a residual"
    );
    // End to end: the mean delivered gradient approaches the true mean as 1/T (the residuals
    // stay bounded), while one step alone is off by up to the target.
    let mean: Vec<f64> = (0..total)
        .map(|i| grads.iter().map(|g| g[i] as f64).sum::<f64>() / ranks as f64)
        .collect();
    let err = norm(
        delivered
            .iter()
            .zip(&mean)
            .map(|(d, m)| d / steps as f64 - m),
    );
    let mn = norm(mean.iter().copied());
    assert!(
        err < 0.3 * mn / 3.0,
        "mean over {steps} steps off by {err} (norm {mn})"
    );
}

#[test]
fn accumulate_checks_and_leaves_output_unchanged_on_error() {
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless)).unwrap();
    let frame = enc.compress(&[1.0, 2.0, 3.0], &[3], None).unwrap().bytes;
    let mut acc = Accumulator::new();
    let mut out = vec![10.0f32, 20.0, 30.0];
    acc.accumulate(&frame, 2.0, &mut out).unwrap();
    assert_eq!(out, [12.0, 24.0, 36.0]);
    let mut short = vec![7.0f32; 2];
    assert_eq!(
        acc.accumulate(&frame, 1.0, &mut short).unwrap_err().kind(),
        ErrorKind::BufferTooSmall
    );
    assert_eq!(short, [7.0; 2]);
    assert!(acc.accumulate(&frame, f32::NAN, &mut out).is_err());
    let mut bad = frame.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(acc.accumulate(&bad, 1.0, &mut out).is_err());
    assert_eq!(out, [12.0, 24.0, 36.0]);
}

#[test]
fn more_ranks_than_rows_and_bad_arguments() {
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(0.1))).unwrap();
    let shape = [3usize];
    let g = vec![1.0f32, -2.0, 0.5];
    let mut ex: Vec<_> = (0..5)
        .map(|r| ShardedExchange::new(&shape, 5, r).unwrap())
        .collect();
    let (_, _, _, results) = step(&mut ex, &enc, &vec![g.clone(); 5], 0.2);
    // One value per shard: each stage is within 10 % of its value, so both within ~21 %.
    for (r, v) in results[0].iter().zip(&g) {
        assert!((r - v).abs() <= 0.211 * v.abs(), "{r} vs {v}");
    }
    assert!(ShardedExchange::new(&shape, 2, 2).is_err());
    assert!(ShardedExchange::new(&shape, 0, 0).is_err());
    assert!(ex[0].compress_shard(&enc, &g, 5).is_err());
    assert!(ex[0].compress_shard(&enc, &g[..2], 0).is_err());
    let mut wrong = vec![0.0f32; 2];
    assert!(ex[0].accumulate(&[], 1.0, &mut wrong).is_err());
}

fn trained_exchange() -> (ShardedExchange, Vec<usize>) {
    let (grads, shape) = rank_gradients(2);
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(0.3))).unwrap();
    let mut ex = ShardedExchange::new(&shape, 2, 1).unwrap();
    for j in 0..2 {
        ex.compress_shard(&enc, &grads[0], j).unwrap();
    }
    let half = vec![0.25f32; ex.shard(1).len()];
    ex.compress_reduced(&enc, &half).unwrap();
    (ex, shape)
}

#[test]
fn residual_store_round_trips_and_refuses_missing_or_renamed_keys() {
    let (ex, shape) = trained_exchange();
    let mut store = ResidualStore::new();
    ex.save_residuals("fc1.weight", &mut store).unwrap();
    assert_eq!(
        store.names().collect::<Vec<_>>(),
        [
            "fc1.weight/gather",
            "fc1.weight/scatter/0",
            "fc1.weight/scatter/1"
        ]
    );
    let dir = std::env::temp_dir().join(format!("alcm-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("residuals.bin");
    store.save(&path).unwrap();
    let loaded = ResidualStore::load(&path).unwrap();
    assert_eq!(loaded, store);
    let mut fresh = ShardedExchange::new(&shape, 2, 1).unwrap();
    fresh.load_residuals("fc1.weight", &loaded).unwrap();
    for s in [Stage::Scatter(0), Stage::Scatter(1), Stage::Gather] {
        assert_eq!(fresh.residual(s).unwrap(), ex.residual(s).unwrap());
        assert!(fresh
            .residual(s)
            .unwrap()
            .residual()
            .iter()
            .any(|&v| v != 0.0));
    }
    // A renamed parameter: a clear error naming the key, and nothing reset.
    let mut other = ShardedExchange::new(&shape, 2, 1).unwrap();
    other.load_residuals("fc1.weight", &loaded).unwrap();
    let e = other.load_residuals("layer1.weight", &loaded).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.message().contains("layer1.weight/scatter/0"),
        "{}",
        e.message()
    );
    assert_eq!(
        other.residual(Stage::Gather).unwrap(),
        ex.residual(Stage::Gather).unwrap()
    );
    // Another rank count: shard shapes differ, which is an error too.
    let mut four = ShardedExchange::new(&shape, 4, 1).unwrap();
    assert!(four.load_residuals("fc1.weight", &loaded).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn residual_store_refuses_damaged_and_hostile_bytes() {
    // A small tensor (fc3's [10, 128] gradient): every truncation is tried.
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gradients/grad_step00100_fc3.weight.npy");
    let (g, shape) = alcm::read_npy_f32(&p).unwrap();
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(0.3))).unwrap();
    let mut ex = ShardedExchange::new(&shape, 3, 0).unwrap();
    ex.compress_shard(&enc, &g, 2).unwrap();
    let mut store = ResidualStore::new();
    ex.save_residuals("w", &mut store).unwrap();
    store
        .insert("extra", ErrorFeedback::new(&[0]).unwrap())
        .unwrap();
    let bytes = store.to_bytes();
    assert_eq!(ResidualStore::from_bytes(&bytes).unwrap(), store);
    // Every truncation and every single flipped byte is an error, never a panic.
    for cut in 0..bytes.len() {
        assert!(
            ResidualStore::from_bytes(&bytes[..cut]).is_err(),
            "cut {cut}"
        );
    }
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x41;
        assert!(ResidualStore::from_bytes(&b).is_err(), "flip {i}");
    }
    // A valid checksum over a hostile body: a huge entry count and a huge declared state
    // length are refused before anything is allocated.
    let with_crc = |mut body: Vec<u8>| {
        let c = crc32fast_hash(&body);
        body.extend_from_slice(&c.to_le_bytes());
        body
    };
    let mut body = b"ALCMRS\x01".to_vec();
    body.extend_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        ResidualStore::from_bytes(&with_crc(body))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidModel
    );
    let mut body = b"ALCMRS\x01".to_vec();
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.push(b'a');
    body.extend_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        ResidualStore::from_bytes(&with_crc(body))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidModel
    );
    // Names: empty and over-long names are refused.
    assert!(store.insert("", ErrorFeedback::new(&[1]).unwrap()).is_err());
    assert!(store
        .insert(&"x".repeat(2000), ErrorFeedback::new(&[1]).unwrap())
        .is_err());
}

/// CRC-32 (IEEE, reflected 0xEDB88320), written out here so the test does not trust the
/// library's checksum code.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The committed seeds of the `residual_store` fuzz target (fuzz/corpus/residual_store/) parse
/// and serialise back to the same bytes; ALCM_WRITE_SEEDS=1 rewrites them.
#[test]
fn residual_store_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/residual_store");
    if std::env::var_os("ALCM_WRITE_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(0.3))).unwrap();
        let mut ex = ShardedExchange::new(&[5, 3], 2, 1).unwrap();
        let g: Vec<f32> = (0..15).map(|i| (i as f32 * 0.37).sin()).collect();
        ex.compress_shard(&enc, &g, 0).unwrap();
        let mut s = ResidualStore::new();
        ex.save_residuals("fc.weight", &mut s).unwrap();
        std::fs::write(dir.join("small.bin"), s.to_bytes()).unwrap();
        std::fs::write(dir.join("empty.bin"), ResidualStore::new().to_bytes()).unwrap();
    }
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let b = std::fs::read(e.unwrap().path()).unwrap();
        assert_eq!(ResidualStore::from_bytes(&b).unwrap().to_bytes(), b);
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn layout_with_fewer_shards_than_ranks_still_sums_exactly() {
    // [256, 64] with shards of at least 6000 values: 2 shards (128 rows each) on ranks 3 and 0
    // of 4; ranks 1 and 2 own nothing, send no frame for those shards and gather nothing.
    let ranks = 4;
    let (grads, shape) = rank_gradients(ranks);
    let layout = ShardLayout {
        min_values: 6000,
        first_rank: 3,
    };
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless)).unwrap();
    let mut ex: Vec<_> = (0..ranks)
        .map(|r| ShardedExchange::with_layout(&shape, ranks, r, layout).unwrap())
        .collect();
    assert_eq!(ex[0].shard(3), 0..8192);
    assert_eq!(ex[0].shard(0), 8192..16384);
    assert!(ex[0].shard(1).is_empty() && ex[0].shard(2).is_empty());
    let (sent, _, gathered, results) = step(&mut ex, &enc, &grads, 1.0);
    assert!(sent
        .iter()
        .all(|f| f[1].is_empty() && f[2].is_empty() && !f[0].is_empty()));
    assert!(gathered[1].is_empty() && gathered[2].is_empty());
    for i in 0..grads[0].len() {
        let reference: f64 = grads.iter().map(|g| g[i] as f64).sum();
        let tol = 4.0 * f32::EPSILON as f64 * grads.iter().map(|g| g[i].abs() as f64).sum::<f64>();
        assert!((results[2][i] as f64 - reference).abs() <= tol, "value {i}");
    }
    assert!(results.iter().all(|r| r == &results[0]));
    // A frame where none belongs is refused.
    let mut acc: Vec<f32> = Vec::new();
    assert!(ex[1].accumulate(&sent[0][0], 1.0, &mut acc).is_err());
}

/// Fuzz finding (residual_store, 2026-12-05): a file whose entries were not in name order
/// parsed, and re-serialised to other bytes (two spellings of one store). Entries must now be
/// in increasing order; the input (outer CRC recomputed, as the target does) is refused.
#[test]
fn residual_store_refuses_entries_out_of_order() {
    let mut b: Vec<u8> = vec![
        0x41, 0x4c, 0x43, 0x4d, 0x52, 0x53, 0x01, 0x03, 0x00, 0x00, 0x00, 0x10, 0x00, 0x66, 0x63,
        0x2e, 0x77, 0x65, 0x69, 0x67, 0x68, 0x74, 0x2f, 0x67, 0x61, 0x74, 0x68, 0x65, 0x72, 0x34,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x4c, 0x43, 0x4d, 0x45, 0x46, 0x01, 0x02,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x94, 0x40, 0xe3, 0xd5, 0x13,
        0x00, 0x66, 0x63, 0x2e, 0x77, 0x65, 0x69, 0x67, 0x68, 0x74, 0x2f, 0x73, 0x63, 0x61, 0x74,
        0x74, 0x65, 0x72, 0x3f, 0x30, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x4c,
        0x43, 0x4d, 0x45, 0x46, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa9, 0x25, 0xb9, 0x3e,
        0xb4, 0x17, 0x69, 0xbe, 0x80, 0xc6, 0xcb, 0xbb, 0xe8, 0x6f, 0xc0, 0x3d, 0x30, 0x21, 0x73,
        0x3d, 0xc0, 0xc2, 0xd7, 0xbd, 0x98, 0x78, 0xc1, 0xbe, 0x38, 0xee, 0x38, 0x3e, 0xba, 0x38,
        0x3d, 0xec, 0x13, 0x00, 0x66, 0x63, 0x2e, 0x77, 0x65, 0x69, 0x67, 0x68, 0x74, 0x2f, 0x73,
        0x63, 0x61, 0x74, 0x74, 0x65, 0x72, 0x2f, 0x31, 0x34, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x41, 0x4c, 0x43, 0x4d, 0x45, 0x46, 0x01, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x94, 0x40, 0xe3, 0xd5, 0xa6, 0x60, 0x86, 0x6a,
    ];
    let n = b.len();
    let crc = crc32fast_hash(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&crc.to_le_bytes());
    let e = ResidualStore::from_bytes(&b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidModel);
    assert!(e.message().contains("out of order"), "{}", e.message());
    // The same entries in order are accepted and round-trip.
    let mut s = ResidualStore::new();
    s.insert("b", ErrorFeedback::new(&[2]).unwrap()).unwrap();
    s.insert("a", ErrorFeedback::new(&[1]).unwrap()).unwrap();
    let bytes = s.to_bytes();
    assert_eq!(ResidualStore::from_bytes(&bytes).unwrap().to_bytes(), bytes);
}

#[test]
fn adaptive_exchange_uses_the_allocation_of_each_shard() {
    // The original's scheme over the exchange: per-channel allocations of the shard (rows of
    // fc1's [256, 64] gradient split over 2 ranks: 128 channels each).
    let ranks = 2;
    let (grads, shape) = rank_gradients(ranks);
    let enc = Encoder::new(EncoderConfig::default()).unwrap(); // adaptive, pruning 0.01
    let size = |alloc: f64| {
        let mut ex = ShardedExchange::new(&shape, ranks, 0).unwrap();
        assert_eq!(ex.shard_shape(1).unwrap(), vec![128, 64]);
        let a = vec![alloc; 128];
        let m = ex
            .compress_shard_allocated(&enc, &grads[0], 1, Some(&a))
            .unwrap()
            .unwrap()
            .bytes;
        // The message decodes to the shard, within what the allocation allows: more bits,
        // smaller error.
        let d = decode(&ex, &m, 1);
        let x = &grads[0][ex.shard(1)];
        let err = norm(x.iter().zip(&d).map(|(a, b)| (*a - *b) as f64));
        (m.len(), err / norm(x.iter().map(|&v| v as f64)))
    };
    let (small, err_small) = size(0.2);
    let (large, err_large) = size(0.9);
    assert!(small < large, "{small} vs {large} bytes");
    assert!(err_large < err_small, "{err_large} vs {err_small}");
    // A wrong allocation length is an error that leaves the residual as it was.
    let mut ex = ShardedExchange::new(&shape, ranks, 0).unwrap();
    let bad = vec![0.5; 127];
    assert_eq!(
        ex.compress_shard_allocated(&enc, &grads[0], 1, Some(&bad))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert!(ex
        .residual(Stage::Scatter(1))
        .unwrap()
        .residual()
        .iter()
        .all(|&r| r == 0.0));
    // Stage 2 takes the allocation of this rank's shard.
    let reduced = vec![0.01f32; 128 * 64];
    let a = vec![0.6; 128];
    let m = ex
        .compress_reduced_allocated(&enc, &reduced, Some(&a))
        .unwrap()
        .unwrap()
        .bytes;
    let d = decode(&ex, &m, 0);
    assert!(d.iter().all(|&v| (v - 0.01).abs() < 1e-3));
}
