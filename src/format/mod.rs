//! The frame: alcm's byte format (documented in `docs/FORMAT.md`, keep the two in step).
//!
//! Little-endian, fixed layout, CRC-32 over everything before the trailer. Every length is
//! checked against the bytes actually present before anything is allocated, so a truncated,
//! bit-flipped or hostile frame yields a typed error, never a panic or an oversized allocation.

pub(crate) mod compact;
pub mod dtype;
pub mod params;

use crate::abi;
use crate::entropy::Backend;
use crate::error::{Error, ErrorKind, Result};
use crate::util::shape::{channel_count, legacy_channel_count};
pub use dtype::{Dtype, Element};
pub(crate) use params::*;

pub const MAGIC: [u8; 4] = *b"ALCM";
/// Version of the byte format (independent of the library version) that the encoder writes.
/// The decoder reads every version from `OLDEST_FORMAT_VERSION` (1) up to this one (docs/FORMAT.md,
/// "Version history"): version 2 added the shared-qmin flag and rANS-model payload kinds 3–4,
/// version 3 rANS-model payload kind 5 (independent lane streams, `entropy/model/lanes.rs`),
/// version 4 backend 4, the lossless float-layout coder (`codec/lossless.rs`), version 5 its
/// methods 4 and 5, version 6 its method 6, version 7 rANS-model payload kind 6 (16 states on
/// one word stream, `entropy/model/shared.rs`).
pub const FORMAT_VERSION: u8 = abi::ALCM_FORMAT_VERSION as u8;
/// Oldest byte-format version the decoder reads.
pub const OLDEST_FORMAT_VERSION: u8 = 1;
/// Most dimensions a tensor may have.
pub const MAX_RANK: usize = abi::ALCM_MAX_RANK;
/// Element type id of float32, the one type frames of versions 1–3 hold.
pub const DTYPE_F32: u8 = abi::ALCM_DTYPE_F32 as u8;
/// First format version whose frames may hold another element type than float32.
pub const DTYPE_FORMAT_VERSION: u8 = 4;

// The mode byte; the numbers (and their C names) are defined once in `crate::abi`.
pub const MODE_ADAPTIVE: u8 = abi::ALCM_MODE_ADAPTIVE as u8;
pub const MODE_RELATIVE_L2: u8 = abi::ALCM_MODE_RELATIVE_L2 as u8;
pub const MODE_MAX_ABS: u8 = abi::ALCM_MODE_MAX_ABS as u8;
pub const MODE_LOSSLESS: u8 = abi::ALCM_MODE_LOSSLESS as u8;

/// Flag bit: the frame carries an exception list (values stored verbatim).
pub const FLAG_EXCEPTIONS: u8 = 1;
/// Flag bit (error-bounded modes only; format version ≥ 2): every channel has the same code
/// offset `qmin`, stored once instead of once per channel (it cost 1–2 bytes per channel:
/// 0.1–0.25 bits/value on a 256 × 64 tensor).
pub const FLAG_SHARED_QMIN: u8 = 2;

/// Upper bound of everything in a frame except the 4 bytes per value of the worst case: fixed
/// fields (16), shape (8 × 8), target, pruned count, section lengths and sizes (52), CRC (4).
/// Also the size of the largest fixed header plus CRC: [`peek`] needs at most
/// `FRAME_OVERHEAD_MAX − 4` bytes.
pub const FRAME_OVERHEAD_MAX: usize = 16 + 8 * MAX_RANK + 52 + 4;
// The C API publishes the header size as a literal (`abi`): keep the two in step.
const _: () = assert!(abi::ALCM_FRAME_HEADER_MAX == FRAME_OVERHEAD_MAX - 4);

/// Default largest number of values a frame may declare before the decoder refuses it
/// (2^32 values = 16 GiB of float32). Configurable per call with [`DecodeLimits`].
pub const DEFAULT_MAX_VALUES: u64 = 1 << 32;

/// Limits the decoder enforces before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    pub max_values: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_values: DEFAULT_MAX_VALUES,
        }
    }
}

/// Worst-case size of a frame holding `n_values` float32 values: the encoder falls back to a
/// stored lossless frame whenever a lossy one would be larger, so no output exceeds this.
pub fn compress_bound(n_values: usize) -> usize {
    n_values
        .saturating_mul(4)
        .saturating_add(FRAME_OVERHEAD_MAX)
}

