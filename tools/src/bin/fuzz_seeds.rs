//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/`) from real data:
//! frames of tests/data tensors in every mode and backend, the shipped YAML configs, npy/npz
//! fixtures, a model file and error-feedback states. Small on purpose (a few hundred KB).
//!
//!     cargo run -p alcm-tools --bin fuzz_seeds
use std::fs;

#[path = "../../../tests/common/loader_case.rs"]
#[allow(dead_code)]
mod loader_case;
use std::path::Path;

use alcm::{
    npy_bytes_f64, npy_bytes_i64, read_npy_f32, BackendKind, Encoder, EncoderConfig, ErrorFeedback,
    Mode, NonFinitePolicy, Predictor,
};

fn put(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn modes() -> Vec<(&'static str, Mode)> {
    vec![
        ("adaptive", Mode::Adaptive),
        ("rel1e-2", Mode::RelativeL2(1e-2)),
        ("rel1e-5", Mode::RelativeL2(1e-5)),
        ("maxabs1e-4", Mode::MaxAbs(1e-4)),
        ("lossless", Mode::Lossless),
    ]
}

/// Seeds of the `lossless_float` target: u8 width selector, u16 element count, then the payload
/// of real tensors as float32, their upper halves (bfloat16 by truncation), float64 and float16,
/// each as the encoder writes it and as method 4.
fn lossless_float_seeds() {
    for path in [
        "tests/data/gradients/grad_step00100_fc3.weight.npy",
        "tests/data/gradients/grad_step00001_fc3.bias.npy",
        "tests/data/gradients/adam_exp_avg_sq_step02000_fc3.weight.npy",
        // Small enough for the compact split (method 5), also as float16 (5 head bits).
        "tests/data/gradients/grad_step00010_fc2.bias.npy",
    ] {
        let (x, _) = read_npy_f32(Path::new(path)).unwrap();
        let stem = Path::new(path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let f32s: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bf16: Vec<u8> = x
            .iter()
            .flat_map(|v| v.to_le_bytes()[2..].to_vec())
            .collect();
        let f64s: Vec<u8> = x.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect();
        let f16s: Vec<u8> = x
            .iter()
            .flat_map(|&v| alcm::half::f16::from_f32(v).to_bits().to_le_bytes())
            .collect();
        for (sel, w, bytes, tag) in [
            (1u8, 4, &f32s, "f32"),
            (0, 2, &bf16, "bf16"),
            (2, 8, &f64s, "f64"),
            (0, 2, &f16s, "f16"),
        ] {
            let n = bytes.len() / w;
            let mut seed = vec![sel];
            seed.extend_from_slice(&(n as u16).to_le_bytes());
            seed.extend_from_slice(&alcm::internals::lossless::encode(bytes, w, &[n]));
            // Existing seeds are kept: those written before method 5 hold the split and
            // shuffled methods, which these small tensors no longer choose.
            let name = format!("{stem}_{tag}.bin");
            if !Path::new("fuzz/corpus/lossless_float").join(&name).exists() {
                put("lossless_float", &name, &seed);
            }
            // Method 4 (the laned split), which the encoder writes only from 2^16 elements.
            if let Some(p) = alcm::internals::lossless::encode_laned(bytes, w, &[n]) {
                seed.truncate(3);
                seed.extend_from_slice(&p);
                put("lossless_float", &format!("{stem}_{tag}_laned.bin"), &seed);
            }
        }
    }
}

/// A seed of the compact split in blocks (method 5, one block per row): two rows of a
/// tests/data weight, the second rounded to float16's mantissa width.
fn lossless_float_blocks_seed() {
    let (x, _) = read_npy_f32(Path::new(
        "tests/data/gradients/grad_step00100_fc3.weight.npy",
    ))
    .unwrap();
    let n = 512.min(x.len() / 2 * 2);
    let bytes: Vec<u8> = x[..n]
        .iter()
        .enumerate()
        .flat_map(|(i, v)| {
            let u = v.to_bits();
            (if i < n / 2 { u } else { u & !0x1FFF }).to_le_bytes()
        })
        .collect();
    let payload = alcm::internals::lossless::encode(&bytes, 4, &[2, n / 2]);
    let mut seed = vec![1u8];
    seed.extend_from_slice(&(n as u16).to_le_bytes());
    seed.extend_from_slice(&payload);
    put("lossless_float", "two_rows_blocks_f32.bin", &seed);
}

/// Seeds of method 6, the predicted split: the first 64 rows of Adam's second moment of fc1
/// (zero columns: masks) in every width with both predictions forced, as `lossless_float`
/// payloads; and its whole frames as the encoder writes them (heads predicted), float32 for
/// `decompress` and bfloat16 for `dtype` (first byte 0x80: a frame).
fn predicted_seeds() {
    let (x, _) = read_npy_f32(Path::new(
        "tests/data/gradients/adam_exp_avg_sq_step02000_fc1.weight.npy",
    ))
    .unwrap();
    let (rows, cols) = (64usize, 64usize);
    let part = &x[..rows * cols];
    let f32s: Vec<u8> = part.iter().flat_map(|v| v.to_le_bytes()).collect();
    let bf16: Vec<u8> = part
        .iter()
        .flat_map(|&v| alcm::half::bf16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    let f16s: Vec<u8> = part
        .iter()
        .flat_map(|&v| alcm::half::f16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    let f64s: Vec<u8> = part
        .iter()
        .flat_map(|&v| (v as f64).to_le_bytes())
        .collect();
    for (sel, w, bytes, tag) in [
        (1u8, 4, &f32s, "f32"),
        (0, 2, &bf16, "bf16"),
        (0, 2, &f16s, "f16"),
        (2, 8, &f64s, "f64"),
    ] {
        let p = alcm::internals::lossless::encode_predicted_forced(bytes, w, &[rows, cols])
            .expect("a matrix of kept elements");
        let mut seed = vec![sel];
        seed.extend_from_slice(&((rows * cols) as u16).to_le_bytes());
        seed.extend_from_slice(&p);
        put(
            "lossless_float",
            &format!("adamsq_fc1_64x64_{tag}_predicted.bin"),
            &seed,
        );
    }
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::Lossless)).unwrap();
    let shape = [256usize, 64];
    let frame = enc.compress(&x, &shape, None).unwrap().bytes;
    put(
        "decompress",
        "adam_exp_avg_sq_fc1_lossless_predicted.alcm",
        &frame,
    );
    let b: Vec<u8> = x
        .iter()
        .flat_map(|&v| alcm::half::bf16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    let typed = enc
        .compress_bytes(&b, alcm::Dtype::BF16, &shape, None)
        .unwrap()
        .bytes;
    let mut seed = vec![0x80u8];
    seed.extend_from_slice(&typed);
    put(
        "dtype",
        "frame_v6_bf16_adamsq_fc1_lossless_predicted.alcm",
        &seed,
    );
}

fn main() {
    // `fuzz_seeds lossless_float`: only the lossless coder's seeds (and method 6's frames).
    if std::env::args().nth(1).as_deref() == Some("lossless_float") {
        lossless_float_seeds();
        lossless_float_blocks_seed();
        predicted_seeds();
        return;
    }
    lossless_float_seeds();
    lossless_float_blocks_seed();
    predicted_seeds();
    let tensors = [
        "tests/data/gradients/grad_step00001_fc3.bias.npy",
        "tests/data/gradients/grad_step00010_fc2.bias.npy",
        "tests/data/gradients/adam_exp_avg_sq_step02000_fc3.bias.npy",
        "tests/data/gradients/grad_step00100_fc3.weight.npy",
    ];
    for path in tensors {
        let (data, shape) = read_npy_f32(Path::new(path)).unwrap();
        let stem = Path::new(path)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('.', "_");
        // Only a slice of the larger tensors: keeps the seeds small.
        let (data, shape) = if data.len() > 512 {
            (data[..4 * 128].to_vec(), vec![4, 128])
        } else {
            (data, shape)
        };
        for (mname, mode) in modes() {
            for (bname, backend) in [
                ("deflate", BackendKind::Deflate),
                ("store", BackendKind::Store),
            ] {
                let cfg = EncoderConfig::default()
                    .with_mode(mode)
                    .with_backend(backend);
                let c = Encoder::new(cfg)
                    .unwrap()
                    .compress(&data, &shape, Some(&[0.5]))
                    .unwrap();
                put(
                    "decompress",
                    &format!("{stem}_{mname}_{bname}.alcm"),
                    &c.bytes,
                );
                if bname == "deflate" {
                    put(
                        "peek",
                        &format!("{stem}_{mname}.alcm"),
                        &c.bytes[..c.bytes.len().min(200)],
                    );
                }
            }
        }
        put("npy", &format!("{stem}.npy"), &fs::read(path).unwrap());
    }
    // Frames with exceptions (kept non-finite values), empty and scalar tensors.
    let mut x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.1).sin()).collect();
    x[3] = f32::NAN;
    x[40] = f32::INFINITY;
    for (mname, mode) in modes() {
        let cfg = EncoderConfig::default()
            .with_mode(mode)
            .with_non_finite(NonFinitePolicy::Keep);
        let enc = Encoder::new(cfg).unwrap();
        put(
            "decompress",
            &format!("nonfinite_{mname}.alcm"),
            &enc.compress(&x, &[8, 8], None).unwrap().bytes,
        );
        put(
            "decompress",
            &format!("empty_{mname}.alcm"),
            &enc.compress(&[], &[3, 0], None).unwrap().bytes,
        );
        put(
            "decompress",
            &format!("scalar_{mname}.alcm"),
            &enc.compress(&[2.5], &[], None).unwrap().bytes,
        );
    }
    for f in ["configs/encoder_config.yaml", "configs/entropy_config.yaml"] {
        put(
            "yaml_config",
            Path::new(f).file_name().unwrap().to_str().unwrap(),
            &fs::read(f).unwrap(),
        );
    }
    put(
        "yaml_config",
        "modes.yaml",
        b"mode: {type: relative_l2, target: 0.01}\nnon_finite: keep\nbackend: store\n",
    );
    put(
        "yaml_config",
        "maxabs.yaml",
        b"mode: {type: max_abs, target: 1e-4}\nallocation: {min_bits: 0.1, max_bits: 0.95}\n",
    );
    put("yaml_config", "model.yaml", b"model: {type: \"MLP\", hidden_size: 8, learning_rate: 0.01, epochs: 3, seed: 7}\nscheduler: {decay: 0.9}\n");
    for f in [
        "f4_3x4",
        "f4_big_endian_3",
        "f4_empty_0x5",
        "f4_fortran_2x3",
        "f4_v2_2x2",
        "f4_v3_2x2",
        "f8_0d",
        "i8_2x3",
        "b1_4",
        "u1_3",
    ] {
        put(
            "npy",
            &format!("{f}.npy"),
            &fs::read(format!("tests/data/fixtures/{f}.npy")).unwrap(),
        );
    }
    put(
        "predictor_model",
        "proto_model.npz",
        &fs::read("tests/data/fixtures/proto_model.npz").unwrap(),
    );
    put(
        "predictor_model",
        "savez_stored.npz",
        &fs::read("tests/data/fixtures/savez_stored.npz").unwrap(),
    );
    put(
        "predictor_model",
        "alcm_h4.npz",
        &Predictor::new(4, 0.2, 0.9, 0.001, 1)
            .unwrap()
            .to_npz_bytes(),
    );
    // Structure-aware model seeds (0xA1 + [key][len u16][npy]...; see the target).
    for (name, norm) in [("struct_h3.bin", false), ("struct_h3_norm.bin", true)] {
        let mut p = Predictor::new(3, 0.2, 0.9, 0.01, 5).unwrap();
        if norm {
            p.fit_normalization(&[
                [0.1, 1e-4, 1e-2, 0.5, 3.0, 0.2],
                [0.0, 1e-6, 1e-3, -0.5, 9.0, 0.4],
            ])
            .unwrap();
        }
        let mut members: Vec<(u8, Vec<u8>)> = vec![
            (0, npy_bytes_f64(&[6, 3], p.w1())),
            (1, npy_bytes_f64(&[3], p.b1())),
            (2, npy_bytes_f64(&[3, 1], p.w2())),
            (3, npy_bytes_f64(&[1], &[p.b2()])),
            (4, npy_bytes_i64(&[], &[3])),
            (5, npy_bytes_f64(&[], &[0.2])),
            (6, npy_bytes_f64(&[], &[0.9])),
            (9, npy_bytes_f64(&[], &[0.01])),
            (10, npy_bytes_i64(&[], &[1])),
        ];
        if let Some(n) = p.normalization() {
            members.push((7, npy_bytes_f64(&[6], &n.mean)));
            members.push((8, npy_bytes_f64(&[6], &n.std)));
        }
        let mut b = vec![0xA1u8];
        for (k, m) in members {
            b.push(k);
            b.extend_from_slice(&(m.len() as u16).to_le_bytes());
            b.extend_from_slice(&m);
        }
        put("predictor_model", name, &b);
    }
    let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(0.05))).unwrap();
    for (name, shape) in [
        ("s2x3", vec![2usize, 3]),
        ("s0", vec![]),
        ("s4x0", vec![4, 0]),
    ] {
        let mut ef = ErrorFeedback::new(&shape).unwrap();
        let n: usize = shape.iter().product();
        let g: Vec<f32> = (0..n).map(|i| i as f32 * 0.3 - 0.7).collect();
        ef.compress(&enc, &g, None).unwrap();
        put("feedback_state", &format!("{name}.state"), &ef.to_bytes());
    }
    // Structure-aware YAML seeds (0xFF + count, head, tail, repeated fragment): the attacks of
    // issue 13 scaled to the text cap, and one over it.
    let anchor = format!("x: &a \"{}\"\ny: [*a", "z".repeat(200));
    for (name, count, head, tail, frag) in [
        (
            "alias_amplification.bin",
            8000,
            anchor.as_str(),
            "]\n",
            ", *a",
        ),
        ("nested_brackets.bin", 300, "", "", "["),
        ("nested_braces.bin", 200, "", "", "{a: "),
        ("many_values.bin", 9000, "a: [", "]\n", "1, "),
        ("block_dashes.bin", 20000, "", "x\n", "- "),
        ("over_the_cap.bin", 20000, "# ", "\n", "comment "),
    ] {
        put(
            "yaml_config",
            name,
            &loader_case::yaml_seed(count, head, tail, frag),
        );
    }
    // File loaders: one file of each kind, two hostile model files, and 0xFE (special files).
    for (name, from) in [
        ("encoder_config.yaml", "configs/encoder_config.yaml"),
        ("entropy_config.yaml", "configs/entropy_config.yaml"),
        ("proto_model.npz", "tests/data/fixtures/proto_model.npz"),
        ("savez_stored.npz", "tests/data/fixtures/savez_stored.npz"),
        ("f4_3x4.npy", "tests/data/fixtures/f4_3x4.npy"),
        (
            "model_w1_inflates_past_header.npz",
            "tests/data/hostile/model_w1_inflates_past_header.npz",
        ),
        (
            "model_min_bits_negative.npz",
            "tests/data/hostile/model_min_bits_negative.npz",
        ),
    ] {
        put("file_loaders", name, &fs::read(from).unwrap());
    }
    put(
        "file_loaders",
        "s2x3.state",
        &fs::read("fuzz/corpus/feedback_state/s2x3.state").unwrap(),
    );
    put("file_loaders", "special.bin", &[0xFE]);
    // Roundtrip: the target reads a small header (mode, flags, precisions, ...) then values.
    let (g, _) = read_npy_f32(Path::new(
        "tests/data/gradients/grad_step00001_fc3.weight.npy",
    ))
    .unwrap();
    for sel in 0u8..4 {
        let mut b = vec![
            sel, 0, 7, 3, 6, 0x40, 0x00, 0x00, 0x40, 2, 4, 8, 1, 0x00, 0x80,
        ];
        b.extend(g[..32].iter().flat_map(|v| v.to_le_bytes()));
        put("roundtrip", &format!("mode{sel}.bin"), &b);
    }
    // rANS-model frames of payload kind 5 (≥ 2^19 values: 16 independent lane streams per
    // block), kept small by a tensor that is zero but for a few rows: the lane headers, the
    // vector decoder and its scalar fallback (escapes, adaptive mode's wide low bits).
    let (rows, cols) = (1024usize, 512usize);
    let mut x = vec![0f32; rows * cols];
    let mut s = 7u64;
    for i in (0..rows).step_by(16) {
        for j in 0..cols {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let g = ((s >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * (1.0 + (j % 7) as f64);
            x[i * cols + j] = if j == 77 { 40.0 } else { g as f32 };
        }
    }
    for (mname, mode) in [
        ("rel1e-1", Mode::RelativeL2(1e-1)),
        ("adaptive", Mode::Adaptive),
    ] {
        let c = Encoder::new(
            EncoderConfig::default()
                .with_mode(mode)
                .with_backend(BackendKind::Rans),
        )
        .unwrap()
        .compress(&x, &[rows, cols], Some(&[0.5]))
        .unwrap();
        put("decompress", &format!("kind5_{mname}_rans.alcm"), &c.bytes);
    }
}
