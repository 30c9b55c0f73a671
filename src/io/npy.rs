//! NumPy `.npy` reader and writer, hand-written and safe on hostile input.
//!
//! Reads format versions 1.0, 2.0 and 3.0 with C-order data of dtype `<f4 <f8 <i4 <i8 |u1 |b1`
//! (and big-endian `>f4 >f8 >i4 >i8`). Shape `()` is a 0-d array holding one value.
//! Fortran-order arrays, structured dtypes and object arrays are refused with a clear error.
//!
//! Hostile input: the header length is bounded ([`MAX_HEADER_LEN`]), the shape product is
//! computed with `checked_mul`, and the data length is checked against the declared shape
//! *before* anything is allocated. No input makes the parser panic.
//!
//! Written files are byte-identical to what `numpy.save` writes (version 1.0 header, the
//! same key order, the same spare space for growing the first axis, padded with spaces so that
//! the data starts at a multiple of 64 bytes, ending in `\n`).
//!
//! Errors: [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) when the bytes end early,
//! [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge) when the shape overflows,
//! [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) for anything else malformed or
//! unsupported, [`ErrorKind::Io`](crate::ErrorKind::Io) for file errors.

use std::path::Path;

use crate::error::{Error, Result};

/// The 6-byte magic string that starts every `.npy` file.
pub const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Largest header accepted by the reader (numpy's own default limit is 10 000 bytes).
pub const MAX_HEADER_LEN: usize = 1 << 16;

/// Largest number of dimensions accepted (numpy's limit is 64).
pub const MAX_NDIM: usize = 64;

/// numpy's `GROWTH_AXIS_MAX_DIGITS`: spare header space so the first axis can grow in place.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// numpy's `ARRAY_ALIGN`.
const ARRAY_ALIGN: usize = 64;

/// The values of an array, by dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// float32 (`<f4`).
    F32(Vec<f32>),
    /// float64 (`<f8`).
    F64(Vec<f64>),
    /// int32 (`<i4`).
    I32(Vec<i32>),
    /// int64 (`<i8`).
    I64(Vec<i64>),
    /// uint8 (`|u1`).
    U8(Vec<u8>),
    /// bool (`|b1`).
    Bool(Vec<bool>),
}

/// A C-order array: its shape (empty for 0-d) and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Shape, C order.
    pub shape: Vec<usize>,
    /// The values.
    pub data: NpyData,
}

