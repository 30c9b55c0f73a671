//! A minimal ZIP reader/writer for NumPy `.npz` archives, safe on hostile input.
//!
//! Reading walks the central directory (found through the end-of-central-directory record,
//! and the ZIP64 end record when the classic one is saturated), takes sizes and offsets from
//! it (ZIP64 extra fields are honoured: `numpy.savez` writes entries with `force_zip64=True`),
//! and supports the two methods numpy uses: 0 (stored, `numpy.savez`) and 8 (deflate,
//! `numpy.savez_compressed`). Every entry's CRC-32 is verified. Entries whose name does not end
//! in `.npy` (and directories) are skipped; the returned names have the `.npy` suffix removed.
//!
//! Hostile input: all offsets and sizes are bounds-checked against the input, the declared
//! uncompressed size of a deflated entry is bounded by [`MAX_ENTRY_SIZE`] and by the maximal
//! deflate expansion of its compressed size, and inflation stops at the declared size. Nothing
//! is allocated from a declared count before it is checked against the bytes present.
//!
//! Writing produces a stored (method 0) archive with CRC-32s and a fixed timestamp
//! (1980-01-01 00:00), so the output is deterministic; ZIP64 records are written only when an
//! entry or offset needs them. `numpy.load` reads it.
//!
//! Errors: `Truncated` / `Corrupt` / `Checksum` / `TooLarge` (`Io` for files).

use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::io::npy::{parse_npy, NpyArray};

/// Largest uncompressed entry accepted by the reader (4 GiB).
pub const MAX_ENTRY_SIZE: u64 = 1 << 32;

/// Deflate cannot expand by more than ~1032:1; anything claiming more is a lie.
const MAX_DEFLATE_RATIO: u64 = 1032;

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_ZIP64_EOCD: u32 = 0x0606_4b50;
const SIG_ZIP64_LOCATOR: u32 = 0x0706_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

fn rd_u16(b: &[u8], at: usize) -> Result<u16> {
    at.checked_add(2)
        .and_then(|end| b.get(at..end))
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| {
            Error::truncated(format!("npz: 2-byte field at offset {at} is past the end"))
        })
}

fn rd_u32(b: &[u8], at: usize) -> Result<u32> {
    at.checked_add(4)
        .and_then(|end| b.get(at..end))
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| {
            Error::truncated(format!("npz: 4-byte field at offset {at} is past the end"))
        })
}

fn rd_u64(b: &[u8], at: usize) -> Result<u64> {
    at.checked_add(8)
        .and_then(|end| b.get(at..end))
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_le_bytes(a)
        })
        .ok_or_else(|| {
            Error::truncated(format!("npz: 8-byte field at offset {at} is past the end"))
        })
}

fn to_usize(v: u64, what: &str) -> Result<usize> {
    usize::try_from(v)
        .map_err(|_| Error::too_large(format!("npz: {what} {v} does not fit in memory")))
}

/// Locates the end-of-central-directory record; returns (cd_offset, cd_size, entry_count).
fn find_central_directory(b: &[u8]) -> Result<(u64, u64, u64)> {
    if b.len() < EOCD_LEN {
        return Err(Error::truncated(format!(
            "npz: {} bytes, too short for a ZIP archive",
            b.len()
        )));
    }
    // The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
    let lowest = b.len().saturating_sub(EOCD_LEN + 0xFFFF);
    let mut pos = b.len() - EOCD_LEN;
    let eocd = loop {
        if rd_u32(b, pos)? == SIG_EOCD {
            let comment_len = rd_u16(b, pos + 20)? as usize;
            if pos + EOCD_LEN + comment_len == b.len() {
                break pos;
            }
        }
        if pos == lowest {
            return Err(Error::corrupt(
                "npz: no end-of-central-directory record (not a ZIP file?)",
            ));
        }
        pos -= 1;
    };
    let disk = rd_u16(b, eocd + 4)?;
    let cd_disk = rd_u16(b, eocd + 6)?;
    let mut count = rd_u16(b, eocd + 10)? as u64;
    let mut cd_size = rd_u32(b, eocd + 12)? as u64;
    let mut cd_offset = rd_u32(b, eocd + 16)? as u64;
    let saturated = count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF;
    if saturated && eocd >= 20 && rd_u32(b, eocd - 20)? == SIG_ZIP64_LOCATOR {
        let z = to_usize(rd_u64(b, eocd - 20 + 8)?, "ZIP64 end record offset")?;
        if z >= eocd {
            return Err(Error::corrupt(
                "npz: ZIP64 end record offset is past the end record",
            ));
        }
        if rd_u32(b, z)? != SIG_ZIP64_EOCD {
            return Err(Error::corrupt(
                "npz: ZIP64 locator does not point at a ZIP64 end record",
            ));
        }
        count = rd_u64(b, z + 32)?;
        cd_size = rd_u64(b, z + 40)?;
        cd_offset = rd_u64(b, z + 48)?;
    } else if disk != 0 || cd_disk != 0 {
        return Err(Error::corrupt(
            "npz: multi-disk ZIP archives are not supported",
        ));
    }
    Ok((cd_offset, cd_size, count))
}

