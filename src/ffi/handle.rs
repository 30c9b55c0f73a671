//! From C pointers to Rust references, with every check in one place.
//!
//! * Plain pointers: [`in_ref`], [`out_ptr`], [`in_slice`], [`out_slice`] (NULL →
//!   `ALCM_ERR_NULL_POINTER`, misaligned → `ALCM_ERR_INVALID_ARGUMENT`).
//! * Strings: [`c_str`], [`c_path`] (NULL → `ALCM_ERR_NULL_POINTER`, bad UTF-8 →
//!   `ALCM_ERR_INVALID_UTF8`).
//! * Tensors: [`tensor_view`] turns `(data, rank, shape)` into a C-contiguous f32 view.
//! * Opaque handles: a C type `alcm_foo` is a zero-sized marker that implements
//!   [`OpaqueHandle`]; the object behind the pointer is a boxed `Tagged { magic, inner }`.
//!   [`box_handle`] creates it, [`handle_ref`]/[`handle_mut`] check the tag on every call
//!   (wrong-type handles, and freed ones while their memory is not reused, give
//!   `ALCM_ERR_INVALID_HANDLE`), and [`free_handle`] accepts NULL and overwrites the tag before
//!   dropping. Detection of freed handles is best effort: using a freed pointer is still
//!   undefined behaviour on the C side.
//!
//! The functions are `unsafe`: the checks catch NULL, misalignment and foreign tags, but only
//! the caller can promise that a non-NULL pointer points to live memory of the stated size.

use std::marker::PhantomData;
use std::mem::{align_of, size_of, MaybeUninit};
use std::os::raw::c_char;
use std::path::Path;

use super::error::{FfiError, FfiResult};
use super::status::alcm_status;
use crate::abi::{ALCM_MAX_ELEMENTS, ALCM_MAX_RANK};

fn max_elements() -> usize {
    let by_isize = isize::MAX as usize / size_of::<f32>();
    usize::try_from(ALCM_MAX_ELEMENTS).map_or(by_isize, |m| m.min(by_isize))
}

fn check_aligned<T>(p: *const T, arg: &str) -> FfiResult<()> {
    if (p as usize) % align_of::<T>() != 0 {
        return Err(FfiError::invalid_argument(format!(
            "{arg} is not aligned to {} bytes",
            align_of::<T>()
        )));
    }
    Ok(())
}

/// A shared reference to a caller-owned input value.
///
/// # Safety
/// If non-NULL, `p` must point to a valid `T` that stays alive and unmodified for `'a`.
pub unsafe fn in_ref<'a, T>(p: *const T, arg: &str) -> FfiResult<&'a T> {
    if p.is_null() {
        return Err(FfiError::null(arg));
    }
    check_aligned(p, arg)?;
    // SAFETY: non-NULL and aligned (checked); validity and lifetime are the caller's contract.
    Ok(unsafe { &*p })
}

/// A checked out-parameter. Validate all outputs first, compute, then [`Out::write`] at the
/// very end: that is how "outputs are written only on success" is kept.
pub struct Out<'a, T> {
    ptr: *mut T,
    _life: PhantomData<&'a mut T>,
}

impl<T> Out<'_, T> {
    /// Writes the value without reading or dropping what was there (C memory may be garbage).
    pub fn write(self, value: T) {
        // SAFETY: `ptr` was checked non-NULL and aligned by `out_ptr`, whose caller promised
        // it points to writable memory for a `T`.
        unsafe { self.ptr.write(value) }
    }
}

/// Checks an out-parameter (NULL → `ALCM_ERR_NULL_POINTER`).
///
/// # Safety
/// If non-NULL, `p` must point to memory writable as a `T` for `'a`, not aliased by any input.
pub unsafe fn out_ptr<'a, T>(p: *mut T, arg: &str) -> FfiResult<Out<'a, T>> {
    if p.is_null() {
        return Err(FfiError::null(arg));
    }
    check_aligned(p, arg)?;
    Ok(Out {
        ptr: p,
        _life: PhantomData,
    })
}

/// An optional out-parameter: NULL is `None`, anything else is checked as by [`out_ptr`].
///
/// # Safety
/// As [`out_ptr`].
pub unsafe fn opt_out_ptr<'a, T>(p: *mut T, arg: &str) -> FfiResult<Option<Out<'a, T>>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { out_ptr(p, arg) }.map(Some)
}

