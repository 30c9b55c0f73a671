//! Archives through the C ABI: open a file and read tensors by name (whole or a row range) into
//! caller buffers, list the entries, and write an archive tensor by tensor. A thin layer over
//! `crate::archive`. Element types are the archive's dtype ids (docs/FORMAT.md, "Archive"):
//! 1 float32, 2 bfloat16, 3 float16, 4 float64 (the `ALCM_DTYPE_*` ids), 16–19 int8..int64,
//! 20–23 uint8..uint64, 24 bool, 32/33 float8; values cross in the platform's byte order.

use std::ffi::c_void;
use std::fs::File;
use std::os::raw::c_char;

use super::error::FfiError;
use super::handle::{
    box_handle, c_path, c_str, free_handle, handle_mut, handle_ref, out_ptr, out_slice,
    tensor_view, OpaqueHandle,
};
use super::panic::{ffi_status, ffi_void};
use super::status::alcm_status;
use crate::abi::{
    ALCM_MAX_RANK, ALCM_MAX_THREADS, ALCM_MODE_LOSSLESS, ALCM_MODE_MAX_ABS, ALCM_MODE_RELATIVE_L2,
};
use crate::archive::{
    ArchiveOptions, ArchiveReader, ArchiveWriter, AtomicFile, Bound, Dtype, EntryInfo, ReadOptions,
};

/// An open archive: its index in memory, the file open for reading. Create with
/// alcm_archive_open, free with alcm_archive_free. Reads need exclusive access (they move the
/// file position); the listing functions take a const pointer.
pub struct alcm_archive {
    _private: [u8; 0],
}

// SAFETY: the tag is unique among handle types.
unsafe impl OpaqueHandle for alcm_archive {
    type Inner = ArchiveReader<File>;
    const MAGIC: u64 = u64::from_be_bytes(*b"alcmARC1");
    const NAME: &'static str = "alcm_archive";
}

/// An archive being written: tensors are compressed and written as they are added, the index
/// when alcm_archive_writer_finish is called. Create with alcm_archive_writer_new, free with
/// alcm_archive_writer_free. Not for concurrent use.
pub struct alcm_archive_writer {
    _private: [u8; 0],
}

// SAFETY: the tag is unique among handle types.
unsafe impl OpaqueHandle for alcm_archive_writer {
    type Inner = Option<ArchiveWriter<AtomicFile>>;
    const MAGIC: u64 = u64::from_be_bytes(*b"alcmARW1");
    const NAME: &'static str = "alcm_archive_writer";
}

fn threads_arg(threads: u32) -> Result<usize, FfiError> {
    if !(1..=ALCM_MAX_THREADS).contains(&threads) {
        return Err(FfiError::invalid_argument(format!(
            "threads must be in 1..={ALCM_MAX_THREADS}, got {threads}"
        )));
    }
    Ok(threads as usize)
}

fn dtype_arg(dtype: u32) -> Result<Dtype, FfiError> {
    u8::try_from(dtype)
        .ok()
        .and_then(Dtype::from_id)
        .ok_or_else(|| {
            FfiError::invalid_argument(format!("dtype {dtype} is not an archive dtype id"))
        })
}

fn entry<'a>(a: &'a ArchiveReader<File>, name: &str) -> Result<&'a EntryInfo, FfiError> {
    a.entry(name).ok_or_else(|| {
        FfiError::invalid_argument(format!("no tensor named {name:?} in the archive"))
    })
}

/// --------------------------------------------------------------------------------------------
/// ARCHIVES
///
/// Many named tensors in one file (docs/FORMAT.md, "Archive"): alcm_archive_open reads the
/// index, alcm_archive_count / _name / _info list it, alcm_archive_read and _read_rows decode
/// one tensor or a row range of it (reading only its blocks). alcm_archive_writer_new,
/// _add (one tensor at a time, each with its mode and bound) and _finish write one. Element
/// types are archive dtype ids: 1 float32, 2 bfloat16, 3 float16, 4 float64 (ALCM_DTYPE_*),
/// 16-19 int8..int64, 20-23 uint8..uint64, 24 bool, 32 float8 e5m2, 33 float8 e4m3.
///
/// --------------------------------------------------------------------------------------------
///
/// Opens the archive file at `path` and reads its index (nothing else); reads decode on up to
/// `threads` threads (1..ALCM_MAX_THREADS), the values do not depend on it.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
/// ALCM_ERR_INVALID_ARGUMENT (empty `path`, `threads` out of range), ALCM_ERR_IO (the file
/// cannot be opened or read), ALCM_ERR_TRUNCATED, ALCM_ERR_CORRUPT, ALCM_ERR_CHECKSUM,
/// ALCM_ERR_TOO_LARGE (a damaged or hostile index: bad magic or version, index CRC, counts,
/// duplicate names, overlapping blocks).
/// Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_archive_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_open(
    path: *const c_char,
    threads: u32,
    out: *mut *mut alcm_archive,
) -> alcm_status {
    ffi_status("alcm_archive_open", || {
        // SAFETY: the caller upholds the documented contract.
        let (path, out) = unsafe { (c_path(path, "path")?, out_ptr(out, "out")?) };
        let threads = threads_arg(threads)?;
        let f = File::open(path).map_err(|e| crate::Error::io(path, e))?;
        let r = ArchiveReader::new(f, ReadOptions::default().with_threads(threads))?;
        out.write(box_handle::<alcm_archive>(r));
        Ok(())
    })
}

