//! Any bytes → the archive reader: a typed error, or tensors whose sizes match their index
//! entries. An input whose first byte is odd gets its index CRC fixed first (the rest is the
//! archive), so mutations reach the index parser instead of stopping at the checksum.
#![no_main]
use std::io::Cursor;

use alcm::archive::{ArchiveReader, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    let mut data = rest.to_vec();
    if mode & 1 == 1 && data.len() >= 24 {
        let n = data.len();
        let index_len = u64::from_le_bytes(data[n - 16..n - 8].try_into().unwrap());
        if index_len <= (n - 24) as u64 {
            let start = n - 16 - index_len as usize;
            let crc = crc32fast::hash(&data[start..n - 16]);
            data[n - 8..n - 4].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let opts = ReadOptions::default().with_max_values(1 << 22);
    let Ok(mut r) = ArchiveReader::new(Cursor::new(&data[..]), opts) else { return };
    for e in r.entries().to_vec() {
        assert!(e.shape.len() <= 8);
        assert!(e.stored_bytes() <= data.len() as u64);
        if let Ok(bytes) = r.read_bytes(&e.name) {
            assert_eq!(bytes.len() as u64, e.raw_bytes());
        }
        if let Some(&rows) = e.shape.first() {
            let n = (rows - rows / 2) as u64 * e.row_len();
            if e.dtype == alcm::archive::Dtype::F32 {
                if let Ok(v) = r.read_f32_rows(&e.name, rows / 2..rows) {
                    assert_eq!(v.len() as u64, n);
                }
            }
            if let Ok(v) = r.read_rows_bytes(&e.name, rows / 2..rows) {
                assert_eq!(v.len() as u64, n * e.dtype.size() as u64);
            }
        }
    }
});
