//! Any bytes → Predictor::from_npz_bytes: InvalidModel or a model whose prediction is finite and
//! in range, and that re-saves and re-loads identically.
//!
//! Inputs starting with byte 0xA1 are structure-aware: the rest is a list of members
//! `[key u8][len u16 LE][npy bytes]`, assembled into a valid zip (CRCs computed) so that the
//! mutations reach the model validation behind the archive's per-member CRC-32.
#![no_main]
use alcm::{npz_bytes, ErrorKind, Predictor};
use libfuzzer_sys::fuzz_target;

const KEYS: [&str; 12] = [
    "W1", "b1", "W2", "b2", "hidden_size", "min_bits", "max_bits", "norm_mean", "norm_std", "learning_rate",
    "alcm_model_version", "other",
];

fn assemble(mut b: &[u8]) -> Vec<u8> {
    let mut members: Vec<(&str, Vec<u8>)> = Vec::new();
    while b.len() >= 3 {
        let key = KEYS[b[0] as usize % KEYS.len()];
        let len = (u16::from_le_bytes([b[1], b[2]]) as usize).min(b.len() - 3);
        members.push((key, b[3..3 + len].to_vec()));
        b = &b[3 + len..];
    }
    npz_bytes(&members)
}

fuzz_target!(|data: &[u8]| {
    let assembled;
    let bytes = if data.first() == Some(&0xA1) {
        assembled = assemble(&data[1..]);
        &assembled[..]
    } else {
        data
    };
    match Predictor::from_npz_bytes(bytes) {
        Ok(p) => {
            for f in [[0.1, 1e-4, 1e-2, 0.5, 3.0, 0.2], [0.0; 6], [1e30, 1e300, 1e150, -1e10, 1e20, 1.0]] {
                let y = p.forward(&f);
                assert!(y.is_finite(), "prediction {y}");
                assert!(y >= p.min_bits() && y <= p.max_bits(), "prediction {y}");
            }
            let again = Predictor::from_npz_bytes(&p.to_npz_bytes()).expect("re-load");
            assert_eq!(again, p);
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidModel, "{e}"),
    }
});
