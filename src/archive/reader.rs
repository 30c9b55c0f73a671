//! The archive reader: opens an archive by its footer and index (nothing else is read), then
//! reads any tensor, or a range of a tensor's rows, by reading only the blocks that hold it.
//! Every block's CRC is checked before it is decoded, and every allocation is bounded by bytes
//! actually present or by [`ReadOptions::max_values`].

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use super::dtype::Dtype;
use super::index::{check_header, parse_footer, parse_index, EntryInfo, FOOTER_LEN, HEADER_LEN};
use crate::codec::decoder::DecodeOptions;
use crate::error::{Error, ErrorKind, Result};
use crate::format::compact::{frame_from_body, CompactLayout};
use crate::format::{self, DTYPE_F32};

/// Limits and threads of a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadOptions {
    /// Largest number of values one read may return (default 2^32); a tensor declaring more is
    /// refused with [`ErrorKind::TooLarge`] before anything is allocated.
    pub max_values: u64,
    /// Threads a block's decoding may use (1..=64).
    pub threads: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_values: format::DEFAULT_MAX_VALUES,
            threads: 1,
        }
    }
}

crate::util::with_setters!(ReadOptions {
    max_values: u64 => with_max_values,
    threads: usize => with_threads,
});

/// Random access to the tensors of an archive in any `Read + Seek` source.
pub struct ArchiveReader<R> {
    src: R,
    entries: Vec<EntryInfo>,
    by_name: HashMap<String, usize>,
    metadata: Vec<u8>,
    /// Frame version of the coded blocks (archive version ≥ 2; `None`: each block says).
    frame_version: Option<u8>,
    options: ReadOptions,
}

impl ArchiveReader<std::fs::File> {
    /// Opens the archive file at `path`.
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        ArchiveReader::new(f, ReadOptions::default())
    }
}

impl<R: Read + Seek> ArchiveReader<R> {
    /// Reads and checks the header, footer and index of the archive in `src`.
    pub fn new(mut src: R, options: ReadOptions) -> Result<Self> {
        if !(1..=crate::MAX_THREADS).contains(&options.threads) {
            return Err(Error::invalid_argument(format!(
                "threads must be in 1..={}",
                crate::MAX_THREADS
            )));
        }
        let file_len = src.seek(SeekFrom::End(0)).map_err(read_err)?;
        if file_len < HEADER_LEN + FOOTER_LEN {
            return Err(Error::truncated(format!(
                "{file_len} bytes is too short for an alcm archive"
            )));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        read_at(&mut src, 0, &mut header)?;
        check_header(&header)?;
        let mut footer = [0u8; FOOTER_LEN as usize];
        read_at(&mut src, file_len - FOOTER_LEN, &mut footer)?;
        let (index_len, crc) = parse_footer(&footer, file_len)?;
        let index_start = file_len - FOOTER_LEN - index_len;
        let index = read_vec(&mut src, index_start, index_len)?;
        let actual = crc32fast::hash(&index);
        if actual != crc {
            return Err(Error::new(
                ErrorKind::Checksum,
                format!("archive index checksum mismatch: footer says {crc:#010x}, bytes give {actual:#010x}"),
            ));
        }
        let index = parse_index(&index, header[4], index_start)?;
        let (entries, metadata, frame_version) =
            (index.entries, index.metadata, index.frame_version);
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Ok(ArchiveReader {
            src,
            entries,
            by_name,
            metadata,
            frame_version,
            options,
        })
    }

    /// Every tensor, in the order they were written.
    pub fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }

    /// The tensor called `name`.
    pub fn entry(&self, name: &str) -> Option<&EntryInfo> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// The archive's opaque metadata (empty when none was set).
    pub fn metadata(&self) -> &[u8] {
        &self.metadata
    }

    /// The float32 tensor `name` (its shape is in [`ArchiveReader::entry`]).
    pub fn read_f32(&mut self, name: &str) -> Result<Vec<f32>> {
        let e = self.f32_entry(name)?;
        let rows = e.shape.first().map_or(1, |&d| d);
        self.read_f32_range(&e, 0..rows)
    }

    /// Rows `rows` (first-axis slices) of the float32 tensor `name`, C order; reads only the
    /// blocks holding them.
    pub fn read_f32_rows(&mut self, name: &str, rows: Range<usize>) -> Result<Vec<f32>> {
        let e = self.f32_entry(name)?;
        check_rows(&e, &rows)?;
        self.read_f32_range(&e, rows)
    }