/// The mode a frame was written in (what its error guarantee is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameMode {
    /// Per-channel precision from an allocation (no guarantee beyond the per-channel step).
    Adaptive,
    /// ‖x − x̂‖₂ ≤ target · ‖x‖₂.
    RelativeL2,
    /// |x − x̂| ≤ target for every value.
    MaxAbs,
    /// Bit-exact.
    Lossless,
}

impl FrameMode {
    /// The id stored in the frame (`ALCM_MODE_*` in the C header).
    pub fn id(self) -> u8 {
        match self {
            FrameMode::Adaptive => MODE_ADAPTIVE,
            FrameMode::RelativeL2 => MODE_RELATIVE_L2,
            FrameMode::MaxAbs => MODE_MAX_ABS,
            FrameMode::Lossless => MODE_LOSSLESS,
        }
    }

    /// The mode of a stored id, `None` for an unknown one.
    pub fn from_id(id: u8) -> Option<FrameMode> {
        Some(match id {
            MODE_ADAPTIVE => FrameMode::Adaptive,
            MODE_RELATIVE_L2 => FrameMode::RelativeL2,
            MODE_MAX_ABS => FrameMode::MaxAbs,
            MODE_LOSSLESS => FrameMode::Lossless,
            _ => return None,
        })
    }
}

/// What a frame header says, read without decoding the payload.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FrameInfo {
    /// Format version the frame was written in (1..=[`FORMAT_VERSION`]).
    pub format_version: u8,
    /// Mode the frame was written in.
    pub mode: FrameMode,
    /// Entropy coder of the payload.
    pub backend: Backend,
    /// Header flags (`FLAG_*` of docs/FORMAT.md).
    pub flags: u8,
    /// Element type id (`ALCM_DTYPE_*`: 1 float32, 2 bfloat16, 3 float16, 4 float64); see
    /// [`FrameInfo::element_type`].
    pub dtype: u8,
    /// Bytes per integer code (1, 2 or 4); in lossless frames the element width (2, 4 or 8).
    pub code_width: u8,
    /// Tensor shape, C order.
    pub shape: Vec<usize>,
    /// Number of values (the product of the shape).
    pub n_values: u64,
    /// Number of channels (slices along the first axis, see [`crate::channel_count`]).
    pub n_channels: u64,
    /// The error target the frame was encoded for (relative L2 or max abs); 0 otherwise.
    pub target: f64,
    /// Non-zero values set to zero by pruning.
    pub n_pruned: u64,
    /// Number of values stored verbatim (non-finite values kept, rounding outliers).
    pub n_exceptions: u64,
    /// Size of the packed code stream before the backend.
    pub raw_len: u64,
    /// Size of the payload in bytes.
    pub payload_len: u64,
    /// Total size of the frame in bytes (header + payload + CRC).
    pub frame_len: u64,
    // Offsets of the sections, for the decoder.
    pub(crate) params_range: (usize, usize),
    pub(crate) exceptions_range: (usize, usize),
    pub(crate) payload_offset: usize,
}

/// The parts of a frame, as the encoder assembles them.
pub struct FrameParts<'a> {
    pub mode: u8,
    /// Element type id of the values (`Dtype::id`).
    pub dtype: u8,
    pub backend: u8,
    pub code_width: u8,
    pub shape: &'a [usize],
    pub target: f64,
    pub n_pruned: u64,
    pub params: &'a [u8],
    /// The params were written by [`encode_params`] in the shared form ([`shares_qmin`]).
    pub shared_qmin: bool,
    pub exceptions: &'a [(u64, f32)],
    pub raw_len: u64,
}

