//! The archive's index and its two fixed ends (docs/FORMAT.md, "Archive"): encoding, and a
//! parser that checks every field and bounds every allocation by the bytes present.

use std::collections::HashSet;

use super::dtype::Dtype;
use crate::abi;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{put_varint, Reader, FORMAT_VERSION, MAX_RANK, OLDEST_FORMAT_VERSION};

/// First and last bytes of an archive.
pub const ARCHIVE_MAGIC: [u8; 4] = *b"ALCA";
/// Version of the archive format this library writes (it reads every version from
/// [`OLDEST_ARCHIVE_VERSION`] to this one).
pub const ARCHIVE_VERSION: u8 = 2;
/// The oldest archive version this library reads.
pub const OLDEST_ARCHIVE_VERSION: u8 = 1;
/// Bytes before the first tensor: magic, version, 3 zero bytes.
pub const HEADER_LEN: u64 = 8;
/// Bytes after the index: index length (u64), index CRC-32 (u32), magic.
pub const FOOTER_LEN: u64 = 16;

/// The error guarantee a tensor was stored with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// Bit-exact.
    Lossless,
    /// ‖x − x̂‖₂ ≤ ε‖x‖₂ over the whole tensor.
    RelativeL2(f64),
    /// |x − x̂| ≤ e for every value.
    MaxAbs(f64),
}

impl Bound {
    pub(crate) fn mode_id(self) -> u8 {
        (match self {
            Bound::Lossless => abi::ALCM_MODE_LOSSLESS,
            Bound::RelativeL2(_) => abi::ALCM_MODE_RELATIVE_L2,
            Bound::MaxAbs(_) => abi::ALCM_MODE_MAX_ABS,
        }) as u8
    }
    /// The target (0 for lossless).
    pub fn target(self) -> f64 {
        match self {
            Bound::Lossless => 0.0,
            Bound::RelativeL2(e) | Bound::MaxAbs(e) => e,
        }
    }
}

/// Where one independently decodable block of a tensor lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Byte offset in the archive.
    pub offset: u64,
    /// Stored length in bytes.
    pub len: u64,
    /// Stored as the raw little-endian element bytes (else a compact codec frame).
    pub raw: bool,
    /// CRC-32 of the stored bytes.
    pub crc: u32,
}

/// One tensor of an archive, as its index records it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// Unique name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape, C order.
    pub shape: Vec<usize>,
    /// The guarantee it was stored with.
    pub bound: Bound,
    /// The error measured when it was written, in the bound's measure (relative L2 or max
    /// abs; 0 for lossless), stored as a 16-bit fraction of the bound rounded up (so it is at
    /// most bound/65535 above the truth, never below).
    pub achieved: f64,
    /// Rows (first-axis slices) per block; 0: the whole tensor is one block.
    pub rows_per_block: u64,
    /// The blocks, in row order.
    pub blocks: Vec<BlockInfo>,
}

