//! Decoder A/B harness: `save DIR` writes frames of every data tensor (relative-L2 1e-1/1e-2/
//! 1e-3, adaptive, max-abs, lossless) plus the two synthetic 1024 × 1024 tensors of
//! `examples/speed.rs`; `run DIR [--threads T] [--min N]` decodes each frame, prints a CRC-32 of
//! the decoded bytes (to compare two builds bit for bit) and, for frames of ≥ N values
//! (default 1 Mi), the best-of decode MB/s.
//!
//!     cargo run --release -p alcm-tools --bin decode_ab -- save /tmp/frames
//!     cargo run --release -p alcm-tools --bin decode_ab -- run /tmp/frames
//!
//! `loop FILE REPS` decodes one frame REPS times (for callgrind / perf); `acc FILE REPS
//! [--scratch 1]` times decode-and-accumulate with the sink or through a scratch buffer;
//! `compress NPY REPS` compresses one tensor REPS times (relative L2 1e-2).

use std::path::PathBuf;
use std::time::Instant;

#[path = "../../../examples/common/mod.rs"]
mod common;

use alcm::{read_npy_f32, DecodeOptions, Encoder, EncoderConfig, Mode};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(&args[1]);
    let opt = |k: &str, d: usize| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    if args[0] == "save" {
        std::fs::create_dir_all(&dir).unwrap();
        let mut tensors = vec![];
        for p in common::find_npy(&common::data_dir(None)) {
            if let Ok((x, shape)) = read_npy_f32(&p) {
                tensors.push((
                    p.file_stem().unwrap().to_string_lossy().into_owned(),
                    x,
                    shape,
                ));
            }
        }
        let (g, gs) = common::synthetic(1, true);
        tensors.push(("synth_gradient".into(), g, gs));
        let (w, ws) = common::synthetic(2, false);
        tensors.push(("synth_gaussian".into(), w, ws));
        for (name, x, shape) in &tensors {
            let finite = x.iter().all(|v| v.is_finite());
            for (tag, mode) in [
                ("l2_1e-1", Mode::RelativeL2(1e-1)),
                ("l2_1e-2", Mode::RelativeL2(1e-2)),
                ("l2_1e-3", Mode::RelativeL2(1e-3)),
                ("adaptive", Mode::Adaptive),
                ("maxabs", Mode::MaxAbs(1e-4)),
                ("lossless", Mode::Lossless),
            ] {
                let cfg = EncoderConfig::default()
                    .with_mode(mode)
                    .with_non_finite(alcm::NonFinitePolicy::Keep);
                let _ = finite;
                match Encoder::new(cfg).unwrap().compress(x, shape, None) {
                    Ok(c) => {
                        std::fs::write(dir.join(format!("{name}.{tag}.alcm")), &c.bytes).unwrap()
                    }
                    Err(e) => eprintln!("{name} {tag}: {e}"),
                }
            }
        }
        return;
    }
    let threads = opt("--threads", 1);
    if args[0] == "mutate" {
        // `mutate DIR`: every frame of < 40 000 bytes: truncations and byte flips (CRC made
        // valid again) of its payload; prints the outcome (error kind or decoded CRC-32) to
        // compare the accept/reject behaviour of two builds.
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut s = 7u64;
        for p in files {
            let frame = std::fs::read(&p).unwrap();
            if frame.len() > 40_000 {
                continue;
            }
            let info = alcm::peek(&frame).unwrap();
            let p0 = info.frame_len as usize - 4 - info.payload_len as usize;
            let outcome =
                |f: &[u8]| match DecodeOptions::default().with_threads(threads).decompress(f) {
                    Ok(d) => format!(
                        "{:08x}",
                        crc32fast::hash(
                            &d.data
                                .iter()
                                .flat_map(|v| v.to_bits().to_le_bytes())
                                .collect::<Vec<u8>>()
                        )
                    ),
                    Err(e) => format!("{:?}", e.kind()),
                };
            let mut line = String::new();
            for _ in 0..60 {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = p0 + (s >> 33) as usize % (frame.len() - 4 - p0).max(1);
                let mut f = frame.clone();
                match (s >> 8) % 3 {
                    0 => f[i] ^= 1 << ((s >> 20) % 8),
                    1 => f[i] = (s >> 40) as u8,
                    _ => {
                        // Cut the payload short and re-declare nothing: the frame is shorter.
                        f.truncate(i);
                        f.extend_from_slice(&[0; 4]);
                    }
                }
                let n = f.len();
                let crc = crc32fast::hash(&f[..n - 4]);
                f[n - 4..].copy_from_slice(&crc.to_le_bytes());
                line += &outcome(&f);
                line.push(' ');
            }
            println!("{} {line}", p.file_name().unwrap().to_string_lossy());
        }
        return;
    }
    if args[0] == "loop" {
        // `loop FILE REPS`: decode one frame REPS times (for perf stat).
        let bytes = std::fs::read(&dir).unwrap();
        for _ in 0..opt("loop", 1).max(args[2].parse().unwrap_or(1)) {
            std::hint::black_box(
                DecodeOptions::default()
                    .with_threads(threads)
                    .decompress(&bytes)
                    .unwrap(),
            );
        }
        return;
    }
    if args[0] == "compress" {
        // `compress NPY REPS `: relative-L2 1e-2 compress of
        // one tensor REPS times (for callgrind: the encoder side of a payload-kind change).
        let (x, shape) = read_npy_f32(&dir).unwrap();
        let enc = Encoder::new(EncoderConfig::default().with_mode(Mode::RelativeL2(1e-2))).unwrap();
        for _ in 0..args[2].parse().unwrap_or(1) {
            std::hint::black_box(enc.compress(&x, &shape, None).unwrap());
        }
        return;
    }
    if args[0] == "acc" {
        // `acc FILE REPS [--scratch 1]`: `out += 0.5 · decode(frame)` REPS times with
        // `Accumulator` (model frames summed as they decode), or with `--scratch 1` the way
        // without a sink: decode into a reused buffer, then add. Prints the best MB/s.
        let bytes = std::fs::read(&dir).unwrap();
        let n = alcm::peek(&bytes).unwrap().n_values as usize;
        let scratch_way = opt("--scratch", 0) == 1;
        let mut out = vec![0f32; n];
        let mut scratch = vec![0f32; n];
        let mut acc = alcm::collective::Accumulator::with_threads(threads);
        let mut best = f64::INFINITY;
        for _ in 0..args[2].parse().unwrap_or(1) {
            let t = Instant::now();
            if scratch_way {
                DecodeOptions::default()
                    .with_threads(threads)
                    .decompress_into(&bytes, &mut scratch)
                    .unwrap();
                for (o, &v) in out.iter_mut().zip(&scratch) {
                    *o += 0.5 * v;
                }
            } else {
                acc.accumulate(&bytes, 0.5, &mut out).unwrap();
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        std::hint::black_box(&out);
        println!("{:.1} MB/s", n as f64 * 4e-6 / best);
        return;
    }
    let min = opt("--min", 1 << 20);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for p in files {
        let bytes = std::fs::read(&p).unwrap();
        let d = DecodeOptions::default()
            .with_threads(threads)
            .decompress(&bytes)
            .unwrap();
        let raw: Vec<u8> = d
            .data
            .iter()
            .flat_map(|v| v.to_bits().to_le_bytes())
            .collect();
        let crc = crc32fast::hash(&raw);
        let backend = alcm::peek(&bytes).map(|i| i.backend.id()).unwrap_or(0);
        let mut line = format!(
            "{:<60} {:>9} b{} {:08x}",
            p.file_name().unwrap().to_string_lossy(),
            d.data.len(),
            backend,
            crc
        );
        if d.data.len() >= min {
            let mut best = f64::INFINITY;
            let start = Instant::now();
            let mut reps = 0;
            while reps < 5 || (start.elapsed().as_secs_f64() < 1.0 && reps < 50) {
                let t = Instant::now();
                std::hint::black_box(
                    DecodeOptions::default()
                        .with_threads(threads)
                        .decompress(&bytes)
                        .unwrap(),
                );
                best = best.min(t.elapsed().as_secs_f64());
                reps += 1;
            }
            line += &format!(" {:>8.1} MB/s", d.data.len() as f64 * 4e-6 / best);
        }
        println!("{line}");
    }
}