/// Frees an archive (closes its file). NULL is a no-op; a handle that is not a live archive is
/// left alone.
///
/// Memory: `archive` is NULL or a handle from alcm_archive_open, freed once and not used
/// afterwards.
/// Threads: any thread, once no other call uses `archive`.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_free(archive: *mut alcm_archive) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_archive_free", || unsafe { free_handle(archive) })
}

/// The number of tensors in the archive.
///
/// Returns: ALCM_OK; `*count` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`archive`, `count`), ALCM_ERR_INVALID_HANDLE.
/// Memory: nothing is allocated.
/// Threads: `archive` is only read: other threads may list the same archive at the same time.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_count(
    archive: *const alcm_archive,
    count: *mut usize,
) -> alcm_status {
    ffi_status("alcm_archive_count", || {
        // SAFETY: the caller upholds the documented contract.
        let (a, out) = unsafe { (handle_ref(archive, "archive")?, out_ptr(count, "count")?) };
        out.write(a.entries().len());
        Ok(())
    })
}

/// The name of tensor `index` (0-based, in the order written) as UTF-8 bytes, without a NUL.
/// With `dst` NULL and `dst_capacity` 0, only the length is returned.
///
/// Returns: ALCM_OK; `*name_len` is the name's length in bytes and, unless `dst` is NULL,
/// `dst[0..*name_len]` holds it (a NUL follows when `dst_capacity` > `*name_len`).
/// Errors: ALCM_ERR_NULL_POINTER (`archive`, `name_len`; `dst` with a non-zero capacity),
/// ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_ARGUMENT (`index` >= the count),
/// ALCM_ERR_BUFFER_TOO_SMALL (`dst_capacity` below the length; nothing written).
/// Memory: nothing is allocated; `dst` is the caller's.
/// Threads: `archive` is only read: other threads may list the same archive at the same time.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_name(
    archive: *const alcm_archive,
    index: usize,
    dst: *mut c_char,
    dst_capacity: usize,
    name_len: *mut usize,
) -> alcm_status {
    ffi_status("alcm_archive_name", || {
        // SAFETY: the caller upholds the documented contract.
        let (a, len) = unsafe {
            (
                handle_ref(archive, "archive")?,
                out_ptr(name_len, "name_len")?,
            )
        };
        let e = a.entries().get(index).ok_or_else(|| {
            FfiError::invalid_argument(format!(
                "index {index} is outside the archive's {} tensors",
                a.entries().len()
            ))
        })?;
        let name = e.name.as_bytes();
        if !(dst.is_null() && dst_capacity == 0) {
            // SAFETY: the caller promises `dst_capacity` writable bytes at `dst`.
            let out = unsafe { out_slice(dst.cast::<u8>(), dst_capacity, "dst")? };
            let with_nul: Vec<u8> = name.iter().copied().chain([0]).collect();
            let fits = &with_nul[..with_nul.len().min(dst_capacity.max(name.len()))];
            out.write_from(fits)?;
        }
        len.write(name.len());
        Ok(())
    })
}