impl EntryInfo {
    /// Number of elements.
    pub fn n_values(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
    /// Bytes of the raw little-endian elements.
    pub fn raw_bytes(&self) -> u64 {
        self.n_values() * self.dtype.size() as u64
    }
    /// Bytes stored for the tensor's blocks.
    pub fn stored_bytes(&self) -> u64 {
        self.blocks.iter().map(|b| b.len).sum()
    }
    /// Elements of one first-axis slice (1 for a scalar).
    pub fn row_len(&self) -> u64 {
        self.shape.iter().skip(1).map(|&d| d as u64).product()
    }
    /// The first-axis rows `[start, end)` block `i` holds (a scalar is one row).
    pub fn block_rows(&self, i: usize) -> (u64, u64) {
        let rows = self.shape.first().map_or(1, |&d| d as u64);
        if self.rows_per_block == 0 {
            return (0, rows);
        }
        let s = i as u64 * self.rows_per_block;
        (s, (s + self.rows_per_block).min(rows))
    }
    /// The shape of block `i`.
    pub fn block_shape(&self, i: usize) -> Vec<usize> {
        let mut s = self.shape.clone();
        if let Some(first) = s.first_mut() {
            let (a, b) = self.block_rows(i);
            *first = (b - a) as usize;
        }
        s
    }
}

/// Number of blocks a tensor of `rows` first-axis rows has with `rows_per_block`.
pub(crate) fn block_count(rows: u64, rows_per_block: u64) -> u64 {
    if rows_per_block == 0 || rows == 0 {
        1
    } else {
        rows.div_ceil(rows_per_block)
    }
}

/// Version-1 mode byte: bits 0–3 the mode; flag: the bound is the previous lossy entry's.
const V1_SAME_BOUND: u8 = 0x10;
/// Version-1 mode byte flag: one block (no rows-per-block field).
const V1_ONE_BLOCK: u8 = 0x20;
/// Version-2 head byte: bits 0–1 the mode, then these two flags, bits 4–7 the rank.
const V2_SAME_BOUND: u8 = 0x04;
const V2_ONE_BLOCK: u8 = 0x08;

/// The achieved error as a 16-bit fraction of the bound, rounded up (never below the truth).
fn achieved_code(achieved: f64, bound: f64) -> u16 {
    (achieved / bound * 65535.0).ceil().clamp(0.0, 65535.0) as u16
}

/// The index (version [`ARCHIVE_VERSION`]) of `entries`, whose coded blocks are compact bodies
/// of frame format version `frame_version`.
pub(crate) fn encode_index(entries: &[EntryInfo], metadata: &[u8], frame_version: u8) -> Vec<u8> {
    let mut out = vec![ARCHIVE_VERSION, frame_version];
    put_varint(&mut out, entries.len() as u64);
    let mut previous = None;
    for e in entries {
        put_varint(&mut out, e.name.len() as u64);
        out.extend_from_slice(e.name.as_bytes());
        out.push(e.dtype.id());
        let bound = e.bound.target() as f32;
        let same = e.bound != Bound::Lossless && previous == Some(bound);
        let one = e.rows_per_block == 0;
        out.push(
            e.bound.mode_id()
                | if same { V2_SAME_BOUND } else { 0 }
                | if one { V2_ONE_BLOCK } else { 0 }
                | (e.shape.len() as u8) << 4,
        );
        for &d in &e.shape {
            put_varint(&mut out, d as u64);
        }
        if e.bound != Bound::Lossless {
            if !same {
                out.extend_from_slice(&bound.to_le_bytes());
                previous = Some(bound);
            }
            out.extend_from_slice(&achieved_code(e.achieved, bound as f64).to_le_bytes());
        }
        if !one {
            put_varint(&mut out, e.rows_per_block);
        }
        for b in &e.blocks {
            put_varint(&mut out, (b.len << 1) | b.raw as u64);
            out.extend_from_slice(&b.crc.to_le_bytes());
        }
    }
    put_varint(&mut out, metadata.len() as u64);
    out.extend_from_slice(metadata);
    out
}

pub(crate) fn encode_footer(index: &[u8]) -> [u8; FOOTER_LEN as usize] {
    let mut f = [0u8; FOOTER_LEN as usize];
    f[..8].copy_from_slice(&(index.len() as u64).to_le_bytes());
    f[8..12].copy_from_slice(&crc32fast::hash(index).to_le_bytes());
    f[12..].copy_from_slice(&ARCHIVE_MAGIC);
    f
}

pub(crate) fn encode_header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..4].copy_from_slice(&ARCHIVE_MAGIC);
    h[4] = ARCHIVE_VERSION;
    h
}

pub(crate) fn check_header(h: &[u8]) -> Result<()> {
    if h.len() < HEADER_LEN as usize || h[..4] != ARCHIVE_MAGIC {
        return Err(Error::new(
            ErrorKind::BadMagic,
            "not an alcm archive (no \"ALCA\" magic at the start)",
        ));
    }
    if !(OLDEST_ARCHIVE_VERSION..=ARCHIVE_VERSION).contains(&h[4]) {
        return Err(Error::new(
            ErrorKind::FormatVersion,
            format!(
                "archive version {} is not supported (this library reads {OLDEST_ARCHIVE_VERSION} to {ARCHIVE_VERSION})",
                h[4]
            ),
        ));
    }
    if h[5..8] != [0, 0, 0] {
        return Err(Error::corrupt(
            "archive header: reserved bytes are not zero",
        ));
    }
    Ok(())
}