/// The frame of `p` in a new buffer: every writer now uses [`write_frame_around`] (no copy of
/// the payload); this straightforward version stays as the test's reference for it.
#[cfg(test)]
pub fn write_frame(p: &FrameParts, payload: &[u8]) -> Vec<u8> {
    let exc = encode_exceptions(p.exceptions);
    let mut out =
        Vec::with_capacity(FRAME_OVERHEAD_MAX + p.params.len() + exc.len() + payload.len());
    push_header(&mut out, p, &exc, payload.len());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The frame of `p` around a payload the caller hands over: the
/// header goes in front of it in its own buffer, so the frame needs no second payload-sized
/// allocation (the compress peak memory of issue 12). The same bytes as [`write_frame`]; the
/// returned buffer holds no spare capacity.
/// On up to `threads` threads (see [`move_and_checksum`]).
pub(crate) fn write_frame_around(p: &FrameParts, mut payload: Vec<u8>, threads: usize) -> Vec<u8> {
    let exc = encode_exceptions(p.exceptions);
    let mut head = Vec::with_capacity(FRAME_OVERHEAD_MAX + p.params.len() + exc.len());
    push_header(&mut head, p, &exc, payload.len());
    payload.reserve_exact(head.len() + 4);
    let crc = move_and_checksum(&mut payload, &head, threads);
    payload.extend_from_slice(&crc.to_le_bytes());
    payload.shrink_to_fit();
    payload
}

/// Payloads from this size on are moved and checksummed on the threads: below, the hand-off
/// to a worker costs more than half the pass saves.
const PARALLEL_FRAME_MIN: usize = 1 << 18;

/// Puts `head` in front of the payload `buf` (moving the payload up by `head.len()` bytes)
/// and returns the CRC-32 of the result. The move and the checksum were a serial pass over
/// the frame on the calling thread after the last parallel pass (the MiniLM word embeddings'
/// frame: 0.9 M instructions of CRC alone); here each thread moves and checksums one piece
/// of the frame, the pieces' CRCs combined in order. Piece `k` of the frame (`chunk` bytes at
/// `k · chunk`) holds payload bytes from `k · chunk − h` on, of which it already holds all but
/// the first `h` (`h = head.len()`): those are saved before the pass (another piece's move
/// overwrites them) and put back after the piece's own move.
fn move_and_checksum(buf: &mut Vec<u8>, head: &[u8], threads: usize) -> u32 {
    let (h, len) = (head.len(), buf.len());
    let total = len + h;
    let chunk = total.div_ceil(threads.max(1)).max(1);
    let pieces = total.div_ceil(chunk);
    // Every piece at least `h` long, so each holds the bytes it moves.
    let fits = pieces > 1 && chunk >= h && total - (pieces - 1) * chunk >= h;
    if len < PARALLEL_FRAME_MIN || !fits {
        buf.resize(total, 0);
        buf.copy_within(0..len, h);
        buf[..h].copy_from_slice(head);
        return crc32fast::hash(buf);
    }
    let saved: Vec<Vec<u8>> = (1..pieces)
        .map(|k| buf[k * chunk - h..k * chunk].to_vec())
        .collect();
    buf.resize(total, 0);
    let crcs = crate::util::par::map_chunks_mut(threads, buf, chunk, |k, piece| {
        let n = piece.len();
        piece.copy_within(0..n - h, h);
        piece[..h].copy_from_slice(if k == 0 { head } else { &saved[k - 1] });
        let mut c = crc32fast::Hasher::new();
        c.update(piece);
        c
    });
    let mut crc = crc32fast::Hasher::new();
    for c in &crcs {
        crc.combine(c);
    }
    crc.finalize()
}

/// Everything of a frame before its payload: fixed header, params, exceptions.
fn push_header(out: &mut Vec<u8>, p: &FrameParts, exc: &[u8], payload_len: usize) {
    out.extend_from_slice(&MAGIC);
    let flags = if p.exceptions.is_empty() {
        0
    } else {
        FLAG_EXCEPTIONS
    } | if p.shared_qmin { FLAG_SHARED_QMIN } else { 0 };
    out.extend_from_slice(&[
        FORMAT_VERSION,
        p.mode,
        p.backend,
        flags,
        p.dtype,
        p.shape.len() as u8,
        p.code_width,
        0,
    ]);
    out.extend_from_slice(&(channel_count(p.shape) as u32).to_le_bytes());
    for &d in p.shape {
        out.extend_from_slice(&(d as u64).to_le_bytes());
    }
    out.extend_from_slice(&p.target.to_le_bytes());
    out.extend_from_slice(&p.n_pruned.to_le_bytes());
    out.extend_from_slice(&(p.params.len() as u32).to_le_bytes());
    out.extend_from_slice(&(p.exceptions.len() as u64).to_le_bytes());
    out.extend_from_slice(&(exc.len() as u64).to_le_bytes());
    out.extend_from_slice(&p.raw_len.to_le_bytes());
    out.extend_from_slice(&(payload_len as u64).to_le_bytes());
    out.extend_from_slice(p.params);
    out.extend_from_slice(exc);
}

/// Bounds-checked little-endian reader.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader {
            bytes,
            pos: 0,
            what,
        }
    }
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::truncated(format!(
                "{} ends at byte {} but {} more bytes are needed at offset {}",
                self.what,
                self.bytes.len(),
                n,
                self.pos
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or([0; 4]),
        ))
    }
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or([0; 8]),
        ))
    }
    pub(crate) fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_bits(self.u32()?))
    }
    pub(crate) fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// Unsigned LEB128, at most 10 bytes.
    pub(crate) fn varint(&mut self) -> Result<u64> {
        if let Some(v) = crate::util::varint::read(|| self.u8())? {
            return Ok(v);
        }
        Err(Error::corrupt(format!(
            "{}: varint longer than 64 bits at offset {}",
            self.what, self.pos
        )))
    }
}

