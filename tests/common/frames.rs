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

/// Checks a lossless float32 `frame` of `values`: the current format version, backend 4, a
/// payload of lossless `method` (its first byte; the payload ends 4 bytes, the CRC, before the
/// frame's end), decoding to the very bits; and relabelled with each of `older` (versions that
/// had no such method), refused as corrupt.
pub fn check_lossless_method_gate(frame: &[u8], values: &[f32], method: u8, older: &[u8]) {
    use alcm::{decompress, peek, ErrorKind, FORMAT_VERSION};
    let info = peek(frame).unwrap();
    assert_eq!(
        (info.format_version, info.backend.id()),
        (FORMAT_VERSION, 4)
    );
    assert_eq!(frame[frame.len() - 4 - info.payload_len as usize], method);
    let d = decompress(frame).unwrap();
    assert!(d
        .data
        .iter()
        .zip(values)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    for &version in older {
        assert_eq!(
            decompress(&relabelled(frame, version)).unwrap_err().kind(),
            ErrorKind::Corrupt,
            "version {version}"
        );
    }
}

/// The payload of a decodable `frame` (it ends 4 bytes, the CRC, before the frame's end).
pub fn payload(frame: &[u8]) -> &[u8] {
    let info = alcm::peek(frame).unwrap();
    &frame[frame.len() - 4 - info.payload_len as usize..frame.len() - 4]
}

/// The relative L2 error of `d` against `x`.
pub fn rel_l2(d: &[f32], x: &[f32]) -> f64 {
    let (mut err, mut norm) = (0f64, 0f64);
    for (a, b) in d.iter().zip(x) {
        err += (*a as f64 - *b as f64).powi(2);
        norm += (*b as f64).powi(2);
    }
    (err / norm).sqrt()
}
