//! The lossless float coder (`codec/lossless.rs`) over raw little-endian element files, for
//! `bench/lossless.py` (which writes each tensor as float32, bfloat16 and float16 bytes; the
//! element-type API is separate work). For each `WIDTH PATH [DIM...]` line on stdin (the dimensions: the tensor's shape): encode, decode,
//! check the bytes are identical, and print `PATH,WIDTH,raw_bytes,payload_bytes,method,
//! encode_seconds,decode_seconds` (the fastest of `REPEATS` runs each, one thread).
//!
//! ```sh
//! printf '4 a.f32\n2 a.bf16\n' | cargo run --release -p alcm-tools --bin lossless_raw -- 5
//! ```

#[path = "../raw_list.rs"]
mod raw_list;
use std::time::Instant;

use alcm::internals::lossless;

fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    for raw_list::RawTensor {
        width: w,
        path,
        shape,
        bytes,
    } in raw_list::stdin_tensors()
    {
        let mut enc_best = f64::INFINITY;
        let mut payload = Vec::new();
        for _ in 0..repeats {
            let t = Instant::now();
            payload = lossless::encode(std::hint::black_box(&bytes), w, &shape);
            enc_best = enc_best.min(t.elapsed().as_secs_f64());
        }
        let mut out = vec![0u8; bytes.len()];
        let mut dec_best = f64::INFINITY;
        for _ in 0..repeats {
            let t = Instant::now();
            lossless::decode(std::hint::black_box(&payload), w, &mut out).expect("decode");
            dec_best = dec_best.min(t.elapsed().as_secs_f64());
        }
        assert!(out == bytes, "{path}: round trip is not bit-exact");
        println!(
            "{path},{w},{},{},{},{enc_best:.9},{dec_best:.9}",
            bytes.len(),
            payload.len(),
            payload.first().copied().unwrap_or(0)
        );
    }
}
