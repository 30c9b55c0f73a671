//! The commands of the `alcm` tool, as functions of parsed arguments returning the text to
//! print (or a one-line error).

use std::path::Path;
use std::time::Instant;

use alcm::archive::{ArchiveOptions, ArchiveWriter, AtomicFile, Bound, EntryInfo};
use indicatif::{ProgressBar, ProgressStyle};

use crate::files::{self, Kind};
use crate::policy::Policy;

/// A progress bar over `n` tensors on stderr (drawn only on a terminal) for jobs that take a
/// while.
fn progress(n: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} tensors {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Refuses to replace `out` unless `force`; writes atomically.
fn write_output(out: &Path, bytes: &[u8], force: bool) -> Result<(), String> {
    if !force && out.exists() {
        return Err(format!(
            "{}: already exists (use --force to overwrite)",
            out.display()
        ));
    }
    alcm::internals::write_atomic(out, bytes).map_err(|e| e.to_string())
}

/// `alcm compress`: a model file into an archive.
pub fn compress(
    input: &Path,
    output: &Path,
    policy: &Policy,
    budget: Option<files::Budget>,
    threads: usize,
    force: bool,
) -> Result<String, String> {
    if files::kind_of(output)? != Kind::Archive {
        return Err(format!(
            "{}: the output of compress must end in .alcm",
            output.display()
        ));
    }
    if !force && output.exists() {
        return Err(format!(
            "{}: already exists (use --force to overwrite)",
            output.display()
        ));
    }
    let model = files::read_model(input)?;
    let options = ArchiveOptions::default().with_threads(threads);
    let t = Instant::now();
    let bar = progress(model.tensors.len(), "compress");
    // The archive streams into a temporary file beside the output, renamed over it at the end:
    // memory holds the model and one tensor's blocks, never the whole archive.
    let write =
        |bounds: &[Bound], tick: &dyn Fn()| -> Result<(AtomicFile, Vec<EntryInfo>, u64), String> {
            let w = ArchiveWriter::create(output, options.clone()).map_err(|e| e.to_string())?;
            let (file, entries) = files::write_archive(&model, bounds, w, |_| tick())?;
            let size = file.bytes_written();
            Ok((file, entries, size))
        };
    let (file, entries, size) = match budget {
        None => {
            let bounds: Vec<Bound> = model
                .tensors
                .iter()
                .map(|t| policy.bound_for(&t.name))
                .collect();
            write(&bounds, &|| bar.inc(1))?
        }
        Some(files::Budget::Bytes(max)) => {
            // The plan budgets the tensors' data; the index and metadata come on top, so plan
            // again for what is left until the whole archive fits.
            let mut room = max;
            loop {
                let bounds =
                    files::plan_budget(&model, policy, files::Budget::Bytes(room), &options)?;
                let written = write(&bounds, &|| {})?;
                let over = written.2.saturating_sub(max);
                if over == 0 {
                    break written;
                }
                room = room.checked_sub(over).filter(|&r| r > 0).ok_or_else(|| {
                    format!("the archive cannot fit in {max} bytes (its index and metadata alone need {over} more)")
                })?;
            }
        }
        Some(b) => {
            let bounds = files::plan_budget(&model, policy, b, &options)?;
            write(&bounds, &|| bar.inc(1))?
        }
    };
    let secs = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let model_err = files::model_rel_l2(&model, &entries);
    if !force && output.exists() {
        return Err(format!(
            "{}: already exists (use --force to overwrite)",
            output.display()
        ));
    }
    file.commit().map_err(|e| e.to_string())?;
    Ok(format!(
        "{}: {} tensors, {} -> {} bytes ({:.2}x) in {:.2} s; model relative L2 error {model_err:.3e}",
        output.display(),
        model.tensors.len(),
        model.raw_bytes(),
        size,
        model.raw_bytes() as f64 / size as f64,
        secs
    ))
}

/// `alcm decompress`: an archive into a model file of the output's type.
pub fn decompress(
    input: &Path,
    output: &Path,
    threads: usize,
    force: bool,
) -> Result<String, String> {
    let kind = files::kind_of(output)?;
    if kind == Kind::Archive {
        return Err(format!(
            "{}: the output of decompress must be .safetensors, .npz or .npy",
            output.display()
        ));
    }
    if !force && output.exists() {
        return Err(format!(
            "{}: already exists (use --force to overwrite)",
            output.display()
        ));
    }
    let bytes = files::read_file(input)?;
    let mut r =
        files::open_archive(&bytes, threads).map_err(|e| format!("{}: {e}", input.display()))?;
    let bar = progress(r.entries().len(), "decompress");
    let out = files::decompress_archive(&mut r, kind, |_| bar.inc(1))
        .map_err(|e| format!("{}: {e}", input.display()))?;
    bar.finish_and_clear();
    write_output(output, &out, force)?;
    Ok(format!(
        "{}: {} tensors, {} bytes",
        output.display(),
        r.entries().len(),
        out.len()
    ))
}

fn bound_text(b: Bound) -> String {
    match b {
        Bound::Lossless => "lossless".into(),
        Bound::RelativeL2(e) => format!("rel-l2 {e:.3e}"),
        Bound::MaxAbs(e) => format!("max-abs {e:.3e}"),
    }
}

/// `alcm info`: one line per tensor.
pub fn info(input: &Path) -> Result<String, String> {
    let bytes = files::read_file(input)?;
    let r = files::open_archive(&bytes, 1).map_err(|e| format!("{}: {e}", input.display()))?;
    let mut s = format!(
        "{:<48} {:<5} {:<18} {:<18} {:>10} {:>11}\n",
        "tensor", "dtype", "shape", "mode", "bits/value", "achieved"
    );
    let (mut raw, mut stored) = (0u64, 0u64);
    for e in r.entries() {
        let n = e.n_values().max(1);
        raw += e.raw_bytes();
        stored += e.stored_bytes();
        s += &format!(
            "{:<48} {:<5} {:<18} {:<18} {:>10.3} {:>11.3e}\n",
            e.name,
            e.dtype.safetensors_name(),
            format!("{:?}", e.shape),
            bound_text(e.bound),
            e.stored_bytes() as f64 * 8.0 / n as f64,
            e.achieved
        );
    }
    s += &format!(
        "{} tensors, {raw} raw bytes, {stored} bytes of data, {} bytes in all ({:.2}x)",
        r.entries().len(),
        bytes.len(),
        raw as f64 / bytes.len() as f64
    );
    Ok(s)
}

/// `alcm verify`: every CRC, every tensor decoded.
pub fn verify(input: &Path, threads: usize) -> Result<String, String> {
    let bytes = files::read_file(input)?;
    let mut r =
        files::open_archive(&bytes, threads).map_err(|e| format!("{}: {e}", input.display()))?;
    let n = r
        .verify()
        .map_err(|e| format!("{}: {e}", input.display()))?;
    Ok(format!(
        "{}: OK, {n} tensors decoded, every checksum matches",
        input.display()
    ))
}

/// `alcm bench`: a model file compressed in each mode, side by side (size, MB/s of raw data).
pub fn bench(input: &Path, threads: usize) -> Result<String, String> {
    let model = files::read_model(input)?;
    let raw = model.raw_bytes() as f64;
    let mut s = format!(
        "{}: {} tensors, {} raw bytes\n",
        input.display(),
        model.tensors.len(),
        model.raw_bytes()
    );
    s += &format!(
        "{:<16} {:>12} {:>8} {:>14} {:>16}\n",
        "mode", "bytes", "ratio", "compress MB/s", "decompress MB/s"
    );
    for bound in [
        Bound::Lossless,
        Bound::RelativeL2(1e-2),
        Bound::RelativeL2(1e-3),
        Bound::MaxAbs(1e-4),
    ] {
        let t = Instant::now();
        let bytes = files::compress_model(
            &model,
            &Policy::uniform(bound),
            ArchiveOptions::default().with_threads(threads),
            |_| {},
        )?;
        let c = t.elapsed().as_secs_f64();
        let mut r = files::open_archive(&bytes, threads)?;
        let t = Instant::now();
        r.verify().map_err(|e| e.to_string())?;
        let d = t.elapsed().as_secs_f64();
        s += &format!(
            "{:<16} {:>12} {:>8.2} {:>14.1} {:>16.1}\n",
            bound_text(bound),
            bytes.len(),
            raw / bytes.len() as f64,
            raw / 1e6 / c,
            raw / 1e6 / d
        );
    }
    Ok(s.trim_end().to_owned())
}
