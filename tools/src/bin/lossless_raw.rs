//! The lossless float coder (`codec/lossless.rs`) over raw little-endian element files, for
//! `bench/lossless.py` (which writes each tensor as float32, bfloat16 and float16 bytes; the
//! element-type API is separate work). For each `WIDTH PATH [DIM...]` line on stdin (the dimensions: the tensor's shape): encode, decode,
//! check the bytes are identical, and print `PATH,WIDTH,raw_bytes,payload_bytes,method,
//! encode_seconds,decode_seconds` (the fastest of `REPEATS` runs each, one thread).
//!
//! With `--frame`, the times are those of the public API a user calls instead of the payload
//! coder alone: `Encoder::compress_bytes` (lossless, one thread: the header, the CRC and the
//! non-finite scan included) and `DecodeOptions::decompress_bytes_into`; the sizes printed
//! are still the payload's (the same bytes).
//!
//! ```sh
//! printf '4 a.f32\n2 a.bf16\n' | cargo run --release -p alcm-tools --bin lossless_raw -- 5 [--frame]
//! ```

#[path = "../raw_list.rs"]
mod raw_list;
use std::time::Instant;

use alcm::internals::lossless;
use alcm::{DecodeOptions, Dtype, Encoder, EncoderConfig, Mode, NonFinitePolicy};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let frame_api = args.iter().any(|a| a == "--frame");
    let repeats: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5).max(1);
    let enc = Encoder::new(
        EncoderConfig::default()
            .with_mode(Mode::Lossless)
            .with_threads(1)
            .with_non_finite(NonFinitePolicy::Keep),
    )
    .expect("lossless encoder");
    let dec = DecodeOptions::default().with_threads(1);
    for raw_list::RawTensor {
        width: w,
        path,
        shape,
        bytes,
    } in raw_list::stdin_tensors()
    {
        let dtype = match w {
            2 if path.ends_with("float16") && !path.ends_with("bfloat16") => Dtype::F16,
            2 => Dtype::BF16,
            8 => Dtype::F64,
            _ => Dtype::F32,
        };
        let mut enc_best = f64::INFINITY;
        let mut coded = Vec::new();
        for _ in 0..repeats {
            let t = Instant::now();
            coded = if frame_api {
                enc.compress_bytes(std::hint::black_box(&bytes), dtype, &shape, None)
                    .expect("compress")
                    .bytes
            } else {
                lossless::encode(std::hint::black_box(&bytes), w, &shape)
            };
            enc_best = enc_best.min(t.elapsed().as_secs_f64());
        }
        let mut out = vec![0u8; bytes.len()];
        let mut dec_best = f64::INFINITY;
        for _ in 0..repeats {
            let t = Instant::now();
            if frame_api {
                dec.decompress_bytes_into(std::hint::black_box(&coded), &mut out)
                    .expect("decode");
            } else {
                lossless::decode(std::hint::black_box(&coded), w, &mut out).expect("decode");
            }
            dec_best = dec_best.min(t.elapsed().as_secs_f64());
        }
        assert!(out == bytes, "{path}: round trip is not bit-exact");
        let payload = if frame_api {
            let info = alcm::peek(&coded).expect("frame");
            let start = coded.len() - info.payload_len as usize - 4;
            &coded[start..start + info.payload_len as usize]
        } else {
            &coded[..]
        };
        println!(
            "{path},{w},{},{},{},{enc_best:.9},{dec_best:.9}",
            bytes.len(),
            payload.len(),
            payload.first().copied().unwrap_or(0)
        );
    }
}