/// The index entry of tensor `name` (a NUL-terminated UTF-8 string): its element type (archive
/// dtype id), mode (ALCM_MODE_RELATIVE_L2, _MAX_ABS or _LOSSLESS), rank and shape, the bound
/// it was written with (0 for lossless) and the error achieved at writing (relative L2 over
/// the tensor or max abs, as the index stores it: rounded up to 1/65535 of the bound).
///
/// Returns: ALCM_OK; every output is written only on success; `shape` receives `*rank` values.
/// Errors: ALCM_ERR_NULL_POINTER (any pointer), ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_UTF8
/// (`name`), ALCM_ERR_INVALID_ARGUMENT (no such tensor).
/// Memory: `shape` must hold ALCM_MAX_RANK values; every argument is borrowed for the call.
/// Threads: `archive` is only read: other threads may list the same archive at the same time.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_info(
    archive: *const alcm_archive,
    name: *const c_char,
    dtype: *mut u32,
    mode: *mut u32,
    rank: *mut usize,
    shape: *mut usize,
    bound: *mut f64,
    achieved: *mut f64,
) -> alcm_status {
    ffi_status("alcm_archive_info", || {
        // SAFETY: the caller upholds the documented contract.
        let (a, name, dt, md, rk, sh, bd, ac) = unsafe {
            (
                handle_ref(archive, "archive")?,
                c_str(name, "name")?,
                out_ptr(dtype, "dtype")?,
                out_ptr(mode, "mode")?,
                out_ptr(rank, "rank")?,
                out_slice(shape, ALCM_MAX_RANK, "shape")?,
                out_ptr(bound, "bound")?,
                out_ptr(achieved, "achieved")?,
            )
        };
        let e = entry(a, name)?;
        let (m, b) = match e.bound {
            Bound::Lossless => (ALCM_MODE_LOSSLESS, 0.0),
            Bound::RelativeL2(t) => (ALCM_MODE_RELATIVE_L2, t),
            Bound::MaxAbs(t) => (ALCM_MODE_MAX_ABS, t),
        };
        sh.write_from(&e.shape)?;
        dt.write(u32::from(e.dtype.id()));
        md.write(m);
        rk.write(e.shape.len());
        bd.write(b);
        ac.write(e.achieved);
        Ok(())
    })
}

/// Reads tensor `name` whole (rows 0..shape[0]) or rows `row_start..row_end` of its first axis
/// into `dst`; `None` reads it whole.
///
/// # Safety
/// As the exported readers.
unsafe fn read_into(
    archive: *mut alcm_archive,
    name: *const c_char,
    dtype: u32,
    rows: Option<(usize, usize)>,
    dst: *mut c_void,
    dst_capacity: usize,
    n_values: *mut usize,
) -> Result<(), FfiError> {
    let d = dtype_arg(dtype)?;
    // SAFETY: the caller upholds the documented contract.
    let (a, name, n_out) = unsafe {
        (
            handle_mut(archive, "archive")?,
            c_str(name, "name")?,
            out_ptr(n_values, "n_values")?,
        )
    };
    let e = entry(a, name)?;
    if e.dtype != d {
        return Err(FfiError::invalid_argument(format!(
            "{name} holds {:?} values (dtype id {}), not dtype id {dtype}",
            e.dtype,
            e.dtype.id()
        )));
    }
    let n_rows = match rows {
        Some((s, t)) if s <= t && e.shape.first().is_some_and(|&r| t <= r) => (t - s) as u64,
        Some((s, t)) => {
            return Err(FfiError::invalid_argument(format!(
                "rows {s}..{t} are not a range of {name}'s first axis (shape {:?})",
                e.shape
            )))
        }
        None => e.shape.first().map_or(1, |&r| r as u64),
    };
    let n = n_rows * e.row_len();
    if n > dst_capacity as u64 {
        return Err(FfiError::buffer_too_small(format!(
            "{name} gives {n} values, dst holds {dst_capacity}"
        )));
    }
    let le = match rows {
        Some((s, t)) => a.read_rows_bytes(name, s..t)?,
        None => a.read_bytes(name)?,
    };
    // SAFETY: the caller promises `dst_capacity` writable values of the type at `dst`; each
    // view checks NULL and alignment for the type's width.
    let written = unsafe {
        match d.size() {
            1 => out_slice(dst.cast::<u8>(), dst_capacity, "dst")?.write_from(&le)?,
            2 => out_slice(dst.cast::<u16>(), dst_capacity, "dst")?.write_from(
                &le.chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect::<Vec<_>>(),
            )?,
            4 => out_slice(dst.cast::<u32>(), dst_capacity, "dst")?.write_from(
                &le.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<_>>(),
            )?,
            _ => out_slice(dst.cast::<u64>(), dst_capacity, "dst")?.write_from(
                &le.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                    .collect::<Vec<_>>(),
            )?,
        }
    };
    n_out.write(written);
    Ok(())
}

