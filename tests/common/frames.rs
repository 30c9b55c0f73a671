//! Frame surgery shared by the test files (via `#[path]`).
#![allow(dead_code)]

/// `frame` labelled with format `version` (header byte 4), its CRC-32 recomputed so that the
/// decoder reaches the version's checks instead of refusing the checksum.
pub fn relabelled(frame: &[u8], version: u8) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[4] = version;
    let n = f.len();
    let crc = crc32fast::hash(&f[..n - 4]);
    f[n - 4..].copy_from_slice(&crc.to_le_bytes());
    f
}