fn check_len<T>(len: usize, arg: &str) -> FfiResult<()> {
    if size_of::<T>() != 0 && len > isize::MAX as usize / size_of::<T>() {
        return Err(FfiError::too_large(format!(
            "{arg}: {len} elements exceed the address space"
        )));
    }
    Ok(())
}

/// A caller-owned input array of `len` elements. NULL is accepted only when `len` is 0.
///
/// # Safety
/// If `len > 0`, `p` must point to `len` initialised `T`s that stay unmodified for `'a`.
pub unsafe fn in_slice<'a, T>(p: *const T, len: usize, arg: &str) -> FfiResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(FfiError::null(arg));
    }
    check_aligned(p, arg)?;
    check_len::<T>(len, arg)?;
    // SAFETY: non-NULL, aligned, size fits isize (checked); the caller promises `len` valid,
    // unaliased-by-writers elements.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A caller-allocated output array of `len` elements, possibly uninitialised.
pub struct OutSlice<'a, T> {
    buf: &'a mut [MaybeUninit<T>],
}

impl<T: Copy> OutSlice<'_, T> {
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Copies `src` to the front of the buffer; `ALCM_ERR_BUFFER_TOO_SMALL` (nothing written)
    /// when it does not fit. Returns the number of elements written.
    pub fn write_from(self, src: &[T]) -> FfiResult<usize> {
        if src.len() > self.buf.len() {
            return Err(FfiError::buffer_too_small(format!(
                "need {} elements, the buffer holds {}",
                src.len(),
                self.buf.len()
            )));
        }
        for (d, s) in self.buf.iter_mut().zip(src) {
            d.write(*s);
        }
        Ok(src.len())
    }
    /// The raw, possibly uninitialised buffer (for encoders writing in place).
    pub fn as_uninit(&mut self) -> &mut [MaybeUninit<T>] {
        self.buf
    }
}

/// Checks a caller-allocated output array. NULL is accepted only when `len` is 0.
///
/// # Safety
/// If `len > 0`, `p` must point to `len` writable `T`s, not aliased by any input, for `'a`.
pub unsafe fn out_slice<'a, T>(p: *mut T, len: usize, arg: &str) -> FfiResult<OutSlice<'a, T>> {
    if len == 0 {
        return Ok(OutSlice { buf: &mut [] });
    }
    if p.is_null() {
        return Err(FfiError::null(arg));
    }
    check_aligned(p, arg)?;
    check_len::<T>(len, arg)?;
    // SAFETY: non-NULL, aligned, size fits isize (checked); MaybeUninit<T> has T's layout and
    // no validity requirement, and the caller promises exclusive writable memory.
    let buf = unsafe { std::slice::from_raw_parts_mut(p.cast::<MaybeUninit<T>>(), len) };
    Ok(OutSlice { buf })
}

