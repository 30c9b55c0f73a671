//! The streaming archive writer: each tensor is compressed and written as it is added; only
//! the index stays in memory, so memory is bounded by the largest tensor (plus one block).

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use super::dtype::Dtype;
use super::index::{
    encode_footer, encode_header, encode_index, BlockInfo, Bound, EntryInfo, HEADER_LEN,
};
use crate::codec::config::{EncoderConfig, Mode, NonFinitePolicy};
use crate::codec::decoder::DecodeOptions;
use crate::codec::encoder::Encoder;
use crate::error::{Error, ErrorKind, Result};
use crate::format::compact::compact_body;
use crate::format::dtype::value_f64;
use crate::format::{FORMAT_VERSION, MAX_RANK};
use crate::util::fsutil::AtomicFile;

/// Default values per block: tensors up to this size are one block; larger ones are split
/// along their first axis into blocks of about this many values, each readable on its own.
pub const DEFAULT_BLOCK_VALUES: usize = 1 << 20;

/// How an archive is written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchiveOptions {
    /// Values per independently readable block (≥ 1; default [`DEFAULT_BLOCK_VALUES`]).
    pub block_values: usize,
    /// Threads one block's compression may use (1..=64); the bytes do not depend on it.
    pub threads: usize,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            block_values: DEFAULT_BLOCK_VALUES,
            threads: 1,
        }
    }
}

crate::util::with_setters!(ArchiveOptions {
    block_values: usize => with_block_values,
    threads: usize => with_threads,
});

/// Writes an archive to `W` tensor by tensor; [`ArchiveWriter::finish`] appends the index.
/// A writer dropped without `finish` leaves an incomplete archive that readers refuse.
pub struct ArchiveWriter<W: Write> {
    out: W,
    options: ArchiveOptions,
    offset: u64,
    entries: Vec<EntryInfo>,
    names: HashSet<String>,
    metadata: Vec<u8>,
}

impl ArchiveWriter<AtomicFile> {
    /// Starts an archive at `path`, written atomically: the tensors go to a temporary file
    /// beside it, and [`AtomicFile::commit`] of what [`ArchiveWriter::finish`] returns renames
    /// it over `path`, so readers see either the old file or the complete archive. A writer (or
    /// file) dropped before that removes the temporary file and leaves `path` untouched.
    pub fn create(path: &Path, options: ArchiveOptions) -> Result<Self> {
        ArchiveWriter::new(AtomicFile::create(path)?, options)
    }
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive (writes its 8-byte header).
    pub fn new(mut out: W, options: ArchiveOptions) -> Result<Self> {
        if options.block_values == 0 || !(1..=crate::MAX_THREADS).contains(&options.threads) {
            return Err(Error::invalid_argument(format!(
                "block_values must be >= 1 and threads in 1..={}, got {} and {}",
                crate::MAX_THREADS,
                options.block_values,
                options.threads
            )));
        }
        out.write_all(&encode_header()).map_err(write_err)?;
        Ok(ArchiveWriter {
            out,
            options,
            offset: HEADER_LEN,
            entries: Vec::new(),
            names: HashSet::new(),
            metadata: Vec::new(),
        })
    }

    /// Opaque bytes stored once in the index (e.g. a safetensors header); the last call wins.
    pub fn set_metadata(&mut self, metadata: &[u8]) {
        self.metadata = metadata.to_vec();
    }