struct Entry {
    name: String,
    method: u16,
    crc: u32,
    comp_size: u64,
    size: u64,
    local_offset: u64,
}

/// Applies a ZIP64 extended-information extra field (id 0x0001) to saturated fields.
fn apply_zip64_extra(extra: &[u8], e: &mut Entry, sat: [bool; 3]) -> Result<()> {
    let mut p = 0usize;
    while p + 4 <= extra.len() {
        let id = rd_u16(extra, p)?;
        let len = rd_u16(extra, p + 2)? as usize;
        let body = extra
            .get(p + 4..p + 4 + len)
            .ok_or_else(|| Error::corrupt("npz: extra field runs past its area"))?;
        if id == 0x0001 {
            let mut q = 0usize;
            let mut next = |what: &str| -> Result<u64> {
                let v = rd_u64(body, q).map_err(|_| {
                    Error::corrupt(format!("npz: ZIP64 extra field lacks the {what}"))
                })?;
                q += 8;
                Ok(v)
            };
            if sat[0] {
                e.size = next("uncompressed size")?;
            }
            if sat[1] {
                e.comp_size = next("compressed size")?;
            }
            if sat[2] {
                e.local_offset = next("local header offset")?;
            }
            return Ok(());
        }
        p += 4 + len;
    }
    if sat.iter().any(|&s| s) {
        return Err(Error::corrupt(
            "npz: saturated size or offset without a ZIP64 extra field",
        ));
    }
    Ok(())
}

fn read_entries(b: &[u8]) -> Result<Vec<Entry>> {
    let (cd_offset, cd_size, count) = find_central_directory(b)?;
    let start = to_usize(cd_offset, "central directory offset")?;
    let size = to_usize(cd_size, "central directory size")?;
    let end = start
        .checked_add(size)
        .filter(|&e| e <= b.len())
        .ok_or_else(|| {
            Error::truncated("npz: central directory runs past the end of the archive")
        })?;
    let cd = &b[start..end];
    if count > (cd.len() / CENTRAL_LEN) as u64 {
        return Err(Error::corrupt(format!(
            "npz: {count} entries cannot fit in a {}-byte central directory",
            cd.len()
        )));
    }
    let mut entries = Vec::with_capacity(count as usize);
    let mut p = 0usize;
    for i in 0..count {
        if rd_u32(cd, p)? != SIG_CENTRAL {
            return Err(Error::corrupt(format!(
                "npz: central directory entry {i} has a bad signature"
            )));
        }
        let flags = rd_u16(cd, p + 8)?;
        let method = rd_u16(cd, p + 10)?;
        let crc = rd_u32(cd, p + 16)?;
        let comp32 = rd_u32(cd, p + 20)?;
        let size32 = rd_u32(cd, p + 24)?;
        let name_len = rd_u16(cd, p + 28)? as usize;
        let extra_len = rd_u16(cd, p + 30)? as usize;
        let comment_len = rd_u16(cd, p + 32)? as usize;
        let off32 = rd_u32(cd, p + 42)?;
        let name_start = p + CENTRAL_LEN;
        let extra_start = name_start + name_len;
        let next = extra_start + extra_len + comment_len;
        if next > cd.len() {
            return Err(Error::truncated(format!(
                "npz: central directory entry {i} is cut off"
            )));
        }
        if flags & 1 != 0 {
            return Err(Error::corrupt(format!("npz: entry {i} is encrypted")));
        }
        let name = String::from_utf8_lossy(&cd[name_start..extra_start]).into_owned();
        let mut e = Entry {
            name,
            method,
            crc,
            comp_size: comp32 as u64,
            size: size32 as u64,
            local_offset: off32 as u64,
        };
        let sat = [
            size32 == 0xFFFF_FFFF,
            comp32 == 0xFFFF_FFFF,
            off32 == 0xFFFF_FFFF,
        ];
        apply_zip64_extra(&cd[extra_start..extra_start + extra_len], &mut e, sat)?;
        entries.push(e);
        p = next;
    }
    Ok(entries)
}