/// Reads tensor `name` (a NUL-terminated UTF-8 string) of element type `dtype` (its archive
/// dtype id, see alcm_archive_info) into `dst`, C order, in the platform's byte order
/// (bfloat16 and float16 as their 16-bit patterns, bool as one byte). `dst_capacity` counts
/// values of that type. Reads only the tensor's blocks, each checked against its CRC.
///
/// Returns: ALCM_OK; `dst[0..*n_values]` holds the values (lossy tensors their decoded values).
/// Errors: ALCM_ERR_NULL_POINTER, ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_UTF8 (`name`),
/// ALCM_ERR_INVALID_ARGUMENT (no such tensor, `dtype` not the tensor's, `dst` misaligned),
/// ALCM_ERR_BUFFER_TOO_SMALL (checked before reading), ALCM_ERR_TOO_LARGE (more than 2^32
/// values), ALCM_ERR_IO, ALCM_ERR_CHECKSUM, ALCM_ERR_CORRUPT, ALCM_ERR_TRUNCATED (a damaged
/// block). Outputs are written only on success.
/// Memory: `name` is borrowed for the call; `dst` is the caller's; the tensor is decoded into
/// a temporary buffer first.
/// Threads: reads move the file position: one call at a time per archive.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_read(
    archive: *mut alcm_archive,
    name: *const c_char,
    dtype: u32,
    dst: *mut c_void,
    dst_capacity: usize,
    n_values: *mut usize,
) -> alcm_status {
    ffi_status("alcm_archive_read", || {
        // SAFETY: forwarded contract.
        unsafe { read_into(archive, name, dtype, None, dst, dst_capacity, n_values) }
    })
}

/// Reads rows `row_start..row_end` (first-axis slices) of tensor `name`, like
/// alcm_archive_read otherwise; only the blocks holding those rows are read and decoded.
///
/// Returns: ALCM_OK; `dst[0..*n_values]` holds the rows' values, C order.
/// Errors: those of alcm_archive_read, and ALCM_ERR_INVALID_ARGUMENT for a scalar tensor or a
/// range that is reversed or passes the first axis.
/// Memory: as alcm_archive_read.
/// Threads: reads move the file position: one call at a time per archive.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_read_rows(
    archive: *mut alcm_archive,
    name: *const c_char,
    dtype: u32,
    row_start: usize,
    row_end: usize,
    dst: *mut c_void,
    dst_capacity: usize,
    n_values: *mut usize,
) -> alcm_status {
    ffi_status("alcm_archive_read_rows", || {
        let rows = Some((row_start, row_end));
        // SAFETY: forwarded contract.
        unsafe { read_into(archive, name, dtype, rows, dst, dst_capacity, n_values) }
    })
}

/// Starts the archive file `path`, written atomically: the tensors go to a temporary file
/// beside it (`.NAME.tmp.PID.THREAD` in the same directory), which alcm_archive_writer_finish
/// renames over `path` (replacing a file there), so readers see either the old file or the
/// complete archive. Tensors are split into independently readable blocks of about
/// `block_values` values (0: the default, 2^20); each block is compressed on up to `threads`
/// threads (1..ALCM_MAX_THREADS), the bytes do not depend on it. A writer freed without
/// alcm_archive_writer_finish removes its temporary file and leaves `path` untouched.
///
/// Returns: ALCM_OK; `*out` is written only on success.
/// Errors: ALCM_ERR_NULL_POINTER (`path`, `out`), ALCM_ERR_INVALID_UTF8 (`path`),
/// ALCM_ERR_INVALID_ARGUMENT (empty `path`, `threads` out of range), ALCM_ERR_IO (the
/// temporary file cannot be created or written).
/// Memory: `path` is borrowed for the call. `*out` is owned by the caller: free it with
/// alcm_archive_writer_free.
/// Threads: any thread.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_writer_new(
    path: *const c_char,
    threads: u32,
    block_values: usize,
    out: *mut *mut alcm_archive_writer,
) -> alcm_status {
    ffi_status("alcm_archive_writer_new", || {
        // SAFETY: the caller upholds the documented contract.
        let (path, out) = unsafe { (c_path(path, "path")?, out_ptr(out, "out")?) };
        let mut options = ArchiveOptions::default().with_threads(threads_arg(threads)?);
        if block_values != 0 {
            options = options.with_block_values(block_values);
        }
        let w = ArchiveWriter::create(path, options)?;
        out.write(box_handle::<alcm_archive_writer>(Some(w)));
        Ok(())
    })
}