/// A NUL-terminated UTF-8 string argument (NULL → `ALCM_ERR_NULL_POINTER`, invalid UTF-8 →
/// `ALCM_ERR_INVALID_UTF8`).
///
/// # Safety
/// If non-NULL, `p` must point to a NUL-terminated string that stays unmodified for `'a`.
pub unsafe fn c_str<'a>(p: *const c_char, arg: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(FfiError::null(arg));
    }
    // SAFETY: non-NULL; NUL termination and lifetime are the caller's contract.
    let c = unsafe { std::ffi::CStr::from_ptr(p) };
    c.to_str().map_err(|e| {
        FfiError::new(
            alcm_status::ALCM_ERR_INVALID_UTF8,
            format!("{arg} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// A file path argument: a NUL-terminated UTF-8 string, which must not be empty.
///
/// # Safety
/// As [`c_str`].
pub unsafe fn c_path<'a>(p: *const c_char, arg: &str) -> FfiResult<&'a Path> {
    // SAFETY: forwarded contract.
    let s = unsafe { c_str(p, arg) }?;
    if s.is_empty() {
        return Err(FfiError::invalid_argument(format!(
            "{arg} is an empty path"
        )));
    }
    Ok(Path::new(s))
}

/// A C-contiguous (row-major) float32 tensor borrowed from C.
#[derive(Debug)]
pub struct TensorView<'a, T = f32> {
    pub data: &'a [T],
    pub shape: Vec<usize>,
}

/// Views `(data, rank, shape)` as a C-contiguous float32 tensor.
///
/// Rules: `rank <= ALCM_MAX_RANK` (else `ALCM_ERR_INVALID_ARGUMENT`); `shape` may be NULL only
/// when `rank` is 0 (a scalar, one element); the element count is the product of the shape,
/// computed with overflow checks (overflow or more than `ALCM_MAX_ELEMENTS` →
/// `ALCM_ERR_TOO_LARGE`); `data` may be NULL only when the count is 0 and must otherwise be
/// 4-byte aligned.
///
/// # Safety
/// If `rank > 0`, `shape` must point to `rank` readable `size_t`s; if the element count is
/// non-zero, `data` must point to that many floats that stay unmodified for `'a`.
pub unsafe fn tensor_view<'a, T>(
    data: *const T,
    rank: usize,
    shape: *const usize,
) -> FfiResult<TensorView<'a, T>> {
    if rank > ALCM_MAX_RANK {
        return Err(FfiError::invalid_argument(format!(
            "rank {rank} exceeds ALCM_MAX_RANK ({ALCM_MAX_RANK})"
        )));
    }
    // SAFETY: rank <= 8, and the caller promises `rank` readable dims when rank > 0.
    let dims = unsafe { in_slice(shape, rank, "shape") }?;
    let mut count: usize = 1;
    for (i, &d) in dims.iter().enumerate() {
        count = count.checked_mul(d).ok_or_else(|| {
            FfiError::too_large(format!("shape {dims:?} overflows size_t at dimension {i}"))
        })?;
    }
    if count > max_elements() {
        return Err(FfiError::too_large(format!(
            "shape {dims:?} holds {count} elements, more than the limit {}",
            max_elements()
        )));
    }
    // SAFETY: count is bounded above; the caller promises `count` readable values.
    let values = unsafe { in_slice(data, count, "data") }?;
    Ok(TensorView {
        data: values,
        shape: dims.to_vec(),
    })
}

/// An opaque C handle type. Implement it for a zero-sized marker struct named as in C
/// (`pub struct alcm_encoder { _private: [u8; 0] }`, which cbindgen emits as an incomplete
/// type) and choose a `MAGIC` unique across all handle types (e.g. 8 ASCII bytes).
///
/// # Safety
/// `MAGIC` must differ from every other handle type's and from [`FREED_MAGIC`].
pub unsafe trait OpaqueHandle: Sized {
    /// The Rust object the handle owns.
    type Inner;
    /// Tag stored in front of the object and checked on every call.
    const MAGIC: u64;
    /// C type name, for messages.
    const NAME: &'static str;
}

/// The tag a handle gets just before it is freed.
pub const FREED_MAGIC: u64 = u64::from_be_bytes(*b"alcmFREE");

#[repr(C)]
struct Tagged<I> {
    magic: u64,
    inner: I,
}

/// Moves `inner` to the heap and returns it as an owned handle (free with [`free_handle`]).
pub fn box_handle<H: OpaqueHandle>(inner: H::Inner) -> *mut H {
    Box::into_raw(Box::new(Tagged {
        magic: H::MAGIC,
        inner,
    }))
    .cast::<H>()
}

/// Checks the pointer and tag of a handle; returns the tagged object.
///
/// # Safety
/// `p` must be NULL or a pointer the caller obtained from alcm (possibly freed: best effort).
unsafe fn tagged<H: OpaqueHandle>(p: *const H, arg: &str) -> FfiResult<*mut Tagged<H::Inner>> {
    if p.is_null() {
        return Err(FfiError::null(arg));
    }
    let t = p.cast::<Tagged<H::Inner>>().cast_mut();
    if (t as usize) % align_of::<Tagged<H::Inner>>() != 0 {
        return Err(FfiError::invalid_handle(format!(
            "{arg} is not a valid {} handle",
            H::NAME
        )));
    }
    // SAFETY: non-NULL and aligned; the caller promises it came from alcm, so at least the
    // 8-byte tag is readable. Volatile: the check must really look at memory.
    let magic = unsafe { std::ptr::addr_of!((*t).magic).read_volatile() };
    if magic == H::MAGIC {
        Ok(t)
    } else if magic == FREED_MAGIC {
        Err(FfiError::invalid_handle(format!(
            "{arg}: {} handle used after free",
            H::NAME
        )))
    } else {
        Err(FfiError::invalid_handle(format!(
            "{arg} is not a {} handle (wrong type, freed or corrupted)",
            H::NAME
        )))
    }
}

/// A shared reference to a handle's object (for `const alcm_x*` parameters).
///
/// # Safety
/// `p` must be NULL or a handle from alcm that no other thread is mutating or freeing.
pub unsafe fn handle_ref<'a, H: OpaqueHandle>(p: *const H, arg: &str) -> FfiResult<&'a H::Inner> {
    // SAFETY: forwarded contract; `tagged` checked NULL, alignment and tag.
    unsafe { tagged(p, arg).map(|t| &(*t).inner) }
}

/// An exclusive reference to a handle's object (for `alcm_x*` parameters).
///
/// # Safety
/// `p` must be NULL or a handle from alcm to which the caller has exclusive access.
pub unsafe fn handle_mut<'a, H: OpaqueHandle>(p: *mut H, arg: &str) -> FfiResult<&'a mut H::Inner> {
    // SAFETY: forwarded contract; `tagged` checked NULL, alignment and tag.
    unsafe { tagged(p, arg).map(|t| &mut (*t).inner) }
}

/// Frees a handle. NULL is a no-op (`Ok`). A wrong-type or already-freed handle gives
/// `ALCM_ERR_INVALID_HANDLE` and is left alone (leaking is better than corrupting the heap).
///
/// # Safety
/// `p` must be NULL or a handle from alcm that no other thread is using.
pub unsafe fn free_handle<H: OpaqueHandle>(p: *mut H) -> FfiResult<()> {
    if p.is_null() {
        return Ok(());
    }
    // SAFETY: forwarded contract; checks NULL, alignment and tag.
    let t = unsafe { tagged(p, "handle") }?;
    // SAFETY: `t` is a live Tagged<Inner> from `box_handle` (tag checked). Volatile so the
    // store is not removed as dead before the deallocation; then the Box is rebuilt from the
    // pointer `Box::into_raw` gave and dropped exactly once.
    unsafe {
        std::ptr::addr_of_mut!((*t).magic).write_volatile(FREED_MAGIC);
        drop(Box::from_raw(t));
    }
    Ok(())
}

/// Refuses a `dst` of `capacity` bytes that may not hold the frame of `n_values` values
/// (`alcm_compress_bound`). Called before compressing, so that a too-small buffer never consumes
/// an error-feedback residual.
pub fn check_compress_bound(n_values: usize, capacity: usize) -> FfiResult<()> {
    let bound = crate::compress_bound(n_values);
    if bound > capacity {
        return Err(FfiError::buffer_too_small(format!(
            "dst holds {capacity} bytes; size it with alcm_compress_bound ({bound})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alcm_status::*;

    #[allow(non_camel_case_types)]
    struct test_a {
        _private: [u8; 0],
    }
    // SAFETY: unique tag.
    unsafe impl OpaqueHandle for test_a {
        type Inner = String;
        const MAGIC: u64 = u64::from_be_bytes(*b"alcmTSTA");
        const NAME: &'static str = "test_a";
    }
    #[allow(non_camel_case_types)]
    struct test_b {
        _private: [u8; 0],
    }
    // SAFETY: unique tag.
    unsafe impl OpaqueHandle for test_b {
        type Inner = String;
        const MAGIC: u64 = u64::from_be_bytes(*b"alcmTSTB");
        const NAME: &'static str = "test_b";
    }

    #[test]
    fn handles_check_type_and_free() {
        let a = box_handle::<test_a>("hello".to_string());
        // SAFETY: `a` is a live handle used on this thread only.
        unsafe {
            assert_eq!(handle_ref(a.cast_const(), "a").unwrap(), "hello");
            handle_mut(a, "a").unwrap().push('!');
            assert_eq!(handle_ref(a.cast_const(), "a").unwrap(), "hello!");
            let wrong = a.cast::<test_b>();
            let e = handle_ref(wrong.cast_const(), "b").unwrap_err();
            assert_eq!(e.status, ALCM_ERR_INVALID_HANDLE);
            assert_eq!(
                free_handle(wrong).unwrap_err().status,
                ALCM_ERR_INVALID_HANDLE
            );
            let e = handle_ref::<test_a>(std::ptr::null(), "a").unwrap_err();
            assert_eq!(e.status, ALCM_ERR_NULL_POINTER);
            assert_eq!(free_handle::<test_a>(std::ptr::null_mut()), Ok(()));
            // A retired tag (what free writes) is refused; then the real free.
            let t = a.cast::<Tagged<String>>();
            (*t).magic = FREED_MAGIC;
            let e = handle_ref(a.cast_const(), "a").unwrap_err();
            assert_eq!(e.status, ALCM_ERR_INVALID_HANDLE);
            assert!(e.message.contains("after free"), "{}", e.message);
            (*t).magic = test_a::MAGIC;
            free_handle(a).unwrap();
        }
    }

    #[test]
    fn tensor_views_are_checked() {
        let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let shape = [2usize, 3];
        // SAFETY: all pointers below are valid for the lengths passed (or NULL on purpose).
        unsafe {
            let v = tensor_view(data.as_ptr(), 2, shape.as_ptr()).unwrap();
            assert_eq!((v.data.len(), v.shape.clone()), (6, vec![2, 3]));
            let v = tensor_view(data.as_ptr(), 0, std::ptr::null()).unwrap();
            assert_eq!((v.data.len(), v.shape.len()), (1, 0));
            let st = |r: FfiResult<TensorView>| r.unwrap_err().status;
            assert_eq!(
                st(tensor_view(std::ptr::null::<f32>(), 2, shape.as_ptr())),
                ALCM_ERR_NULL_POINTER
            );
            assert_eq!(
                st(tensor_view(data.as_ptr(), 2, std::ptr::null())),
                ALCM_ERR_NULL_POINTER
            );
            let empty = [4usize, 0];
            let v = tensor_view(std::ptr::null::<f32>(), 2, empty.as_ptr()).unwrap();
            assert!(v.data.is_empty());
            let big = [1usize; 9];
            assert_eq!(
                st(tensor_view(data.as_ptr(), 9, big.as_ptr())),
                ALCM_ERR_INVALID_ARGUMENT
            );
            let huge = [usize::MAX, 2];
            assert_eq!(
                st(tensor_view(data.as_ptr(), 2, huge.as_ptr())),
                ALCM_ERR_TOO_LARGE
            );
            let over = [1usize << 21, 1 << 20];
            assert_eq!(
                st(tensor_view(data.as_ptr(), 2, over.as_ptr())),
                ALCM_ERR_TOO_LARGE
            );
            let bytes = [0u8; 16];
            let odd = bytes.as_ptr().add(1).cast::<f32>();
            assert_eq!(
                st(tensor_view(odd, 1, [1usize].as_ptr())),
                ALCM_ERR_INVALID_ARGUMENT
            );
        }
    }

    #[test]
    fn strings_and_slices() {
        // SAFETY: literals are NUL-terminated and static; slices valid for their lengths.
        unsafe {
            assert_eq!(c_str(b"abc\0".as_ptr().cast(), "s").unwrap(), "abc");
            let e = c_str(b"a\xff\0".as_ptr().cast(), "s").unwrap_err();
            assert_eq!(e.status, ALCM_ERR_INVALID_UTF8);
            assert_eq!(
                c_str(std::ptr::null(), "s").unwrap_err().status,
                ALCM_ERR_NULL_POINTER
            );
            let e = c_path(b"\0".as_ptr().cast(), "p").unwrap_err();
            assert_eq!(e.status, ALCM_ERR_INVALID_ARGUMENT);
            assert!(in_slice::<u8>(std::ptr::null(), 0, "x").unwrap().is_empty());
            let mut buf = [0u32; 2];
            let out = out_slice(buf.as_mut_ptr(), 2, "buf").unwrap();
            assert_eq!(
                out.write_from(&[1, 2, 3]).unwrap_err().status,
                ALCM_ERR_BUFFER_TOO_SMALL
            );
            let out = out_slice(buf.as_mut_ptr(), 2, "buf").unwrap();
            assert_eq!(out.write_from(&[7]).unwrap(), 1);
            assert_eq!(buf, [7, 0]);
            let mut x = 0u64;
            out_ptr(&mut x, "x").unwrap().write(9);
            assert_eq!(x, 9);
            assert_eq!(
                out_ptr::<u64>(std::ptr::null_mut(), "x")
                    .err()
                    .unwrap()
                    .status,
                ALCM_ERR_NULL_POINTER
            );
        }
    }
}