pub(crate) use crate::util::varint::put as put_varint;

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Parses and checks the header of `bytes`. With `full`, also requires the frame to be
/// complete (exactly `bytes.len()` long); without, only the header must be present.
fn parse_header(bytes: &[u8], full: bool) -> Result<FrameInfo> {
    if bytes.len() < 4 {
        return Err(Error::truncated(format!(
            "{} bytes is shorter than the frame magic",
            bytes.len()
        )));
    }
    if bytes[..4] != MAGIC {
        return Err(Error::new(
            ErrorKind::BadMagic,
            "input does not start with the alcm magic \"ALCM\"",
        ));
    }
    let mut r = Reader::new(bytes, "frame");
    r.take(4)?;
    let format_version = r.u8()?;
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&format_version) {
        return Err(Error::new(
            ErrorKind::FormatVersion,
            format!(
                "frame format version {format_version} is not supported (this library reads versions {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})"
            ),
        ));
    }
    let mode = r.u8()?;
    let backend = r.u8()?;
    let flags = r.u8()?;
    let dtype = r.u8()?;
    let rank = r.u8()? as usize;
    let code_width = r.u8()?;
    let reserved = r.u8()?;
    if mode > MODE_LOSSLESS {
        return Err(Error::corrupt(format!("unknown mode id {mode}")));
    }
    if flags & !(FLAG_EXCEPTIONS | FLAG_SHARED_QMIN) != 0 || reserved != 0 {
        return Err(Error::corrupt(format!(
            "unknown flag bits {flags:#04x} / reserved byte {reserved}"
        )));
    }
    // Version 4 added the other element types: in an older frame only float32 is valid.
    let element = match Dtype::from_id(dtype as u32) {
        Some(d) if d.id() == DTYPE_F32 || format_version >= DTYPE_FORMAT_VERSION => d,
        _ => {
            return Err(Error::corrupt(format!(
                "unknown dtype id {dtype} in a version-{format_version} frame"
            )))
        }
    };
    if rank > MAX_RANK {
        return Err(Error::corrupt(format!(
            "rank {rank} exceeds the maximum {MAX_RANK}"
        )));
    }
    // Lossless frames store each value's bytes (the element width); lossy ones integer codes of
    // 1, 2 or 4 bytes.
    let code_width_ok = if mode == MODE_LOSSLESS {
        code_width as usize == element.width()
    } else {
        matches!(code_width, 1 | 2 | 4)
    };
    if !code_width_ok {
        return Err(Error::corrupt(format!(
            "code width {code_width} is invalid for mode {mode}"
        )));
    }
    let n_channels = r.u32()? as u64;
    let mut shape = Vec::with_capacity(rank);
    let mut n_values: u64 = 1;
    for _ in 0..rank {
        let d = r.u64()?;
        n_values = n_values.checked_mul(d).ok_or_else(|| {
            Error::too_large("the declared shape's element count overflows 64 bits")
        })?;
        shape.push(
            usize::try_from(d)
                .map_err(|_| Error::too_large(format!("dimension {d} exceeds usize")))?,
        );
    }
    if usize::try_from(n_values).is_err() {
        return Err(Error::too_large(format!(
            "{n_values} values exceed this platform's address space"
        )));
    }
    // Frames written before trivial dimensions were skipped count channels along the first
    // axis (`(N, 1)`: N channels); both layouts decode, the count tells which one it is.
    let expected_channels = channel_count(&shape) as u64;
    if n_channels != expected_channels && n_channels != legacy_channel_count(&shape) as u64 {
        return Err(Error::corrupt(format!(
            "frame declares {n_channels} channels, its shape {shape:?} has {expected_channels}"
        )));
    }
    let target = r.f64()?;
    if !target.is_finite() || target < 0.0 {
        return Err(Error::corrupt(format!("error target {target} is invalid")));
    }
    let n_pruned = r.u64()?;
    if n_pruned > n_values {
        return Err(Error::corrupt("more pruned values than values"));
    }
    let params_len = r.u32()? as u64;
    let n_exceptions = r.u64()?;
    let exc_len = r.u64()?;
    let raw_len = r.u64()?;
    let payload_len = r.u64()?;
    if flags & FLAG_SHARED_QMIN != 0 && !matches!(mode, MODE_RELATIVE_L2 | MODE_MAX_ABS) {
        return Err(Error::corrupt(format!(
            "shared code offset flag in mode {mode}"
        )));
    }
    // Version-1 writers never set it: such a frame was altered, not written by a newer library.
    if flags & FLAG_SHARED_QMIN != 0 && format_version < 2 {
        return Err(Error::corrupt(
            "shared code offset flag in a version-1 frame",
        ));
    }
    if (flags & FLAG_EXCEPTIONS == 0) != (n_exceptions == 0) || n_exceptions > n_values {
        return Err(Error::corrupt(format!(
            "exception count {n_exceptions} is inconsistent"
        )));
    }
    let expected_raw = n_values
        .checked_mul(code_width as u64)
        .ok_or_else(|| Error::too_large("code stream size overflows"))?;
    if raw_len != expected_raw {
        return Err(Error::corrupt(format!(
            "code stream declared as {raw_len} bytes, {n_values} values of width {code_width} need {expected_raw}"
        )));
    }
    crate::entropy::check_sizes(backend, payload_len, raw_len)?;
    // The float-layout backend came with version 4 and codes lossless frames only.
    if backend == crate::entropy::BACKEND_FLOAT && (mode != MODE_LOSSLESS || format_version < 4) {
        return Err(Error::corrupt(format!(
            "float-layout backend in a version-{format_version} frame of mode {mode}"
        )));
    }
    // Everything above is the fixed-size header: peek needs no more than that.
    let too_long = || Error::corrupt("section lengths overflow");
    let p0 = r.pos() as u64;
    let e0 = p0.checked_add(params_len).ok_or_else(too_long)?;
    let payload_offset = e0.checked_add(exc_len).ok_or_else(too_long)?;
    let frame_len = payload_offset
        .checked_add(payload_len)
        .and_then(|v| v.checked_add(4))
        .ok_or_else(too_long)?;
    let as_usize = |v: u64| usize::try_from(v).map_err(|_| too_long());
    let (p0, e0, payload_offset) = (as_usize(p0)?, as_usize(e0)?, as_usize(payload_offset)?);
    let exc_len = as_usize(exc_len)?;
    let params_len = as_usize(params_len)?;
    if full {
        if (bytes.len() as u64) < frame_len {
            return Err(Error::truncated(format!(
                "frame is {frame_len} bytes but only {} are present",
                bytes.len()
            )));
        }
        if bytes.len() as u64 > frame_len {
            return Err(Error::corrupt(format!(
                "{} unexpected bytes after the {frame_len}-byte frame",
                bytes.len() as u64 - frame_len
            )));
        }
    }
    Ok(FrameInfo {
        format_version,
        // Both ids were checked above (the mode's range, the backend by `check_sizes`).
        mode: FrameMode::from_id(mode)
            .ok_or_else(|| Error::corrupt(format!("unknown mode id {mode}")))?,
        backend: Backend::from_id(backend)
            .ok_or_else(|| Error::corrupt(format!("unknown backend id {backend}")))?,
        flags,
        dtype,
        code_width,
        shape,
        n_values,
        n_channels,
        target,
        n_pruned,
        n_exceptions,
        raw_len,
        payload_len,
        frame_len,
        params_range: (p0, p0 + params_len),
        exceptions_range: (e0, e0 + exc_len),
        payload_offset,
    })
}