/// Compresses the tensor `(data, rank, shape)` of element type `dtype` (an archive dtype id;
/// values in the platform's byte order, bfloat16 and float16 as their 16-bit patterns) and
/// appends it as `name` (a NUL-terminated UTF-8 string, new in the archive) with `mode`
/// (ALCM_MODE_RELATIVE_L2, _MAX_ABS or _LOSSLESS) and `bound` (the target of a lossy mode,
/// ignored for lossless). The four float types are coded with the bound holding on the values
/// a reader gets back; other types are stored raw, losslessly, whatever the mode.
///
/// Returns: ALCM_OK; the tensor is written.
/// Errors: ALCM_ERR_NULL_POINTER, ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_UTF8 (`name`),
/// ALCM_ERR_INVALID_ARGUMENT (unknown `dtype`, unsupported `mode`, a name already written, a
/// writer already finished, `data` misaligned, rank above ALCM_MAX_RANK),
/// ALCM_ERR_INVALID_CONFIG (a bound that is not finite and positive, or ≥ 1 for relative L2),
/// ALCM_ERR_TOO_LARGE (shape overflow), ALCM_ERR_IO (writing failed). On error nothing of this
/// tensor is in the index (bytes of a failed write may be, and the writer should be dropped).
/// Memory: every input is borrowed for the call; only the tensor's compressed blocks are held.
/// Threads: one call at a time per writer.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_writer_add(
    writer: *mut alcm_archive_writer,
    name: *const c_char,
    dtype: u32,
    data: *const c_void,
    rank: usize,
    shape: *const usize,
    mode: u32,
    bound: f64,
) -> alcm_status {
    ffi_status("alcm_archive_writer_add", || {
        let d = dtype_arg(dtype)?;
        let b = match mode {
            ALCM_MODE_LOSSLESS => Bound::Lossless,
            ALCM_MODE_RELATIVE_L2 => Bound::RelativeL2(bound),
            ALCM_MODE_MAX_ABS => Bound::MaxAbs(bound),
            _ => {
                return Err(FfiError::invalid_argument(format!(
                    "mode {mode} is not ALCM_MODE_RELATIVE_L2, _MAX_ABS or _LOSSLESS"
                )))
            }
        };
        // SAFETY: the caller upholds the documented contract; each view reads `data` as the
        // type's unsigned integer of its width (alignment checked).
        let (w, name, le, shape) = unsafe {
            let (le, shape): (Vec<u8>, Vec<usize>) = match d.size() {
                1 => {
                    let t = tensor_view(data.cast::<u8>(), rank, shape)?;
                    (t.data.to_vec(), t.shape)
                }
                2 => {
                    let t = tensor_view(data.cast::<u16>(), rank, shape)?;
                    (
                        t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                        t.shape,
                    )
                }
                4 => {
                    let t = tensor_view(data.cast::<u32>(), rank, shape)?;
                    (
                        t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                        t.shape,
                    )
                }
                _ => {
                    let t = tensor_view(data.cast::<u64>(), rank, shape)?;
                    (
                        t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                        t.shape,
                    )
                }
            };
            (
                handle_mut(writer, "writer")?,
                c_str(name, "name")?,
                le,
                shape,
            )
        };
        let w = w
            .as_mut()
            .ok_or_else(|| FfiError::invalid_argument("the archive writer is finished"))?;
        w.add_typed(name, d, &shape, &le, b)?;
        Ok(())
    })
}

/// Writes the index and footer, syncs the temporary file and renames it over the archive's
/// path; the writer accepts no more tensors (free it with alcm_archive_writer_free).
///
/// Returns: ALCM_OK; the archive is complete.
/// Errors: ALCM_ERR_NULL_POINTER, ALCM_ERR_INVALID_HANDLE, ALCM_ERR_INVALID_ARGUMENT (already
/// finished), ALCM_ERR_IO (writing failed).
/// Memory: the writer's index is released.
/// Threads: one call at a time per writer.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_writer_finish(
    writer: *mut alcm_archive_writer,
) -> alcm_status {
    ffi_status("alcm_archive_writer_finish", || {
        // SAFETY: the caller upholds the documented contract.
        let w = unsafe { handle_mut(writer, "writer")? };
        let w = w
            .take()
            .ok_or_else(|| FfiError::invalid_argument("the archive writer is finished"))?;
        w.finish()?.commit()?;
        Ok(())
    })
}

/// Frees an archive writer (an unfinished archive's temporary file is removed, its path left
/// untouched). NULL is a no-op; a handle that is not a live writer is left alone.
///
/// Memory: `writer` is NULL or a handle from alcm_archive_writer_new, freed once and not used
/// afterwards.
/// Threads: any thread, once no other call uses `writer`.
#[no_mangle]
pub unsafe extern "C" fn alcm_archive_writer_free(writer: *mut alcm_archive_writer) {
    // SAFETY: the caller upholds the documented contract; NULL is a no-op.
    ffi_void("alcm_archive_writer_free", || unsafe {
        free_handle(writer)
    })
}
