//! Any bytes → ErrorFeedback::from_bytes: a typed error or a state that serialises back to the
//! same bytes (CRC recomputed first, so mutations get past the checksum).
#![no_main]
use alcm::ErrorFeedback;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    // Recompute the trailing CRC so mutations reach the parser behind the checksum.
    let mut fixed = raw.to_vec();
    if fixed.len() >= 12 {
        let n = fixed.len();
        let crc = crc32fast::hash(&fixed[..n - 4]);
        fixed[n - 4..].copy_from_slice(&crc.to_le_bytes());
    }
    let data = &fixed[..];
    if let Ok(s) = ErrorFeedback::from_bytes(data) {
        let n: usize = s.shape().iter().product();
        assert_eq!(n, s.residual().len());
        assert!(s.residual().iter().all(|v| v.is_finite()));
        assert_eq!(s.to_bytes(), data);
    }
});