    /// The tensors written so far.
    pub fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }

    /// Compresses a float32 tensor with `bound` and writes it. Blocks whose compressed form is
    /// not smaller than their raw bytes are stored raw (so no tensor takes more than its raw
    /// size in the data section). NaN and ±Inf are stored exactly.
    pub fn add_f32(
        &mut self,
        name: &str,
        data: &[f32],
        shape: &[usize],
        bound: Bound,
    ) -> Result<&EntryInfo> {
        let n = self.check_new(name, shape)?;
        if data.len() as u64 != n {
            return Err(Error::invalid_argument(format!(
                "{name}: shape {shape:?} needs {n} values, got {}",
                data.len()
            )));
        }
        let encoder = self.encoder(name, bound)?;
        let mut entry = self.entry(name, Dtype::F32, shape, bound);
        let row = entry.row_len() as usize;
        let (mut err2, mut norm2, mut max_abs) = (0f64, 0f64, 0f64);
        let mut recon = Vec::new();
        for i in 0..entry.blocks.capacity() {
            let (a, b) = entry.block_rows(i);
            let x = &data[a as usize * row..b as usize * row];
            let raw: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
            recon.clear();
            recon.resize(x.len(), 0f32);
            let coded = if x.is_empty() {
                None
            } else {
                let c =
                    encoder.compress_reconstructed(x, &entry.block_shape(i), None, &mut recon)?;
                Some(compact_body(&c.bytes, FORMAT_VERSION, bound.mode_id())?)
                    .filter(|b| b.len() < raw.len())
            };
            for (&v, &r) in x.iter().zip(&recon) {
                if v.is_finite() {
                    // A block stored raw is exact: its error is 0, but it counts in the norm.
                    let d = if coded.is_some() {
                        v as f64 - r as f64
                    } else {
                        0.0
                    };
                    err2 += d * d;
                    norm2 += v as f64 * v as f64;
                    max_abs = max_abs.max(d.abs());
                }
            }
            let body = coded;
            match body {
                Some(b) => self.push_block(&mut entry, &b, false)?,
                None => self.push_block(&mut entry, &raw, true)?,
            }
        }
        entry.achieved = achieved(bound, err2, norm2, max_abs);
        Ok(self.commit(entry))
    }

    /// Writes a tensor of any element type from its little-endian bytes with `bound`. The
    /// float types (float32, bfloat16, float16, float64: [`Dtype::is_coded`]) are compressed,
    /// with the bound holding on the values a reader gets back (`codec/typed.rs`); blocks whose
    /// compressed form is not smaller are stored raw. Other types are stored raw, losslessly,
    /// whatever `bound` says (the index then records lossless).
    pub fn add_typed(
        &mut self,
        name: &str,
        dtype: Dtype,
        shape: &[usize],
        bytes: &[u8],
        bound: Bound,
    ) -> Result<&EntryInfo> {
        match dtype.element_type() {
            Some(crate::format::Dtype::F32) => {
                self.check_len(name, dtype, shape, bytes)?;
                let v: Vec<f32> = bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                self.add_f32(name, &v, shape, bound)
            }
            Some(element) => self.add_coded(name, dtype, element, shape, bytes, bound),
            None => self.add_bytes(name, dtype, shape, bytes),
        }
    }

    /// The codec path of a float type other than float32: each block through
    /// [`Encoder::compress_bytes`], its error measured on the decoder's output.
    fn add_coded(
        &mut self,
        name: &str,
        dtype: Dtype,
        element: crate::format::Dtype,
        shape: &[usize],
        bytes: &[u8],
        bound: Bound,
    ) -> Result<&EntryInfo> {
        self.check_len(name, dtype, shape, bytes)?;
        let encoder = self.encoder(name, bound)?;
        let decoder = DecodeOptions::default().with_threads(self.options.threads);
        let mut entry = self.entry(name, dtype, shape, bound);
        let row = entry.row_len() as usize * dtype.size();
        let (mut err2, mut norm2, mut max_abs) = (0f64, 0f64, 0f64);
        for i in 0..entry.blocks.capacity() {
            let (a, b) = entry.block_rows(i);
            let raw = &bytes[a as usize * row..b as usize * row];
            let mut coded = None;
            if !raw.is_empty() {
                let frame = encoder
                    .compress_bytes(raw, element, &entry.block_shape(i), None)?
                    .bytes;
                let body = compact_body(&frame, FORMAT_VERSION, bound.mode_id())?;
                if body.len() < raw.len() {
                    coded = Some((body, decoder.decompress_bytes(&frame)?.bytes));
                }
            }
            for j in 0..raw.len() / dtype.size() {
                let x = value_f64(raw, element, j);
                if x.is_finite() {
                    // A block stored raw is exact: its error is 0, but it counts in the norm.
                    let d = coded
                        .as_ref()
                        .map_or(0.0, |(_, y)| x - value_f64(y, element, j));
                    err2 += d * d;
                    norm2 += x * x;
                    max_abs = max_abs.max(d.abs());
                }
            }
            match coded {
                Some((body, _)) => self.push_block(&mut entry, &body, false)?,
                None => self.push_block(&mut entry, raw, true)?,
            }
        }
        entry.achieved = achieved(bound, err2, norm2, max_abs);
        Ok(self.commit(entry))
    }

    /// Writes a tensor of any element type losslessly from its raw little-endian bytes (a
    /// float type this way still goes through the lossless codec where that is smaller).
    pub fn add_bytes(
        &mut self,
        name: &str,
        dtype: Dtype,
        shape: &[usize],
        bytes: &[u8],
    ) -> Result<&EntryInfo> {
        self.check_len(name, dtype, shape, bytes)?;
        if dtype.is_coded() {
            return self.add_typed(name, dtype, shape, bytes, Bound::Lossless);
        }
        let mut entry = self.entry(name, dtype, shape, Bound::Lossless);
        let row = entry.row_len() as usize * dtype.size();
        for i in 0..entry.blocks.capacity() {
            let (a, b) = entry.block_rows(i);
            self.push_block(&mut entry, &bytes[a as usize * row..b as usize * row], true)?;
        }
        Ok(self.commit(entry))
    }

    /// Writes the index and footer; returns the output.
    pub fn finish(mut self) -> Result<W> {
        let index = encode_index(&self.entries, &self.metadata, FORMAT_VERSION);
        self.out.write_all(&index).map_err(write_err)?;
        self.out
            .write_all(&encode_footer(&index))
            .map_err(write_err)?;
        self.out.flush().map_err(write_err)?;
        Ok(self.out)
    }

    fn encoder(&self, name: &str, bound: Bound) -> Result<Encoder> {
        let mode = match bound {
            Bound::Lossless => Mode::Lossless,
            Bound::RelativeL2(e) => Mode::RelativeL2(e),
            Bound::MaxAbs(e) => Mode::MaxAbs(e),
        };
        let config = EncoderConfig {
            threads: self.options.threads,
            non_finite: NonFinitePolicy::Keep,
            ..EncoderConfig::default()
        }
        .with_mode(mode);
        Encoder::new(config).map_err(|e| Error::new(e.kind(), format!("{name}: {}", e.message())))
    }

    /// Checks that `name` is new and `bytes` holds exactly `shape` of `dtype`.
    fn check_len(&self, name: &str, dtype: Dtype, shape: &[usize], bytes: &[u8]) -> Result<()> {
        let n = self.check_new(name, shape)?;
        if bytes.len() as u64 != n * dtype.size() as u64 {
            return Err(Error::invalid_argument(format!(
                "{name}: shape {shape:?} of {dtype:?} needs {} bytes, got {}",
                n * dtype.size() as u64,
                bytes.len()
            )));
        }
        Ok(())
    }

    fn check_new(&self, name: &str, shape: &[usize]) -> Result<u64> {
        if self.names.contains(name) {
            return Err(Error::invalid_argument(format!(
                "tensor name {name:?} is already in the archive"
            )));
        }
        if shape.len() > MAX_RANK {
            return Err(Error::invalid_argument(format!(
                "{name}: rank {} exceeds {MAX_RANK}",
                shape.len()
            )));
        }
        // The row length (all but the first dimension) must fit on its own: with a first
        // dimension of 0 the whole product is 0.
        let fits = |dims: &[usize]| {
            dims.iter()
                .try_fold(8u64, |n, &d| n.checked_mul(d as u64))
                .is_some()
        };
        if !fits(shape.get(1..).unwrap_or(&[])) {
            return Err(Error::invalid_argument(format!(
                "{name}: shape {shape:?} overflows"
            )));
        }
        shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .filter(|&n| n.checked_mul(8).is_some())
            .ok_or_else(|| Error::invalid_argument(format!("{name}: shape {shape:?} overflows")))
    }

    fn entry(&self, name: &str, dtype: Dtype, shape: &[usize], bound: Bound) -> EntryInfo {
        let rows = shape.first().map_or(1, |&d| d as u64);
        let row_len: u64 = shape.iter().skip(1).map(|&d| d as u64).product();
        let block = self.options.block_values as u64;
        let rows_per_block = if shape.is_empty() || rows * row_len <= block {
            0
        } else {
            (block / row_len.max(1)).max(1)
        };
        let n_blocks = super::index::block_count(rows, rows_per_block) as usize;
        EntryInfo {
            name: name.to_owned(),
            dtype,
            shape: shape.to_vec(),
            bound,
            achieved: 0.0,
            rows_per_block,
            blocks: Vec::with_capacity(n_blocks),
        }
    }

    fn push_block(&mut self, entry: &mut EntryInfo, bytes: &[u8], raw: bool) -> Result<()> {
        self.out.write_all(bytes).map_err(write_err)?;
        entry.blocks.push(BlockInfo {
            offset: self.offset,
            len: bytes.len() as u64,
            raw,
            crc: crc32fast::hash(bytes),
        });
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn commit(&mut self, entry: EntryInfo) -> &EntryInfo {
        self.names.insert(entry.name.clone());
        self.entries.push(entry);
        &self.entries[self.entries.len() - 1]
    }
}

/// The error an entry records: 0 for lossless, else relative L2 over the tensor or max abs.
fn achieved(bound: Bound, err2: f64, norm2: f64, max_abs: f64) -> f64 {
    match bound {
        Bound::Lossless => 0.0,
        Bound::RelativeL2(_) if norm2 > 0.0 => (err2 / norm2).sqrt(),
        Bound::RelativeL2(_) => 0.0,
        Bound::MaxAbs(_) => max_abs,
    }
}

fn write_err(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("writing the archive: {e}"))
}
