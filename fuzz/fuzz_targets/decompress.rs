//! Any bytes → decompress: a typed error or a tensor whose size matches its shape; never a
//! panic, never an allocation beyond the (small) limit given here. The same bytes through
//! decode-and-accumulate (`Accumulator`): an error, or exactly `out + 0.5 · decoded`.
//!
//! The trailing CRC-32 is recomputed over the mutated bytes first: otherwise almost every
//! mutation stops at the checksum and the parser behind it is never explored. (The checksum
//! check itself is covered by tests/codec.rs's every-bit-flip test.)
#![no_main]
use alcm::collective::Accumulator;
use alcm::{DecodeOptions, peek};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let mut fixed = raw.to_vec();
    if fixed.len() >= 8 {
        let n = fixed.len();
        let crc = crc32fast::hash(&fixed[..n - 4]);
        fixed[n - 4..].copy_from_slice(&crc.to_le_bytes());
    }
    let data = &fixed[..];
    let limits = DecodeOptions::default().with_max_values(1 << 24);
    match limits.decompress(data) {
        Ok(d) => {
            let n: usize = d.shape.iter().product();
            assert_eq!(n, d.data.len());
            // A frame that decodes also peeks, and agrees.
            let info = peek(data).expect("decodable frame must peek");
            assert_eq!(info.shape, d.shape);
            assert_eq!(info.frame_len as usize, data.len());
            // decompress_into gives the same values, bit for bit.
            let mut out = vec![0f32; n];
            DecodeOptions::default().decompress_into(data, &mut out).expect("decompress_into must agree");
            assert!(out.iter().zip(&d.data).all(|(a, b)| a.to_bits() == b.to_bits()));
            // Decode-and-accumulate sums exactly what decoding and then adding gives.
            let mut sum = vec![1.0f32; n];
            Accumulator::new().accumulate(data, 0.5, &mut sum).expect("accumulate must agree");
            assert!(sum.iter().zip(&d.data).all(|(s, v)| s.to_bits() == (1.0 + 0.5 * v).to_bits()));
        }
        Err(e) => {
            assert!(!e.message().is_empty());
            // Within the same limit: never a panic, an error as well.
            if let Ok(info) = peek(data) {
                if info.n_values <= 1 << 24 {
                    let mut sum = vec![1.0f32; info.n_values as usize];
                    assert!(Accumulator::new().accumulate(data, 0.5, &mut sum).is_err());
                }
            }
        }
    }
});
