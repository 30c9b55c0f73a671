//! The checks of the `yaml_config` and `file_loaders` fuzz targets, shared with
//! tests/fuzz_corpus.rs (`#[path]`) so that the committed corpora replay through exactly what
//! libFuzzer runs. Each returns `Err` describing a violated promise (docs/SECURITY.md §1–2).

use std::path::Path;

use alcm::{EncoderConfig, ErrorFeedback, ErrorKind, Predictor, PredictorConfig};

/// The documented YAML text cap (64 KiB).
pub const MAX_CONFIG_BYTES: usize = 64 << 10;

/// The configuration text a fuzz input stands for. Plain UTF-8 is used as it is. An input
/// starting with byte 0xFF is structure-aware, to reach the caps that mutated text rarely
/// reaches: `[0xFF][count u16 LE][head len u8][tail len u8][head][tail][fragment]` is `head`,
/// then `fragment` repeated `count` times (capped at 128 KiB, twice the text cap), then
/// `tail` — e.g. an anchor, thousands of its aliases and the closing bracket.
pub fn yaml_text(data: &[u8]) -> Option<String> {
    if data.first() != Some(&0xFF) {
        return std::str::from_utf8(data).ok().map(str::to_owned);
    }
    let count = u16::from_le_bytes([*data.get(1)?, *data.get(2)?]) as usize;
    let (head_len, tail_len) = (*data.get(3)? as usize, *data.get(4)? as usize);
    let head = std::str::from_utf8(data.get(5..5 + head_len)?).ok()?;
    let tail = std::str::from_utf8(data.get(5 + head_len..5 + head_len + tail_len)?).ok()?;
    let frag = std::str::from_utf8(data.get(5 + head_len + tail_len..)?).ok()?;
    let room = (2 * MAX_CONFIG_BYTES).saturating_sub(head.len() + tail.len()) / frag.len().max(1);
    Some(format!("{head}{}{tail}", frag.repeat(count.min(room))))
}

/// The structure-aware input for `yaml_text` (used to write seeds).
pub fn yaml_seed(count: u16, head: &str, tail: &str, fragment: &str) -> Vec<u8> {
    let mut v = vec![0xFF];
    v.extend_from_slice(&count.to_le_bytes());
    v.push(head.len() as u8);
    v.push(tail.len() as u8);
    v.extend_from_slice(head.as_bytes());
    v.extend_from_slice(tail.as_bytes());
    v.extend_from_slice(fragment.as_bytes());
    v
}

/// Both parsers: a config that validates, `InvalidConfig`, or `TooLarge` — the latter exactly
/// when the text exceeds the cap or the document's expansion budget.
pub fn check_yaml(text: &str) -> Result<(), String> {
    let results = [
        EncoderConfig::from_yaml_str(text).and_then(|c| c.validate()),
        PredictorConfig::from_yaml_str(text).and_then(|c| c.validate()),
    ];
    for r in results {
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::InvalidConfig => {}
            Err(e) if e.kind() == ErrorKind::TooLarge => {
                if !(text.len() > MAX_CONFIG_BYTES || e.message().contains("expands")) {
                    return Err(format!("TooLarge for {} bytes: {e}", text.len()));
                }
            }
            Err(e) => return Err(format!("unexpected {:?}: {e}", e.kind())),
        }
    }
    if text.len() > MAX_CONFIG_BYTES && EncoderConfig::from_yaml_str(text).is_ok() {
        return Err(format!("{} bytes accepted over the cap", text.len()));
    }
    Ok(())
}

/// Every file loader on `data` written to `dir/input`, compared with its in-memory
/// counterpart: the same value or the same error kind, never a different outcome (inputs are
/// far below the file caps, so no file-level error may appear). With `special` the
/// loaders get `/dev/zero`, a FIFO (created in `dir`) and `dir` itself instead, and every one
/// must return `Io` at once.
pub fn check_file_loaders(data: &[u8], dir: &Path, special: bool) -> Result<(), String> {
    if special {
        let fifo = dir.join("fifo");
        if !fifo.exists() {
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
                return Ok(()); // no FIFOs here: nothing to check
            }
        }
        for p in [Path::new("/dev/zero"), fifo.as_path(), dir] {
            let kinds = [
                EncoderConfig::from_yaml_file(p).err().map(|e| e.kind()),
                PredictorConfig::from_yaml_file(p).err().map(|e| e.kind()),
                Predictor::load(p).err().map(|e| e.kind()),
                ErrorFeedback::load(p).err().map(|e| e.kind()),
                alcm::read_npy(p).err().map(|e| e.kind()),
                alcm::read_npz_file(p).err().map(|e| e.kind()),
            ];
            if kinds.iter().any(|k| *k != Some(ErrorKind::Io)) {
                return Err(format!("{}: {kinds:?}", p.display()));
            }
        }
        return Ok(());
    }
    let path = dir.join("input");
    std::fs::write(&path, data).map_err(|e| e.to_string())?;
    let same = |what: &str, file: Option<ErrorKind>, mem: Option<ErrorKind>| {
        if file == mem {
            Ok(())
        } else {
            Err(format!("{what}: file {file:?}, bytes {mem:?}"))
        }
    };
    // Model files.
    match (Predictor::load(&path), Predictor::from_npz_bytes(data)) {
        (Ok(a), Ok(b)) if a == b => {}
        (Err(a), Err(b)) if a.kind() == b.kind() && a.kind() == ErrorKind::InvalidModel => {}
        (a, b) => return Err(format!("Predictor::load {a:?} vs from_npz_bytes {b:?}")),
    }
    // Error-feedback states.
    match (ErrorFeedback::load(&path), ErrorFeedback::from_bytes(data)) {
        (Ok(a), Ok(b)) if a == b => {}
        (Err(a), Err(b)) if a.kind() == b.kind() => {}
        (a, b) => return Err(format!("ErrorFeedback::load {a:?} vs from_bytes {b:?}")),
    }
    // Arrays.
    same(
        "read_npy",
        alcm::read_npy(&path).err().map(|e| e.kind()),
        alcm::parse_npy(data).err().map(|e| e.kind()),
    )?;
    same(
        "read_npz_file",
        alcm::read_npz_file(&path).err().map(|e| e.kind()),
        alcm::read_npz(data).err().map(|e| e.kind()),
    )?;
    // Configurations: non-UTF-8 is InvalidConfig; otherwise as the text.
    let text = std::str::from_utf8(data).ok();
    for (file, mem) in [
        (
            EncoderConfig::from_yaml_file(&path).err().map(|e| e.kind()),
            text.map(|t| EncoderConfig::from_yaml_str(t).err().map(|e| e.kind())),
        ),
        (
            PredictorConfig::from_yaml_file(&path)
                .err()
                .map(|e| e.kind()),
            text.map(|t| PredictorConfig::from_yaml_str(t).err().map(|e| e.kind())),
        ),
    ] {
        let expected = match mem {
            Some(k) => k,
            None if data.len() > MAX_CONFIG_BYTES => Some(ErrorKind::TooLarge),
            None => Some(ErrorKind::InvalidConfig),
        };
        same("config file", file, expected)?;
    }
    Ok(())
}