/// The index length a footer declares, checked against the file length.
pub(crate) fn parse_footer(f: &[u8; FOOTER_LEN as usize], file_len: u64) -> Result<(u64, u32)> {
    if f[12..] != ARCHIVE_MAGIC {
        return Err(Error::new(
            ErrorKind::BadMagic,
            "not an alcm archive (no \"ALCA\" magic at the end)",
        ));
    }
    let index_len = u64::from_le_bytes(f[..8].try_into().unwrap_or([0; 8]));
    let crc = u32::from_le_bytes(f[8..12].try_into().unwrap_or([0; 4]));
    if index_len > file_len.saturating_sub(HEADER_LEN + FOOTER_LEN) {
        return Err(Error::corrupt(format!(
            "the footer declares a {index_len}-byte index in a {file_len}-byte file"
        )));
    }
    Ok((index_len, crc))
}

/// An index as parsed: the entries, the metadata, and the layout of the coded blocks.
pub(crate) struct Index {
    pub entries: Vec<EntryInfo>,
    pub metadata: Vec<u8>,
    /// The frame format version of every coded block (version-2 archives); `None` in a
    /// version-1 archive, whose blocks carry their own.
    pub frame_version: Option<u8>,
}

/// Parses and checks an index whose CRC was verified, of the archive version `version` the
/// header declared; `data_end` is the offset where it starts (the tensors' blocks must fill
/// `HEADER_LEN..data_end` exactly).
pub(crate) fn parse_index(index: &[u8], version: u8, data_end: u64) -> Result<Index> {
    let mut r = Reader::new(index, "archive index");
    let index_version = r.u8()?;
    if index_version != version {
        return Err(Error::new(
            ErrorKind::FormatVersion,
            format!("archive index version {index_version} in a version-{version} archive"),
        ));
    }
    let frame_version = if version >= 2 {
        let v = r.u8()?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&v) {
            return Err(Error::new(
                ErrorKind::FormatVersion,
                format!("the archive's blocks are frames of version {v}, this library reads {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION}"),
            ));
        }
        Some(v)
    } else {
        None
    };
    let n = r.varint()?;
    // Each entry takes at least 8 bytes of index: the count cannot reserve more than that.
    if n > r.remaining() as u64 / 8 {
        return Err(Error::corrupt(format!(
            "the index declares {n} tensors in {} bytes",
            index.len()
        )));
    }
    let mut entries = Vec::with_capacity(n as usize);
    let mut names = HashSet::with_capacity(n as usize);
    let mut offset = HEADER_LEN;
    let mut previous: Option<f64> = None;
    for _ in 0..n {
        let name_len = r.varint()?;
        let name = r.take(
            usize::try_from(name_len).map_err(|_| Error::corrupt("name length overflows"))?,
        )?;
        let name = std::str::from_utf8(name)
            .map_err(|_| Error::corrupt("a tensor name is not valid UTF-8"))?
            .to_owned();
        if !names.insert(name.clone()) {
            return Err(Error::corrupt(format!(
                "tensor name {name:?} appears twice"
            )));
        }
        let dtype_id = r.u8()?;
        let dtype = Dtype::from_id(dtype_id)
            .ok_or_else(|| Error::corrupt(format!("{name}: unknown dtype id {dtype_id}")))?;
        let mode_byte = r.u8()?;
        // (mode, same bound, one block, rank) from the version's layout.
        let (mode, same, one, rank) = if version == 1 {
            if mode_byte & !(15 | V1_SAME_BOUND | V1_ONE_BLOCK) != 0 {
                return Err(Error::corrupt(format!(
                    "{name}: invalid mode byte {mode_byte:#04x}"
                )));
            }
            let rank = r.u8()? as usize;
            (
                (mode_byte & 15) as u32,
                mode_byte & V1_SAME_BOUND != 0,
                mode_byte & V1_ONE_BLOCK != 0,
                rank,
            )
        } else {
            (
                (mode_byte & 3) as u32,
                mode_byte & V2_SAME_BOUND != 0,
                mode_byte & V2_ONE_BLOCK != 0,
                (mode_byte >> 4) as usize,
            )
        };
        if same && previous.is_none() {
            return Err(Error::corrupt(format!(
                "{name}: the bound repeats a previous one, but none came before"
            )));
        }
        if rank > MAX_RANK {
            return Err(Error::corrupt(format!(
                "{name}: rank {rank} exceeds {MAX_RANK}"
            )));
        }
        let mut shape = Vec::with_capacity(rank);
        let mut n_values = 1u64;
        for _ in 0..rank {
            let d = r.varint()?;
            n_values = n_values
                .checked_mul(d)
                .filter(|v| v.checked_mul(dtype.size() as u64).is_some())
                .ok_or_else(|| Error::too_large(format!("{name}: shape overflows 64 bits")))?;
            shape.push(
                usize::try_from(d).map_err(|_| {
                    Error::too_large(format!("{name}: dimension {d} exceeds usize"))
                })?,
            );
        }
        // With a first dimension of 0 the product above is 0 whatever the rest: the row length
        // (every later dimension) must fit 64 bits on its own.
        shape
            .iter()
            .skip(1)
            .try_fold(dtype.size() as u64, |n, &d| n.checked_mul(d as u64))
            .ok_or_else(|| Error::too_large(format!("{name}: row length overflows 64 bits")))?;
        let bound = match mode {
            abi::ALCM_MODE_LOSSLESS => Bound::Lossless,
            abi::ALCM_MODE_RELATIVE_L2 | abi::ALCM_MODE_MAX_ABS => {
                let t = match previous {
                    Some(t) if same => t,
                    _ => r.f32()? as f64,
                };
                previous = Some(t);
                if !(t.is_finite() && t > 0.0 && dtype.is_coded()) {
                    return Err(Error::corrupt(format!(
                        "{name}: invalid bound {t} for {dtype:?}"
                    )));
                }
                if mode == abi::ALCM_MODE_RELATIVE_L2 {
                    Bound::RelativeL2(t)
                } else {
                    Bound::MaxAbs(t)
                }
            }
            _ => return Err(Error::corrupt(format!("{name}: unknown mode id {mode}"))),
        };
        let achieved = if bound == Bound::Lossless {
            0.0
        } else {
            u16::from_le_bytes([r.u8()?, r.u8()?]) as f64 / 65535.0 * bound.target()
        };
        let rows = shape.first().map_or(1, |&d| d as u64);
        if same && bound == Bound::Lossless {
            return Err(Error::corrupt(format!(
                "{name}: a lossless tensor cannot repeat a bound"
            )));
        }
        let rows_per_block = if one { 0 } else { r.varint()? };
        if (rank == 0 || rows_per_block == 0) && !one {
            return Err(Error::corrupt(format!(
                "{name}: rows per block without rows"
            )));
        }
        let n_blocks = block_count(rows, rows_per_block);
        if n_blocks > r.remaining() as u64 / 5 {
            return Err(Error::corrupt(format!(
                "{name}: {n_blocks} blocks do not fit in the index"
            )));
        }
        let mut entry = EntryInfo {
            name,
            dtype,
            shape,
            bound,
            achieved,
            rows_per_block,
            blocks: Vec::with_capacity(n_blocks as usize),
        };
        let row_bytes = entry.row_len() * dtype.size() as u64;
        for i in 0..n_blocks as usize {
            let v = r.varint()?;
            let (len, raw) = (v >> 1, v & 1 == 1);
            let crc = r.u32()?;
            let (a, b) = entry.block_rows(i);
            let raw_len = (b - a) * row_bytes;
            if raw && len != raw_len {
                return Err(Error::corrupt(format!(
                    "{}: raw block {i} is {len} bytes, its rows need {raw_len}",
                    entry.name
                )));
            }
            if !raw && (!dtype.is_coded() || len >= raw_len.max(1)) {
                return Err(Error::corrupt(format!(
                    "{}: coded block {i} of {len} bytes is invalid",
                    entry.name
                )));
            }
            let end = offset
                .checked_add(len)
                .filter(|&e| e <= data_end)
                .ok_or_else(|| {
                    Error::corrupt(format!(
                        "{}: block {i} extends past the tensor data",
                        entry.name
                    ))
                })?;
            entry.blocks.push(BlockInfo {
                offset,
                len,
                raw,
                crc,
            });
            offset = end;
        }
        entries.push(entry);
    }
    let meta_len = r.varint()?;
    let meta = r
        .take(usize::try_from(meta_len).map_err(|_| Error::corrupt("metadata length overflows"))?)?
        .to_vec();
    if r.remaining() != 0 {
        return Err(Error::corrupt(format!(
            "{} unexpected bytes at the end of the index",
            r.remaining()
        )));
    }
    if offset != data_end {
        return Err(Error::corrupt(format!(
            "the index accounts for tensor data up to byte {offset}, the data ends at {data_end}"
        )));
    }
    Ok(Index {
        entries,
        metadata: meta,
        frame_version,
    })
}