    /// Rows `rows` (first-axis slices) of tensor `name`, any element type, as little-endian
    /// element bytes in C order (a lossy tensor gives its decoded values); reads only the
    /// blocks holding them.
    pub fn read_rows_bytes(&mut self, name: &str, rows: Range<usize>) -> Result<Vec<u8>> {
        let e = self.entry(name).cloned().ok_or_else(|| not_found(name))?;
        check_rows(&e, &rows)?;
        self.read_bytes_range(&e, rows)
    }

    /// The raw little-endian element bytes of tensor `name`, any element type (a lossy
    /// tensor gives its decoded values).
    pub fn read_bytes(&mut self, name: &str) -> Result<Vec<u8>> {
        let e = self.entry(name).cloned().ok_or_else(|| not_found(name))?;
        if e.dtype.is_coded() {
            let rows = e.shape.first().map_or(1, |&d| d);
            return self.read_bytes_range(&e, 0..rows);
        }
        self.check_size(&e, e.n_values())?;
        let mut out = Vec::new();
        for i in 0..e.blocks.len() {
            out.extend_from_slice(&self.stored_block(&e, i)?);
        }
        Ok(out)
    }

    /// Reads every tensor: the header, every CRC, every block decoded. Returns the number of
    /// tensors.
    pub fn verify(&mut self) -> Result<usize> {
        for i in 0..self.entries.len() {
            let name = self.entries[i].name.clone();
            self.read_bytes(&name)
                .map_err(|e| Error::new(e.kind(), format!("{name}: {}", e.message())))?;
        }
        Ok(self.entries.len())
    }

    /// The source back.
    pub fn into_inner(self) -> R {
        self.src
    }

    fn f32_entry(&self, name: &str) -> Result<EntryInfo> {
        let e = self.entry(name).ok_or_else(|| not_found(name))?;
        if e.dtype != Dtype::F32 {
            return Err(Error::invalid_argument(format!(
                "{name} is {:?}, not float32: read it with read_bytes",
                e.dtype
            )));
        }
        Ok(e.clone())
    }

    fn check_size(&self, e: &EntryInfo, n: u64) -> Result<()> {
        if n > self.options.max_values {
            return Err(Error::too_large(format!(
                "{}: {n} values exceed the limit of {}",
                e.name, self.options.max_values
            )));
        }
        Ok(())
    }

    fn read_f32_range(&mut self, e: &EntryInfo, rows: Range<usize>) -> Result<Vec<f32>> {
        let row = e.row_len();
        let n = (rows.end - rows.start) as u64 * row;
        self.check_size(e, n)?;
        let mut out: Vec<f32> = Vec::new();
        for i in 0..e.blocks.len() {
            let (a, b) = e.block_rows(i);
            let (lo, hi) = (a.max(rows.start as u64), b.min(rows.end as u64));
            if lo >= hi {
                continue;
            }
            let values = self.block_f32(e, i)?;
            let s = ((lo - a) * row) as usize;
            let t = ((hi - a) * row) as usize;
            out.try_reserve(t - s)
                .map_err(|_| Error::too_large("cannot allocate the tensor"))?;
            out.extend_from_slice(&values[s..t]);
        }
        if out.len() as u64 != n {
            return Err(Error::corrupt(format!(
                "{}: blocks gave {} values, expected {n}",
                e.name,
                out.len()
            )));
        }
        Ok(out)
    }

    fn block_f32(&mut self, e: &EntryInfo, i: usize) -> Result<Vec<f32>> {
        let stored = self.stored_block(e, i)?;
        let shape = e.block_shape(i);
        if e.blocks[i].raw {
            return Ok(stored
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect());
        }
        let frame = frame_from_body(&stored, self.layout(e), DTYPE_F32, &shape, e.bound.target())?;
        let n: u64 = shape.iter().map(|&d| d as u64).product();
        let decoded = DecodeOptions::default()
            .with_threads(self.options.threads)
            .with_max_values(n)
            .decompress(&frame)
            .map_err(|err| {
                Error::new(
                    err.kind(),
                    format!("{} block {i}: {}", e.name, err.message()),
                )
            })?;
        if decoded.shape != shape {
            return Err(Error::corrupt(format!(
                "{} block {i}: frame shape {:?}, index says {shape:?}",
                e.name, decoded.shape
            )));
        }
        Ok(decoded.data)
    }