/// The uncompressed bytes of one entry, CRC-checked.
fn entry_data(b: &[u8], e: &Entry) -> Result<Vec<u8>> {
    let name = &e.name;
    let lo = to_usize(e.local_offset, "local header offset")?;
    if lo >= b.len() {
        return Err(Error::truncated(format!(
            "npz: '{name}': local header offset {lo} is past the end"
        )));
    }
    if rd_u32(b, lo)? != SIG_LOCAL {
        return Err(Error::corrupt(format!(
            "npz: '{name}': bad local header signature"
        )));
    }
    let name_len = rd_u16(b, lo + 26)? as usize;
    let extra_len = rd_u16(b, lo + 28)? as usize;
    let data_start = lo + LOCAL_LEN + name_len + extra_len;
    let comp = to_usize(e.comp_size, "compressed size")?;
    let raw = data_start
        .checked_add(comp)
        .and_then(|end| b.get(data_start..end))
        .ok_or_else(|| {
            Error::truncated(format!(
                "npz: '{name}': data runs past the end of the archive"
            ))
        })?;
    if e.size > MAX_ENTRY_SIZE {
        return Err(Error::too_large(format!(
            "npz: '{name}': declared size {} exceeds the limit of {MAX_ENTRY_SIZE} bytes",
            e.size
        )));
    }
    let data = match e.method {
        0 => {
            if e.size != e.comp_size {
                return Err(Error::corrupt(format!(
                    "npz: '{name}': stored entry with different sizes ({} vs {})",
                    e.size, e.comp_size
                )));
            }
            raw.to_vec()
        }
        8 => {
            if e.size
                > e.comp_size
                    .saturating_mul(MAX_DEFLATE_RATIO)
                    .saturating_add(64)
            {
                return Err(Error::corrupt(format!(
                    "npz: '{name}': declared size {} is impossible for {} deflated bytes",
                    e.size, e.comp_size
                )));
            }
            let limit = to_usize(e.size, "uncompressed size")?;
            let out = miniz_oxide::inflate::decompress_to_vec_with_limit(raw, limit).map_err(|err| {
                Error::corrupt(format!("npz: '{name}': deflate stream is invalid or exceeds its declared size: {err}"))
            })?;
            if out.len() != limit {
                return Err(Error::corrupt(format!(
                    "npz: '{name}': inflated to {} bytes, declared {limit}",
                    out.len()
                )));
            }
            out
        }
        m => {
            return Err(Error::corrupt(format!(
                "npz: '{name}': compression method {m} is not supported (only 0 and 8)"
            )))
        }
    };
    let crc = crc32fast::hash(&data);
    if crc != e.crc {
        return Err(Error::new(
            ErrorKind::Checksum,
            format!(
                "npz: '{name}': CRC-32 {crc:08x} does not match the recorded {:08x}",
                e.crc
            ),
        ));
    }
    Ok(data)
}

/// Reads every `.npy` member of an `.npz` archive held in memory, in central-directory order.
/// Names are returned without the `.npy` suffix; other members are skipped.
pub fn read_npz(bytes: &[u8]) -> Result<Vec<(String, NpyArray)>> {
    let entries = read_entries(bytes)?;
    let mut out: Vec<(String, NpyArray)> = Vec::with_capacity(entries.len());
    for e in &entries {
        let Some(key) = e.name.strip_suffix(".npy") else {
            continue;
        };
        if out.iter().any(|(k, _)| k == key) {
            return Err(Error::corrupt(format!(
                "npz: duplicate member '{}'",
                e.name
            )));
        }
        let data = entry_data(bytes, e)?;
        let arr = parse_npy(&data).map_err(|err| {
            Error::new(
                err.kind(),
                format!("npz member '{}': {}", e.name, err.message()),
            )
        })?;
        out.push((key.to_string(), arr));
    }
    Ok(out)
}

