//! One line per frame — tensor, mode, frame length, a hash of the frame bytes — for every
//! tensor of ≥ 4096 finite values of the data directory plus the two synthetic 1024 × 1024
//! tensors, in relative-L2 1e-1/1e-2/1e-3 and max-abs 1e-3. Diff the output of two builds (or
//! two thread counts) to check that a speed change left the bytes alone:
//!
//! cargo run --release --example frame_hashes -- [THREADS]
#[path = "common/mod.rs"]
mod common;
use alcm::{npy::read_npy_f32, Encoder, EncoderConfig, Mode};
use std::hash::{Hash, Hasher};
fn main() {
    let dir = common::data_dir(None);
    let mut ts: Vec<(String, Vec<f32>, Vec<usize>)> = vec![];
    for p in common::find_npy(&dir) {
        if let Ok((x, s)) = read_npy_f32(&p) {
            if x.len() >= 4096 && x.iter().all(|v| v.is_finite()) { ts.push((p.display().to_string(), x, s)); }
        }
    }
    let (g, gs) = common::synthetic(1, true); ts.push(("grad".into(), g, gs));
    let (w, ws) = common::synthetic(2, false); ts.push(("gauss".into(), w, ws));
    let threads: usize = std::env::args().nth(1).map(|a| a.parse().unwrap()).unwrap_or(1);
    for (name, x, s) in &ts {
        for mode in [Mode::RelativeL2(1e-1), Mode::RelativeL2(1e-2), Mode::RelativeL2(1e-3), Mode::MaxAbs(1e-3)] {
            let c = Encoder::new(EncoderConfig { mode, threads, ..Default::default() }).unwrap().compress(x, s, None).unwrap();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            c.bytes.hash(&mut h);
            println!("{name} {mode:?} {} {:016x}", c.bytes.len(), h.finish());
        }
    }
}
