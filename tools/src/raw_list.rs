//! The raw tensor lists the lossless tools read on stdin (`lossless_raw`, `lossless_hashes`,
//! `lossless_trials`): one `WIDTH PATH [DIM...]` line per tensor, the file holding raw
//! little-endian elements of WIDTH bytes, the dimensions its shape (blank lines skipped).

use std::io::BufRead;

/// One tensor of the list: its element width, path, shape and bytes.
pub struct RawTensor {
    pub width: usize,
    pub path: String,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// The tensors of the list on stdin, each file read when its turn comes; a malformed line or
/// an unreadable file stops the tool with a message.
pub fn stdin_tensors() -> impl Iterator<Item = RawTensor> {
    std::io::stdin().lock().lines().filter_map(|line| {
        let line = line.expect("stdin");
        let mut f = line.split_whitespace();
        let (w, path) = (f.next()?, f.next()?);
        let width: usize = w.parse().expect("width");
        let shape: Vec<usize> = f.map(|d| d.parse().expect("dimension")).collect();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Some(RawTensor {
            width,
            path: path.to_string(),
            shape,
            bytes,
        })
    })
}
