//! Any bytes → ResidualStore::from_bytes: a typed error or a store that serialises back to the
//! same bytes (the outer CRC recomputed first, so mutations reach the parser behind it).
#![no_main]
use alcm::collective::ResidualStore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let mut fixed = raw.to_vec();
    if fixed.len() >= 15 {
        let n = fixed.len();
        let crc = crc32fast::hash(&fixed[..n - 4]);
        fixed[n - 4..].copy_from_slice(&crc.to_le_bytes());
    }
    if let Ok(s) = ResidualStore::from_bytes(&fixed) {
        assert_eq!(s.to_bytes(), fixed);
    }
});
