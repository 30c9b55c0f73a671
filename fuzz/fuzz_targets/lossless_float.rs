//! Any bytes → the lossless float coder's decoder (`codec/lossless.rs`, backend 4's payload):
//! the first byte picks the element width (2, 4 or 8) and the next two the element count
//! (< 2^16); the rest is the payload. The decoder fills the buffer exactly or returns an error,
//! never panics; whatever it accepts re-encodes and decodes to the same bytes.
#![no_main]
use alcm::internals::lossless;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    if raw.len() < 3 {
        return;
    }
    let w = [2usize, 4, 8][raw[0] as usize % 3];
    let n = u16::from_le_bytes([raw[1], raw[2]]) as usize;
    let payload = &raw[3..];
    let mut out = vec![0u8; n * w];
    match lossless::decode(payload, w, &mut out) {
        Ok(()) => {
            let again = lossless::encode(&out, w, &[n]);
            let mut back = vec![0u8; n * w];
            lossless::decode(&again, w, &mut back).expect("re-encoded payload must decode");
            assert!(back == out, "re-encoded payload decodes to other bytes");
        }
        Err(e) => assert!(!e.message().is_empty()),
    }
});
