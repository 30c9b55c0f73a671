//! File access shared by every loader and every `save`: bounded reads of regular files and
//! crash-safe writes.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// Reads the whole of `path`, which must be a regular file of at most `max_len` bytes
/// (`what`, e.g. "a model file", names it in messages).
///
/// A loader is handed paths it did not choose: a FIFO would block it forever, `/dev/zero` or
/// a growing file would feed it until memory runs out, and a huge file would be read whole
/// before any check. So the file is opened without blocking (`O_NONBLOCK` on Unix; it has no
/// effect on regular files), its type and size are checked on the open handle (not on the
/// path, which could be swapped in between), the buffer is reserved fallibly, and the read
/// stops after `max_len + 1` bytes whatever the file does meanwhile.
///
/// Errors: [`ErrorKind::Io`] when it cannot be opened or read or is not a regular file (a
/// directory, FIFO, socket or device), [`ErrorKind::TooLarge`] when it holds more than
/// `max_len` bytes.
pub fn read_regular_file(path: &Path, max_len: u64, what: &str) -> Result<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "{}: not a regular file (only regular files are read as {what})",
                path.display()
            ),
        ));
    }
    let too_large = |len: u64| {
        Error::too_large(format!(
            "{}: {len} bytes or more, more than the {max_len} bytes allowed for {what}",
            path.display()
        ))
    };
    if meta.len() > max_len {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    let want = usize::try_from(meta.len()).map_err(|_| too_large(meta.len()))?;
    bytes
        .try_reserve_exact(want)
        .map_err(|_| too_large(meta.len()))?;
    // The file may grow after the check: never read more than one byte past the cap.
    file.take(max_len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max_len {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`, so
/// readers see either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.commit()
}

/// A file written under a temporary name beside its final path and renamed over it by
/// [`AtomicFile::commit`] (after a sync), so readers see either the old file or the complete
/// new one; dropped without `commit`, the temporary file is removed and the path is untouched.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
    written: u64,
}

impl AtomicFile {
    /// Creates the temporary file for `path` (its directory must exist).
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let file_name = path.file_name().ok_or_else(|| {
            Error::invalid_argument(format!("{} is not a file path", path.display()))
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        // Process and thread in the name: concurrent saves to one path never share a temp file.
        let thread =
            format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_digit(), "");
        tmp_name.push(format!(".tmp.{}.{thread}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(AtomicFile {
            path: path.to_owned(),
            tmp,
            file: Some(BufWriter::new(file)),
            written: 0,
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flushes and syncs the temporary file and renames it over the final path.
    pub fn commit(mut self) -> Result<()> {
        let result = (|| {
            let file = self.file.take().ok_or(std::io::ErrorKind::Other)?;
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)
        })();
        result.map_err(|e| Error::io(&self.path, e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => {
                let n = f.write(buf)?;
                self.written += n as u64;
                Ok(n)
            }
            None => Err(std::io::ErrorKind::Other.into()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not committed (or the rename failed): leave no temporary file behind.
        drop(self.file.take());
        if self.tmp.exists() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_only_and_capped() {
        let dir = std::env::temp_dir().join(format!("alcm_fsutil_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ten");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_regular_file(&f, 10, "test").unwrap(), b"0123456789");
        assert_eq!(
            read_regular_file(&f, 9, "test").unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        let e = read_regular_file(&dir, 10, "test").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        #[cfg(unix)]
        {
            let e = read_regular_file("/dev/zero".as_ref(), 10, "test").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Io, "{e}");
            assert!(e.message().contains("not a regular file"), "{e}");
        }
        assert_eq!(
            read_regular_file(&dir.join("missing"), 10, "test")
                .unwrap_err()
                .kind(),
            ErrorKind::Io
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_atomic_file_appears_only_when_committed() {
        let dir = std::env::temp_dir().join(format!("alcm_atomic_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("out.bin");
        std::fs::write(&p, b"old").unwrap();
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"new contents").unwrap();
        f.flush().unwrap();
        assert_eq!(f.bytes_written(), 12);
        // Until the commit the old file is what readers see.
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        f.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new contents");
        // Dropped uncommitted: the path keeps its contents and no temporary file is left.
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"abandoned").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&p).unwrap(), b"new contents");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // A missing directory is an error, not a panic.
        assert!(AtomicFile::create(&dir.join("no/such/dir/x")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