/// Reads an `.npz` file (see [`read_npz`]).
pub fn read_npz_file(path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_npz(&bytes)
        .map_err(|e| Error::new(e.kind(), format!("{}: {}", path.display(), e.message())))
}

/// DOS date 1980-01-01, time 00:00:00: a fixed timestamp keeps the output deterministic.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

/// A stored (uncompressed) ZIP archive whose members are `"{name}.npy"` holding the given
/// `.npy` bytes, as `numpy.savez` writes it (CRC-32 included, deterministic timestamp).
/// Names should be unique; a name already ending in `.npy` is not suffixed again.
pub fn npz_bytes(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    const SAT: u64 = 0xFFFF_FFFF;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let file_name = if name.ends_with(".npy") {
            name.to_string()
        } else {
            format!("{name}.npy")
        };
        let fname = file_name.as_bytes();
        let fname = &fname[..fname.len().min(0xFFFF)];
        let crc = crc32fast::hash(data);
        let size = data.len() as u64;
        let offset = out.len() as u64;
        let big_size = size >= SAT;
        let big_off = offset >= SAT;
        let version: u16 = if big_size || big_off { 45 } else { 20 };
        // Local header.
        let mut local_extra = Vec::new();
        if big_size {
            local_extra.extend_from_slice(&1u16.to_le_bytes());
            local_extra.extend_from_slice(&16u16.to_le_bytes());
            local_extra.extend_from_slice(&size.to_le_bytes());
            local_extra.extend_from_slice(&size.to_le_bytes());
        }
        let size32 = if big_size { SAT as u32 } else { size as u32 };
        out.extend_from_slice(&SIG_LOCAL.to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // method: stored
        out.extend_from_slice(&DOS_TIME.to_le_bytes());
        out.extend_from_slice(&DOS_DATE.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size32.to_le_bytes());
        out.extend_from_slice(&size32.to_le_bytes());
        out.extend_from_slice(&(fname.len() as u16).to_le_bytes());
        out.extend_from_slice(&(local_extra.len() as u16).to_le_bytes());
        out.extend_from_slice(fname);
        out.extend_from_slice(&local_extra);
        out.extend_from_slice(data);
        // Central directory entry.
        let mut extra = Vec::new();
        if big_size || big_off {
            let mut body = Vec::new();
            if big_size {
                body.extend_from_slice(&size.to_le_bytes());
                body.extend_from_slice(&size.to_le_bytes());
            }
            if big_off {
                body.extend_from_slice(&offset.to_le_bytes());
            }
            extra.extend_from_slice(&1u16.to_le_bytes());
            extra.extend_from_slice(&(body.len() as u16).to_le_bytes());
            extra.extend_from_slice(&body);
        }
        let off32 = if big_off { SAT as u32 } else { offset as u32 };
        central.extend_from_slice(&SIG_CENTRAL.to_le_bytes());
        central.extend_from_slice(&version.to_le_bytes()); // made by
        central.extend_from_slice(&version.to_le_bytes()); // needed
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&DOS_TIME.to_le_bytes());
        central.extend_from_slice(&DOS_DATE.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size32.to_le_bytes());
        central.extend_from_slice(&size32.to_le_bytes());
        central.extend_from_slice(&(fname.len() as u16).to_le_bytes());
        central.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&(0o100644u32 << 16).to_le_bytes()); // external attrs
        central.extend_from_slice(&off32.to_le_bytes());
        central.extend_from_slice(fname);
        central.extend_from_slice(&extra);
    }
    let cd_offset = out.len() as u64;
    let cd_size = central.len() as u64;
    let count = entries.len() as u64;
    out.extend_from_slice(&central);
    let need64 = cd_offset >= SAT || cd_size >= SAT || count >= 0xFFFF;
    if need64 {
        let z = out.len() as u64;
        out.extend_from_slice(&SIG_ZIP64_EOCD.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&SIG_ZIP64_LOCATOR.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&z.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    let count16 = count.min(0xFFFF) as u16;
    out.extend_from_slice(&SIG_EOCD.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&count16.to_le_bytes());
    out.extend_from_slice(&count16.to_le_bytes());
    out.extend_from_slice(&(cd_size.min(SAT) as u32).to_le_bytes());
    out.extend_from_slice(&(cd_offset.min(SAT) as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Writes [`npz_bytes`] to `path` atomically (temporary file + rename).
pub fn write_npz_file(path: &Path, entries: &[(&str, Vec<u8>)]) -> Result<()> {
    crate::util::fsutil::write_atomic(path, &npz_bytes(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::npy::{npy_bytes_f32, npy_bytes_i64, NpyData};

    fn sample() -> Vec<u8> {
        npz_bytes(&[
            ("x", npy_bytes_f32(&[2], &[1.0, 2.0])),
            ("n", npy_bytes_i64(&[], &[7])),
        ])
    }

    #[test]
    fn round_trip() {
        let r = read_npz(&sample()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0, "x");
        assert_eq!(r[0].1.data, NpyData::F32(vec![1.0, 2.0]));
        assert_eq!(r[1].0, "n");
        assert_eq!(r[1].1.scalar_f64().unwrap(), 7.0);
        assert!(read_npz(&npz_bytes(&[])).unwrap().is_empty());
        assert_eq!(sample(), sample(), "deterministic");
    }

    #[test]
    fn crc_mismatch_is_a_checksum_error() {
        let mut b = sample();
        // Flip a data byte of the first member (inside the npy header padding).
        b[30 + 5 + 40] ^= 0x01;
        assert_eq!(read_npz(&b).unwrap_err().kind(), ErrorKind::Checksum);
    }

    #[test]
    fn truncations_and_flips_never_panic() {
        let b = sample();
        for n in 0..b.len() {
            assert!(read_npz(&b[..n]).is_err(), "prefix {n}");
        }
        for i in 0..b.len() {
            for x in [0x00u8, 0xff, 0x7f, 0x80] {
                let mut c = b.clone();
                c[i] = x;
                let _ = read_npz(&c);
            }
        }
    }

    #[test]
    fn duplicate_members_are_rejected() {
        let b = npz_bytes(&[
            ("x", npy_bytes_i64(&[], &[1])),
            ("x", npy_bytes_i64(&[], &[2])),
        ]);
        assert_eq!(read_npz(&b).unwrap_err().kind(), ErrorKind::Corrupt);
    }

    /// One stored entry whose central-directory sizes and offset live only in a ZIP64 extra
    /// field, found through a ZIP64 end record (what zipfile writes for > 4 GiB archives).
    fn zip64_archive(data: &[u8]) -> Vec<u8> {
        let name = b"big.npy";
        let crc = crc32fast::hash(data);
        let mut out = Vec::new();
        out.extend_from_slice(&SIG_LOCAL.to_le_bytes());
        out.extend_from_slice(&[45, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&[0xff; 8]);
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&[1, 0, 16, 0]);
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(data);
        let cd_offset = out.len() as u64;
        out.extend_from_slice(&SIG_CENTRAL.to_le_bytes());
        out.extend_from_slice(&[45, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&[0xff; 8]);
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&28u16.to_le_bytes());
        out.extend_from_slice(&[0; 10]);
        out.extend_from_slice(&[0xff; 4]);
        out.extend_from_slice(name);
        out.extend_from_slice(&[1, 0, 24, 0]);
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(&(data.len() as u64).to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        let cd_size = out.len() as u64 - cd_offset;
        let z = out.len() as u64;
        out.extend_from_slice(&SIG_ZIP64_EOCD.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&SIG_ZIP64_LOCATOR.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&z.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&SIG_EOCD.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        out.extend_from_slice(&[0xff; 8]);
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn zip64_central_directory_and_end_record() {
        let data = npy_bytes_f32(&[3], &[1.0, 2.0, 3.0]);
        let b = zip64_archive(&data);
        let r = read_npz(&b).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, "big");
        assert_eq!(r[0].1.data, NpyData::F32(vec![1.0, 2.0, 3.0]));
        // Python's zipfile and numpy.load read this layout (checked while developing).
        // Hostile variants:
        for n in 0..b.len() {
            assert!(read_npz(&b[..n]).is_err(), "prefix {n}");
        }
        for i in 0..b.len() {
            for x in [0x00u8, 0xff, 0x7f] {
                let mut c = b.clone();
                c[i] = x;
                let _ = read_npz(&c);
            }
        }
    }
}