impl FrameInfo {
    /// The element type of the frame's values (what the typed decoder returns).
    pub fn element_type(&self) -> Dtype {
        // Validated when the header was parsed.
        Dtype::from_id(self.dtype as u32).unwrap_or(Dtype::F32)
    }
}

/// Worst-case size of a frame holding `n_values` values of `dtype` (see [`compress_bound`]).
pub fn compress_bound_typed(n_values: usize, dtype: Dtype) -> usize {
    n_values
        .saturating_mul(dtype.width())
        .saturating_add(FRAME_OVERHEAD_MAX)
}

/// Reads the header: shape, sizes, mode, without decoding or checksumming the payload.
/// `bytes` may be just a prefix of the frame, as long as it holds the whole header.
pub fn peek(bytes: &[u8]) -> Result<FrameInfo> {
    parse_header(bytes, false)
}

/// Parses the header of a complete frame, checks the limits, and verifies the checksum.
pub(crate) fn open_frame(bytes: &[u8], limits: &DecodeLimits) -> Result<FrameInfo> {
    let info = open_frame_unverified(bytes, limits)?;
    verify_checksum(bytes, crc32fast::hash(checksummed(bytes)))?;
    Ok(info)
}

/// [`open_frame`] without the checksum: the caller computes it (on several threads) and calls
/// [`verify_checksum`] before it reads anything beyond the header.
pub(crate) fn open_frame_unverified(bytes: &[u8], limits: &DecodeLimits) -> Result<FrameInfo> {
    let info = parse_header(bytes, true)?;
    if info.n_values > limits.max_values {
        return Err(Error::too_large(format!(
            "frame declares {} values, more than the limit of {}",
            info.n_values, limits.max_values
        )));
    }
    Ok(info)
}