impl NpyArray {
    /// Number of values (1 for a 0-d array).
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::U8(v) => v.len(),
            NpyData::Bool(v) => v.len(),
        }
    }

    /// True when the array holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The numpy dtype string of the data (`"<f4"`, ...), as this crate writes it.
    pub fn descr(&self) -> &'static str {
        match &self.data {
            NpyData::F32(_) => "<f4",
            NpyData::F64(_) => "<f8",
            NpyData::I32(_) => "<i4",
            NpyData::I64(_) => "<i8",
            NpyData::U8(_) => "|u1",
            NpyData::Bool(_) => "|b1",
        }
    }

    /// The values converted to f32 (`as` casts; booleans become 0/1).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::I64(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::U8(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// The values converted to f64 (exact except for |i64| > 2^53; booleans become 0/1).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::F64(v) => v.clone(),
            NpyData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// The single value of a 0-d or one-element array, as f64.
    pub fn scalar_f64(&self) -> Result<f64> {
        if self.len() != 1 {
            return Err(Error::invalid_argument(format!(
                "expected a scalar (0-d or 1-element array), got shape {:?}",
                self.shape
            )));
        }
        Ok(match &self.data {
            NpyData::F32(v) => v[0] as f64,
            NpyData::F64(v) => v[0],
            NpyData::I32(v) => v[0] as f64,
            NpyData::I64(v) => v[0] as f64,
            NpyData::U8(v) => v[0] as f64,
            NpyData::Bool(v) => {
                if v[0] {
                    1.0
                } else {
                    0.0
                }
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Header parsing
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    F32,
    F64,
    I32,
    I64,
    U8,
    Bool,
}

impl Kind {
    fn item_size(self) -> usize {
        match self {
            Kind::F32 | Kind::I32 => 4,
            Kind::F64 | Kind::I64 => 8,
            Kind::U8 | Kind::Bool => 1,
        }
    }
}

/// Maps a descr string to (kind, big_endian).
fn parse_descr(descr: &str) -> Result<(Kind, bool)> {
    let r = match descr {
        "<f4" => (Kind::F32, false),
        "<f8" => (Kind::F64, false),
        "<i4" => (Kind::I32, false),
        "<i8" => (Kind::I64, false),
        ">f4" => (Kind::F32, true),
        ">f8" => (Kind::F64, true),
        ">i4" => (Kind::I32, true),
        ">i8" => (Kind::I64, true),
        "|u1" | "<u1" | ">u1" | "u1" => (Kind::U8, false),
        "|b1" | "<b1" | ">b1" | "b1" | "?" => (Kind::Bool, false),
        other => {
            return Err(Error::corrupt(format!(
                "npy: unsupported dtype '{}' (supported: <f4 <f8 <i4 <i8 |u1 |b1, >f4 >f8 >i4 >i8)",
                other.escape_default()
            )))
        }
    };
    Ok(r)
}

/// A value of the header dictionary.
#[derive(Debug)]
enum Lit {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// A minimal parser for the Python literal numpy writes as the header:
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (256, 64), }`.
struct HeaderParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> HeaderParser<'a> {
    fn err(&self, what: &str) -> Error {
        Error::corrupt(format!(
            "npy: malformed header at byte {}: {what}",
            self.pos
        ))
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn string(&mut self) -> Result<String> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("expected a quoted string")),
        };
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos] != q {
            if self.s[self.pos] == b'\\' {
                return Err(self.err("escapes in strings are not supported"));
            }
            self.pos += 1;
        }
        if self.pos >= self.s.len() {
            return Err(self.err("unterminated string"));
        }
        let out = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(out)
    }

    fn integer(&mut self) -> Result<usize> {
        self.skip_ws();
        let start = self.pos;
        let mut v: usize = 0;
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add((self.s[self.pos] - b'0') as usize))
                .ok_or_else(|| Error::too_large("npy: shape dimension overflows usize"))?;
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a non-negative integer"));
        }
        // Python 2 wrote long integers as `3L`.
        if self.pos < self.s.len() && matches!(self.s[self.pos], b'L' | b'l') {
            self.pos += 1;
        }
        Ok(v)
    }

    fn tuple(&mut self) -> Result<Vec<usize>> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.peek() == Some(b')') {
                self.pos += 1;
                return Ok(dims);
            }
            if dims.len() >= MAX_NDIM {
                return Err(Error::corrupt(format!(
                    "npy: more than {MAX_NDIM} dimensions"
                )));
            }
            dims.push(self.integer()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {}
                _ => return Err(self.err("expected ',' or ')' in shape")),
            }
        }
    }

    fn word(&mut self) -> Result<Lit> {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        if rest.starts_with(b"True") {
            self.pos += 4;
            Ok(Lit::Bool(true))
        } else if rest.starts_with(b"False") {
            self.pos += 5;
            Ok(Lit::Bool(false))
        } else {
            Err(self.err("expected a string, True, False or a tuple"))
        }
    }

    fn value(&mut self) -> Result<Lit> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Lit::Str(self.string()?)),
            Some(b'(') => Ok(Lit::Tuple(self.tuple()?)),
            Some(b'[') => Err(Error::corrupt(
                "npy: structured dtypes (a list as descr) are not supported",
            )),
            _ => self.word(),
        }
    }

    fn dict(&mut self) -> Result<Vec<(String, Lit)>> {
        self.expect(b'{')?;
        let mut items: Vec<(String, Lit)> = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            if items.len() >= 16 {
                return Err(self.err("too many keys"));
            }
            let k = self.string()?;
            self.expect(b':')?;
            let v = self.value()?;
            if items.iter().any(|(key, _)| *key == k) {
                return Err(Error::corrupt(format!("npy: duplicate header key '{k}'")));
            }
            items.push((k, v));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
        if self.peek().is_some() {
            return Err(self.err("trailing characters after the dictionary"));
        }
        Ok(items)
    }
}

struct Header {
    kind: Kind,
    big_endian: bool,
    shape: Vec<usize>,
    data_offset: usize,
}

fn parse_header(bytes: &[u8]) -> Result<Header> {
    let m = bytes.len().min(6);
    if bytes[..m] != NPY_MAGIC[..m] {
        return Err(Error::corrupt("npy: missing \\x93NUMPY magic"));
    }
    if bytes.len() < 8 {
        return Err(Error::truncated(format!(
            "npy: {} bytes, too short for a header",
            bytes.len()
        )));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len_size, utf8) = match (major, minor) {
        (1, 0) => (2usize, false),
        (2, 0) => (4, false),
        (3, 0) => (4, true),
        _ => {
            return Err(Error::corrupt(format!(
                "npy: unsupported format version {major}.{minor}"
            )))
        }
    };
    let prefix = 8 + len_size;
    if bytes.len() < prefix {
        return Err(Error::truncated("npy: header length field cut off"));
    }
    let hlen = if len_size == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    if hlen > MAX_HEADER_LEN {
        return Err(Error::too_large(format!(
            "npy: header of {hlen} bytes exceeds the limit of {MAX_HEADER_LEN}"
        )));
    }
    let data_offset = prefix + hlen;
    if bytes.len() < data_offset {
        return Err(Error::truncated(format!(
            "npy: header declares {hlen} bytes but only {} remain",
            bytes.len() - prefix
        )));
    }
    let text = &bytes[prefix..data_offset];
    if utf8 && std::str::from_utf8(text).is_err() {
        return Err(Error::corrupt("npy: version 3.0 header is not valid UTF-8"));
    }
    let items = HeaderParser { s: text, pos: 0 }.dict()?;
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (k, v) in items {
        match (k.as_str(), v) {
            ("descr", Lit::Str(s)) => descr = Some(s),
            ("fortran_order", Lit::Bool(b)) => fortran = Some(b),
            ("shape", Lit::Tuple(t)) => shape = Some(t),
            ("descr" | "fortran_order" | "shape", v) => {
                return Err(Error::corrupt(format!(
                    "npy: header key '{k}' has the wrong type: {v:?}"
                )))
            }
            (other, _) => {
                return Err(Error::corrupt(format!(
                    "npy: unexpected header key '{}'",
                    other.escape_default()
                )))
            }
        }
    }
    let descr = descr.ok_or_else(|| Error::corrupt("npy: header lacks 'descr'"))?;
    let fortran = fortran.ok_or_else(|| Error::corrupt("npy: header lacks 'fortran_order'"))?;
    let shape = shape.ok_or_else(|| Error::corrupt("npy: header lacks 'shape'"))?;
    if fortran {
        return Err(Error::corrupt(
            "npy: Fortran-order arrays are not supported (save with numpy.ascontiguousarray)",
        ));
    }
    let (kind, big_endian) = parse_descr(&descr)?;
    Ok(Header {
        kind,
        big_endian,
        shape,
        data_offset,
    })
}

fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    })
}

/// Parses a whole `.npy` file held in memory.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray> {
    let h = parse_header(bytes)?;
    let mut count: usize = 1;
    for &d in &h.shape {
        count = count
            .checked_mul(d)
            .ok_or_else(|| Error::too_large(format!("npy: shape {:?} overflows usize", h.shape)))?;
    }
    let nbytes = count.checked_mul(h.kind.item_size()).ok_or_else(|| {
        Error::too_large(format!("npy: shape {:?} overflows usize bytes", h.shape))
    })?;
    let raw = &bytes[h.data_offset..];
    if raw.len() < nbytes {
        return Err(Error::truncated(format!(
            "npy: shape {:?} needs {nbytes} data bytes but only {} are present",
            h.shape,
            raw.len()
        )));
    }
    if raw.len() > nbytes {
        return Err(Error::corrupt(format!(
            "npy: {} trailing bytes after the {nbytes} data bytes of shape {:?}",
            raw.len() - nbytes,
            h.shape
        )));
    }
    let be = h.big_endian;
    let data = match h.kind {
        Kind::F32 => NpyData::F32(
            chunks::<4>(raw)
                .map(|b| {
                    if be {
                        f32::from_be_bytes(b)
                    } else {
                        f32::from_le_bytes(b)
                    }
                })
                .collect(),
        ),
        Kind::F64 => NpyData::F64(
            chunks::<8>(raw)
                .map(|b| {
                    if be {
                        f64::from_be_bytes(b)
                    } else {
                        f64::from_le_bytes(b)
                    }
                })
                .collect(),
        ),
        Kind::I32 => NpyData::I32(
            chunks::<4>(raw)
                .map(|b| {
                    if be {
                        i32::from_be_bytes(b)
                    } else {
                        i32::from_le_bytes(b)
                    }
                })
                .collect(),
        ),
        Kind::I64 => NpyData::I64(
            chunks::<8>(raw)
                .map(|b| {
                    if be {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    }
                })
                .collect(),
        ),
        Kind::U8 => NpyData::U8(raw.to_vec()),
        Kind::Bool => NpyData::Bool(raw.iter().map(|&b| b != 0).collect()),
    };
    Ok(NpyArray {
        shape: h.shape,
        data,
    })
}

/// Reads and parses a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes)
        .map_err(|e| Error::new(e.kind(), format!("{}: {}", path.display(), e.message())))
}

/// Reads a `.npy` file as f32 values plus shape; other numeric dtypes are converted with `as`
/// casts (f64 rounds to nearest, integers to the nearest f32, booleans to 0/1).
pub fn read_npy_f32(path: &Path) -> Result<(Vec<f32>, Vec<usize>)> {
    let a = read_npy(path)?;
    let data = match a.data {
        NpyData::F32(v) => v,
        _ => a.to_f32(),
    };
    Ok((data, a.shape))
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// The header numpy 1.x/2.x writes for a C-order array (version 1.0), including the magic.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_repr = match shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", shape[0]),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_repr}, }}");
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        header.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    // magic (6) + version (2) + u16 length (2) + header + '\n', padded to ARRAY_ALIGN.
    let hlen = header.len() + 1;
    let padlen = ARRAY_ALIGN - ((6 + 2 + 2 + hlen) % ARRAY_ALIGN);
    let total_hlen = hlen + padlen;
    let mut out = Vec::with_capacity(10 + total_hlen);
    out.extend_from_slice(NPY_MAGIC);
    out.extend_from_slice(&[1, 0]);
    // A header of this form is < 2 KiB even with 64 dimensions of 20 digits.
    out.extend_from_slice(&(total_hlen as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat(b' ').take(padlen));
    out.push(b'\n');
    out
}

fn assert_shape(shape: &[usize], len: usize) {
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    assert!(
        n == Some(len),
        "npy writer: shape {shape:?} does not match {len} values"
    );
}

/// The bytes of a `.npy` file (`<f4`). Panics if `shape` does not hold `data.len()` values
/// (a programming error); check untrusted shapes first.
pub fn npy_bytes_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_shape(shape, data.len());
    let mut out = npy_header("<f4", shape);
    out.reserve(data.len() * 4);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The bytes of a `.npy` file (`<f8`). Panics if `shape` does not hold `data.len()` values.
pub fn npy_bytes_f64(shape: &[usize], data: &[f64]) -> Vec<u8> {
    assert_shape(shape, data.len());
    let mut out = npy_header("<f8", shape);
    out.reserve(data.len() * 8);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The bytes of a `.npy` file (`<i8`). Panics if `shape` does not hold `data.len()` values.
pub fn npy_bytes_i64(shape: &[usize], data: &[i64]) -> Vec<u8> {
    assert_shape(shape, data.len());
    let mut out = npy_header("<i8", shape);
    out.reserve(data.len() * 8);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes a `<f4` `.npy` file atomically (temporary file + rename).
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    crate::util::shape::check_shape(data.len(), shape)?;
    crate::util::fsutil::write_atomic(path, &npy_bytes_f32(shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = NPY_MAGIC.to_vec();
        v.extend_from_slice(&[1, 0]);
        v.extend_from_slice(&(header.len() as u16).to_le_bytes());
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn header_layout_matches_numpy_rules() {
        for shape in [vec![], vec![5], vec![256, 64], vec![3, 4, 5]] {
            let n: usize = shape.iter().product();
            let b = npy_bytes_f32(&shape, &vec![0.0; n]);
            let hdr = b.len() - 4 * n;
            assert_eq!(hdr % 64, 0);
            assert_eq!(b[hdr - 1], b'\n');
            let a = parse_npy(&b).unwrap();
            assert_eq!(a.shape, shape);
        }
        let b = npy_bytes_f32(&[2], &[1.0, 2.0]);
        let text = std::str::from_utf8(&b[10..b.len() - 8]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"));
    }

    #[test]
    fn round_trips_all_writers() {
        let a = parse_npy(&npy_bytes_f64(&[], &[2.5])).unwrap();
        assert_eq!(a.shape, Vec::<usize>::new());
        assert_eq!(a.scalar_f64().unwrap(), 2.5);
        let a = parse_npy(&npy_bytes_i64(&[3], &[-1, 0, i64::MAX])).unwrap();
        assert_eq!(a.data, NpyData::I64(vec![-1, 0, i64::MAX]));
        let a = parse_npy(&npy_bytes_f32(&[2, 0], &[])).unwrap();
        assert!(a.is_empty());
        assert!(a.scalar_f64().is_err());
    }

    #[test]
    fn python2_and_double_quoted_headers() {
        let b = with_header(
            "{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (2L,)}\n",
            &[1, 0, 0, 0, 2, 0, 0, 0],
        );
        assert_eq!(parse_npy(&b).unwrap().data, NpyData::I32(vec![1, 2]));
        let b = with_header(
            "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
            &1.5f32.to_be_bytes(),
        );
        assert_eq!(parse_npy(&b).unwrap().data, NpyData::F32(vec![1.5]));
    }

    #[test]
    fn hostile_headers_are_errors() {
        use crate::ErrorKind;
        let cases: Vec<(Vec<u8>, ErrorKind)> = vec![
            (vec![], ErrorKind::Truncated),
            (b"\x93NUM".to_vec(), ErrorKind::Truncated),
            (b"PK\x03\x04xxxxxxxx".to_vec(), ErrorKind::Corrupt),
            (b"\x93NUMPY\x01\x00\xff\xff{".to_vec(), ErrorKind::Truncated),
            (b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{".to_vec(), ErrorKind::TooLarge),
            (b"\x93NUMPY\x04\x00\x00\x00".to_vec(), ErrorKind::Corrupt),
            (with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", &[0; 4]), ErrorKind::Corrupt),
            (with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", &[0; 8]), ErrorKind::Corrupt),
            (with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", &[0; 4]), ErrorKind::Corrupt),
            (with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }", &[]), ErrorKind::TooLarge),
            (with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", &[]), ErrorKind::TooLarge),
            (with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", &[0; 8]), ErrorKind::Truncated),
            (with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", &[0; 5]), ErrorKind::Corrupt),
            (with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", &[]), ErrorKind::Corrupt),
            (with_header("{'descr': '<f4', 'fortran_order': False}", &[]), ErrorKind::Corrupt),
            (with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", &[0; 4]), ErrorKind::Corrupt),
            (with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", &[0; 4]), ErrorKind::Corrupt),
            (with_header("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", &[0; 4]), ErrorKind::Corrupt),
            (with_header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", &[0; 4]), ErrorKind::Corrupt),
        ];
        for (i, (bytes, kind)) in cases.into_iter().enumerate() {
            let e = parse_npy(&bytes).expect_err(&format!("case {i} should fail"));
            assert_eq!(e.kind(), kind, "case {i}: {e}");
        }
    }

    #[test]
    fn every_truncation_and_byte_flip_is_handled_without_panic() {
        let b = npy_bytes_f32(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        for n in 0..b.len() {
            assert!(parse_npy(&b[..n]).is_err(), "prefix {n}");
        }
        for i in 0..b.len() {
            for x in [0x00u8, 0xff, b'9', b'(', b')', b','] {
                let mut c = b.clone();
                c[i] = x;
                let _ = parse_npy(&c);
            }
        }
    }

    #[test]
    fn atomic_write_and_read_back() {
        let dir = std::env::temp_dir().join(format!("alcm-npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.npy");
        write_npy_f32(&p, &[2, 2], &[1.0, -2.0, 3.5, 0.0]).unwrap();
        let (d, s) = read_npy_f32(&p).unwrap();
        assert_eq!(s, vec![2, 2]);
        assert_eq!(d, vec![1.0, -2.0, 3.5, 0.0]);
        assert!(write_npy_f32(&p, &[3], &[1.0]).is_err());
        let e = read_npy(&dir.join("missing.npy")).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Io);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