    /// Rows `rows` of a tensor of any type, as element bytes.
    fn read_bytes_range(&mut self, e: &EntryInfo, rows: Range<usize>) -> Result<Vec<u8>> {
        if e.dtype == Dtype::F32 {
            return Ok(self
                .read_f32_range(e, rows)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect());
        }
        let row = e.row_len() * e.dtype.size() as u64;
        let n_values = (rows.end - rows.start) as u64 * e.row_len();
        self.check_size(e, n_values)?;
        let n = n_values * e.dtype.size() as u64;
        let mut out: Vec<u8> = Vec::new();
        for i in 0..e.blocks.len() {
            let (a, b) = e.block_rows(i);
            let (lo, hi) = (a.max(rows.start as u64), b.min(rows.end as u64));
            if lo >= hi {
                continue;
            }
            let bytes = self.block_bytes(e, i)?;
            let (s, t) = (((lo - a) * row) as usize, ((hi - a) * row) as usize);
            if bytes.len() < t {
                return Err(Error::corrupt(format!(
                    "{} block {i}: {} bytes, its rows need {t}",
                    e.name,
                    bytes.len()
                )));
            }
            out.try_reserve(t - s)
                .map_err(|_| Error::too_large("cannot allocate the tensor"))?;
            out.extend_from_slice(&bytes[s..t]);
        }
        if out.len() as u64 != n {
            return Err(Error::corrupt(format!(
                "{}: blocks gave {} bytes, expected {n}",
                e.name,
                out.len()
            )));
        }
        Ok(out)
    }

    /// Block `i` of a tensor that is not float32, as element bytes: raw blocks as stored, coded
    /// blocks (float types) through the typed decoder.
    fn block_bytes(&mut self, e: &EntryInfo, i: usize) -> Result<Vec<u8>> {
        let stored = self.stored_block(e, i)?;
        let element = match e.dtype.element_type() {
            Some(t) if !e.blocks[i].raw => t,
            _ => return Ok(stored),
        };
        let shape = e.block_shape(i);
        let frame = frame_from_body(
            &stored,
            self.layout(e),
            e.dtype.id(),
            &shape,
            e.bound.target(),
        )?;
        let n: u64 = shape.iter().map(|&d| d as u64).product();
        let decoded = DecodeOptions::default()
            .with_threads(self.options.threads)
            .with_max_values(n)
            .decompress_bytes(&frame)
            .map_err(|err| {
                Error::new(
                    err.kind(),
                    format!("{} block {i}: {}", e.name, err.message()),
                )
            })?;
        if decoded.shape != shape || decoded.dtype != element {
            return Err(Error::corrupt(format!(
                "{} block {i}: frame of {} {:?}, index says {:?} {shape:?}",
                e.name, decoded.dtype, decoded.shape, e.dtype
            )));
        }
        Ok(decoded.bytes)
    }

    /// How `e`'s coded blocks are laid out.
    fn layout(&self, e: &EntryInfo) -> CompactLayout {
        match self.frame_version {
            None => CompactLayout::V1,
            Some(frame_version) => CompactLayout::V2 {
                frame_version,
                mode: e.bound.mode_id(),
            },
        }
    }

    /// The stored bytes of block `i`, CRC checked.
    fn stored_block(&mut self, e: &EntryInfo, i: usize) -> Result<Vec<u8>> {
        let b = e.blocks[i];
        let bytes = read_vec(&mut self.src, b.offset, b.len)?;
        let actual = crc32fast::hash(&bytes);
        if actual != b.crc {
            return Err(Error::new(
                ErrorKind::Checksum,
                format!(
                    "{} block {i}: checksum mismatch (index {:#010x}, bytes {actual:#010x})",
                    e.name, b.crc
                ),
            ));
        }
        Ok(bytes)
    }
}

/// Checks that `rows` is a range of `e`'s first axis.
fn check_rows(e: &EntryInfo, rows: &Range<usize>) -> Result<()> {
    let n_rows = e.shape.first().copied().ok_or_else(|| {
        Error::invalid_argument(format!("{} is a scalar: it has no rows", e.name))
    })?;
    if rows.start > rows.end || rows.end > n_rows {
        return Err(Error::invalid_argument(format!(
            "rows {rows:?} are outside {}'s 0..{n_rows}",
            e.name
        )));
    }
    Ok(())
}

fn not_found(name: &str) -> Error {
    Error::invalid_argument(format!("no tensor named {name:?} in the archive"))
}

fn read_err(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::truncated(format!("the archive ends early: {e}"))
    } else {
        Error::new(ErrorKind::Io, format!("reading the archive: {e}"))
    }
}

fn read_at<R: Read + Seek>(src: &mut R, offset: u64, buf: &mut [u8]) -> Result<()> {
    src.seek(SeekFrom::Start(offset)).map_err(read_err)?;
    src.read_exact(buf).map_err(read_err)
}

/// `len` bytes at `offset`; `len` was checked against the source's length by the caller.
fn read_vec<R: Read + Seek>(src: &mut R, offset: u64, len: u64) -> Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| Error::too_large("block length exceeds usize"))?;
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| Error::too_large(format!("cannot allocate {len} bytes")))?;
    v.resize(len, 0);
    read_at(src, offset, &mut v)?;
    Ok(v)
}