/// The bytes the checksum covers: all but its own 4 (`bytes` is a whole frame, as
/// [`open_frame_unverified`] accepted it).
pub(crate) fn checksummed(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().saturating_sub(4)]
}

/// Compares the CRC-32 of [`checksummed`]`(bytes)`, `actual`, with the one the frame stores.
pub(crate) fn verify_checksum(bytes: &[u8], actual: u32) -> Result<()> {
    let tail = &bytes[checksummed(bytes).len()..];
    let stored = u32::from_le_bytes(tail.try_into().unwrap_or([0; 4]));
    if stored != actual {
        return Err(Error::new(
            ErrorKind::Checksum,
            format!("checksum mismatch: frame says {stored:#010x}, bytes give {actual:#010x}"),
        ));
    }
    Ok(())
}

/// Whether [`encode_params`] writes `p` in the shared form (flag [`FLAG_SHARED_QMIN`]): uniform
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_and_zigzag_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            1 << 40,
            -(1 << 53),
            i64::MAX,
            i64::MIN,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, zigzag(v));
            let mut r = Reader::new(&b, "t");
            assert_eq!(unzigzag(r.varint().unwrap()), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        let mut r = Reader::new(&[0xFF; 11], "t");
        assert!(r.varint().is_err());
    }

    #[test]
    fn the_frame_moved_and_checksummed_in_pieces_is_the_serial_one() {
        // Sizes around the threshold and around multiples of the pieces, headers short and
        // long (up to a piece's length), on 1 to 4 threads.
        let m = PARALLEL_FRAME_MIN;
        for len in [10usize, m - 1, m, m + 1, m + 3, 3 * m + 2] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            for h in [0usize, 1, 90, 4097, len.div_ceil(4)] {
                let head: Vec<u8> = (0..h).map(|i| (i * 13 + 5) as u8).collect();
                let mut want = head.clone();
                want.extend_from_slice(&payload);
                for threads in 1..=4 {
                    let mut buf = payload.clone();
                    let crc = move_and_checksum(&mut buf, &head, threads);
                    assert!(buf == want, "{len} {h} {threads}");
                    assert_eq!(crc, crc32fast::hash(&want), "{len} {h} {threads}");
                }
            }
        }
    }

    #[test]
    fn frame_around_a_payload_is_the_frame_of_that_payload() {
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let exceptions = [(3u64, f32::NAN), (17, 1.5)];
        for (exc, params, spare) in [
            (&exceptions[..], &[1u8, 2, 3][..], 0usize),
            (&[][..], &[][..], 5000),
        ] {
            let parts = || FrameParts {
                mode: MODE_RELATIVE_L2,
                dtype: Dtype::F32.id(),
                backend: 2,
                code_width: 2,
                shape: &[10, 100],
                target: 1e-2,
                n_pruned: 4,
                params,
                shared_qmin: false,
                exceptions: exc,
                raw_len: 2000,
            };
            let mut owned = Vec::with_capacity(payload.len() + spare);
            owned.extend_from_slice(&payload);
            let around = write_frame_around(&parts(), owned, 1);
            assert_eq!(around, write_frame(&parts(), &payload));
            assert_eq!(around.capacity(), around.len());
            // The payload sits where the header says, after the header and before the CRC.
            let info = open_frame(&around, &DecodeLimits::default()).unwrap();
            assert_eq!(info.payload_len, 1000);
            let at = info.payload_offset;
            assert_eq!(&around[at..at + 1000], &payload[..]);
        }
    }
}
